"""How close to the matmul bound can the Wen-sized cell GCN get on this machine?

    python scripts/bench_gcn_ceiling.py [--chunks=512,1024,2048] [--repeats=5]

Predicts ``chunk`` random NB101 cells with the throughput benchmark's GCN (4 x 144 directed
graph convolutions, FC 128) in four forms that share one set of weights, and prints each
one's architectures/s and fraction of this machine's float32 matmul rate, always with the
same dense FLOP count (``throughput.gcn_flops_per_architecture``):

* ``jraph``: the library's predictor (packed GraphsTuple, gather + segment-sum messages);
* ``dense``: the same network on padded [B, 7, F] node arrays, messages as a batched
  einsum with the row-normalised 7 x 7 adjacency (outputs checked equal to ``jraph``);
* ``jraph_no_messages`` / ``dense_no_messages``: the same two with the message step
  deleted (node transforms, ReLU, pooling and head only). They do less work than the FLOP
  count credits, so they are an upper bound on what any message implementation reaches;
* ``matmul_gcn_shape``: the bare (7 * chunk, 144) x (144, 144) product the layers are made of.

If the ``*_no_messages`` rows sit near a goal, the goal needs messages that cost nothing
(BUILD_NOTES.md, issue 7, session 7).
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import benchmarks, throughput
from jaxnas.predictors import gcn


def normalised_adjacency(adjacency, mask):
    """[forward, reverse] row-normalised adjacencies with self-loops (the jraph model's mean)."""
    eye = jnp.eye(adjacency.shape[-1], dtype=adjacency.dtype)
    real = mask[:, :, None] * mask[:, None, :]
    forward = jnp.swapaxes(adjacency, 1, 2) * real + eye * mask[:, :, None]  # a node hears its predecessors
    reverse = adjacency * real + eye * mask[:, :, None]
    return [m / jnp.maximum(m.sum(-1, keepdims=True), 1e-12) for m in (forward, reverse)]


def dense_gcn(num_node_types: int, messages: bool):
    """Forward pass of gcn.make_model's network (directions 'both', self-loops) on padded cells."""

    @jax.jit
    def predict(params, graphs):
        mask = (graphs.node_ops >= 0).astype(jnp.float32)
        h = jax.nn.one_hot(jnp.maximum(graphs.node_ops, 0), num_node_types) * mask[..., None]
        mats = normalised_adjacency(graphs.adjacency.astype(jnp.float32), mask)
        encoder, head = params["params"]["encoder"], params["params"]["head"]
        layer = 0
        while f"DirectedGraphConv_{layer}" in encoder:
            conv = encoder[f"DirectedGraphConv_{layer}"]
            outs = []
            for m, name in zip(mats, ("forward", "reverse")):
                y = h @ conv[name]["kernel"] + conv[name]["bias"]
                outs.append(jax.nn.relu(jnp.einsum("bij,bjf->bif", m, y) if messages else y))
            h = (outs[0] + outs[1]) / 2
            layer += 1
        pooled = (h * mask[..., None]).sum(1) / jnp.maximum(mask.sum(1, keepdims=True), 1.0)
        x = jax.nn.relu(pooled @ head["Dense_0"]["kernel"] + head["Dense_0"]["bias"])
        return (x @ head["Dense_1"]["kernel"] + head["Dense_1"]["bias"])[:, 0]

    return predict


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", default="512,1024,2048")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    space = benchmarks.load_benchmark("nb101_subset", None).space
    model = throughput.ADAPTERS["gcn"](space)
    rate = throughput.matmul_flops_per_second()
    print(f"matmul bound: {rate / 1e9:.1f} GFLOP/s; GCN: {model.flops_per_arch / 1e6:.3f} MFLOP per cell (dense count)")

    original_aggregate = gcn.aggregate
    model_no_messages = throughput.ADAPTERS["gcn"](space)  # its own jit cache
    rng = np.random.default_rng(0)
    for chunk in (int(c) for c in args.chunks.split(",")):
        inputs = model.inputs(space, rng.integers(0, space.num_architectures, chunk))
        params = model.init(jax.random.key(0), inputs)[0]
        dense = dense_gcn(space.num_node_types, messages=True)
        error = float(jnp.max(jnp.abs(dense(params, inputs) - model.predict(params, inputs))))
        gcn.aggregate = lambda h, *args, **kwargs: h  # traced once, inside the next jit only
        try:
            model_no_messages.predict(params, inputs).block_until_ready()
        finally:
            gcn.aggregate = original_aggregate
        forms = {
            "jraph": lambda: model.predict(params, inputs),
            "dense": lambda: dense(params, inputs),
            "jraph_no_messages": lambda: model_no_messages.predict(params, inputs),
            "dense_no_messages": (lambda f: lambda: f(params, inputs))(dense_gcn(space.num_node_types, False)),
        }
        for name, fn in forms.items():
            seconds = throughput.median_seconds(lambda: fn().block_until_ready(), args.repeats, min_seconds=2.0)
            print(f"chunk {chunk:6d}  {name:18s} {chunk / seconds:9.0f} cells/s  "
                  f"{100 * chunk / seconds * model.flops_per_arch / rate:5.1f} % of the matmul bound")
        a = jax.random.normal(jax.random.key(0), (7 * chunk, 144))
        b = jax.random.normal(jax.random.key(1), (144, 144))
        product = jax.jit(lambda x, y: x @ y)
        seconds = throughput.median_seconds(lambda: product(a, b).block_until_ready(), args.repeats, min_seconds=1.0)
        print(f"chunk {chunk:6d}  {'matmul_gcn_shape':18s} {'':9s}               "
              f"{100 * 2 * 7 * chunk * 144 * 144 / seconds / rate:5.1f} % of the matmul bound   "
              f"(dense vs jraph max |diff| {error:.1e})")


if __name__ == "__main__":
    main()
