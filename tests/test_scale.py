"""Device mesh and checkpoint/resume: results must not depend on either."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

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

    # A checkpoint from another run is refused with a clear message.
    other = subprocess.run(_search(tmp_path / "other", *args, "--resume", "--evolution_population_size=30"),
                           cwd=ROOT, capture_output=True, text=True)
    assert other.returncode != 0 and "different run" in other.stderr
