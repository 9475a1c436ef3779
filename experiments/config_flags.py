"""Flags for registered configs: one `--<name>_<field>` flag per hyperparameter of every
registered algorithm or predictor, unset (None) unless the user gives it; and the device
flags the seed-sharded entry points share."""

from __future__ import annotations

import dataclasses
import typing
from typing import Callable, Iterable

from absl import app, flags

from jaxnas import distributed, presets

FLAGS = flags.FLAGS
_TYPES = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool, str: flags.DEFINE_string}


def define(names: Iterable[str], config_class: Callable) -> None:
    for name in names:
        config_cls = config_class(name)
        types = typing.get_type_hints(config_cls)
        for field in dataclasses.fields(config_cls):
            _TYPES[types[field.name]](f"{name}_{field.name}", None, f"{name}: {field.name} (default per benchmark).")


def config(name: str, config_class: Callable, benchmark: str, preset: str = "default"):
    """``name``'s configuration ``preset`` (jaxnas.presets: the project default or the
    paper's) for ``benchmark``, with any flags the user set applied, validated."""
    result = presets.config(config_class(name), benchmark, preset)
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


def define_preset_flag() -> None:
    """--preset (experiments.search, predictor_eval): the paper's configuration or the default."""
    flags.DEFINE_enum("preset", "default", presets.PRESETS, "Configuration of the method before flags are applied: "
                      "the project default or the paper's (see jaxnas.presets); recorded in results.json.")


def define_device_flags() -> None:
    """--num_devices, --cpu_devices and --distributed (experiments.search, predictor_eval)."""
    flags.DEFINE_integer("num_devices", None, "Devices to shard seeds over (default: all local devices, at most "
                         "one per seed).", lower_bound=1)
    flags.DEFINE_integer("cpu_devices", None, "CPU devices to make (default: JAX's one), e.g. one per core so that "
                         "seeds run on every core; an XLA_FLAGS device count wins; no effect on GPU/TPU runs.",
                         lower_bound=1)
    flags.DEFINE_bool("distributed", False, "Multi-host run (TPU pods, clusters): call jax.distributed.initialize; "
                      "every host runs the same command.")


def start_devices() -> None:
    """Applies the device flags; call before any JAX operation."""
    distributed.set_cpu_devices(FLAGS.cpu_devices)
    distributed.initialize(FLAGS.distributed)
