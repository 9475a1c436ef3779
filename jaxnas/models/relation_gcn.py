"""The relation GCN: a Kipf-Welling GCN over a graph whose nodes are architectures.

The assessor's relation graph (architectures joined to their nearest neighbours in an
embedding space, Gaussian edge weights) is propagated with the symmetric normalisation
A_hat = D^-1/2 (W + I) D^-1/2 as sparse edge coefficients (:class:`NormalisedEdges`).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax

class NormalisedEdges(NamedTuple):
    """A_hat = D^-1/2 (W + I) D^-1/2 as edge coefficients plus the self-loop coefficient."""

    senders: jax.Array
    receivers: jax.Array
    coefficients: jax.Array  # float[E]
    self_coefficient: jax.Array  # float[num_nodes] = 1 / degree


def normalise(senders: jax.Array, receivers: jax.Array, weights: jax.Array, num_nodes: int) -> NormalisedEdges:
    """Symmetric GCN normalisation; degree = 1 + incoming weight. For receive-only
    (attached query) edges this leaves the senders' degrees unchanged, as it should."""
    degree = 1.0 + jax.ops.segment_sum(weights, receivers, num_nodes)
    inv_sqrt = jax.lax.rsqrt(degree)
    return NormalisedEdges(senders, receivers, weights * inv_sqrt[senders] * inv_sqrt[receivers], 1.0 / degree)


def propagate(h: jax.Array, edges: NormalisedEdges) -> jax.Array:
    """A_hat h (sparse: one gather and one segment_sum over the edges)."""
    messages = h[edges.senders] * edges.coefficients[:, None]
    return jax.ops.segment_sum(messages, edges.receivers, h.shape[0]) + h * edges.self_coefficient[:, None]


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
    "NormalisedEdges",
    "RelationGCN",
    "RelationGCNLayer",
    "normalise",
    "propagate",
    "propagate_hops",
]
