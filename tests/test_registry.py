"""The predictor and search-algorithm registries: names, lazy lookup, unknown names."""

import pytest

from jaxnas import predictors, search
from jaxnas.config import Config
from jaxnas.predictors import gcn
from jaxnas.search import evolution


def test_names_and_lookup():
    assert predictors.PREDICTOR_NAMES == ("gcn", "assessor", "nao", "acenas")
    assert search.ALGORITHM_NAMES == ("random", "evolution", "assessor", "gcn", "seminas", "acenas")
    assert predictors.config_class("gcn") is gcn.GCNConfig
    assert search.config_class("evolution") is evolution.EvolutionConfig
    for name in predictors.PREDICTOR_NAMES:
        assert issubclass(predictors.config_class(name), Config)
    for name in search.ALGORITHM_NAMES:
        assert issubclass(search.config_class(name), Config)


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match=r"unknown predictor 'x'; known predictors: gcn, assessor"):
        predictors.make_predictor("x", None, None)
    with pytest.raises(ValueError, match=r"unknown search algorithm 'y'; known algorithms: random, evolution"):
        search.make_algorithm("y", None, None)
