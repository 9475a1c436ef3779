"""The results document (``experiments.report``): every results.json under a folder of
runs (search, predictor_eval and parsec outputs) as one Markdown document of tables,
paired comparisons with the reference methods, generated verdicts, the speed benchmarks
under its ``benchmarks`` folder (:mod:`jaxnas.workflows.speed_report`), the runs and their
commits, and the evaluation plan's steps not run; a curve plot per benchmark beside it."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from typing import Optional

import numpy as np

from jaxnas import metrics, outputs
from jaxnas.workflows import RunError, results_plan, speed_report

BENCHMARK_ORDER = ("nb201_cifar10", "nbgraph_cora", "nb101_subset")
LABEL_ORDER = (20, 50, 100)
TUNING_SEEDS_FROM = 100
REFERENCE_ALGORITHM = "evolution"
REFERENCE_PREDICTOR = "gcn"
PREDICTOR_METRICS = (("kendall_tau", "Kendall τ"), ("spearman_rho", "Spearman ρ"), ("ndcg_at_10", "NDCG@10"),
                     ("precision_at_5pct", "p@5%"))
# Config fields that tell variants of one method apart in a table's label.
VARIANT_FIELDS = {"gcn": ("targets",), "assessor": ("targets", "joint"), "acenas": ("finetune_loss",)}
VERDICT_WORDS = {"better": "beats", "worse": "is behind", "level": "is level with"}


@dataclasses.dataclass
class Run:
    path: pathlib.Path  # the run's folder, relative to --runs
    kind: str  # "search" | "predictor" | "parsec"
    benchmark: str
    method: str  # algorithm or predictor name
    label: str
    data: dict

    @property
    def seeds(self) -> list:
        if self.kind == "parsec":
            return [int(r["seed"]) for r in self.data.get("runs", [])]
        return list(self.data.get("seed_list", []))

    @property
    def table_assisted(self) -> bool:
        return bool(self.data.get("table_assisted"))

    @property
    def preset(self) -> str:
        return self.data.get("preset", "default")


def _label(method: str, data: dict) -> str:
    config = data.get("config", {})
    parts = [data.get("preset", "default")]
    parts += [f"{field}={config[field]}" for field in VARIANT_FIELDS.get(method, ()) if field in config]
    weak = data.get("weak_labels") or {}
    if weak.get("kind") == "file":
        parts.append("weak labels: file")
    elif weak.get("kind") == "table":
        parts.append(f"weak labels: {weak.get('spec')}")
    return f"{method} ({', '.join(parts)})"


def load_runs(root: pathlib.Path) -> tuple[list, list]:
    """(runs on evaluation seeds, runs on tuning seeds) of every parseable results.json."""
    runs, tuning = [], []
    for path in sorted(root.rglob("results.json")):
        if results_plan.SEED_PARTS in path.relative_to(root).parts:
            continue  # a seed part: the merged results.json beside seed_parts/ holds it
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            print(f"skipping {path}: {err}", file=sys.stderr)
            continue
        if "algorithm" in data and "at_queries" in data:
            kind, method = "search", data["algorithm"]
        elif "predictor" in data and "metrics" in data:
            kind, method = "predictor", data["predictor"]
        elif "runs" in data and "summary" in data and "map" in (data["runs"] or [{}])[0]:
            kind, method = "parsec", "parsec"
            data = {**data, "benchmark": f"parsec_{data.get('space', '?')}"}
        else:
            continue
        label = _label(method, data) if kind != "parsec" else f"parsec ({data.get('preset', 'default')})"
        run = Run(path.parent.relative_to(root), kind, data["benchmark"], method, label, data)
        (tuning if run.seeds and min(run.seeds) >= TUNING_SEEDS_FROM else runs).append(run)
    # Identical labels within a benchmark are told apart by their folders.
    for kind in ("search", "predictor"):
        seen: dict = {}
        for run in runs:
            if run.kind == kind:
                seen.setdefault((run.benchmark, run.label, run.data.get("num_labels")), []).append(run)
        for group in seen.values():
            if len(group) > 1:
                for run in group:
                    run.label = f"{run.label} [{run.path}]"
    return runs, tuning


def _seed_range(seeds: list) -> str:
    if not seeds:
        return "?"
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ", ".join(map(str, seeds))


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _paired(run_values: dict, reference_values: dict) -> Optional[dict]:
    """paired_comparison over the seeds both runs have (None when fewer than 2 shared)."""
    seeds = sorted(set(run_values) & set(reference_values))
    values = [(run_values[s], reference_values[s]) for s in seeds
              if run_values[s] is not None and reference_values[s] is not None]
    if len(values) < 2:
        return None
    a, b = np.array(values).T
    return metrics.paired_comparison(a, b)


def _per_seed(run: Run, stats: dict) -> dict:
    per_seed = stats.get("per_seed")
    if per_seed is None or len(per_seed) != len(run.seeds):
        return {}
    return dict(zip(run.seeds, per_seed))


def _comparison_cells(comparison: Optional[dict]) -> tuple[str, str, str]:
    if comparison is None:
        return "n/a", "n/a", "no shared seeds"
    diff = (f"{comparison['mean_difference']:+.3f} [{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}]")
    return diff, f"{comparison['wilcoxon_p']:.3g}", comparison["verdict"]


def _budget_stats(run: Run) -> dict:
    """Query count -> summary: the run's report_at counts and its final budget."""
    stats = {int(q): v for q, v in run.data["at_queries"].items()}
    if "final" in run.data and "budget" in run.data:
        stats.setdefault(int(run.data["budget"]), run.data["final"])
    return stats


def _reference(runs: list, method: str) -> Optional[Run]:
    candidates = [r for r in runs if r.method == method and r.preset == "default" and not r.table_assisted]
    return max(candidates, key=lambda r: len(r.seeds)) if candidates else None


class RunIndex:
    """Short ids (R1, R2, ...) for the runs table."""

    def __init__(self):
        self.runs: list = []

    def __call__(self, run: Run) -> str:
        for number, known in enumerate(self.runs, 1):
            if known is run:
                return f"R{number}"
        self.runs.append(run)
        return f"R{len(self.runs)}"


def search_section(benchmark: str, runs: list, ids: RunIndex) -> list:
    lines = [f"### Search on {benchmark}", ""]
    info = runs[0].data.get("benchmark_info", {})
    optimum = runs[0].data.get("regret", {}).get("optimum")
    lines.append(f"Best **reported** value ({info.get('reported', 'reported column')}) of the architecture with the "
                 f"best search signal after q queries; optimum {_fmt(optimum)}. Mean ± sample std (ddof = 1) "
                 "over seeds.")
    lines.append("")
    query_only = [r for r in runs if not r.table_assisted]
    assisted = [r for r in runs if r.table_assisted]
    reference = _reference(query_only, REFERENCE_ALGORITHM)
    budgets = sorted({q for r in query_only for q in _budget_stats(r)})
    verdicts: dict = {}
    for q in budgets:
        rows = [r for r in query_only if q in _budget_stats(r)]
        ref_values = _per_seed(reference, _budget_stats(reference)[q]) if (
            reference and q in _budget_stats(reference)) else {}
        lines += [f"**{q} queries**", "",
                  f"| method | run | seeds | mean ± std | sem | median | at optimum | Δ vs {REFERENCE_ALGORITHM} "
                  f"(default) [95% CI] | Wilcoxon p | verdict |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for run in sorted(rows, key=lambda r: (r is not reference, r.label)):
            stats = _budget_stats(run)[q]
            if run is reference or not ref_values:
                diff, p, verdict = ("reference", "", "") if run is reference else ("n/a", "n/a", "no reference run")
            else:
                comparison = _paired(_per_seed(run, stats), ref_values)
                diff, p, verdict = _comparison_cells(comparison)
                if comparison is not None:
                    verdicts.setdefault(run.label, []).append((q, comparison))
            missing = f" ({stats['missing']} missing)" if stats.get("missing") else ""
            lines.append(
                f"| {run.label} | {ids(run)} | {_seed_range(run.seeds)}{missing} | {_fmt(stats['mean'])} ± "
                f"{_fmt(stats['std'])} | {_fmt(stats['sem'])} | {_fmt(stats.get('median'))} | "
                f"{_fmt(stats.get('fraction_at_optimum'), 2)} | {diff} | {p} | {verdict} |")
        lines.append("")
    if assisted:
        lines += ["**Table-assisted runs** (weak labels from a whole benchmark table, outside the query ledger: "
                  "not comparable with the query-only methods above; their cost is in the last column)", "",
                  "| method | run | seeds | queries | mean ± std | median | at optimum | weak labels | their cost |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for run in sorted(assisted, key=lambda r: r.label):
            weak = run.data.get("weak_labels") or {}
            cost = (f"{weak['full_training_equivalents']:,.0f} full-training equivalents"
                    if weak.get("full_training_equivalents") is not None else weak.get("cost_note", "cost unknown"))
            for q, stats in sorted(_budget_stats(run).items()):
                lines.append(f"| TABLE-ASSISTED {run.label} | {ids(run)} | {_seed_range(run.seeds)} | {q} | "
                             f"{_fmt(stats['mean'])} ± {_fmt(stats['std'])} | {_fmt(stats.get('median'))} | "
                             f"{_fmt(stats.get('fraction_at_optimum'), 2)} | {weak.get('description', '?')} | {cost} |")
        lines.append("")
    lines += ["**Verdicts** (generated: \"beats\" / \"is behind\" = Wilcoxon p < 0.05 and the 95 % CI of the mean "
              "per-seed difference excludes 0 on that side; otherwise \"is level with\")", ""]
    if reference is None:
        lines.append(f"- No {REFERENCE_ALGORITHM} (default) run on evaluation seeds: no verdicts.")
    for label in sorted(verdicts):
        parts = [f"{VERDICT_WORDS[c['verdict']]} tuned {REFERENCE_ALGORITHM} at {q} queries "
                 f"(Δ {c['mean_difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], "
                 f"p = {c['wilcoxon_p']:.3g}, {c['n']} seeds)" for q, c in verdicts[label]]
        lines.append(f"- **{label}** " + "; ".join(parts) + ".")
    lines.append("")
    lines += _same_searches(query_only, ids) + _diagnostics_lines(query_only, ids)
    return lines


def _same_searches(runs: list, ids: RunIndex) -> list:
    """A note for each pair of runs of one method that asked the same architectures on
    every seed: their tables' rows are then one result, not two."""
    lines = []
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            ha, hb = (r.data.get("ledger", {}).get("history") for r in (a, b))
            if a.method == b.method and ha and ha == hb and a.seeds == b.seeds:
                lines.append(f"- **{a.label}** ({ids(a)}) and **{b.label}** ({ids(b)}) asked the same architectures "
                             "in the same order on every seed: where their settings differ, the search never used "
                             "the difference.")
    return (["**Identical searches**", ""] + lines + [""]) if lines else []


def _diagnostics_lines(runs: list, ids: RunIndex) -> list:
    """The algorithms' own counters (results.json ``algorithm_diagnostics``), means over seeds."""
    lines = [f"- {ids(r)} {r.label}: " + ", ".join(f"{name} {_fmt(v['mean'], 1)}"
                                                  for name, v in r.data["algorithm_diagnostics"].items())
             for r in sorted(runs, key=lambda r: r.label) if r.data.get("algorithm_diagnostics")]
    return (["**Algorithm counters** (means over seeds, at the end of the search)", ""] + lines + [""]) if lines else []


def predictor_section(benchmark: str, runs: list, ids: RunIndex) -> list:
    lines = [f"### Offline predictors on {benchmark}", "",
             "Fit on L cells drawn per seed (labels = the search signal), scored on every other cell against the "
             "reported column. Mean ± sample std (sem). Δτ: paired over seeds (the same seed draws the same L cells "
             f"for every predictor) against {REFERENCE_PREDICTOR} (default).", ""]
    label_counts = sorted({r.data["num_labels"] for r in runs}, key=lambda n: (n not in LABEL_ORDER, n))
    for num_labels in label_counts:
        rows = [r for r in runs if r.data["num_labels"] == num_labels]
        query_only = [r for r in rows if not r.table_assisted]
        reference = _reference(query_only, REFERENCE_PREDICTOR)
        ref_tau = _per_seed(reference, reference.data["metrics"]["kendall_tau"]) if reference else {}
        lines += [f"**L = {num_labels}**", "",
                  "| predictor | run | seeds | " + " | ".join(name for _, name in PREDICTOR_METRICS)
                  + " | Δτ [95% CI] | Wilcoxon p | verdict |",
                  "|---|---|---|" + "---|" * len(PREDICTOR_METRICS) + "---|---|---|"]
        for run in sorted(rows, key=lambda r: (r.table_assisted, r is not reference, r.label)):
            cells = []
            for key, _ in PREDICTOR_METRICS:
                stats = run.data["metrics"].get(key, {})
                cells.append(f"{_fmt(stats.get('mean'))} ± {_fmt(stats.get('std'))} ({_fmt(stats.get('sem'))})")
            if run is reference:
                diff, p, verdict = "reference", "", ""
            elif run.table_assisted:
                diff, p, verdict = "n/a", "n/a", "table-assisted"
            elif not ref_tau:
                diff, p, verdict = "n/a", "n/a", "no reference run"
            else:
                diff, p, verdict = _comparison_cells(_paired(_per_seed(run, run.data["metrics"]["kendall_tau"]), ref_tau))
            label = f"TABLE-ASSISTED {run.label}" if run.table_assisted else run.label
            lines.append(f"| {label} | {ids(run)} | {_seed_range(run.seeds)} | " + " | ".join(cells)
                         + f" | {diff} | {p} | {verdict} |")
        lines.append("")
    return lines


def parsec_section(runs: list, ids: RunIndex) -> list:
    """PARSEC runs: the learnt prior's cells against random cells and the same-compute baseline."""
    lines = []
    for run in runs:
        rid = ids(run)
        data, summary = run.data, run.data["summary"]
        reported = next((k[len("map_"):] for k in summary if k.startswith("map_") and k != "map_minus_baseline"
                         and "supernet" not in k), None)
        if reported is None:
            continue
        config = data.get("flags") or data.get("config") or {}
        lines += [f"### {run.label} on the {data.get('space')} cell space ({rid})", "",
                  f"Proxy supernet on {data.get('dataset')} ({config.get('image_size', '?')} px, C = "
                  f"{config.get('channels', '?')}, {config.get('cells', '?')} cells per stage, "
                  f"{config.get('steps', '?')} steps, K = {config.get('num_samples', '?')} samples); cells scored "
                  f"by the NB201 table's {reported}. Seeds {_seed_range(run.seeds)}." + (
                      " Merged from: " + "; ".join(f"`{m['command']}`" for m in data["merged"]) + "."
                      if data.get("merged") else ""), "",
                  "| cell | mean | std | sem | median | min | max |", "|---|---|---|---|---|---|---|"]
        rows = (("MAP cell of the learnt prior", f"map_{reported}"),
                ("expected cell under the learnt prior", f"expected_{reported}"),
                ("same-compute baseline (best of random cells by supernet validation accuracy)",
                 f"baseline_{reported}"))
        for name, key in rows:
            stats = summary.get(key)
            if stats:
                lines.append(f"| {name} | " + " | ".join(_fmt(stats.get(s), 2) for s in
                                                         ("mean", "std", "sem", "median", "min", "max")) + " |")
        random_mean = summary.get(f"random_cell_mean_{reported}")
        if random_mean is not None:
            lines.append(f"| average random cell (whole table) | {_fmt(random_mean, 2)} | | | | | |")
        lines.append("")
        comparison = None
        by_seed = {int(r["seed"]): r for r in data["runs"]}
        if all(f"map_{reported}" in r and f"baseline_{reported}" in r for r in by_seed.values()):
            comparison = _paired({s: r[f"map_{reported}"] for s, r in by_seed.items()},
                                 {s: r[f"baseline_{reported}"] for s, r in by_seed.items()})
        if comparison is not None:
            diff, p, verdict = _comparison_cells(comparison)
            lines.append(f"- MAP cell − same-compute baseline, paired on {comparison['n']} seeds: {diff} (95% CI), "
                         f"Wilcoxon p = {p}: PARSEC {VERDICT_WORDS[verdict]} the baseline"
                         + (f" (with {comparison['n_nonzero']} non-zero differences the smallest two-sided exact "
                            f"Wilcoxon p is {2 / 2 ** comparison['n_nonzero']:.4g})"
                            if comparison["wilcoxon_method"] == "exact" and comparison["n_nonzero"] <= 6 else "")
                         + ".")
        map_stats = summary.get(f"map_{reported}")
        if map_stats and random_mean is not None:
            side = "above" if map_stats["mean"] > random_mean else "below"
            lines.append(f"- The MAP cell's mean is {side} the average random cell "
                         f"({_fmt(map_stats['mean'], 2)} vs {_fmt(random_mean, 2)}).")
        for key, name in (("tau_at_search_start", "when the search phase started"), ("tau_final", "at the end")):
            stats = summary.get(key)
            if stats:
                lines.append(f"- Supernet quality gate, Kendall τ (supernet validation accuracy vs the table) {name}: "
                             f"{_fmt(stats['mean'])} ± {_fmt(stats['std'])} (mean ± std).")
        lines.append("")
    return lines


def commit_of(git: dict) -> str:
    """A results.json's code: its commit, or for a run resumed on other code each part's
    commit and first step; flagged when uncommitted changes were part of it."""
    if git.get("seed_parts"):  # run as parts on disjoint seeds: each part's code
        parts = git["seed_parts"]
        if len({commit_of(part["git"]) for part in parts}) > 1:
            return "; ".join(f"{commit_of(part['git'])} for seeds {_seed_range(part['seeds'])}" for part in parts)
        return f"{commit_of(parts[0]['git'])} ({len(parts)} seed parts)"
    commits = [((part.get("git") or {}).get("commit"), part.get("from_step", 0)) for part in git.get("parts", [])]
    if len({commit for commit, _ in commits}) > 1:
        text = ", ".join(f"{(commit or 'not recorded')[:12]} from step {step}" for commit, step in commits)
    else:
        text = (git.get("commit") or "not recorded")[:12]
    return text + (" (uncommitted changes)" if git.get("dirty") else "")


def runs_section(ids: RunIndex) -> list:
    lines = ["## Runs", "", "| run | method | folder | command | seeds | commit | wall s |",
             "|---|---|---|---|---|---|---|"]
    for number, run in enumerate(ids.runs, 1):
        wall = run.data.get("wall_seconds")
        label = f"TABLE-ASSISTED {run.label}" if run.table_assisted else run.label
        lines.append(f"| R{number} | {label} | {run.path} | `{run.data.get('command', '?')}` | "
                     f"{_seed_range(run.seeds)} | {commit_of(run.data.get('git') or {})} | {_fmt(wall, 0)} |")
    lines.append("")
    return lines


def plot_curves(benchmark: str, runs: list, path: pathlib.Path) -> bool:
    """Mean best-so-far curves (± std band) of the query-only search runs; False if none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [r for r in runs if not r.table_assisted and r.data.get("curve")]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in sorted(curves, key=lambda r: r.label):
        curve = run.data["curve"]
        queries = np.asarray(curve["queries"])
        mean = np.asarray([np.nan if v is None else v for v in curve["mean"]], np.float64)
        std = np.asarray([np.nan if v is None else v for v in curve["std"]], np.float64)
        ax.plot(queries, mean, label=f"{run.label} ({len(run.seeds)} seeds)")
        ax.fill_between(queries, mean - std, mean + std, alpha=0.12)
    optimum = curves[0].data.get("regret", {}).get("optimum")
    if optimum is not None:
        ax.axhline(optimum, color="k", lw=0.8, ls="--", label="optimum")
        low = min(np.nanmin(np.asarray([np.nan if v is None else v for v in r.data["curve"]["mean"]], np.float64)[
            len(r.data["curve"]["mean"]) // 5:]) for r in curves)
        ax.set_ylim(low - 0.2 * (optimum - low), optimum + 0.1 * (optimum - low) + 1e-3)
    ax.set_xlabel("queries")
    ax.set_ylabel("best reported value (mean over seeds)")
    ax.set_title(benchmark)
    ax.legend(fontsize=6)
    outputs.save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


def not_run_section(root: pathlib.Path) -> list:
    """The evaluation plan's steps (experiments.results_plan) with no results.json under
    ``root``: what the document does not show, so a missing row is never mistaken for a
    left-out one. (A step's other outputs, e.g. the supernet's weak-label file, are not
    committed, so they cannot mark it.)"""
    missing = [step for step in results_plan.evaluation_steps() if not (root / step.folder / "results.json").exists()]
    if not missing:
        return []
    lines = ["## Not run", "",
             f"{len(missing)} of the evaluation plan's {len(results_plan.evaluation_steps())} steps have no results "
             f"under `{root}`; their rows are absent above. Each runs with "
             "`python -m experiments.results_plan --stage=evaluation --only=FOLDER` (a long search in parts: "
             "add `--seeds_per_part=N`).", ""]
    for step in missing:
        done = sorted((seeds for seeds in map(_part_seeds, (root / step.folder / results_plan.SEED_PARTS).glob(
            "*/results.json")) if seeds), key=lambda seeds: seeds[0])
        parts = f" (seed parts done: {', '.join(_seed_range(seeds) for seeds in done)})" if done else ""
        lines.append(f"- `{step.folder}`{parts}")
    return lines + [""]


def _part_seeds(path: pathlib.Path) -> list:
    """The seeds of a finished seed part's results.json ([] and a message if unreadable)."""
    try:
        return list(json.loads(path.read_text())["seed_list"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"skipping {path}: {err!r}", file=sys.stderr)
        return []


def generate(root: pathlib.Path, out: pathlib.Path, plots: bool = True) -> str:
    """The document's Markdown (also written to ``out``; plots next to it)."""
    outputs.prepare_output_dir(out.parent)
    runs, tuning = load_runs(root)
    ids = RunIndex()
    benchmarks = sorted({r.benchmark for r in runs if r.kind != "parsec"}, key=lambda b: (b not in BENCHMARK_ORDER,
                                                                   BENCHMARK_ORDER.index(b) if b in BENCHMARK_ORDER else 0, b))
    command = f"python -m experiments.report --runs={root} --out={out}"
    lines = ["# Results", "",
             f"Generated by `{command}` from {len(runs)} results.json files on evaluation seeds "
             f"({len(tuning)} tuning-seed runs ignored). Do not edit by hand: rerun the command. How every method "
             "is configured (paper preset vs project default, and each deviation) is in docs/design-results.md.", ""]
    if not runs:
        lines += ["**No evaluation runs yet.** Run the plan (`python -m experiments.results_plan --stage=evaluation`), "
                  "then this command.", ""]
    for benchmark in benchmarks:
        lines += [f"## {benchmark}", ""]
        search_runs = [r for r in runs if r.benchmark == benchmark and r.kind == "search"]
        predictor_runs = [r for r in runs if r.benchmark == benchmark and r.kind == "predictor"]
        if search_runs:
            lines += search_section(benchmark, search_runs, ids)
            if plots:
                plot = out.parent / f"results_{benchmark}.png"
                if plot_curves(benchmark, search_runs, plot):
                    lines += [f"![best-so-far curves on {benchmark}]({plot.name})", ""]
        if predictor_runs:
            lines += predictor_section(benchmark, predictor_runs, ids)
    parsec_runs = [r for r in runs if r.kind == "parsec"]
    if parsec_runs:
        lines += ["## PARSEC", ""] + parsec_section(parsec_runs, ids)
    lines += speed_report.speed_section(root)
    if ids.runs:
        lines += runs_section(ids)
    lines += not_run_section(root)
    text = "\n".join(lines)
    outputs.write_text(out, text)
    return text



def run(runs: str, out: str, plots: bool = True) -> None:
    """Writes the document of the runs under ``runs`` to ``out`` (plots beside it with
    ``plots``). Raises RunError when ``runs`` is not a folder or ``out``'s folder is unusable."""
    root, out_path = pathlib.Path(runs), pathlib.Path(out)
    if not root.is_dir():
        raise RunError(f"--runs={root} is not a folder")
    try:
        generate(root, out_path, plots)
    except outputs.OutputDirError as err:
        raise RunError(str(err)) from err
    print(f"wrote {out_path}")
