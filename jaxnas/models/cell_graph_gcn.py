"""The cell-graph GCN: graph convolutions over a padded batch of cell graphs.

Every graph network over cells in jaxnas encodes the padded ``jraph.GraphsTuple`` that
``space.graphs_tuple`` builds (one-hot op node features, real nodes packed, one trailing
padding graph):

* :class:`CellGraphEncoder` -- stacked graph convolutions over that batch, giving node
  embeddings and (mean-pooled) per-architecture embeddings. Configurable depth/width,
  edge directions (forward, reverse, both averaged, undirected), self-loops, dropout.
* :class:`RegressionHead` -- fully connected layer(s) to a scalar score.
* :class:`GraphRegressor` -- encoder + head.

Graph convolution, per direction d (forward: a node aggregates its predecessors;
reverse: its successors), with self-loops and row (mean) normalisation:

    h_d = act(W_d . mean({h_v} U {h_u : u -> v along d}))

and the layer output is the average of the directions used ("both" = Wen et al.'s
forward + reverse adjacency). "undirected" aggregates over both neighbour sets with one
weight matrix (a plain GCN).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

DIRECTIONS = ("forward", "reverse", "both", "undirected")


# ----------------------------------------------------------------------------- graph ops
def graph_ids(graphs: jraph.GraphsTuple) -> jax.Array:
    """int32[total_nodes]: the graph each node belongs to (static shapes, jittable)."""
    num_graphs = graphs.n_node.shape[0]
    total_nodes = graphs.nodes.shape[0]
    return jnp.repeat(jnp.arange(num_graphs), graphs.n_node, total_repeat_length=total_nodes)


def aggregate(h: jax.Array, sources: jax.Array, targets: jax.Array, self_loops: bool,
              weights: Optional[jax.Array] = None) -> jax.Array:
    """Mean over {h[v]} (if self_loops) and {h[sources[e]] : targets[e] == v}, per node v.

    Edge ``weights`` (default 1) scale messages and count toward the normaliser. Nodes
    with no messages (and no self-loop) get 0.
    """
    num_nodes = h.shape[0]
    w = jnp.ones(sources.shape, h.dtype) if weights is None else weights.astype(h.dtype)
    total = jax.ops.segment_sum(h[sources] * w[:, None], targets, num_nodes)
    count = jax.ops.segment_sum(w, targets, num_nodes)
    if self_loops:
        total, count = total + h, count + 1.0
    return total / jnp.maximum(count, 1e-12)[:, None]


def mean_pool(node_features: jax.Array, graphs: jraph.GraphsTuple) -> jax.Array:
    """float[num_graphs - 1, F]: mean over each real graph's nodes (padding graph dropped)."""
    num_graphs = graphs.n_node.shape[0]
    sums = jax.ops.segment_sum(node_features, graph_ids(graphs), num_graphs)
    means = sums / jnp.maximum(graphs.n_node, 1)[:, None].astype(node_features.dtype)
    return means[:-1]


def nodes_by_position(node_features: jax.Array, graphs: jraph.GraphsTuple, max_nodes: int) -> jax.Array:
    """float[num_graphs - 1, max_nodes, F]: each real graph's node features in node order,
    zeros at padding positions (an order-aware readout for cells with canonical node order)."""
    n_node = graphs.n_node[:-1]
    offsets = jnp.cumsum(n_node) - n_node
    positions = offsets[:, None] + jnp.arange(max_nodes)[None, :]
    real = jnp.arange(max_nodes)[None, :] < n_node[:, None]
    gathered = node_features[jnp.where(real, positions, 0)]
    return jnp.where(real[..., None], gathered, 0.0)


# ----------------------------------------------------------------------------- modules
class DirectedGraphConv(nn.Module):
    """One graph convolution layer over a GraphsTuple's senders -> receivers edges."""

    features: int
    directions: str = "both"
    self_loops: bool = True
    activation: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, h: jax.Array, graphs: jraph.GraphsTuple) -> jax.Array:
        s, r = graphs.senders, graphs.receivers
        if self.directions == "undirected":
            both_s, both_r = jnp.concatenate([s, r]), jnp.concatenate([r, s])
            return self.activation(aggregate(nn.Dense(self.features, name="undirected")(h), both_s, both_r, self.self_loops))
        outputs = []
        if self.directions in ("forward", "both"):  # a node hears its predecessors
            outputs.append(self.activation(aggregate(nn.Dense(self.features, name="forward")(h), s, r, self.self_loops)))
        if self.directions in ("reverse", "both"):  # a node hears its successors
            outputs.append(self.activation(aggregate(nn.Dense(self.features, name="reverse")(h), r, s, self.self_loops)))
        return sum(outputs) / len(outputs)


class CellGraphEncoder(nn.Module):
    """Graph convolutions over a padded batch of cell graphs.

    ``__call__`` returns per-architecture embeddings float[num_graphs - 1, hidden[-1]]
    (mean over each graph's nodes; the trailing padding graph is dropped) and, with
    ``return_nodes=True``, also the node embeddings float[total_nodes, hidden[-1]].
    """

    hidden_sizes: Sequence[int] = (144, 144, 144, 144)
    directions: str = "both"
    self_loops: bool = True
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, graphs: jraph.GraphsTuple, deterministic: bool = True, return_nodes: bool = False):
        if self.directions not in DIRECTIONS:
            raise ValueError(f"directions must be one of {DIRECTIONS}, got {self.directions!r}")
        h = graphs.nodes
        for width in self.hidden_sizes:
            h = DirectedGraphConv(width, self.directions, self.self_loops)(h, graphs)
            h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
        pooled = mean_pool(h, graphs)
        return (pooled, h) if return_nodes else pooled


class RegressionHead(nn.Module):
    """Fully connected layers (ReLU) then a linear scalar output: float[B, F] -> float[B]."""

    hidden_sizes: Sequence[int] = (128,)
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
            x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return nn.Dense(1)(x)[:, 0]


class GraphRegressor(nn.Module):
    """CellGraphEncoder + RegressionHead: one score per real graph of the batch."""

    encoder: CellGraphEncoder
    head: RegressionHead

    def __call__(self, graphs: jraph.GraphsTuple, deterministic: bool = True) -> jax.Array:
        return self.head(self.encoder(graphs, deterministic=deterministic), deterministic=deterministic)


__all__ = [
    "CellGraphEncoder",
    "DIRECTIONS",
    "DirectedGraphConv",
    "GraphRegressor",
    "RegressionHead",
    "aggregate",
    "graph_ids",
    "mean_pool",
    "nodes_by_position",
]
