"""Does vmapping a GCN training step over seeds batch anything on this machine?

    python scripts/bench_vmap_gcn.py [--seeds=1,8,32] [--steps=200] [--batch=50]

Times ``--steps`` Adam steps (one ``lax.scan``) of the AceNAS-sized cell GCN (4 x 64, FC 64)
on ``--batch`` NB201 graphs, for S parameter sets three ways: vmapped with per-seed graphs
(what a vmapped predictor-based search does), vmapped with one shared graph batch, and
one parameter set on S x batch graphs folded into a single batch (the most any batching of
seeds can gain). Prints ms per seed-step; if the folded cost per graph does not fall with S,
a search whose cost is per-seed training cannot have an S-vs-1 wall ratio far below S here
(BUILD_NOTES.md, issue 7, session 5).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import optax

from jaxnas import benchmarks
from jaxnas.predictors import gcn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,8,32")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    bench = benchmarks.load_benchmark("nb201_cifar10")
    space = bench.search_space
    net = gcn.make_model(gcn.GCNConfig(hidden=64, fc_hidden=64, dropout=0.0))
    indices = jnp.arange(args.batch) * (space.num_architectures // args.batch)
    graphs = gcn.cell_graphs(space, space.from_index_batch(indices))
    labels = jnp.asarray(bench.signal)[indices]
    params = net.init(jax.random.key(0), gcn.batch_graphs(space, graphs))
    optimizer = optax.adam(1e-3)

    def train(p, opt_state, cell_graphs, y):
        def step(carry, _):
            p, opt_state = carry
            batch = gcn.batch_graphs(space, cell_graphs)
            loss, grads = jax.value_and_grad(lambda p: jnp.mean((net.apply(p, batch) - y) ** 2))(p)
            updates, opt_state = optimizer.update(grads, opt_state, p)
            return (optax.apply_updates(p, updates), opt_state), loss
        return jax.lax.scan(step, (p, opt_state), None, length=args.steps)

    def timed(fn, *inputs):
        jax.block_until_ready(fn(*inputs))  # compile + warm up
        start = time.perf_counter()
        jax.block_until_ready(fn(*inputs))
        return time.perf_counter() - start

    stack = lambda tree, s: jax.tree_util.tree_map(lambda a: jnp.stack([a] * s), tree)
    concat = lambda tree, s: jax.tree_util.tree_map(lambda a: jnp.concatenate([a] * s), tree)
    print(f"{args.steps} steps, batch {args.batch}: ms per seed-step")
    for s in [int(x) for x in args.seeds.split(",")]:
        ps = stack(params, s)
        opt_states = jax.vmap(optimizer.init)(ps)
        ys = stack(labels, s)
        per_seed = timed(jax.jit(jax.vmap(train)), ps, opt_states, stack(graphs, s), ys)
        shared = timed(jax.jit(jax.vmap(train, in_axes=(0, 0, None, 0))), ps, opt_states, graphs, ys)
        folded = timed(jax.jit(train), params, optimizer.init(params), concat(graphs, s), concat(labels, s))
        per = lambda t: f"{t / args.steps / s * 1e3:6.2f}"
        print(f"  S={s:3d}: vmapped per-seed graphs {per(per_seed)}   vmapped shared graphs {per(shared)}   "
              f"folded into one batch {per(folded)}", flush=True)


if __name__ == "__main__":
    main()
