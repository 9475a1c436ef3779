import dataclasses
import json
import os
import shlex
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
    tmp_path = tmp_path / "run one"  # a folder name the recorded command has to quote
    args = ("--benchmark=nb201_synthetic", "--algorithm=evolution", "--budget=30", "--seeds=3",
            "--evolution_population_size=10", f"--output_dir={tmp_path}")
    proc = _run(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert shlex.split(results["command"]) == ["python", "-m", "experiments.search", *args]
    assert results["benchmark"] == "nb201_synthetic" and results["algorithm"] == "evolution"
    assert results["budget"] == 30 and results["seeds"] == 3
    assert results["config"]["population_size"] == 10
    assert len(results["curve"]["mean"]) == 30 and len(results["final"]["per_seed"]) == 3
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert "best synthetic_test_200ep" in proc.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--benchmark=nb999"], "value should be one of"),
        (["--algorithm=annealing"], "value should be one of"),
        (["--budget=0"], "not a positive integer"),
        (["--algorithm=random", "--evolution_population_size=5"], "given but --algorithm=random"),
        (["--benchmark=nb201_synthetic", "--evolution_tournament_size=50"], "tournament_size"),
        (["--benchmark=nb201_cifar10", "--data_dir=/nonexistent"], "nb201.npz' not found"),  # needs no data
        (["--benchmark=nb201_synthetic", "--algorithm=assessor", "--assessor_warm_start_epochs=5"],
         "warm_start_epochs=5 needs a predictor that can continue a fit"),
    ],
)
def test_cli_bad_input(tmp_path, args, message):
    proc = _run(*args, f"--output_dir={tmp_path}")
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_workflow_runs_without_flags(tmp_path):
    """jaxnas.workflows.search.run is the whole command, with its settings passed in (no absl
    flags parsed): it writes results.json and curve.png and returns the exit status."""
    from jaxnas import presets, search
    from jaxnas.workflows import UsageError
    from jaxnas.workflows import search as workflow

    options = workflow.Options(benchmark="nb201_synthetic", algorithm="random", budget=10, seeds=2, seed=0,
                               output_dir=str(tmp_path), data_dir=None, nb101_tfrecord=None, report_at=["5"],
                               max_steps=None, num_devices=None, checkpoint_dir=None, checkpoint_every_steps=None,
                               resume=False, overwrite=False, preset="default", command="test")
    config = lambda benchmark: presets.config(search.config_class("random"), benchmark, "default")  # noqa: E731
    assert workflow.run(options, config, lambda: None) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["command"] == "test" and len(results["final"]["per_seed"]) == 2
    assert (tmp_path / "curve.png").exists()
    with pytest.raises(UsageError, match="--resume needs --checkpoint_dir"):
        workflow.run(dataclasses.replace(options, resume=True), config, lambda: None)
