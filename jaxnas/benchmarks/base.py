"""Table-backed benchmarks: arrays over a search space's enumeration.

A Benchmark holds two float32 columns indexed by the space's canonical index:
``signal`` (what a search algorithm may see, through the query ledger) and ``reported``
(what results are reported in, read only after the search). Both are in percent. NaN
marks architectures the benchmark does not contain ("not in benchmark"); nothing is
ever mapped to a nearby architecture.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, Optional

import numpy as np

from jaxnas.spaces import base as spaces_base
from jaxnas.spaces import restricted


@dataclasses.dataclass(frozen=True, eq=False)
class Benchmark:
    name: str
    space: spaces_base.SearchSpace
    signal: np.ndarray  # float32[space.num_architectures], %, NaN = not in benchmark
    reported: np.ndarray  # float32[space.num_architectures], %
    signal_name: str
    reported_name: str
    description: str = ""
    # Extra whole-table columns (e.g. low-fidelity accuracies), same indexing.
    columns: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = self.space.num_architectures
        for column_name, column in [("signal", self.signal), ("reported", self.reported), *self.columns.items()]:
            if column.shape[:1] != (n,):
                raise ValueError(
                    f"benchmark {self.name}: column {column_name!r} has shape {column.shape}, "
                    f"expected ({n}, ...) over the {self.space.name} enumeration"
                )
            # Benchmarks are shared (load_benchmark caches them): make them immutable.
            column.setflags(write=False)

    @functools.cached_property
    def search_space(self) -> spaces_base.SearchSpace:
        """The space searches run in: restricted to this benchmark's architectures.

        The same space when the benchmark covers all of it (NB201, NB-Graph); otherwise
        sampling and mutation skip cells the benchmark does not contain (nb101_subset),
        which costs no queries and reveals nothing about accuracy.
        """
        if self.available.all():
            return self.space
        return restricted.RestrictedSpace(self.space, self.available)

    @property
    def available(self) -> np.ndarray:
        """bool[num_architectures]: the architectures this benchmark contains."""
        return ~np.isnan(self.signal)

    @property
    def available_indices(self) -> np.ndarray:
        return np.flatnonzero(self.available).astype(np.int32)

    @property
    def num_available(self) -> int:
        return int(self.available.sum())

    @property
    def optimum(self) -> float:
        """Best reported value over the architectures in the benchmark."""
        return float(np.nanmax(np.where(self.available, self.reported, np.nan)))

    def column(self, name: str) -> np.ndarray:
        if name == "signal":
            return self.signal
        if name == "reported":
            return self.reported
        if name not in self.columns:
            raise KeyError(
                f"benchmark {self.name} has no column {name!r}; it has "
                f"{['signal', 'reported', *self.columns]}"
            )
        return self.columns[name]

    def summary(self) -> dict:
        return {
            "name": self.name,
            "space": self.space.name,
            "signal": self.signal_name,
            "reported": self.reported_name,
            "num_architectures": self.num_available,
            "optimum_reported": self.optimum,
            "description": self.description,
        }


Loader = Callable[[Optional[str]], Benchmark]
