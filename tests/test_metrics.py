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
