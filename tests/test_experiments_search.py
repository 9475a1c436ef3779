import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.search", *args],
        cwd=ROOT, capture_output=True, text=True,
    )


def test_cli_writes_results_and_plot(tmp_path):
    proc = _run("--benchmark=nb201_cifar10", "--algorithm=evolution", "--budget=30", "--seeds=3",
                "--evolution_population_size=10", f"--output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["benchmark"] == "nb201_cifar10" and results["algorithm"] == "evolution"
    assert results["budget"] == 30 and results["seeds"] == 3
    assert results["config"]["population_size"] == 10
    assert len(results["curve"]["mean"]) == 30 and len(results["final"]["per_seed"]) == 3
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert "best cifar10_test_200ep" in proc.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--benchmark=nb999"], "value should be one of"),
        (["--algorithm=annealing"], "value should be one of"),
        (["--budget=0"], "not a positive integer"),
        (["--algorithm=random", "--evolution_population_size=5"], "given but --algorithm=random"),
        (["--benchmark=nb201_cifar10", "--evolution_tournament_size=50"], "tournament_size"),
        (["--benchmark=nb201_cifar10", "--data_dir=/nonexistent"], "nb201.npz' not found"),
    ],
)
def test_cli_bad_input(tmp_path, args, message):
    proc = _run(*args, f"--output_dir={tmp_path}")
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert not (tmp_path / "results.json").exists()
