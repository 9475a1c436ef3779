"""The jittable WL hash of a cell and the index behind ``NB101Space.index``: the WL
hashes of every row of nb101_graphs.npz, sorted, built once and kept in the disk cache
(:mod:`jaxnas.cache`)."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import cache, chunking
from jaxnas.spaces.nb101.cell import _STRICT_UPPER, NUM_ARCHITECTURES, NUM_VERTICES, NB101Cell
from jaxnas.spaces.nb101.graphs import _device_constant, _file_ops_to_codes, _load_graphs, _source_key
from jaxnas.spaces.nb101.pruning import _arrays, _keep_mask


# Bump when the hash changes: it names the cached index table.
WL_HASH_VERSION = 1
WL_LANES = 2
WL_ROUNDS = NUM_VERTICES  # >= the official's (pruned vertex count) rounds
# Per-lane seeds: [initial, own, final].
_WL_SEEDS = np.array(
    [[0x9E3779B9, 0x27D4EB2F, 0x165667B1], [0x7F4A7C15, 0xB55A4F09, 0x61C88647]],
    np.uint32,
)[:, :, None]


def _fmix32(x: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: a bijection of uint32 with full avalanche."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def _wl_hash(adj: jax.Array, ops: jax.Array) -> jax.Array:
    """uint32[WL_LANES]: isomorphism-invariant hash of the pruned cell.

    The official hash's refinement in uint32: start from (out-degree, in-degree, op) on
    the pruned graph; each round a vertex hashes (multiset of in-neighbour hashes,
    multiset of out-neighbour hashes, own hash); the cell is the multiset of vertex
    hashes. Multisets are wrapping uint32 sums -- order-invariant exactly, so isomorphic
    cells hash equal by construction; in- and out-sums enter at different stages of the
    mixing, so the two sides stay apart. Distinct cells collide only by chance (checked:
    unique over all 423,624 cells, scripts/check_nb101_hashes.py). Lanes differ in seeds.
    """
    keep = _keep_mask(adj, ops)
    edge = ((adj == 1) & _STRICT_UPPER & keep[:, None] & keep[None, :]).astype(jnp.uint32)
    in_deg = edge.sum(axis=0)
    out_deg = edge.sum(axis=1)
    label = jnp.where(keep, ops, 0).astype(jnp.uint32)
    seeds = jnp.asarray(_WL_SEEDS)  # [lanes, 3, 1]
    s_init, s_own, s_final = seeds[:, 0], seeds[:, 1], seeds[:, 2]
    start = (out_deg | (in_deg << 4) | (label << 8))[None, :]  # degrees <= 6 fit 4 bits
    h = _fmix32(start * jnp.uint32(0x9E3779B1) ^ s_init)  # [lanes, 7]

    def refine(_, h):
        in_sum = jnp.sum(edge[None, :, :] * h[:, :, None], axis=1, dtype=jnp.uint32)
        out_sum = jnp.sum(edge[None, :, :] * h[:, None, :], axis=2, dtype=jnp.uint32)
        return _fmix32(_fmix32(h + s_own + in_sum * jnp.uint32(0x2545F491)) ^ out_sum)

    # A loop, not unrolled, for the reason given in _keep_mask.
    h = jax.lax.fori_loop(0, WL_ROUNDS, refine, h)
    vertex_terms = jnp.where(keep[None, :], _fmix32(h ^ s_final), jnp.uint32(0))
    total = jnp.sum(vertex_terms, axis=1, dtype=jnp.uint32)
    return _fmix32(total + jnp.sum(keep).astype(jnp.uint32) * jnp.uint32(0x632BE5AB))


def wl_hash(arch: NB101Cell) -> jax.Array:
    """uint32[2] jittable isomorphism-invariant hash of ``arch``'s pruned cell."""
    return _wl_hash(*_arrays(arch))


@dataclasses.dataclass(frozen=True)
class _IndexTable:
    """WL hashes of every row, sorted by (lane 0, lane 1)."""

    lane0: jax.Array  # uint32[N] sorted
    lane1: jax.Array  # uint32[N]
    rows: jax.Array  # int32[N] row of nb101_graphs.npz
    window: int  # max rows sharing one lane-0 value (candidates to compare on lane 1)
    build_seconds: float
    from_cache: bool


def wl_hash_rows(adjacency: np.ndarray, ops: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """uint32[N, 2] WL hashes of many specs (host arrays, file or jnp op codes)."""
    ops = _file_ops_to_codes(np.asarray(ops)) if np.asarray(ops).dtype.kind == "u" else np.asarray(ops, np.int32)
    adjacency = np.asarray(adjacency, np.int32)
    hasher = jax.jit(lambda a, o: chunking.map_chunks(lambda rows: jax.vmap(_wl_hash)(*rows), (a, o), chunk))  # chunks bound memory
    # Runs eagerly even when called while a jit traces (index builds its table lazily).
    with jax.ensure_compile_time_eval():
        return np.asarray(hasher(adjacency, ops))


def _index_cache(source: tuple[str, int, int]) -> Optional[cache.Entry]:
    return cache.entry("nb101_wl_index", WL_HASH_VERSION, {"lanes": WL_LANES, "rounds": WL_ROUNDS}, [source[0]])


def _is_index(arrays) -> bool:
    return all(k in arrays and arrays[k].shape == (NUM_ARCHITECTURES,) for k in ("lane0", "lane1", "rows"))


def build_index_table(data_dir=None, use_cache: bool = True) -> _IndexTable:
    """The sorted WL-hash table behind ``index``: read from the cache, or built (hashing
    all 423,624 rows) and cached when ``use_cache``; ``use_cache=False`` always builds
    and writes nothing. Raises RuntimeError if two rows share a hash."""
    return _build_index_table(_source_key(data_dir), use_cache)


def _hash_and_sort_rows(source: tuple[str, int, int]) -> dict[str, np.ndarray]:
    """WL hashes of every row of nb101_graphs.npz, sorted by (lane 0, lane 1), and the rows."""
    table = _load_graphs(source)
    hashes = wl_hash_rows(table["adjacency"], table["ops"])
    order = np.lexsort((hashes[:, 1], hashes[:, 0]))
    arrays = {"lane0": hashes[order, 0], "lane1": hashes[order, 1], "rows": order.astype(np.int32)}
    same = (np.diff(arrays["lane0"]) == 0) & (np.diff(arrays["lane1"]) == 0)
    if same.any():  # would make index ambiguous; means the hash needs more lanes
        raise RuntimeError(f"NB101 WL hash collides on {int(same.sum())} pairs of rows")
    return arrays


@functools.lru_cache(maxsize=2)
def _index_table(source: tuple[str, int, int]) -> _IndexTable:
    return _build_index_table(source, use_cache=True)


def _build_index_table(source: tuple[str, int, int], use_cache: bool) -> _IndexTable:
    start = time.perf_counter()
    cached, from_cache = cache.load_or_build(
        _index_cache(source) if use_cache else None, functools.partial(_hash_and_sort_rows, source), _is_index
    )
    lane0 = cached["lane0"]
    boundaries = np.flatnonzero(np.diff(lane0)) + 1
    runs = np.diff(np.concatenate([[0], boundaries, [len(lane0)]]))
    return _IndexTable(
        lane0=_device_constant(lane0),
        lane1=_device_constant(cached["lane1"]),
        rows=_device_constant(cached["rows"]),
        window=int(runs.max()),
        build_seconds=time.perf_counter() - start,
        from_cache=from_cache,
    )
