r"""Train the NB201 weight-sharing supernet and write the weak-label table of all cells.

    nice -n 10 python -m experiments.supernet --space=nb201 --output_dir=runs/supernet_nb201 \
        [--epochs=10 --channels=8 --cells_per_stage=1 --eval_images=200] [--resume]

Single-path uniform-sampling training on cifar10_small (``--num_valid`` training images
held out), one orbax checkpoint per epoch under OUTPUT_DIR/checkpoints (``--resume``
continues from the newest; the result equals an uninterrupted run), then every one of
the 15,625 cells is evaluated with inherited weights on ``--eval_images`` held-out
images. Writes OUTPUT_DIR/weak_labels.npz (``weak_labels`` = the column chosen by
``--weak_label``, plus ``supernet_accuracy``, ``supernet_neg_loss``, ``ops``; rows in the
NB201 space's index order) -- pass it to AceNAS as ``--acenas_weak_labels=PATH`` -- and
OUTPUT_DIR/results.json (times, Kendall tau of the weak labels against
cifar10_test_200ep and the 12-epoch columns).

The run itself is ``jaxnas.workflows.supernet.run``; this module defines the flags and
builds its options from them.
"""

from __future__ import annotations

import dataclasses

from absl import app, flags

from experiments import config_flags
from jaxnas.weight_sharing import input_pipeline, supernet
from jaxnas.workflows import supernet as supernet_workflow

FLAGS = flags.FLAGS
flags.DEFINE_enum("space", "nb201", ["nb201"], "Cell space of the supernet (NB201 only).")
flags.DEFINE_enum("dataset", "cifar10_small", list(input_pipeline.DATASETS), "Training images.")
flags.DEFINE_string("output_dir", "runs/supernet_nb201", "Where checkpoints, weak_labels.npz, results.json go.")
flags.DEFINE_string("data_dir", None, "Data folder (default $JAXNAS_DATA or ../shared/data).")
flags.DEFINE_bool("resume", False, "Continue from the newest checkpoint in OUTPUT_DIR/checkpoints.")
flags.DEFINE_enum("weak_label", "accuracy", ["accuracy", "neg_loss"], "Column saved as weak_labels.")
flags.DEFINE_integer("max_cells", None, "Evaluate only the first N cells (smoke tests).")

config_flags.define_fields(supernet.SupernetConfig)
flags.adopt_module_key_flags(config_flags)  # --help lists them


def _config() -> supernet.SupernetConfig:
    fields = dataclasses.fields(supernet.SupernetConfig)
    config = supernet.SupernetConfig(**{f.name: FLAGS[f.name].value for f in fields})
    try:
        config.validate()
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    return config


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = _config()
    options = config_flags.workflow_options(supernet_workflow.Options, "experiments.supernet")
    config_flags.run_workflow(lambda: supernet_workflow.run(options, config))


if __name__ == "__main__":
    app.run(main)
