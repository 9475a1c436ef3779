"""Flags for registered configs: one `--<name>_<field>` flag per hyperparameter of every
registered algorithm or predictor (a combined config's parts flattened: ``--gcn_hidden``
for the predictor part's ``hidden``), unset (None) unless the user gives it; and the device
flags the seed-sharded entry points share.

A config flag's help is the field's declared help (``jaxnas.config.field``) and its
defaults: the value most benchmarks use, then the benchmarks that use another
(``for_benchmark``). :func:`define_fields` makes plain ``--<field>`` flags with the field's
default (experiments.parsec, experiments.supernet)."""

from __future__ import annotations

import collections
import dataclasses
import sys
from typing import Any, Callable, Iterable

from absl import app, flags

from jaxnas import benchmarks, distributed, presets, provenance, workflows
from jaxnas.config import help_text

FLAGS = flags.FLAGS
_TYPES = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool, str: flags.DEFINE_string}


def define(names: Iterable[str], config_class: Callable) -> None:
    for name in names:
        config_cls = config_class(name)
        defaults = {bench: config_cls.for_benchmark(bench).flat() for bench in benchmarks.BENCHMARK_NAMES}
        for field, field_type in config_cls.leaf_fields():
            default = _defaults_text({b: values[field.name] for b, values in defaults.items()})
            _TYPES[field_type](f"{name}_{field.name}", None, f"{_sentence(help_text(field))} (default {default}).")


def define_fields(config_cls: type, note: Callable[[dataclasses.Field], str] = lambda field: "") -> None:
    """One flag ``--<field>`` per hyperparameter of ``config_cls``, its default the field's
    (absl shows it), its help the field's declared help and ``note(field)``; a field with
    choices is an enum flag."""
    for field, field_type in config_cls.leaf_fields():
        text = " ".join(filter(None, [help_text(field), note(field)]))
        if "choices" in field.metadata:
            flags.DEFINE_enum(field.name, field.default, list(field.metadata["choices"]), text)
        else:
            _TYPES[field_type](field.name, field.default, text)


def _sentence(text: str) -> str:
    """``text`` without its final full stop, to be followed by '(default ...)'."""
    return text[:-1] if text.endswith(".") else text


def _defaults_text(values: dict) -> str:
    """'20' or '20; 100 on nb101, nb101_subset' (the most common value first)."""
    by_value = collections.defaultdict(list)
    for bench, value in values.items():
        by_value[repr(value)].append(bench)
    ordered = sorted(by_value.items(), key=lambda item: -len(item[1]))
    text = ordered[0][0]
    for value, names in ordered[1:]:
        text += f"; {value} on {_bench_names(names)}"
    return text


def _bench_names(names: list) -> str:
    """Benchmark names, with a whole family written as 'nbgraph_*'."""
    out = []
    for family in ("nb201_", "nb101", "nbgraph_"):
        members = [b for b in benchmarks.BENCHMARK_NAMES if b.startswith(family)]
        if len(members) > 1 and all(b in names for b in members):
            out.append(family.rstrip("_") + "_*" if family.endswith("_") else family + "*")
            names = [b for b in names if b not in members]
    return ", ".join(out + list(names))


def config(name: str, config_class: Callable, benchmark: str, preset: str = "default"):
    """``name``'s configuration ``preset`` (jaxnas.presets: the project default or the
    paper's) for ``benchmark``, with any flags the user set applied, validated."""
    result = presets.config(config_class(name), benchmark, preset)
    overrides = {field: FLAGS[f"{name}_{field}"].value for field in result.flat()
                 if FLAGS[f"{name}_{field}"].value is not None}
    result = result.replace(**overrides)
    result.validate()
    return result


def refuse_others(selected: str, names: Iterable[str], config_class: Callable, selector_flag: str) -> None:
    """UsageError if flags of a config other than ``selected`` were given."""
    for name in names:
        if name != selected:
            given = [f.name for f, _ in config_class(name).leaf_fields() if FLAGS[f"{name}_{f.name}"].present]
            if given:
                raise app.UsageError(f"flags for {name} ({given}) given but --{selector_flag}={selected}")


def workflow_options(options_class: type, program: str, **given: Any):
    """A workflow's ``Options`` dataclass: each field from the flag of the same name unless
    in ``given``, and ``command`` this run's command line (``python -m PROGRAM ...``)."""
    names = [f.name for f in dataclasses.fields(options_class) if f.name != "command" and f.name not in given]
    return options_class(**{name: FLAGS[name].value for name in names}, **given,
                         command=provenance.command_line(program))


def run_workflow(run: Callable[[], Any]) -> Any:
    """``run()``'s result; a ``workflows.UsageError`` becomes absl's usage error (the
    message and the usage line), a ``workflows.RunError`` one ``error:`` line and exit
    status 1, without a traceback."""
    try:
        return run()
    except workflows.UsageError as err:
        raise app.UsageError(str(err)) from err
    except workflows.RunError as err:
        sys.exit(f"error: {err}")


def define_preset_flag() -> None:
    """--preset (experiments.search, predictor_eval): the paper's configuration or the default."""
    flags.DEFINE_enum("preset", "default", presets.PRESETS, "Configuration of the method before flags are applied: "
                      "the project default or the paper's (see jaxnas.presets); recorded in results.json.")


def define_device_flags() -> None:
    """--num_devices, --cpu_devices and --distributed (experiments.search, predictor_eval)."""
    flags.DEFINE_integer("num_devices", None, "Devices to shard seeds over (default: all local devices, at most "
                         "one per seed).", lower_bound=1)
    define_cpu_devices_flag()
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


def define_checkpoint_flags(saved: str) -> None:
    """--checkpoint_dir, --resume and --overwrite (experiments.search, predictor_eval);
    ``saved`` says what is saved when, e.g. "the search state every
    --checkpoint_every_steps"."""
    flags.DEFINE_string("checkpoint_dir", None, f"Save {saved} here (orbax; default: no checkpoints); must hold "
                        "no checkpoint unless --resume or --overwrite.")
    flags.DEFINE_bool("resume", False, "Continue from the newest checkpoint in --checkpoint_dir that restores (an "
                      "unreadable newest one is set aside); it must come from the same command.")
    flags.DEFINE_bool("overwrite", False, "Delete the checkpoints already in --checkpoint_dir and start afresh "
                      "(without it, a used --checkpoint_dir is refused).")


def define_cpu_devices_flag() -> None:
    """--cpu_devices (also experiments.predictor_throughput); apply it with
    ``distributed.set_cpu_devices(FLAGS.cpu_devices)`` before any JAX operation."""
    flags.DEFINE_integer("cpu_devices", None, "CPU devices to make (default: JAX's one), e.g. one per core so that "
                         "seeds (or a split batch) run on every core; an XLA_FLAGS device count wins; no effect on "
                         "GPU/TPU runs.", lower_bound=1)


def start_devices() -> None:
    """Applies the device flags; call before any JAX operation."""
    distributed.use_unrolled_cpu_rng()  # the same random bits, compiled faster on CPU
    distributed.set_cpu_devices(FLAGS.cpu_devices)
    try:
        distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes,
                               FLAGS.process_id, FLAGS.heartbeat_timeout_seconds)
    except ValueError as err:
        raise app.UsageError(str(err)) from err
