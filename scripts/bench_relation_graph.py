r"""Time and memory of building the assessor's relation graph over 100,000 NB101 cells.

    python -m scripts.bench_relation_graph --nodes=100000 --knn=10

Takes the auto-encoder embeddings of ``--nodes`` random NB101 cells (the assessor's
cached embeddings of all 423,624 cells; trained first if not cached, which is not
timed), standardises them, and builds the symmetric kNN graph with thresholded Gaussian
weights (exact blocked kNN, symmetrisation, de-duplication) as one jitted program.
Prints the compile time, the build time (median of ``--repeats`` runs after
compilation), the peak resident memory of the process before and after the build, and
the size of the graph's arrays.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxnas.predictors import assessor
from jaxnas.spaces import nb101


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100_000, help="Relation-graph nodes (random NB101 cells).")
    parser.add_argument("--knn", type=int, default=10, help="Neighbours per node.")
    parser.add_argument("--block", type=int, default=256, help="Query rows per kNN block.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed builds after compilation.")
    parser.add_argument("--seed", type=int, default=0, help="Which random cells.")
    parser.add_argument("--features", default="autoencoder", choices=["autoencoder", "random"],
                        help="autoencoder: the assessor's NB101 embeddings; random: Gaussian features of the same width.")
    parser.add_argument("--data_dir", default=None, help="Benchmark data folder.")
    args = parser.parse_args(argv)
    for name, lowest in (("nodes", 2), ("knn", 1), ("block", 1), ("repeats", 1)):
        if getattr(args, name) < lowest:
            parser.error(f"--{name} must be at least {lowest}")
    return args


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main(argv=None):
    args = parse_args(argv)
    logging.set_verbosity(logging.INFO)
    space = nb101.NB101Space(data_dir=args.data_dir)
    config = assessor.AssessorConfig.for_benchmark("nb101")
    rows = np.sort(np.random.default_rng(args.seed).choice(space.num_architectures, args.nodes, replace=False))
    if args.features == "autoencoder":
        embeddings = assessor.pretrained_autoencoder(space, config)["embeddings"][rows]
    else:
        width = space.max_nodes * config.ae_latent
        embeddings = np.random.default_rng(args.seed).normal(size=(args.nodes, width)).astype(np.float32)
    features = jnp.asarray((embeddings - embeddings.mean(0)) / (embeddings.std(0) + 1e-6))
    build = jax.jit(assessor.build_relation_graph, static_argnames=("k", "min_weight", "block"))

    rss_before = peak_rss_mib()
    start = time.perf_counter()
    compiled = build.lower(features, k=args.knn, block=args.block).compile()
    compile_seconds = time.perf_counter() - start
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        relation = jax.block_until_ready(compiled(features))
        times.append(time.perf_counter() - start)
    rss_after = peak_rss_mib()

    graph = relation.graph
    num_edges = int(graph.n_edge[0])
    senders = np.asarray(graph.senders[:num_edges])
    degree = np.bincount(senders, minlength=args.nodes)
    graph_bytes = sum(np.asarray(a).nbytes for a in (graph.nodes, graph.edges, graph.senders, graph.receivers))
    trimmed_bytes = graph.nodes.nbytes + num_edges * (4 + 4 + 4)
    block_bytes = args.block * args.nodes * 4
    print(f"relation graph over {args.nodes:,} NB101 cells ({args.features} features, "
          f"{features.shape[1]} dims), k={args.knn}, block={args.block}, {jax.devices()[0].device_kind}")
    print(f"  compile: {compile_seconds:.1f}s; build: median {statistics.median(times):.1f}s "
          f"(runs {', '.join(f'{t:.1f}' for t in times)} s)")
    print(f"  edges: {num_edges:,} undirected-pair directions (degree min {degree.min()}, mean {degree.mean():.1f}, "
          f"max {degree.max()}), no self-loops: {bool(np.all(senders != np.asarray(graph.receivers[:num_edges])))}")
    print(f"  peak RSS: {rss_before:.0f} MiB before, {rss_after:.0f} MiB after (+{rss_after - rss_before:.0f} MiB)")
    print(f"  arrays: graph {graph_bytes / 2**20:.1f} MiB padded, {trimmed_bytes / 2**20:.1f} MiB trimmed; "
          f"one distance block {block_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
