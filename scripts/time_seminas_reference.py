"""Wall time of the SemiNAS NB101 reference configuration (N=1100, M=10000, 3 rounds x 300,
k=100, 1000 pretrain / 500 epochs, hidden 64, batch 100) on this machine.

    python scripts/time_seminas_reference.py [--epochs=3] [--end_to_end]

1. Per-epoch training time of the reference model on 1,100 architectures (a pretrain
   epoch) and on 21,000 (a main epoch: 1,100 x 10 up-sampled + 10,000 pseudo-labelled),
   through the search's own training path (``nao.train_rows``, traced count/epochs),
   compiled first, then timed over ``--epochs`` epochs.
2. An explicit extrapolation of a full reference run from those per-step times: the
   labelled pool is 1,100 / 1,400 / 1,700 in the three rounds.
3. With ``--end_to_end``: the whole reference search on nb101_subset (budget 2,000, one
   seed) with the reference sizes but 1 pretrain / 1 main epoch per round, to show the
   configuration runs end to end (training epochs are the only thing cut).

Process CPU time is printed beside wall time: on a shared machine it bounds what the run
would take alone (wall on 2 idle cores >= CPU time / 2).

PyTorch reference (issue 3): 0.58 s/epoch on 1,100, 9.7 s/epoch on 21,000, ~5.5 h total.
"""

import argparse
import dataclasses
import math
import time

import jax
import jax.numpy as jnp

from jaxnas import benchmarks, training
from jaxnas.predictors import nao
from jaxnas.search import runner, seminas


def epoch_seconds(space, config, size, epochs):
    model = nao.make_model(space, config)
    optimizer = nao.make_optimizer(config)
    loss_fn = nao.make_loss(model, config.trade_off)
    key = jax.random.key(0)
    tokens = nao.tokens_of(space, space.sample_batch(key, size))
    data = {"tokens": tokens, "target": jax.random.normal(key, (size,)), "weight": jnp.ones((size,))}
    state = training.init_state(nao.init_params(model, key, space.sequence_length), optimizer)

    @jax.jit
    def run(state, epochs):
        return nao.train_rows(key, state, data, jnp.arange(size), jnp.int32(size), loss_fn, optimizer,
                              config.train_batch_size, epochs)

    start = time.perf_counter()
    jax.block_until_ready(run(state, jnp.int32(1)))  # compile + 1 epoch
    compile_s = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(run(state, jnp.int32(epochs)))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return wall / epochs, cpu / epochs, compile_s


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per size; 0 skips part 1")
    parser.add_argument("--end_to_end", action="store_true")
    args = parser.parse_args()
    bench = benchmarks.load_benchmark("nb101_subset")
    config = seminas.SemiNASConfig.reference()
    space = bench.space
    batch = config.train_batch_size
    per_step, cpu_step = {}, {}
    for size in (1100, 21000) if args.epochs else ():
        seconds, cpu, compile_s = epoch_seconds(space, config, size, args.epochs)
        per_step[size] = seconds / math.ceil(size / batch)
        cpu_step[size] = cpu / math.ceil(size / batch)
        print(f"reference model, {size} architectures: {seconds:.3f} s/epoch wall, {cpu:.3f} s/epoch "
              f"process CPU ({per_step[size] * 1e3:.2f} ms/step wall, {cpu_step[size] * 1e3:.2f} ms/step CPU, "
              f"compile+1 epoch {compile_s:.1f} s)", flush=True)
    total_steps = 0
    for r in range(config.iterations):
        size = config.initial_size + r * config.new_per_iteration
        total_steps += config.pretrain_epochs * math.ceil(size / batch)
        total_steps += config.epochs * math.ceil((config.up_sample_ratio * size + config.unlabelled_size) / batch)
    if args.epochs:
        step_s = per_step[21000]  # the main phase dominates; its per-step time is the steady state
        print(f"extrapolated full reference run: {total_steps} training steps x {step_s * 1e3:.2f} ms "
              f"= {total_steps * step_s / 3600:.2f} h wall (training only; PyTorch ~5.5 h); process CPU "
              f"{total_steps * cpu_step[21000] / 3600:.2f} h, i.e. >= {total_steps * cpu_step[21000] / 3600 / 2:.2f} h "
              f"wall on 2 idle cores", flush=True)
    if args.end_to_end:
        cut = dataclasses.replace(config, pretrain_epochs=1, epochs=1)
        algorithm = seminas.seminas(bench.search_space, cut)
        start, cpu_start = time.perf_counter(), time.process_time()
        # 1 initial step + 3 rounds; the cap stops a search whose rounds came up short.
        result = runner.run_search(algorithm, bench, seminas.REFERENCE_BUDGET, 1, algorithm_name="seminas",
                                   max_steps=4 * (1 + config.iterations))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        print(f"end to end, reference sizes, 1+1 epochs per round: {wall:.1f} s wall ({cpu:.1f} s CPU), queries "
              f"{int(result.queries[0])}, steps {int(result.steps[0])}, best validation "
              f"{result.curve[0, -1]:.3f}", flush=True)


if __name__ == "__main__":
    main()
