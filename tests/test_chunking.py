"""map_chunks: the same rows as one unchunked apply, for any chunk size, jitted and vmapped."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import chunking


def _rows(num):
    key_x, key_y = jax.random.split(jax.random.key(0))
    return {"x": jax.random.normal(key_x, (num, 3)), "y": jax.random.randint(key_y, (num, 2, 2), 0, 9)}


def _fn(rows):
    """A pytree of per-row outputs from a pytree of rows (integer results: exact)."""
    x = jnp.round(rows["x"] * 100).astype(jnp.int32)
    return {"sum": x.sum(1) + rows["y"].sum((1, 2)), "pair": (x[:, :2], rows["y"][:, 0])}


@pytest.mark.parametrize("num, chunk_size", [(1, 4), (7, 3), (8, 4), (5, 5), (5, 100), (9, 1)])
def test_equals_unchunked_apply(num, chunk_size):
    rows = _rows(num)
    expected = _fn(rows)
    for got in (chunking.map_chunks(_fn, rows, chunk_size),
                jax.jit(chunking.map_chunks, static_argnums=(0, 2))(_fn, rows, chunk_size)):
        assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(expected)
        jax.tree_util.tree_map(np.testing.assert_array_equal, got, expected)


def test_every_chunk_has_one_shape():
    seen = []

    def fn(x):
        seen.append(x.shape)
        return x * 2

    x = jnp.arange(10.0)
    np.testing.assert_array_equal(chunking.map_chunks(fn, x, 4), x * 2)
    assert seen == [(4,)]  # 3 chunks of 4 (2 padding rows), traced once


def test_vmap():
    rows = jnp.arange(2 * 7 * 3, dtype=jnp.float32).reshape(2, 7, 3)
    scale = jnp.array([1.0, -2.0])
    got = jax.vmap(lambda r, s: chunking.map_chunks(lambda c: c.sum(1) * s, r, 3))(rows, scale)
    np.testing.assert_array_equal(got, rows.sum(2) * scale[:, None])
