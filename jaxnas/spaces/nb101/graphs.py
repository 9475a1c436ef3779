"""nb101_graphs.npz, the space's enumeration: loaded and checked once per file version,
and bit-packed for ``from_index``."""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import cache, data
from jaxnas.spaces.nb101.cell import (
    _UPPER_COLS,
    _UPPER_ROWS,
    DATA_FILE,
    FILE_PADDING,
    NUM_ARCHITECTURES,
    NUM_EDGE_SLOTS,
    NUM_VERTICES,
    PAD,
)



@dataclasses.dataclass(frozen=True)
class _GraphTable:
    """Rows of nb101_graphs.npz, bit-packed so the jit constants stay small (3.4 MB)."""

    adjacency_bits: jax.Array  # uint32[N]: bit k = edge slot k (row-major upper triangle)
    op_bits: jax.Array  # uint32[N]: 3 bits per vertex, op code + 1 (0 = padding)


def _source_key(data_dir) -> tuple[str, int, int]:
    return cache.source_stamp(data.resolve(DATA_FILE, data_dir))


def load_graphs(data_dir=None) -> dict[str, np.ndarray]:
    """hash, adjacency, ops (file codes, 255 padding), num_vertices of nb101_graphs.npz."""
    return _load_graphs(_source_key(data_dir))


@functools.lru_cache(maxsize=2)
def _load_graphs(source: tuple[str, int, int]) -> dict[str, np.ndarray]:
    path = pathlib.Path(source[0])
    table = data.load_npz(DATA_FILE, ["hash", "adjacency", "ops", "num_vertices"], path.parent)
    data.check_shape(DATA_FILE, "hash", table["hash"], (NUM_ARCHITECTURES,), kinds="S")
    data.check_shape(DATA_FILE, "adjacency", table["adjacency"], (NUM_ARCHITECTURES, NUM_VERTICES, NUM_VERTICES),
                     kinds="iu")
    data.check_shape(DATA_FILE, "ops", table["ops"], (NUM_ARCHITECTURES, NUM_VERTICES), kinds="iu")
    data.check_shape(DATA_FILE, "num_vertices", table["num_vertices"], (NUM_ARCHITECTURES,), kinds="iu")
    data.check_values(DATA_FILE, "adjacency", table["adjacency"], low=0, high=1)
    data.check_values(DATA_FILE, "num_vertices", table["num_vertices"], low=2, high=NUM_VERTICES)
    for array in table.values():
        array.setflags(write=False)
    return table


def _file_ops_to_codes(ops: np.ndarray) -> np.ndarray:
    ops = np.asarray(ops)
    return np.where(ops == FILE_PADDING, PAD, ops.astype(np.int32)).astype(np.int32)


@functools.lru_cache(maxsize=2)
def _graph_table(source: tuple[str, int, int]) -> _GraphTable:
    table = _load_graphs(source)
    slot_bits = np.left_shift(np.uint32(1), np.arange(NUM_EDGE_SLOTS, dtype=np.uint32))
    adjacency_bits = (table["adjacency"][:, _UPPER_ROWS, _UPPER_COLS].astype(np.uint32) * slot_bits).sum(
        axis=1, dtype=np.uint32
    )
    codes = (_file_ops_to_codes(table["ops"]) + 1).astype(np.uint32)  # 0..5, 3 bits
    op_bits = (codes << (3 * np.arange(NUM_VERTICES, dtype=np.uint32))).sum(axis=1, dtype=np.uint32)
    return _GraphTable(_device_constant(adjacency_bits), _device_constant(op_bits))


def _device_constant(array: np.ndarray) -> jax.Array:
    # Loaders run lazily, often while a jit is tracing; without this the cached table
    # would be a tracer of that trace and leak into the next one.
    with jax.ensure_compile_time_eval():
        return jnp.asarray(array)
