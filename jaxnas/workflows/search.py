"""A NAS search on a tabular benchmark, many seeds in one program (``experiments.search``):
load the benchmark, run the algorithm over the seeds (checkpointed, resumable), and write
OUTPUT_DIR/results.json and curve.png, each through a temporary file."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import jax

from jaxnas import checkpoint, distributed, metrics, outputs, plotting, provenance, search
from jaxnas.config import Config
from jaxnas.search import runner
from jaxnas.workflows import RunError, UsageError, load_benchmark, method_config, prepare_folders

EXIT_BUDGET_NOT_REACHED = 3  # the exit status when a seed stopped at max_steps before spending its budget


@dataclasses.dataclass(frozen=True)
class Options:
    """A search's settings but the algorithm's hyperparameters (one entry-point flag each)."""

    benchmark: str
    algorithm: str
    budget: int  # queries per search
    seeds: int
    seed: int  # first seed
    output_dir: str
    data_dir: Optional[str]
    nb101_tfrecord: Optional[str]
    report_at: Sequence[str]  # query counts at which results.json summarises the curve
    max_steps: Optional[int]
    num_devices: Optional[int]
    checkpoint_dir: Optional[str]
    checkpoint_every_steps: Optional[int]
    resume: bool
    overwrite: bool
    preset: str  # the algorithm configuration before flags (jaxnas.presets), recorded
    command: str  # the command line, recorded in results.json


def run(options: Options, algorithm_config: Callable[[str], Config], start_devices: Callable[[], None]) -> int:
    """Runs the search and writes OUTPUT_DIR; returns the exit status (0, or
    EXIT_BUDGET_NOT_REACHED). ``algorithm_config(benchmark_name)`` gives the algorithm's
    configuration; ``start_devices()`` is called once the folders are checked, before any
    JAX operation. Raises UsageError for settings that cannot run, RunError (a one-line
    message) for bad data files, unusable folders or checkpoints, an impossible budget, a
    failed write."""
    # Before hours of work, not after.
    out = prepare_folders(options.output_dir, options.checkpoint_dir, options.resume, options.overwrite)
    start_devices()
    benchmark = load_benchmark(options.benchmark, options.data_dir, options.nb101_tfrecord)
    config, run_record = method_config(algorithm_config, benchmark, options.preset, f"algorithm {options.algorithm}")

    try:
        algorithm = search.make_algorithm(options.algorithm, benchmark.search_space, config)
    except ValueError as err:  # settings that the space or the method cannot take
        raise UsageError(str(err)) from err
    try:
        result = runner.run_search(
            algorithm,
            benchmark,
            budget=options.budget,
            num_seeds=options.seeds,
            seed=options.seed,
            algorithm_name=options.algorithm,
            max_steps=options.max_steps,
            num_devices=options.num_devices,
            checkpoint_dir=options.checkpoint_dir,
            checkpoint_every_steps=options.checkpoint_every_steps,
            resume=options.resume,
            overwrite=options.overwrite,
            run_info={"config": config.flat()},
        )
    except (distributed.DeviceCountError, runner.SearchSettingsError, checkpoint.CheckpointMismatchError,
            checkpoint.CheckpointExistsError, FileNotFoundError) as err:  # incl. CheckpointUnreadableError
        raise RunError(str(err)) from err
    if jax.process_index() != 0:
        return 0  # one writer in multi-host runs

    report_at = sorted({int(q) for q in options.report_at})
    summary = result.to_json(
        {
            "config": config.flat(),
            "benchmark_info": benchmark.summary(),
            "command": options.command,
            **run_record,
            "git": provenance.git_of_parts(run_record["git"], result.parts),
        },
        report_at=report_at,
    )
    try:
        outputs.write_json(out / "results.json", summary)
        outputs.atomic_write(out / "curve.png", lambda f: plotting.plot_search_curves(
            {options.algorithm: result.curve},
            f,
            title=f"{benchmark.name}: {benchmark.reported_name}",
            optimum=benchmark.optimum,
        ))
    except OSError as err:  # disk full, a file-size limit: the previous files stay intact
        raise RunError(f"writing the results to {out} failed ({err}); files already there are unchanged") from err
    final = summary["final"]
    for q, stats in summary["at_queries"].items():
        print(f"  after {q:>5} queries: {metrics.format_summary(stats)}")
    budget = f"budget {options.budget}"
    if not result.budget_reached:
        short = result.shortfall()
        budget += (f" NOT REACHED by {len(short['seeds'])} of {options.seeds} seeds (they stopped at "
                   f"--max_steps after {min(short['queries'])}..{max(short['queries'])} queries)")
    print(
        f"{options.algorithm} on {benchmark.name}, {options.seeds} seeds, {budget}: "
        f"best {benchmark.reported_name} {metrics.format_summary(final)} (optimum "
        f"{benchmark.optimum:.3f}), {result.wall_seconds:.1f}s -> {out / 'results.json'}, {out / 'curve.png'}"
    )
    return 0 if result.budget_reached else EXIT_BUDGET_NOT_REACHED
