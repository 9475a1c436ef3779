r"""PARSEC architecture search on real images (NB201 or DARTS cell space).

    nice -n 10 python -m experiments.parsec --space=nb201 --seeds=5 --output_dir=runs/parsec_nb201
    python -m experiments.parsec --preset=paper --seeds=5 --output_dir=runs/parsec_paper   # an accelerator

Every setting that changes the result is a field of ``jaxnas.weight_sharing.parsec.Config`` and has one
flag here, generated from the dataclass (help text and default from the field; the
defaults are the CPU preset, ``--preset=paper`` swaps in NB201's search setting for any
flag not given). Per seed: hold ``num_valid`` training images out as a validation
split; train the weight-sharing supernet on the rest (weights only) while a quality
gate measures, every ``gate_every`` steps, Kendall's tau between the supernet's
validation accuracy and the NB201 table over a fixed list of ``gate_cells`` random cells;
the search phase (pi's updates on unaugmented validation batches) starts once
``warmup_steps`` have passed and tau > ``gate_tau``, or at ``warmup_max_steps``.

Same-compute baseline (NB201): random sampling with weight sharing. With
``weight_sampling=uniform`` the supernet's training never depends on pi, so the run's
final weights ARE the uniformly trained supernet of the same seed and steps; the
baseline then draws N random cells, N chosen so that ranking them on ``eval_images``
validation images costs the forward passes pi's updates cost (search steps x K x
``valid_batch_size``), and picks the best by supernet validation accuracy.

Writes DIR/results.json: per seed the learned pi, its MAP cell, the NB201 benchmark
accuracy (cifar10_test_200ep) of the MAP cell, the exact expected accuracy under pi
(a sum over all 15,625 cells), the baseline's pick, the gate's tau over the steps and
at the start of the search, the effective sample size, timings and the machine load;
and summaries over seeds (mean, sample std, sem, median) with a paired comparison of
PARSEC's MAP cell and the baseline. Test images are read once, at the end, for the
supernet test accuracy of the two picks. DIR/prior.png plots pi over the steps,
DIR/gate.png the gate's tau; DIR/prior_seed<S>.json holds the final pi (``--init_prior``).

The run itself is ``jaxnas.workflows.parsec.run``; this module defines the flags and
builds its options from them.
"""

from __future__ import annotations

import dataclasses

from absl import app, flags

from experiments import config_flags
from jaxnas import workflows
from jaxnas.weight_sharing import parsec
from jaxnas.workflows import parsec as parsec_workflow

FLAGS = flags.FLAGS

CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(parsec.Config))


# One flag per parsec.Config field; its default is the field's (the CPU preset).
config_flags.define_fields(parsec.Config,
                           lambda field: f"(paper preset: {getattr(parsec.PRESETS['paper'], field.name)})")
flags.adopt_module_key_flags(config_flags)  # --help lists them
flags.DEFINE_enum("preset", "cpu", list(parsec.PRESETS),
                  "Defaults for every Config flag not given: 'cpu' (the small proxy, the flag defaults) or "
                  "'paper' (NB201's search setting, for an accelerator).")
flags.DEFINE_enum("space", "nb201", ["nb201", "darts"], "Cell search space (the gate and the baseline need nb201).")
flags.DEFINE_string("data_dir", None, "Data folder (default $JAXNAS_DATA or ../shared/data).")
flags.DEFINE_enum("depthwise", "slices", ["slices", "dense"],
                  "DARTS: depthwise conv as shifted slices (faster to run) or one dense diagonal-kernel conv "
                  "(~3x faster to compile on XLA:CPU; the same function).")
flags.DEFINE_integer("seed", 0, "First seed.", lower_bound=0)
flags.DEFINE_integer("seeds", 1, "Number of seeds, run one after another (one compilation).", lower_bound=1)
flags.DEFINE_string("output_dir", "runs/parsec", "Where results.json, the plots and the priors go.")
flags.DEFINE_integer("log_every", 50, "Steps per compiled chunk (progress line, pi snapshot).", lower_bound=1)
flags.DEFINE_string("init_prior", None, "prior_seed<S>.json of another run: start pi there (transfer).")
flags.DEFINE_float("init_prior_scale", 1.0, "Multiply transferred logits by this (<1 flattens them).")
flags.DEFINE_integer("finetune_epochs", 0, "Afterwards, train the MAP architecture alone for this many epochs.",
                     lower_bound=0)
flags.DEFINE_float("finetune_learning_rate", 0.02, "Fine-tuning SGD-Nesterov peak learning rate (cosine).")
flags.DEFINE_string("checkpoint_dir", None, "Checkpoint folder (default OUTPUT_DIR/checkpoints).")
flags.DEFINE_integer("checkpoint_every", 250, "Steps between orbax checkpoints (0: none).", lower_bound=0)
flags.DEFINE_bool("resume", False, "Continue each seed from its newest checkpoint (a seed without one starts afresh).")
flags.DEFINE_bool("overwrite", False, "Delete the checkpoints already in the checkpoint folder and start afresh "
                  "(without it, a new run refuses a folder that holds checkpoints).")
flags.DEFINE_string("compilation_cache_dir", "default",
                    "JAX persistent compilation cache ('default': $JAXNAS_CACHE/xla, or ~/.cache/jaxnas/xla; "
                    "'': off). A resumed or repeated run loads its compiled train step instead of "
                    "recompiling it (a minute or more on a CPU).")
flags.DEFINE_list("merge", None, "Instead of running: merge the results.json of these runs (folders or files; "
                  "one setting, different seeds, e.g. seeds run as parallel processes) into OUTPUT_DIR.")
flags.DEFINE_integer("test_batch_size", 500, "Test batch size for the final report (BN uses batch statistics).",
                     lower_bound=2)


# The options' flags, in the order of parsec_workflow.Options (results.json records them in this order).
OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(parsec_workflow.Options)
                      if f.name not in ("command", "flags"))
_OWN_FLAGS = CONFIG_FIELDS + OPTION_FIELDS


def _flag_values() -> dict:
    return {name: FLAGS[name].value for name in _OWN_FLAGS}


def _given_config_fields() -> dict:
    """The Config fields the user gave a flag for (the others come from --preset)."""
    return {name: FLAGS[name].value for name in CONFIG_FIELDS if FLAGS[name].present}


def _config() -> parsec.Config:
    """The preset with every flag the user gave applied (validated)."""
    try:
        return parsec_workflow.make_config(FLAGS.preset, _given_config_fields())
    except workflows.UsageError as err:
        raise app.UsageError(str(err)) from err


def _options() -> parsec_workflow.Options:
    return config_flags.workflow_options(parsec_workflow.Options, "experiments.parsec", flags=_flag_values())


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    options = _options()
    config_flags.run_workflow(lambda: parsec_workflow.run(options, _given_config_fields()))


if __name__ == "__main__":
    app.run(main)
