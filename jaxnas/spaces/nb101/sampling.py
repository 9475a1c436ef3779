"""Jittable proposals for NB101 sampling and mutation: the random rule, expanding a
packed cell to raw form, and vectorised rejection sampling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces.nb101.cell import (
    _STRICT_UPPER,
    _UPPER_COLS,
    _UPPER_ROWS,
    CONV1X1,
    INPUT,
    INTERMEDIATE_OPS,
    MAXPOOL3X3,
    NUM_EDGE_SLOTS,
    NUM_VERTICES,
    OP_SPOTS,
    OUTPUT,
    PAD,
    NB101Cell,
)
from jaxnas.spaces.nb101.pruning import _num_real


# Rejection sampling: proposals per block, and the cap on blocks so that a pathological
# input cannot hang a jit. About 73% of random-rule proposals and 69% of mutation
# proposals (rate 1) are accepted, so a block of 8 fails with probability ~1e-4.
_SAMPLE_BLOCK = 8
_MUTATE_BLOCK = 8
_MAX_BLOCKS = 2000
_SEARCHED_VERTEX = np.array([0 < v < NUM_VERTICES - 1 for v in range(NUM_VERTICES)])  # op spots
_CELLS = NUM_VERTICES * NUM_VERTICES
# Random uint32s per proposal: edge slots + ops (random rule); edge cells + op change +
# op shift (mutation).
_RANDOM_SPEC_BITS = NUM_EDGE_SLOTS + OP_SPOTS
_MUTATION_BITS = _CELLS + 2 * NUM_VERTICES


# Randomness: one jax.random.bits call per block of proposals, each proposal reading its
# own row of uint32s. Every jax.random call is a separate threefry kernel, costly to
# compile (seconds on a small CPU); the arithmetic below is exact enough for sampling.
def _unit_float(bits: jax.Array) -> jax.Array:
    """Uniform [0, 1) float32s from uint32s (top 24 bits)."""
    return (bits >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def _random_intermediate_ops(bits: jax.Array) -> jax.Array:
    """Uniform op codes in (1, 2, 3) from uint32s (bias below 2**-24)."""
    return (CONV1X1 + jnp.floor(_unit_float(bits) * len(INTERMEDIATE_OPS))).astype(jnp.int32)


def _random_raw_spec(bits: jax.Array) -> NB101Cell:
    """The NB101 random rule from uint32[21 + 5] bits."""
    on = (_unit_float(bits[:NUM_EDGE_SLOTS]) < 0.5).astype(jnp.int32)
    adj = jnp.zeros((NUM_VERTICES, NUM_VERTICES), jnp.int32).at[_UPPER_ROWS, _UPPER_COLS].set(on)
    inner = _random_intermediate_ops(bits[NUM_EDGE_SLOTS:])
    ops = jnp.concatenate([jnp.array([INPUT], jnp.int32), inner, jnp.array([OUTPUT], jnp.int32)])
    return NB101Cell(adjacency=adj, ops=ops)


def _expand_to_raw(key, adj: jax.Array, ops: jax.Array) -> NB101Cell:
    """The same cell as a raw 7-vertex spec: output moved to vertex 6, vertices between
    with a random op and no edges. Garbage is coerced to a well-formed raw spec (0/1
    upper-triangular edges, searched ops in range) so that mutation terminates."""
    n = jnp.clip(_num_real(ops), 2, NUM_VERTICES)
    out = n - 1
    vertex = jnp.arange(NUM_VERTICES)
    edges = ((adj == 1) & _STRICT_UPPER).astype(jnp.int32)
    inner = (vertex[:, None] < out) & (vertex[None, :] < out)
    raw_adj = jnp.where(inner, edges, 0)
    raw_adj = raw_adj.at[:, NUM_VERTICES - 1].set(jnp.where(vertex < out, edges[:, out], 0))
    filler = _random_intermediate_ops(jax.random.bits(key, (NUM_VERTICES,), jnp.uint32))
    searched_ok = (vertex < out) & (ops >= CONV1X1) & (ops <= MAXPOOL3X3)
    raw_ops = jnp.where(searched_ok, ops, filler)
    raw_ops = raw_ops.at[0].set(INPUT).at[NUM_VERTICES - 1].set(OUTPUT)
    return NB101Cell(adjacency=raw_adj, ops=raw_ops)


def _first_accepted(key, propose, accept, block: int, num_bits: int):
    """Vectorised rejection sampling: ``block`` proposals at once, the first accepted.

    Taking the first accepted of i.i.d. proposals is exactly sequential rejection
    sampling. The lax.while_loop draws a further block only when a whole block fails,
    at most _MAX_BLOCKS blocks. ``propose`` maps uint32[num_bits] to a cell.
    Returns (cell, found).
    """
    def draw(state):
        key, _, _, blocks = state
        key, sub = jax.random.split(key)
        bits = jax.random.bits(sub, (block, num_bits), jnp.uint32)
        candidates = jax.vmap(propose)(bits)
        ok = jax.vmap(accept)(candidates)
        first = jnp.argmax(ok)
        cell = jax.tree_util.tree_map(lambda x: x[first], candidates)
        return key, cell, jnp.any(ok), blocks + 1

    def more(state):
        _, _, found, blocks = state
        return ~found & (blocks < _MAX_BLOCKS)

    empty = NB101Cell(
        adjacency=jnp.zeros((NUM_VERTICES, NUM_VERTICES), jnp.int32),
        ops=jnp.full((NUM_VERTICES,), PAD, jnp.int32),
    )
    _, cell, found, _ = jax.lax.while_loop(more, draw, (key, empty, jnp.asarray(False), jnp.int32(0)))
    return cell, found
