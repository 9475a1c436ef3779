"""Where one round of a predictor-guided search spends its time, phase by phase.

    python -m scripts.profile_round --algorithm=seminas --benchmark=nb201_cifar10 --seeds=4 \
        --queries=50 --output=results/benchmarks/profile_round_seminas_nb201.json

Runs the search (the runner's own compiled step, vmapped over seeds) until every seed has
spent ``--queries`` queries, then times the next step, the round that fits the predictor
on those labels: its wall time untraced (median of ``--repeats``), and under
``jax.profiler`` the time of every executed XLA operation added up by the round's named
scopes (``jaxnas.profiling``): SemiNAS's ``seminas.ROUND_PHASES`` (sampling the
unlabelled set, training, pseudo-labelling, ascent, scoring the candidates and the
space), the other predictor searches' ``predictor_search.ROUND_PHASES`` (fit, score);
the rest (ledger, tell, bookkeeping) is ``other``; each phase's time is also split by
kind of operation (``jaxnas.profiling.KINDS``: matrix products, gathers and scatters,
reductions, copies, element-wise work). Traced times are summed over threads and carry
the profiler's overhead: the fractions are the figure. The output JSON records
the command, the commit and the devices.

The profiler keeps one event per executed XLA operation, in memory: a round of millions
of small operations (the GCN's default fit, 300 epochs of 43 minibatches) needs many GiB.
Profile such a round with fewer epochs (``--set epochs=30``); a fit's time is linear in
its epochs.
"""

import argparse
import sys
import time

import jax
import numpy as np

from jaxnas import benchmarks, distributed, outputs, presets, profiling, provenance, search, workflows
from jaxnas.search import predictor_search, runner, seminas


def round_phases(algorithm_name: str) -> tuple:
    return seminas.ROUND_PHASES if algorithm_name == "seminas" else predictor_search.ROUND_PHASES


def overrides(config, settings: list) -> dict:
    """``NAME=VALUE`` strings as config changes, each value of its field's type."""
    current = config.flat()
    changes = {}
    for setting in settings:
        name, sep, text = setting.partition("=")
        if not sep or name not in current:
            raise ValueError(f"--set {setting!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(current))}")
        kind = type(current[name])
        changes[name] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    return changes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithm", default="seminas", choices=["seminas", "gcn", "assessor", "acenas"])
    parser.add_argument("--benchmark", default="nb201_cifar10", choices=benchmarks.BENCHMARK_NAMES)
    parser.add_argument("--preset", default="default", choices=presets.PRESETS)
    parser.add_argument("--seeds", type=int, default=4, help="seeds (vmapped, as in experiments.search)")
    parser.add_argument("--queries", type=int, default=50, help="labels spent before the profiled round")
    parser.add_argument("--repeats", type=int, default=3, help="untraced timings of the round (median)")
    parser.add_argument("--cpu_devices", type=int, default=None,
                        help="CPU devices to make (default: JAX's one), as experiments.search --cpu_devices")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change a hyperparameter of the preset (repeatable), e.g. --set epochs=50")
    parser.add_argument("--output", default=None, help="JSON file to write (default: print only)")
    args = parser.parse_args()
    if args.seeds < 1 or args.queries < 1 or args.repeats < 1:
        parser.error("--seeds, --queries and --repeats must be >= 1")
    distributed.set_cpu_devices(args.cpu_devices)
    try:
        bench = workflows.load_benchmark(args.benchmark, None)
    except workflows.RunError as err:  # a missing or bad data file, named
        sys.exit(f"error: {err}")
    config = presets.config(search.config_class(args.algorithm), bench.name, args.preset)
    try:
        config = config.replace(**overrides(config, args.set))
        config.validate()
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    algorithm = search.make_algorithm(args.algorithm, bench.search_space, config)
    budget = args.queries + 2 * algorithm.batch_size  # room for the profiled round
    if budget > bench.num_available:
        parser.error(f"--queries={args.queries} leaves no round to profile on {bench.name}")

    mesh = distributed.seed_mesh(None, args.seeds)
    sharding = distributed.seed_sharding(mesh)
    seeds = distributed.global_array(np.arange(distributed.padded_count(args.seeds, mesh), dtype=np.uint32),
                                     sharding)
    states = runner.make_init(algorithm, bench.space.num_architectures, budget, sharding)(seeds)
    stepper = runner.make_stepper(algorithm, bench, sharding)
    step, spent, idle = 0, 0, 0
    while spent < args.queries:
        step += 1
        states = jax.block_until_ready(stepper(states, np.int32(step)))
        now = int(np.min(distributed.to_host(states.ledger.count)))
        idle = idle + 1 if now == spent else 0
        spent = now
        if idle == 20:  # the search stopped spending queries (e.g. its rounds are over)
            sys.exit(f"error: {args.algorithm} spent no query in 20 steps at {spent} of --queries={args.queries}")
    spent = distributed.to_host(states.ledger.count)
    print(f"{args.algorithm} on {bench.name}: {args.seeds} seeds at {spent.min()}..{spent.max()} queries "
          f"after {step} steps; profiling step {step + 1}", file=sys.stderr)

    limit = np.int32(step + 1)
    compiled = stepper.lower(states, limit).compile()
    jax.block_until_ready(compiled(states, limit))  # untimed: first-call effects
    walls = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(states, limit))
        walls.append(time.perf_counter() - start)
    phases = round_phases(args.algorithm)
    by_kind = profiling.scope_kind_seconds(compiled, (states, limit), phases)
    traced = profiling.scope_totals(by_kind)
    total = sum(traced.values())
    kind_totals = {kind: sum(kinds[kind] for kinds in by_kind.values()) for kind in profiling.KINDS}
    result = {
        "algorithm": args.algorithm,
        "benchmark": bench.name,
        "preset": args.preset,
        "config": config.flat(),
        "seeds": args.seeds,
        "queries_before_round": [int(spent.min()), int(spent.max())],
        "devices": f"{mesh.devices.size} {mesh.devices.flat[0].platform}",
        "round_wall_seconds_median": float(np.median(walls)),
        "round_wall_seconds": walls,
        "traced_seconds": traced,
        "traced_fraction": {name: (value / total if total else 0.0) for name, value in traced.items()},
        "traced_seconds_by_kind": by_kind,
        "traced_fraction_by_kind": {kind: (value / total if total else 0.0) for kind, value in kind_totals.items()},
        "command": provenance.command_line("scripts.profile_round"),
        "git": provenance.git_state(),
    }
    print(f"round wall time {result['round_wall_seconds_median']:.2f} s (median of {args.repeats}); "
          f"traced time by phase (summed over threads):")
    for name, value in sorted(traced.items(), key=lambda item: -item[1]):
        print(f"  {name:>18}: {value:8.2f} s  {result['traced_fraction'][name]:6.1%}")
    print("by kind of operation (all phases; a fusion counts as the heaviest operation it fuses):")
    for kind, value in sorted(kind_totals.items(), key=lambda item: -item[1]):
        print(f"  {kind:>18}: {value:8.2f} s  {result['traced_fraction_by_kind'][kind]:6.1%}")
    if args.output:
        outputs.write_json(args.output, result)
        print(f"-> {args.output}")


if __name__ == "__main__":
    main()
