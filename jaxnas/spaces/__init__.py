"""Search spaces: one module per space, one interface (:class:`base.SearchSpace`)."""

from __future__ import annotations

import importlib

from jaxnas.spaces.base import CellGraph, InvalidArchitectureError, SearchSpace, graphs_tuple

# name -> (module, class, fixed arguments); imported on first use so one space's deps
# never burden another.
_SPACES = {
    "nb101": ("jaxnas.spaces.nb101", "NB101Space", {}),
    "nb201": ("jaxnas.spaces.nb201", "NB201Space", {}),
    "nbgraph": ("jaxnas.spaces.nbgraph", "NBGraphSpace", {}),
    # ogbn-proteins was trained only on 5 of the 9 ops: a sub-space of its own.
    "nbgraph_proteins": ("jaxnas.spaces.nbgraph", "NBGraphSpace", {"proteins": True}),
}
SPACE_NAMES = tuple(_SPACES)


def get_space(name: str, **kwargs) -> SearchSpace:
    """The search space called ``name`` (one of SPACE_NAMES)."""
    if name not in _SPACES:
        raise ValueError(f"unknown search space {name!r}; known spaces: {', '.join(SPACE_NAMES)}")
    module, cls, fixed = _SPACES[name]
    return getattr(importlib.import_module(module), cls)(**fixed, **kwargs)


__all__ = [
    "CellGraph",
    "InvalidArchitectureError",
    "SearchSpace",
    "SPACE_NAMES",
    "get_space",
    "graphs_tuple",
]
