"""The cell-graph auto-encoder: node-level latents from the cell-graph GCN, decoded back
to the cell's adjacency and ops (GAE style); the assessor's architecture embedding."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import optax

from jaxnas.models.cell_graph_gcn import CellGraphEncoder, nodes_by_position
from jaxnas.spaces import base as spaces_base


class ArchAutoEncoder(nn.Module):
    """Graph auto-encoder with node-level latents (GAE style).

    Encoder: the cell-graph GCN (both edge directions, self-loops), then a linear map to
    ``latent`` dims per node. Decoder: adjacency logits ``(z_i P) . (z_j Q)`` (two maps,
    so edge direction is recoverable) and op logits ``z_i W + b`` over the node types
    plus a "padding" class. The architecture embedding is the node latents concatenated
    in node order (zeros at padding nodes): float[B, max_nodes * latent].
    """

    max_nodes: int
    num_node_types: int
    hidden: int = 64
    layers: int = 2
    latent: int = 8

    def setup(self):
        self.encoder = CellGraphEncoder((self.hidden,) * self.layers, directions="both", self_loops=True)
        self.to_latent = nn.Dense(self.latent)
        self.source = nn.Dense(self.latent, use_bias=False)
        self.target = nn.Dense(self.latent, use_bias=False)
        self.op_logits = nn.Dense(self.num_node_types + 1)

    def encode_nodes(self, graphs: jraph.GraphsTuple) -> jax.Array:
        """float[B, max_nodes, latent] node latents in node order (0 at padding)."""
        _, nodes = self.encoder(graphs, return_nodes=True)
        return nodes_by_position(self.to_latent(nodes), graphs, self.max_nodes)

    def encode(self, graphs: jraph.GraphsTuple) -> jax.Array:
        z = self.encode_nodes(graphs)
        return z.reshape(z.shape[0], -1)

    def decode(self, embedding: jax.Array) -> tuple[jax.Array, jax.Array]:
        z = embedding.reshape(embedding.shape[0], self.max_nodes, self.latent)
        adjacency_logits = jnp.einsum("bik,bjk->bij", self.source(z), self.target(z))
        return adjacency_logits, self.op_logits(z)

    def __call__(self, graphs: jraph.GraphsTuple):
        return self.decode(self.encode(graphs))


def reconstruction_loss(adj_logits, op_logits, graphs: spaces_base.CellGraph) -> tuple[jax.Array, jax.Array]:
    """Per-architecture (loss float[B], exact float[B]): BCE over every adjacency entry +
    mean op cross-entropy (padding is a class); exact = 1 when both are reconstructed."""
    num_types = op_logits.shape[-1] - 1
    adjacency = jnp.asarray(graphs.adjacency, jnp.float32)
    ops = jnp.where(graphs.node_ops >= 0, graphs.node_ops, num_types)
    adj_loss = optax.sigmoid_binary_cross_entropy(adj_logits, adjacency).sum(axis=(1, 2))
    op_loss = optax.softmax_cross_entropy_with_integer_labels(op_logits, ops).sum(axis=1)
    exact = jnp.all((adj_logits > 0) == (adjacency > 0), axis=(1, 2)) & jnp.all(op_logits.argmax(-1) == ops, axis=1)
    return adj_loss + op_loss, exact.astype(jnp.float32)


__all__ = ["ArchAutoEncoder", "reconstruction_loss"]
