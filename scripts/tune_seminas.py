"""Small tuning sweep for SemiNAS per-benchmark defaults (few seeds; see BUILD_NOTES.md, SemiNAS).

python scripts/tune_seminas.py [--seed=FIRST] [--max_steps=N] BENCHMARK BUDGET SEEDS 'key=value,key=value' ['...']
Each argument after SEEDS is one configuration, applied on top of for_benchmark(BENCHMARK).
Seeds are FIRST..FIRST+SEEDS-1 (default FIRST=100: tune on seeds >= 100, report on 0..S-1
with experiments.search); the keys are the runner's (fold_in(key(0), seed)).
Prints mean +- sem of the best reported value at 50/100/150/300/1000 queries (those <= BUDGET),
and the generator's diagnostics from the final search states (mean per seed): candidates
found by gradient ascent, round slots filled from the pseudo-labelled set instead, and the
largest step size a round needed, asked architectures that came from gradient ascent
(the rest: pseudo-labelled fill or ``space_top``); seeds whose final answer is the optimum.
Same loop as ``runner.run_search`` (same seeds/keys).
"""

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import benchmarks, metrics
from jaxnas.search import runner, seminas


def parse(text, config):
    out = {}
    for item in filter(None, text.split(",")):
        name, value = item.split("=")
        current = getattr(config, name)
        if isinstance(current, str):
            out[name] = value
        else:
            out[name] = type(current)(float(value) if "." in value else int(value))
    return dataclasses.replace(config, **out)


def run(algorithm, bench, budget, seeds, first_seed=100, max_steps=None):
    """runner.run_search's loop, returning the final (vmapped) search states."""
    numbers = jnp.arange(first_seed, first_seed + seeds, dtype=jnp.uint32)
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(0), s))(numbers)
    states = runner._make_init(algorithm, bench.space.num_architectures, budget, None)(keys)
    advance = runner.make_stepper(algorithm, bench)
    limit, max_steps = 0, max_steps or 100 * budget + 1000
    while not np.all(np.asarray(states.ledger.count) >= budget) and limit < max_steps:
        limit += 1
        states = advance(states, jnp.int32(limit))
    return jax.device_get(states)


def main():
    argv = sys.argv[1:]
    first_seed, max_steps = 100, None
    for arg in [a for a in argv if a.startswith("--")]:
        flag, value = arg[2:].split("=", 1)
        if flag == "seed":
            first_seed = int(value)
        elif flag == "max_steps":
            max_steps = int(value)
        else:
            raise SystemExit(f"unknown flag {arg}")
        argv.remove(arg)
    name, budget, seeds = argv[0], int(argv[1]), int(argv[2])
    print(f"{name}, budget {budget}, seeds {first_seed}..{first_seed + seeds - 1}", flush=True)
    bench = benchmarks.load_benchmark(name)
    base = seminas.SemiNASConfig.for_benchmark(name)
    for text in argv[3:]:
        config = parse(text, base)
        start = time.perf_counter()
        states = run(seminas.seminas(bench.search_space, config), bench, budget, seeds, first_seed, max_steps)
        wall = time.perf_counter() - start
        history = np.asarray(states.ledger.history)
        reported = np.where(history >= 0, bench.reported[np.maximum(history, 0)], np.nan)
        curve = np.asarray(metrics.best_so_far(np.asarray(states.ledger.values, np.float32), reported))
        alg = states.algorithm
        cols = []
        for q in (50, 100, 150, 300, 1000):
            if q <= budget:
                a = curve[:, q - 1]
                cols.append(f"@{q} {a.mean():.3f}+-{a.std(ddof=1) / np.sqrt(len(a)):.3f} (std {a.std(ddof=1):.3f})")
        final = curve[:, budget - 1]
        hits = np.sum(np.isclose(final, bench.optimum, atol=1e-3)) if bench.optimum is not None else -1
        print(f"{text or 'defaults'} | {' '.join(cols)} | {wall:.0f}s | generated "
              f"{np.mean(alg.generated):.1f} filled {np.mean(alg.filled):.1f} asked-generated "
              f"{np.mean(alg.asked_generated):.1f} max step {np.max(alg.max_step_used)} rounds "
              f"{np.mean(alg.rounds):.1f} steps {np.asarray(states.step).tolist()} queries "
              f"{np.asarray(states.ledger.count).tolist()} | optimum at {budget}: {hits}/{seeds} | final per seed "
              f"{np.array2string(final, precision=2, max_line_width=1000)}", flush=True)


if __name__ == "__main__":
    main()
