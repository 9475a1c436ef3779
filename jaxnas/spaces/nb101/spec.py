"""Host-side specs: validation with messages, pruning, the official NB101 module hash
(:func:`fingerprint`), and conversion to and from the official API's (matrix, op names)."""

from __future__ import annotations

import functools
import hashlib
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from jaxnas.spaces import base
from jaxnas.spaces.nb101.cell import (
    CONV1X1,
    CONV3X3,
    FILE_PADDING,
    INPUT,
    MAX_EDGES,
    MAXPOOL3X3,
    NUM_OP_CODES,
    NUM_VERTICES,
    OP_NAMES,
    OUTPUT,
    PAD,
    NB101Cell,
)


# The official API labels ops by their position in config['available_ops'] =
# ['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3'], input as -1 and output as -2
# (ModelSpec.hash_spec); note conv3x3 is 0 and conv1x1 is 1 there.
_OFFICIAL_LABEL = {INPUT: -1, CONV1X1: 1, CONV3X3: 0, MAXPOOL3X3: 2, OUTPUT: -2}


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
