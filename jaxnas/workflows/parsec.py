"""PARSEC architecture search on real images (NB201 or DARTS cell space): the whole run
of ``experiments.parsec`` as functions of a :class:`parsec.Config` (what changes the
result) and :class:`Options` (how the run is carried out and where it writes).

Per seed: hold ``num_valid`` training images out as a validation split; train the
weight-sharing supernet on the rest while a quality gate (NB201) measures Kendall's tau
between the supernet's validation accuracy and the NB201 table over fixed random cells;
pi's updates start once the gate opens or at ``warmup_max_steps``. For NB201 a
same-compute baseline (random sampling with weight sharing) is ranked on the same
supernet. :func:`run` writes OUTPUT_DIR/results.json, prior.png, gate.png (NB201) and
prior_seed<S>.json; :func:`merge` combines runs of separate processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.stats
from absl import logging

from jaxnas import checkpoint, data, outputs, progress, provenance, training
from jaxnas import plotting  # noqa: F401 - selects matplotlib's Agg backend for the plots below
from jaxnas.weight_sharing import darts_network, input_pipeline, layers, nb201_network, parsec, supernet
from jaxnas.workflows import RunError, UsageError


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything about a run but its :class:`parsec.Config` (one entry-point flag each)."""

    preset: str  # the parsec.PRESETS entry the config started from (recorded)
    space: str  # 'nb201' or 'darts'
    data_dir: Optional[str]
    depthwise: str  # DARTS depthwise conv: 'slices' or 'dense'
    seed: int  # first seed
    seeds: int
    output_dir: str
    log_every: int  # steps per compiled chunk
    init_prior: Optional[str]  # prior_seed<S>.json to start pi from
    init_prior_scale: float
    finetune_epochs: int
    finetune_learning_rate: float
    checkpoint_dir: Optional[str]
    checkpoint_every: int
    resume: bool
    overwrite: bool
    compilation_cache_dir: str
    test_batch_size: int
    merge: Optional[Sequence[str]]  # results of runs to merge instead of running
    command: str  # the command line, recorded in results.json
    flags: dict  # every flag's value, recorded in results.json and checked on --resume


GATE_CELLS_SEED = 20190213  # the gate's fixed random cells are the same for every seed and run
BASELINE_STREAM = 3  # fold_in(key(seed), 3) draws the baseline's random cells

# History entries recorded only at gate evaluations (the others: at every chunk).
_GATE_KEYS = ("gate_step", "gate_tau", "gate_tau_valid_12ep", "gate_mean_accuracy")


def make_config(preset: str, given: dict) -> parsec.Config:
    """Preset ``preset`` (parsec.PRESETS) with the fields in ``given`` replaced, validated."""
    config = dataclasses.replace(parsec.PRESETS[preset], **given)
    try:
        config.validate()
    except ValueError as err:
        raise UsageError(str(err)) from err
    return config


def space_setup(config: parsec.Config, num_classes: int, space: str, depthwise: str):
    """(choices, to_arch, supernet model, describe(sample) -> dict) of cell space ``space``
    ('nb201' or 'darts'; ``depthwise``: the DARTS depthwise conv implementation)."""
    if space == "nb201":
        from jaxnas.spaces import nb201 as nb201_space

        cells = nb201_space.NB201Space()
        model = nb201_network.supernet(config.channels, config.cells, num_classes)

        def describe(s):
            cell = nb201_space.NB201Cell(ops=jnp.asarray(s["ops"]))
            return {"ops": np.asarray(s["ops"]).tolist(), "string": cells.to_string(cell),
                    "index": int(cells.index(cell))}

        return parsec.nb201_choices(), parsec.nb201_to_arch, model, describe
    model = darts_network.supernet(config.channels, config.layers, num_classes, depthwise)

    def describe(s):
        arch = parsec.darts_to_arch(s)
        return {"genotype": darts_network.genotype(arch), **parsec.to_json(s)}

    return parsec.darts_choices(), parsec.darts_to_arch, model, describe


def _init_params(key, model, image_shape, space: str):
    if space == "nb201":
        return nb201_network.init(key, model, image_shape)
    return darts_network.init(key, model, image_shape)


def _standalone(config: parsec.Config, arch, space: str, depthwise: str):
    if space == "nb201":
        ops = np.asarray(arch)
        return (nb201_network.standalone(ops, config.channels, config.cells),
                lambda p: nb201_network.subnet_params(p, ops))
    return (darts_network.standalone(arch, config.channels, config.layers, depthwise_impl=depthwise),
            lambda p: darts_network.subnet_params(p, arch, config.layers))


def _initial_logits(choices, options: Options):
    logits = parsec.uniform_logits(choices)
    if options.init_prior:
        stored = json.loads(pathlib.Path(options.init_prior).read_text())
        if stored.get("space") != options.space:
            raise UsageError(f"--init_prior is a {stored.get('space')!r} prior, not {options.space!r}")
        logits = parsec.logits_from_json(choices, stored["logits"])
        logits = jax.tree_util.tree_map(lambda a: a * options.init_prior_scale, logits)
    return logits


def gate_cell_indices(num: int) -> np.ndarray:
    """The quality gate's fixed random NB201 cells (space indices; the same in every run)."""
    return np.sort(np.random.default_rng(GATE_CELLS_SEED).choice(15625, num, replace=False))


def baseline_num_cells(config: parsec.Config, search_steps: int) -> int:
    """N for the same-compute baseline: ranking N cells on eval_images validation images
    costs the forward passes of pi's updates (search_steps x K x valid_batch_size)."""
    return max(1, round(search_steps * config.num_samples * config.valid_batch_size / config.eval_images))


def _kendall(a, b) -> float:
    return float(scipy.stats.kendalltau(np.asarray(a), np.asarray(b)).statistic)


def _finetune(key, config, arch, super_params, dataset, evaluate_test, options: Options) -> dict:
    """Trains the MAP architecture alone from its supernet weights; returns test accuracy."""
    model, extract = _standalone(config, arch, options.space, options.depthwise)
    params = {"params": extract(super_params["params"])}
    steps = options.finetune_epochs * training.num_batches(dataset.train.size, config.batch_size)
    optimizer = optax.chain(
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(optax.cosine_decay_schedule(options.finetune_learning_rate, steps), momentum=0.9, nesterov=True))

    def loss_fn(p, batch, weights, k):
        x = input_pipeline.augment(k, batch["images"], dataset.mean, dataset.std)
        logp = jax.nn.log_softmax(model.apply(p, x))
        nll = -jnp.take_along_axis(logp, batch["labels"][:, None], axis=-1)[:, 0]
        return training.weighted_mean(nll, weights), {}

    train_epoch = jax.jit(lambda k, s, d: training.train(k, s, d, loss_fn, optimizer, config.batch_size, 1))
    evaluate = evaluate_test(lambda p, x, a: model.apply(p, x))
    dummy = np.zeros((1,), np.int32)  # the architecture is fixed; lax.map over one dummy
    train_data = {"images": jnp.asarray(dataset.train.images), "labels": jnp.asarray(dataset.train.labels)}
    state = training.init_state(params, optimizer)
    before = float(evaluate(state.params, dummy)[0][0]) / 100
    curve, start = [], time.time()
    for epoch in range(options.finetune_epochs):
        state, losses = train_epoch(jax.random.fold_in(key, epoch), state, train_data)
        acc = float(evaluate(state.params, dummy)[0][0]) / 100
        curve.append({"epoch": epoch + 1, "loss": float(losses[0]), "test_accuracy": acc})
        logging.info("finetune epoch %d/%d: loss %.4f, test accuracy %.4f", epoch + 1, options.finetune_epochs,
                     float(losses[0]), acc)
    return {"params": layers.count_params(params), "test_accuracy_before": before,
            "test_accuracy": curve[-1]["test_accuracy"] if curve else before, "curve": curve,
            "seconds": time.time() - start, "epochs": options.finetune_epochs}


def _gate(ctx, params, valid_eval) -> dict:
    """The quality gate: supernet validation accuracy of the fixed cells, tau against the table."""
    evaluate = lambda p, ops: ctx["evaluate"](p, ops, *valid_eval)  # noqa: E731
    accuracy, _ = supernet.evaluate_all(evaluate, params, ctx["gate_ops"], len(ctx["gate_ops"]),
                                        log=lambda *_: None)
    return {"gate_tau": _kendall(accuracy, ctx["table"][ctx["gate_indices"]]),
            "gate_tau_valid_12ep": _kendall(accuracy, ctx["valid_12ep"][ctx["gate_indices"]]),
            "gate_mean_accuracy": float(np.mean(accuracy))}


def _baseline(ctx, seed, params, search_steps, valid_eval) -> dict:
    """Random sampling with weight sharing: best of N random cells by supernet validation accuracy."""
    config = ctx["config"]
    num = baseline_num_cells(config, search_steps)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(jax.random.key(seed),
                                                                                     BASELINE_STREAM))))
    indices = rng.choice(15625, num, replace=False)
    start = time.time()
    evaluate = lambda p, ops: ctx["evaluate"](p, ops, *valid_eval)  # noqa: E731
    accuracy, loss = supernet.evaluate_all(evaluate, params, ctx["all_ops"][indices], len(ctx["gate_ops"]),
                                           log=lambda *_: None)
    best = int(np.lexsort((loss, -accuracy))[0])  # highest accuracy, then lowest loss
    return {"num_cells": num, "index": int(indices[best]), "ops": ctx["all_ops"][indices[best]].tolist(),
            "supernet_valid_accuracy": float(accuracy[best]),
            "cifar10_test_200ep": float(ctx["table"][indices[best]]),
            "mean_cifar10_test_200ep_of_candidates": float(np.mean(ctx["table"][indices])),
            "tau_of_candidates": _kendall(accuracy, ctx["table"][indices]),
            "eval_images": config.eval_images, "seconds": time.time() - start}


def run_seed(seed: int, ctx: dict, options: Options) -> dict:
    """One seed of the search (resumed from its newest checkpoint with ``options.resume``):
    its result record; writes prior_seed<S>.json."""
    choices, to_arch, model, describe = ctx["setup"]
    config, nb201 = ctx["config"], options.space == "nb201"
    dataset = input_pipeline.with_validation(ctx["dataset"], config.num_valid, seed)
    valid_images, valid_labels = jnp.asarray(dataset.valid.images), jnp.asarray(dataset.valid.labels)
    valid_eval = supernet.eval_arrays(dataset.valid.images[:config.eval_images],
                                      dataset.valid.labels[:config.eval_images], dataset.mean, dataset.std,
                                      config.eval_batch_size)
    init_key, run_key, finetune_key = jax.random.split(jax.random.key(seed), 3)
    search_start = parsec.NOT_STARTED if nb201 else config.warmup_steps  # no gate without a table
    params = _init_params(init_key, model, dataset.image_shape, options.space)
    state = parsec.init_state(params, _initial_logits(choices, options), config, search_start)
    history: dict[str, list] = {"step": [], "seconds": [], "probabilities": [], "map": []}
    ckpt_dir = checkpoint_dir(options, seed)
    ckpt = None
    if options.checkpoint_every or options.resume:
        ignored = ("resume", "overwrite", "seeds", "compilation_cache_dir")  # may differ between a run and its resumption
        run_info = {"seed": seed, "flags": {k: v for k, v in options.flags.items() if k not in ignored},
                    "config": dataclasses.asdict(config)}
        # --resume: a seed with no checkpoint yet starts afresh (resume=None: checked here).
        ckpt = checkpoint.Checkpointer(ckpt_dir, run_info, resume=None if options.resume else False,
                                       overwrite=options.overwrite)
    elapsed = 0.0
    if options.resume and ckpt.latest_step() is not None:
        restored = ckpt.restore_with_info(state)
        state = restored.state
        # The history (and with it the wall time so far) is saved in the same step as the state.
        history = restored.info.get("history")
        if not isinstance(history, dict) or not history.get("step") or history["step"][-1] != restored.step:
            raise checkpoint.CheckpointUnreadableError(
                f"{ckpt_dir}: checkpoint step {restored.step} holds no history of its run; start afresh with "
                "--overwrite or another --checkpoint_dir")
        elapsed = history["seconds"][-1] if history["seconds"] else 0.0
        logging.info("seed %d: resumed at step %d", seed, int(state.step))
    # Commit the state to the device either way: a restored (committed) state would
    # otherwise compile the train step a second time (jit keys on committedness).
    state = jax.device_put(state, jax.local_devices()[0])

    images, labels = jnp.asarray(dataset.train.images), jnp.asarray(dataset.train.labels)
    start, load_start, cpu_start = time.time() - elapsed, os.getloadavg(), time.process_time()
    pace_start, pace_step = time.time(), int(state.step)  # this process's pace, for the time left
    while int(state.step) < config.steps:
        step0 = int(state.step)
        n = min(options.log_every - step0 % options.log_every, config.steps - step0)
        waiting = int(state.search_start) == parsec.NOT_STARTED
        if nb201:  # chunks end at every gate evaluation
            n = min(n, config.gate_every - step0 % config.gate_every)
            if waiting and step0 < config.warmup_max_steps:
                n = min(n, config.warmup_max_steps - step0)
        state, metrics = ctx["run_chunk"](state, run_key, images, labels, valid_images, valid_labels, n)
        metrics = {k: np.asarray(v)[:n] for k, v in metrics.items()}
        step = int(state.step)
        probs = parsec.probabilities(choices, state.logits)
        map_sample = parsec.map_architecture(choices, state.logits)
        searching = metrics["searching"] > 0
        point = {"step": step, "seconds": time.time() - start, "loss": float(metrics["loss"].mean()),
                 "accuracy": float(metrics["accuracy"].mean()), "entropy": float(metrics["entropy"][-1]),
                 "search_steps": int(searching.sum())}
        for k in ("ess", "beta", "valid_loss"):  # pi's statistics exist on search steps only
            point[k] = float(metrics[k][searching].mean()) if searching.any() else None
        point["map"] = describe(map_sample)
        if nb201:
            point["map_benchmark"] = float(ctx["table"][point["map"]["index"]])
            point["expected_benchmark"] = float(parsec.nb201_expected_accuracy(probs["ops"], ctx["table"]))
            if step % config.gate_every == 0 or step == config.steps or (waiting and step == config.warmup_max_steps):
                point["gate_step"] = step
                point.update(_gate(ctx, state.params, valid_eval))
                if waiting and step >= config.warmup_steps and (
                        point["gate_tau"] > config.gate_tau or step >= config.warmup_max_steps):
                    # Committed like the rest of the state: an uncommitted leaf would recompile the step.
                    state = jax.device_put(state._replace(search_start=np.int32(step)), jax.local_devices()[0])
                    logging.info("seed %d: search phase starts at step %d (gate tau %.3f, %s)", seed, step,
                                 point["gate_tau"], "gate open" if point["gate_tau"] > config.gate_tau
                                 else "step limit")
        for k, v in point.items():
            history.setdefault(k, []).append(v)
        history["probabilities"].append(parsec.to_json(probs))
        bench = (f", MAP {point['map_benchmark']:.2f} / E_pi {point['expected_benchmark']:.2f} (NB201 test)"
                 if nb201 else "")
        gate = f", gate tau {point['gate_tau']:.3f}" if "gate_tau" in point else ""
        prior = (f", ESS {point['ess']:.2f}/{config.num_samples} beta {point['beta']:.3g}"
                 if point["ess"] is not None else " (warm-up)")
        left = progress.time_left(step - pace_step, config.steps - step, time.time() - pace_start)
        logging.info("seed %d step %d/%d (%.0fs%s): loss %.3f, acc %.3f%s, H(pi) %.2f%s%s", seed, step, config.steps,
                     point["seconds"], left and f"{left} in this seed",
                     point["loss"], point["accuracy"], prior, point["entropy"], bench, gate)
        if ckpt is not None and options.checkpoint_every and (
                step // options.checkpoint_every > step0 // options.checkpoint_every or step == config.steps):
            ckpt.save(step, state, info={"history": history})
    if ckpt is not None:
        ckpt.close()
    seconds = time.time() - start

    map_sample = parsec.map_architecture(choices, state.logits)
    probs = parsec.probabilities(choices, state.logits)
    search_start = int(state.search_start)
    search_steps = config.steps - search_start
    result = {
        "seed": seed,
        "logits": parsec.to_json(state.logits),
        "probabilities": parsec.to_json(probs),
        "map": describe(map_sample),
        "entropy": float(parsec.entropy(choices, state.logits)),
        "search_start": search_start,
        "search_steps": search_steps,
        "search_seconds": seconds,
        # CPU time of this process (all threads) since the start or resumption: the wall time
        # above depends on what else runs on the machine (load average: 1-minute, start and end).
        "cpu_seconds": time.process_time() - cpu_start,
        "load_average_start_end": [load_start[0], os.getloadavg()[0]],
        "curves": {k: v for k, v in history.items() if k not in ("probabilities",)},
        "probabilities_over_time": history["probabilities"],
    }
    if ckpt is not None and len(ckpt.parts) > 1:  # resumed: whose code made which steps
        result["git_parts"] = ckpt.parts
    searched = [i for i, s in enumerate(history["search_steps"]) if s]
    result["ess_mean"] = float(np.mean([history["ess"][i] for i in searched])) if searched else None
    result["beta_mean"] = float(np.mean([history["beta"][i] for i in searched])) if searched else None
    archs = [to_arch(map_sample)]
    if nb201:
        result["map_cifar10_test_200ep"] = float(ctx["table"][result["map"]["index"]])
        result["expected_cifar10_test_200ep"] = float(parsec.nb201_expected_accuracy(probs["ops"], ctx["table"]))
        gate_steps = history.get("gate_step", [])
        at_start = gate_steps.index(search_start)
        result["tau_at_search_start"] = history["gate_tau"][at_start]
        result["gate_opened_by"] = "tau" if result["tau_at_search_start"] > config.gate_tau else "step_limit"
        result["tau_final"] = history["gate_tau"][-1]
        result["baseline"] = _baseline(ctx, seed, state.params, search_steps, valid_eval)
        result["baseline_cifar10_test_200ep"] = result["baseline"]["cifar10_test_200ep"]
        archs.append(jnp.asarray(result["baseline"]["ops"], jnp.int32))
    # The test split is read here only, for the final report.
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(x, jnp.int32) for x in a]), *archs)
    test_accuracy, _ = ctx["evaluate_test"](model.apply)(state.params, stacked)
    result["map_test_accuracy_supernet"] = float(test_accuracy[0]) / 100
    if nb201:
        result["baseline"]["test_accuracy_supernet"] = float(test_accuracy[1]) / 100
    outputs.write_json(pathlib.Path(options.output_dir) / f"prior_seed{seed}.json",
                       {"space": options.space, "seed": seed, "logits": result["logits"],
                        "probabilities": result["probabilities"], "source": str(options.output_dir)}, indent=None)
    if options.finetune_epochs:
        result["finetune"] = _finetune(finetune_key, config, to_arch(map_sample), state.params, dataset,
                                       ctx["evaluate_test"], options)
    return result


def _plot_prior(results: list, choices, path: pathlib.Path, space: str) -> None:
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
    fig.suptitle(f"PARSEC prior over steps ({space}, seed {run['seed']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    outputs.save_figure(fig, path, dpi=110)
    plt.close(fig)


def _plot_gate(results: list, path: pathlib.Path) -> None:
    """The gate's tau over the steps, one line per seed, with each seed's search start."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for r in results:
        line, = ax.plot(r["curves"]["gate_step"], r["curves"]["gate_tau"], marker="o", ms=3,
                        label=f"seed {r['seed']}")
        ax.axvline(r["search_start"], color=line.get_color(), ls=":", lw=1)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("step (dotted: search starts)")
    ax.set_ylabel("Kendall tau, gate cells")
    ax.legend(fontsize=7)
    fig.tight_layout()
    outputs.save_figure(fig, path, dpi=110)
    plt.close(fig)


def summarize(values) -> dict:
    """mean, sample std (ddof=1), sem, median, min, max and the values."""
    v = np.asarray(values, np.float64)
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "sem": std / np.sqrt(v.size), "median": float(np.median(v)),
            "min": float(v.min()), "max": float(v.max()), "n": int(v.size), "values": v.tolist()}


def paired_comparison(a, b) -> dict:
    """a - b on the same seeds: mean, sample std, wins/ties/losses, paired t and Wilcoxon p-values."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = a - b
    out = {**summarize(diff), "wins": int((diff > 0).sum()), "ties": int((diff == 0).sum()),
           "losses": int((diff < 0).sum()), "t_test_p": None, "wilcoxon_p": None}
    if diff.size > 1 and np.any(diff != 0):
        out["t_test_p"] = float(scipy.stats.ttest_rel(a, b).pvalue)
        out["wilcoxon_p"] = float(scipy.stats.wilcoxon(a, b, zero_method="zsplit").pvalue)
    return out


def _enable_compilation_cache(path: str) -> None:
    """JAX's persistent compilation cache in ``path`` ('default': $JAXNAS_CACHE/xla or
    ~/.cache/jaxnas/xla; '': off)."""
    if path == "default":
        path = str(pathlib.Path(os.environ.get("JAXNAS_CACHE", pathlib.Path.home() / ".cache" / "jaxnas")) / "xla")
    if path:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def make_context(setup, config: parsec.Config, dataset, bench, options: Options) -> dict:
    """Compiled pieces and data of a run (``setup`` as returned by :func:`space_setup`;
    ``bench`` the NB201 table, or None)."""
    choices, to_arch, model, _ = setup
    step_fn = parsec.make_train_step(model.apply, choices, to_arch, config, dataset.mean, dataset.std)
    # One compiled program for warm-up and search, whatever the chunk length (num_steps is traced).
    run_chunk = jax.jit(parsec.make_run_steps(step_fn, config, options.log_every))
    test_eval = supernet.eval_arrays(dataset.test.images, dataset.test.labels, dataset.mean, dataset.std,
                                     min(options.test_batch_size, dataset.test.size))

    def evaluate_test(apply_fn):  # (params, archs) -> (accuracy %, CE) on the test split
        evaluate = supernet.make_arch_evaluator(apply_fn)
        return lambda params, archs: evaluate(params, archs, *test_eval)

    ctx = {"setup": setup, "config": config, "dataset": dataset, "run_chunk": run_chunk,
           "evaluate": supernet.make_arch_evaluator(model.apply), "evaluate_test": evaluate_test}
    if bench is not None:
        from jaxnas.spaces import nb201 as nb201_space  # noqa: PLC0415

        space = nb201_space.NB201Space()
        ctx["all_ops"] = np.asarray(space.from_index_batch(jnp.arange(space.num_architectures)).ops, np.int32)
        ctx["table"] = np.asarray(bench.reported, np.float64)
        ctx["valid_12ep"] = np.asarray(bench.columns["cifar10_valid_12ep"], np.float64)
        ctx["gate_indices"] = gate_cell_indices(config.gate_cells)
        ctx["gate_ops"] = ctx["all_ops"][ctx["gate_indices"]]
    return ctx


def summary_of(results: list, table_mean: float | None) -> tuple[dict, list]:
    """(summary over seeds, the summarised keys): each key's :func:`summarize`, and for NB201
    the paired comparison of PARSEC's MAP cell with the same-compute baseline."""
    summary: dict[str, Any] = {"seeds": [r["seed"] for r in results]}
    keys = ["map_test_accuracy_supernet", "search_seconds", "cpu_seconds", "entropy"]
    nb201 = "map_cifar10_test_200ep" in results[0]
    if nb201:
        keys += ["map_cifar10_test_200ep", "expected_cifar10_test_200ep", "baseline_cifar10_test_200ep",
                 "tau_at_search_start", "tau_final", "search_start", "ess_mean"]
    if "finetune" in results[0]:
        for r in results:
            r["finetune_test_accuracy"] = r["finetune"]["test_accuracy"]
        keys.append("finetune_test_accuracy")
    keys = [k for k in keys if all(r.get(k) is not None for r in results)]
    for k in keys:
        summary[k] = summarize([r[k] for r in results])
    if nb201:
        summary["map_minus_baseline"] = paired_comparison([r["map_cifar10_test_200ep"] for r in results],
                                                          [r["baseline_cifar10_test_200ep"] for r in results])
        summary["random_cell_mean_cifar10_test_200ep"] = table_mean
    return summary, keys


def _write_outputs(out: pathlib.Path, record: dict, choices) -> None:
    results, summary = record["runs"], record["summary"]
    outputs.write_json(out / "results.json", record)
    _plot_prior(results, choices, out / "prior.png", record["space"])
    if record["space"] == "nb201":
        _plot_gate(results, out / "gate.png")
    for k in record["summarised"]:
        print(f"  {k}: {summary[k]['mean']:.4f} ± {summary[k]['std']:.4f} (sample std)  {summary[k]['values']}")
    if "map_minus_baseline" in summary:
        d = summary["map_minus_baseline"]
        print(f"  MAP - baseline: {d['mean']:+.3f} ± {d['std']:.3f}, wins/ties/losses {d['wins']}/{d['ties']}/"
              f"{d['losses']}, paired t p={d['t_test_p']}, Wilcoxon p={d['wilcoxon_p']}")
    for r in results:
        print(f"  seed {r['seed']}: MAP {r['map'].get('string', r['map'].get('genotype'))}")
    print(f"PARSEC {record['space']} -> {out / 'results.json'}")


def merge(out: pathlib.Path, paths, command: str) -> None:
    """One results.json (summary, paired comparison, plots) in ``out`` from the runs in ``paths``
    (folders or results.json files; one setting, different seeds) of separate processes."""
    records = []
    for path in paths:
        path = pathlib.Path(path)
        records.append(json.loads((path / "results.json" if path.is_dir() else path).read_text()))
    first = records[0]
    for other in records[1:]:
        if (other["config"], other["space"]) != (first["config"], first["space"]):
            raise UsageError("--merge: the runs differ in config or space; only runs of one setting merge")
    results = sorted((r for rec in records for r in rec["runs"]), key=lambda r: r["seed"])
    seeds = [r["seed"] for r in results]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--merge: a seed appears twice ({seeds})")
    summary, keys = summary_of(results, first["summary"].get("random_cell_mean_cifar10_test_200ep"))
    record = {**{k: v for k, v in first.items() if k not in ("runs", "summary", "wall_seconds", "command")},
              "command": command,
              "merged": [{"command": rec["command"], "wall_seconds": rec["wall_seconds"]} for rec in records],
              "summary": summary, "summarised": keys, "runs": results}
    choices = parsec.nb201_choices() if first["space"] == "nb201" else parsec.darts_choices()
    _write_outputs(out, record, choices)


def checkpoint_dir(options: Options, seed: int) -> pathlib.Path:
    """Seed ``seed``'s checkpoint folder (default OUTPUT_DIR/checkpoints/seed_<S>)."""
    root = options.checkpoint_dir or pathlib.Path(options.output_dir) / "checkpoints"
    return pathlib.Path(root) / f"seed_{seed}"


def _refuse_used_checkpoint_dirs(options: Options) -> None:
    """A new run (no --resume, no --overwrite) must not start in folders holding checkpoints:
    checked before anything is loaded, so nothing is lost and no time is spent."""
    if options.resume or options.overwrite or not options.checkpoint_every:
        return
    used = [checkpoint_dir(options, s) for s in range(options.seed, options.seed + options.seeds)]
    used = [d for d in used if d.is_dir() and any(d.iterdir())]
    if used:
        raise UsageError(f"{used[0]} already holds checkpoints; pass --resume to continue that run, "
                         "--overwrite to delete them, or use another --checkpoint_dir / --output_dir")


def run(options: Options, config_fields: dict) -> None:
    """The command: merges ``options.merge``, or runs seeds ``options.seed``.. with preset
    ``options.preset`` and the Config fields ``config_fields`` replaced (validated after the
    cheaper checks), and writes OUTPUT_DIR. Raises UsageError for settings that cannot run,
    RunError for missing data or an unusable checkpoint."""
    if options.resume and options.overwrite:
        raise UsageError("--resume continues the checkpoints that --overwrite deletes: give one of them")
    try:
        out = outputs.prepare_output_dir(options.output_dir)
    except outputs.OutputDirError as err:
        raise UsageError(str(err)) from err
    if options.merge:
        return merge(out, options.merge, options.command)
    _refuse_used_checkpoint_dirs(options)
    config = make_config(options.preset, config_fields)
    try:
        dataset = input_pipeline.downsample(input_pipeline.load(config.dataset, options.data_dir), config.image_size)
        bench = None
        if options.space == "nb201":
            from jaxnas import benchmarks  # noqa: PLC0415

            bench = benchmarks.load_benchmark("nb201_cifar10", options.data_dir)
    except (data.DataFileError, ImportError) as err:
        raise RunError(str(err)) from err

    _enable_compilation_cache(options.compilation_cache_dir)
    setup = space_setup(config, dataset.num_classes, options.space, options.depthwise)
    choices, _, model, _ = setup
    ctx = make_context(setup, config, dataset, bench, options)
    logging.info("PARSEC %s on %s (preset %s): %s", options.space, dataset.name, options.preset, config)
    wall, git = time.time(), provenance.git_state()  # the code as the run starts
    try:
        results = [run_seed(seed, ctx, options) for seed in range(options.seed, options.seed + options.seeds)]
    except (checkpoint.CheckpointExistsError, checkpoint.CheckpointMismatchError,
            checkpoint.CheckpointUnreadableError) as err:
        raise RunError(str(err)) from err
    summary, keys = summary_of(results, float(ctx["table"].mean()) if bench is not None else None)
    record = {
        "command": options.command,
        "git": git, "space": options.space, "dataset": dataset.name, "preset": options.preset,
        "config": dataclasses.asdict(config),
        "flags": options.flags, "wall_seconds": time.time() - wall, "cpu_count": os.cpu_count(),
        "network": {"params_supernet": layers.count_params(_init_params(jax.random.key(0), model,
                                                                          dataset.image_shape, options.space))},
        "summary": summary, "summarised": keys, "runs": results,
    }
    if bench is not None:
        record["gate_cells"] = ctx["gate_indices"].tolist()
    _write_outputs(out, record, choices)
