"""The predictor throughput benchmark (``experiments.predictor_throughput``): training
steps/s and inference architectures/s per batch size, the time to predict every cell of
the space, memory, and the matmul roofline, with the PyTorch mirror side by side when
installed; :func:`run` writes OUTPUT_DIR/results.json and prints a table. The timing
pieces are :mod:`jaxnas.throughput`."""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxnas import distributed, outputs, provenance, throughput
from jaxnas.workflows import RunError, load_benchmark


@dataclasses.dataclass(frozen=True)
class Options:
    """A measurement's settings (one entry-point flag each)."""

    predictor: str  # a throughput.ADAPTERS name
    benchmark: str  # whose search space is used
    batch_sizes: Sequence[int]
    train_batch_size: int  # batch size of the headline training comparison
    repeats: int  # timed repeats per measurement (median reported)
    torch: bool  # also measure the PyTorch mirror when torch is installed
    torch_threads: Optional[int]  # torch.set_num_threads for the mirror
    all_cells: bool  # time predicting every architecture of the space
    all_cells_chunks: Sequence[int]  # chunk sizes tried for all_cells (empty: the largest batch size)
    output_dir: str
    data_dir: Optional[str]
    command: str  # the command line, recorded in results.json
    num_devices: int = 1  # devices each JAX batch is split over (data parallel)


def run(options: Options) -> None:
    """Measures the predictor, writes OUTPUT_DIR/results.json and prints the table. Raises
    RunError (a one-line message) for an unusable folder or bad data files."""
    try:
        out = outputs.prepare_output_dir(options.output_dir)  # before any work
    except outputs.OutputDirError as err:
        raise RunError(str(err)) from err
    git = provenance.git_state()  # the code as the run starts
    benchmark = load_benchmark(options.benchmark, options.data_dir)
    space = benchmark.space
    model = throughput.ADAPTERS[options.predictor](space)
    use_torch = options.torch and model.torch_model is not None and _torch_available()
    if options.torch and not use_torch:
        logging.warning("PyTorch not installed (pip install -e '.[torch]'): measuring JAX only")
    batch_sizes = list(options.batch_sizes)
    chunks = list(options.all_cells_chunks) or [max(batch_sizes)]
    sizes = batch_sizes + [options.train_batch_size] + (chunks if options.all_cells else [])
    uneven = sorted({b for b in sizes if b % options.num_devices})
    if uneven:
        raise RunError(f"--num_devices={options.num_devices} must divide every batch and chunk size; "
                       f"it does not divide {uneven}")
    try:
        mesh = distributed.device_mesh(options.num_devices, "batch") if options.num_devices > 1 else None
    except distributed.DeviceCountError as err:
        raise RunError(str(err)) from err
    results = measure(model, space, batch_sizes, options.train_batch_size, options.repeats, use_torch,
                      chunks if options.all_cells else [], options.torch_threads, mesh)
    results.update(predictor=options.predictor, benchmark=options.benchmark, space=space.name,
                   command=options.command, git=git)
    outputs.write_json(out / "results.json", results)
    print(table(results))
    print(f"-> {out / 'results.json'}")


def _slice(tree, n):
    return jax.tree_util.tree_map(lambda a: a[:n], tree)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401, PLC0415 - optional
    except ImportError:
        return False
    return True


def _check_mirror(model, mirror, params, opt_state, inputs, targets) -> dict:
    """The mirror computes what the JAX model does on the same weights: inference scores,
    and (when it is the same loss) the training loss, both to 1e-4."""
    import torch  # noqa: PLC0415 - optional

    n = min(256, targets.shape[0])
    torch_inputs = mirror.inputs(_slice(inputs, n))
    with torch.no_grad():
        scores = mirror.predict(*torch_inputs).numpy()
    gap = float(np.max(np.abs(scores - np.asarray(model.predict(params, _slice(inputs, n))))))
    checked = {"max_abs_difference": gap}
    if mirror.same_loss:
        jax_loss = float(model.train_step(params, opt_state, _slice(inputs, n), targets[:n])[2])
        with torch.no_grad():
            torch_loss = float(mirror.loss(*torch_inputs, torch.from_numpy(np.array(targets[:n]))))
        checked["loss_difference"] = abs(jax_loss - torch_loss)
        gap = max(gap, checked["loss_difference"])
    if gap > 1e-4:
        raise AssertionError(f"the PyTorch mirror disagrees with the JAX model: {checked}")
    return checked


def measure(model, space, batch_sizes, train_batch, repeats, use_torch, all_cells_chunks, torch_threads=None,
            mesh=None):
    """The measurements of ``model`` (a throughput.ThroughputModel) on ``space`` as a
    results.json record: per batch size (and ``train_batch``) JAX's, and with ``use_torch``
    the mirror's, inference and training-step rates; every cell of the space at each chunk
    of ``all_cells_chunks`` (none: not timed); the device, roofline, load and memory.
    With a 1-D ``mesh`` (:func:`jaxnas.distributed.device_mesh`) JAX's batches are split over
    its devices and the weights replicated: data parallel, the same step."""
    rng = np.random.default_rng(0)
    largest = max(max(batch_sizes), train_batch)
    inputs = model.inputs(space, rng.integers(0, space.num_architectures, largest))
    targets = jnp.asarray(rng.normal(size=largest), jnp.float32)
    params, opt_state = model.init(jax.random.key(0), _slice(inputs, 2))
    split = (lambda tree, axis=0: tree) if mesh is None else functools.partial(throughput.split_batch, mesh=mesh)
    if mesh is not None:
        params, opt_state = throughput.replicate((params, opt_state), mesh)
    matmul = throughput.matmul_flops_per_second()
    out = {"device": throughput.device_description(), "matmul_flops_per_second": matmul,
           "flops_per_architecture": model.flops_per_arch, "jax": {}, "torch": None,
           "jax_batch_devices": 1 if mesh is None else int(mesh.devices.size)}

    mirror = None
    if use_torch:
        import torch  # noqa: PLC0415 - optional

        if torch_threads:
            torch.set_num_threads(torch_threads)
        mirror = model.torch_model()
        mirror.load(params)
        mirror.module.eval()
        torch_inputs = mirror.inputs(inputs)
        out["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                        **_check_mirror(model, mirror, params, opt_state, inputs, targets)}

    def record(where, key, seconds, count, unit):
        entry = {"seconds": seconds, f"{unit}_per_second": count / seconds}
        if model.flops_per_arch and unit == "architectures":
            achieved = model.flops_per_arch * count / seconds
            entry.update(flops_per_second=achieved, fraction_of_matmul=achieved / matmul)
        where[key] = entry

    out["load_average_start"] = throughput.load_average()
    for batch in sorted(set(batch_sizes) | {train_batch}):
        g, t = split(_slice(inputs, batch)), split(targets[:batch])
        row = out["jax"].setdefault(str(batch), {})
        state = [params, opt_state]

        def jax_infer():
            model.predict(params, g).block_until_ready()

        def jax_step():
            new_params, new_opt, loss = model.train_step(state[0], state[1], g, t)
            loss.block_until_ready()

        inference, steps = {"jax": jax_infer}, {"jax": jax_step}
        if mirror is not None:
            batch_inputs = tuple(x[:batch] for x in torch_inputs)
            tt = torch.from_numpy(np.array(t))  # a writable copy

            def torch_infer():
                with torch.no_grad():
                    mirror.predict(*batch_inputs)

            inference["torch"] = torch_infer
            steps["torch"] = lambda: mirror.train_step(batch_inputs, tt)
        # JAX and PyTorch alternate, so a load change on a shared machine hits both alike.
        inference = throughput.interleaved_seconds(inference, repeats)
        steps = throughput.interleaved_seconds(steps, repeats)
        record(row, "inference", inference["jax"], batch, "architectures")
        record(row, "train_step", steps["jax"], 1, "steps")
        row["inference_memory_bytes"] = throughput.compiled_memory_bytes(model.predict, params, g)
        row["train_memory_bytes"] = throughput.compiled_memory_bytes(model.train_step, params, opt_state, g, t)
        if mirror is not None:
            trow = out["torch"].setdefault(str(batch), {})
            record(trow, "inference", inference["torch"], batch, "architectures")
            record(trow, "train_step", steps["torch"], 1, "steps")
            # JAX's speed-up over PyTorch: the median of the per-round time ratios.
            row["speedup_over_torch"] = {"inference": 1.0 / inference["speedup"]["torch"],
                                         "train_step": 1.0 / steps["speedup"]["torch"]}
        logging.info("batch %d done", batch)

    if all_cells_chunks:
        out["all_cells"] = _all_cells(model, space, params, all_cells_chunks, repeats, record, mirror, split)
    out["load_average_end"] = throughput.load_average()
    out["peak_device_bytes"] = throughput.device_peak_bytes()
    out["peak_process_rss_bytes"] = throughput.process_peak_rss_bytes()
    return out


def _all_cells(model, space, params, chunks, repeats, record, mirror, split):
    """Seconds to predict every architecture of the space, chunk by chunk (a lax.map over
    chunks for JAX, a loop for PyTorch), for each chunk size; the fastest chunk of each
    framework is its figure."""
    n = space.num_architectures
    entry = {"architectures": n, "by_chunk": {}}
    for chunk in chunks:
        count = -(-n // chunk)
        indices = np.minimum(np.arange(count * chunk), n - 1)
        flat_inputs = model.inputs(space, indices)
        all_inputs = split(jax.tree_util.tree_map(lambda a: a.reshape((count, chunk) + a.shape[1:]), flat_inputs),
                           axis=1)
        predict_all = jax.jit(lambda p, gs: jax.lax.map(lambda g: model.predict(p, g), gs))
        row = entry["by_chunk"][str(chunk)] = {}
        record(row, "jax", throughput.median_seconds(lambda: predict_all(params, all_inputs).block_until_ready(),
                                                     max(2, repeats // 2), warmup=1), n, "architectures")
        if mirror is not None:
            import torch  # noqa: PLC0415 - optional

            torch_inputs = mirror.inputs(flat_inputs)

            def torch_all():
                with torch.no_grad():
                    for start in range(0, count * chunk, chunk):
                        mirror.predict(*(x[start:start + chunk] for x in torch_inputs))

            record(row, "torch", throughput.median_seconds(torch_all, max(2, repeats // 2), warmup=1), n,
                   "architectures")
            del torch_inputs
        del all_inputs, flat_inputs
        logging.info("all cells, chunk %d done", chunk)
    for framework in ("jax", "torch"):
        timed = [(row[framework]["seconds"], chunk) for chunk, row in entry["by_chunk"].items() if framework in row]
        if timed:
            seconds, chunk = min(timed)
            entry[framework] = {**entry["by_chunk"][chunk][framework], "chunk": int(chunk)}
    return entry


def table(results: dict) -> str:
    """The printed summary of a :func:`measure` record."""
    lines = [f"device {results['device']}, matmul {results['matmul_flops_per_second'] / 1e9:.1f} GFLOP/s, "
             f"load average {results['load_average_start']} -> {results['load_average_end']}",
             "infer x / train x: JAX's speed-up over PyTorch, median of per-round ratios (interleaved timing)"]
    if results.get("jax_batch_devices", 1) > 1:
        lines.append(f"JAX: each batch split over {results['jax_batch_devices']} devices (data parallel)")
    lines.append(f"{'batch':>7} {'jax arch/s':>12} {'%matmul':>8} {'jax steps/s':>12} | {'torch arch/s':>12} "
                 f"{'torch steps/s':>13} | {'infer x':>7} {'train x':>7}")
    for batch, row in results["jax"].items():
        jinf, jtr = row["inference"], row["train_step"]
        frac = f"{100 * jinf['fraction_of_matmul']:.1f}" if "fraction_of_matmul" in jinf else "-"
        t = (results["torch"] or {}).get(batch)
        if t:
            tinf, ttr = t["inference"]["architectures_per_second"], t["train_step"]["steps_per_second"]
            speedup = row["speedup_over_torch"]
            torch_cols = f"{tinf:12,.0f} {ttr:13,.1f} | {speedup['inference']:7.2f} {speedup['train_step']:7.2f}"
        else:
            torch_cols = f"{'-':>12} {'-':>13} | {'-':>7} {'-':>7}"
        lines.append(f"{batch:>7} {jinf['architectures_per_second']:12,.0f} {frac:>8} {jtr['steps_per_second']:12,.1f} | {torch_cols}")
    if "all_cells" in results:
        a = results["all_cells"]
        line = f"all {a['architectures']:,} cells (fastest chunk of each): jax {a['jax']['seconds']:.2f} s " \
               f"(chunk {a['jax']['chunk']})"
        if "fraction_of_matmul" in a["jax"]:
            line += f" ({100 * a['jax']['fraction_of_matmul']:.1f}% of matmul bound)"
        if "torch" in a:
            line += f", torch {a['torch']['seconds']:.2f} s (chunk {a['torch']['chunk']}), speed-up {a['torch']['seconds'] / a['jax']['seconds']:.2f}x"
        lines.append(line)
    return "\n".join(lines)
