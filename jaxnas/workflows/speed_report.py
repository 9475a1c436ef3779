"""The results document's speed section: every benchmark JSON under ``<runs>/benchmarks``
as tables, so speed figures, like accuracy figures, are generated rather than copied.

The kinds of file are recognised by their keys:

* ``scripts.bench_rounds`` -- a search run in a baseline and a current tree (or with extra
  flags) side by side: wall and CPU time ratios, whether the query histories are
  identical, else the paired per-seed comparison of the results at each budget;
* ``scripts.profile_round`` -- where one search round's traced time goes, by phase and
  by kind of operation;
* ``experiments.predictor_throughput`` -- per batch size, JAX's training-step and
  inference rates, and with the PyTorch mirror JAX's speed over PyTorch's;
* ``scripts.accelerator_check`` -- its predictors join that table; its seeds-vs-one and
  PARSEC-step sections get one table each.

Any other JSON with a ``command`` is listed with it. Ratios are within one file: both
sides ran in the same script, on the same machine, at the same time.
"""

from __future__ import annotations

import collections
import json
import pathlib
import statistics
import sys
from typing import Optional

BENCHMARKS_FOLDER = "benchmarks"


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _commit(git: Optional[dict]) -> str:
    if not git or not git.get("commit"):
        return "not recorded"
    return git["commit"][:7] + (" (uncommitted changes)" if git.get("dirty") else "")


def _load(load_average: Optional[list]) -> str:
    """The 1-minute load average."""
    return f"{load_average[0]:.1f}" if load_average else "?"


def _median(values: Optional[list]) -> Optional[float]:
    return statistics.median(values) if values else None


def _paired_cells(data: dict) -> str:
    if data.get("identical_histories"):
        return "identical query histories"
    paired = data.get("paired_current_minus_baseline")
    if not paired:
        final = data.get("final_mean") or {}
        return (f"histories differ; final mean {_fmt(final.get('baseline'), 3)} → {_fmt(final.get('current'), 3)}"
                if final else "histories differ")
    parts = []
    for budget in sorted(paired, key=int):
        c = paired[budget]
        parts.append(f"{budget}: {c['mean_difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], "
                     f"p = {c['wilcoxon_p']:.2g}, {c['verdict']}")
    return "; ".join(parts)


def bench_rounds_table(files: list) -> list:
    lines = ["### Search wall time, baseline against current (`scripts.bench_rounds`)", "",
             "Baseline and current run alternately in one script; ratios are baseline / current (> 1: current "
             "faster). Results: identical query histories, or the paired per-seed difference of the best reported "
             "value (current − baseline) at each budget [95% CI], Wilcoxon p, verdict. Load: the 1-minute load "
             "average at the start (2 cores).", "",
             "| file | search | baseline | current | search s | wall ratio | CPU ratio | results | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, data in files:
        seconds = data.get("search_seconds") or {}
        baseline = (data.get("baseline_commit") or data.get("baseline") or "?")[:7]
        flags = " ".join(data.get("current_flags") or [])
        current = _commit(data.get("current"))
        if flags:
            current += f" `{flags}`"
        lines.append(
            f"| `{name}` | {' '.join(a.lstrip('-') for a in data.get('search_args', []))} | {baseline} | {current} | "
            f"{_fmt(_median(seconds.get('baseline')), 0)} → {_fmt(_median(seconds.get('current')), 0)} | "
            f"**{_fmt(data.get('speedup_search'))}×** | {_fmt(data.get('speedup_cpu'))}× | {_paired_cells(data)} | "
            f"{_load(data.get('load_average_start'))} |")
    return lines + [""]


def _percentages(fractions: Optional[dict]) -> str:
    if not fractions:
        return "n/a"
    ordered = sorted(fractions.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {100 * value:.1f} %" for name, value in ordered if value >= 0.0005)


def profile_round_table(files: list) -> list:
    lines = ["### Where a search round's time goes (`scripts.profile_round`)", "",
             "One round after the given number of queries, vmapped seeds, traced time (`jax.profiler`) by named "
             "phase and by kind of operation, as shares of the traced total.", "",
             "| file | search | seeds | queries before | devices | round s (median) | by phase | by kind | commit |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, data in files:
        before = data.get("queries_before_round") or ["?"]
        lines.append(
            f"| `{name}` | {data.get('algorithm')} ({data.get('preset')}) on {data.get('benchmark')} | "
            f"{data.get('seeds')} | {before[0]} | {data.get('devices')} | "
            f"{_fmt(data.get('round_wall_seconds_median'), 1)} | {_percentages(data.get('traced_fraction'))} | "
            f"{_percentages(data.get('traced_fraction_by_kind'))} | {_commit(data.get('git'))} |")
    return lines + [""]


def _ratio(ratio: Optional[float], rate: Optional[float], unit: str) -> str:
    """"1.03× (41.9/s)" with a ratio, "41.9 steps/s" without."""
    if rate is None:
        return "n/a" if ratio is None else f"{_fmt(ratio)}×"
    rate_text = f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"
    return f"{rate_text} {unit}/s" if ratio is None else f"{_fmt(ratio)}× ({rate_text}/s)"


def throughput_table(files: list) -> list:
    lines = ["### Predictor speed (`experiments.predictor_throughput`, `scripts.accelerator_check`)", "",
             "Per batch size: JAX's rate / PyTorch's (> 1: JAX faster), the median of interleaved per-round ratios "
             "(outputs checked equal first), and JAX's own rate in brackets; runs without the mirror give JAX's "
             "rate only.", "",
             "| file | predictor | device | PyTorch threads | JAX devices | batch | training step | inference | load | "
             "commit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, data in files:
        torch = data.get("torch") or {}
        # The cells every row of this file shares, before the batch and after the rates.
        first = (f"| `{name}` | {data.get('predictor')} | {(data.get('device') or {}).get('platform', '?')} | "
                 f"{torch.get('threads', 'no mirror')} | {data.get('jax_batch_devices', 1)} |")
        last = f"{_load(data.get('load_average_start'))} | {_commit(data.get('git'))} |"
        for batch in sorted(data.get("jax", {}), key=int):
            row = data["jax"][batch]
            ratio = row.get("speedup_over_torch") or {}
            steps = (row.get("train_step") or {}).get("steps_per_second")
            archs = (row.get("inference") or {}).get("architectures_per_second")
            lines.append(f"{first} {batch} | {_ratio(ratio.get('train_step'), steps, 'steps')} | "
                         f"{_ratio(ratio.get('inference'), archs, 'architectures')} | {last}")
        every = data.get("all_cells") or {}
        if "jax" in every:
            jax_all, torch_all = every["jax"], every.get("torch")
            ratio = torch_all["seconds"] / jax_all["seconds"] if torch_all else None
            lines.append(f"{first} all {every.get('architectures', 0):,} cells (chunk {jax_all.get('chunk')}) | | "
                         f"{_ratio(ratio, jax_all.get('architectures_per_second'), 'architectures')} | {last}")
    return lines + [""]


def kind_of(data: dict) -> Optional[str]:
    """Which script wrote a benchmark JSON: "bench_rounds", "profile_round", "throughput",
    "accelerator_check", "other" (any other with a command) or None."""
    if "search_seconds" in data and "speedup_search" in data:
        return "bench_rounds"
    if "traced_fraction" in data:
        return "profile_round"
    if "jax" in data and "predictor" in data:
        return "throughput"
    if "small" in data and any(section in data for section in ("throughput", "seeds", "parsec")):
        return "accelerator_check"
    return "other" if "command" in data else None


def _mb(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value / 2 ** 20:,.0f}"


def _check_device(data: dict) -> str:
    return (data.get("device") or {}).get("device_kind", "?") + (" (small sizes)" if data.get("small") else "")


def accelerator_check_tables(files: list) -> list:
    """The seeds and PARSEC sections of ``scripts.accelerator_check`` outputs (its
    throughput section joins the predictor speed table)."""
    lines = ["### Accelerator check: seeds and PARSEC (`scripts.accelerator_check`)", "",
             "Seeds: wall time of S vmapped seeds against one seed, each search run twice (the second, with the "
             "program compiled, is the steady state). PARSEC: one training step at the given size, median time, "
             "XLA's compiled memory for the step and the device's peak memory (MiB).", "",
             "| file | device | search | budget | S | 1 seed s | S seeds s | S / 1 (steady) | S / 1 (first run) | "
             "commit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, data in files:
        seeds = data.get("seeds") or {}
        device = _check_device(data)
        for algorithm in ("evolution", "seminas"):
            if algorithm in seeds:
                row = seeds[algorithm]
                lines.append(
                    f"| `{name}` | {device} | {algorithm} on {seeds.get('benchmark')} | {seeds.get('budget')} | "
                    f"{seeds.get('seeds')} | {_fmt(row['one_seed_seconds']['steady'], 1)} | "
                    f"{_fmt(row['many_seeds_seconds']['steady'], 1)} | **{_fmt(row['ratio_steady'])}** | "
                    f"{_fmt(row['ratio_first'])} | {_commit(data.get('git'))} |")
    lines += ["", "| file | device | channels × cells | batch | K | parameters | step ms | compile s | compiled MiB "
              "| peak MiB | commit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, data in files:
        step = data.get("parsec")
        if step:
            device = _check_device(data)
            lines.append(
                f"| `{name}` | {device} | {step['channels']} × {step['layers']} | {step['batch_size']} | "
                f"{step['samples']} | {step['supernet_parameters']:,} | {_fmt(1e3 * step['step_seconds'], 1)} | "
                f"{_fmt(step['compile_seconds'], 1)} | {_mb(step.get('compiled_memory_bytes'))} | "
                f"{_mb(step.get('peak_device_bytes'))} | {_commit(data.get('git'))} |")
    return lines + [""]


def speed_section(root: pathlib.Path) -> list:
    """Markdown lines of the speed section for ``root / benchmarks`` (none when empty)."""
    folder = root / BENCHMARKS_FOLDER
    groups = collections.defaultdict(list)  # kind -> (name, data) of the files it tables
    sources = []  # (name, data) of every recognised file
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            print(f"skipping {path}: {err}", file=sys.stderr)
            continue
        kind = kind_of(data) if isinstance(data, dict) else None
        if not kind:
            continue
        name = str(path.relative_to(folder))
        sources.append((name, data))
        if kind != "other":  # listed by its command only
            groups[kind].append((name, data))
        if kind == "accelerator_check":  # each predictor it measured joins the predictor speed table
            groups["throughput"] += [(f"{name} [{predictor}]", {**measured, "predictor": predictor,
                                                                "git": data.get("git")})
                                     for predictor, measured in (data.get("throughput") or {}).items()]
    if not sources:
        return []
    lines = ["## Speed", "",
             f"Generated from the JSON files under `{folder}`; each file's command is listed at the end of this "
             "section. Measured on this project's 2-core CPU machine unless a row says otherwise.", ""]
    if groups["bench_rounds"]:
        lines += bench_rounds_table(groups["bench_rounds"])
    if groups["profile_round"]:
        lines += profile_round_table(groups["profile_round"])
    if groups["throughput"]:
        lines += throughput_table(groups["throughput"])
    if groups["accelerator_check"]:
        lines += accelerator_check_tables(groups["accelerator_check"])
    lines += ["**Commands**", ""] + [f"- `{name}`: `{data.get('command', '?')}`" for name, data in sources] + [""]
    # Provenance notes added to a file after its run (keys ending _corrected or _because).
    notes = [f"- `{name}`: {key}: {value}" for name, data in sources for key, value in data.items()
             if key.endswith(("_corrected", "_because"))]
    lines += (["**Notes**", ""] + notes + [""]) if notes else []
    return lines


__all__ = ["speed_section", "kind_of", "BENCHMARKS_FOLDER"]
