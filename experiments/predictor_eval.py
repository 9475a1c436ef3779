r"""Offline evaluation of a predictor: fit on L random cells, rank all the others.

    python -m experiments.predictor_eval --predictor=assessor --benchmark=nb201_cifar10 \
        --labels=100 --seeds=5 --output_dir=runs/eval/assessor_nb201_L100

Per seed, L labelled architectures are drawn uniformly from the benchmark's cells
(labels = the SIGNAL column) and the predictor ranks every other cell; it is scored
against the REPORTED column with Kendall tau, Spearman rho, NDCG@10 (AceNAS relevance)
and precision@top-5 % (see jaxnas.predictor_eval). Writes DIR/results.json (per seed and
mean ± std) and DIR/scatter.png (predicted vs true, first seed), each through a
temporary file so an interrupted write never replaces a previous good file; DIR is
created and checked writable before anything runs. Every hyperparameter of every
registered predictor is a flag ``--<predictor>_<field>`` (e.g. ``--gcn_epochs``); unset
ones take the predictor's per-benchmark default.
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import numpy as np
from absl import app, flags, logging

from experiments import config_flags
from jaxnas import benchmarks, data, distributed, outputs, plotting, predictor_eval, predictors, provenance

FLAGS = flags.FLAGS
flags.DEFINE_enum("predictor", None, predictors.PREDICTOR_NAMES, "Predictor to evaluate.")
flags.DEFINE_enum("benchmark", "nb201_cifar10", benchmarks.BENCHMARK_NAMES, "Benchmark.")
flags.DEFINE_integer("labels", 100, "Labelled (training) architectures per seed.", lower_bound=2)
flags.DEFINE_integer("seeds", 5, "Number of seeds (independent training sets).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "First seed; seeds seed..seed+seeds-1.", lower_bound=0)
flags.DEFINE_integer("seed_batch", None, "Seeds per vmapped program (default: all at once).", lower_bound=1)
config_flags.define_device_flags()
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
    try:
        out = outputs.prepare_output_dir(FLAGS.output_dir)  # before any work, not after
    except outputs.OutputDirError as err:
        sys.exit(f"error: {err}")  # a clear message, no traceback
    config_flags.start_devices()  # before any JAX operation
    kwargs = {"tfrecord_path": FLAGS.nb101_tfrecord} if FLAGS.nb101_tfrecord else {}
    try:
        benchmark = benchmarks.load_benchmark(FLAGS.benchmark, FLAGS.data_dir, **kwargs)
    except data.DataFileError as err:
        sys.exit(f"error: {err}")
    if FLAGS.labels > benchmark.num_available - 2:
        raise app.UsageError(f"--labels={FLAGS.labels} leaves too few of the {benchmark.num_available} "
                             f"architectures of {benchmark.name} to evaluate on")
    try:
        config = config_flags.config(FLAGS.predictor, predictors.config_class, benchmark.name, FLAGS.preset)
        run_record = provenance.run_record(config, benchmark.name, FLAGS.preset)  # the code as the run starts
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    logging.info("benchmark %s", benchmark.summary())
    logging.info("predictor %s %s", FLAGS.predictor, config)

    predictor = predictors.make_predictor(FLAGS.predictor, benchmark.search_space, config)
    try:
        result = predictor_eval.evaluate(
            predictor, benchmark, num_labels=FLAGS.labels, num_seeds=FLAGS.seeds, seed=FLAGS.seed,
            predictor_name=FLAGS.predictor, seed_batch=FLAGS.seed_batch, log=logging.info,
            num_devices=FLAGS.num_devices)
    except distributed.DeviceCountError as err:
        sys.exit(f"error: {err}")  # a clear message, no traceback
    if jax.process_index() != 0:
        return  # one writer in multi-host runs

    summary = result.to_json({
        "config": dataclasses.asdict(config),
        "benchmark_info": benchmark.summary(),
        "label_column": benchmark.signal_name,
        "evaluation_column": benchmark.reported_name,
        "command": " ".join(["python -m experiments.predictor_eval", *sys.argv[1:]]),
        **run_record,
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
            title=f"{FLAGS.predictor} on {benchmark.name}, L={FLAGS.labels}, seed {FLAGS.seed} (tau {tau:.3f})",
            highlight=np.arange(num_test, len(y_true)),
        ))
    except OSError as err:  # disk full, a file-size limit: the previous files stay intact
        sys.exit(f"error: writing the results to {out} failed ({err}); files already there are unchanged")
    for name in predictor_eval.METRICS:
        print(f"  {name:>18}: {predictor_eval.mean_std(result.metrics[name])}")
    print(f"{FLAGS.predictor} on {benchmark.name}, L={FLAGS.labels}, {FLAGS.seeds} seeds, "
          f"{result.wall_seconds:.1f}s -> {out / 'results.json'}, {out / 'scatter.png'}")


if __name__ == "__main__":
    app.run(main)
