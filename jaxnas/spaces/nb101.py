"""NAS-Bench-101 cells: DAGs of at most 7 vertices and 9 edges over 3 operations.

Representation
--------------
:class:`NB101Cell` holds ``adjacency`` int32[7, 7] (``adjacency[i, j] == 1``: an edge
i -> j) and ``ops`` int32[7] with the op codes of ``nb101_graphs.npz``: 0 input,
1 conv1x1-bn-relu, 2 conv3x3-bn-relu, 3 maxpool3x3, 4 output, and -1 for padding (the
file stores padding as 255; convert it). Real vertices form a prefix of the 7 slots; the
first is the input, the last real one the output. Two forms are accepted everywhere:

* raw specs: 7 real vertices, output at vertex 6, possibly with extraneous vertices that
  lie on no input->output path. The NB101 random rule and mutation produce these, and
  mutation needs them (flipping an edge can revive an extraneous vertex).
* packed specs: the pruned cell, ``n`` real vertices, output at ``n - 1``, padding after.
  ``canonicalise``, ``from_index`` and the data file hold these.

Identity
--------
Two specs are the same cell when their pruned graphs are isomorphic with the same ops.
Host side, :func:`fingerprint` reproduces the official NB101 module hash (md5-based WL
refinement) -- the join key to every NB101 table. Inside jit, :func:`wl_hash` is the same
refinement in uint32 arithmetic (2 independent 32-bit lanes), and ``index`` looks it up
in a sorted table of the hash of every row of nb101_graphs.npz. ``canonicalise`` only
prunes and packs; it does not pick a representative among isomorphic relabellings (that
is what ``index``/``from_index`` do, with the data).

Encodings (all of the packed canonical form, so every spec of one pruned cell encodes
the same way, up to isomorphic relabelling):

* ``one_hot``: float32[36] = the 21 strictly-upper-triangular adjacency bits in
  row-major order ((0,1), (0,2), ..., (0,6), (1,2), ..., (5,6)), then for vertices 1..5 a
  one-hot over (conv1x1, conv3x3, maxpool3x3), all zero for the output and padding
  vertices (where the output sits is implied by the adjacency).
* ``tokens``: SemiNAS's 27-token sequence (``convert_arch_to_seq`` in
  renqianluo/SemiNAS, nasbench/utils.py): for each column ``c`` = 1..6, the ``c`` tokens
  ``adjacency[r, c] + 1`` for r < c (1 no edge, 2 edge), then the op token of vertex c
  (3 conv1x1, 4 conv3x3, 5 maxpool3x3, 6 output); a column past the output is ``c + 1``
  zeros (0 = padding). Vocabulary 7.
* ``graph``: CellGraph with node_ops = op code per real vertex (-1 padding).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pathlib
import re
import time
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxnas import cache, chunking, data
from jaxnas.spaces import base

# ----------------------------------------------------------------------------- constants
NUM_VERTICES = 7
MAX_EDGES = 9
NUM_ARCHITECTURES = 423_624
DATA_FILE = "nb101_graphs.npz"

PAD, INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT = -1, 0, 1, 2, 3, 4
OP_NAMES = ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
NUM_OP_CODES = len(OP_NAMES)
INTERMEDIATE_OPS = (CONV1X1, CONV3X3, MAXPOOL3X3)
FILE_PADDING = 255  # how nb101_graphs.npz stores padding

# The official API labels ops by their position in config['available_ops'] =
# ['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3'], input as -1 and output as -2
# (ModelSpec.hash_spec); note conv3x3 is 0 and conv1x1 is 1 there.
_OFFICIAL_LABEL = {INPUT: -1, CONV1X1: 1, CONV3X3: 0, MAXPOOL3X3: 2, OUTPUT: -2}

_UPPER_ROWS, _UPPER_COLS = np.triu_indices(NUM_VERTICES, k=1)  # row-major edge slots
NUM_EDGE_SLOTS = len(_UPPER_ROWS)  # 21
_STRICT_UPPER = np.triu(np.ones((NUM_VERTICES, NUM_VERTICES), bool), k=1)
OP_SPOTS = NUM_VERTICES - 2  # vertices whose op is searched

# SemiNAS token layout: position -> (column, row or -1 for the column's op token).
_TOKEN_COL = np.array([c for c in range(1, NUM_VERTICES) for _ in range(c + 1)], np.int32)
_TOKEN_ROW = np.array([r for c in range(1, NUM_VERTICES) for r in list(range(c)) + [-1]], np.int32)
SEQUENCE_LENGTH = len(_TOKEN_COL)  # 27
TOKEN_PAD, TOKEN_NO_EDGE, TOKEN_EDGE = 0, 1, 2
_OP_TOKEN = np.array([0, 3, 4, 5, 6], np.int32)  # op code -> token (input never appears)
_TOKEN_OP = np.array([PAD, -2, -2, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT], np.int32)  # -2: bad
_BAD_OP = 99  # from_tokens' code for a garbage op token: not a known code, is_valid False

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


@struct.dataclass
class NB101Cell:
    """adjacency: int32[..., 7, 7] 0/1; ops: int32[..., 7] op codes (-1 padding)."""

    adjacency: jax.Array
    ops: jax.Array


# ============================================================================ host side
# Host-side code works on nested Python lists: cells are 7x7, and per-call NumPy overhead
# would dominate (the hash check runs this on all 423,624 rows).
def _normalise_host(adjacency, ops, what: str = "NB101 cell") -> tuple[list[list[int]], list[int]]:
    """Padded 7x7 / 7 lists of ints; an n x n spec (n <= 7) is padded, the file's 255 -> -1."""
    adjacency = np.asarray(adjacency)
    ops = np.asarray(ops)
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise base.InvalidArchitectureError(f"{what}: adjacency has shape {adjacency.shape}, expected square")
    n = adjacency.shape[0]
    if not 1 <= n <= NUM_VERTICES:
        raise base.InvalidArchitectureError(
            f"{what}: adjacency is {n}x{n}; NB101 cells have 2 to {NUM_VERTICES} vertices"
        )
    if ops.shape != (n,):
        raise base.InvalidArchitectureError(
            f"{what}: ops has shape {ops.shape}, expected ({n},) to match the adjacency"
        )
    if adjacency.dtype.kind not in "iub":
        raise base.InvalidArchitectureError(f"{what}: adjacency must be integers, got dtype {adjacency.dtype}")
    if ops.dtype.kind not in "iu":
        raise base.InvalidArchitectureError(f"{what}: ops must be integers, got dtype {ops.dtype}")
    adj = adjacency.astype(np.int64).tolist()  # bool -> 0/1
    codes = ops.tolist()
    if ops.dtype.kind == "u":
        codes = [PAD if c == FILE_PADDING else c for c in codes]
    if n < NUM_VERTICES:
        adj = [row + [0] * (NUM_VERTICES - n) for row in adj]
        adj += [[0] * NUM_VERTICES for _ in range(NUM_VERTICES - n)]
        codes += [PAD] * (NUM_VERTICES - n)
    return adj, codes


def _op_name(code: int) -> str:
    return OP_NAMES[code] if 0 <= code < NUM_OP_CODES else ("padding" if code == PAD else f"code {code}")


def _validate_host(adj: list[list[int]], ops: list[int], what: str = "NB101 cell") -> list[int]:
    """Raises InvalidArchitectureError naming the first problem; returns the kept vertices.

    The rules of ``_is_valid`` (tests hold the two to agreeing), which are the official
    ModelSpec pruning followed by NASBench._check_spec on the pruned spec.
    """
    if not {x for row in adj for x in row} <= {0, 1}:
        i, j = next((i, j) for i, row in enumerate(adj) for j, x in enumerate(row) if x not in (0, 1))
        raise base.InvalidArchitectureError(f"{what}: adjacency[{i}, {j}] = {adj[i][j]}; entries must be 0 or 1")
    for i, row in enumerate(adj):
        if any(row[: i + 1]):
            j = row.index(1)
            kind = "is a self-loop" if i == j else "goes backwards"
            raise base.InvalidArchitectureError(
                f"{what}: not a DAG in topological order: edge {i}->{j} {kind}; the "
                "adjacency must be strictly upper-triangular (vertices in topological order)"
            )
    for v, code in enumerate(ops):
        if not PAD <= code < NUM_OP_CODES:
            raise base.InvalidArchitectureError(
                f"{what}: unknown op code {code} at vertex {v}; codes are -1 padding, "
                + ", ".join(f"{c} {name}" for c, name in enumerate(OP_NAMES))
                + " (the data file's padding 255 must be converted to -1)"
            )
    n = sum(code != PAD for code in ops)
    if PAD in ops[:n]:
        v = ops.index(PAD)
        later = next(u for u in range(v, NUM_VERTICES) if ops[u] != PAD)
        raise base.InvalidArchitectureError(
            f"{what}: padding vertex {v} comes before real vertex {later}; padding must "
            "follow all real vertices"
        )
    if n < 2:
        raise base.InvalidArchitectureError(
            f"{what}: has {n} real vertices; a cell needs at least an input and an output"
        )
    for i, row in enumerate(adj):
        if any(row[n:]) or (i >= n and any(row)):
            j = next(j for j, x in enumerate(row) if x and (i >= n or j >= n))
            raise base.InvalidArchitectureError(
                f"{what}: edge {i}->{j} touches a padding vertex (the cell has {n} real vertices)"
            )
    if ops[0] != INPUT:
        raise base.InvalidArchitectureError(f"{what}: vertex 0 must be 'input', got {_op_name(ops[0])!r}")
    if ops[n - 1] != OUTPUT:
        raise base.InvalidArchitectureError(
            f"{what}: the last real vertex ({n - 1}) must be 'output', got {_op_name(ops[n - 1])!r}"
        )
    for v in range(1, n - 1):
        if ops[v] in (INPUT, OUTPUT):
            raise base.InvalidArchitectureError(
                f"{what}: vertex {v} is {_op_name(ops[v])!r}; only vertex 0 may be 'input' and only "
                f"the last real vertex ({n - 1}) 'output'"
            )
    kept = _host_kept(adj, n)
    if not kept or kept[-1] != n - 1:
        raise base.InvalidArchitectureError(
            f"{what}: the input does not reach the output (no path from vertex 0 to vertex {n - 1})"
        )
    num_edges = sum(adj[i][j] for i in kept for j in kept)
    if num_edges > MAX_EDGES:
        raise base.InvalidArchitectureError(
            f"{what}: {num_edges} edges after pruning; NB101 allows at most {MAX_EDGES}"
        )
    return kept


def _host_kept(adj: list[list[int]], n: int) -> list[int]:
    """Vertices on some input -> output path (ModelSpec._prune's criterion), in order."""
    reach = [False] * n
    reach[0] = True
    for j in range(1, n):  # topological order: reach[:j] is final here
        reach[j] = any(reach[i] and adj[i][j] for i in range(j))
    coreach = [False] * n
    coreach[n - 1] = True
    for i in range(n - 2, -1, -1):
        coreach[i] = any(coreach[j] and adj[i][j] for j in range(i + 1, n))
    return [v for v in range(n) if reach[v] and coreach[v]]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=None)
def _initial_vertex_hash(out_degree: int, in_degree: int, label: int) -> str:
    # The text of the Python tuple (out-degree, in-degree, label), as the official hashes.
    return _md5(f"({out_degree}, {in_degree}, {label})")


def _official_module_hash(matrix: list[list[int]], labels: list[int]) -> str:
    """NB101's graph_util.hash_module, re-implemented (pruned matrix, official labels).

    Each vertex starts from the md5 of the text of the tuple (out-degree, in-degree,
    label); then, for as many rounds as vertices, it becomes the md5 of its
    in-neighbours' hashes sorted and concatenated, '|', the same for out-neighbours,
    '|', its own hash. The fingerprint is the md5 of the text of the Python list of the
    sorted vertex hashes. The exact texts matter: they are what was hashed.
    """
    n = len(labels)
    preds = [[u for u in range(n) if matrix[u][v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    hashes = [_initial_vertex_hash(len(succs[v]), len(preds[v]), labels[v]) for v in range(n)]
    md5 = hashlib.md5
    for _ in range(n):
        hashes = [
            md5(
                (
                    "".join(sorted([hashes[u] for u in before]))
                    + "|"
                    + "".join(sorted([hashes[w] for w in after]))
                    + "|"
                    + own
                ).encode("utf-8")
            ).hexdigest()
            for before, after, own in zip(preds, succs, hashes)
        ]
    return _md5("[" + ", ".join(f"'{h}'" for h in sorted(hashes)) + "]")


def fingerprint(adjacency, ops) -> str:
    """The official NAS-Bench-101 module hash of a spec (host side).

    adjacency: [V, V] 0/1 (V <= 7), ops: [V] op codes (0 input .. 4 output, -1 or the
    data file's 255 for padding); raw or packed. The spec is validated (raises
    InvalidArchitectureError), pruned as the official ModelSpec does, and hashed as
    ModelSpec.hash_spec with the official op labels. Equal to the ``hash`` column of
    nb101_graphs.npz and to the keys of the official NB101 tables.
    """
    adj, codes = _normalise_host(adjacency, ops)
    kept = _validate_host(adj, codes)
    matrix = [[adj[i][j] for j in kept] for i in kept]
    labels = [_OFFICIAL_LABEL[codes[v]] for v in kept]
    return _official_module_hash(matrix, labels)


def to_spec(arch: NB101Cell, prune: bool = False) -> tuple[np.ndarray, list[str]]:
    """(matrix int[n, n], op names) in the NAS-Bench-101 API convention.

    The spec as given (raw stays raw: the official ModelSpec prunes by itself), without
    padding vertices; ``prune=True`` gives the pruned spec instead. Validates first.
    """
    adj, ops = _normalise_host(arch.adjacency, arch.ops)
    kept = _validate_host(adj, ops)
    vertices = kept if prune else [v for v in range(NUM_VERTICES) if ops[v] != PAD]
    matrix = np.array([[adj[i][j] for j in vertices] for i in vertices], np.int64)
    return matrix, [OP_NAMES[ops[v]] for v in vertices]


def from_spec(matrix, ops: Sequence[str], validate: bool = True) -> NB101Cell:
    """NB101Cell (padded to 7 vertices) of an official-API spec (matrix, op names).

    ``validate=False`` skips the validity check (for building invalid specs on purpose);
    the format (square integer matrix of at most 7 vertices, known op names) is always
    checked.
    """
    if isinstance(ops, str) or not all(isinstance(o, str) for o in ops):
        raise base.InvalidArchitectureError(f"NB101 spec ops must be a list of op names, got {ops!r}")
    unknown = [o for o in ops if o not in OP_NAMES]
    if unknown:
        raise base.InvalidArchitectureError(f"unknown NB101 op names {unknown}; known: {list(OP_NAMES)}")
    codes = np.array([OP_NAMES.index(o) for o in ops], np.int64)
    adj, codes = _normalise_host(matrix, codes, "NB101 spec")
    if validate:
        _validate_host(adj, codes, "NB101 spec")
    return NB101Cell(adjacency=jnp.asarray(adj, jnp.int32), ops=jnp.asarray(codes, jnp.int32))


# ============================================================================ jit side
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


# --------------------------------------------------------------- WL hash (uint32 lanes)
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


# ----------------------------------------------------------------------- data tables
@dataclasses.dataclass(frozen=True)
class _GraphTable:
    """Rows of nb101_graphs.npz, bit-packed so the jit constants stay small (3.4 MB)."""

    adjacency_bits: jax.Array  # uint32[N]: bit k = edge slot k (row-major upper triangle)
    op_bits: jax.Array  # uint32[N]: 3 bits per vertex, op code + 1 (0 = padding)


@dataclasses.dataclass(frozen=True)
class _IndexTable:
    """WL hashes of every row, sorted by (lane 0, lane 1)."""

    lane0: jax.Array  # uint32[N] sorted
    lane1: jax.Array  # uint32[N]
    rows: jax.Array  # int32[N] row of nb101_graphs.npz
    window: int  # max rows sharing one lane-0 value (candidates to compare on lane 1)
    build_seconds: float
    from_cache: bool


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


# ============================================================================ the space
class NB101Space(base.SearchSpace):
    """NAS-Bench-101 cell space; ``index`` enumerates the rows of nb101_graphs.npz.

    data_dir: folder holding nb101_graphs.npz (needed by ``index``/``from_index`` only).
    mutation_rate: the regularised-evolution mutation rate of the NB101 example code:
    each of the 21 edge slots flips with probability mutation_rate / 7 and each of the 5
    op spots changes with probability mutation_rate / 5.
    """

    name = "nb101"
    num_architectures = NUM_ARCHITECTURES
    sequence_length = SEQUENCE_LENGTH
    vocab_size = 7
    max_nodes = NUM_VERTICES
    num_node_types = NUM_OP_CODES
    max_edges = MAX_EDGES
    one_hot_size = NUM_EDGE_SLOTS + OP_SPOTS * len(INTERMEDIATE_OPS)  # 36

    def __init__(self, data_dir: Optional[str | os.PathLike] = None, mutation_rate: float = 1.0):
        if not 0.0 < mutation_rate <= OP_SPOTS:
            raise ValueError(
                f"mutation_rate must be in (0, {OP_SPOTS}] so that probabilities stay <= 1, got {mutation_rate}"
            )
        self.data_dir = data_dir
        self.mutation_rate = float(mutation_rate)

    # ------------------------------------------------------------------ generation
    def sample(self, key):
        """A cell drawn uniformly from the 423,624 cells of the space (a packed spec).

        Uniform over distinct cells, like the other spaces' ``sample``. The paper's raw
        rule (:meth:`sample_raw`) is heavily skewed: about 9 % of its draws are the bare
        input -> output cell and half of any batch are repeats, which wastes random
        search and initial populations on a few small cells.
        """
        return self.from_index(jax.random.randint(key, (), 0, NUM_ARCHITECTURES, jnp.int32))

    def sample_raw(self, key):
        """The NB101 random rule (a raw 7-vertex spec): each of the 21 edge slots on with
        p = 0.5 and a uniform op on vertices 1..5, rejected until valid (about 3 in 4
        proposals are)."""
        return _first_accepted(key, _random_raw_spec, self.is_valid, _SAMPLE_BLOCK, _RANDOM_SPEC_BITS)[0]

    def mutate(self, key, arch):
        return self.mutate_where(key, arch, None)

    def mutate_where(self, key, arch, accept):
        """NB101 regularised-evolution mutation; returns a raw 7-vertex spec.

        As ``mutate_spec`` in the NB101 example code: each of the 21 edge slots flips
        with probability mutation_rate / 7 and each of the 5 op spots moves to a
        different op with probability mutation_rate / 5, repeated until the result is
        valid -- and here also a different cell (pruned, up to isomorphism: WL hash, not
        the raw arrays). A packed ``arch`` is first expanded to raw form (output moved
        to vertex 6, filler vertices with a random op and no edges: the same cell).
        ``accept`` (optional) is an extra predicate folded into the same rejection loop.
        Should every proposal fail (never in practice), the expanded parent is returned.
        """
        expand_key, loop_key = jax.random.split(key)
        parent = _expand_to_raw(expand_key, *_arrays(arch))
        parent_hash = _wl_hash(parent.adjacency, parent.ops)
        edge_p = self.mutation_rate / NUM_VERTICES
        op_p = self.mutation_rate / OP_SPOTS

        def propose(bits):
            u = _unit_float(bits)
            flips = (u[:_CELLS].reshape(NUM_VERTICES, NUM_VERTICES) < edge_p) & _STRICT_UPPER
            change = (u[_CELLS : _CELLS + NUM_VERTICES] < op_p) & _SEARCHED_VERTEX
            # A different op among the three: move its position in (1, 2, 3) by 1 or 2.
            shift = 1 + (u[_CELLS + NUM_VERTICES :] < 0.5).astype(jnp.int32)
            new_op = (parent.ops - CONV1X1 + shift) % len(INTERMEDIATE_OPS) + CONV1X1
            return NB101Cell(
                adjacency=jnp.where(flips, 1 - parent.adjacency, parent.adjacency),
                ops=jnp.where(change, new_op, parent.ops),
            )

        def acceptable(cell):
            new_hash = _wl_hash(cell.adjacency, cell.ops)
            ok = _is_valid(cell.adjacency, cell.ops) & jnp.any(new_hash != parent_hash)
            return ok if accept is None else ok & accept(cell)

        # An extra predicate (e.g. "in the benchmark") accepts far fewer proposals.
        block = _MUTATE_BLOCK if accept is None else 4 * _MUTATE_BLOCK
        child, found = _first_accepted(loop_key, propose, acceptable, block, _MUTATION_BITS)
        return jax.tree_util.tree_map(lambda c, p: jnp.where(found, c, p), child, parent)

    # ------------------------------------------------------------------ validity
    def is_valid(self, arch):
        return _is_valid(*_arrays(arch))

    def check(self, arch):
        adj = base.require_shape("NB101 adjacency", np.asarray(arch.adjacency), (NUM_VERTICES, NUM_VERTICES))
        ops = base.require_shape("NB101 ops", np.asarray(arch.ops), (NUM_VERTICES,))
        if ops.dtype.kind == "u":
            raise base.InvalidArchitectureError(
                f"NB101 ops have unsigned dtype {ops.dtype}; use signed ints with -1 for padding "
                "(the data file's 255)"
            )
        _validate_host(*_normalise_host(adj, ops))

    def canonicalise(self, arch):
        """The pruned, packed spec (extraneous vertices removed, output last, padding after)."""
        adj, ops = _canonicalise(*_arrays(arch))
        return NB101Cell(adjacency=adj, ops=ops)

    # ------------------------------------------------------------------ enumeration
    def index(self, arch):
        """Row of nb101_graphs.npz holding ``arch``'s cell (raw or packed, any vertex
        order), -1 if invalid. Jittable: the WL hash is looked up by binary search in the
        sorted hashes of all rows (built on first use, then cached on disk)."""
        table = self._index_table()
        adj, ops = _arrays(arch)
        lanes = _wl_hash(adj, ops)
        start = jnp.searchsorted(table.lane0, lanes[0]).astype(jnp.int32)
        # Lane 0 alone collides for a few rows; compare lane 1 over the run that shares it.
        candidates = jnp.clip(start + jnp.arange(table.window), 0, NUM_ARCHITECTURES - 1)
        match = (table.lane0[candidates] == lanes[0]) & (table.lane1[candidates] == lanes[1])
        row = table.rows[candidates[jnp.argmax(match)]]
        return jnp.where(_is_valid(adj, ops) & jnp.any(match), row, -1).astype(jnp.int32)

    def from_index(self, index):
        """Row ``index`` of nb101_graphs.npz as a packed cell (out of range: all padding)."""
        table = _graph_table(_source_key(self.data_dir))
        index = base.traced_int_array("NB101 index", index, ())
        in_range = (index >= 0) & (index < NUM_ARCHITECTURES)
        row = jnp.clip(index, 0, NUM_ARCHITECTURES - 1)
        slot_bits = (table.adjacency_bits[row] >> jnp.arange(NUM_EDGE_SLOTS, dtype=jnp.uint32)) & 1
        adj = jnp.zeros((NUM_VERTICES, NUM_VERTICES), jnp.int32).at[_UPPER_ROWS, _UPPER_COLS].set(
            slot_bits.astype(jnp.int32)
        )
        ops = ((table.op_bits[row] >> (3 * jnp.arange(NUM_VERTICES, dtype=jnp.uint32))) & 7).astype(jnp.int32) - 1
        return NB101Cell(adjacency=jnp.where(in_range, adj, 0), ops=jnp.where(in_range, ops, PAD))

    def _index_table(self) -> _IndexTable:
        return _index_table(_source_key(self.data_dir))

    def fingerprint(self, arch) -> str:
        """Official NB101 hash of one architecture (host side); see :func:`fingerprint`."""
        self.check(arch)
        return fingerprint(np.asarray(arch.adjacency), np.asarray(arch.ops))

    # ------------------------------------------------------------------ encodings
    def one_hot(self, arch):
        adj, ops = _canonicalise(*_arrays(arch))
        edge_bits = adj[_UPPER_ROWS, _UPPER_COLS].astype(jnp.float32)
        inner = ops[1 : NUM_VERTICES - 1]
        op_bits = (inner[:, None] == jnp.asarray(INTERMEDIATE_OPS)[None, :]).astype(jnp.float32)
        return jnp.concatenate([edge_bits, op_bits.reshape(-1)])

    def tokens(self, arch):
        adj, ops = _canonicalise(*_arrays(arch))
        n = _num_real(ops)
        col = jnp.asarray(_TOKEN_COL)
        row = jnp.asarray(_TOKEN_ROW)
        edge_token = adj[jnp.maximum(row, 0), col] + TOKEN_NO_EDGE
        op_token = jnp.asarray(_OP_TOKEN)[jnp.clip(ops[col], 0, NUM_OP_CODES - 1)]
        token = jnp.where(row >= 0, edge_token, op_token)
        return jnp.where(col < n, token, TOKEN_PAD).astype(jnp.int32)

    def from_tokens(self, tokens):
        """Inverse of ``tokens``; garbage gives cells that is_valid rejects.

        A column whose op token is 0 is padding (its edge tokens must be 0 too); an edge
        token other than 1/2 in a real column becomes adjacency -1, an op token that is
        not an op becomes op code 99.
        """
        tokens = jnp.asarray(tokens, jnp.int32)
        col = jnp.asarray(_TOKEN_COL)
        row = jnp.asarray(_TOKEN_ROW)
        is_op = row < 0
        op_token = jnp.where(is_op, tokens, 0)
        in_vocab = (op_token >= 0) & (op_token < len(_TOKEN_OP))
        code = jnp.asarray(_TOKEN_OP)[jnp.clip(op_token, 0, len(_TOKEN_OP) - 1)]
        code = jnp.where(in_vocab & (code != -2), code, _BAD_OP)
        # Scatter each column's op token to its vertex (exactly one per column).
        ops = jnp.full((NUM_VERTICES,), PAD, jnp.int32).at[jnp.where(is_op, col, NUM_VERTICES)].set(
            code, mode="drop"
        )
        ops = ops.at[0].set(INPUT)
        column_is_pad = ops[col] == PAD
        edge = jnp.where(
            tokens == TOKEN_NO_EDGE,
            0,
            jnp.where(tokens == TOKEN_EDGE, 1, jnp.where((tokens == TOKEN_PAD) & column_is_pad, 0, -1)),
        )
        adj = jnp.zeros((NUM_VERTICES, NUM_VERTICES), jnp.int32).at[
            jnp.where(is_op, NUM_VERTICES, jnp.maximum(row, 0)), col
        ].set(edge, mode="drop")
        return NB101Cell(adjacency=adj, ops=ops)

    def graph(self, arch):
        adj, ops = _canonicalise(*_arrays(arch))
        return base.CellGraph(node_ops=ops, adjacency=adj == 1)

    # ------------------------------------------------------------------ strings
    def to_string(self, arch):
        """``ops=input,conv3x3-bn-relu,output adjacency=011/001/000``: the spec as given
        (raw stays raw), one adjacency row per real vertex, padding left out."""
        matrix, names = to_spec(arch)
        rows = "/".join("".join(str(int(b)) for b in r) for r in matrix)
        return f"ops={','.join(names)} adjacency={rows}"

    def from_string(self, text):
        if not isinstance(text, str):
            raise base.InvalidArchitectureError(f"NB101 cell string must be str, got {type(text)}")
        match = re.fullmatch(r"\s*ops=(\S+)\s+adjacency=(\S+)\s*", text)
        if not match:
            raise base.InvalidArchitectureError(
                f"NB101 cell string {text!r} is not of the form "
                "'ops=input,<op>,...,output adjacency=<row>/<row>/...' (rows of 0/1)"
            )
        names = match.group(1).split(",")
        rows = match.group(2).split("/")
        if len(rows) != len(names):
            raise base.InvalidArchitectureError(
                f"NB101 cell string {text!r} has {len(names)} ops but {len(rows)} adjacency rows"
            )
        for r, bits in enumerate(rows):
            if len(bits) != len(names) or set(bits) - {"0", "1"}:
                raise base.InvalidArchitectureError(
                    f"adjacency row {r} {bits!r} of {text!r} must be {len(names)} characters of 0/1"
                )
        matrix = np.array([[int(b) for b in bits] for bits in rows], np.int64)
        return from_spec(matrix, names)


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


__all__ = [
    "NB101Cell",
    "NB101Space",
    "OP_NAMES",
    "build_index_table",
    "fingerprint",
    "from_spec",
    "load_graphs",
    "to_spec",
    "wl_hash",
    "wl_hash_rows",
]
