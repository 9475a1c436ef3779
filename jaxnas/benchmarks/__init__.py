"""Tabular benchmark oracles, by the names used on the command line."""

from __future__ import annotations

import functools
import importlib
from typing import Optional

from jaxnas.benchmarks.base import Benchmark

NBGRAPH_DATASETS = (
    "cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins",
)

# name -> (search-space family, module, loader function, fixed keyword arguments).
_BENCHMARKS = {
    "nb201_cifar10": ("nb201", "jaxnas.benchmarks.nb201", "load_cifar10", {}),
    "nb201_cifar10_12ep": ("nb201", "jaxnas.benchmarks.nb201", "load_12ep", {"dataset": "cifar10"}),
    "nb201_cifar100_12ep": ("nb201", "jaxnas.benchmarks.nb201", "load_12ep", {"dataset": "cifar100"}),
    "nb201_imagenet16_12ep": ("nb201", "jaxnas.benchmarks.nb201", "load_12ep", {"dataset": "imagenet16"}),
    "nb101_subset": ("nb101", "jaxnas.benchmarks.nb101", "load_subset", {}),
    "nb101": ("nb101", "jaxnas.benchmarks.nb101", "load_full", {}),
    **{
        f"nbgraph_{dataset}": ("nbgraph", "jaxnas.benchmarks.nbgraph", "load", {"dataset": dataset})
        for dataset in NBGRAPH_DATASETS
    },
    # Made-up values over real spaces, for tests without data files (see synthetic.py).
    "nb201_synthetic": ("nb201", "jaxnas.benchmarks.synthetic", "load", {"space_name": "nb201", "seed": 201}),
    "nb201_synthetic_subset": (
        "nb201", "jaxnas.benchmarks.synthetic", "load", {"space_name": "nb201", "seed": 201, "coverage": 0.5}),
    "nbgraph_synthetic": ("nbgraph", "jaxnas.benchmarks.synthetic", "load", {"space_name": "nbgraph", "seed": 26206}),
}
BENCHMARK_NAMES = tuple(_BENCHMARKS)


def space_family(name: str) -> Optional[str]:
    """The search-space family ("nb201", "nb101", "nbgraph") a registered benchmark is
    declared over; None for a name that is not registered."""
    return _BENCHMARKS[name][0] if name in _BENCHMARKS else None


def load_benchmark(name: str, data_dir: Optional[str] = None, **kwargs) -> Benchmark:
    """Loads benchmark ``name`` (one of BENCHMARK_NAMES) from ``data_dir``.

    Extra keyword arguments go to the loader (e.g. ``tfrecord_path`` for ``nb101``).
    """
    if name not in _BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(BENCHMARK_NAMES)}")
    return _cached_load(name, data_dir, tuple(sorted(kwargs.items())))


@functools.lru_cache(maxsize=None)
def _cached_load(name, data_dir, kwargs):
    _, module, loader, fixed = _BENCHMARKS[name]
    return getattr(importlib.import_module(module), loader)(data_dir=data_dir, **fixed, **dict(kwargs))


__all__ = ["Benchmark", "BENCHMARK_NAMES", "NBGRAPH_DATASETS", "load_benchmark", "space_family"]
