"""The results document (jaxnas.workflows.report, experiments.report) on small synthetic results.json
files, and the evaluation plan (jaxnas.workflows.results_plan)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxnas import metrics
from jaxnas.workflows import report, results_plan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIMUM = 94.373


def _search(algorithm, values_at, seeds, preset="default", weak=None, commit="a" * 40, dirty=False):
    """A results.json of experiments.search: values_at maps query count -> per-seed values."""
    budget = max(values_at)
    stats = {str(q): {**metrics.summary(v, OPTIMUM), "per_seed": list(map(float, v))} for q, v in values_at.items()}
    return {
        "benchmark": "nb201_cifar10", "algorithm": algorithm, "budget": budget, "seeds": len(seeds),
        "seed_list": list(seeds), "at_queries": stats, "final": stats[str(budget)],
        "curve": {"queries": list(range(1, budget + 1)), "mean": list(np.linspace(93, 94, budget)),
                  "std": [0.1] * budget},
        "regret": {"optimum": OPTIMUM}, "benchmark_info": {"reported": "cifar10_test_200ep"},
        "config": {}, "command": f"python -m experiments.search --algorithm={algorithm} --preset={preset}",
        "git": {"commit": commit, "dirty": dirty}, "preset": preset, "weak_labels": weak,
        "table_assisted": bool(weak and weak.get("table_assisted")), "wall_seconds": 12.0,
    }


def _predictor(predictor, taus, seeds, num_labels, config=None):
    return {
        "benchmark": "nb201_cifar10", "predictor": predictor, "num_labels": num_labels, "seed_list": list(seeds),
        "metrics": {name: {**metrics.summary(taus), "per_seed": list(map(float, taus))}
                    for name in ("kendall_tau", "spearman_rho", "ndcg_at_10", "precision_at_5pct")},
        "config": config or {}, "command": f"python -m experiments.predictor_eval --predictor={predictor}",
        "git": {"commit": "b" * 40, "dirty": False}, "preset": "default", "weak_labels": None,
        "table_assisted": False,
    }


def _write(root, name, data):
    (root / name).mkdir(parents=True)
    (root / name / "results.json").write_text(json.dumps(data))


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    seeds = range(20)
    evolution = {50: rng.normal(93.9, 0.2, 20), 150: rng.normal(94.2, 0.1, 20)}
    better = {q: v + 0.15 + rng.normal(0, 0.02, 20) for q, v in evolution.items()}
    level = {q: v + np.repeat(np.arange(1, 11) / 50, 2) * np.tile([1, -1], 10) for q, v in evolution.items()}
    root = tmp_path / "runs"
    _write(root, "evo", _search("evolution", evolution, seeds))
    _write(root, "semi", _search("seminas", better, seeds, dirty=True))
    _write(root, "semi_paper", _search("seminas", level, seeds, preset="paper"))
    weak = {"kind": "table", "spec": "nb201_cifar10:cifar10_valid_12ep", "table_assisted": True,
            "full_training_equivalents": 937.5, "description": "nb201_cifar10 column cifar10_valid_12ep"}
    _write(root, "ace_table", _search("acenas", {50: np.full(20, OPTIMUM)}, seeds, weak=weak))
    _write(root, "tuning_evo", _search("evolution", evolution, range(100, 120)))
    _write(root, "gcn", _predictor("gcn", rng.normal(0.5, 0.05, 10), range(10), 20, {"targets": "rank"}))
    _write(root, "assessor", _predictor("assessor", rng.normal(0.3, 0.05, 10), range(10), 20, {"targets": "rank"}))
    (root / "other").mkdir()
    (root / "other" / "results.json").write_text(json.dumps({"steps": 3}))  # e.g. a supernet run: skipped
    return root, evolution, better


def test_report_tables_verdicts_and_runs(runs, tmp_path):
    root, evolution, better = runs
    text = report.generate(root, tmp_path / "docs" / "results.md")
    assert text == (tmp_path / "docs" / "results.md").read_text()
    assert "(1 tuning-seed runs ignored)" in text and "from 6 results.json files" in text
    expected = metrics.paired_comparison(better[150], evolution[150])
    assert expected["verdict"] == "better"
    row = next(line for line in text.splitlines() if line.startswith("| seminas (default)") and "R2" in line)
    assert f"{expected['mean_difference']:+.3f} [{expected['ci_low']:+.3f}, {expected['ci_high']:+.3f}]" in text
    assert "| better |" in row and "0–19" in row
    verdicts = [line for line in text.splitlines() if line.startswith("- **")]
    assert any(line.startswith("- **seminas (default)** beats tuned evolution at 50 queries") for line in verdicts)
    assert any(line.startswith("- **seminas (paper)** is level with tuned evolution") for line in verdicts)
    # Table-assisted rows only in their own, labelled table, with their cost.
    tables = text.split("## Runs")[0]
    assisted = [line for line in tables.splitlines() if "acenas" in line and line.startswith("|")]
    assert assisted and all(line.startswith("| TABLE-ASSISTED") for line in assisted)
    assert "938 full-training equivalents" in text
    assert not any("acenas" in line for line in verdicts)
    # Predictor table: L = 20, paired tau against the GCN.
    assert "**L = 20**" in text and "| gcn (default, targets=rank) |" in text
    assessor = next(line for line in text.splitlines() if line.startswith("| assessor (default, targets=rank) |"))
    assert "| worse |" in assessor and "0–9" in assessor
    # Every run with its command, seeds and commit; uncommitted changes flagged.
    assert "`python -m experiments.search --algorithm=seminas --preset=default`" in text
    assert "aaaaaaaaaa (uncommitted changes)" in text and "bbbbbbbbbb |" in text
    assert (tmp_path / "docs" / "results_nb201_cifar10.png").stat().st_size > 1000
    # The plan's steps without results are listed as not run.
    not_run = text.split("## Not run")[1]
    assert "- `nb201_cifar10/random`" in not_run and "- `nb201_cifar10/seminas_default`" in not_run


def test_report_notes_identical_searches_and_algorithm_counters(tmp_path):
    rng = np.random.default_rng(1)
    values = {50: rng.normal(94.0, 0.1, 4)}
    histories = rng.integers(0, 15625, (4, 50)).tolist()
    root = tmp_path / "runs"
    _write(root, "evo", _search("evolution", values, range(4)))
    runs = {}
    for name, preset, history in (("semi", "default", histories), ("semi_paper", "paper", histories),
                                  ("semi_other", "paper", histories[::-1])):
        runs[name] = {**_search("seminas", values, range(4), preset=preset), "ledger": {"history": history}}
    runs["semi"]["algorithm_diagnostics"] = {"asked_from_ascent": {"mean": 0.25, "per_seed": [0, 1, 0, 0]}}
    runs["semi_other"]["config"] = {"space_top": 5}
    for name, data in runs.items():
        _write(root, name, data)
    _write(root, results_plan.SUPERNET, {"steps": 3})  # its weak-label file is not committed
    part = f"nb201_cifar10/assessor_paper/{results_plan.SEED_PARTS}/seeds_0-4"
    _write(root, part, _search("assessor", values, range(5), preset="paper"))
    broken = root / f"nb201_cifar10/assessor_paper/{results_plan.SEED_PARTS}/seeds_5-9"
    broken.mkdir(parents=True)
    (broken / "results.json").write_text("{not json")  # an interrupted copy: skipped, not fatal
    text = report.generate(root, tmp_path / "results.md", plots=False)
    not_run = text.split("## Not run")[1]
    assert f"`{results_plan.SUPERNET}`" not in not_run
    # A search landing in seed parts: listed as not run, with the parts done; no row of its own.
    assert "`nb201_cifar10/assessor_paper` (seed parts done: 0–4)" in not_run
    assert part not in text
    same = [line for line in text.splitlines() if "asked the same architectures" in line]
    # Only the pair with equal histories on the same seeds: not the reversed one.
    assert len(same) == 1 and "seminas (default)" in same[0] and "seminas (paper)" in same[0]
    assert "**Algorithm counters**" in text and "seminas (default): asked_from_ascent 0.2" in text


def test_report_cli(runs, tmp_path):
    root, _, _ = runs
    out = tmp_path / "out" / "results.md"
    proc = subprocess.run([sys.executable, "-m", "experiments.report", f"--runs={root}", f"--out={out}", "--noplots"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "## nb201_cifar10" in out.read_text()
    missing = subprocess.run([sys.executable, "-m", "experiments.report", f"--runs={tmp_path / 'none'}",
                              f"--out={out}"], cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode != 0 and "is not a folder" in missing.stderr


def test_plan_keeps_tuning_and_evaluation_seeds_apart(tmp_path):
    def seeds(step):
        args = dict(a.lstrip("-").split("=", 1) for a in step.args if a.startswith("--seed"))
        first = int(args.get("seed", 0))
        return range(first, first + int(args.get("seeds", 20)))

    evaluation = [s for s in results_plan.evaluation_steps() if s.module != "experiments.supernet"]
    tuning = results_plan.tuning_steps()
    assert all(min(seeds(s)) == 0 and max(seeds(s)) == 19 for s in evaluation)
    assert all(min(seeds(s)) >= 100 for s in tuning)
    folders = {s.folder for s in evaluation}
    for benchmark in ("nb201_cifar10", "nbgraph_cora", "nb101_subset"):
        for method in ("random", "evolution", "seminas_default", "seminas_paper", "acenas_default", "acenas_paper",
                       "gcn_default", "gcn_paper", "assessor_default", "assessor_paper"):
            assert f"{benchmark}/{method}" in folders
        for labels in (20, 50, 100):
            assert f"{benchmark}/predictors/L{labels}/acenas_default_mse" in folders
    # Table-assisted runs always carry the explicit flag; nothing else does.
    for step in evaluation:
        has_flag = "--acenas_allow_table_weak_labels" in step.args
        assert has_flag == step.folder.endswith("_table"), step.folder
    # Steps run in order, skip what is done, and report failures.
    ok = results_plan.Step("a", "experiments.nonexistent_module", ())
    done = results_plan.Step("b", "experiments.report", ())
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.json").write_text("{}")
    waiting = results_plan.Step("c", "experiments.report", (), needs=("a",))
    messages = []
    failed = results_plan.run_steps([ok, done, waiting], tmp_path, niceness=0, log=messages.append)
    assert failed == ["a", "c"] and "done already: b" in messages
    assert (tmp_path / "a.log").exists()


def test_plan_with_a_checkpoint_root_makes_searches_and_evaluations_resumable(tmp_path):
    steps = {s.folder: s for s in results_plan.evaluation_steps()}
    ckpt = tmp_path / "ckpt"
    for folder in ("nb201_cifar10/gcn_paper", "nb201_cifar10/predictors/L100/assessor_paper"):
        command = steps[folder].command(tmp_path / "runs", ckpt)
        assert f"--checkpoint_dir={ckpt / folder}" in command and "--resume" not in command
        (ckpt / folder / "3").mkdir(parents=True)  # a saved step: the next command resumes it
        assert "--resume" in steps[folder].command(tmp_path / "runs", ckpt)
        assert not any(a.startswith("--checkpoint_dir") for a in steps[folder].command(tmp_path / "runs"))
    supernet = steps[results_plan.SUPERNET].command(tmp_path / "runs", ckpt)
    assert not any(a.startswith(("--checkpoint_dir", "--resume")) for a in supernet)


def test_parsec_section_compares_the_map_cell_with_the_same_compute_baseline(tmp_path):
    rng = np.random.default_rng(1)
    key = "cifar10_test_200ep"
    runs = [{"seed": s, "map": {"string": "x"}, f"map_{key}": 80.0 + s, f"baseline_{key}": 85.0 + 2 * s,
             f"expected_{key}": 81.0, "tau_at_search_start": float(rng.normal(0, 0.03))} for s in range(6)]
    summary = {name: metrics.summary([r[name] for r in runs]) for name in
               (f"map_{key}", f"baseline_{key}", f"expected_{key}", "tau_at_search_start")}
    summary[f"random_cell_mean_{key}"] = 87.04
    _write(tmp_path / "runs", "parsec", {"space": "nb201", "dataset": "cifar10_small", "preset": "default",
                                         "flags": {"steps": 2000, "num_samples": 8}, "command": "python -m x",
                                         "summary": summary, "runs": runs})
    text = report.generate(tmp_path / "runs", tmp_path / "results.md", plots=False)
    section = text.split("## PARSEC")[1]
    expected = metrics.paired_comparison([r[f"map_{key}"] for r in runs], [r[f"baseline_{key}"] for r in runs])
    assert expected["verdict"] == "worse"
    assert "| MAP cell of the learnt prior | 82.50 |" in section
    assert f"{expected['mean_difference']:+.3f}" in section and "PARSEC is behind the baseline" in section
    assert "below the average random cell (82.50 vs 87.04)" in section
    assert "| parsec (default) | parsec | `python -m x` | 0–5 | not recorded |" in text


def test_entry_points_define_their_flags_on_import(entry_point):
    report_cli = entry_point("experiments.report")
    assert report_cli.FLAGS["runs"].default == "runs/results" and report_cli.FLAGS["plots"].default is True
    plan_cli = entry_point("experiments.results_plan")
    assert plan_cli.FLAGS["stage"].default == "evaluation" and plan_cli.FLAGS["nice"].default == 10


def _bench_rounds(identical, paired=None):
    """A scripts.bench_rounds output."""
    data = {"command": "python scripts/bench_rounds.py --baseline=HEAD --algorithm=gcn", "baseline": "HEAD",
            "baseline_commit": "c" * 40, "current": {"commit": "d" * 40, "dirty": False},
            "search_args": ["--algorithm=gcn", "--benchmark=nb201_cifar10", "--seeds=20", "--budget=30"],
            "current_flags": ["--cpu_devices=2"], "load_average_start": [0.8, 1.6, 1.9],
            "identical_histories": identical, "final_mean": {"baseline": 93.9, "current": 94.0},
            "search_seconds": {"baseline": [503.0], "current": [297.0]}, "speedup_search": 1.6936,
            "speedup_cpu": 1.2564}
    if paired is not None:
        data["paired_current_minus_baseline"] = paired
    return data


def test_speed_section_tabulates_the_benchmark_files(tmp_path):
    root = tmp_path / "runs"
    bench = root / "benchmarks"
    (bench / "nao").mkdir(parents=True)
    diff = metrics.paired_comparison([94.0, 94.3, 94.1], [93.9, 94.3, 94.1])
    (bench / "rounds_same.json").write_text(json.dumps(_bench_rounds(True)))
    (bench / "rounds_paired.json").write_text(json.dumps({**_bench_rounds(False, {"30": diff}),
                                                          "baseline_commit_corrected": "exported at the start"}))
    (bench / "profile.json").write_text(json.dumps({
        "algorithm": "seminas", "benchmark": "nb201_cifar10", "preset": "default", "seeds": 4,
        "queries_before_round": [50, 50], "devices": "1 cpu", "round_wall_seconds_median": 40.1,
        "traced_fraction": {"train": 0.853, "score_space": 0.122, "other": 0.025},
        "traced_fraction_by_kind": {"matmul": 0.47, "elementwise": 0.53},
        "command": "python -m scripts.profile_round", "git": {"commit": "e" * 40, "dirty": True}}))
    (bench / "nao" / "t2_d2.json").write_text(json.dumps({
        "predictor": "nao", "device": {"platform": "cpu"}, "jax_batch_devices": 2,
        "torch": {"threads": 2}, "jax": {"100": {"speedup_over_torch": {"train_step": 1.027, "inference": 0.727},
                                                 "train_step": {"steps_per_second": 41.9},
                                                 "inference": {"architectures_per_second": 18997.4}}},
        "all_cells": {"architectures": 1000, "jax": {"seconds": 2.0, "architectures_per_second": 500.0, "chunk": 100},
                      "torch": {"seconds": 3.0, "architectures_per_second": 333.3, "chunk": 10}},
        "load_average_start": [2.57], "command": "python -m experiments.predictor_throughput --predictor=nao",
        "git": {"commit": "f" * 40, "dirty": False}}))
    (bench / "gcn_jax_only.json").write_text(json.dumps({
        "predictor": "gcn", "device": {"platform": "gpu"}, "torch": None,
        "jax": {"7": {"train_step": {"steps_per_second": 925.3}, "inference": {"architectures_per_second": 8.5}}},
        "all_cells": {"architectures": 423624, "jax": {"seconds": 2.0, "architectures_per_second": 211812.0,
                                                       "chunk": 16384}},
        "command": "python -m experiments.predictor_throughput --predictor=gcn"}))
    (bench / "check.json").write_text(json.dumps({
        "device": {"platform": "gpu", "device_kind": "NVIDIA H100"}, "small": False, "command": "python -m "
        "scripts.accelerator_check", "git": {"commit": "9" * 40, "dirty": False},
        "throughput": {"nao": {"device": {"platform": "gpu"}, "torch": None, "jax_batch_devices": 1,
                               "jax": {"128": {"train_step": {"steps_per_second": 300.0}}}}},
        "seeds": {"benchmark": "nb201_cifar10", "budget": 150, "seeds": 32,
                  "evolution": {"one_seed_seconds": {"first": 3.0, "steady": 1.0},
                                "many_seeds_seconds": {"first": 4.0, "steady": 1.5},
                                "ratio_steady": 1.5, "ratio_first": 4 / 3}},
        "parsec": {"channels": 16, "layers": 8, "batch_size": 64, "samples": 4, "supernet_parameters": 1930000,
                   "step_seconds": 0.0123, "compile_seconds": 40.0, "compiled_memory_bytes": 3 * 2 ** 30,
                   "peak_device_bytes": None}}))
    (bench / "broken.json").write_text("{")
    text = report.generate(root, tmp_path / "results.md", plots=False)
    speed = text.split("## Speed")[1]

    def row(name):
        return next(line for line in speed.splitlines() if line.startswith(f"| `{name}`"))

    assert ("| ccccccc | ddddddd `--cpu_devices=2` | 503 → 297 | **1.69×** | 1.26× | identical query histories"
            in row("rounds_same.json"))
    paired = row("rounds_paired.json")
    assert f"30: {diff['mean_difference']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]" in paired
    assert f"p = {diff['wilcoxon_p']:.2g}, level" in paired
    assert "- `rounds_paired.json`: baseline_commit_corrected: exported at the start" in speed
    profile = row("profile.json")
    assert "| 4 | 50 | 1 cpu | 40.1 | train 85.3 %, score_space 12.2 %, other 2.5 % |" in profile
    assert "eeeeeee (uncommitted changes)" in profile
    assert "| nao | cpu | 2 | 2 | 100 | 1.03× (41.9/s) | 0.73× (18,997/s) | 2.6 | fffffff |" in row("nao/t2_d2.json")
    assert "| nao | cpu | 2 | 2 | all 1,000 cells (chunk 100) | | 1.50× (500/s) | 2.6 | fffffff |" in speed
    assert ("| gcn | gpu | no mirror | 1 | 7 | 925 steps/s | 8.5 architectures/s | ? | not recorded |"
            in row("gcn_jax_only.json"))
    assert "| gcn | gpu | no mirror | 1 | all 423,624 cells (chunk 16384) | | 211,812 architectures/s |" in speed
    assert "| nao | gpu | no mirror | 1 | 128 | 300 steps/s | n/a | ? | 9999999 |" in row("check.json [nao]")
    assert ("| NVIDIA H100 | evolution on nb201_cifar10 | 150 | 32 | 1.0 | 1.5 | **1.50** | 1.33 | 9999999 |"
            in row("check.json"))
    assert ("| `check.json` | NVIDIA H100 | 16 × 8 | 64 | 4 | 1,930,000 | 12.3 | 40.0 | 3,072 | n/a | 9999999 |"
            in speed)
    assert "- `profile.json`: `python -m scripts.profile_round`" in speed and "broken.json" not in speed
    assert "- `check.json`: `python -m scripts.accelerator_check`" in speed and "`check.json [nao]`: `" not in speed
    # No benchmarks folder: no section.
    assert "## Speed" not in report.generate(tmp_path / "empty", tmp_path / "empty.md", plots=False)


def test_plan_runs_a_search_in_seed_parts_and_merges_them_into_one_run(tmp_path):
    """--seeds_per_part: the parts' merged results.json holds what one run of all the seeds
    writes (per-seed values equal, summaries recomputed), records each part, and is the
    only run the report reads from the folder."""
    from jaxnas import presets, search
    from jaxnas.search import runner
    from jaxnas.workflows import search as search_workflow

    args = ("--benchmark=nb201_synthetic", "--algorithm=evolution", "--budget=20", "--report_at=10,20", "--seeds=3",
            "--seed=0")
    step = results_plan.Step("evo", "experiments.search", args)
    parts = step.seed_parts(2)
    assert [p.folder for p in parts] == ["evo/seed_parts/seeds_0-1", "evo/seed_parts/seeds_2-2"]
    assert step.seed_parts(3) == [] and step.seed_parts(None) == []
    assert results_plan.Step("p", "experiments.predictor_eval", args).seed_parts(1) == []
    root = tmp_path / "runs"
    messages = []
    assert results_plan.run_steps([step], root, niceness=0, log=messages.append, seeds_per_part=2) == []
    assert any("merged 2 seed parts" in m for m in messages)
    merged = json.loads((root / "evo" / "results.json").read_text())

    options = search_workflow.Options(
        benchmark="nb201_synthetic", algorithm="evolution", budget=20, seeds=3, seed=0, output_dir=str(tmp_path / "whole"),
        data_dir=None, nb101_tfrecord=None, report_at=["10", "20"], max_steps=None, num_devices=None,
        checkpoint_dir=None, checkpoint_every_steps=None, resume=False, overwrite=False, preset="default",
        command="whole")
    config = lambda benchmark: presets.config(search.config_class("evolution"), benchmark, "default")  # noqa: E731
    assert search_workflow.run(options, config, lambda: None) == 0
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    for key in ("seeds", "seed_list", "ledger", "budget_reached", "short_of_budget", "config", "benchmark_info"):
        assert merged[key] == whole[key], key
    for stats, expected in [(merged["final"], whole["final"])] + [
            (merged["at_queries"][q], whole["at_queries"][q]) for q in ("10", "20")]:
        assert stats["per_seed"] == expected["per_seed"]
        for name in ("mean", "std", "sem", "median", "fraction_at_optimum"):
            assert stats[name] == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name
    for name in ("mean", "std"):
        np.testing.assert_allclose(merged["curve"][name], whole["curve"][name], rtol=1e-5, atol=1e-6)
    assert merged["regret"] == pytest.approx(whole["regret"], rel=1e-6, abs=1e-9)
    assert merged["command"].startswith("python -m experiments.search") and "--seeds=3 --seed=0" in merged["command"]
    recorded = merged["git"]["seed_parts"]
    assert [p["seeds"] for p in recorded] == [[0, 1], [2]]
    assert "--seeds=1 --seed=2" in recorded[1]["command"]
    assert merged["wall_seconds"] == pytest.approx(sum(p["wall_seconds"] for p in recorded))

    runs, _ = report.load_runs(root)
    assert [str(run.path) for run in runs] == ["evo"]
    assert report.commit_of(merged["git"]).endswith("(2 seed parts)")
    first, second = (json.loads((root / p.folder / "results.json").read_text()) for p in parts)
    with pytest.raises(runner.SeedPartsError, match="overlap"):
        runner.merge_seed_parts([first, first], "c")
    with pytest.raises(runner.SeedPartsError, match="budget"):
        runner.merge_seed_parts([first, {**second, "budget": 30}], "c")
    # Finished parts are not run again; parts of different runs fail the step, loudly.
    (root / "evo" / "results.json").unlink()
    assert results_plan.run_steps([step], root, niceness=0, log=messages.append, seeds_per_part=2) == []
    assert "done already: evo/seed_parts/seeds_2-2" in messages
    (root / "evo" / "results.json").unlink()
    (root / parts[1].folder / "results.json").write_text(json.dumps({**second, "budget": 30}))
    assert results_plan.run_steps([step], root, niceness=0, log=messages.append, seeds_per_part=2) == ["evo"]
    assert "differ in ['budget']" in messages[-1] and not (root / "evo" / "results.json").exists()
    mixed = {"seed_parts": [{"seeds": [0, 1], "git": {"commit": "a" * 40}}, {"seeds": [2], "git": {"commit": "b" * 40}}]}
    assert report.commit_of(mixed) == f"{'a' * 12} for seeds 0–1; {'b' * 12} for seeds 2"
