"""Results are honest: predictors learn only from the search signal, weak-label side
doors are refused at the command line, and every results.json says what produced it."""

import dataclasses
import json
import os
import shlex
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxnas import predictor_eval, presets, provenance, search
from jaxnas.predictors import acenas
from jaxnas.predictors.base import Predictor
from jaxnas.search import predictor_search, runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEAK = 1000.0  # the fixture's reported column sits this far above its signal


@pytest.fixture(scope="module")
def leaky_bench(synthetic_nb201):
    """NB201 (synthetic) over 1,500 cells whose reported column is the signal + 1000: any
    reported value that reaches a predictor is unmistakable."""
    full = synthetic_nb201
    keep = np.zeros(full.space.num_architectures, bool)
    keep[np.random.default_rng(0).choice(full.space.num_architectures, 1500, replace=False)] = True
    signal = np.where(keep, full.signal, np.nan).astype(np.float32)
    return dataclasses.replace(full, name="nb201_synthetic_leak", signal=signal, reported=signal + LEAK, columns={})


def _spy_predictor(seen: list) -> Predictor:
    """Records every label ``fit`` receives (jax.debug.callback works under jit and vmap)."""

    def fit(key, labelled, labels, unlabelled=None):
        del labelled, unlabelled
        jax.debug.callback(lambda values: seen.append(np.asarray(values).copy()), labels)
        return key

    def predict(key, archs):
        return jax.random.normal(key, (jax.tree_util.tree_leaves(archs)[0].shape[0],))

    return Predictor(fit=fit, predict=predict)


def _check_only_signal(seen, bench):
    labels = np.concatenate([np.ravel(v) for v in seen])
    labels = labels[~np.isnan(labels)]  # empty buffer slots before the first label
    assert labels.size > 0
    assert labels.max() < LEAK / 2, "a reported value reached the predictor's fit"
    assert np.isin(labels, bench.signal[bench.available]).all()


def test_offline_evaluation_fits_on_signal_labels_only(leaky_bench):
    seen = []
    result = predictor_eval.evaluate(_spy_predictor(seen), leaky_bench, num_labels=20, num_seeds=2, log=lambda *_: None)
    _check_only_signal(seen, leaky_bench)
    np.testing.assert_array_equal(np.sort(np.concatenate([np.ravel(v) for v in seen]))[-1],
                                  np.max(leaky_bench.signal[result.train_indices]))


def test_predictor_guided_search_fits_on_signal_labels_only(leaky_bench):
    seen = []
    settings = predictor_search.SearchSettings(initial_queries=10, queries_per_round=5, label_capacity=40)
    algorithm = predictor_search.predictor_search(leaky_bench.search_space, _spy_predictor(seen), settings)
    result = runner.run_search(algorithm, leaky_bench, budget=25, num_seeds=2)
    assert (result.queries == 25).all()
    _check_only_signal(seen, leaky_bench)
    # The search is still judged by the reported column: the curve is in reported values.
    assert np.nanmin(result.curve) > LEAK / 2


def _run_search(*args):
    return subprocess.run([sys.executable, "-m", "experiments.search", *args], cwd=ROOT, capture_output=True,
                          text=True)


@pytest.mark.parametrize("spec,column", [
    ("nb201_synthetic:reported", "synthetic_test_200ep"),  # the reported column is the test split
    ("nb201_synthetic:signal", "own signal column"),
])
def test_search_cli_refuses_weak_labels_around_the_ledger(tmp_path, spec, column):
    proc = _run_search("--benchmark=nb201_synthetic", "--algorithm=acenas", "--budget=20", "--seeds=1",
                       f"--acenas_weak_labels={spec}", "--acenas_allow_table_weak_labels", f"--output_dir={tmp_path}")
    assert proc.returncode != 0
    assert column in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_search_cli_refuses_tables_without_the_flag(tmp_path):
    proc = _run_search("--benchmark=nb201_synthetic", "--algorithm=acenas", "--budget=20", "--seeds=1",
                       "--acenas_weak_labels=nb201_synthetic:synthetic_valid_12ep", f"--output_dir={tmp_path}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--acenas_allow_table_weak_labels" in proc.stderr + proc.stdout


def test_results_record_git_preset_and_weak_labels(tmp_path):
    proc = _run_search("--benchmark=nb201_synthetic", "--algorithm=random", "--budget=10", "--seeds=2",
                       "--report_at=5,10", f"--output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["preset"] == "default" and results["table_assisted"] is False and results["weak_labels"] is None
    assert set(results["git"]) == {"commit", "dirty"}
    stats = results["at_queries"]["10"]
    assert {"mean", "std", "sem", "median", "fraction_at_optimum", "per_seed"} <= set(stats)
    assert stats["std"] == pytest.approx(np.std(stats["per_seed"], ddof=1))
    # An AceNAS config declares its weak labels; a table is labelled table-assisted.
    config = search.config_class("acenas").for_benchmark("nb201_synthetic").replace(
        weak_labels="nb201_synthetic:synthetic_valid_12ep", allow_table_weak_labels=True)
    record = provenance.run_record(config, "nb201_synthetic", "default")
    # 15,625 cells x 12 epochs / the reported column's 200 epochs.
    assert record["table_assisted"] is True and record["weak_labels"]["full_training_equivalents"] == 937.5
    default = search.config_class("acenas").for_benchmark("nb201_synthetic")
    plain = provenance.run_record(default, "nb201_synthetic", "paper")
    assert plain["table_assisted"] is False and plain["weak_labels"]["kind"] == "none" and plain["preset"] == "paper"
    # A config that names another benchmark as the searched one would dodge the refusals.
    with pytest.raises(ValueError, match="searched_benchmark"):
        provenance.run_record(config, "nb201_synthetic_subset")


def test_git_state_outside_a_checkout(tmp_path):
    assert provenance.git_state(tmp_path) == {"commit": None, "dirty": None}
    state = provenance.git_state()
    assert state["commit"] is None or len(state["commit"]) == 40


def test_defaults_depend_on_the_space_family_not_the_benchmark():
    assert presets.space_family("nb201_cifar100_12ep") == "nb201" and presets.space_family("nb101") == "nb101"
    assert presets.space_family("nbgraph_pubmed") == "nbgraph" and presets.space_family("darts") is None
    for name in search.ALGORITHM_NAMES:
        cls = search.config_class(name)
        assert cls.for_benchmark("nb201_cifar10") == cls.for_benchmark("nb201_imagenet16_12ep") or name == "acenas"
        assert cls.for_benchmark("nbgraph_cora") == cls.for_benchmark("nbgraph_photo") or name == "acenas"
    # AceNAS differs only in the benchmark it refuses weak labels from.
    a, b = (search.config_class("acenas").for_benchmark(n) for n in ("nbgraph_cora", "nbgraph_photo"))
    assert a.replace(searched_benchmark="") == b.replace(searched_benchmark="")
    with pytest.raises(ValueError, match="no paper configuration"):
        presets.config(search.config_class("evolution"), "nb201_cifar10", "paper")
    seminas_paper = presets.config(search.config_class("seminas"), "nb201_cifar10", "paper")
    assert (seminas_paper.space_top, seminas_paper.candidates_per_iteration, seminas_paper.ensemble_size) == (0, 0, 1)
    assert presets.config(search.config_class("gcn"), "nb201_cifar10", "paper").targets == "standardise"
    assert acenas.AceNASConfig.paper("nb201_cifar10").searched_benchmark == "nb201_cifar10"


# Hyperparameters added after some committed runs were made: a record without one ran
# with this value (the behaviour before the field existed).
ADDED_LATER = {"fit_slots": "capacity", "fit_min_slots": 0, "warm_start_epochs": 0}


def _committed_runs():
    root = os.path.join(ROOT, "results")
    for folder, _, files in sorted(os.walk(root)):
        if "results.json" in files:
            with open(os.path.join(folder, "results.json")) as f:
                run = json.load(f)
            if "config" in run and "preset" in run and ("algorithm" in run or "predictor" in run):
                yield os.path.relpath(folder, root), run


def _set_on_command_line(command: str, method: str, name: str) -> bool:
    """Whether ``command`` sets the hyperparameter (``--METHOD_NAME[=...]``, ``--noMETHOD_NAME``)."""
    flags = {arg.split("=", 1)[0] for arg in shlex.split(command) if arg.startswith("--")}
    return bool(flags & {f"--{method}_{name}", f"--no{method}_{name}"})


def test_committed_runs_used_the_current_presets():
    """A preset changed after its runs were made leaves rows the current code would not
    produce: every committed run's configuration is its preset's today, but for the
    fields its command sets."""
    from jaxnas import predictors

    runs = list(_committed_runs())
    assert runs, "no committed results.json with a config"
    stale = {}
    for folder, run in runs:
        config_class = (predictors.config_class(run["predictor"]) if "predictor" in run
                        else search.config_class(run["algorithm"]))
        current = presets.config(config_class, run["benchmark"], run["preset"]).flat()
        recorded = {**{k: v for k, v in ADDED_LATER.items() if k in current}, **run["config"]}
        method = run.get("predictor") or run["algorithm"]
        differ = {name: (recorded.get(name), value) for name, value in current.items()
                  if recorded.get(name) != value and not _set_on_command_line(run.get("command", ""), method, name)}
        if differ:
            stale[folder] = differ
    assert not stale, f"runs made with another preset configuration (recorded, current): {stale}"


def test_committed_benchmarks_are_tabulated():
    """Every committed speed benchmark is one of the kinds the results document tables, so
    none is reduced to a bare command line by a change in a script's output."""
    from jaxnas.workflows import speed_report

    folder = os.path.join(ROOT, "results", speed_report.BENCHMARKS_FOLDER)
    names = [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if f.endswith(".json")]
    assert names, f"no benchmark JSON under {folder}"
    kinds = {os.path.relpath(name, folder): speed_report.kind_of(json.load(open(name))) for name in names}
    untabled = {name: kind for name, kind in kinds.items() if kind not in ("bench_rounds", "profile_round",
                                                                          "throughput")}
    assert not untabled, f"benchmark files the Speed section does not table: {untabled}"
