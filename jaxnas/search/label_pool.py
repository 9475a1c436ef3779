"""The labelled architectures of a predictor-guided search, in a fixed-size pool.

One pool for every search that fits a model on its own queries (the generic predictor
search, SemiNAS). Slots fill in insertion order; a label enters only if it is a number
(not NaN), its architecture is valid (space index >= 0) and not in the pool yet. Once
the pool is full, a new label replaces the lowest one if it is higher, so a pool with
room for every query keeps them all in query order. Pure functions of a pytree, jittable.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class LabelPool(NamedTuple):
    archs: Any  # architecture pytree [C]; empty slots hold the example architecture
    indices: jax.Array  # int32[C], space index, -1 = empty slot
    labels: jax.Array  # float32[C], NaN = empty slot
    count: jax.Array  # int32: filled slots, the first ``count``


def init(capacity: int, example_arch: Any) -> LabelPool:
    """An empty pool of ``capacity`` slots for architectures shaped like ``example_arch``."""
    return LabelPool(
        archs=jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (capacity,) + jnp.shape(a)), example_arch),
        indices=jnp.full((capacity,), -1, jnp.int32),
        labels=jnp.full((capacity,), jnp.nan, jnp.float32),
        count=jnp.zeros((), jnp.int32),
    )


def insert(pool: LabelPool, archs: Any, indices: jax.Array, values: jax.Array) -> LabelPool:
    """``pool`` with the batch (``archs``, their space ``indices``, ``values``) inserted
    one by one in order (see the module docstring for which labels enter)."""
    capacity = pool.labels.shape[0]

    def one(pool, item):
        arch, index, value = item
        new = ~jnp.isnan(value) & (index >= 0) & ~jnp.any(pool.indices == index)
        full = pool.count >= capacity
        lowest = jnp.argmin(jnp.where(jnp.isnan(pool.labels), jnp.inf, pool.labels))
        slot = jnp.where(full, lowest, pool.count)
        accept = new & (~full | (value > pool.labels[slot]))
        put = lambda buf, x: buf.at[slot].set(jnp.where(accept, x, buf[slot]))
        return LabelPool(
            archs=jax.tree_util.tree_map(put, pool.archs, arch),
            indices=put(pool.indices, index),
            labels=put(pool.labels, value),
            count=pool.count + (accept & ~full).astype(jnp.int32),
        ), None

    items = (archs, jnp.asarray(indices, jnp.int32), jnp.asarray(values, jnp.float32))
    pool, _ = jax.lax.scan(one, pool, items)
    return pool
