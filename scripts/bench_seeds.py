"""Wall time of S vmapped seeds vs 1 seed, per search algorithm.

    python -m scripts.bench_seeds --benchmark=nb201_cifar10 --algorithms=random,evolution \
        --budget=150 --seeds=32

For each algorithm it runs the search with 1 seed and with S seeds, twice each: the first
run includes compilation, the second is the steady-state cost (compiled program cached).
Prints both times and the S/1 ratios; "seeds are a batch dimension" means the ratio is
far below S. Seeds are sharded over the devices as in experiments.search (at most one
device per seed; on a CPU, --cpu_devices=N makes N devices).
"""

import argparse
import time

import jax

from jaxnas import benchmarks, distributed, search
from jaxnas.search import runner


def timed(algorithm, bench, budget, seeds, name):
    start = time.perf_counter()
    result = runner.run_search(algorithm, bench, budget, seeds, algorithm_name=name, log_every_seconds=1e9)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--benchmark", default="nb201_cifar10")
    parser.add_argument("--algorithms", default="random,evolution")
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--cpu_devices", type=int, default=None,
                        help="CPU devices to make (default: JAX's one), as experiments.search --cpu_devices")
    args = parser.parse_args()
    distributed.set_cpu_devices(args.cpu_devices)
    bench = benchmarks.load_benchmark(args.benchmark)
    print(f"{args.benchmark}, budget {args.budget}, {jax.device_count()} {jax.devices()[0].platform} device(s): "
          f"wall seconds (first run incl. compile / steady state)")
    for name in args.algorithms.split(","):
        config = search.config_class(name).for_benchmark(bench.name)
        algorithm = search.make_algorithm(name, bench.search_space, config)
        rows = {}
        for seeds in (1, args.seeds):
            first, _ = timed(algorithm, bench, args.budget, seeds, name)
            steady, result = timed(algorithm, bench, args.budget, seeds, name)
            rows[seeds] = (first, steady, int(result.steps.max()))
        (f1, s1, k1), (fs, ss, ks) = rows[1], rows[args.seeds]
        print(f"  {name:10s} 1 seed: {f1:7.2f} / {s1:7.2f} s ({k1} steps)   {args.seeds} seeds: "
              f"{fs:7.2f} / {ss:7.2f} s ({ks} steps)   ratio {fs / f1:.2f} / {ss / s1:.2f}")


if __name__ == "__main__":
    main()
