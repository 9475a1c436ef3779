"""NAO (Luo et al. 2018) as SemiNAS's predictor (Luo et al. 2020): training, prediction
and generation around the encoder-predictor-decoder network of :mod:`jaxnas.models.nao`.

Loss: ``trade_off * MSE(prediction) + (1 - trade_off) * NLL(reconstruction)``; Adam with
L2 (added to the clipped gradient, as torch's ``weight_decay``). Targets are normalised by
the labelled set's mean and standard deviation.

Generation (``ascend``/``make_generator``): the gradient of the predicted value with
respect to the token states, a step of size ``step_size`` up that gradient, re-normalise,
and greedy decoding from the moved states. Decoding is restricted per position to the
tokens the space can put there (``allowed_tokens``), as the reference restricts
connection positions to {1, 2} and op positions to the op tokens.

The network lives in :mod:`jaxnas.models.nao`; :func:`nao_network` gives it as a
:class:`~jaxnas.predictors.base.PredictorNetwork` (init, apply = encoder + predictor,
the joint loss, the optimiser).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import training
from jaxnas.config import Config, field
from jaxnas.models.nao import NAO, l2_normalise
from jaxnas.predictors.base import Predictor, PredictorNetwork, training_loss
from jaxnas.spaces.base import SearchSpace

# --------------------------------------------------------------------------- config
@dataclasses.dataclass(frozen=True)
class NAOConfig(Config):
    """Model and training hyperparameters (defaults: the SemiNAS NB101 reference)."""

    label = "NAO"

    hidden_size: int = field(64, "Encoder/decoder LSTM units (and token embedding size).", lower=1)
    mlp_hidden_size: int = field(16, "Units of the predictor MLP's hidden layers.", lower=1)
    mlp_layers: int = field(2, "Layers of the predictor MLP on the architecture embedding.", lower=1)
    dropout: float = field(0.1, "Dropout rate.", lower=0.0, below=1.0)
    trade_off: float = field(0.8, "Weight of the MSE in the loss; 1 - trade_off weighs the reconstruction NLL.",
                             lower=0.0, upper=1.0)
    learning_rate: float = field(1e-3, "Adam learning rate.", above=0.0)
    l2_reg: float = field(1e-4, "L2 regularisation.", lower=0.0)
    grad_bound: float = field(5.0, "Global gradient-norm clip.", above=0.0)
    train_batch_size: int = field(100, "Training minibatch size.", lower=1)
    pretrain_epochs: int = field(1000, "Training epochs on the labelled set.", lower=0)
    epochs: int = field(500, "Training epochs on labelled (up-sampled) + pseudo-labelled architectures, when "
                             "unlabelled ones are given.", lower=0)
    up_sample_ratio: int = field(10, "Copies of each labelled architecture in the labelled + pseudo-labelled "
                                     "training set.", lower=1)


def make_model(space: SearchSpace, config) -> NAO:
    return NAO(
        vocab_size=space.vocab_size,
        hidden_size=config.hidden_size,
        mlp_hidden_size=config.mlp_hidden_size,
        mlp_layers=config.mlp_layers,
        dropout=config.dropout,
    )


def make_optimizer(config) -> optax.GradientTransformation:
    """Adam with gradient-norm clipping, then L2 added to the gradient (torch weight_decay).

    On one flat vector (``optax.flatten``): the same arithmetic, but a handful of fused
    ops instead of several per parameter array, which cuts the compile time of a
    training step by about a third on CPU.
    """
    return optax.flatten(
        optax.chain(
            optax.clip_by_global_norm(config.grad_bound),
            optax.add_decayed_weights(config.l2_reg),
            optax.adam(config.learning_rate),
        )
    )


def init_params(model: NAO, key: jax.Array, sequence_length: int):
    return model.init(key, jnp.zeros((1, sequence_length), jnp.int32), method=NAO.initialise)


def joint_loss(model: NAO, trade_off: float, params, tokens: jax.Array, targets: jax.Array, weights: jax.Array,
               key: jax.Array) -> tuple[jax.Array, dict]:
    """(trade_off * MSE + (1 - trade_off) * token NLL, {"mse", "nll"}) of a batch of token
    sequences int32[B, T] with (normalised) targets float[B], dropout from ``key``."""
    value, log_probs = model.apply(params, tokens, train=True, rngs={"dropout": key})
    mse = training.weighted_mean((value - targets) ** 2, weights)
    token_nll = -jnp.take_along_axis(log_probs, tokens[..., None], axis=-1)[..., 0]
    nll = training.weighted_mean(token_nll.mean(axis=-1), weights)
    loss = trade_off * mse + (1.0 - trade_off) * nll
    return loss, {"mse": mse, "nll": nll}


def make_loss(model: NAO, trade_off: float) -> training.LossFn:
    """loss(params, batch, weights, key) for ``training.train``.

    batch: {"tokens": int32[B, T], "target": float32[B] (normalised), "weight": float32[B]}.
    The per-example weight masks padding rows of dynamically sized datasets.
    """

    def loss_fn(params, batch, weights, key):
        return joint_loss(model, trade_off, params, batch["tokens"], batch["target"], weights * batch["weight"], key)

    return loss_fn


def nao_network(space: SearchSpace, config: NAOConfig) -> PredictorNetwork:
    """NAO as a network over token sequences int32[B, T]: init, apply (encoder +
    predictor: normalised accuracy), the joint loss, the reference optimiser."""
    model = make_model(space, config)

    def init(key, tokens):
        del tokens  # the parameters depend on the sequence length only
        return init_params(model, key, space.sequence_length)

    def apply(params, tokens):
        return model.apply(params, tokens, method=NAO.predict)

    def loss(params, tokens, targets, weights, key):
        return joint_loss(model, config.trade_off, params, tokens, targets, weights, key)[0]

    return PredictorNetwork(init, apply, loss, make_optimizer(config))


# --------------------------------------------------------------------------- tokens
def allowed_tokens(space: SearchSpace, chunk: int = 1 << 16) -> np.ndarray:
    """bool[sequence_length, vocab_size]: the tokens some architecture of the space has at
    each position (over the whole enumeration). Greedy decoding picks only among these."""
    tokens_of = jax.jit(lambda idx: jax.vmap(lambda i: space.tokens(space.from_index(i)))(idx))
    seen = np.zeros((space.sequence_length, space.vocab_size), bool)
    for start in range(0, space.num_architectures, chunk):
        idx = np.arange(start, start + chunk, dtype=np.int32)
        idx = np.minimum(idx, space.num_architectures - 1)  # one shape: one compilation
        tokens = np.asarray(tokens_of(jnp.asarray(idx)))
        for position in range(space.sequence_length):
            seen[position, np.unique(tokens[:, position])] = True
    return seen


def tokens_of(space: SearchSpace, archs) -> jax.Array:
    """int32[B, T] token sequences of a batch of architectures."""
    return jax.vmap(space.tokens)(archs)


# --------------------------------------------------------------------------- training
def train_rows(
    key: jax.Array,
    state: training.TrainState,
    data: dict,
    rows: jax.Array,
    count: jax.Array,
    loss_fn: training.LossFn,
    optimizer: optax.GradientTransformation,
    batch_size: int,
    epochs: jax.Array,
) -> training.TrainState:
    """``epochs`` epochs over the first ``count`` entries of ``rows`` (rows of ``data``).

    For datasets whose size changes at run time (a search's growing labelled pool) with
    static array shapes: each epoch shuffles the ``count`` real entries, and runs
    ceil(count / batch_size) minibatches (the last one padded with weight 0). ``count``
    and ``epochs`` may be traced; the loops are ``while_loop``s, so under ``vmap`` with
    equal counts across seeds nothing is computed for padding. Every minibatch step is
    ``training.train`` on that minibatch (the shared step: loss, gradient, update).
    """
    capacity = rows.shape[0]
    steps = (count + batch_size - 1) // batch_size
    position = jnp.arange(batch_size)

    def epoch(carry):
        done, key, state = carry
        key, shuffle_key, step_key = jax.random.split(key, 3)
        # Real entries first in random order, padding (>= count) last.
        noise = jax.random.uniform(shuffle_key, (capacity,))
        order = jnp.argsort(jnp.where(jnp.arange(capacity) < count, noise, 2.0))

        def minibatch(inner):
            step, state = inner
            slots = step * batch_size + position
            picked = rows[order[jnp.minimum(slots, capacity - 1)]]
            batch = jax.tree_util.tree_map(lambda a: a[picked], data)
            batch["weight"] = batch["weight"] * (slots < count)
            state, _ = training.train(
                jax.random.fold_in(step_key, step), state, batch, loss_fn, optimizer, batch_size, 1
            )
            return step + 1, state

        _, state = jax.lax.while_loop(lambda inner: inner[0] < steps, minibatch, (jnp.int32(0), state))
        return done + 1, key, state

    return jax.lax.while_loop(lambda c: c[0] < epochs, epoch, (jnp.int32(0), key, state))[2]


# --------------------------------------------------------------------------- generation
def ascend(model: NAO, params, tokens: jax.Array, step_size: jax.Array, allowed: jax.Array):
    """Gradient ascent in embedding space from ONE architecture's tokens int32[T].

    Returns (decoded tokens int32[T], predicted value of the moved states). The token
    states move by ``step_size`` times the gradient of the predicted value, are
    re-normalised, and decoded greedily (the reference's ``generate_new_arch``).
    """
    states, grads = state_gradients(model, params, tokens[None])
    return decode_ascended(model, params, states[0], grads[0], step_size, allowed)


def state_gradients(model: NAO, params, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(token states [B, T, H], d predicted value / d states [B, T, H])."""
    states = model.apply(params, tokens, method=NAO.encode)
    grads = jax.grad(lambda s: model.apply(params, s, method=NAO.predict_states).sum())(states)
    return states, grads


def decode_ascended(model: NAO, params, states, grads, step_size, allowed):
    """Moves token states [..., T, H] up ``grads`` by ``step_size`` and decodes them greedily."""
    moved = l2_normalise(states + step_size * grads)
    squeeze = moved.ndim == 2
    moved = moved[None] if squeeze else moved
    decoded = model.apply(params, moved, jnp.asarray(allowed), method=NAO.decode)
    value = model.apply(params, moved, method=NAO.predict_states)
    return (decoded[0], value[0]) if squeeze else (decoded, value)


def make_generator(model: NAO, allowed: np.ndarray) -> Callable:
    """jit(vmap over seed architectures) of :func:`ascend`:
    (params, tokens int32[K, T], step_size) -> (decoded int32[K, T], predicted float32[K])."""

    def generate(params, tokens, step_size):
        one = lambda t: ascend(model, params, t, step_size, allowed)
        return jax.vmap(one)(tokens)

    return jax.jit(generate)


# --------------------------------------------------------------------------- predictor
class NAOState(NamedTuple):
    params: Any
    mean: jax.Array  # labelled mean (percent): predictions are mean + std * output
    std: jax.Array


def nao_predictor(space: SearchSpace, config: NAOConfig = NAOConfig()) -> Predictor:
    """NAO as a (semi-)supervised predictor.

    ``fit`` trains ``pretrain_epochs`` on the labelled set; given ``unlabelled``
    architectures it then pseudo-labels them with that model and trains ``epochs`` more
    on the labelled set repeated ``up_sample_ratio`` times plus the pseudo-labelled set
    (SemiNAS's semi-supervised step). ``predict`` returns accuracies in percent.
    """
    config.validate()
    model = make_model(space, config)
    network = nao_network(space, config)
    loss_fn = training_loss(network)

    def fit(key, labelled, labels, unlabelled=None):
        init_key, pre_key, main_key = jax.random.split(key, 3)
        labels = jnp.asarray(labels, jnp.float32)
        tokens = tokens_of(space, labelled)
        mean, std = training.normalisation(labels)
        data = {"inputs": tokens, "targets": (labels - mean) / std}
        state = training.init_state(network.init(init_key, tokens), network.optimizer)
        state, _ = training.train(
            pre_key, state, data, loss_fn, network.optimizer, config.train_batch_size, config.pretrain_epochs
        )
        if unlabelled is not None:
            pseudo_tokens = tokens_of(space, unlabelled)
            pseudo = batched_predict(model, state.params, pseudo_tokens)
            repeat = lambda a: jnp.concatenate([a] * config.up_sample_ratio, axis=0)
            data = {
                "inputs": jnp.concatenate([repeat(tokens), pseudo_tokens]),
                "targets": jnp.concatenate([repeat(data["targets"]), pseudo]),
            }
            state, _ = training.train(
                main_key, state, data, loss_fn, network.optimizer, config.train_batch_size, config.epochs
            )
        return NAOState(params=state.params, mean=mean, std=std)

    def predict(state, archs):
        return state.mean + state.std * batched_predict(model, state.params, tokens_of(space, archs))

    return Predictor(fit=fit, predict=predict)


def batched_predict(model: NAO, params, tokens: jax.Array, chunk: int = 2048) -> jax.Array:
    """Predicted (normalised) values of many token sequences, ``chunk`` at a time."""
    predict = lambda t: model.apply(params, t, method=NAO.predict)
    if tokens.shape[0] <= chunk:
        return predict(tokens)
    # lax.map's own batching (the remainder run unpadded), not chunking.map_chunks: under
    # a vmap over ensemble members the padded remainder differs in the last bits.
    return jax.lax.map(lambda t: predict(t[None])[0], tokens, batch_size=chunk)


__all__ = [
    "NAO",
    "NAOConfig",
    "NAOState",
    "allowed_tokens",
    "ascend",
    "batched_predict",
    "decode_ascended",
    "make_generator",
    "joint_loss",
    "make_loss",
    "make_model",
    "make_optimizer",
    "nao_network",
    "nao_predictor",
    "state_gradients",
    "train_rows",
]
