"""The relation GCN: a Kipf-Welling GCN over a graph whose nodes are architectures.

The assessor's relation graph (architectures joined to their nearest neighbours in an
embedding space, Gaussian edge weights) is propagated with the symmetric normalisation
A_hat = D^-1/2 (W + I) D^-1/2 as sparse edge coefficients (:class:`NormalisedEdges`).

A graph that stays fixed across many steps (the assessor's pool) can also carry its edges
as per-node lists (:class:`EdgeTables`): propagation is then gathers of node rows, with a
hand-written backward that gathers through the transposed lists. On XLA:CPU the edge-list
form's [E, F] message array is the cost (a gather of E = 20 N rows took 25-40x one of N
rows), and the autodiff backward of a gather is a scatter.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class EdgeTables:
    """The first ``num_edges`` edges of an edge list as per-node lists padded to the
    largest degree: row i of ``incoming`` holds the ids of the edges into node i, with
    their senders in ``incoming_senders``; row j of ``outgoing`` the ids of the edges out of
    node j, with their receivers. Padding entries hold the id ``num_edges`` (a zero
    coefficient) and node 0. Built on the host by :func:`edge_tables`."""

    incoming: jax.Array  # int32[T, D_in]
    incoming_senders: jax.Array  # int32[T, D_in]
    outgoing: jax.Array  # int32[T, D_out]
    outgoing_receivers: jax.Array  # int32[T, D_out]
    num_edges: int = flax.struct.field(pytree_node=False)


def edge_tables(senders, receivers, num_nodes: int) -> EdgeTables:
    """Host side: :class:`EdgeTables` of a fixed edge list over nodes ``0..num_nodes-1``."""
    senders, receivers = np.asarray(senders, np.int64), np.asarray(receivers, np.int64)
    if senders.size and max(senders.max(), receivers.max()) >= num_nodes:
        raise ValueError(f"edge_tables: an edge names node {max(senders.max(), receivers.max())}, "
                         f"the graph has {num_nodes} nodes")
    num_edges = senders.shape[0]

    def lists(keys, others):
        order = np.argsort(keys, kind="stable")
        counts = np.bincount(keys, minlength=num_nodes)
        slot = np.arange(num_edges) - (np.cumsum(counts) - counts)[keys[order]]
        ids = np.full((num_nodes, counts.max(initial=0)), num_edges, np.int32)
        ends = np.zeros(ids.shape, np.int32)
        ids[keys[order], slot] = order
        ends[keys[order], slot] = others[order]
        return jnp.asarray(ids), jnp.asarray(ends)

    incoming, incoming_senders = lists(receivers, senders)
    outgoing, outgoing_receivers = lists(senders, receivers)
    return EdgeTables(incoming, incoming_senders, outgoing, outgoing_receivers, num_edges)


class NormalisedEdges(NamedTuple):
    """A_hat = D^-1/2 (W + I) D^-1/2 as edge coefficients plus the self-loop coefficient."""

    senders: jax.Array
    receivers: jax.Array
    coefficients: jax.Array  # float[E]
    self_coefficient: jax.Array  # float[num_nodes] = 1 / degree
    tables: Optional[EdgeTables] = None  # the first tables.num_edges edges as per-node lists


def normalise(senders: jax.Array, receivers: jax.Array, weights: jax.Array, num_nodes: int,
              tables: Optional[EdgeTables] = None) -> NormalisedEdges:
    """Symmetric GCN normalisation; degree = 1 + incoming weight. For receive-only
    (attached query) edges this leaves the senders' degrees unchanged, as it should.
    ``tables``, if given, lists the first ``tables.num_edges`` of these edges per node."""
    degree = 1.0 + jax.ops.segment_sum(weights, receivers, num_nodes)
    inv_sqrt = jax.lax.rsqrt(degree)
    return NormalisedEdges(senders, receivers, weights * inv_sqrt[senders] * inv_sqrt[receivers], 1.0 / degree,
                           tables)


def _edge_list_propagate(h, senders, receivers, coefficients):
    return jax.ops.segment_sum(h[senders] * coefficients[:, None], receivers, h.shape[0])


def _gather_sum(h, coefficients, ids, nodes):
    """sum_d coefficients[ids[:, d]] * h[nodes[:, d]]: one [T, F] gather per column."""
    padded = jnp.concatenate([coefficients, jnp.zeros((1,), coefficients.dtype)])
    out = jnp.zeros((ids.shape[0], h.shape[1]), h.dtype)
    for d in range(ids.shape[1]):
        out = out + padded[ids[:, d]][:, None] * h[nodes[:, d]]
    return out


@jax.custom_vjp
def _table_propagate(h, coefficients, tables):
    return _gather_sum(h, coefficients, tables.incoming, tables.incoming_senders)


def _table_propagate_fwd(h, coefficients, tables):
    return _table_propagate(h, coefficients, tables), (h, coefficients, tables)


def _table_propagate_bwd(residuals, g):
    h, coefficients, tables = residuals
    # d/dh: the transpose, gathered through the outgoing lists.
    dh = _gather_sum(g, coefficients, tables.outgoing, tables.outgoing_receivers)
    # d/dcoefficient of edge j -> i: <g_i, h_j> (dropped by XLA when nothing needs it).
    per_slot = jnp.einsum("tf,tdf->td", g, h[tables.incoming_senders])
    dc = jnp.zeros((coefficients.shape[0] + 1,), g.dtype).at[tables.incoming].add(per_slot)[:-1]
    return dh, dc, None


_table_propagate.defvjp(_table_propagate_fwd, _table_propagate_bwd)


def propagate(h: jax.Array, edges: NormalisedEdges) -> jax.Array:
    """A_hat h: through the edge tables where given (their first rows), the remaining
    edges as one gather and one segment_sum."""
    out = h * edges.self_coefficient[:, None]
    tables = edges.tables
    if tables is None:
        return out + _edge_list_propagate(h, edges.senders, edges.receivers, edges.coefficients)
    k, rows = tables.num_edges, tables.incoming.shape[0]
    listed = _table_propagate(h[:rows], edges.coefficients[:k], tables)
    out = out + jnp.pad(listed, ((0, h.shape[0] - rows), (0, 0)))
    if edges.senders.shape[0] > k:
        out = out + _edge_list_propagate(h, edges.senders[k:], edges.receivers[k:], edges.coefficients[k:])
    return out


class RelationGCNLayer(nn.Module):
    """``A_hat h W + b`` (+ ``h U`` with ``root_weight``), propagating in the smaller of
    the in/out widths (the same result, cheaper)."""

    features: int
    root_weight: bool = False

    @nn.compact
    def __call__(self, h: jax.Array, edges: NormalisedEdges) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (h.shape[1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.features < h.shape[1]:
            out = propagate(h @ kernel, edges) + bias
        else:
            out = propagate(h, edges) @ kernel + bias
        if self.root_weight:
            out = out + nn.Dense(self.features, use_bias=False, name="root")(h)
        return out


def propagate_hops(h: jax.Array, edges: NormalisedEdges, hops: int) -> jax.Array:
    """A_hat^hops h."""
    for _ in range(hops):
        h = propagate(h, edges)
    return h


class RelationGCN(nn.Module):
    """Kipf-Welling GCN on the relation graph, one scalar per node.

    Layer l computes ``A_hat h W_l + b_l`` with ReLU (and dropout) between layers, e.g.
    ``A_hat relu(A_hat X W_1 + b_1) W_2 + b_2`` for 2 layers (Kipf & Welling). The first
    layer's input ``A_hat^input_hops X`` does not depend on params and is passed in
    precomputed. With ``root_weight`` every layer also adds the node's own features
    ``h U_l`` (GraphConv-style): symmetric normalisation gives a node's own features only
    1/degree of its input, which blurs the scores of neighbouring cells.
    """

    hidden: int = 64
    layers: int = 2
    root_weight: bool = False
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, features: jax.Array, propagated_features: jax.Array, edges: NormalisedEdges,
                 deterministic: bool = True) -> jax.Array:
        width = lambda layer: 1 if layer == self.layers - 1 else self.hidden
        h = nn.Dense(width(0))(propagated_features)
        if self.root_weight:
            h = h + nn.Dense(width(0), use_bias=False, name="root_0")(features)
        for layer in range(1, self.layers):
            h = nn.Dropout(self.dropout_rate)(nn.relu(h), deterministic=deterministic)
            h = RelationGCNLayer(width(layer), self.root_weight)(h, edges)
        return h[:, 0]


__all__ = [
    "EdgeTables",
    "NormalisedEdges",
    "RelationGCN",
    "RelationGCNLayer",
    "edge_tables",
    "normalise",
    "propagate",
    "propagate_hops",
]
