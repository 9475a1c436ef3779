"""The NB201 weight-sharing supernet's run (``experiments.supernet``): train it with
single-path uniform sampling (one checkpoint per epoch, resumable), evaluate every cell with
inherited weights, and write OUTPUT_DIR/weak_labels.npz and results.json."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxnas import benchmarks, checkpoint, metrics, outputs, progress, provenance
from jaxnas.spaces import nb201
from jaxnas.weight_sharing import input_pipeline, supernet
from jaxnas.workflows import UsageError


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything about a run but its :class:`supernet.SupernetConfig` (one entry-point flag each)."""

    space: str  # 'nb201'
    dataset: str  # training images (input_pipeline.DATASETS)
    output_dir: str
    data_dir: Optional[str]
    resume: bool  # continue from the newest checkpoint in OUTPUT_DIR/checkpoints
    weak_label: str  # column saved as weak_labels: 'accuracy' or 'neg_loss'
    max_cells: Optional[int]  # evaluate only the first N cells
    command: str  # the command line, recorded in results.json


def run(options: Options, config: supernet.SupernetConfig) -> None:
    """Trains (or resumes) the supernet of ``config``, evaluates the cells and writes OUTPUT_DIR.
    Raises UsageError for an unusable output folder or one holding a checkpoint without --resume."""
    try:
        out = outputs.prepare_output_dir(options.output_dir)
    except outputs.OutputDirError as err:
        raise UsageError(str(err)) from err

    data = input_pipeline.with_validation(input_pipeline.load(options.dataset, options.data_dir),
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
                                                         "dataset": options.dataset, "space": options.space})
    seconds_file = out / "checkpoints" / "train_seconds.json"  # training time of the saved steps
    earlier_seconds = 0.0
    if options.resume and ckpt.latest_step() is not None:
        step, state = ckpt.restore(state)
        if seconds_file.exists():
            saved = json.loads(seconds_file.read_text())
            earlier_seconds = saved["train_seconds"] if saved["step"] == step else float("nan")
        logging.info("resumed from step %d", step)
    elif not options.resume and ckpt.latest_step() is not None:
        raise UsageError(f"{out / 'checkpoints'} holds a checkpoint; pass --resume or use a new --output_dir")

    chunk = supernet.make_train_chunk(model, optimizer, data.train, data.mean, data.std, config.batch_size, per_epoch)
    train_key = jax.random.fold_in(key, 2)
    start, start_step = time.perf_counter(), int(state.step)
    epoch_losses = []
    while int(state.step) < total:
        state, losses = chunk(state, train_key)
        epoch_losses.append(float(jnp.mean(losses)))
        step, seconds = int(state.step), time.perf_counter() - start
        outputs.write_json(seconds_file, {"step": step, "train_seconds": earlier_seconds + seconds})
        ckpt.save(step, state)
        logging.info("epoch %d/%d: train loss %.4f, %.0fs%s", step // per_epoch, config.epochs, epoch_losses[-1],
                     seconds, progress.time_left(step - start_step, total - step, seconds))
    train_seconds_this_process = time.perf_counter() - start
    train_seconds = earlier_seconds + train_seconds_this_process
    ckpt.close()

    space = nb201.NB201Space()
    all_ops = np.asarray(space.from_index_batch(jnp.arange(space.num_architectures)).ops, np.int32)
    if options.max_cells:
        all_ops = all_ops[:options.max_cells]
    valid = data.valid
    evaluate = supernet.make_cell_evaluator(model, valid.images[:config.eval_images], valid.labels[:config.eval_images],
                                            data.mean, data.std, config.eval_batch)
    start = time.perf_counter()
    accuracy, loss = supernet.evaluate_all(evaluate, state.params, all_ops, config.eval_chunk, log=logging.info)
    eval_seconds = time.perf_counter() - start
    weak = accuracy if options.weak_label == "accuracy" else -loss

    num = all_ops.shape[0]
    bench = benchmarks.load_benchmark("nb201_cifar10", options.data_dir)
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
        "command": options.command, "git": provenance.git_of_parts(ckpt.parts[-1]["git"], ckpt.parts),
        "config": dataclasses.asdict(config), "dataset": options.dataset, "train_images": data.train.size,
        "steps": total, "epoch_train_loss": epoch_losses,
        "train_seconds": train_seconds, "train_seconds_this_process": train_seconds_this_process,
        "eval_seconds": eval_seconds, "cells_evaluated": num,
        "kendall_tau": taus, "weak_label": options.weak_label,
        "supernet_accuracy_mean": float(accuracy.mean()), "supernet_accuracy_max": float(accuracy.max()),
        "load_average": os.getloadavg()[0], "cpu_count": os.cpu_count(),
    }
    outputs.write_json(out / "results.json", results)
    logging.info("supernet: train %.0fs, eval of %d cells %.0fs, tau %s", train_seconds, num, eval_seconds, taus)

