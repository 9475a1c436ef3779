"""Offline evaluation of a predictor (``experiments.predictor_eval``): per seed, fit on L
random cells and rank all the others; write OUTPUT_DIR/results.json and scatter.png, each
through a temporary file."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import jax
import numpy as np
from absl import logging

from jaxnas import checkpoint, distributed, outputs, plotting, predictor_eval, predictors, provenance
from jaxnas.config import Config
from jaxnas.workflows import RunError, UsageError, load_benchmark, method_config, prepare_folders


@dataclasses.dataclass(frozen=True)
class Options:
    """An evaluation's settings but the predictor's hyperparameters (one entry-point flag each)."""

    predictor: str
    benchmark: str
    labels: int  # labelled (training) architectures per seed
    seeds: int
    seed: int  # first seed
    seed_batch: Optional[int]  # seeds per vmapped program
    num_devices: Optional[int]
    checkpoint_dir: Optional[str]
    resume: bool
    overwrite: bool
    output_dir: str
    data_dir: Optional[str]
    nb101_tfrecord: Optional[str]
    preset: str  # the predictor configuration before flags (jaxnas.presets), recorded
    command: str  # the command line, recorded in results.json


def run(options: Options, predictor_config: Callable[[str], Config], start_devices: Callable[[], None]) -> None:
    """Evaluates the predictor and writes OUTPUT_DIR. ``predictor_config(benchmark_name)``
    gives the predictor's configuration; ``start_devices()`` is called once the folders are
    checked, before any JAX operation. Raises UsageError for settings that cannot run,
    RunError (a one-line message) for bad data files, unusable folders or checkpoints,
    too few devices, a failed write."""
    out = prepare_folders(options.output_dir, options.checkpoint_dir, options.resume, options.overwrite)
    start_devices()
    benchmark = load_benchmark(options.benchmark, options.data_dir, options.nb101_tfrecord)
    if options.labels > benchmark.num_available - 2:
        raise UsageError(f"--labels={options.labels} leaves too few of the {benchmark.num_available} "
                         f"architectures of {benchmark.name} to evaluate on")
    config, run_record = method_config(predictor_config, benchmark, options.preset, f"predictor {options.predictor}")

    predictor = predictors.make_predictor(options.predictor, benchmark.search_space, config)
    try:
        result = predictor_eval.evaluate(
            predictor, benchmark, num_labels=options.labels, num_seeds=options.seeds, seed=options.seed,
            predictor_name=options.predictor, seed_batch=options.seed_batch, log=logging.info,
            num_devices=options.num_devices, checkpoint_dir=options.checkpoint_dir, resume=options.resume,
            overwrite=options.overwrite, run_info={"config": config.flat()})
    except (distributed.DeviceCountError, checkpoint.CheckpointMismatchError,
            checkpoint.CheckpointExistsError, FileNotFoundError) as err:  # incl. CheckpointUnreadableError
        raise RunError(str(err)) from err
    if jax.process_index() != 0:
        return  # one writer in multi-host runs

    summary = result.to_json({
        "config": config.flat(),
        "benchmark_info": benchmark.summary(),
        "label_column": benchmark.signal_name,
        "evaluation_column": benchmark.reported_name,
        "command": options.command,
        **run_record,
        "git": provenance.git_of_parts(run_record["git"], result.parts),
    })
    # First seed: every evaluated cell, with the training cells highlighted.
    y_true = np.concatenate([benchmark.reported[result.test_indices[0]], benchmark.reported[result.train_indices[0]]])
    y_pred = np.concatenate([result.test_predictions[0], result.train_predictions[0]])
    num_test = result.test_indices.shape[1]
    tau = summary["metrics"]["kendall_tau"]["per_seed"][0]
    try:
        outputs.write_json(out / "results.json", summary)
        outputs.atomic_write(out / "scatter.png", lambda f: plotting.plot_predicted_vs_true(
            y_true, y_pred, f,
            title=f"{options.predictor} on {benchmark.name}, L={options.labels}, seed {options.seed} (tau {tau:.3f})",
            highlight=np.arange(num_test, len(y_true)),
        ))
    except OSError as err:  # disk full, a file-size limit: the previous files stay intact
        raise RunError(f"writing the results to {out} failed ({err}); files already there are unchanged") from err
    for name in predictor_eval.METRICS:
        print(f"  {name:>18}: {predictor_eval.mean_std(result.metrics[name])}")
    print(f"{options.predictor} on {benchmark.name}, L={options.labels}, {options.seeds} seeds, "
          f"{result.wall_seconds:.1f}s -> {out / 'results.json'}, {out / 'scatter.png'}")
