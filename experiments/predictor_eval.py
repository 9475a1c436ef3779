r"""Offline evaluation of a predictor: fit on L random cells, rank all the others.

    python -m experiments.predictor_eval --predictor=assessor --benchmark=nb201_cifar10 \
        --labels=100 --seeds=5 --output_dir=runs/eval/assessor_nb201_L100

Per seed, L labelled architectures are drawn uniformly from the benchmark's cells
(labels = the SIGNAL column) and the predictor ranks every other cell; it is scored
against the REPORTED column with Kendall tau, Spearman rho, NDCG@10 (AceNAS relevance)
and precision@top-5 % (see jaxnas.predictor_eval). Writes DIR/results.json (per seed and
mean ± std) and DIR/scatter.png (predicted vs true, first seed), each through a
temporary file so an interrupted write never replaces a previous good file; DIR is
created and checked writable before anything runs. With ``--checkpoint_dir`` the seeds
done are saved after every ``--seed_batch`` and ``--resume`` continues a killed run.
Every hyperparameter of every registered predictor is a flag ``--<predictor>_<field>``
(e.g. ``--gcn_epochs``); unset ones take the predictor's per-benchmark default.

The run itself is ``jaxnas.workflows.predictor_eval.run``; this module defines the flags
and builds its options from them.
"""

from __future__ import annotations

from absl import app, flags

from experiments import config_flags
from jaxnas import benchmarks, predictors
from jaxnas.workflows import predictor_eval as predictor_eval_workflow

FLAGS = flags.FLAGS
flags.DEFINE_enum("predictor", None, predictors.PREDICTOR_NAMES, "Predictor to evaluate.")
flags.DEFINE_enum("benchmark", "nb201_cifar10", benchmarks.BENCHMARK_NAMES, "Benchmark.")
flags.DEFINE_integer("labels", 100, "Labelled (training) architectures per seed.", lower_bound=2)
flags.DEFINE_integer("seeds", 5, "Number of seeds (independent training sets).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "First seed; seeds seed..seed+seeds-1.", lower_bound=0)
flags.DEFINE_integer("seed_batch", None, "Seeds per vmapped program (default: all at once).", lower_bound=1)
config_flags.define_device_flags()
config_flags.define_checkpoint_flags("the finished seeds' outputs after every --seed_batch")
flags.DEFINE_string("output_dir", "runs/predictor_eval", "Where results.json and scatter.png go (created, and "
                    "checked writable, before anything runs).")
flags.DEFINE_string("data_dir", None, "Benchmark data folder (default $JAXNAS_DATA or ../shared/data).")
flags.DEFINE_string("nb101_tfrecord", None, "Path of nasbench_only108.tfrecord for --benchmark=nb101 "
                    "(default: the one in the data folder).")
flags.mark_flag_as_required("predictor")

config_flags.define_preset_flag()
config_flags.define(predictors.PREDICTOR_NAMES, predictors.config_class)
flags.adopt_module_key_flags(config_flags)  # --help lists the device and predictor flags too


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config_flags.refuse_others(FLAGS.predictor, predictors.PREDICTOR_NAMES, predictors.config_class, "predictor")
    options = config_flags.workflow_options(predictor_eval_workflow.Options, "experiments.predictor_eval")
    config_flags.run_workflow(lambda: predictor_eval_workflow.run(
        options,
        lambda benchmark: config_flags.config(FLAGS.predictor, predictors.config_class, benchmark, FLAGS.preset),
        config_flags.start_devices))


if __name__ == "__main__":
    app.run(main)
