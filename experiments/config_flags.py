"""Flags for registered configs: one `--<name>_<field>` flag per hyperparameter of every
registered algorithm or predictor, unset (None) unless the user gives it; and the device
flags the seed-sharded entry points share."""

from __future__ import annotations

import dataclasses
import typing
from typing import Callable, Iterable

from absl import app, flags

from jaxnas import distributed

FLAGS = flags.FLAGS
_TYPES = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool, str: flags.DEFINE_string}


def define(names: Iterable[str], config_class: Callable) -> None:
    for name in names:
        config_cls = config_class(name)
        types = typing.get_type_hints(config_cls)
        for field in dataclasses.fields(config_cls):
            _TYPES[types[field.name]](f"{name}_{field.name}", None, f"{name}: {field.name} (default per benchmark).")


def config(name: str, config_class: Callable, benchmark: str):
    """The per-benchmark defaults of ``name`` with any flags the user set applied, validated."""
    result = config_class(name).for_benchmark(benchmark)
    overrides = {
        field.name: FLAGS[f"{name}_{field.name}"].value
        for field in dataclasses.fields(result)
        if FLAGS[f"{name}_{field.name}"].value is not None
    }
    result = dataclasses.replace(result, **overrides)
    result.validate()
    return result


def refuse_others(selected: str, names: Iterable[str], config_class: Callable, selector_flag: str) -> None:
    """UsageError if flags of a config other than ``selected`` were given."""
    for name in names:
        if name != selected:
            given = [f.name for f in dataclasses.fields(config_class(name)) if FLAGS[f"{name}_{f.name}"].present]
            if given:
                raise app.UsageError(f"flags for {name} ({given}) given but --{selector_flag}={selected}")


def define_device_flags() -> None:
    """--num_devices, --cpu_devices and --distributed (experiments.search, predictor_eval)."""
    flags.DEFINE_integer("num_devices", None, "Devices to shard seeds over (default: all local devices, at most "
                         "one per seed).", lower_bound=1)
    flags.DEFINE_integer("cpu_devices", None, "CPU devices to make (default: JAX's one), e.g. one per core so that "
                         "seeds run on every core; an XLA_FLAGS device count wins; no effect on GPU/TPU runs.",
                         lower_bound=1)
    flags.DEFINE_bool("distributed", False, "Multi-process run (TPU pods, clusters, several processes on one "
                      "machine): call jax.distributed.initialize; every process runs the same command.")
    flags.DEFINE_string("coordinator_address", None, "With --distributed: host:port of process 0 (default: "
                        "discovered on TPU pods, SLURM and Open MPI, or $JAX_COORDINATOR_ADDRESS).")
    flags.DEFINE_integer("num_processes", None, "With --distributed: number of processes (default: discovered).",
                         lower_bound=1)
    flags.DEFINE_integer("process_id", None, "With --distributed: this process's id, 0..num_processes-1 "
                         "(default: discovered). Process 0 writes the results.", lower_bound=0)
    flags.DEFINE_integer("heartbeat_timeout_seconds", 100, "With --distributed: a process silent this long "
                         "is dead, and the runtime stops every other process with an error.", lower_bound=1)


def start_devices() -> None:
    """Applies the device flags; call before any JAX operation."""
    distributed.set_cpu_devices(FLAGS.cpu_devices)
    try:
        distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes,
                               FLAGS.process_id, FLAGS.heartbeat_timeout_seconds)
    except ValueError as err:
        raise app.UsageError(str(err)) from err
