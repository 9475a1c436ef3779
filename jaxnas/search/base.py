"""Search algorithms as pure ask/tell pairs over vectorised populations.

An algorithm is a triple of pure functions (optax-style), with its state a pytree:

    state = algorithm.init(key)
    archs, state = algorithm.ask(state, key)     # a batch of `batch_size` architectures
    state = algorithm.tell(state, archs, values)  # their search-signal values

``values`` are what the query ledger answered: NaN means "no answer" (invalid, not in
the benchmark, or over budget) and must be ignored by the algorithm. Everything is
jittable and written for one search; the runner vmaps over seeds.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax

State = Any


class SearchAlgorithm(NamedTuple):
    init: Callable[[jax.Array], State]
    ask: Callable[[State, jax.Array], tuple[Any, State]]
    tell: Callable[[State, Any, jax.Array], State]
    batch_size: int


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of the per-algorithm hyperparameter dataclasses.

    Subclasses list their fields with defaults; ``for_benchmark`` may override the
    defaults per benchmark. experiments.search turns every field into an absl flag.
    """

    @classmethod
    def for_benchmark(cls, benchmark_name: str) -> "Config":
        del benchmark_name
        return cls()

    def validate(self) -> None:
        """Raises ValueError naming a bad hyperparameter."""
