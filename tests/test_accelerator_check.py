"""scripts.accelerator_check: the one-command accelerator check, run at CPU sizes."""

import json
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

from jaxnas.workflows import speed_report

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_arguments_name_what_is_wrong(entry_point):
    accelerator_check = entry_point("scripts.accelerator_check")
    with pytest.raises(SystemExit):
        accelerator_check.parse_args(["--sections=throughput,speed"])
    with pytest.raises(SystemExit):
        accelerator_check.parse_args(["--predictors=gcn,mlp"])
    small, full = accelerator_check.parse_args(["--small"]), accelerator_check.parse_args([])
    assert full.seeds == 32 and (full.parsec_channels, full.parsec_layers, full.parsec_batch_size) == (16, 8, 64)
    assert small.seeds < full.seeds and small.parsec_channels < full.parsec_channels


@pytest.mark.slow
def test_small_run_writes_every_section(tmp_path, entry_point):
    accelerator_check = entry_point("scripts.accelerator_check")
    out = tmp_path / "check.json"
    proc = subprocess.run([sys.executable, "-m", "scripts.accelerator_check", "--small", f"--output={out}"], cwd=ROOT,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert shlex.split(record["command"]) == ["python", "-m", "scripts.accelerator_check", "--small", f"--output={out}"]
    assert set(record["throughput"]) == set(accelerator_check.PREDICTORS)
    for name, measured in record["throughput"].items():
        row = measured["jax"]["8"]
        assert row["train_step"]["steps_per_second"] > 0 and row["inference"]["architectures_per_second"] > 0, name
    for name in ("evolution", "seminas"):
        assert record["seeds"][name]["ratio_steady"] > 0
    assert record["seeds"]["seeds"] == 2
    assert record["parsec"]["step_seconds"] > 0 and record["parsec"]["compiled_memory_bytes"] > 0
    assert record["git"]["commit"]
    # The results document tables every section of it.
    benchmarks = tmp_path / "results" / speed_report.BENCHMARKS_FOLDER
    benchmarks.mkdir(parents=True)
    (benchmarks / "check.json").write_text(out.read_text())
    speed = "\n".join(speed_report.speed_section(tmp_path / "results"))
    for name in accelerator_check.PREDICTORS:
        assert f"| `check.json [{name}]` | {name} | cpu | no mirror | 1 | 8 |" in speed, name
    for name in ("evolution", "seminas"):
        assert f"| {name} on {record['seeds']['benchmark']} | 15 | 2 |" in speed, name
    assert f"| {record['parsec']['channels']} × {record['parsec']['layers']} |" in speed
