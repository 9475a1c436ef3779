"""The NAO encoder-predictor-decoder network (Luo et al. 2018), as used by SemiNAS.

The model reads an architecture's token sequence (``SearchSpace.tokens``):

* encoder: token embedding -> bidirectional LSTM -> linear projection back to
  ``hidden_size`` plus the embedding (residual) -> L2-normalised token states; the
  architecture embedding is the L2-normalised mean of the token states;
* predictor: a residual MLP (``mlp_layers`` layers, ``mlp_hidden_size`` wide) on the
  embedding, then a linear regressor -> the (normalised) accuracy;
* decoder: an LSTM started from (embedding, embedding) with attention over the encoder's
  token states, reconstructing the token sequence (teacher forcing in training, greedy
  decoding in generation, both ``lax.scan`` over positions).

The LSTMs are written out (input projections for all positions as one matmul, the two
encoder directions in one scan) because on CPU the recurrence dominates the cost.
"""

from __future__ import annotations

import math
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

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


__all__ = [
    "Decoder",
    "Encoder",
    "NAO",
    "PredictorHead",
    "embed",
    "l2_normalise",
]
