"""NAO encoder-predictor-decoder (Luo et al. 2018), as used by SemiNAS (Luo et al. 2020).

The model reads an architecture's token sequence (``SearchSpace.tokens``):

* encoder: token embedding -> bidirectional LSTM -> linear projection back to
  ``hidden_size`` plus the embedding (residual) -> L2-normalised token states; the
  architecture embedding is the L2-normalised mean of the token states;
* predictor: a residual MLP (``mlp_layers`` layers, ``mlp_hidden_size`` wide) on the
  embedding, then a linear regressor -> the (normalised) accuracy;
* decoder: an LSTM started from (embedding, embedding) with attention over the encoder's
  token states, reconstructing the token sequence (teacher forcing in training, greedy
  decoding in generation, both ``lax.scan`` over positions).

Loss: ``trade_off * MSE(prediction) + (1 - trade_off) * NLL(reconstruction)``; Adam with
L2 (added to the clipped gradient, as torch's ``weight_decay``). Targets are normalised by
the labelled set's mean and standard deviation.

Generation (``ascend``/``make_generator``): the gradient of the predicted value with
respect to the token states, a step of size ``step_size`` up that gradient, re-normalise,
and greedy decoding from the moved states. Decoding is restricted per position to the
tokens the space can put there (``allowed_tokens``), as the reference restricts
connection positions to {1, 2} and op positions to the op tokens.

The LSTMs are written out (input projections for all positions as one matmul, the two
encoder directions in one scan) because on CPU the recurrence dominates the cost.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import training
from jaxnas.config import Config, field
from jaxnas.predictors.base import Predictor
from jaxnas.spaces.base import SearchSpace

_HALF_SQRT = math.sqrt(0.5)  # residual sums are scaled to keep their variance
_START_TOKEN = 0  # the decoder's first input (the reference's SOS, = padding id)


def _torch_uniform(fan_in: int):
    """PyTorch's default init for Linear/LSTM: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _dense(features: int, fan_in: int, use_bias: bool = True, name: Optional[str] = None) -> nn.Dense:
    init = _torch_uniform(fan_in)
    return nn.Dense(features, use_bias=use_bias, kernel_init=init, bias_init=init, name=name)


def l2_normalise(x: jax.Array, axis: int = -1) -> jax.Array:
    """x / max(||x||, 1e-12), as torch.nn.functional.normalize."""
    norm = jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=True))
    return x / jnp.maximum(norm, 1e-12)


def _lstm_gates(gates: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One LSTM update from pre-activations [..., 4H] (gate order i, f, g, o).

    sigmoid(x) = (1 + tanh(x / 2)) / 2, so all four gates take ONE tanh over [..., 4H]:
    on CPU the LSTM's time goes mostly to these element-wise ops, and this halves them.
    """
    hidden = gates.shape[-1] // 4
    half = jnp.full((hidden,), 0.5, gates.dtype)
    scale = jnp.concatenate([half, half, jnp.ones((hidden,), gates.dtype), half])
    t = jnp.tanh(gates * scale)
    i, f, g, o = jnp.split(t, 4, axis=-1)
    c = (0.5 + 0.5 * f) * c + (0.5 + 0.5 * i) * g
    return (0.5 + 0.5 * o) * jnp.tanh(c), c


def _gate_scale(hidden: int, dtype) -> jax.Array:
    half = jnp.full((hidden,), 0.5, dtype)
    return jnp.concatenate([half, half, jnp.ones((hidden,), dtype), half])


def _lstm_forward(inputs_w, recurrent, initial):
    """The recurrence of :func:`_run_lstms`, also returning what its backward pass needs:
    per LSTM (outputs [T, B, H], tanh of the scaled gates [T, B, 4H], cells [T, B, H])."""

    def step(carry, xws):
        new, saved = [], []
        for xw, w, (h, c) in zip(xws, recurrent, carry):
            gates = xw + h @ w
            t = jnp.tanh(gates * _gate_scale(gates.shape[-1] // 4, gates.dtype))
            i, f, g, o = jnp.split(t, 4, axis=-1)
            c = (0.5 + 0.5 * f) * c + (0.5 + 0.5 * i) * g
            h = (0.5 + 0.5 * o) * jnp.tanh(c)
            new.append((h, c))
            saved.append((h, t, c))
        return tuple(new), tuple(saved)

    return jax.lax.scan(step, tuple(initial), tuple(inputs_w))[1]


@jax.custom_vjp
def _run_lstms(inputs_w, recurrent, initial):
    """Independent LSTMs stepped together over time (one scan, one loop overhead).

    inputs_w: tuple of [T, B, 4H] input projections (bias included), one per LSTM;
    recurrent: tuple of [H, 4H]; initial: tuple of (h0, c0) pairs [B, H].
    Returns a tuple of outputs [T, B, H]. Each LSTM has its own plain 2-D matmul per
    step (faster on CPU than one batched dot over a direction axis).

    The backward pass is written out (as cuDNN's and PyTorch's LSTMs do): the scan
    carries only (dh, dc), and the recurrent kernels' gradients are ONE matmul over all
    steps afterwards. Autodiff of the scan instead accumulates them step by step inside
    the loop and saves every intermediate of the gate arithmetic, which made the
    backward pass about 8x the forward on CPU.
    """
    return tuple(h for h, _, _ in _lstm_forward(inputs_w, recurrent, initial))


def _run_lstms_fwd(inputs_w, recurrent, initial):
    saved = _lstm_forward(inputs_w, recurrent, initial)
    return tuple(h for h, _, _ in saved), (saved, recurrent, initial)


def _run_lstms_bwd(residuals, output_grads):
    saved, recurrent, initial = residuals
    # The state before each step: (h0, c0) then the outputs and cells of steps 0..T-2.
    before = tuple((jnp.concatenate([h0[None], h[:-1]]), jnp.concatenate([c0[None], c[:-1]]))
                   for (h, _, c), (h0, c0) in zip(saved, initial))

    def step(carry, xs):
        new, grads = [], []
        for (dh_next, dc_next), w, (dh_out, (_, t, c), (_, c_prev)) in zip(carry, recurrent, zip(*xs)):
            dh = dh_out + dh_next
            i, f, g, o = jnp.split(t, 4, axis=-1)
            tanh_c = jnp.tanh(c)
            dc = dc_next + dh * (0.5 + 0.5 * o) * (1.0 - tanh_c * tanh_c)
            dt = jnp.concatenate([dc * g * 0.5, dc * c_prev * 0.5, dc * (0.5 + 0.5 * i), dh * tanh_c * 0.5], axis=-1)
            dgates = dt * (1.0 - t * t) * _gate_scale(g.shape[-1], g.dtype)
            new.append((dgates @ w.T, dc * (0.5 + 0.5 * f)))
            grads.append(dgates)
        return tuple(new), tuple(grads)

    zeros = tuple((jnp.zeros_like(h0), jnp.zeros_like(c0)) for h0, c0 in initial)
    xs = (tuple(output_grads), tuple(saved), before)
    initial_grads, dgates = jax.lax.scan(step, zeros, xs, reverse=True)
    recurrent_grads = tuple(jnp.einsum("tbh,tbg->hg", h_before, dg) for (h_before, _), dg in zip(before, dgates))
    return tuple(dgates), recurrent_grads, initial_grads


_run_lstms.defvjp(_run_lstms_fwd, _run_lstms_bwd)


class _LSTMWeights(nn.Module):
    """Input and recurrent weights of one LSTM (PyTorch init; the two torch biases as one)."""

    hidden_size: int
    input_size: int

    def setup(self):
        four_h = 4 * self.hidden_size
        init = _torch_uniform(self.hidden_size)
        self.input_kernel = self.param("input_kernel", init, (self.input_size, four_h))
        self.recurrent_kernel = self.param("recurrent_kernel", init, (self.hidden_size, four_h))
        # torch adds b_ih + b_hh; one bias initialised as their sum has the same law.
        self.bias = self.param("bias", lambda k, s: init(k, s) + init(jax.random.fold_in(k, 1), s), (four_h,))

    def project(self, x: jax.Array) -> jax.Array:
        """Input projections of all positions at once: x [..., in] -> [..., 4H]."""
        return x @ self.input_kernel + self.bias


class Encoder(nn.Module):
    vocab_size: int
    hidden_size: int
    dropout: float

    def setup(self):
        h = self.hidden_size
        self.embedding = nn.Embed(self.vocab_size, h, embedding_init=nn.initializers.normal(1.0))
        self.forward_lstm = _LSTMWeights(h, h)
        self.backward_lstm = _LSTMWeights(h, h)
        # The projection of [forward; backward] outputs, split by half (no concatenation).
        self.out_forward = _dense(h, 2 * h, use_bias=True)
        self.out_backward = _dense(h, 2 * h, use_bias=False)
        self.drop = nn.Dropout(self.dropout)

    def __call__(self, tokens: jax.Array, train: bool) -> jax.Array:
        """tokens int32[B, T] -> L2-normalised token states float32[B, T, H]."""
        x = self.drop(self.embedding(tokens.T), deterministic=not train)  # time-major [T, B, H]
        zeros = jnp.zeros((tokens.shape[0], self.hidden_size), x.dtype)
        forward, backward = _run_lstms(
            (self.forward_lstm.project(x), self.backward_lstm.project(x[::-1])),
            (self.forward_lstm.recurrent_kernel, self.backward_lstm.recurrent_kernel),
            ((zeros, zeros), (zeros, zeros)),
        )
        states = x + self.out_forward(forward) + self.out_backward(backward[::-1])
        return l2_normalise(states).transpose(1, 0, 2)

    def create(self, tokens: jax.Array) -> jax.Array:
        """Creates the parameters without running the recurrence (cheap to compile)."""
        x = self.embedding(tokens)
        self.forward_lstm.project(x)
        self.backward_lstm.project(x)
        return self.out_forward(x) + self.out_backward(x)


class PredictorHead(nn.Module):
    hidden_size: int
    mlp_hidden_size: int
    mlp_layers: int
    dropout: float

    @nn.compact
    def __call__(self, embedding: jax.Array, train: bool) -> jax.Array:
        """embedding float32[..., H] -> predicted (normalised) accuracy float32[...]."""
        x = embedding
        fan_in = self.hidden_size
        for layer in range(self.mlp_layers):
            width = self.hidden_size if layer == self.mlp_layers - 1 else self.mlp_hidden_size
            x = nn.relu(_dense(width, fan_in)(x))
            x = nn.Dropout(self.dropout)(x, deterministic=not train)
            fan_in = width
        x = (embedding + x) * _HALF_SQRT
        return _dense(1, self.hidden_size, name="regressor")(x)[..., 0]


class Decoder(nn.Module):
    vocab_size: int
    hidden_size: int
    dropout: float

    def setup(self):
        h = self.hidden_size
        self.embedding = nn.Embed(self.vocab_size, h, embedding_init=nn.initializers.normal(1.0))
        self.lstm = _LSTMWeights(h, h)
        self.attention_in = _dense(h, h, use_bias=False)
        self.attention_out = _dense(h, 2 * h, use_bias=False)
        self.out = _dense(self.vocab_size, h)
        self.drop = nn.Dropout(self.dropout)

    def _attend(self, x: jax.Array, states: jax.Array) -> jax.Array:
        """x [..., Tq, H] attends over states [..., T, H] -> [..., Tq, H] (with residual)."""
        scores = jnp.einsum("...qh,...th->...qt", self.attention_in(x), states)
        mix = jnp.einsum("...qt,...th->...qh", jax.nn.softmax(scores, axis=-1), states)
        attended = jnp.tanh(self.attention_out(jnp.concatenate([mix, x], axis=-1)))
        return (x + attended) * _HALF_SQRT

    def __call__(self, inputs: jax.Array, states: jax.Array, embedding: jax.Array, train: bool) -> jax.Array:
        """Teacher forcing: inputs int32[B, T] (targets shifted right) -> log-probs [B, T, V]."""
        x = self.drop(self.embedding(inputs.T), deterministic=not train)  # [T, B, H]
        (out,) = _run_lstms((self.lstm.project(x),), (self.lstm.recurrent_kernel,), ((embedding, embedding),))
        x = self._attend(((x + out) * _HALF_SQRT).transpose(1, 0, 2), states)
        return jax.nn.log_softmax(self.out(x), axis=-1)

    def create(self, tokens: jax.Array, states: jax.Array) -> jax.Array:
        """Creates the parameters without running the recurrence (cheap to compile)."""
        x = self.lstm.project(self.embedding(tokens))[..., : self.hidden_size]
        return self.out(self._attend(x, states))

    def greedy(self, states: jax.Array, embedding: jax.Array, allowed: jax.Array) -> jax.Array:
        """Greedy decoding: states [B, T, H], embedding [B, H], allowed bool[T, V] -> int32[B, T]."""
        batch = states.shape[0]

        def step(carry, allowed_here):
            h, c, token = carry
            x = self.embedding(token)  # [B, H]
            h, c = _lstm_gates(self.lstm.project(x) + h @ self.lstm.recurrent_kernel, c)
            y = self._attend(((x + h) * _HALF_SQRT)[:, None, :], states)[:, 0]
            logits = jnp.where(allowed_here, self.out(y), -jnp.inf)
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            return (h, c, token), token

        start = jnp.full((batch,), _START_TOKEN, jnp.int32)
        return jax.lax.scan(step, (embedding, embedding, start), allowed)[1].T


class NAO(nn.Module):
    """Encoder, predictor head and decoder; methods work on batches [B, T] of tokens."""

    vocab_size: int
    hidden_size: int = 64
    mlp_hidden_size: int = 16
    mlp_layers: int = 2
    dropout: float = 0.1

    def setup(self):
        self.encoder = Encoder(self.vocab_size, self.hidden_size, self.dropout)
        self.predictor = PredictorHead(self.hidden_size, self.mlp_hidden_size, self.mlp_layers, self.dropout)
        self.decoder = Decoder(self.vocab_size, self.hidden_size, self.dropout)

    def __call__(self, tokens: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
        """(predicted value [B], reconstruction log-probs [B, T, V]) with teacher forcing."""
        states = self.encoder(tokens, train)
        embedding = embed(states)
        value = self.predictor(embedding, train)
        shifted = jnp.concatenate([jnp.full_like(tokens[:, :1], _START_TOKEN), tokens[:, :-1]], axis=1)
        return value, self.decoder(shifted, states, embedding, train)

    def initialise(self, tokens: jax.Array) -> jax.Array:
        """``init``'s method: every parameter, created without running the LSTMs (a full
        forward pass makes initialisation as slow to compile as training)."""
        states = self.encoder.create(tokens)
        value = self.predictor(embed(states), False)
        return value, self.decoder.create(tokens, states)

    def encode(self, tokens: jax.Array) -> jax.Array:
        """Token states [B, T, H] (inference)."""
        return self.encoder(tokens, False)

    def predict_states(self, states: jax.Array) -> jax.Array:
        """Predicted value of token states [..., T, H] (inference)."""
        return self.predictor(embed(states), False)

    def predict(self, tokens: jax.Array) -> jax.Array:
        return self.predict_states(self.encode(tokens))

    def decode(self, states: jax.Array, allowed: jax.Array) -> jax.Array:
        return self.decoder.greedy(states, embed(states), allowed)


def embed(states: jax.Array) -> jax.Array:
    """Architecture embedding: the L2-normalised mean of the token states."""
    return l2_normalise(jnp.mean(states, axis=-2))


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


def make_loss(model: NAO, trade_off: float) -> training.LossFn:
    """loss(params, batch, weights, key) for ``training.train``.

    batch: {"tokens": int32[B, T], "target": float32[B] (normalised), "weight": float32[B]}.
    The per-example weight masks padding rows of dynamically sized datasets.
    """

    def loss_fn(params, batch, weights, key):
        tokens = batch["tokens"]
        value, log_probs = model.apply(params, tokens, train=True, rngs={"dropout": key})
        weights = weights * batch["weight"]
        mse = training.weighted_mean((value - batch["target"]) ** 2, weights)
        token_nll = -jnp.take_along_axis(log_probs, tokens[..., None], axis=-1)[..., 0]
        nll = training.weighted_mean(token_nll.mean(axis=-1), weights)
        loss = trade_off * mse + (1.0 - trade_off) * nll
        return loss, {"mse": mse, "nll": nll}

    return loss_fn


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
    optimizer = make_optimizer(config)
    loss_fn = make_loss(model, config.trade_off)

    def fit(key, labelled, labels, unlabelled=None):
        init_key, pre_key, main_key = jax.random.split(key, 3)
        labels = jnp.asarray(labels, jnp.float32)
        tokens = tokens_of(space, labelled)
        mean, std = training.normalisation(labels)
        data = {"tokens": tokens, "target": (labels - mean) / std, "weight": jnp.ones_like(labels)}
        state = training.init_state(init_params(model, init_key, space.sequence_length), optimizer)
        state, _ = training.train(
            pre_key, state, data, loss_fn, optimizer, config.train_batch_size, config.pretrain_epochs
        )
        if unlabelled is not None:
            pseudo_tokens = tokens_of(space, unlabelled)
            pseudo = batched_predict(model, state.params, pseudo_tokens)
            repeat = lambda a: jnp.concatenate([a] * config.up_sample_ratio, axis=0)
            data = {
                "tokens": jnp.concatenate([repeat(tokens), pseudo_tokens]),
                "target": jnp.concatenate([repeat(data["target"]), pseudo]),
                "weight": jnp.ones(tokens.shape[0] * config.up_sample_ratio + pseudo.shape[0]),
            }
            state, _ = training.train(
                main_key, state, data, loss_fn, optimizer, config.train_batch_size, config.epochs
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
    "embed",
    "make_generator",
    "make_loss",
    "make_model",
    "make_optimizer",
    "nao_predictor",
    "state_gradients",
    "train_rows",
]
