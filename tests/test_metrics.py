import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxnas import metrics


@pytest.mark.parametrize("n,ties", [(50, False), (1300, False), (700, True)])
def test_kendall_and_spearman_match_scipy(n, ties):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    if ties:  # heavy ties on both sides exercise tau-b's correction
        x, y = np.round(x), np.round(y * 2)
    tau = metrics.kendall_tau(x, y)
    rho = metrics.spearman_rho(x, y)
    chex.assert_shape(tau, ())
    np.testing.assert_allclose(tau, stats.kendalltau(x, y).statistic, rtol=1e-4)
    np.testing.assert_allclose(rho, stats.spearmanr(x, y).statistic, rtol=1e-4)


def test_rank_metrics_are_vmappable_over_seeds():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 100)))
    y = x + jnp.asarray(rng.normal(size=(4, 100)))
    taus = jax.vmap(metrics.kendall_tau)(x, y)
    chex.assert_shape(taus, (4,))
    for i in range(4):
        np.testing.assert_allclose(taus[i], stats.kendalltau(x[i], y[i]).statistic, rtol=1e-4)


def test_ndcg():
    rel = jnp.array([3.0, 2.0, 0.0, 1.0])
    assert float(metrics.ndcg_at_k(rel, rel, k=4)) == pytest.approx(1.0)
    # Reversed ranking: hand-computed DCG / IDCG with gain 2^rel - 1.
    discount = 1 / np.log2(np.arange(4) + 2)
    gains = 2 ** np.array([3, 2, 0, 1.0]) - 1
    dcg = np.sum(gains[[2, 3, 1, 0]] * discount)
    idcg = np.sum(gains[[0, 1, 3, 2]] * discount)
    assert float(metrics.ndcg_at_k(rel, -rel, k=4)) == pytest.approx(dcg / idcg, rel=1e-5)
    # @k only looks at the top-k predictions.
    assert float(metrics.ndcg_at_k(rel, jnp.array([4.0, 3, 0, 0]), k=2)) == pytest.approx(1.0)


def test_relevance_follows_acenas():
    acc = jnp.array([80.0, 90.0, 95.0, 85.0, 70.0])
    rel = metrics.relevance(acc)
    low = np.quantile(np.asarray(acc), 0.2)
    np.testing.assert_allclose(rel, np.clip((np.asarray(acc) - low) / (95 - low), 0, 1) * 20, rtol=1e-5)
    assert float(rel[2]) == 20.0 and float(rel[4]) == 0.0


def test_precision_at_k():
    y = jnp.arange(100.0)
    assert float(metrics.precision_at_k(y, y, 10)) == 1.0
    assert float(metrics.precision_at_k(y, -y, 10)) == 0.0
    pred = y.at[99].set(-1.0)  # the best one is missed: 9 of the true top 10 remain
    assert float(metrics.precision_at_k(y, pred, 10)) == pytest.approx(0.9)
    assert float(metrics.precision_at_fraction(y, y, 0.05)) == 1.0


def test_best_so_far_follows_signal_not_reported():
    signal = jnp.array([[1.0, 3.0, jnp.nan, 2.0, 5.0]])
    reported = jnp.array([[10.0, 30.0, jnp.nan, 99.0, 40.0]])
    # query 4 has the best reported value but a worse signal: the search keeps query 2.
    np.testing.assert_allclose(metrics.best_so_far(signal, reported), [[10, 30, 30, 30, 40]])
    first_nan = metrics.best_so_far(jnp.array([jnp.nan, 1.0]), jnp.array([jnp.nan, 7.0]))
    assert np.isnan(first_nan[0]) and float(first_nan[1]) == 7.0
    np.testing.assert_allclose(metrics.regret(jnp.array([90.0, 94.0]), 94.5), [4.5, 0.5])


def test_summary_matches_numpy_and_counts_the_optimum():
    values = np.array([94.373, 94.1, 94.373, 93.9, 94.373])
    s = metrics.summary(values, optimum=94.373)
    assert s["n"] == 5 and s["missing"] == 0
    np.testing.assert_allclose(s["mean"], values.mean())
    np.testing.assert_allclose(s["std"], values.std(ddof=1))  # sample std, not population
    np.testing.assert_allclose(s["sem"], values.std(ddof=1) / np.sqrt(5))
    np.testing.assert_allclose(s["sem"], stats.sem(values))
    assert s["median"] == 94.373 and s["fraction_at_optimum"] == pytest.approx(0.6)
    assert metrics.summary(values)["fraction_at_optimum"] is None
    one = metrics.summary([1.0])
    assert one["std"] is None and one["sem"] is None and one["mean"] == 1.0
    partial = metrics.summary([1.0, np.nan, 3.0])  # a seed without a result is counted, not hidden
    assert partial["missing"] == 1 and partial["n"] == 2 and partial["mean"] == 2.0
    assert metrics.summary([np.nan])["mean"] is None


@pytest.mark.parametrize("n", [1, 5, 12, 20])
def test_wilcoxon_exact_matches_scipy_without_ties(n):
    rng = np.random.default_rng(n)
    a = rng.normal(size=n)
    b = a - 0.4 + rng.normal(size=n)
    ours = metrics.wilcoxon_signed_rank(a, b)
    theirs = stats.wilcoxon(a, b, method="exact")
    assert ours["method"] == "exact" and ours["n_nonzero"] == n
    np.testing.assert_allclose(ours["p_value"], theirs.pvalue, rtol=1e-10)
    # The statistic is W+; scipy reports min(W+, W-) for a two-sided test.
    np.testing.assert_allclose(min(ours["statistic"], n * (n + 1) / 2 - ours["statistic"]), theirs.statistic)


def test_wilcoxon_exact_with_ties_and_zeros_is_the_permutation_distribution():
    # Ties among |d| and zero differences (e.g. seeds where both methods hit the optimum).
    d = np.array([0.0, 0.0, 0.5, -0.5, 0.5, 1.0, 1.0, 2.0, -0.25, 0.5, 3.0])
    ours = metrics.wilcoxon_signed_rank(d, np.zeros_like(d))
    nonzero = d[d != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    w_plus = ranks[nonzero > 0].sum()
    signs = np.array(list(itertools.product([0, 1], repeat=nonzero.size)))
    null = signs @ ranks  # W+ under every sign assignment, equally likely
    brute = min(1.0, 2 * min(np.mean(null <= w_plus + 1e-9), np.mean(null >= w_plus - 1e-9)))
    assert ours["n_nonzero"] == 9 and ours["statistic"] == pytest.approx(w_plus)
    np.testing.assert_allclose(ours["p_value"], brute, rtol=1e-12)
    assert metrics.wilcoxon_signed_rank([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0


def test_wilcoxon_normal_approximation_matches_scipy_with_ties():
    rng = np.random.default_rng(7)
    a = np.round(rng.normal(0.3, 1.0, size=80), 1)  # rounding makes ties
    b = np.round(rng.normal(0.0, 1.0, size=80), 1)
    ours = metrics.wilcoxon_signed_rank(a, b)
    theirs = stats.wilcoxon(a, b, method="approx", correction=False, zero_method="wilcox")
    assert ours["method"] == "approx"
    np.testing.assert_allclose(ours["p_value"], theirs.pvalue, rtol=1e-8)
    # Forcing the approximation on a small sample also agrees with scipy's.
    small = metrics.wilcoxon_signed_rank(a[:20], b[:20], exact_max_n=0)
    np.testing.assert_allclose(small["p_value"], stats.wilcoxon(a[:20], b[:20], method="approx").pvalue, rtol=1e-8)


def test_bootstrap_interval_agrees_with_scipy_and_is_seeded():
    rng = np.random.default_rng(3)
    d = rng.normal(0.1, 0.3, size=20)
    low, high = metrics.bootstrap_mean_ci(d, resamples=20_000)
    assert low < d.mean() < high
    assert (low, high) == metrics.bootstrap_mean_ci(d, resamples=20_000)  # deterministic
    theirs = stats.bootstrap((d,), np.mean, confidence_level=0.95, method="percentile", n_resamples=20_000,
                             random_state=np.random.default_rng(0)).confidence_interval
    width = high - low
    assert abs(low - theirs.low) < 0.05 * width and abs(high - theirs.high) < 0.05 * width


def test_paired_comparison_verdicts():
    rng = np.random.default_rng(0)
    base = rng.normal(94.0, 0.2, size=20)
    better = base + 0.1 + rng.normal(0, 0.02, size=20)
    result = metrics.paired_comparison(better, base)
    assert result["verdict"] == "better" and result["ci_low"] > 0 and result["wilcoxon_p"] < 0.05
    assert metrics.paired_comparison(base, better)["verdict"] == "worse"
    symmetric = base + np.repeat(np.arange(1, 11) / 10, 2) * np.tile([1, -1], 10)  # +-0.1, +-0.2, ...
    level = metrics.paired_comparison(symmetric, base)
    assert level["verdict"] == "level" and level["wilcoxon_p"] > 0.9 and level["ci_low"] < 0 < level["ci_high"]
    identical = metrics.paired_comparison(base, base)
    assert identical["verdict"] == "level" and identical["wilcoxon_p"] == 1.0 and identical["mean_difference"] == 0
    with pytest.raises(ValueError, match="equal lengths"):
        metrics.paired_comparison(base, base[:5])
