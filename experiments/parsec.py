r"""PARSEC architecture search on real images (NB201 or DARTS cell space).

    python -m experiments.parsec --space=nb201 --dataset=cifar10_small --samples=4 \
        --steps=1500 --output_dir=runs/parsec_nb201

Trains a weight-sharing supernet and the architecture prior pi together (importance-
weighted empirical Bayes, see jaxnas/parsec.py) and writes DIR/results.json: the learned
pi (logits and probabilities) per seed, its MAP architecture, training curves, the
supernet's test accuracy of the MAP architecture on the dataset's test split, and for
the NB201 space the benchmark's cifar10_test_200ep of the MAP cell and the exact
expected cifar10_test_200ep under pi (a sum over all 15,625 cells). DIR/prior.png
plots pi over the steps; DIR/prior_seed<S>.json holds the final pi (for --init_prior).

Transfer: ``--init_prior=OTHER/prior_seed0.json`` starts pi from a prior learned
elsewhere (e.g. on a smaller proxy network). ``--finetune_epochs=E`` then trains the
MAP architecture alone (its supernet weights as the start) and reports its test
accuracy.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags, logging

from jaxnas import checkpoint, data, input_pipeline, parsec, plotting, training  # noqa: F401 (plotting: Agg)
from jaxnas.models import darts_network, layers, nb201_network

FLAGS = flags.FLAGS
flags.DEFINE_enum("space", "nb201", ["nb201", "darts"], "Cell search space.")
flags.DEFINE_enum("dataset", "cifar10_small", input_pipeline.DATASETS, "Image dataset.")
flags.DEFINE_string("data_dir", None, "Data folder (default $JAXNAS_DATA or ../shared/data).")
flags.DEFINE_integer("samples", 4, "K: architectures sampled per step.", lower_bound=1)
flags.DEFINE_integer("steps", 1500, "Training steps (minibatches).", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "Minibatch size.", lower_bound=2)
flags.DEFINE_integer("channels", 8, "C: channels of the first stage (NB201) / cells (DARTS).", lower_bound=2)
flags.DEFINE_integer("cells", 1, "NB201: cells per stage (the benchmark network has 5).", lower_bound=1)
flags.DEFINE_integer("layers", 5, "DARTS: number of cells (reductions at 1/3 and 2/3).", lower_bound=3)
flags.DEFINE_enum("depthwise", "slices", ["slices", "dense"],
                  "DARTS: depthwise conv as shifted slices (faster to run) or one dense diagonal-kernel conv "
                  "(~3x faster to compile on XLA:CPU; same function). Use dense for small-channel searches.")
flags.DEFINE_float("learning_rate", 0.05, "Shared weights: SGD-Nesterov peak learning rate (cosine decay).")
flags.DEFINE_float("weight_decay", 5e-4, "Shared weights: L2 (a Gaussian prior on the weights).")
flags.DEFINE_float("prior_learning_rate", 0.01, "Adam learning rate of the prior logits pi.")
flags.DEFINE_integer("warmup_steps", 300, "Steps with beta=0 (uniform weights, pi frozen).", lower_bound=0)
flags.DEFINE_integer("warmup_samples", 1, "Architectures per warm-up step (uniform weights: 1 suffices).",
                     lower_bound=1)
flags.DEFINE_integer("ramp_steps", 300, "Steps over which beta ramps from 0 to 1.", lower_bound=0)
flags.DEFINE_bool("control_variate", True, "Subtract the 1/K baseline in the prior gradient.")
flags.DEFINE_integer("seed", 0, "First seed.", lower_bound=0)
flags.DEFINE_integer("seeds", 1, "Number of seeds, run one after another (one compilation).", lower_bound=1)
flags.DEFINE_string("output_dir", "runs/parsec", "Where results.json, prior.png and priors go.")
flags.DEFINE_integer("log_every", 50, "Steps per compiled chunk (progress line, pi snapshot).", lower_bound=1)
flags.DEFINE_integer("eval_every", 250, "Steps between test evaluations of the MAP architecture.", lower_bound=1)
flags.DEFINE_integer("eval_batch_size", 500, "Test batch size (BN uses batch statistics).", lower_bound=2)
flags.DEFINE_string("init_prior", None, "prior_seed<S>.json of another run: start pi there (transfer).")
flags.DEFINE_float("init_prior_scale", 1.0, "Multiply transferred logits by this (<1 flattens them).")
flags.DEFINE_integer("finetune_epochs", 0, "Afterwards, train the MAP architecture alone for this many epochs.",
                     lower_bound=0)
flags.DEFINE_float("finetune_learning_rate", 0.02, "Fine-tuning SGD-Nesterov peak learning rate (cosine).")
flags.DEFINE_string("checkpoint_dir", None, "Checkpoint folder (default OUTPUT_DIR/checkpoints).")
flags.DEFINE_integer("checkpoint_every", 250, "Steps between orbax checkpoints (0: none).", lower_bound=0)
flags.DEFINE_bool("resume", False, "Continue each seed from its newest checkpoint.")
flags.DEFINE_string("compilation_cache_dir", "default",
                    "JAX persistent compilation cache ('default': $JAXNAS_CACHE/xla, or ~/.cache/jaxnas/xla; "
                    "'': off). A resumed or repeated run loads its compiled train step instead of "
                    "recompiling it (30-60 s+ on a CPU).")


# NB201 cells whose supernet accuracy is logged at each evaluation (benchmark test acc).
_REFERENCE_CELLS = {
    "best_94.37": [3, 3, 3, 1, 2, 3],  # |conv3~0|+|conv3~0|conv3~1|+|skip~0|conv1~1|conv3~2|
    "all_conv3x3_93.76": [3, 3, 3, 3, 3, 3],
    "identity_86.53": [0, 4, 0, 1, 0, 0],  # only skip~0 reaches the output
}


# History entries recorded only at test evaluations (the others: at every chunk).
_EVAL_KEYS = ("eval_step", "map_test_accuracy", "reference_test_accuracy")


def _space_setup(num_classes: int):
    """(choices, to_arch, supernet model, describe(sample) -> dict)."""
    if FLAGS.space == "nb201":
        from jaxnas.spaces import nb201 as nb201_space

        space = nb201_space.NB201Space()
        model = nb201_network.supernet(FLAGS.channels, FLAGS.cells, num_classes)

        def describe(s):
            cell = nb201_space.NB201Cell(ops=jnp.asarray(s["ops"]))
            return {"ops": np.asarray(s["ops"]).tolist(), "string": space.to_string(cell),
                    "index": int(space.index(cell))}

        return parsec.nb201_choices(), parsec.nb201_to_arch, model, describe
    model = darts_network.supernet(FLAGS.channels, FLAGS.layers, num_classes, FLAGS.depthwise)

    def describe(s):
        arch = parsec.darts_to_arch(s)
        return {"genotype": darts_network.genotype(arch), **parsec.to_json(s)}

    return parsec.darts_choices(), parsec.darts_to_arch, model, describe


def _init_params(key, model):
    if FLAGS.space == "nb201":
        return nb201_network.init(key, model)
    return darts_network.init(key, model)


def _standalone(arch):
    if FLAGS.space == "nb201":
        ops = np.asarray(arch)
        return (nb201_network.standalone(ops, FLAGS.channels, FLAGS.cells),
                lambda p: nb201_network.subnet_params(p, ops))
    return (darts_network.standalone(arch, FLAGS.channels, FLAGS.layers, depthwise_impl=FLAGS.depthwise),
            lambda p: darts_network.subnet_params(p, arch, FLAGS.layers))


def _initial_logits(choices):
    logits = parsec.uniform_logits(choices)
    if FLAGS.init_prior:
        stored = json.loads(pathlib.Path(FLAGS.init_prior).read_text())
        if stored.get("space") != FLAGS.space:
            raise app.UsageError(f"--init_prior is a {stored.get('space')!r} prior, not {FLAGS.space!r}")
        logits = parsec.logits_from_json(choices, stored["logits"])
        logits = jax.tree_util.tree_map(lambda a: a * FLAGS.init_prior_scale, logits)
    return logits


def _finetune(key, arch, super_params, dataset, eval_images, eval_labels) -> dict:
    """Trains the MAP architecture alone from its supernet weights; returns test accuracy."""
    model, extract = _standalone(arch)
    params = {"params": extract(super_params["params"])}
    apply_fn = lambda p, x, a: model.apply(p, x)  # noqa: E731 - the architecture is fixed
    steps_per_epoch = training.num_batches(dataset.train.size, FLAGS.batch_size)
    optimizer = optax.chain(
        optax.add_decayed_weights(FLAGS.weight_decay),
        optax.sgd(optax.cosine_decay_schedule(FLAGS.finetune_learning_rate, FLAGS.finetune_epochs * steps_per_epoch),
                  momentum=0.9, nesterov=True))

    def loss_fn(p, batch, weights, k):
        x = input_pipeline.augment(k, batch["images"], dataset.mean, dataset.std)
        logp = jax.nn.log_softmax(model.apply(p, x))
        nll = -jnp.take_along_axis(logp, batch["labels"][:, None], axis=-1)[:, 0]
        return training.weighted_mean(nll, weights), {}

    train_epoch = jax.jit(lambda k, s, d: training.train(k, s, d, loss_fn, optimizer, FLAGS.batch_size, 1))
    evaluate = jax.jit(parsec.make_evaluate(apply_fn))
    train_data = {"images": jnp.asarray(dataset.train.images), "labels": jnp.asarray(dataset.train.labels)}
    state = training.init_state(params, optimizer)
    before = float(evaluate(state.params, None, eval_images, eval_labels))
    curve, start = [], time.time()
    for epoch in range(FLAGS.finetune_epochs):
        state, losses = train_epoch(jax.random.fold_in(key, epoch), state, train_data)
        acc = float(evaluate(state.params, None, eval_images, eval_labels))
        curve.append({"epoch": epoch + 1, "loss": float(losses[0]), "test_accuracy": acc})
        logging.info("finetune epoch %d/%d: loss %.4f, test accuracy %.4f", epoch + 1, FLAGS.finetune_epochs,
                     float(losses[0]), acc)
    return {"params": layers.count_params(params), "test_accuracy_before": before,
            "test_accuracy": curve[-1]["test_accuracy"] if curve else before, "curve": curve,
            "seconds": time.time() - start, "epochs": FLAGS.finetune_epochs}


def _run_seed(seed, ctx) -> dict:
    choices, to_arch, model, describe = ctx["setup"]
    config, dataset = ctx["config"], ctx["dataset"]
    init_key, run_key, finetune_key = jax.random.split(jax.random.key(seed), 3)
    state = parsec.init_state(_init_params(init_key, model), _initial_logits(choices), config)
    history: dict[str, list] = {"step": [], "seconds": [], "probabilities": [], "map": []}
    ckpt_dir = pathlib.Path(FLAGS.checkpoint_dir or pathlib.Path(FLAGS.output_dir) / "checkpoints") / f"seed_{seed}"
    ckpt = None
    if FLAGS.checkpoint_every or FLAGS.resume:
        ignored = ("resume", "seeds", "compilation_cache_dir")  # may differ between a run and its resumption
        run_info = {"seed": seed, "flags": {k: v for k, v in ctx["run_flags"].items() if k not in ignored}}
        ckpt = checkpoint.Checkpointer(ckpt_dir, run_info)
    elapsed = 0.0
    if FLAGS.resume and ckpt.latest_step() is not None:
        restored_step, state = ckpt.restore(state)
        history = json.loads((ckpt_dir / "history.json").read_text())
        # history.json is written just before each checkpoint: a kill between the two
        # leaves entries past the restored step, which the resumed run recomputes.
        keep = sum(1 for s in history["step"] if s <= restored_step)
        if not keep or history["step"][keep - 1] != restored_step:
            raise RuntimeError(f"{ckpt_dir}: history.json does not reach checkpoint step {restored_step}")
        keep_eval = sum(1 for s in history.get("eval_step", []) if s <= restored_step)
        history = {k: v[:keep_eval] if k in _EVAL_KEYS else v[:keep] for k, v in history.items()}
        elapsed = history["seconds"][-1] if history["seconds"] else 0.0
        logging.info("seed %d: resumed at step %d", seed, int(state.step))
    # Commit the state to the device either way: a restored (committed) state would
    # otherwise compile the train step a second time (jit keys on committedness).
    state = jax.device_put(state, jax.local_devices()[0])

    images, labels = jnp.asarray(dataset.train.images), jnp.asarray(dataset.train.labels)
    eval_images, eval_labels = ctx["eval_batches"]
    start = time.time() - elapsed
    while int(state.step) < config.steps:
        step0 = int(state.step)
        n = min(FLAGS.log_every, config.steps - step0)
        phase = "warmup" if step0 < config.warmup_steps else "search"
        if phase == "warmup":
            n = min(n, config.warmup_steps - step0)
        state, metrics = ctx["run_chunk"][phase](state, run_key, images, labels, n)
        metrics = {k: np.asarray(v)[:n] for k, v in metrics.items()}
        step = int(state.step)
        probs = parsec.probabilities(choices, state.logits)
        map_sample = parsec.map_architecture(choices, state.logits)
        point = {"step": step, "seconds": time.time() - start,
                 **{k: float(v.mean()) for k, v in metrics.items()}, "map": describe(map_sample)}
        if FLAGS.space == "nb201":
            point["map_benchmark"] = float(ctx["table"][point["map"]["index"]])
            point["expected_benchmark"] = float(parsec.nb201_expected_accuracy(probs["ops"], ctx["table"]))
        if step % FLAGS.eval_every == 0 or step == config.steps:
            point["eval_step"] = step
            # Architectures go in as host arrays: one compiled evaluate for all of them.
            host = lambda a: jax.tree_util.tree_map(lambda v: np.asarray(v, np.int32), a)  # noqa: E731
            point["map_test_accuracy"] = float(ctx["evaluate"](state.params, host(to_arch(map_sample)), eval_images,
                                                               eval_labels))
            # Fixed reference cells show what the shared weights currently favour.
            point["reference_test_accuracy"] = {
                name: float(ctx["evaluate"](state.params, host(ops), eval_images, eval_labels))
                for name, ops in ctx["references"].items()}
        for k, v in point.items():
            history.setdefault(k, []).append(v)
        history["probabilities"].append(parsec.to_json(probs))
        bench = (f", MAP {point['map_benchmark']:.2f} / E_pi {point['expected_benchmark']:.2f} (NB201 test)"
                 if FLAGS.space == "nb201" else "")
        test = f", MAP supernet test acc {point['map_test_accuracy']:.4f}" if "map_test_accuracy" in point else ""
        if "reference_test_accuracy" in point and point["reference_test_accuracy"]:
            test += " (references: " + ", ".join(
                f"{k} {v:.4f}" for k, v in point["reference_test_accuracy"].items()) + ")"
        logging.info("seed %d step %d/%d (%.0fs): loss %.3f, acc %.3f, ESS %.2f/%d, beta %.2f, H(pi) %.2f%s%s",
                     seed, step, config.steps, point["seconds"], point["loss"], point["accuracy"], point["ess"],
                     config.warmup_samples if phase == "warmup" else config.num_samples, point["beta"],
                     point["entropy"], bench, test)
        if ckpt is not None and FLAGS.checkpoint_every and (
                step // FLAGS.checkpoint_every > step0 // FLAGS.checkpoint_every or step == config.steps):
            tmp = ckpt_dir / "history.json.tmp"  # history first (atomic rename), then the state
            tmp.write_text(json.dumps(history))
            tmp.replace(ckpt_dir / "history.json")
            ckpt.save(step, state)
    if ckpt is not None:
        ckpt.close()
    seconds = time.time() - start

    map_sample = parsec.map_architecture(choices, state.logits)
    probs = parsec.probabilities(choices, state.logits)
    result = {
        "seed": seed,
        "logits": parsec.to_json(state.logits),
        "probabilities": parsec.to_json(probs),
        "map": describe(map_sample),
        "entropy": float(parsec.entropy(choices, state.logits)),
        "map_test_accuracy_supernet": history["map_test_accuracy"][-1],
        "search_seconds": seconds,
        "curves": {k: v for k, v in history.items() if k not in ("probabilities",)},
        "probabilities_over_time": history["probabilities"],
    }
    if FLAGS.space == "nb201":
        result["map_cifar10_test_200ep"] = float(ctx["table"][result["map"]["index"]])
        result["expected_cifar10_test_200ep"] = float(parsec.nb201_expected_accuracy(probs["ops"], ctx["table"]))
    prior_file = pathlib.Path(FLAGS.output_dir) / f"prior_seed{seed}.json"
    prior_file.write_text(json.dumps({"space": FLAGS.space, "seed": seed, "logits": result["logits"],
                                      "probabilities": result["probabilities"], "source": str(FLAGS.output_dir)}))
    if FLAGS.finetune_epochs:
        result["finetune"] = _finetune(finetune_key, to_arch(map_sample), state.params, dataset,
                                       eval_images, eval_labels)
    return result


def _plot_prior(results: list, choices, path: pathlib.Path) -> None:
    """pi over the steps: one panel per categorical, option probabilities stacked."""
    import matplotlib.pyplot as plt  # noqa: PLC0415 - jaxnas.plotting selected the Agg backend

    run = results[0]
    steps = run["curves"]["step"]
    panels = [(c, idx) for c in choices for idx in np.ndindex(*c.shape)]
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, (c, idx) in zip(axes.flat, panels):
        series = np.array([np.asarray(p[c.name])[idx] for p in run["probabilities_over_time"]])
        valid = np.flatnonzero(c.mask[idx])
        ax.stackplot(steps, series[:, valid].T, labels=[c.options[o] for o in valid])
        ax.set_title(f"{c.name}{list(idx)}", fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=7)
    fig.suptitle(f"PARSEC prior over steps ({FLAGS.space}, seed {run['seed']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _config() -> parsec.Config:
    return parsec.Config(
        num_samples=FLAGS.samples, batch_size=FLAGS.batch_size, steps=FLAGS.steps,
        learning_rate=FLAGS.learning_rate, weight_decay=FLAGS.weight_decay,
        prior_learning_rate=FLAGS.prior_learning_rate, warmup_steps=FLAGS.warmup_steps,
        warmup_samples=FLAGS.warmup_samples, ramp_steps=FLAGS.ramp_steps, control_variate=FLAGS.control_variate)


def _enable_compilation_cache() -> None:
    path = FLAGS.compilation_cache_dir
    if path == "default":
        path = str(pathlib.Path(os.environ.get("JAXNAS_CACHE", pathlib.Path.home() / ".cache" / "jaxnas")) / "xla")
    if path:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _make_context(setup, config: parsec.Config, dataset, table) -> dict:
    """Compiled pieces and data of a run (``setup`` as returned by :func:`_space_setup`)."""
    choices, to_arch, model, _ = setup
    chunks = {}
    for phase, k in (("warmup", config.warmup_samples), ("search", config.num_samples)):
        if phase == "search" and k == config.warmup_samples:
            chunks[phase] = chunks["warmup"]  # same K: beta is traced, so one program serves both phases
            continue
        step_fn = parsec.make_train_step(model.apply, choices, to_arch, config, dataset.mean, dataset.std, k)
        # One compiled program per phase whatever the chunk length (num_steps is traced).
        chunks[phase] = jax.jit(parsec.make_run_steps(step_fn, config.batch_size, FLAGS.log_every))
    images, labels = input_pipeline.eval_batches(dataset.test, FLAGS.eval_batch_size)
    eval_images = jax.jit(lambda x: input_pipeline.normalize(x, dataset.mean, dataset.std))(images)
    return {
        "setup": setup, "config": config, "dataset": dataset, "table": table, "run_chunk": chunks,
        "evaluate": jax.jit(parsec.make_evaluate(model.apply)),
        "references": _REFERENCE_CELLS if FLAGS.space == "nb201" else {},
        "eval_batches": (eval_images, jnp.asarray(labels)), "run_flags": _flag_values(),
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = _config()
    try:
        config.validate()
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    try:
        dataset = input_pipeline.load(FLAGS.dataset, FLAGS.data_dir)
        table = None
        if FLAGS.space == "nb201":
            from jaxnas import benchmarks  # noqa: PLC0415

            bench = benchmarks.load_benchmark("nb201_cifar10", FLAGS.data_dir)
            table = jnp.asarray(bench.reported)  # cifar10_test_200ep, space index order
    except (data.DataFileError, ImportError) as err:
        sys.exit(f"error: {err}")
    out = pathlib.Path(FLAGS.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    _enable_compilation_cache()
    setup = _space_setup(dataset.num_classes)
    choices, to_arch, model, _ = setup
    ctx = _make_context(setup, config, dataset, table)
    logging.info("PARSEC %s on %s: %s", FLAGS.space, dataset.name, config)
    results = [_run_seed(seed, ctx) for seed in range(FLAGS.seed, FLAGS.seed + FLAGS.seeds)]

    summary: dict[str, Any] = {"seeds": [r["seed"] for r in results]}
    keys = ["map_test_accuracy_supernet", "search_seconds"]
    if FLAGS.space == "nb201":
        keys += ["map_cifar10_test_200ep", "expected_cifar10_test_200ep"]
    if FLAGS.finetune_epochs:
        for r in results:
            r["finetune_test_accuracy"] = r["finetune"]["test_accuracy"]
        keys.append("finetune_test_accuracy")
    for k in keys:
        values = np.array([r[k] for r in results], np.float64)
        summary[k] = {"mean": float(values.mean()), "std": float(values.std()), "values": values.tolist()}
    record = {
        "command": " ".join(["python -m experiments.parsec", *sys.argv[1:]]),
        "space": FLAGS.space, "dataset": dataset.name, "config": config.__dict__, "flags": _flag_values(),
        "network": {"params_supernet": None}, "summary": summary, "runs": results,
    }
    record["network"]["params_supernet"] = layers.count_params(_init_params(jax.random.key(0), model))
    (out / "results.json").write_text(json.dumps(record, indent=1))
    _plot_prior(results, choices, out / "prior.png")
    for k in keys:
        print(f"  {k}: {summary[k]['mean']:.4f} ± {summary[k]['std']:.4f}  {summary[k]['values']}")
    for r in results:
        print(f"  seed {r['seed']}: MAP {r['map'].get('string', r['map'].get('genotype'))}")
    print(f"PARSEC {FLAGS.space} -> {out / 'results.json'}, {out / 'prior.png'}")


_OWN_FLAGS = (
    "space", "dataset", "data_dir", "samples", "steps", "batch_size", "channels", "cells", "layers", "depthwise",
    "learning_rate", "weight_decay", "prior_learning_rate", "warmup_steps", "warmup_samples", "ramp_steps",
    "control_variate",
    "seed", "seeds", "output_dir", "log_every", "eval_every", "eval_batch_size", "init_prior", "init_prior_scale",
    "finetune_epochs", "finetune_learning_rate", "checkpoint_dir", "checkpoint_every", "resume",
    "compilation_cache_dir",
)


def _flag_values() -> dict:
    return {name: FLAGS[name].value for name in _OWN_FLAGS}


if __name__ == "__main__":
    app.run(main)
