"""Ranking metrics for predictors, search-curve metrics, and statistics over seeds.

All ranking metrics take the true values and the predicted scores of the same
architectures (1-D arrays) and are jittable and vmappable (e.g. over seeds). The seed
statistics at the end (:func:`summary`, :func:`paired_comparison`) are NumPy functions
for results files and the results document.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

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


# ----------------------------------------------------------------------------- seed statistics
# Host-side (NumPy) statistics over seeds, for results.json and the results document: a
# summary of one method's per-seed values and a paired comparison of two methods run on
# the same seeds. scipy is a test dependency only, so the Wilcoxon test is implemented here.

OPTIMUM_ATOL = 1e-4  # a seed "reaches the optimum" when within this of it (percent)


def summary(values, optimum: float | None = None) -> dict:
    """Mean, sample std (ddof=1), sem, median, n and, given ``optimum``, the fraction of
    seeds whose value is within :data:`OPTIMUM_ATOL` of it (None without an optimum).

    ``values``: one number per seed. NaN (a seed without a result, e.g. no query made)
    is not averaged in silently: it is counted in ``missing`` and the statistics are over
    the other seeds (all None when none has a result). One seed has std and sem None.
    """
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("summary needs at least one value")
    finite = values[~np.isnan(values)]
    n = finite.size
    std = float(finite.std(ddof=1)) if n > 1 else None
    return {
        "n": int(n),
        "missing": int(values.size - n),
        "mean": float(finite.mean()) if n else None,
        "std": std,
        "sem": std / float(np.sqrt(n)) if std is not None else None,
        "median": float(np.median(finite)) if n else None,
        "fraction_at_optimum": (None if optimum is None or not n
                                else float(np.mean(np.abs(finite - optimum) <= OPTIMUM_ATOL))),
    }


def format_summary(stats: dict, digits: int = 3) -> str:
    """"mean ± std (sem s)" of a :func:`summary` ("n/a" where undefined)."""
    fmt = lambda v: "n/a" if v is None else f"{v:.{digits}f}"
    missing = f", {stats['missing']} seeds missing" if stats.get("missing") else ""
    return f"{fmt(stats['mean'])} ± {fmt(stats['std'])} (sem {fmt(stats['sem'])}{missing})"


def _signed_rank_statistic(differences: np.ndarray) -> tuple[np.ndarray, float]:
    """(average ranks of |d| (1-based, ties averaged), W+ = sum of ranks of positive d)."""
    magnitude = np.abs(differences)
    order = np.argsort(magnitude, kind="stable")
    sorted_magnitude = magnitude[order]
    ranks = np.empty(len(magnitude), np.float64)
    start = 0
    while start < len(sorted_magnitude):
        stop = start
        while stop + 1 < len(sorted_magnitude) and sorted_magnitude[stop + 1] == sorted_magnitude[start]:
            stop += 1
        ranks[order[start:stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return ranks, float(ranks[differences > 0].sum())


def _exact_signed_rank_pvalue(ranks: np.ndarray, w_plus: float) -> float:
    """Two-sided p-value of W+ under the null (every sign equally likely): the exact
    distribution of a sum of a random subset of ``ranks``, by dynamic programming over
    doubled ranks (integers even when ties give half ranks)."""
    doubled = np.rint(2 * ranks).astype(np.int64)
    total = int(doubled.sum())
    counts = np.zeros(total + 1, np.float64)
    counts[0] = 1.0
    for r in doubled:
        counts[r:] = counts[r:] + counts[:total + 1 - r].copy()
    probabilities = counts / counts.sum()
    w = int(np.rint(2 * w_plus))
    lower = probabilities[:w + 1].sum()
    upper = probabilities[w:].sum()
    return float(min(1.0, 2.0 * min(lower, upper)))


def wilcoxon_signed_rank(a, b, exact_max_n: int = 50) -> dict:
    """Two-sided Wilcoxon signed-rank test of the per-seed differences ``a - b``.

    Zero differences are dropped (Wilcoxon's method, scipy's default). With at most
    ``exact_max_n`` non-zero differences the p-value is exact, ties included (the
    permutation distribution of W+ over all sign assignments); above that, the normal
    approximation with the tie correction of the variance and no continuity correction
    (scipy's ``method="approx"``). All differences zero: p = 1.
    Returns {"statistic": W+, "p_value", "n_nonzero", "method"}.
    """
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.size} and {b.size}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("paired values contain NaN")
    differences = a - b
    differences = differences[differences != 0]
    n = differences.size
    if n == 0:
        return {"statistic": 0.0, "p_value": 1.0, "n_nonzero": 0, "method": "exact"}
    ranks, w_plus = _signed_rank_statistic(differences)
    if n <= exact_max_n:
        return {"statistic": w_plus, "p_value": _exact_signed_rank_pvalue(ranks, w_plus), "n_nonzero": int(n),
                "method": "exact"}
    mean = n * (n + 1) / 4.0
    _, tie_counts = np.unique(ranks, return_counts=True)
    variance = n * (n + 1) * (2 * n + 1) / 24.0 - np.sum(tie_counts**3 - tie_counts) / 48.0
    z = (w_plus - mean) / np.sqrt(variance)
    p_value = math.erfc(abs(z) / math.sqrt(2.0))  # 2 * (1 - Phi(|z|))
    return {"statistic": w_plus, "p_value": float(min(1.0, p_value)), "n_nonzero": int(n), "method": "approx"}


def bootstrap_mean_ci(values, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (seeded, so
    the same numbers always give the same interval)."""
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("bootstrap needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_comparison(a, b, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0,
                      alpha: float = 0.05) -> dict:
    """A against B on the same seeds (``a[i]`` and ``b[i]`` from seed i).

    Returns the mean per-seed difference A - B, its percentile-bootstrap confidence
    interval, the Wilcoxon signed-rank p-value and a verdict: "better" / "worse" when the
    test rejects at ``alpha`` AND the interval excludes 0 on that side, else "level".
    """
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    wilcoxon = wilcoxon_signed_rank(a, b)
    differences = a - b
    low, high = bootstrap_mean_ci(differences, confidence, resamples, seed)
    significant = wilcoxon["p_value"] < alpha
    if significant and low > 0:
        verdict = "better"
    elif significant and high < 0:
        verdict = "worse"
    else:
        verdict = "level"
    return {
        "n": int(a.size),
        "mean_difference": float(differences.mean()),
        "ci_low": low,
        "ci_high": high,
        "confidence": confidence,
        "wilcoxon_p": wilcoxon["p_value"],
        "wilcoxon_statistic": wilcoxon["statistic"],
        "n_nonzero": wilcoxon["n_nonzero"],
        "wilcoxon_method": wilcoxon["method"],
        "alpha": alpha,
        "verdict": verdict,
    }
