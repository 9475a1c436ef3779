"""Search algorithms (ask/tell) and the runner that drives them against a benchmark."""

from __future__ import annotations

from jaxnas.registry import Entry, Registry
from jaxnas.search.base import SearchAlgorithm

# factory(space, config) -> SearchAlgorithm. Predictor-based methods register here too;
# the runner treats every entry the same.
_ALGORITHMS = Registry("search algorithm", "algorithms", {
    "random": Entry("jaxnas.search.random_search", "random_search", "RandomSearchConfig"),
    "evolution": Entry("jaxnas.search.evolution", "regularized_evolution", "EvolutionConfig"),
    "assessor": Entry("jaxnas.search.predictor_search", "assessor_search", "AssessorSearchConfig"),
    "gcn": Entry("jaxnas.search.predictor_search", "gcn_search", "GCNSearchConfig"),
    "seminas": Entry("jaxnas.search.seminas", "seminas", "SemiNASConfig"),
    "acenas": Entry("jaxnas.search.acenas", "acenas_search", "AceNASSearchConfig"),
})
ALGORITHM_NAMES = _ALGORITHMS.names
config_class = _ALGORITHMS.config_class  # (name) -> the Config subclass
make_algorithm = _ALGORITHMS.make  # (name, space, config) -> SearchAlgorithm


__all__ = ["ALGORITHM_NAMES", "SearchAlgorithm", "config_class", "make_algorithm"]
