"""Multi-process runs on JAX's own runtime: 2 processes x 2 CPU devices against 1 x 4.

Each test starts real ``python -m experiments.search`` processes, exactly the commands the
README's "TPU pods and multi-host clusters" paragraph shows, with the coordinator on
localhost and JAX's CPU collectives (gloo) between the processes.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Only a guard against a broken runtime: a correct run ends long before (the runtime's own
# heartbeat timeout ends a run whose peer died).
GUARD_SECONDS = 900
TINY = {
    "random": [],
    "evolution": ["--evolution_population_size=8", "--evolution_tournament_size=4"],
    "gcn": ["--gcn_initial_queries=10", "--gcn_queries_per_round=5", "--gcn_epochs=2", "--gcn_hidden=16",
            "--gcn_fc_hidden=16", "--gcn_num_layers=2", "--gcn_label_capacity=20"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _search_args(algorithm: str, out: pathlib.Path, budget: int = 20) -> list[str]:
    return [sys.executable, "-m", "experiments.search", "--benchmark=nb201_synthetic", f"--algorithm={algorithm}",
            f"--budget={budget}", "--seeds=4", f"--output_dir={out}", *TINY[algorithm]]


def _start(args: list[str], log: pathlib.Path) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    with open(log, "wb") as f:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen, log: pathlib.Path) -> str:
    proc.wait(timeout=GUARD_SECONDS)
    return log.read_text(errors="replace")


def _distributed(process_id: int, port: int, heartbeat: int = 100) -> list[str]:
    return ["--cpu_devices=2", "--distributed", f"--coordinator_address=localhost:{port}", "--num_processes=2",
            f"--process_id={process_id}", f"--heartbeat_timeout_seconds={heartbeat}"]


def _start_two_by_two(algorithm: str, tmp_path: pathlib.Path) -> list:
    port = _free_port()
    runs = []
    for i in range(2):
        out, log = tmp_path / f"p{i}", tmp_path / f"p{i}.log"
        runs.append((_start(_search_args(algorithm, out) + _distributed(i, port), log), out, log))
    return runs


def _start_one(algorithm: str, tmp_path: pathlib.Path, devices: int) -> tuple:
    out, log = tmp_path / f"one_{devices}", tmp_path / f"one_{devices}.log"
    return _start(_search_args(algorithm, out) + [f"--cpu_devices={devices}"], log), out, log


def _results(run) -> tuple[dict, str]:
    proc, out, log = run
    text = _finish(proc, log)
    assert proc.returncode == 0, text[-3000:]
    return (json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None), text


def _same_search(a: dict, b: dict) -> None:
    assert a["ledger"]["history"] == b["ledger"]["history"]  # every query, in order, every seed
    assert a["final"]["per_seed"] == b["final"]["per_seed"]
    assert a["curve"] == b["curve"]


def _check(algorithm: str, tmp_path: pathlib.Path, one_device: bool) -> None:
    """2 x 2 against 1 x 4 (and 1 x 1 where the README promises identity), all started at once."""
    pair = _start_two_by_two(algorithm, tmp_path)
    singles = [_start_one(algorithm, tmp_path, devices) for devices in ((4, 1) if one_device else (4,))]
    (first, text0), (second, text1) = (_results(run) for run in pair)
    assert first is not None and second is None, "process 0 writes the results, process 1 nothing"
    assert not (pair[1][1] / "curve.png").exists()
    assert "4 seeds on 4 cpu device(s)" in text0 + text1
    for run in singles:
        _same_search(first, _results(run)[0])


def test_random_search_two_processes_match_one(tmp_path):
    _check("random", tmp_path, one_device=True)


@pytest.mark.slow
def test_evolution_two_processes_match_one(tmp_path):
    _check("evolution", tmp_path, one_device=True)


@pytest.mark.slow
def test_gcn_search_two_processes_match_one_process_four_devices(tmp_path):
    _check("gcn", tmp_path, one_device=False)


@pytest.mark.parametrize("victim", [1, pytest.param(0, marks=pytest.mark.slow)])
def test_killed_process_ends_the_other_with_an_error(tmp_path, victim):
    """kill -9 one process once both are connected: the survivor must not hang but stop
    with the runtime's error (after --heartbeat_timeout_seconds, or at once when the
    coordinator itself died)."""
    port = _free_port()
    logs = [tmp_path / f"p{i}.log" for i in range(2)]
    # A search far longer than the heartbeat timeout, so it cannot end before the kill.
    procs = [_start(_search_args("random", tmp_path / f"p{i}", budget=15000) + _distributed(i, port, heartbeat=5),
                    logs[i]) for i in range(2)]
    survivor = 1 - victim
    try:
        deadline = time.monotonic() + GUARD_SECONDS
        while "seeds on 4 cpu device(s)" not in logs[victim].read_text(errors="replace"):
            assert procs[victim].poll() is None, logs[victim].read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the processes never connected"
            time.sleep(0.2)
        procs[victim].send_signal(signal.SIGKILL)
        text = _finish(procs[survivor], logs[survivor])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert procs[survivor].returncode != 0
    assert "JAX distributed service detected fatal errors" in text, text[-3000:]
    if victim == 1:  # the coordinator names the silent process
        assert "stopped sending heartbeats" in text, text[-3000:]
    assert not (tmp_path / "p0" / "results.json").exists()


def test_unrolled_cpu_rng_draws_the_same_bits():
    """jaxnas lowers threefry on CPU without the loop; every random number must stay the
    same bit for bit as JAX's own CPU lowering."""
    import jax
    import numpy as np
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32

    import jaxnas.distributed

    jaxnas.distributed.use_unrolled_cpu_rng()

    def draw(key):
        k1, k2 = jax.random.split(key)
        return (jax.random.bits(k1, (3, 1000)), jax.random.uniform(k2, (257,)),
                jax.random.permutation(key, 1000), jax.random.bernoulli(k2, 0.9, (64, 33)))

    key = jax.random.key(7)
    unrolled = jax.jit(lambda k: draw(k))(key)
    mlir.register_lowering(threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_cpu_lowering_rule,
                           platform="cpu")
    try:
        rolled = jax.jit(lambda k: draw(k))(key)
    finally:
        jaxnas.distributed.use_unrolled_cpu_rng()
    for a, b in zip(unrolled, rolled):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
