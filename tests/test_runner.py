"""The search runner (jaxnas.search.runner): impossible settings, budgets not reached,
checkpoint cadence, and results that depend on neither the device mesh nor an
interruption.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxnas import benchmarks, checkpoint, search
from jaxnas.search import runner
from tests.test_checkpoint import garble_step


@pytest.fixture(scope="module")
def bench(synthetic_nb201):
    return synthetic_nb201


@pytest.fixture(scope="module")
def random_search(bench):
    # One algorithm object for every run below: the step program compiles once.
    return search.make_algorithm("random", bench.space, search.config_class("random")())


def test_impossible_settings_are_refused(bench, random_search):
    proteins = benchmarks.load_benchmark("nbgraph_proteins")
    algorithm = search.make_algorithm("random", proteins.space, search.config_class("random")())
    with pytest.raises(runner.SearchSettingsError, match="budget 2500 exceeds the 2021 architectures nbgraph_proteins"):
        runner.run_search(algorithm, proteins, budget=2500, num_seeds=2)
    for kwargs, message in [({"max_steps": 0}, "max_steps must be >= 1, got 0"),
                            ({"max_steps": -1}, "max_steps must be >= 1, got -1"),
                            ({"checkpoint_every_steps": 0}, "checkpoint_every_steps must be >= 1"),
                            ({"resume": True}, "resume needs a checkpoint directory")]:
        with pytest.raises(runner.SearchSettingsError, match=message):
            runner.run_search(random_search, bench, budget=10, num_seeds=2, **kwargs)


def test_seeds_short_of_budget_are_reported(bench, random_search, caplog):
    with caplog.at_level(logging.INFO):
        result = runner.run_search(random_search, bench, budget=20, num_seeds=2, max_steps=1, algorithm_name="random")
    np.testing.assert_array_equal(result.queries, 1)
    out = result.to_json()
    assert out["budget_reached"] is False and result.budget_reached is False
    assert out["short_of_budget"] == {"seeds": [0, 1], "queries": [1, 1]}
    assert "2 of 2 seeds stopped at max_steps=1 before spending the budget of 20 queries" in caplog.text
    # The first progress line comes after the first ask/tell round, with compilation logged.
    text = caplog.text
    assert "random: search step compiled in" in text and "random: first ask/tell round took" in text
    assert text.index("first ask/tell round") < text.index("step 1, queries 1.0/20")
    # With queries left, a progress line estimates the time they take at this run's pace.
    assert re.search(r"step 1, queries 1\.0/20 \(min 1\), .*, ~\d+s left", text), text


def test_checkpoints_come_every_n_steps_and_resume_counts_all_wall_time(bench, random_search, tmp_path, monkeypatch):
    plain = runner.run_search(random_search, bench, budget=30, num_seeds=2)
    saved = []
    original = checkpoint.Checkpointer.save

    def recording_save(self, step, state, info=None):
        saved.append((step, info["wall_seconds"]))
        original(self, step, state, info)

    monkeypatch.setattr(checkpoint.Checkpointer, "save", recording_save)
    ckpt = tmp_path / "ck"
    full = runner.run_search(random_search, bench, budget=30, num_seeds=2, checkpoint_dir=str(ckpt),
                             checkpoint_every_steps=7)
    steps = [s for s, _ in saved]
    assert steps[:-1] == list(range(7, 7 * len(steps), 7))  # every 7 steps, then at the end
    assert steps[-1] >= int(full.steps.max()) and 0 < steps[-1] - steps[-2] <= 7
    wall_at_previous = dict(saved)[steps[-2]]
    np.testing.assert_array_equal(full.history, plain.history)  # chunking changes nothing
    assert full.budget_reached and full.to_json()["budget_reached"] is True

    # The newest checkpoint is garbled: resume from the one before, same result, and
    # wall_seconds includes the time recorded up to that checkpoint.
    garble_step(ckpt / str(steps[-1]))
    with pytest.raises(checkpoint.CheckpointExistsError):
        runner.run_search(random_search, bench, budget=30, num_seeds=2, checkpoint_dir=str(ckpt))
    resumed = runner.run_search(random_search, bench, budget=30, num_seeds=2, checkpoint_dir=str(ckpt),
                                checkpoint_every_steps=7, resume=True)
    np.testing.assert_array_equal(resumed.history, plain.history)
    np.testing.assert_array_equal(resumed.curve, plain.curve)
    assert resumed.wall_seconds > wall_at_previous
    assert (ckpt / f"{steps[-1]}.unreadable").is_dir()
    results = json.loads(json.dumps(resumed.to_json()))
    assert results["wall_seconds"] == resumed.wall_seconds


# ---------------------------------------------------------------- device mesh, kill and resume

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MESH_SCRIPT = r"""
import numpy as np
from jaxnas import benchmarks, search
from jaxnas.search import runner
bench = benchmarks.load_benchmark("nb201_synthetic")
results = {}
for name in ["random", "evolution"]:
    algorithm = search.make_algorithm(name, bench.space, search.config_class(name)())
    for devices in (1, 8):
        # 12 seeds: not a multiple of 8, so padding seeds are exercised too.
        r = runner.run_search(algorithm, bench, budget=40, num_seeds=12, num_devices=devices)
        results[(name, devices)] = r
    a, b = results[(name, 1)], results[(name, 8)]
    assert np.array_equal(a.history, b.history), name
    assert np.array_equal(a.curve, b.curve), name
    assert np.array_equal(a.steps, b.steps), name
print("IDENTICAL")

# Predictor training over seeds (offline evaluation), 3 seeds: 1 device vs 3 of the 8 (one per seed).
from jaxnas import predictor_eval, predictors
from jaxnas.predictors import gcn
predictor = predictors.make_predictor("gcn", bench.search_space, gcn.GCNConfig(epochs=3, hidden=16, fc_hidden=16))
a, b = (predictor_eval.evaluate(predictor, bench, num_labels=20, num_seeds=3, num_devices=d, log=lambda *_: None)
        for d in (1, 8))
assert np.array_equal(a.train_indices, b.train_indices) and np.array_equal(a.test_indices, b.test_indices)
assert np.array_equal(a.train_predictions, b.train_predictions)  # training is bit-identical
# Scoring all ~15.6k other cells in 4096-cell chunks: XLA:CPU's multi-threaded matmul may
# block a large product differently per device layout, so these agree to float32 rounding.
np.testing.assert_allclose(a.test_predictions, b.test_predictions, rtol=1e-6, atol=0)
for name in predictor_eval.METRICS:
    np.testing.assert_allclose(a.metrics[name], b.metrics[name], atol=1e-4)
print("PREDICTOR_EVAL_AGREES")
"""


@pytest.mark.slow
def test_results_identical_on_one_and_eight_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", MESH_SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "IDENTICAL" in proc.stdout and "PREDICTOR_EVAL_AGREES" in proc.stdout


CPU_DEVICES_SCRIPT = r"""
import jax
from jaxnas import distributed
distributed.set_cpu_devices(3)
print("DEVICES", jax.device_count())
mesh = distributed.seed_mesh(None, 2)  # fewer seeds than devices: no padding devices
print("MESH", mesh.devices.size, distributed.seed_mesh(None, 5).devices.size, distributed.seed_mesh(1, 5).devices.size)
"""


def test_cpu_devices_made_unless_xla_flags_say_otherwise(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", CPU_DEVICES_SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DEVICES 3" in proc.stdout and "MESH 2 3 1" in proc.stdout
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"  # an explicit count stays in force
    proc = subprocess.run([sys.executable, "-c", CPU_DEVICES_SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DEVICES 4" in proc.stdout and "MESH 2 4 1" in proc.stdout
    # The entry point's flag, before any JAX operation: 2 CPU devices, both used by 2 seeds.
    del env["XLA_FLAGS"]
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.search", "--benchmark=nb201_synthetic", "--budget=10", "--seeds=2",
         "--cpu_devices=2", f"--output_dir={tmp_path}"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 seeds on 2 cpu device(s)" in proc.stderr


def test_too_many_devices_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.search", "--benchmark=nb201_synthetic", "--budget=10",
         "--seeds=2", "--num_devices=64", f"--output_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "--num_devices=64" in proc.stderr and "xla_force_host_platform_device_count" in proc.stderr


def _search(out, *extra):
    return [sys.executable, "-m", "experiments.search", "--benchmark=nb201_synthetic",
            "--algorithm=evolution", "--budget=300", "--seeds=4", f"--output_dir={out}", *extra]


def _metrics(path):
    results = json.loads(path.read_text())
    return {k: results[k] for k in ["curve", "final", "regret", "ledger", "at_queries"]}


@pytest.mark.slow
def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path):
    # Uninterrupted run, twice: same seed and device count -> bit-identical metrics.
    for name in ["full", "full_again"]:
        proc = subprocess.run(_search(tmp_path / name), cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert _metrics(tmp_path / "full" / "results.json") == _metrics(tmp_path / "full_again" / "results.json")

    # Killed run: SIGKILL once the first checkpoint is on disk.
    ckpt = tmp_path / "ckpt"
    args = ["--checkpoint_dir", str(ckpt), "--checkpoint_every_steps=30"]
    victim = subprocess.Popen(_search(tmp_path / "killed", *args), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not any(p.name.isdigit() for p in ckpt.glob("*")):
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "killed" / "results.json").exists(), "run finished before it could be killed"
    steps = sorted(int(p.name) for p in ckpt.glob("*") if p.name.isdigit())
    assert steps, "no checkpoint was written"

    resumed = subprocess.run(_search(tmp_path / "killed", *args, "--resume"), cwd=ROOT,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    assert _metrics(tmp_path / "killed" / "results.json") == _metrics(tmp_path / "full" / "results.json")
    git = json.loads((tmp_path / "killed" / "results.json").read_text())["git"]
    assert [part["from_step"] for part in git["parts"]] == [0, steps[-1]]  # both processes' code
    assert "parts" not in json.loads((tmp_path / "full" / "results.json").read_text())["git"]

    # A checkpoint from another run is refused with a clear message.
    other = subprocess.run(_search(tmp_path / "other", *args, "--resume", "--evolution_population_size=30"),
                           cwd=ROOT, capture_output=True, text=True)
    assert other.returncode != 0 and "different run" in other.stderr
