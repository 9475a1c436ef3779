r"""Predictor throughput: training steps/s and inference architectures/s per batch size.

    python -m experiments.predictor_throughput --predictor=gcn --benchmark=nb101_subset \
        --batch_sizes=1,64,1024,16384 --all_cells_chunks=1024,16384 --output_dir=runs/throughput

After compilation and warm-up it measures (median of repeats, block_until_ready):
training steps/s and inference architectures/s per batch size, the time to predict every
cell of the space (all 423,624 for NB101; each framework at its fastest chunk size of
--all_cells_chunks, so the ratio is best against best), compiled/peak memory, the device, and this
machine's float32 matmul FLOP/s, with each measurement's fraction of it. With PyTorch
installed (pip install -e ".[torch]") the same GCN in PyTorch is measured side by side in
the same process, on the same inputs and weights (checked equal to 1e-5).
Writes DIR/results.json and prints a table.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from jaxnas import benchmarks, throughput

FLAGS = flags.FLAGS
flags.DEFINE_enum("predictor", "gcn", sorted(throughput.ADAPTERS), "Predictor to measure.")
flags.DEFINE_enum("benchmark", "nb101_subset", benchmarks.BENCHMARK_NAMES, "Benchmark whose space is used.")
flags.DEFINE_list("batch_sizes", ["1", "64", "1024", "16384"], "Batch sizes to measure.")
flags.DEFINE_integer("train_batch_size", 128, "Batch size of the headline training comparison.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed repeats per measurement (median reported).", lower_bound=1)
flags.DEFINE_bool("torch", True, "Also measure the PyTorch mirror when torch is installed.")
flags.DEFINE_bool("all_cells", True, "Time predicting every architecture of the space.")
flags.DEFINE_list("all_cells_chunks", [], "Chunk sizes tried for --all_cells (default: the largest batch size); "
                  "each framework is reported at its fastest chunk, so the ratio compares best with best.")
flags.DEFINE_string("output_dir", "runs/throughput", "Where results.json goes.")
flags.DEFINE_string("data_dir", None, "Benchmark data folder.")
for _name in ("batch_sizes", "all_cells_chunks"):
    flags.register_validator(_name, lambda v: all(x.strip().isdigit() and int(x) > 0 for x in v),
                             message=f"--{_name} must be a comma-separated list of positive integers")


def _slice(tree, n):
    return jax.tree_util.tree_map(lambda a: a[:n], tree)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def measure(model, space, batch_sizes, train_batch, repeats, use_torch, all_cells_chunks):
    rng = np.random.default_rng(0)
    largest = max(max(batch_sizes), train_batch)
    inputs = model.inputs(space, rng.integers(0, space.num_architectures, largest))
    targets = jnp.asarray(rng.normal(size=largest), jnp.float32)
    params, opt_state = model.init(jax.random.key(0), _slice(inputs, 2))
    matmul = throughput.matmul_flops_per_second()
    out = {"device": throughput.device_description(), "matmul_flops_per_second": matmul,
           "flops_per_architecture": model.flops_per_arch, "jax": {}, "torch": None}

    torch_module = None
    if use_torch:
        import torch

        torch_module, load = model.torch_model()
        load(params)
        torch_module.eval()
        adjacency, features, mask = (torch.from_numpy(x) for x in throughput.dense_inputs(inputs, space.num_node_types))
        with torch.no_grad():
            gap = float(np.max(np.abs(torch_module(adjacency[:256], features[:256], mask[:256]).numpy()
                                      - np.asarray(model.predict(params, _slice(inputs, 256))))))
        if gap > 1e-4:
            raise AssertionError(f"the PyTorch mirror disagrees with the JAX model by {gap}")
        out["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(), "max_abs_difference": gap}
        torch_optimizer = torch.optim.Adam(torch_module.parameters(), lr=1e-4)

    def record(where, key, seconds, count, unit):
        entry = {"seconds": seconds, f"{unit}_per_second": count / seconds}
        if model.flops_per_arch and unit == "architectures":
            achieved = model.flops_per_arch * count / seconds
            entry.update(flops_per_second=achieved, fraction_of_matmul=achieved / matmul)
        where[key] = entry

    for batch in sorted(set(batch_sizes) | {train_batch}):
        g, t = _slice(inputs, batch), targets[:batch]
        row = out["jax"].setdefault(str(batch), {})
        record(row, "inference", throughput.median_seconds(lambda: model.predict(params, g).block_until_ready(), repeats),
               batch, "architectures")
        row["inference_memory_bytes"] = throughput.compiled_memory_bytes(model.predict, params, g)
        state = [params, opt_state]

        def jax_step():
            new_params, new_opt, loss = model.train_step(state[0], state[1], g, t)
            loss.block_until_ready()

        record(row, "train_step", throughput.median_seconds(jax_step, repeats), 1, "steps")
        row["train_memory_bytes"] = throughput.compiled_memory_bytes(model.train_step, params, opt_state, g, t)
        if torch_module is not None:
            trow = out["torch"].setdefault(str(batch), {})
            a, f, m = adjacency[:batch], features[:batch], mask[:batch]
            tt = torch.from_numpy(np.array(t))  # a writable copy

            def torch_infer():
                with torch.no_grad():
                    torch_module(a, f, m)

            def torch_step():
                torch_optimizer.zero_grad()
                loss = torch.mean((torch_module(a, f, m) - tt) ** 2)
                loss.backward()
                torch_optimizer.step()

            record(trow, "inference", throughput.median_seconds(torch_infer, repeats), batch, "architectures")
            record(trow, "train_step", throughput.median_seconds(torch_step, repeats), 1, "steps")
        logging.info("batch %d done", batch)

    if all_cells_chunks:
        out["all_cells"] = _all_cells(model, space, params, all_cells_chunks, repeats, record,
                                      torch_module if use_torch else None)
    out["peak_device_bytes"] = throughput.device_peak_bytes()
    out["peak_process_rss_bytes"] = throughput.process_peak_rss_bytes()
    return out


def _all_cells(model, space, params, chunks, repeats, record, torch_module):
    """Seconds to predict every architecture of the space, chunk by chunk (a lax.map over
    chunks for JAX, a loop for PyTorch), for each chunk size; the fastest chunk of each
    framework is its figure."""
    n = space.num_architectures
    entry = {"architectures": n, "by_chunk": {}}
    for chunk in chunks:
        count = -(-n // chunk)
        indices = np.minimum(np.arange(count * chunk), n - 1)
        all_inputs = jax.tree_util.tree_map(lambda a: a.reshape((count, chunk) + a.shape[1:]),
                                            model.inputs(space, indices))
        predict_all = jax.jit(lambda p, gs: jax.lax.map(lambda g: model.predict(p, g), gs))
        row = entry["by_chunk"][str(chunk)] = {}
        record(row, "jax", throughput.median_seconds(lambda: predict_all(params, all_inputs).block_until_ready(),
                                                     max(2, repeats // 2), warmup=1), n, "architectures")
        if torch_module is not None:
            import torch

            dense = [torch.from_numpy(x) for x in throughput.dense_inputs(
                jax.tree_util.tree_map(lambda a: a.reshape((-1,) + a.shape[2:]), all_inputs), space.num_node_types)]

            def torch_all():
                with torch.no_grad():
                    for start in range(0, count * chunk, chunk):
                        torch_module(*(x[start:start + chunk] for x in dense))

            record(row, "torch", throughput.median_seconds(torch_all, max(2, repeats // 2), warmup=1), n,
                   "architectures")
        del all_inputs
        logging.info("all cells, chunk %d done", chunk)
    for framework in ("jax", "torch"):
        timed = [(row[framework]["seconds"], chunk) for chunk, row in entry["by_chunk"].items() if framework in row]
        if timed:
            seconds, chunk = min(timed)
            entry[framework] = {**entry["by_chunk"][chunk][framework], "chunk": int(chunk)}
    return entry


def _table(results, train_batch) -> str:
    lines = [f"device {results['device']}, matmul {results['matmul_flops_per_second'] / 1e9:.1f} GFLOP/s"]
    lines.append(f"{'batch':>7} {'jax arch/s':>12} {'%matmul':>8} {'jax steps/s':>12} | {'torch arch/s':>12} "
                 f"{'torch steps/s':>13} | {'infer x':>7} {'train x':>7}")
    for batch, row in results["jax"].items():
        jinf, jtr = row["inference"], row["train_step"]
        frac = f"{100 * jinf['fraction_of_matmul']:.1f}" if "fraction_of_matmul" in jinf else "-"
        t = (results["torch"] or {}).get(batch)
        if t:
            tinf, ttr = t["inference"]["architectures_per_second"], t["train_step"]["steps_per_second"]
            torch_cols = f"{tinf:12,.0f} {ttr:13,.1f} | {jinf['architectures_per_second'] / tinf:7.2f} " \
                         f"{jtr['steps_per_second'] / ttr:7.2f}"
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    benchmark = benchmarks.load_benchmark(FLAGS.benchmark, FLAGS.data_dir)
    space = benchmark.space
    model = throughput.ADAPTERS[FLAGS.predictor](space)
    use_torch = FLAGS.torch and model.torch_model is not None and _torch_available()
    if FLAGS.torch and not use_torch:
        logging.warning("PyTorch not installed (pip install -e '.[torch]'): measuring JAX only")
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    chunks = [int(c) for c in FLAGS.all_cells_chunks] or [max(batch_sizes)]
    results = measure(model, space, batch_sizes, FLAGS.train_batch_size, FLAGS.repeats, use_torch,
                      chunks if FLAGS.all_cells else [])
    results.update(predictor=FLAGS.predictor, benchmark=FLAGS.benchmark, space=space.name,
                   command=" ".join(["python -m experiments.predictor_throughput", *sys.argv[1:]]))
    out = pathlib.Path(FLAGS.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(_table(results, FLAGS.train_batch_size))
    print(f"-> {out / 'results.json'}")


if __name__ == "__main__":
    app.run(main)
