""":class:`NB101Space`: generation, validity, enumeration, encodings and strings of NB101
cells, on the arrays and tables of the other modules of :mod:`jaxnas.spaces.nb101`."""

from __future__ import annotations

import os
import re
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces import base
from jaxnas.spaces.nb101.cell import (
    _STRICT_UPPER,
    _UPPER_COLS,
    _UPPER_ROWS,
    CONV1X1,
    CONV3X3,
    INPUT,
    INTERMEDIATE_OPS,
    MAXPOOL3X3,
    NUM_ARCHITECTURES,
    NUM_EDGE_SLOTS,
    NUM_OP_CODES,
    MAX_EDGES,
    NUM_VERTICES,
    OP_SPOTS,
    OUTPUT,
    PAD,
    NB101Cell,
)
from jaxnas.spaces.nb101.graphs import _graph_table, _source_key
from jaxnas.spaces.nb101.pruning import _arrays, _canonicalise, _is_valid, _num_real
from jaxnas.spaces.nb101.sampling import (
    _CELLS,
    _MUTATE_BLOCK,
    _MUTATION_BITS,
    _RANDOM_SPEC_BITS,
    _SAMPLE_BLOCK,
    _SEARCHED_VERTEX,
    _expand_to_raw,
    _first_accepted,
    _random_raw_spec,
    _unit_float,
)
from jaxnas.spaces.nb101.spec import _normalise_host, _validate_host, fingerprint, from_spec, to_spec
from jaxnas.spaces.nb101.wl_index import _index_table, _IndexTable, _wl_hash


# SemiNAS token layout: position -> (column, row or -1 for the column's op token).
_TOKEN_COL = np.array([c for c in range(1, NUM_VERTICES) for _ in range(c + 1)], np.int32)
_TOKEN_ROW = np.array([r for c in range(1, NUM_VERTICES) for r in list(range(c)) + [-1]], np.int32)
SEQUENCE_LENGTH = len(_TOKEN_COL)  # 27
TOKEN_PAD, TOKEN_NO_EDGE, TOKEN_EDGE = 0, 1, 2
_OP_TOKEN = np.array([0, 3, 4, 5, 6], np.int32)  # op code -> token (input never appears)
_TOKEN_OP = np.array([PAD, -2, -2, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT], np.int32)  # -2: bad
_BAD_OP = 99  # from_tokens' code for a garbage op token: not a known code, is_valid False


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
