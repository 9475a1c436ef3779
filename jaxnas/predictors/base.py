"""The interface every architecture-performance predictor implements.

A predictor is a pair of pure functions (optax-style) with its fitted state a pytree:

    state = predictor.fit(key, labelled, labels, unlabelled)
    scores = predictor.predict(state, archs)

``labelled``/``archs``/``unlabelled`` are batches of the space's architecture pytrees
(leading axis = architectures); ``labels`` are accuracies in percent. ``unlabelled`` is
for semi-supervised predictors (others ignore it; it may be None). Scores only need to
rank like accuracy (higher = better); regressors return accuracy estimates in percent.
Both functions are jittable and vmappable over seeds, so experiments.predictor_eval and
the searches fit S predictors in one program.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax

State = Any
Arch = Any


class Predictor(NamedTuple):
    fit: Callable[[jax.Array, Arch, jax.Array, Optional[Arch]], State]
    predict: Callable[[State, Arch], jax.Array]


__all__ = ["Predictor"]
