"""scripts.bench_rounds: a revision against the working tree, side by side, on a tiny search."""

import json
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_records_the_exported_commit_and_a_rerunnable_command(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "scripts.bench_rounds", "--baseline=HEAD", "--algorithm=random",
               "--benchmark=nb201_cifar10", "--seeds=2", "--budget=6", "--current_flags=--seed=1 --seeds=2",
               f"--output={out}"]
    proc = subprocess.run(command, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    assert record["baseline_commit"] == head
    # The recorded command splits back into the arguments it ran with.
    assert shlex.split(record["command"])[-6:] == command[-6:]
    assert record["current_flags"] == ["--seed=1", "--seeds=2"]
    # Other seeds give other histories, so the per-seed results are compared.
    assert not record["identical_histories"]
    assert set(record["paired_current_minus_baseline"]) == {"6"}
    assert record["speedup_cpu"] > 0
