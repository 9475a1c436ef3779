"""The interface every search space implements.

An architecture is a small pytree of fixed-shape integer arrays (a ``flax.struct``
dataclass per space), so that sampling, mutation, validation, indexing and encodings are
pure, jittable functions of ONE architecture; batches come from ``jax.vmap``. The
``*_batch`` helpers on the base class do that vmapping once, for everyone.

Every space has a canonical enumeration (``num_architectures`` rows): ``index`` maps an
architecture to its row (-1 when it is invalid or, for NB101, not a cell of the space) and
``from_index`` maps back. Benchmarks are arrays over that enumeration, so an oracle
lookup is an array gather inside jit.
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import jraph
import numpy as np

Arch = Any  # a space's architecture pytree (one architecture, or a batch of them)


class InvalidArchitectureError(ValueError):
    """An architecture is malformed: wrong shape, unknown op, not a DAG, too many edges..."""


class CellGraph(NamedTuple):
    """An architecture as a directed graph with operations on the nodes.

    node_ops: int32[N] node type (op) per node, -1 for padding nodes.
    adjacency: bool[N, N], adjacency[i, j] is an edge i -> j.
    """

    node_ops: jax.Array
    adjacency: jax.Array


class SearchSpace(abc.ABC):
    """Sample / validate / canonicalise / mutate / index / encode one architecture."""

    name: str
    # Size of the canonical enumeration (rows of ``index``/``from_index``).
    num_architectures: int
    # Token encoding: sequence length and vocabulary size (token 0 is padding).
    sequence_length: int
    vocab_size: int
    # Graph encoding: max nodes, number of node types (one-hot width), max edges.
    max_nodes: int
    num_node_types: int
    max_edges: int
    # Width of the flat one-hot encoding.
    one_hot_size: int

    # ----------------------------------------------------------------- generation
    @abc.abstractmethod
    def sample(self, key: jax.Array) -> Arch:
        """A valid architecture drawn uniformly from the space's enumeration.

        Uniform over distinct architectures, so random search and initial training sets
        are not dominated by cells that a raw generative rule produces many times.
        """

    @abc.abstractmethod
    def mutate(self, key: jax.Array, arch: Arch) -> Arch:
        """A valid architecture one mutation away from ``arch`` and different from it."""

    def mutate_where(self, key: jax.Array, arch: Arch, accept) -> Arch:
        """A mutation of ``arch`` that also satisfies ``accept(child) -> bool``.

        Rejection sampling over ``mutate``; spaces whose ``mutate`` is itself a rejection
        loop override this to fold ``accept`` into that one loop. If no child is accepted
        within the round limit the last one is returned (callers treat it as any other
        child: the ledger answers NaN for cells outside the benchmark).
        """
        return first_accepted(key, lambda k: self.mutate(k, arch), accept)

    # ----------------------------------------------------------------- validity
    @abc.abstractmethod
    def is_valid(self, arch: Arch) -> jax.Array:
        """bool scalar: is ``arch`` a valid architecture of the space (jittable)."""

    @abc.abstractmethod
    def check(self, arch: Arch) -> None:
        """Host-side validation; raises InvalidArchitectureError saying what is wrong."""

    @abc.abstractmethod
    def canonicalise(self, arch: Arch) -> Arch:
        """A canonical representative of the architectures computing the same function."""

    # ----------------------------------------------------------------- enumeration
    @abc.abstractmethod
    def index(self, arch: Arch) -> jax.Array:
        """int32 scalar row of ``arch`` in the space's enumeration, -1 if invalid."""

    @abc.abstractmethod
    def from_index(self, index: jax.Array) -> Arch:
        """The architecture in row ``index`` of the enumeration; an index outside
        [0, num_architectures) gives an invalid architecture (``index`` of it is -1),
        never a real cell."""

    def search_domain(self) -> Optional[np.ndarray]:
        """int32 indices (ascending) of the architectures a search may propose; None when
        that is every row of the enumeration."""
        return None

    # ----------------------------------------------------------------- encodings
    @abc.abstractmethod
    def one_hot(self, arch: Arch) -> jax.Array:
        """float32[one_hot_size] flat encoding."""

    @abc.abstractmethod
    def tokens(self, arch: Arch) -> jax.Array:
        """int32[sequence_length] token sequence with values in [1, vocab_size)."""

    @abc.abstractmethod
    def from_tokens(self, tokens: jax.Array) -> Arch:
        """Inverse of ``tokens`` (for sequence decoders); may yield invalid archs."""

    @abc.abstractmethod
    def graph(self, arch: Arch) -> CellGraph:
        """The architecture as a graph with ops on nodes (padded to max_nodes)."""

    # ----------------------------------------------------------------- strings
    @abc.abstractmethod
    def to_string(self, arch: Arch) -> str:
        """Human-readable form of one architecture (host side)."""

    @abc.abstractmethod
    def from_string(self, text: str) -> Arch:
        """Parses ``to_string``'s form; raises InvalidArchitectureError when malformed."""

    # ----------------------------------------------------------------- batched helpers
    def sample_batch(self, key: jax.Array, num: int) -> Arch:
        return jax.vmap(self.sample)(jax.random.split(key, num))

    def index_batch(self, archs: Arch) -> jax.Array:
        return jax.vmap(self.index)(archs)

    def from_index_batch(self, indices: jax.Array) -> Arch:
        return jax.vmap(self.from_index)(jnp.asarray(indices, jnp.int32))

    def all_architectures(self) -> Arch:
        """Every architecture of the enumeration as one batch (row order)."""
        return self.from_index_batch(jnp.arange(self.num_architectures, dtype=jnp.int32))

    def graphs_tuple(self, archs: Arch) -> jraph.GraphsTuple:
        """A padded batch of graphs: see :func:`graphs_tuple`."""
        return graphs_tuple(jax.vmap(self.graph)(archs), self.num_node_types, self.max_edges)


def graphs_tuple(graphs: CellGraph, num_node_types: int, max_edges: int) -> jraph.GraphsTuple:
    """Turns a batch of padded CellGraphs into one statically shaped jraph.GraphsTuple.

    Real nodes of graph b are packed contiguously (jraph's layout), then one padding
    graph holds every unused node and edge slot, as ``jraph.pad_with_graphs`` would
    produce. Shapes depend only on the batch size, so the result is jittable and
    vmappable and a model compiled for one batch size serves every batch of that size.
    Node features are one-hot op types; padding edges point at the padding node.

    graphs: CellGraph with node_ops int32[B, N] and adjacency bool[B, N, N].
    """
    node_ops = jnp.asarray(graphs.node_ops, jnp.int32)
    adjacency = jnp.asarray(graphs.adjacency, bool)
    batch, n = node_ops.shape
    node_mask = node_ops >= 0
    adjacency = adjacency & node_mask[:, :, None] & node_mask[:, None, :]

    n_node = node_mask.sum(axis=1).astype(jnp.int32)
    node_offset = jnp.cumsum(n_node) - n_node
    # Position of every real node in the packed array; padding nodes go to the end.
    rank_in_graph = jnp.cumsum(node_mask, axis=1) - 1
    total_nodes = batch * n + 1
    pad_node = total_nodes - 1
    position = jnp.where(node_mask, node_offset[:, None] + rank_in_graph, pad_node)
    features = jax.nn.one_hot(jnp.where(node_mask, node_ops, 0), num_node_types)
    features = features * node_mask[..., None]
    nodes = jnp.zeros((total_nodes, num_node_types), jnp.float32)
    nodes = nodes.at[position.reshape(-1)].add(features.reshape(-1, num_node_types))

    # Edges: take each graph's edges in row-major order, at most max_edges per graph.
    flat_adj = adjacency.reshape(batch, n * n)
    edge_rank = jnp.cumsum(flat_adj, axis=1) - 1
    n_edge = jnp.minimum(flat_adj.sum(axis=1), max_edges).astype(jnp.int32)
    edge_offset = jnp.cumsum(n_edge) - n_edge
    keep = flat_adj & (edge_rank < max_edges)
    total_edges = batch * max_edges
    slot = jnp.where(keep, edge_offset[:, None] + edge_rank, total_edges)  # OOB = dropped
    src = jnp.repeat(jnp.arange(n), n)[None, :]
    dst = jnp.tile(jnp.arange(n), n)[None, :]
    src_pos = jnp.take_along_axis(position, jnp.broadcast_to(src, (batch, n * n)), axis=1)
    dst_pos = jnp.take_along_axis(position, jnp.broadcast_to(dst, (batch, n * n)), axis=1)
    senders = jnp.full((total_edges,), pad_node, jnp.int32)
    receivers = jnp.full((total_edges,), pad_node, jnp.int32)
    senders = senders.at[slot.reshape(-1)].set(src_pos.reshape(-1), mode="drop")
    receivers = receivers.at[slot.reshape(-1)].set(dst_pos.reshape(-1), mode="drop")

    # The padding graph owns every slot the real graphs do not use.
    n_node_all = jnp.append(n_node, total_nodes - n_node.sum()).astype(jnp.int32)
    n_edge_all = jnp.append(n_edge, total_edges - n_edge.sum()).astype(jnp.int32)
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=senders,
        receivers=receivers,
        globals=None,
        n_node=n_node_all,
        n_edge=n_edge_all,
    )


def first_accepted(key: jax.Array, propose, accept, block: int = 8, max_rounds: int = 64) -> Arch:
    """Vectorised rejection sampling: ``block`` proposals per round, the first accepted.

    Taking the first accepted of i.i.d. proposals is exactly sequential rejection
    sampling; a ``lax.while_loop`` draws another block only when a whole block fails.
    ``propose(key)`` gives one architecture. After ``max_rounds`` failed rounds the last
    proposal is returned.
    """

    def round_(carry):
        rounds, key, _, _ = carry
        key, block_key = jax.random.split(key)
        proposals = jax.vmap(propose)(jax.random.split(block_key, block))
        hits = jax.vmap(accept)(proposals)
        first = jnp.argmax(hits)
        return rounds + 1, key, jax.tree_util.tree_map(lambda a: a[first], proposals), hits[first]

    def cond(carry):
        rounds, _, _, found = carry
        return ~found & (rounds < max_rounds)

    template = jax.eval_shape(propose, key)
    empty = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), template)
    carry = (jnp.zeros((), jnp.int32), key, empty, jnp.zeros((), bool))
    return jax.lax.while_loop(cond, round_, carry)[2]


def graph_mask(graphs: jraph.GraphsTuple) -> jax.Array:
    """bool[num_graphs]: True for real graphs, False for the trailing padding graph."""
    num_graphs = graphs.n_node.shape[0]
    return jnp.arange(num_graphs) < num_graphs - 1


def as_numpy_tree(tree: Any) -> Any:
    return jax.tree_util.tree_map(np.asarray, tree)


def traced_int_array(what: str, array, shape: Sequence[int]) -> jax.Array:
    """``array`` as int32 after checking its shape and dtype; for the jittable API.

    The checks run at trace time (shapes and dtypes are static), so they cost nothing in
    compiled code. Raises InvalidArchitectureError for a wrong shape (e.g. a batch passed
    where one architecture is expected: use ``jax.vmap`` or the ``*_batch`` helpers) and
    for non-integer dtypes (floats would be truncated into a different architecture).
    """
    array = jnp.asarray(array)
    if array.shape != tuple(shape):
        raise InvalidArchitectureError(
            f"{what} has shape {array.shape}, expected {tuple(shape)} (one architecture; "
            "use jax.vmap or the *_batch helpers for batches)"
        )
    if not (jnp.issubdtype(array.dtype, jnp.integer) or array.dtype == jnp.bool_):
        raise InvalidArchitectureError(f"{what} must be integers, got dtype {array.dtype}")
    return array.astype(jnp.int32)


def require_shape(what: str, array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Host-side shape check used by ``check``/``from_string`` implementations."""
    array = np.asarray(array)
    if array.shape != tuple(shape):
        raise InvalidArchitectureError(f"{what} has shape {array.shape}, expected {tuple(shape)}")
    return array
