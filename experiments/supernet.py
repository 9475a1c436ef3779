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
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from experiments import config_flags
from jaxnas import benchmarks, checkpoint, input_pipeline, metrics, outputs, provenance, supernet
from jaxnas.spaces import nb201

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
    try:
        out = outputs.prepare_output_dir(FLAGS.output_dir)
    except outputs.OutputDirError as err:
        raise app.UsageError(str(err)) from err

    data = input_pipeline.with_validation(input_pipeline.load(FLAGS.dataset, FLAGS.data_dir),
                                          config.num_valid, config.seed)
    model = supernet.make_model(config)
    per_epoch = supernet.steps_per_epoch(config, data.train.size)
    total = per_epoch * config.epochs
    optimizer = supernet.make_optimizer(config, total)
    key = jax.random.key(config.seed)
    state = supernet.init_state(jax.random.fold_in(key, 1), model, optimizer)
    # The run's identity is its training settings; evaluation settings may change on --resume.
    training_config = {k: v for k, v in dataclasses.asdict(config).items() if not k.startswith("eval_")}
    ckpt = checkpoint.Checkpointer(out / "checkpoints", {"config": training_config,
                                                         "dataset": FLAGS.dataset, "space": FLAGS.space})
    seconds_file = out / "checkpoints" / "train_seconds.json"  # training time of the saved steps
    earlier_seconds = 0.0
    if FLAGS.resume and ckpt.latest_step() is not None:
        step, state = ckpt.restore(state)
        if seconds_file.exists():
            saved = json.loads(seconds_file.read_text())
            earlier_seconds = saved["train_seconds"] if saved["step"] == step else float("nan")
        logging.info("resumed from step %d", step)
    elif not FLAGS.resume and ckpt.latest_step() is not None:
        raise app.UsageError(f"{out / 'checkpoints'} holds a checkpoint; pass --resume or use a new --output_dir")

    chunk = supernet.make_train_chunk(model, optimizer, data.train, data.mean, data.std, config.batch_size, per_epoch)
    train_key = jax.random.fold_in(key, 2)
    start = time.perf_counter()
    epoch_losses = []
    while int(state.step) < total:
        state, losses = chunk(state, train_key)
        epoch_losses.append(float(jnp.mean(losses)))
        outputs.write_json(seconds_file, {"step": int(state.step),
                                          "train_seconds": earlier_seconds + time.perf_counter() - start})
        ckpt.save(int(state.step), state)
        logging.info("epoch %d/%d: train loss %.4f, %.0fs", int(state.step) // per_epoch, config.epochs,
                     epoch_losses[-1], time.perf_counter() - start)
    train_seconds_this_process = time.perf_counter() - start
    train_seconds = earlier_seconds + train_seconds_this_process
    ckpt.close()

    space = nb201.NB201Space()
    all_ops = np.asarray(space.from_index_batch(jnp.arange(space.num_architectures)).ops, np.int32)
    if FLAGS.max_cells:
        all_ops = all_ops[:FLAGS.max_cells]
    valid = data.valid
    evaluate = supernet.make_cell_evaluator(model, valid.images[:config.eval_images], valid.labels[:config.eval_images],
                                            data.mean, data.std, config.eval_batch)
    start = time.perf_counter()
    accuracy, loss = supernet.evaluate_all(evaluate, state.params, all_ops, config.eval_chunk, log=logging.info)
    eval_seconds = time.perf_counter() - start
    weak = accuracy if FLAGS.weak_label == "accuracy" else -loss

    num = all_ops.shape[0]
    bench = benchmarks.load_benchmark("nb201_cifar10", FLAGS.data_dir)
    taus = {}
    for name, truth in [("cifar10_test_200ep", bench.reported),
                        ("cifar10_valid_12ep", bench.columns["cifar10_valid_12ep"]),
                        ("cifar10_test_12ep", bench.columns["cifar10_test_12ep"])]:
        for label_name, values in [("accuracy", accuracy), ("neg_loss", -loss)]:
            taus[f"{label_name}_vs_{name}"] = float(metrics.kendall_tau(jnp.asarray(truth[:num]), jnp.asarray(values)))
    table = np.full(space.num_architectures, np.nan, np.float32)
    table[:num] = weak
    # Cost of the weak labels (read by the predictor experiments): measured training time
    # (all processes of a resumed run), measured time to evaluate the table, steps.
    outputs.save_npz(out / "weak_labels.npz", weak_labels=table, supernet_accuracy=accuracy,
                     supernet_neg_loss=-loss, ops=all_ops, train_seconds=np.float64(train_seconds),
                     eval_seconds=np.float64(eval_seconds), steps=np.int64(total))
    results = {
        "command": " ".join(["python -m experiments.supernet", *sys.argv[1:]]), "git": provenance.git_state(),
        "config": dataclasses.asdict(config), "dataset": FLAGS.dataset, "train_images": data.train.size,
        "steps": total, "epoch_train_loss": epoch_losses,
        "train_seconds": train_seconds, "train_seconds_this_process": train_seconds_this_process,
        "eval_seconds": eval_seconds, "cells_evaluated": num,
        "kendall_tau": taus, "weak_label": FLAGS.weak_label,
        "supernet_accuracy_mean": float(accuracy.mean()), "supernet_accuracy_max": float(accuracy.max()),
        "load_average": os.getloadavg()[0], "cpu_count": os.cpu_count(),
    }
    outputs.write_json(out / "results.json", results)
    logging.info("supernet: train %.0fs, eval of %d cells %.0fs, tau %s", train_seconds, num, eval_seconds, taus)


if __name__ == "__main__":
    app.run(main)
