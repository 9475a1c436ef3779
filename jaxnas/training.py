"""One compiled supervised-training loop for every predictor in jaxnas.

``train`` runs ``epochs`` passes of shuffled minibatches as a single ``lax.scan`` (over
epochs) of ``lax.scan`` (over batches), so a whole training run is one XLA program,
and it is pure, so ``jax.vmap`` over seeds (keys, params, data) trains many models at
once. Datasets whose size is not a multiple of the batch size are handled with
per-example weights (wrapped-around padding examples get weight 0), so shapes stay
static.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

Params = Any
Batch = Any  # pytree of arrays with a leading example axis
# loss_fn(params, batch, weights float[B], key) -> (scalar loss, aux metrics dict)
LossFn = Callable[[Params, Batch, jax.Array, jax.Array], tuple[jax.Array, dict]]


class TrainState(NamedTuple):
    params: Params
    opt_state: optax.OptState


def num_batches(num_examples: int, batch_size: int) -> int:
    return -(-num_examples // batch_size)


def _epoch_batches(key, num_examples: int, batch_size: int):
    """Shuffled indices [num_batches, batch_size] and weights (0 for padding slots)."""
    steps = num_batches(num_examples, batch_size)
    order = jax.random.permutation(key, num_examples)
    slots = jnp.arange(steps * batch_size)
    indices = order[slots % num_examples].reshape(steps, batch_size)
    weights = (slots < num_examples).astype(jnp.float32).reshape(steps, batch_size)
    return indices, weights


def weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    """Mean of per-example ``values`` under ``weights`` (0-weight padding ignored)."""
    return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def train_step(state: TrainState, batch: Batch, weights: jax.Array, key: jax.Array, loss_fn: LossFn,
               optimizer: optax.GradientTransformation) -> tuple[TrainState, jax.Array]:
    """One optimiser step on one minibatch: (new state, loss before the step). The step
    :func:`train` scans; the throughput benchmark times it alone."""
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch, weights, key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state), loss


def train(
    key: jax.Array,
    state: TrainState,
    data: Batch,
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    batch_size: int,
    epochs: int,
) -> tuple[TrainState, jax.Array]:
    """Trains for ``epochs`` epochs; returns (final state, mean loss per epoch float[epochs]).

    ``data`` is a pytree whose leaves share the leading example axis; ``batch_size`` is
    clipped to the dataset size. Jittable (``batch_size``/``epochs`` static) and
    vmappable over seeds.
    """
    num_examples = jax.tree_util.tree_leaves(data)[0].shape[0]
    batch_size = min(batch_size, num_examples)

    def step(state: TrainState, inputs):
        indices, weights, step_key = inputs
        batch = jax.tree_util.tree_map(lambda a: a[indices], data)
        return train_step(state, batch, weights, step_key, loss_fn, optimizer)

    def epoch(state: TrainState, epoch_key):
        shuffle_key, steps_key = jax.random.split(epoch_key)
        indices, weights = _epoch_batches(shuffle_key, num_examples, batch_size)
        step_keys = jax.random.split(steps_key, indices.shape[0])
        state, losses = jax.lax.scan(step, state, (indices, weights, step_keys))
        return state, losses.mean()

    return jax.lax.scan(epoch, state, jax.random.split(key, epochs))


def init_state(params: Params, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(params=params, opt_state=optimizer.init(params))


# Regression targets of a labelled pool, shared by the predictors that train on one.
TARGETS = ("standardise", "rank")


def normalisation(values: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of the labelled (masked) values (std floored so a constant set stays finite)."""
    mask = jnp.ones_like(values, bool) if mask is None else mask
    count = jnp.maximum(jnp.sum(mask), 1)
    mean = jnp.sum(jnp.where(mask, values, 0.0)) / count
    var = jnp.sum(jnp.where(mask, (values - mean) ** 2, 0.0)) / count
    return mean, jnp.maximum(jnp.sqrt(var), 1e-3)


def regression_targets(kind: str, values: jax.Array, usable: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(targets, mean, std) of the usable values, 0 elsewhere: ``kind`` is one of
    :data:`TARGETS`, "standardise" ((y - mean) / std) or "rank" (:func:`normal_scores`).
    mean and std map predictions back to the labels' scale either way."""
    mean, std = normalisation(values, usable)
    if kind == "rank":
        return normal_scores(values, usable), mean, std
    return jnp.where(usable, (values - mean) / std, 0.0), mean, std


def normal_scores(values: jax.Array, usable: jax.Array) -> jax.Array:
    """Normal scores of the usable values' ranks: Phi^-1((rank + 1/2) / n), 0 elsewhere
    (ties broken by position). Ranking-friendly regression targets: the few collapsed
    cells (NB201 accuracies ~10 %) no longer dominate an MSE as standardised values do."""
    num = jnp.maximum(usable.sum(), 1)
    rank = jnp.argsort(jnp.argsort(jnp.where(usable, values, jnp.inf)))
    return jnp.where(usable, jax.scipy.special.ndtri((rank + 0.5) / num), 0.0)
