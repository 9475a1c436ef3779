"""Architecture-performance predictors, by the names used on the command line."""

from __future__ import annotations

from jaxnas.predictors.base import Predictor
from jaxnas.registry import Entry, Registry

# Each predictor module adds its entry here: factory(space, config) -> Predictor.
_PREDICTORS = Registry("predictor", "predictors", {
    "gcn": Entry("jaxnas.predictors.gcn", "gcn_predictor", "GCNConfig"),
    "assessor": Entry("jaxnas.predictors.assessor", "assessor_predictor", "AssessorConfig"),
    "nao": Entry("jaxnas.predictors.nao", "nao_predictor", "NAOConfig"),
    "acenas": Entry("jaxnas.predictors.acenas", "acenas_predictor", "AceNASConfig"),
})
PREDICTOR_NAMES = _PREDICTORS.names
config_class = _PREDICTORS.config_class  # (name) -> the Config subclass
make_predictor = _PREDICTORS.make  # (name, space, config) -> Predictor


__all__ = ["PREDICTOR_NAMES", "Predictor", "config_class", "make_predictor"]
