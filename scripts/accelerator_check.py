r"""One command for a machine with a GPU or TPU: throughput, seed scaling and PARSEC, one JSON.

    python -m scripts.accelerator_check --output=runs/accelerator_check.json

Sections (``--sections``, all by default), each written to the JSON as soon as it is done
(so a run cut short keeps what it measured):

* ``throughput``: every predictor (gcn, nao, acenas, assessor) on NB101 cells
  (``--throughput_benchmark``): training steps/s and inference architectures/s per batch
  size, all cells of the space, compiled and peak memory, the matmul roofline
  (``jaxnas.workflows.throughput``'s measurement; no PyTorch mirror).
* ``seeds``: wall time of ``--seeds`` vmapped seeds against 1 seed for evolution and
  SemiNAS (their per-benchmark defaults) on ``--seeds_benchmark``, budget ``--budget``;
  both run twice, the second run (compiled program cached) is the steady-state figure.
* ``parsec``: one PARSEC training step (K sampled architectures, importance-weighted
  gradient, prior update) on the DARTS supernet at the paper's size (16 channels, 8
  cells, batch 64, K=4 by default): median step time, XLA's compiled memory for the step
  and the device's peak memory in use.

Sized for an accelerator (well under 8 minutes on one GPU); ``--small`` shrinks every
size so that the same code runs on a CPU in a few minutes (that is how its test runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import benchmarks, outputs, provenance, search, throughput
from jaxnas.workflows import throughput as throughput_workflow
from jaxnas.weight_sharing import darts_network, parsec
from jaxnas.search import runner

PREDICTORS = ("gcn", "nao", "acenas", "assessor")
SECTIONS = ("throughput", "seeds", "parsec")
# CPU-test sizes (--small): every model, loop and network shrunk, the same code paths.
SMALL_SEMINAS = dict(initial_size=10, unlabelled_size=40, iterations=1, new_per_iteration=5, top_k=5,
                     candidates_per_iteration=10, pretrain_epochs=2, epochs=1, hidden_size=8, mlp_hidden_size=4,
                     ensemble_size=1, space_top=2)


def _throughput(args) -> dict:
    bench = benchmarks.load_benchmark(args.throughput_benchmark)
    out = {}
    for name in args.predictors:
        model = throughput.ADAPTERS[name](bench.space)
        start = time.perf_counter()
        chunks = [max(args.batch_sizes)] if args.all_cells else []
        out[name] = throughput_workflow.measure(model, bench.space, args.batch_sizes, args.train_batch_size,
                                               args.repeats, False, chunks)
        out[name]["total_seconds"] = time.perf_counter() - start
        print(f"throughput {name}: {out[name]['total_seconds']:.1f} s", flush=True)
    return out


def _timed_search(algorithm, bench, budget, seeds, name) -> tuple[float, float]:
    times = []
    for _ in range(2):  # first run compiles, the second is the steady state
        start = time.perf_counter()
        runner.run_search(algorithm, bench, budget, seeds, algorithm_name=name, log_every_seconds=1e9)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def _seeds(args) -> dict:
    bench = benchmarks.load_benchmark(args.seeds_benchmark)
    out = {"benchmark": bench.name, "budget": args.budget, "seeds": args.seeds}
    for name in ("evolution", "seminas"):
        config = search.config_class(name).for_benchmark(bench.name)
        if args.small and name == "seminas":
            config = dataclasses.replace(config, **SMALL_SEMINAS)
        algorithm = search.make_algorithm(name, bench.search_space, config)
        one = _timed_search(algorithm, bench, args.budget, 1, name)
        many = _timed_search(algorithm, bench, args.budget, args.seeds, name)
        out[name] = {"one_seed_seconds": {"first": one[0], "steady": one[1]},
                     "many_seeds_seconds": {"first": many[0], "steady": many[1]},
                     "ratio_steady": many[1] / one[1], "ratio_first": many[0] / one[0]}
        print(f"seeds {name}: 1 seed {one[1]:.2f} s, {args.seeds} seeds {many[1]:.2f} s (steady), ratio "
              f"{many[1] / one[1]:.2f}", flush=True)
    return out


def _parsec(args) -> dict:
    model = darts_network.supernet(args.parsec_channels, args.parsec_layers)
    params = darts_network.init(jax.random.key(0), model)
    choices = parsec.darts_choices()
    b = args.parsec_batch_size
    # A search-phase step (the prior's update on a validation batch included) with the paper's K.
    config = parsec.Config(num_samples=args.parsec_samples, batch_size=b, valid_batch_size=b, num_valid=max(b, 2),
                           eval_images=b, eval_batch_size=b, steps=1000, warmup_steps=0, warmup_max_steps=0)
    mean, std = np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)
    step = jax.jit(parsec.make_train_step(model.apply, choices, parsec.darts_to_arch, config, mean, std))
    state = parsec.init_state(params, parsec.uniform_logits(choices), config, search_start=0)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (args.parsec_batch_size, 32, 32, 3)), jnp.uint8)
    labels = jnp.asarray(rng.integers(0, 10, args.parsec_batch_size), jnp.int32)
    start = time.perf_counter()
    compiled_bytes = throughput.compiled_memory_bytes(step, state, jax.random.key(0), images, labels, images, labels)
    keys = iter(jax.random.split(jax.random.key(1), 1000))
    holder = [state]

    def one_step():
        holder[0], metrics = step(holder[0], next(keys), images, labels, images, labels)
        jax.block_until_ready(metrics)

    one_step()  # compiles
    compile_seconds = time.perf_counter() - start
    seconds = throughput.median_seconds(one_step, args.repeats)
    out = {"channels": args.parsec_channels, "layers": args.parsec_layers, "batch_size": args.parsec_batch_size,
           "samples": args.parsec_samples,
           "supernet_parameters": int(sum(x.size for x in jax.tree_util.tree_leaves(params))),
           "step_seconds": seconds, "compile_seconds": compile_seconds, "compiled_memory_bytes": compiled_bytes,
           "peak_device_bytes": throughput.device_peak_bytes()}
    print(f"parsec step: {seconds * 1e3:.1f} ms, compiled memory {compiled_bytes}, peak device bytes "
          f"{out['peak_device_bytes']}", flush=True)
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="runs/accelerator_check.json")
    parser.add_argument("--small", action="store_true", help="CPU-test sizes (minutes on a CPU)")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--predictors", default=",".join(PREDICTORS))
    parser.add_argument("--throughput_benchmark", default="nb101_subset")
    parser.add_argument("--seeds_benchmark", default="nb201_cifar10")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    args.predictors = [p for p in args.predictors.split(",") if p]
    for name in args.sections:
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}; sections are {SECTIONS}")
    for name in args.predictors:
        if name not in PREDICTORS:
            parser.error(f"unknown predictor {name!r}; predictors are {PREDICTORS}")
    small = args.small
    args.batch_sizes = [8] if small else [1, 64, 1024, 16384]
    args.train_batch_size = 8 if small else 128
    args.all_cells = not small
    args.seeds = 2 if small else 32
    args.budget = 15 if small else 150
    args.parsec_channels, args.parsec_layers = (2, 3) if small else (16, 8)
    args.parsec_batch_size, args.parsec_samples = (4, 2) if small else (64, 4)
    if small:
        args.repeats = min(args.repeats, 2)
    return args


def main(argv=None):
    args = parse_args(argv)
    output = pathlib.Path(args.output)
    outputs.prepare_output_dir(output.parent)
    record = {"device": throughput.device_description(), "small": args.small,
              "command": provenance.command_line("scripts.accelerator_check", argv), "git": provenance.git_state(),
              "load_average_start": throughput.load_average()}
    start = time.perf_counter()
    for name in args.sections:
        section_start = time.perf_counter()
        record[name] = {"throughput": _throughput, "seeds": _seeds, "parsec": _parsec}[name](args)
        record[name + "_seconds"] = time.perf_counter() - section_start
        record["total_seconds"] = time.perf_counter() - start
        record["load_average_end"] = throughput.load_average()
        outputs.write_json(output, record)  # after every section: a cut-short run keeps what it has
    print(f"all sections in {record['total_seconds']:.1f} s -> {output}")


if __name__ == "__main__":
    main()
