"""The runs behind docs/results.md as one plan (``experiments.results_plan``): tuning
(seeds 100+) and evaluation (seeds 0-19) steps, each one entry-point command with its own
folder under the runs root; :func:`run_steps` runs those not done yet, in order, and
:func:`tuning_tables` summarises the finished tuning runs."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import shlex
import subprocess
import sys
import time
from typing import Optional

import numpy as np

from jaxnas.workflows import UsageError


@dataclasses.dataclass(frozen=True)
class Options:
    """What to do with the plan (one entry-point flag each)."""

    stage: str  # 'tuning' or 'evaluation'
    runs: Optional[str]  # root folder of the runs (default by stage)
    list_commands: bool  # print the commands, run nothing
    tables: bool  # print the tuning tables from finished runs, run nothing
    only: Optional[str]  # run only steps whose folder matches this regular expression
    nice: int  # niceness of the commands (0: not niced)
    checkpoints: Optional[str] = None  # checkpoint root: resumable searches and predictor evaluations
    seeds_per_part: Optional[int] = None  # searches run as parts of this many seeds, then merged


EVALUATION_SEEDS = ("--seeds=20", "--seed=0")
SEARCH_BUDGETS = {  # benchmark -> {method group: (budget, report_at)}
    "nb201_cifar10": {"all": (150, "50,100,150")},
    "nbgraph_cora": {"all": (150, "50,100,150")},
    "nb101_subset": {"long": (1000, "100,150,300,1000"), "predictor": (300, "100,150,300")},
}
# Table-assisted AceNAS variants: a whole benchmark column as weak labels (labelled in results).
TABLE_WEAK_LABELS = {
    "nb201_cifar10": "nb201_cifar10:cifar10_valid_12ep",
    "nbgraph_cora": "nbgraph_citeseer:signal",
    "nb101_subset": "nb101_subset:val_acc_36ep",
}
SUPERNET = "supernet_nb201"  # folder of the NB201 supernet's weak_labels.npz (AceNAS on nb201)


RESUMABLE = ("experiments.search", "experiments.predictor_eval")  # entry points with --checkpoint_dir/--resume
SEED_PARTS = "seed_parts"  # subfolder of a search run made in seed parts (the report reads the merged file)


@dataclasses.dataclass(frozen=True)
class Step:
    folder: str  # under --runs; the command writes there
    module: str
    args: tuple
    needs: tuple = ()  # folders (under --runs) whose outputs must exist first
    output: str = "results.json"  # the file that marks the step done

    def command(self, root: pathlib.Path, checkpoints: Optional[pathlib.Path] = None) -> list:
        """The step's command; with ``checkpoints``, a search or predictor evaluation saves
        its progress in CHECKPOINTS/FOLDER and resumes from what is there."""
        args = [a.replace("{runs}", str(root)) for a in self.args]
        if checkpoints is not None and self.module in RESUMABLE:
            folder = checkpoints / self.folder
            args.append(f"--checkpoint_dir={folder}")
            if folder.is_dir() and any(folder.iterdir()):
                args.append("--resume")
        return [sys.executable, "-m", self.module, *args, f"--output_dir={root / self.folder}"]

    def seed_parts(self, seeds_per_part: Optional[int]) -> list:
        """The steps that run this search's seeds ``seeds_per_part`` at a time (folders
        FOLDER/seed_parts/seeds_A-B); [] when it is not a search or fits in one part."""
        if not seeds_per_part or self.module != "experiments.search":
            return []
        values = dict(arg[2:].split("=", 1) for arg in self.args if arg.startswith(("--seeds=", "--seed=")))
        if "seeds" not in values or int(values["seeds"]) <= seeds_per_part:
            return []  # (the plan's searches all name their seeds)
        first, total = int(values.get("seed", 0)), int(values["seeds"])
        args = tuple(a for a in self.args if not a.startswith(("--seeds=", "--seed=")))
        parts = []
        for start in range(first, first + total, seeds_per_part):
            count = min(seeds_per_part, first + total - start)
            parts.append(dataclasses.replace(
                self, folder=f"{self.folder}/{SEED_PARTS}/seeds_{start}-{start + count - 1}",
                args=(*args, f"--seeds={count}", f"--seed={start}")))
        return parts


def _search(folder, benchmark, algorithm, budget, report_at, *extra, needs=()):
    return Step(folder, "experiments.search", (f"--benchmark={benchmark}", f"--algorithm={algorithm}",
                                               f"--budget={budget}", f"--report_at={report_at}", *EVALUATION_SEEDS,
                                               *extra), needs)


def _eval(folder, benchmark, predictor, labels, *extra, needs=(), seeds=EVALUATION_SEEDS):
    return Step(folder, "experiments.predictor_eval", (f"--predictor={predictor}", f"--benchmark={benchmark}",
                                                       f"--labels={labels}", *seeds, "--seed_batch=5", *extra), needs)


def evaluation_steps() -> list:
    supernet_file = f"--acenas_weak_labels={{runs}}/{SUPERNET}/weak_labels.npz"
    steps = [Step(SUPERNET, "experiments.supernet", ("--space=nb201",), output="weak_labels.npz")]
    for benchmark, budgets in SEARCH_BUDGETS.items():
        long_budget = budgets.get("long", budgets.get("all"))
        short = budgets.get("predictor", budgets.get("all"))
        b = benchmark
        steps += [_search(f"{b}/random", b, "random", *long_budget),
                  _search(f"{b}/evolution", b, "evolution", *long_budget)]
        for preset in ("default", "paper"):
            steps.append(_search(f"{b}/seminas_{preset}", b, "seminas", *long_budget, f"--preset={preset}"))
            for method in ("acenas", "gcn", "assessor"):
                steps.append(_search(f"{b}/{method}_{preset}", b, method, *short, f"--preset={preset}"))
            if b == "nb201_cifar10":
                steps.append(_search(f"{b}/acenas_{preset}_supernet", b, "acenas", *short, f"--preset={preset}",
                                     supernet_file, needs=(SUPERNET,)))
        steps.append(_search(f"{b}/acenas_default_table", b, "acenas", *short, f"--acenas_weak_labels="
                             f"{TABLE_WEAK_LABELS[b]}", "--acenas_allow_table_weak_labels"))
        for labels in (20, 50, 100):
            at = f"{b}/predictors/L{labels}"
            for preset in ("default", "paper"):
                for predictor in ("gcn", "assessor", "acenas"):
                    steps.append(_eval(f"{at}/{predictor}_{preset}", b, predictor, labels, f"--preset={preset}"))
            # The AceNAS GCN trained with MSE: same model and optimiser, only the loss differs.
            steps.append(_eval(f"{at}/acenas_default_mse", b, "acenas", labels, "--acenas_finetune_loss=mse"))
            if b == "nb201_cifar10":
                steps.append(_eval(f"{at}/acenas_default_supernet", b, "acenas", labels, supernet_file,
                                   needs=(SUPERNET,)))
            steps.append(_eval(f"{at}/acenas_default_table", b, "acenas", labels,
                               f"--acenas_weak_labels={TABLE_WEAK_LABELS[b]}", "--acenas_allow_table_weak_labels"))
    return steps


EVOLUTION_GRID = {"nb201_cifar10": ((10, 20, 50), (2, 5, 10), 150, "50,100,150"),
                  "nbgraph_cora": ((10, 20, 50), (2, 5, 10), 150, "50,100,150"),
                  "nb101_subset": ((20, 50, 100), (5, 10), 300, "100,150,300")}
TUNING_SEEDS_EVOLUTION = ("--seeds=20", "--seed=100")
TUNING_SEEDS_PREDICTORS = ("--seeds=5", "--seed=100")


def tuning_steps() -> list:
    steps = []
    for benchmark, (populations, tournaments, budget, report_at) in EVOLUTION_GRID.items():
        for p in populations:
            for s in tournaments:
                steps.append(Step(f"evo/{benchmark}_P{p}_S{s}", "experiments.search", (
                    f"--benchmark={benchmark}", "--algorithm=evolution", f"--budget={budget}", *TUNING_SEEDS_EVOLUTION,
                    f"--evolution_population_size={p}", f"--evolution_tournament_size={s}",
                    f"--report_at={report_at}")))
    for labels in (20, 50, 100):
        for targets in ("rank", "standardise"):
            steps.append(Step(f"gcn/nb201_cifar10_L{labels}_{targets}", "experiments.predictor_eval", (
                "--predictor=gcn", "--benchmark=nb201_cifar10", f"--labels={labels}", *TUNING_SEEDS_PREDICTORS,
                f"--gcn_targets={targets}")))
            # The AceNAS GCN trained with MSE (the loss-only comparison) gets the same choice.
            steps.append(Step(f"acenas_mse/nb201_cifar10_L{labels}_{targets}", "experiments.predictor_eval", (
                "--predictor=acenas", "--benchmark=nb201_cifar10", f"--labels={labels}", *TUNING_SEEDS_PREDICTORS,
                "--acenas_finetune_loss=mse", f"--acenas_mse_targets={targets}")))
    return steps


# ----------------------------------------------------------------------------- tuning tables
def _per_seed_at(results: dict, queries: int) -> np.ndarray:
    """Per-seed best-so-far reported value after ``queries``, from the run's per-seed
    summary, or recomputed from its ledger history (older results files)."""
    stats = results.get("at_queries", {}).get(str(queries), {})
    if "per_seed" in stats:
        return np.asarray(stats["per_seed"], np.float64)
    from jaxnas import benchmarks, metrics

    bench = benchmarks.load_benchmark(results["benchmark"])
    history = np.asarray(results["ledger"]["history"])[:, :queries]
    signal = np.where(history >= 0, bench.signal[np.maximum(history, 0)], np.nan)
    reported = np.where(history >= 0, bench.reported[np.maximum(history, 0)], np.nan)
    return np.asarray(metrics.best_so_far(signal, reported))[:, -1].astype(np.float64)


def tuning_tables(root: pathlib.Path) -> str:
    """Markdown tables of the finished tuning runs (evolution grid, GCN targets)."""
    from jaxnas import metrics

    lines = []
    for benchmark, (populations, tournaments, budget, report_at) in EVOLUTION_GRID.items():
        runs = {}
        for p in populations:
            for s in tournaments:
                path = root / f"evo/{benchmark}_P{p}_S{s}/results.json"
                if path.exists():
                    runs[(p, s)] = json.loads(path.read_text())
        if not runs:
            continue
        counts = [int(q) for q in report_at.split(",")]
        reference = runs.get((20, 5)) or next(iter(runs.values()))
        optimum = reference["regret"]["optimum"]
        ref = {q: _per_seed_at(reference, q) for q in counts}
        lines += [f"### evolution on {benchmark}, budget {budget}, seeds {reference['seed_list'][0]}-"
                  f"{reference['seed_list'][-1]} (paired against P=20, S=5)", "",
                  "| P | S | " + " | ".join(f"@{q}" for q in counts) + f" | @{budget} mean ± std (sem) | median | "
                  f"at optimum | Δ @{budget} [95% CI], p |", "|---|---|" + "---|" * len(counts) + "---|---|---|---|"]
        for (p, s), results in sorted(runs.items()):
            values = {q: _per_seed_at(results, q) for q in counts}
            last = metrics.summary(values[budget], optimum)
            c = metrics.paired_comparison(values[budget], ref[budget])
            lines.append(f"| {p} | {s} | " + " | ".join(f"{values[q].mean():.3f}" for q in counts)
                         + f" | {metrics.format_summary(last)} | {last['median']:.3f} | "
                         f"{last['fraction_at_optimum']:.2f} | {c['mean_difference']:+.3f} [{c['ci_low']:+.3f}, "
                         f"{c['ci_high']:+.3f}], {c['wilcoxon_p']:.3f} |")
        lines.append("")
    for family, title in (("gcn", "GCN (Wen et al.)"), ("acenas_mse", "AceNAS GCN with MSE")):
        lines += _targets_table(root, family, title)
    return "\n".join(lines)


def _targets_table(root: pathlib.Path, family: str, title: str) -> list:
    from jaxnas import metrics

    lines = []
    gcn = {}
    for labels in (20, 50, 100):
        for targets in ("rank", "standardise"):
            path = root / f"{family}/nb201_cifar10_L{labels}_{targets}/results.json"
            if path.exists():
                gcn[(labels, targets)] = json.loads(path.read_text())
    if gcn:
        lines += [f"### {title}: regression targets, predictor_eval nb201_cifar10 (paired over seeds: rank - "
                  "standardise)", "",
                  "| L | targets | seeds | Kendall τ | Spearman ρ | NDCG@10 | p@5% | Δτ [95% CI], p |",
                  "|---|---|---|---|---|---|---|---|"]
        for (labels, targets), results in sorted(gcn.items()):
            m = results["metrics"]
            diff = ""
            other = gcn.get((labels, "standardise"))
            if targets == "rank" and other is not None:
                c = metrics.paired_comparison(m["kendall_tau"]["per_seed"], other["metrics"]["kendall_tau"]["per_seed"])
                diff = f"{c['mean_difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], {c['wilcoxon_p']:.3f}"
            cells = " | ".join(metrics.format_summary(metrics.summary(m[k]["per_seed"]))
                               for k in ("kendall_tau", "spearman_rho", "ndcg_at_10", "precision_at_5pct"))
            seeds = results["seed_list"]
            lines.append(f"| {labels} | {targets} | {seeds[0]}-{seeds[-1]} | {cells} | {diff} |")
        lines.append("")
    return lines


# ----------------------------------------------------------------------------- running
def _done(root: pathlib.Path, step: Step) -> bool:
    return (root / step.folder / step.output).exists()


def run_steps(steps: list, root: pathlib.Path, niceness: int, log=print,
              checkpoints: Optional[pathlib.Path] = None, seeds_per_part: Optional[int] = None) -> list:
    """Runs the steps not yet done, in order (resumably with ``checkpoints``, see
    :meth:`Step.command`); returns the folders of the failed ones. With ``seeds_per_part``
    a search runs as parts of that many seeds (:meth:`Step.seed_parts`), each skipped
    when done, and their results are merged into the step's results.json."""
    failed = []
    by_folder = {step.folder: step for step in steps}

    def run_command(step: Step) -> bool:
        command = step.command(root, checkpoints)
        if niceness:
            command = ["nice", "-n", str(niceness), *command]
        log_path = root / f"{step.folder}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        log(f"running {step.folder}: {shlex.join(command)}")
        with open(log_path, "w") as out:
            rc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
        log(f"  {'ok' if rc == 0 else f'FAILED (exit {rc}, see {log_path})'} in {time.perf_counter() - start:.0f} s")
        return rc == 0

    for step in steps:
        if _done(root, step):
            log(f"done already: {step.folder}")
            continue
        missing = [need for need in step.needs if need in failed or (need in by_folder and not _done(root, by_folder[need]))]
        if missing:
            log(f"skipped {step.folder}: needs {missing}")
            failed.append(step.folder)
            continue
        parts = step.seed_parts(seeds_per_part)
        if not parts:
            if not run_command(step):
                failed.append(step.folder)
            continue
        for part in parts:
            if _done(root, part):
                log(f"done already: {part.folder}")
            elif not run_command(part):
                failed.append(part.folder)
                break
        else:
            try:
                merge_parts(step, parts, root)
                log(f"  merged {len(parts)} seed parts into {root / step.folder / step.output}")
            except ValueError as err:  # runner.SeedPartsError, an unreadable part
                log(f"  FAILED to merge the seed parts of {step.folder}: {err}")
                failed.append(step.folder)
    return failed


def merge_parts(step: Step, parts: list, root: pathlib.Path) -> None:
    """Writes the step's results.json from its finished seed parts' results (raises
    runner.SeedPartsError for parts that are not of one run)."""
    from jaxnas import outputs
    from jaxnas.search import runner

    results = [json.loads((root / part.folder / part.output).read_text()) for part in parts]
    command = shlex.join(["python", *step.command(root)[1:]])
    outputs.write_json(root / step.folder / step.output, runner.merge_seed_parts(results, command))


def run(options: Options) -> list:
    """Lists, tabulates or runs the stage's steps; returns the folders of the steps that
    failed or were skipped for want of another's output. Raises UsageError for --tables
    outside the tuning stage."""
    root = pathlib.Path(options.runs or ("runs/tuning" if options.stage == "tuning" else "runs/results"))
    if options.tables:
        if options.stage != "tuning":
            raise UsageError("--tables is for --stage=tuning (the evaluation tables: experiments.report)")
        print(tuning_tables(root))
        return []
    checkpoints = pathlib.Path(options.checkpoints) if options.checkpoints else None
    steps = tuning_steps() if options.stage == "tuning" else evaluation_steps()
    if options.only:
        pattern = re.compile(options.only)
        steps = [s for s in steps if pattern.search(s.folder)]
    if options.list_commands:
        for step in steps:
            for each in [step] + ([] if _done(root, step) else step.seed_parts(options.seeds_per_part)):
                mark = "done" if _done(root, each) else "todo"
                indent = "  " if each is not step else ""
                print(f"{indent}[{mark}] {shlex.join(['python', *each.command(root, checkpoints)[1:]])}")
        return []
    failed = run_steps(steps, root, options.nice, checkpoints=checkpoints, seeds_per_part=options.seeds_per_part)
    if not failed and options.stage == "evaluation":
        print(f"all done: python -m experiments.report --runs={root} --out=docs/results.md")
    return failed
