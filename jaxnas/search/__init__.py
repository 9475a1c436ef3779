"""Search algorithms (ask/tell) and the runner that drives them against a benchmark."""

from __future__ import annotations

import importlib
from typing import NamedTuple, Type

from jaxnas.search.base import Config, SearchAlgorithm


class AlgorithmEntry(NamedTuple):
    module: str
    factory: str  # factory(space, config) -> SearchAlgorithm
    config: str  # Config subclass holding the hyperparameters


# Predictor-based methods register here too; the runner treats every entry the same.
_ALGORITHMS = {
    "random": AlgorithmEntry("jaxnas.search.random_search", "random_search", "RandomSearchConfig"),
    "evolution": AlgorithmEntry("jaxnas.search.evolution", "regularized_evolution", "EvolutionConfig"),
    "assessor": AlgorithmEntry("jaxnas.search.predictor_search", "assessor_search", "AssessorSearchConfig"),
    "gcn": AlgorithmEntry("jaxnas.search.predictor_search", "gcn_search", "GCNSearchConfig"),
    "seminas": AlgorithmEntry("jaxnas.search.seminas", "seminas", "SemiNASConfig"),
    "acenas": AlgorithmEntry("jaxnas.search.acenas", "acenas_search", "AceNASSearchConfig"),
}
ALGORITHM_NAMES = tuple(_ALGORITHMS)


def _entry(name: str) -> AlgorithmEntry:
    if name not in _ALGORITHMS:
        raise ValueError(f"unknown search algorithm {name!r}; known algorithms: {', '.join(ALGORITHM_NAMES)}")
    return _ALGORITHMS[name]


def config_class(name: str) -> Type[Config]:
    entry = _entry(name)
    return getattr(importlib.import_module(entry.module), entry.config)


def make_algorithm(name: str, space, config: Config) -> SearchAlgorithm:
    entry = _entry(name)
    return getattr(importlib.import_module(entry.module), entry.factory)(space, config)


__all__ = ["ALGORITHM_NAMES", "Config", "SearchAlgorithm", "config_class", "make_algorithm"]
