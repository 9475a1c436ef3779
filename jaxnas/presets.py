"""Named configurations of every method: the paper's and the project default.

Each method keeps both in one named place in its own module: ``for_benchmark`` gives the
project default, and a ``paper`` classmethod, where the method has one, gives what the
paper and its reference code do, scaled down only where the CPU forces it (each
deviation is listed next to it and in docs/design-results.md). Both depend on the
search-space family of the benchmark (:func:`space_family`), never on the benchmark's
own name, so every benchmark over the same space gets the same settings.

``--preset=paper|default`` on the entry points selects one; results.json records which.
"""

from __future__ import annotations

from typing import Optional, Type

PRESETS = ("default", "paper")
FAMILIES = ("nb201", "nb101", "nbgraph")


def space_family(name: str) -> Optional[str]:
    """The search-space family of benchmark ``name`` ("nb201", "nb101" or "nbgraph") as the
    benchmark registry declares it, or ``name`` itself when it is a family (a space name);
    None otherwise."""
    from jaxnas import benchmarks  # the registry imports the spaces; presets stays light

    family = benchmarks.space_family(name)
    return family if family is not None else (name if name in FAMILIES else None)


def config(config_cls: Type, benchmark_name: str, preset: str = "default"):
    """``config_cls``'s configuration ``preset`` for ``benchmark_name`` (not validated)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if preset == "default":
        return config_cls.for_benchmark(benchmark_name)
    paper = getattr(config_cls, "paper", None)
    if paper is None:
        raise ValueError(f"{config_cls.__name__} has no paper configuration (a baseline or a project "
                         f"method); use --preset=default")
    return paper(benchmark_name)
