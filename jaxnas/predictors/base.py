"""The interface every architecture-performance predictor implements.

A predictor is a pair of pure functions (optax-style) with its fitted state a pytree:

    state = predictor.fit(key, labelled, labels, unlabelled)
    scores = predictor.predict(state, archs)
    state = predictor.refit(key, state, labelled, labels, unlabelled, epochs)  # optional

``refit`` (None where a predictor has none) continues training from a fitted state, for
``epochs`` epochs with a fresh optimiser, instead of starting from new weights: a search
that refits its predictor every round may train each round briefly from the last one.

``labelled``/``archs``/``unlabelled`` are batches of the space's architecture pytrees
(leading axis = architectures); ``labels`` are accuracies in percent. ``unlabelled`` is
for semi-supervised predictors (others ignore it; it may be None). Scores only need to
rank like accuracy (higher = better); regressors return accuracy estimates in percent.
Both functions are jittable and vmappable over seeds, so experiments.predictor_eval and
the searches fit S predictors in one program.

Behind ``fit``/``predict`` each predictor's network is a :class:`PredictorNetwork`: four
pure pieces that ``fit`` trains with :func:`fit_network` (the one training loop,
:func:`jaxnas.training.train`) and that the throughput benchmark times step by step
(:func:`network_train_step`), so both run the same computation.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from jaxnas import training

State = Any
Arch = Any
Params = Any
Batch = Any  # the network's inputs: a pytree of arrays with a leading architecture axis


class Predictor(NamedTuple):
    fit: Callable[[jax.Array, Arch, jax.Array, Optional[Arch]], State]
    predict: Callable[[State, Arch], jax.Array]
    refit: Optional[Callable[[jax.Array, State, Arch, jax.Array, Optional[Arch], int], State]] = None


class PredictorNetwork(NamedTuple):
    """A predictor's network as pure pieces.

    init(key, batch) -> params (``batch``: example inputs, e.g. one architecture's);
    apply(params, batch) -> float[B] scores (inference: no dropout);
    loss(params, batch, targets float[B], weights float[B], key) -> scalar training loss
    (``weights`` 0 for padding examples; ``key`` drives dropout);
    optimizer: the optax transformation ``fit`` trains with.
    """

    init: Callable[[jax.Array, Batch], Params]
    apply: Callable[[Params, Batch], jax.Array]
    loss: Callable[[Params, Batch, jax.Array, jax.Array, jax.Array], jax.Array]
    optimizer: optax.GradientTransformation


def training_loss(network: PredictorNetwork) -> training.LossFn:
    """``network.loss`` as :data:`jaxnas.training.LossFn` over {"inputs", "targets"} batches."""

    def loss_fn(params, batch, weights, key):
        return network.loss(params, batch["inputs"], batch["targets"], weights, key), {}

    return loss_fn


def fit_network(key: jax.Array, network: PredictorNetwork, inputs: Batch, targets: jax.Array, batch_size: int,
                epochs: int, params: Params = None) -> tuple[Params, jax.Array]:
    """Trains ``network`` on (inputs, targets) with :func:`jaxnas.training.train`; returns
    (params, mean loss per epoch float[epochs]). ``params`` warm-starts training (default:
    ``network.init`` on the first example). Jittable (network, batch_size, epochs static)
    and vmappable over seeds."""
    init_key, train_key = jax.random.split(key)
    if params is None:
        params = network.init(init_key, jax.tree_util.tree_map(lambda a: a[:1], inputs))
    data = {"inputs": inputs, "targets": jnp.asarray(targets, jnp.float32)}
    state, losses = training.train(train_key, training.init_state(params, network.optimizer), data,
                                   training_loss(network), network.optimizer, batch_size, epochs)
    return state.params, losses


def network_train_step(network: PredictorNetwork, params: Params, opt_state: optax.OptState, inputs: Batch,
                       targets: jax.Array, key: jax.Array) -> tuple[Params, optax.OptState, jax.Array]:
    """One step of :func:`fit_network`'s loop on one full minibatch (every weight 1):
    (new params, new optimiser state, loss before the step)."""
    weights = jnp.ones(jnp.shape(targets), jnp.float32)
    data = {"inputs": inputs, "targets": jnp.asarray(targets, jnp.float32)}
    state, loss = training.train_step(training.TrainState(params, opt_state), data, weights, key,
                                      training_loss(network), network.optimizer)
    return state.params, state.opt_state, loss


__all__ = ["Predictor", "PredictorNetwork", "fit_network", "network_train_step", "training_loss"]
