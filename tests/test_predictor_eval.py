import dataclasses
import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxnas import checkpoint, predictor_eval
from jaxnas.predictors.base import Predictor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _oracle_predictor(benchmark, noise=0.0):
    """Scores = the reported accuracy (+ seeded noise): a predictor with known quality."""
    table = jnp.asarray(np.nan_to_num(benchmark.reported))
    space = benchmark.search_space

    def fit(key, labelled, labels, unlabelled):
        del labelled, labels, unlabelled
        return key

    def predict(key, archs):
        truth = table[space.index_batch(archs)]
        return truth + noise * jax.random.normal(key, truth.shape)

    return Predictor(fit=fit, predict=predict)


@pytest.fixture(scope="module")
def bench(synthetic_nb201):
    """The synthetic NB201 benchmark restricted to 1,500 cells (NaN elsewhere): the protocol
    is the same and the O(n^2) Kendall tau stays cheap."""
    full = synthetic_nb201
    keep = np.zeros(full.space.num_architectures, bool)
    keep[np.random.default_rng(0).choice(full.space.num_architectures, 1500, replace=False)] = True
    mask = lambda column: np.where(keep, column, np.nan).astype(np.float32)
    return dataclasses.replace(full, name="nb201_synthetic_small", signal=mask(full.signal),
                               reported=mask(full.reported), columns={})


def test_split_is_a_partition_of_available(bench):
    available = jnp.asarray(bench.available_indices)
    train, test = jax.jit(predictor_eval.split, static_argnums=2)(jax.random.key(0), available, 50)
    chex.assert_shape([train, test], [(50,), (available.shape[0] - 50,)])
    assert sorted(np.concatenate([train, test]).tolist()) == np.asarray(available).tolist()
    assert np.all(np.diff(np.asarray(test)) > 0)
    other, _ = predictor_eval.split(jax.random.key(1), available, 50)
    assert set(np.asarray(train).tolist()) != set(np.asarray(other).tolist())


def test_metrics_of_a_perfect_and_a_noisy_predictor(bench):
    perfect = predictor_eval.evaluate(_oracle_predictor(bench), bench, num_labels=20, num_seeds=2, log=lambda *_: None)
    for name in ("kendall_tau", "spearman_rho", "ndcg_at_10", "precision_at_5pct"):
        np.testing.assert_allclose(perfect.metrics[name], 1.0, atol=1e-5)
    noisy = predictor_eval.evaluate(_oracle_predictor(bench, noise=3.0), bench, num_labels=20, num_seeds=3,
                                    seed=5, seed_batch=2, log=lambda *_: None)
    assert noisy.test_indices.shape == (3, bench.num_available - 20)
    assert noisy.train_indices.shape == (3, 20)
    assert list(noisy.seeds) == [5, 6, 7]
    # Independent check of one seed's tau and precision with scipy/numpy.
    y = bench.reported[noisy.test_indices[1]]
    p = noisy.test_predictions[1]
    np.testing.assert_allclose(noisy.metrics["kendall_tau"][1], stats.kendalltau(y, p)[0], atol=2e-3)
    k = int(np.ceil(0.05 * len(y)))
    overlap = len(set(np.argsort(-y)[:k]) & set(np.argsort(-p)[:k])) / k
    np.testing.assert_allclose(noisy.metrics["precision_at_5pct"][1], overlap, atol=2e-3)
    assert 0.2 < np.mean(noisy.metrics["kendall_tau"]) < 0.95
    summary = noisy.summary()
    assert set(summary) == set(predictor_eval.METRICS)
    np.testing.assert_allclose(summary["kendall_tau"]["std"], np.std(noisy.metrics["kendall_tau"], ddof=1))


def test_seed_batching_does_not_change_results(bench):
    predictor = _oracle_predictor(bench, noise=2.0)
    together = predictor_eval.evaluate(predictor, bench, 30, 3, log=lambda *_: None)
    apart = predictor_eval.evaluate(predictor, bench, 30, 3, seed_batch=1, log=lambda *_: None)
    np.testing.assert_array_equal(together.train_indices, apart.train_indices)
    np.testing.assert_allclose(together.metrics["kendall_tau"], apart.metrics["kendall_tau"], rtol=1e-5)


class _Killed(Exception):
    pass


def test_killed_evaluation_resumes_at_the_next_seed_batch(bench, tmp_path):
    predictor = _oracle_predictor(bench, noise=2.0)
    whole = predictor_eval.evaluate(predictor, bench, 30, 3, seed=4, seed_batch=1, log=lambda *_: None)
    ckpt = str(tmp_path / "ckpt")
    batches_done = []

    def killed_after_two(message):
        batches_done.append(message)
        if len(batches_done) == 2:
            raise _Killed  # after the second batch's checkpoint, as a kill would

    with pytest.raises(_Killed):
        predictor_eval.evaluate(predictor, bench, 30, 3, seed=4, seed_batch=1, log=killed_after_two,
                                checkpoint_dir=ckpt, run_info={"noise": 2.0})
    # A new run on the used folder is refused; a resume must be the same evaluation.
    with pytest.raises(checkpoint.CheckpointExistsError, match="--resume"):
        predictor_eval.evaluate(predictor, bench, 30, 3, seed=4, seed_batch=1, checkpoint_dir=ckpt)
    with pytest.raises(checkpoint.CheckpointMismatchError):
        predictor_eval.evaluate(predictor, bench, 31, 3, seed=4, seed_batch=1, checkpoint_dir=ckpt, resume=True,
                                run_info={"noise": 2.0})
    messages = []
    resumed = predictor_eval.evaluate(predictor, bench, 30, 3, seed=4, seed_batch=1, log=messages.append,
                                      checkpoint_dir=ckpt, resume=True, run_info={"noise": 2.0})
    assert "seeds 4..5 done" in messages[0]
    assert [m for m in messages[1:] if "done" in m] == [messages[-1]] and "seeds 6..6 done" in messages[-1]
    np.testing.assert_array_equal(resumed.train_indices, whole.train_indices)
    np.testing.assert_array_equal(resumed.test_indices, whole.test_indices)
    np.testing.assert_array_equal(resumed.test_predictions, whole.test_predictions)
    assert [part["from_step"] for part in resumed.parts] == [0, 2] and whole.parts == []
    for name in predictor_eval.METRICS:
        np.testing.assert_array_equal(resumed.metrics[name], whole.metrics[name])


def test_bad_arguments(bench):
    with pytest.raises(ValueError, match="number of labels"):
        predictor_eval.evaluate(_oracle_predictor(bench), bench, num_labels=1, num_seeds=1)
    with pytest.raises(ValueError, match="seeds"):
        predictor_eval.evaluate(_oracle_predictor(bench), bench, num_labels=10, num_seeds=0)
    with pytest.raises(ValueError, match="checkpoint directory"):
        predictor_eval.evaluate(_oracle_predictor(bench), bench, num_labels=10, num_seeds=1, resume=True)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "experiments.predictor_eval", *args],
                          cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_cli_writes_results_and_scatter(tmp_path):
    proc = _run("--predictor=gcn", "--benchmark=nb201_synthetic", "--labels=20", "--seeds=2", "--gcn_epochs=3",
                "--gcn_hidden=8", "--gcn_fc_hidden=8", f"--output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["predictor"] == "gcn" and results["num_labels"] == 20 and results["seeds"] == 2
    assert results["config"]["epochs"] == 3 and results["config"]["hidden"] == 8
    assert results["num_evaluated"] == 15625 - 20
    for name in predictor_eval.METRICS:
        assert len(results["metrics"][name]["per_seed"]) == 2
        assert -1.0 <= results["metrics"][name]["mean"] <= 1.0
    assert results["label_column"] != results["evaluation_column"]
    assert (tmp_path / "scatter.png").stat().st_size > 1000


@pytest.mark.parametrize("args,message", [
    (["--predictor=nope"], "value should be one of"),
    (["--predictor=gcn", "--labels=20000"], "leaves too few"),
    (["--predictor=gcn", "--assessor_knn=5"], "given but --predictor=gcn"),
    (["--predictor=gcn", "--gcn_hidden=0"], "gcn hidden must be >= 1"),
    (["--predictor=gcn", "--labels=20", "--seeds=1", "--num_devices=64"], "xla_force_host_platform_device_count"),
    (["--predictor=gcn", "--resume"], "--resume needs --checkpoint_dir"),
])
def test_cli_bad_input(tmp_path, args, message):
    proc = _run("--benchmark=nb201_synthetic", *args, f"--output_dir={tmp_path}")
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert not (tmp_path / "results.json").exists()
