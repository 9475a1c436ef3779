"""Small tuning sweep for SemiNAS per-benchmark defaults (few seeds; see notes_issue3.md).

python scripts/tune_seminas.py BENCHMARK BUDGET SEEDS 'key=value,key=value' ['...']
Each argument after SEEDS is one configuration, applied on top of for_benchmark(BENCHMARK).
Prints mean +- sem of the best reported value at 50/100/150/300/1000 queries (those <= BUDGET),
and the generator's diagnostics from the final search states (mean per seed): candidates
found by gradient ascent, round slots filled from the pseudo-labelled set instead, and the
largest step size a round needed. Same loop as ``runner.run_search`` (same seeds/keys).
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
        out[name] = type(getattr(config, name))(float(value) if "." in value else int(value))
    return dataclasses.replace(config, **out)


def run(algorithm, bench, budget, seeds):
    """runner.run_search's loop, returning the final (vmapped) search states."""
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(0), s))(jnp.arange(seeds, dtype=jnp.uint32))
    states = runner._make_init(algorithm, bench.space.num_architectures, budget, None)(keys)
    advance = runner.make_stepper(algorithm, bench)
    limit = 0
    while not np.all(np.asarray(states.ledger.count) >= budget) and limit < 100 * budget + 1000:
        limit += 1
        states = advance(states, jnp.int32(limit))
    return jax.device_get(states)


def main():
    name, budget, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    bench = benchmarks.load_benchmark(name)
    base = seminas.SemiNASConfig.for_benchmark(name)
    for text in sys.argv[4:]:
        config = parse(text, base)
        start = time.perf_counter()
        states = run(seminas.seminas(bench.search_space, config), bench, budget, seeds)
        wall = time.perf_counter() - start
        history = np.asarray(states.ledger.history)
        reported = np.where(history >= 0, bench.reported[np.maximum(history, 0)], np.nan)
        curve = np.asarray(metrics.best_so_far(np.asarray(states.ledger.values, np.float32), reported))
        alg = states.algorithm
        cols = []
        for q in (50, 100, 150, 300, 1000):
            if q <= budget:
                a = curve[:, q - 1]
                cols.append(f"@{q} {a.mean():.3f}+-{a.std(ddof=1) / np.sqrt(len(a)):.3f}")
        print(f"{text or 'defaults'} | {' '.join(cols)} | {wall:.0f}s | generated "
              f"{np.mean(alg.generated):.1f} filled {np.mean(alg.filled):.1f} max step "
              f"{np.max(alg.max_step_used)} rounds {np.mean(alg.rounds):.1f}", flush=True)


if __name__ == "__main__":
    main()
