"""Jittable validity, pruning and packing of cell arrays: the twins of the host-side
rules in :mod:`jaxnas.spaces.nb101.spec` (tests hold the two to agreeing)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnas.spaces import base
from jaxnas.spaces.nb101.cell import (
    _STRICT_UPPER,
    CONV1X1,
    INPUT,
    MAX_EDGES,
    MAXPOOL3X3,
    NUM_OP_CODES,
    NUM_VERTICES,
    OUTPUT,
    PAD,
)



def _arrays(arch) -> tuple[jax.Array, jax.Array]:
    """(adjacency int32[7, 7], ops int32[7]); InvalidArchitectureError at trace time for
    other shapes or non-integer dtypes."""
    return (
        base.traced_int_array("NB101 adjacency", arch.adjacency, (NUM_VERTICES, NUM_VERTICES)),
        base.traced_int_array("NB101 ops", arch.ops, (NUM_VERTICES,)),
    )


def _num_real(ops: jax.Array) -> jax.Array:
    return jnp.sum(ops != PAD).astype(jnp.int32)


def _keep_mask(adj: jax.Array, ops: jax.Array) -> jax.Array:
    """bool[7]: real vertices on an input -> output path (the pruned vertex set).

    Only strictly-upper-triangular edges between real vertices count, so any input gives
    a defined answer; paths have at most 6 edges, hence 6 propagation steps. A loop
    rather than unrolled steps: XLA fuses unrolled steps into one kernel that recomputes
    each step for every use (exponential work) and compiles slowly.
    """
    real = ops != PAD
    edge = (adj == 1) & _STRICT_UPPER & real[:, None] & real[None, :]
    vertex = jnp.arange(NUM_VERTICES)

    def step(_, state):
        reach, coreach = state
        reach = reach | jnp.any(edge & reach[:, None], axis=0)
        coreach = coreach | jnp.any(edge & coreach[None, :], axis=1)
        return reach, coreach

    start = (vertex == 0, vertex == _num_real(ops) - 1)
    reach, coreach = jax.lax.fori_loop(0, NUM_VERTICES - 1, step, start)
    return reach & coreach & real


def _is_valid(adj: jax.Array, ops: jax.Array) -> jax.Array:
    """Jittable twin of _validate_host (same rules, no messages)."""
    vertex = jnp.arange(NUM_VERTICES)
    binary = jnp.all((adj == 0) | (adj == 1))
    upper = jnp.all(jnp.where(_STRICT_UPPER, True, adj == 0))
    known = jnp.all((ops >= PAD) & (ops < NUM_OP_CODES))
    real = ops != PAD
    n = _num_real(ops)
    prefix = jnp.all(real == (vertex < n))
    no_padding_edges = jnp.all(jnp.where(real[:, None] & real[None, :], True, adj == 0))
    role_ok = jnp.where(
        vertex == 0,
        ops == INPUT,
        jnp.where(
            vertex == n - 1,
            ops == OUTPUT,
            jnp.where(vertex < n - 1, (ops >= CONV1X1) & (ops <= MAXPOOL3X3), True),
        ),
    )
    keep = _keep_mask(adj, ops)
    connected = keep[jnp.clip(n - 1, 0, NUM_VERTICES - 1)]
    num_edges = jnp.sum((adj == 1) & keep[:, None] & keep[None, :])
    return (
        binary & upper & known & prefix & (n >= 2) & no_padding_edges
        & jnp.all(role_ok) & connected & (num_edges <= MAX_EDGES)
    )


def _canonicalise(adj: jax.Array, ops: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Prune and pack: kept vertices keep their order, moved to the front."""
    keep = _keep_mask(adj, ops)
    position = jnp.cumsum(keep) - 1
    # move[k, v]: vertex v goes to slot k. Kept vertices stay in order, so the packed
    # adjacency stays upper-triangular and the output (last kept) is the last real slot.
    move = (keep[None, :] & (position[None, :] == jnp.arange(NUM_VERTICES)[:, None])).astype(jnp.int32)
    edges = ((adj == 1) & _STRICT_UPPER).astype(jnp.int32)
    packed_adj = move @ edges @ move.T
    packed_ops = jnp.where(jnp.any(move == 1, axis=1), move @ ops, PAD)
    return packed_adj.astype(jnp.int32), packed_ops.astype(jnp.int32)
