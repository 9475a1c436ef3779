"""Whole runs of the entry points (experiments/*.py), as functions of their settings.

An entry point parses its flags into these settings and makes one call; the logic (seed
loop, resumption, evaluation, summaries, plots, results.json) lives here, importable and
testable without absl flags."""

from __future__ import annotations

from typing import Callable, Optional

from absl import logging


class UsageError(ValueError):
    """Settings that cannot be run as given (the entry point reports it as a usage error)."""


class RunError(RuntimeError):
    """A run that cannot go on: missing data, an unusable checkpoint (reported as ``error: ...``)."""


def prepare_folders(output_dir: str, checkpoint_dir: Optional[str], resume: bool, overwrite: bool):
    """The output folder (a pathlib.Path), created and checked writable, and the checkpoint
    folder's, before any work; conflicting checkpoint settings are a UsageError, an
    unusable folder a RunError."""
    from jaxnas import outputs  # noqa: PLC0415

    if resume and not checkpoint_dir:
        raise UsageError("--resume needs --checkpoint_dir")
    if resume and overwrite:
        raise UsageError("--resume continues the checkpoints that --overwrite deletes: give one of them")
    try:
        out = outputs.prepare_output_dir(output_dir)
        if checkpoint_dir:
            outputs.prepare_output_dir(checkpoint_dir)
    except outputs.OutputDirError as err:
        raise RunError(str(err)) from err
    return out


def load_benchmark(name: str, data_dir: Optional[str], nb101_tfrecord: Optional[str] = None):
    """The benchmark ``name``; a bad or missing data file is a RunError naming it."""
    from jaxnas import benchmarks, data  # noqa: PLC0415 - loading JAX only when a run starts

    kwargs = {"tfrecord_path": nb101_tfrecord} if nb101_tfrecord else {}
    try:
        return benchmarks.load_benchmark(name, data_dir, **kwargs)
    except data.DataFileError as err:
        raise RunError(str(err)) from err


def method_config(make_config: Callable, benchmark, preset: str, method: str):
    """(config, provenance record) of the method for ``benchmark``: the record is taken as
    the run starts (the code it ran); invalid settings are a UsageError."""
    from jaxnas import provenance  # noqa: PLC0415

    try:
        config = make_config(benchmark.name)
        record = provenance.run_record(config, benchmark.name, preset)
    except ValueError as err:
        raise UsageError(str(err)) from err
    logging.info("benchmark %s", benchmark.summary())
    logging.info("%s %s", method, config)
    return config, record
