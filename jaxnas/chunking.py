"""Chunked evaluation: apply a batched function to many rows a fixed number at a time.

Memory stays bounded by one chunk, and every chunk has the same shape (one compilation):
the rows are padded to a whole number of chunks by repeating the first row (a valid input
for any function), mapped with ``lax.map`` and the padding dropped from the results.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp


def map_chunks(fn: Callable[[Any], Any], rows: Any, chunk_size: int) -> Any:
    """``fn(rows)`` computed ``chunk_size`` rows at a time.

    ``rows``: a pytree of arrays sharing a leading axis of N rows; ``fn`` maps such a
    pytree of C rows (C = min(chunk_size, N)) to a pytree of arrays with a leading axis of
    C rows, each output row depending only on its input row. Returns ``fn``'s pytree with
    N rows. Jittable and vmappable.
    """
    num = jax.tree_util.tree_leaves(rows)[0].shape[0]
    chunk = max(1, min(chunk_size, num))
    chunks = -(-num // chunk)
    pad = chunks * chunk - num

    def padded(a):
        a = jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]) if pad else a
        return a.reshape((chunks, chunk) + a.shape[1:])

    def unpadded(a):
        return a.reshape((chunks * chunk,) + a.shape[2:])[:num]

    out = jax.lax.map(fn, jax.tree_util.tree_map(padded, rows))
    return jax.tree_util.tree_map(unpadded, out)


__all__ = ["map_chunks"]
