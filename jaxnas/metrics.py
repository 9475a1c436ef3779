"""Ranking metrics for predictors and search-curve metrics, as jittable jnp functions.

All ranking metrics take the true values and the predicted scores of the same
architectures (1-D arrays) and are jittable and vmappable (e.g. over seeds).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

# Rows per block in the O(n^2) pairwise Kendall tau; bounds memory to block * n floats.
_KENDALL_BLOCK = 512


def _pair_sums(x: jax.Array, y: jax.Array):
    """Sums over ordered pairs (i, j) of sign products and ties, computed in row blocks."""
    n = x.shape[0]
    block = min(_KENDALL_BLOCK, n)
    num_blocks = -(-n // block)
    pad = num_blocks * block - n
    rows_x = jnp.pad(x, (0, pad)).reshape(num_blocks, block)
    rows_y = jnp.pad(y, (0, pad)).reshape(num_blocks, block)
    rows_valid = (jnp.arange(num_blocks * block) < n).reshape(num_blocks, block)

    def block_sums(args):
        bx, by, valid = args
        sx = jnp.sign(bx[:, None] - x[None, :])
        sy = jnp.sign(by[:, None] - y[None, :])
        valid = valid[:, None]
        concordance = jnp.sum(jnp.where(valid, sx * sy, 0.0))
        x_ties = jnp.sum(jnp.where(valid, sx == 0, False))
        y_ties = jnp.sum(jnp.where(valid, sy == 0, False))
        return concordance, x_ties, y_ties

    c, tx, ty = jax.lax.map(block_sums, (rows_x, rows_y, rows_valid))
    # Ordered pairs count each unordered pair twice; ties include the n diagonal pairs.
    return c.sum() / 2, (tx.sum() - n) / 2, (ty.sum() - n) / 2


@jax.jit
def kendall_tau(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """Kendall's tau-b (tie-corrected), O(n^2) time in blocks, O(block * n) memory."""
    x = jnp.asarray(y_true, jnp.float32)
    y = jnp.asarray(y_pred, jnp.float32)
    n = x.shape[0]
    s, x_tied, y_tied = _pair_sums(x, y)
    pairs = n * (n - 1) / 2
    return s / jnp.sqrt((pairs - x_tied) * (pairs - y_tied))


def average_ranks(values: jax.Array) -> jax.Array:
    """Ranks 0..n-1, ties sharing the average of their ranks (as scipy's rankdata - 1)."""
    sorted_values = jnp.sort(values)
    left = jnp.searchsorted(sorted_values, values, side="left")
    right = jnp.searchsorted(sorted_values, values, side="right")
    return (left + right - 1) / 2.0


@jax.jit
def spearman_rho(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """Spearman's rank correlation (Pearson correlation of average ranks)."""
    rx = average_ranks(jnp.asarray(y_true, jnp.float32))
    ry = average_ranks(jnp.asarray(y_pred, jnp.float32))
    rx = rx - rx.mean()
    ry = ry - ry.mean()
    return jnp.sum(rx * ry) / jnp.sqrt(jnp.sum(rx**2) * jnp.sum(ry**2))


@functools.partial(jax.jit, static_argnames="k")
def ndcg_at_k(relevance: jax.Array, y_pred: jax.Array, k: int) -> jax.Array:
    """NDCG@k with gain 2^rel - 1 and discount 1/log2(rank + 2).

    relevance: non-negative true relevance of each architecture (see ``relevance``).
    y_pred: predicted scores; the predicted ranking is by descending score.
    """
    relevance = jnp.asarray(relevance, jnp.float32)
    k = min(k, relevance.shape[0])
    discount = 1.0 / jnp.log2(jnp.arange(k) + 2.0)
    gains = 2.0**relevance - 1.0
    _, predicted_top = jax.lax.top_k(jnp.asarray(y_pred, jnp.float32), k)
    ideal = jax.lax.top_k(gains, k)[0]
    return jnp.sum(gains[predicted_top] * discount) / jnp.sum(ideal * discount)


def relevance(accuracy: jax.Array, reference: jax.Array | None = None, quantile: float = 0.2,
              levels: float = 20.0) -> jax.Array:
    """AceNAS relevance: clip((acc - q) / (max - q), 0, 1) * levels.

    q is the ``quantile`` of ``reference`` (the training labels in AceNAS; by default the
    accuracies themselves) and max their maximum, so only the top of the ranking carries
    gain — which is what NAS cares about.
    """
    accuracy = jnp.asarray(accuracy, jnp.float32)
    reference = accuracy if reference is None else jnp.asarray(reference, jnp.float32)
    low = jnp.quantile(reference, quantile)
    high = jnp.max(reference)
    return jnp.clip((accuracy - low) / jnp.maximum(high - low, 1e-12), 0.0, 1.0) * levels


@functools.partial(jax.jit, static_argnames="k")
def precision_at_k(y_true: jax.Array, y_pred: jax.Array, k: int) -> jax.Array:
    """Fraction of the true top-k architectures that are in the predicted top-k."""
    n = y_true.shape[0]
    k = min(k, n)
    _, true_top = jax.lax.top_k(jnp.asarray(y_true, jnp.float32), k)
    _, pred_top = jax.lax.top_k(jnp.asarray(y_pred, jnp.float32), k)
    in_true = jnp.zeros((n,), bool).at[true_top].set(True)
    return jnp.sum(in_true[pred_top]) / k


def precision_at_fraction(y_true: jax.Array, y_pred: jax.Array, fraction: float) -> jax.Array:
    """precision_at_k with k = ceil(fraction * n), e.g. fraction=0.05 for precision@5%."""
    k = max(1, int(-(-fraction * y_true.shape[0] // 1)))
    return precision_at_k(y_true, y_pred, k)


@jax.jit
def best_so_far(signal: jax.Array, reported: jax.Array) -> jax.Array:
    """Reported value of the architecture with the best signal among the first t queries.

    signal, reported: float[..., T] per query in query order (NaN = no query). A search
    returns the architecture it believes best (highest signal), and it is judged by that
    architecture's reported value; ties keep the earlier architecture. NaN until the
    first query.
    """
    signal = jnp.asarray(signal, jnp.float32)
    reported = jnp.asarray(reported, jnp.float32)

    def step(carry, inputs):
        best_signal, best_reported = carry
        s, r = inputs
        better = ~jnp.isnan(s) & (jnp.isnan(best_signal) | (s > best_signal))
        carry = (jnp.where(better, s, best_signal), jnp.where(better, r, best_reported))
        return carry, carry[1]

    batch_shape = signal.shape[:-1]
    init = (jnp.full(batch_shape, jnp.nan), jnp.full(batch_shape, jnp.nan))
    _, curve = jax.lax.scan(step, init, (jnp.moveaxis(signal, -1, 0), jnp.moveaxis(reported, -1, 0)))
    return jnp.moveaxis(curve, 0, -1)


def regret(curve: jax.Array, optimum: float) -> jax.Array:
    """Simple regret: the optimum's reported value minus the value found."""
    return optimum - jnp.asarray(curve)
