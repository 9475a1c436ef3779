"""Architecture-performance predictors, by the names used on the command line."""

from __future__ import annotations

import importlib
from typing import NamedTuple, Type

from jaxnas.predictors.base import Config, Predictor


class PredictorEntry(NamedTuple):
    module: str
    factory: str  # factory(space, config) -> Predictor
    config: str  # Config subclass holding the hyperparameters


# Each predictor module adds its entry here.
_PREDICTORS: dict[str, PredictorEntry] = {
    "gcn": PredictorEntry("jaxnas.predictors.gcn", "gcn_predictor", "GCNConfig"),
    "assessor": PredictorEntry("jaxnas.predictors.assessor", "assessor_predictor", "AssessorConfig"),
    "nao": PredictorEntry("jaxnas.predictors.nao", "nao_predictor", "NAOConfig"),
    "acenas": PredictorEntry("jaxnas.predictors.acenas", "acenas_predictor", "AceNASConfig"),
}
PREDICTOR_NAMES = tuple(_PREDICTORS)


def _entry(name: str) -> PredictorEntry:
    if name not in _PREDICTORS:
        raise ValueError(f"unknown predictor {name!r}; known predictors: {', '.join(_PREDICTORS)}")
    return _PREDICTORS[name]


def config_class(name: str) -> Type[Config]:
    entry = _entry(name)
    return getattr(importlib.import_module(entry.module), entry.config)


def make_predictor(name: str, space, config: Config) -> Predictor:
    entry = _entry(name)
    return getattr(importlib.import_module(entry.module), entry.factory)(space, config)


__all__ = ["Config", "PREDICTOR_NAMES", "Predictor", "config_class", "make_predictor"]
