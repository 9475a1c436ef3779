r"""Before/after wall time of a search, measured side by side in one script run.

    python -m scripts.bench_rounds --baseline=main --algorithm=seminas --benchmark=nb201_cifar10 \
        --seeds=20 --budget=150 --repeats=1 --output=runs/bench_rounds/seminas.json

The baseline revision (any git revision of this repository, default ``main``) is exported
with ``git archive`` into a temporary folder; the same ``python -m experiments.search``
command then runs in that tree and in this working tree, alternately (baseline, current,
baseline, current, ...) so that a load change on a shared machine hits both alike. For
each run it records the wall time of the whole process (start-up, data loading,
compilation, search), its CPU time (user + system: on a shared machine it moves far less
with other jobs' load than wall time) and the search's own ``wall_seconds``, and it compares the two
trees' results: the full query history of every seed (identical or not) and the final
mean. The load average before and after is recorded too. Extra ``--flag=value``
arguments after ``--`` go to experiments.search unchanged.

``--current_flags`` compares a setting rather than a revision: its flags go to the
current tree's runs only (e.g. ``--baseline=HEAD --current_flags=--gcn_fit_slots=doubling``).
The histories then differ, so the per-seed results are compared by
:func:`jaxnas.metrics.paired_comparison` (current - baseline) at the final budget and at
each ``--report_at`` budget.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from jaxnas import metrics, outputs, provenance

ROOT = pathlib.Path(__file__).resolve().parents[1]


def export_revision(revision: str, into: pathlib.Path) -> pathlib.Path:
    """The files of ``revision`` (git archive) in ``into``."""
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_search(tree: pathlib.Path, args: list[str], out: pathlib.Path) -> dict:
    # The exported tree has no ../shared beside it: both trees read this checkout's data.
    data = os.environ.get("JAXNAS_DATA") or str(ROOT.parent / "shared" / "data")
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"), "PYTHONPATH": str(tree),
           "JAXNAS_DATA": data}
    command = [sys.executable, "-m", "experiments.search", *args, f"--output_dir={out}"]
    start, cpu_start = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu_end = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"search failed in {tree}:\n{proc.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    per_seed = {str(results["budget"]): results["final"]["per_seed"],
                # an older revision's results.json may lack per-seed values at report budgets
                **{str(q): stats["per_seed"] for q, stats in results["at_queries"].items() if "per_seed" in stats}}
    return {"process_seconds": seconds, "cpu_seconds": cpu, "search_seconds": results["wall_seconds"],
            "history": results["ledger"]["history"], "final_mean": results["final"]["mean"],
            "per_seed_at": per_seed}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--algorithm", default="seminas")
    parser.add_argument("--benchmark", default="nb201_cifar10")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each tree (alternating)")
    parser.add_argument("--output", default=None, help="JSON file for the figures")
    parser.add_argument("--current_flags", default="",
                        help="experiments.search flags (space-separated) for the current tree's runs only")
    parser.add_argument("search_flags", nargs="*", help="extra experiments.search flags (after --)")
    args = parser.parse_args()
    search_args = [f"--algorithm={args.algorithm}", f"--benchmark={args.benchmark}", f"--seeds={args.seeds}",
                   f"--seed={args.seed}", f"--budget={args.budget}", *args.search_flags]
    # Resolved once: the branch may move while the runs go on.
    baseline_commit = subprocess.run(["git", "rev-parse", "--verify", f"{args.baseline}^{{commit}}"], cwd=ROOT,
                                     check=True, capture_output=True, text=True).stdout.strip()
    load_start = [round(x, 2) for x in os.getloadavg()]
    runs = {"baseline": [], "current": []}
    tree_args = {"baseline": search_args, "current": search_args + args.current_flags.split()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "baseline").mkdir()
        trees = {"baseline": export_revision(baseline_commit, tmp / "baseline"), "current": ROOT}
        for repeat in range(args.repeats):
            for name, tree in trees.items():
                run = run_search(tree, tree_args[name], tmp / f"{name}_{repeat}")
                runs[name].append(run)
                print(f"{name:8s} repeat {repeat}: process {run['process_seconds']:7.1f} s (CPU "
                      f"{run['cpu_seconds']:7.1f} s), search "
                      f"{run['search_seconds']:7.1f} s, final mean {run['final_mean']:.3f}", flush=True)
    base, cur = runs["baseline"][0], runs["current"][0]
    summary = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "baseline": args.baseline,
        "baseline_commit": baseline_commit,
        "current": provenance.git_state(ROOT),
        "search_args": search_args,
        "current_flags": args.current_flags.split(),
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "identical_histories": all(r["history"] == base["history"] for r in runs["baseline"] + runs["current"]),
        "final_mean": {"baseline": base["final_mean"], "current": cur["final_mean"]},
        "per_seed_at": {"baseline": base["per_seed_at"], "current": cur["per_seed_at"]},
        "process_seconds": {name: [r["process_seconds"] for r in rs] for name, rs in runs.items()},
        "search_seconds": {name: [r["search_seconds"] for r in rs] for name, rs in runs.items()},
        "cpu_seconds": {name: [r["cpu_seconds"] for r in rs] for name, rs in runs.items()},
    }
    if not summary["identical_histories"]:
        summary["paired_current_minus_baseline"] = {
            q: metrics.paired_comparison(cur["per_seed_at"][q], base["per_seed_at"][q])
            for q in base["per_seed_at"] if q in cur["per_seed_at"]}
    summary["speedup_cpu"] = statistics.median(
        b["cpu_seconds"] / c["cpu_seconds"] for b, c in zip(runs["baseline"], runs["current"]))
    summary["speedup_process"] = statistics.median(
        b["process_seconds"] / c["process_seconds"] for b, c in zip(runs["baseline"], runs["current"]))
    summary["speedup_search"] = statistics.median(
        b["search_seconds"] / c["search_seconds"] for b, c in zip(runs["baseline"], runs["current"]))
    print(json.dumps({k: v for k, v in summary.items() if k != "per_seed_at"}, indent=1))
    if args.output:
        path = pathlib.Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        outputs.write_json(path, summary)


if __name__ == "__main__":
    main()
