"""NAS-Bench-Graph (Qin et al., NeurIPS 2022): 4 computing nodes, each one GNN op.

An architecture is a macro DAG given by ``links`` (the input of each of the 4 computing
nodes: 0 = the raw input, k = computing node k, so ``links[k]`` lies in [0, k]) and ``ops``
(one op per computing node, indices into :data:`OP_NAMES`, the package's ``gnn_list``).
Every computing node that no other node takes as input (a leaf) feeds the output (the
package README: "all leaf nodes ... are connected to the output").

Semantics, as read off the PyPI package ``nas-bench-graph`` (1.4.0, ``architecture.py``)
and checked against its tables:

* Raw space: 24 link patterns x 9^4 op lists = 157,464 raw architectures. Exactly one op
  list is excluded: all four ops 'skip' (``all_archs`` skips it; ``valid_hash`` maps it to
  88888, which no table contains). That leaves 157,440 valid raw architectures.
* Canonicalisation is the package's ``Arch.valid_hash``: ``regularize`` (reorders
  isomorphic link patterns onto one of the 9 in ``link_list``), ``move_skip_op`` (moves
  skip nodes so skip-equivalent cells coincide) and ``equalpart_sort`` (sorts the ops of
  interchangeable sibling nodes); the hash is then the base-10 digits
  ``link_list.index(link), op0, op1, op2, op3``. The 157,440 valid raw architectures
  have exactly 26,206 distinct hashes, which are exactly the keys of the eight non-proteins
  ``.bench`` tables. Each raw architecture's row is precomputed in a lookup table, so
  :meth:`NBGraphSpace.index` is one array gather inside jit.
* Proteins: its table was trained with only ``gnn_list_proteins`` = (gcn, sage, arma,
  fc, skip), but its keys are hashed with the full ``gnn_list`` numbering (``valid_hash``
  calls ``hash_arch()`` without ``use_proteins``). Its 2,021 keys are exactly the hashes
  of the valid raw architectures whose ops all lie in that list. ``NBGraphSpace(
  proteins=True)`` is that sub-space: the same ``NBGraphArch`` (ops still numbered by
  ``gnn_list``, so an architecture means the same thing in both spaces and hashes match
  the package), with only those 5 ops valid, a 2,021-row enumeration and 5-op encodings.

The enumeration is the sorted list of canonical hashes; row ``i`` is the package's
canonical representative of hash ``i`` (decoding a hash and hashing it again gives the
same hash for all 26,206, so ``from_index`` and ``index`` round-trip).
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from nas_bench_graph import architecture as nbg

from jaxnas.spaces import base

OP_NAMES = tuple(nbg.gnn_list)  # gat gcn gin cheb sage arma graph fc skip
PROTEINS_OP_NAMES = tuple(nbg.gnn_list_proteins)  # gcn sage arma fc skip
NUM_OPS = len(OP_NAMES)
NUM_NODES = 4  # computing nodes
SKIP = OP_NAMES.index("skip")
# The package hashes with base len(gnn_list) + 1; canonical link patterns are link_list.
_HASH_BASE = NUM_OPS + 1
CANONICAL_LINKS = np.array(nbg.link_list, np.int32)  # int32[9, 4]
# Every link pattern with links[k] in [0, k], in lexicographic order; the pattern's row
# here is its "link code" links[1]*12 + links[2]*4 + links[3].
LINK_PATTERNS = np.array(list(itertools.product(*(range(k + 1) for k in range(NUM_NODES)))), np.int32)
NUM_LINK_PATTERNS = len(LINK_PATTERNS)  # 24
_LINK_RADIX = np.array([0, 12, 4, 1], np.int32)
_OP_RADIX = NUM_OPS ** np.arange(NUM_NODES - 1, -1, -1)  # op 0 most significant
NUM_RAW = NUM_LINK_PATTERNS * NUM_OPS**NUM_NODES  # 157,464 raw (links, ops) codes
_NODE_IDS = np.arange(NUM_NODES, dtype=np.int32)

# 'skip' must be the last op of both lists: sample_raw relies on it to leave out the
# all-skip op list by drawing one code fewer.
assert OP_NAMES[-1] == "skip" and PROTEINS_OP_NAMES[-1] == "skip"
assert len(nbg.link_list) == 9 and all(list(p) in LINK_PATTERNS.tolist() for p in nbg.link_list)

# Graph encoding: node 0 input, nodes 1..4 the computing nodes, node 5 the output.
_GRAPH_NODES = NUM_NODES + 2
_OUTPUT_NODE = NUM_NODES + 1
# Token encoding: per computing node (link token, op token); 0 is padding.
_LINK_TOKEN0 = 1  # link value v -> token 1 + v (1..4)
_OP_TOKEN0 = 1 + NUM_NODES  # local op o -> token 5 + o


@struct.dataclass
class NBGraphArch:
    """links: int32[..., 4], input node of each computing node (0 = raw input).
    ops: int32[..., 4], op of each computing node, indices into OP_NAMES (gnn_list)."""

    links: jax.Array
    ops: jax.Array


class _Tables(NamedTuple):
    raw_to_row: np.ndarray  # int32[NUM_RAW]: row of each raw code, -1 if invalid
    hashes: np.ndarray  # int64[N]: the package's valid_hash of each row, sorted
    links: np.ndarray  # int32[N, 4]: canonical representative of each row
    ops: np.ndarray  # int32[N, 4]


def _skip_moves():
    """Per (link code, skip mask): the package's regularize + move_skip_op, symbolically.

    Both steps look at the ops only through ``op == 'skip'`` and merely permute them, so
    running them once per link pattern and skip mask (24 x 16 calls of the package's own
    code) on placeholder ops gives, for every raw architecture, the resulting link pattern
    and where each op came from. Returns (source int64[24, 16, 4], link_id int64[24, 16]),
    link_id indexing link_list.
    """
    source = np.zeros((NUM_LINK_PATTERNS, 16, NUM_NODES), np.int64)
    link_id = np.zeros((NUM_LINK_PATTERNS, 16), np.int64)
    canonical = [list(p) for p in nbg.link_list]
    for code, pattern in enumerate(LINK_PATTERNS.tolist()):
        for mask in range(16):
            is_skip = [bool(mask >> k & 1) for k in range(NUM_NODES)]
            ops = ["skip" if s else f"#{k}" for k, s in enumerate(is_skip)]
            arch = nbg.Arch(list(pattern), ops).regularize()
            arch.move_skip_op()
            if arch.link not in canonical:
                raise RuntimeError(
                    f"nas_bench_graph maps links {pattern} (skip mask {mask}) to {arch.link}, which "
                    "is not in its link_list: the installed package is not the one this space "
                    "was written for (1.4)"
                )
            link_id[code, mask] = canonical.index(arch.link)
            # Skips are interchangeable, so any skip position is a valid source for one.
            any_skip = is_skip.index(True) if any(is_skip) else 0
            source[code, mask] = [any_skip if op == "skip" else int(op[1:]) for op in arch.ops]
    return source, link_id


def _equalpart_sort(link_id: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """Vectorised ``Arch.equalpart_sort`` (ops numbered by gnn_list, sorted ascending).

    For the link patterns where some nodes are interchangeable, the package sorts their
    ops; for [0,0,1,2] it swaps the two branches (0<->1, 2<->3) when (op0, op2) > (op1, op3).
    """
    ops = ops.copy()
    groups = {  # link_list index -> positions sorted together
        0: [0, 1, 2, 3],  # [0,0,0,0]
        1: [1, 2],  # [0,0,0,1]
        2: [2, 3],  # [0,0,1,1]
        5: [1, 2, 3],  # [0,1,1,1]
        7: [2, 3],  # [0,1,2,2]
    }
    for lid, cols in groups.items():
        rows = np.flatnonzero(link_id == lid)
        ops[np.ix_(rows, cols)] = np.sort(ops[np.ix_(rows, cols)], axis=1)
    branch = link_id == 3  # [0,0,1,2]
    swap = branch & ((ops[:, 0] > ops[:, 1]) | ((ops[:, 0] == ops[:, 1]) & (ops[:, 2] > ops[:, 3])))
    ops[swap] = ops[swap][:, [1, 0, 3, 2]]
    return ops


@functools.lru_cache(maxsize=None)
def raw_hashes() -> np.ndarray:
    """int64[NUM_RAW]: the package's ``Arch(links, ops).valid_hash()`` of every raw code.

    Raw code = link code * 9^4 + ops in base 9 (op 0 most significant). The all-skip op
    lists get -1 (the package excludes them). Vectorised: ~0.1 s, once per process.
    """
    codes = np.arange(NUM_RAW, dtype=np.int64)
    link_code = codes // NUM_OPS**NUM_NODES
    ops = (codes[:, None] % NUM_OPS**NUM_NODES // _OP_RADIX) % NUM_OPS
    mask = ((ops == SKIP) << np.arange(NUM_NODES)).sum(axis=1)
    source, link_id = _skip_moves()
    ops = np.take_along_axis(ops, source[link_code, mask], axis=1)
    link_id = link_id[link_code, mask]
    ops = _equalpart_sort(link_id, ops)
    hashes = link_id * _HASH_BASE**NUM_NODES + ops @ (_HASH_BASE ** np.arange(NUM_NODES - 1, -1, -1))
    hashes = np.where(mask == 15, -1, hashes)
    hashes.setflags(write=False)  # shared through the cache
    return hashes


def decode_hash(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(links int32[..., 4], ops int32[..., 4]) encoded by package hashes (host side)."""
    hashes = np.asarray(hashes, np.int64)
    digits = (hashes[..., None] // _HASH_BASE ** np.arange(NUM_NODES, -1, -1)) % _HASH_BASE
    return CANONICAL_LINKS[digits[..., 0]], digits[..., 1:].astype(np.int32)


@functools.lru_cache(maxsize=None)
def _tables(proteins: bool) -> _Tables:
    hashes = raw_hashes()
    valid = hashes >= 0
    if proteins:
        codes = np.arange(NUM_RAW)
        ops = (codes[:, None] % NUM_OPS**NUM_NODES // _OP_RADIX) % NUM_OPS
        allowed = np.isin(ops, [OP_NAMES.index(name) for name in PROTEINS_OP_NAMES])
        valid &= allowed.all(axis=1)
    keys = np.unique(hashes[valid])
    raw_to_row = np.where(valid, np.searchsorted(keys, hashes), -1).astype(np.int32)
    links, ops = decode_hash(keys)
    for array in (raw_to_row, keys, links, ops):
        array.setflags(write=False)
    return _Tables(raw_to_row=raw_to_row, hashes=keys, links=links, ops=ops)


class NBGraphSpace(base.SearchSpace):
    """The NAS-Bench-Graph space (26,206 canonical cells), or its proteins sub-space (2,021).

    Generation produces canonical representatives: ``sample`` is uniform over the
    canonical enumeration, not over raw (links, ops) lists. The raw space repeats a
    function 1 to 164 times (6 on average) depending on its symmetries and skips, so raw
    sampling would favour some benchmark rows 164x over others; uniform over rows is what
    "a random architecture of the benchmark" means for random search and for initial
    predictor training sets. :meth:`sample_raw` gives the raw rule (uniform over the
    157,440 valid raw lists, as in the package's NNI search space) where that is wanted.

    Encodings (one_hot, tokens, graph) encode the architecture AS GIVEN; canonicalise
    first when equivalent raw forms must encode the same (sample/mutate already return
    canonical forms). In the proteins sub-space they use the 5 proteins ops only.
    """

    def __init__(self, proteins: bool = False):
        self.proteins = bool(proteins)
        self.name = "nbgraph_proteins" if self.proteins else "nbgraph"
        self.op_names = PROTEINS_OP_NAMES if self.proteins else OP_NAMES
        self._tables = _tables(self.proteins)
        # Local op numbering (the encodings' vocabulary) <-> global gnn_list numbering.
        self._local_to_op = np.array([OP_NAMES.index(name) for name in self.op_names], np.int32)
        self._op_to_local = np.full(NUM_OPS, -1, np.int32)
        self._op_to_local[self._local_to_op] = np.arange(len(self.op_names), dtype=np.int32)

        n_ops = len(self.op_names)
        self.num_ops = n_ops
        self.num_architectures = len(self._tables.hashes)
        self.sequence_length = 2 * NUM_NODES
        self.vocab_size = 1 + NUM_NODES + n_ops
        self.max_nodes = _GRAPH_NODES
        self.num_node_types = n_ops + 2  # input 0, ops 1..n_ops, output n_ops + 1
        self.max_edges = 2 * NUM_NODES  # one input edge per node + at most 4 leaves
        self.one_hot_size = NUM_NODES * NUM_NODES + NUM_NODES * n_ops
        self.graph_input_type = 0
        self.graph_output_type = n_ops + 1

    # ----------------------------------------------------------------- tables
    @property
    def hashes(self) -> np.ndarray:
        """int64[num_architectures]: the package's ``valid_hash`` of each row (sorted)."""
        return self._tables.hashes

    def _raw_code(self, arch):
        """(int32 raw code, bool in range) of one architecture; code is 0 when out of range."""
        links = base.traced_int_array("NB-Graph links", arch.links, (NUM_NODES,))
        ops = base.traced_int_array("NB-Graph ops", arch.ops, (NUM_NODES,))
        in_range = (
            jnp.all((links >= 0) & (links <= _NODE_IDS))
            & jnp.all((ops >= 0) & (ops < NUM_OPS))
        )
        code = jnp.sum(links * _LINK_RADIX) * NUM_OPS**NUM_NODES + jnp.sum(ops * _OP_RADIX)
        return jnp.where(in_range, code, 0).astype(jnp.int32), in_range

    # ----------------------------------------------------------------- generation
    def sample(self, key):
        """Uniform over the canonical enumeration (see the class docstring for why)."""
        return self.from_index(jax.random.randint(key, (), 0, self.num_architectures, jnp.int32))

    def sample_raw(self, key):
        """Uniform over valid RAW architectures (links[k] uniform in [0, k], ops uniform,
        all-skip left out), not canonicalised."""
        per_link = self.num_ops**NUM_NODES - 1  # the last op code is all-skip ('skip' is last)
        code = jax.random.randint(key, (), 0, NUM_LINK_PATTERNS * per_link, jnp.int32)
        local = (code % per_link // (self.num_ops ** jnp.arange(NUM_NODES - 1, -1, -1))) % self.num_ops
        return NBGraphArch(
            links=jnp.asarray(LINK_PATTERNS)[code // per_link],
            ops=jnp.asarray(self._local_to_op)[local],
        )

    def mutate(self, key, arch):
        """Changes one node's op, or one node's input, to a different canonical architecture.

        Every neighbour (4 x (num_ops - 1) op changes, 6 single-link changes) is looked up;
        those that are invalid or canonically equal to ``arch`` are dropped. The kind (op or
        link) is chosen with probability 1/2 each (all to the other kind when one has no
        admissible neighbour), then a neighbour uniformly within it. The result is returned
        in canonical form. A valid arch always has an admissible op change (replacing a
        non-skip op by another non-skip op changes the multiset of ops, which the package's
        canonicalisation preserves); an invalid ``arch`` yields an invalid result.
        """
        links = jnp.asarray(arch.links, jnp.int32)
        ops = jnp.asarray(arch.ops, jnp.int32)
        n = self.num_ops
        current = self.index(arch)

        # Op changes: node p gets the op `shift` places further in the local op list.
        op_pos = np.repeat(_NODE_IDS, n - 1)
        op_shift = np.tile(np.arange(1, n), NUM_NODES)
        local = jnp.asarray(self._op_to_local)[jnp.clip(ops, 0, NUM_OPS - 1)]
        new_local = (local[op_pos] + op_shift) % n
        op_cands = jnp.broadcast_to(ops, (len(op_pos), NUM_NODES))
        op_cands = op_cands.at[np.arange(len(op_pos)), op_pos].set(jnp.asarray(self._local_to_op)[new_local])
        # Link changes: node p (1..3) takes another input in [0, p].
        link_pos = np.array([1, 2, 2, 3, 3, 3])
        link_shift = np.array([1, 1, 2, 1, 2, 3])
        new_link = (links[link_pos] + link_shift) % (link_pos + 1)
        link_cands = jnp.broadcast_to(links, (len(link_pos), NUM_NODES))
        link_cands = link_cands.at[np.arange(len(link_pos)), link_pos].set(new_link)

        cands = NBGraphArch(
            links=jnp.concatenate([jnp.broadcast_to(links, op_cands.shape), link_cands]),
            ops=jnp.concatenate([op_cands, jnp.broadcast_to(ops, link_cands.shape)]),
        )
        rows = jax.vmap(self.index)(cands)
        ok = (rows >= 0) & (rows != current)
        is_op = np.arange(len(rows)) < len(op_pos)
        n_op_ok = jnp.sum(ok & is_op)
        n_link_ok = jnp.sum(ok & ~is_op)
        kind_weight = jnp.where(
            is_op,
            jnp.where(n_link_ok > 0, 0.5, 1.0) / jnp.maximum(n_op_ok, 1),
            jnp.where(n_op_ok > 0, 0.5, 1.0) / jnp.maximum(n_link_ok, 1),
        )
        # Inverse-CDF draw: the first candidate whose cumulative weight exceeds u * total.
        # (Same distribution as random.categorical, at a third of its XLA compile time.)
        cdf = jnp.cumsum(jnp.where(ok, kind_weight, 0.0))
        target = jax.random.uniform(key, ()) * cdf[-1]
        choice = jnp.minimum(jnp.sum(cdf <= target), len(rows) - 1)
        return self.from_index(jnp.where(jnp.any(ok), rows[choice], -1))

    # ----------------------------------------------------------------- validity
    def is_valid(self, arch):
        return self.index(arch) >= 0

    def check(self, arch):
        if not (hasattr(arch, "links") and hasattr(arch, "ops")):
            raise base.InvalidArchitectureError(
                f"an NB-Graph architecture needs 'links' and 'ops' fields, got {type(arch).__name__}"
            )
        links = base.require_shape("NB-Graph links", np.asarray(arch.links), (NUM_NODES,))
        ops = base.require_shape("NB-Graph ops", np.asarray(arch.ops), (NUM_NODES,))
        for what, array in (("links", links), ("ops", ops)):
            if not np.issubdtype(array.dtype, np.integer):
                raise base.InvalidArchitectureError(f"NB-Graph {what} must be integers, got {array.dtype}")
        bad = [(k, int(v)) for k, v in enumerate(links) if not 0 <= v <= k]
        if bad:
            raise base.InvalidArchitectureError(
                f"NB-Graph links {links.tolist()}: computing node k takes its input from node 0 "
                f"(raw input) .. k, but (node, link) {bad} are out of range"
            )
        bad = [(k, int(v)) for k, v in enumerate(ops) if not 0 <= v < NUM_OPS]
        if bad:
            raise base.InvalidArchitectureError(
                f"NB-Graph ops {ops.tolist()}: unknown op indices (node, op) {bad}; ops index {OP_NAMES}"
            )
        bad = [(k, OP_NAMES[v]) for k, v in enumerate(ops) if self._op_to_local[v] < 0]
        if bad:
            raise base.InvalidArchitectureError(
                f"NB-Graph ops {[OP_NAMES[v] for v in ops]}: (node, op) {bad} are not in the "
                f"proteins op set {PROTEINS_OP_NAMES}"
            )
        if np.all(ops == SKIP):
            raise base.InvalidArchitectureError(
                "NB-Graph ops are all 'skip': the benchmark excludes this cell (it has no GNN layer)"
            )
        code = int(links @ _LINK_RADIX) * NUM_OPS**NUM_NODES + int(ops @ _OP_RADIX)
        if self._tables.raw_to_row[code] < 0:  # unreachable for the package version we know
            raise base.InvalidArchitectureError(
                f"NB-Graph architecture links={links.tolist()} ops={ops.tolist()} is not in the {self.name} space"
            )

    def canonicalise(self, arch):
        """The package's canonical form (what ``valid_hash`` encodes); invalid archs unchanged."""
        row = self.index(arch)
        canonical = self.from_index(row)
        return NBGraphArch(
            links=jnp.where(row >= 0, canonical.links, jnp.asarray(arch.links, jnp.int32)),
            ops=jnp.where(row >= 0, canonical.ops, jnp.asarray(arch.ops, jnp.int32)),
        )

    # ----------------------------------------------------------------- enumeration
    def index(self, arch):
        code, in_range = self._raw_code(arch)
        return jnp.where(in_range, jnp.asarray(self._tables.raw_to_row)[code], -1)

    def from_index(self, index):
        """Row ``index``'s canonical architecture; out-of-range rows give links = ops = -1."""
        index = base.traced_int_array("NB-Graph index", index, ())
        ok = (index >= 0) & (index < self.num_architectures)
        row = jnp.clip(index, 0, self.num_architectures - 1)
        return NBGraphArch(
            links=jnp.where(ok, jnp.asarray(self._tables.links)[row], -1),
            ops=jnp.where(ok, jnp.asarray(self._tables.ops)[row], -1),
        )

    # ----------------------------------------------------------------- encodings
    def _local_ops(self, arch):
        ops = jnp.asarray(arch.ops, jnp.int32)
        ok = (ops >= 0) & (ops < NUM_OPS)
        return jnp.where(ok, jnp.asarray(self._op_to_local)[jnp.clip(ops, 0, NUM_OPS - 1)], -1)

    def one_hot(self, arch):
        """[one-hot input node of each computing node (4 x 4), one-hot op (4 x num_ops)]."""
        links = jax.nn.one_hot(jnp.asarray(arch.links, jnp.int32), NUM_NODES)
        ops = jax.nn.one_hot(self._local_ops(arch), self.num_ops)
        return jnp.concatenate([links.reshape(-1), ops.reshape(-1)])

    def tokens(self, arch):
        """Per computing node: (1 + link, 5 + local op), i.e. [l0, o0, l1, o1, ...]."""
        links = jnp.asarray(arch.links, jnp.int32) + _LINK_TOKEN0
        ops = self._local_ops(arch) + _OP_TOKEN0
        return jnp.stack([links, ops], axis=1).reshape(-1)

    def from_tokens(self, tokens):
        # Padding or a token of the wrong kind gives -1, which is_valid rejects.
        tokens = jnp.asarray(tokens, jnp.int32).reshape(NUM_NODES, 2)
        link_tok, op_tok = tokens[:, 0], tokens[:, 1]
        link_ok = (link_tok >= _LINK_TOKEN0) & (link_tok < _LINK_TOKEN0 + NUM_NODES)
        local = op_tok - _OP_TOKEN0
        op_ok = (local >= 0) & (local < self.num_ops)
        return NBGraphArch(
            links=jnp.where(link_ok, link_tok - _LINK_TOKEN0, -1),
            ops=jnp.where(op_ok, jnp.asarray(self._local_to_op)[jnp.clip(local, 0, self.num_ops - 1)], -1),
        )

    def graph(self, arch):
        """Node 0 input, node 1 + k computing node k (type 1 + local op), node 5 output.

        Edges: links[k] -> 1 + k, and every leaf computing node (no node takes it as input)
        -> output, as in the package's macro DAG.
        """
        links = jnp.asarray(arch.links, jnp.int32)
        local = self._local_ops(arch)
        node_ops = jnp.concatenate(
            [
                jnp.array([self.graph_input_type], jnp.int32),
                jnp.where(local >= 0, local + 1, -1),
                jnp.array([self.graph_output_type], jnp.int32),
            ]
        )
        # parent[k, j]: node j (0..5) is the input of computing node k.
        parent = (links[:, None] == jnp.arange(_GRAPH_NODES)[None, :]) & (links[:, None] <= _NODE_IDS[:, None])
        has_child = jnp.any(links[None, :] == (_NODE_IDS + 1)[:, None], axis=1)
        adjacency = jnp.zeros((_GRAPH_NODES, _GRAPH_NODES), bool)
        adjacency = adjacency.at[:, 1 : 1 + NUM_NODES].set(parent.T)
        adjacency = adjacency.at[1 : 1 + NUM_NODES, _OUTPUT_NODE].set(~has_child)
        return base.CellGraph(node_ops=node_ops, adjacency=adjacency)

    # ----------------------------------------------------------------- strings
    def to_string(self, arch):
        """'links=0,1,2,1 ops=gcn,gin,fc,cheb' (the architecture as given)."""
        arch = NBGraphArch(links=np.asarray(arch.links), ops=np.asarray(arch.ops))
        self.check(arch)
        links = ",".join(str(int(v)) for v in arch.links)
        ops = ",".join(OP_NAMES[int(v)] for v in arch.ops)
        return f"links={links} ops={ops}"

    def from_string(self, text):
        if not isinstance(text, str):
            raise base.InvalidArchitectureError(f"NB-Graph architecture string must be str, got {type(text)}")
        match = re.fullmatch(r"\s*links=(\S*)\s+ops=(\S*)\s*", text)
        if not match:
            raise base.InvalidArchitectureError(
                f"malformed NB-Graph architecture string {text!r}; expected "
                "'links=l0,l1,l2,l3 ops=op0,op1,op2,op3' like 'links=0,1,2,1 ops=gcn,gin,fc,cheb'"
            )
        link_items, op_items = match.group(1).split(","), match.group(2).split(",")
        for what, items in (("links", link_items), ("ops", op_items)):
            if len(items) != NUM_NODES:
                raise base.InvalidArchitectureError(
                    f"{text!r} gives {len(items)} {what}, expected {NUM_NODES} (one per computing node)"
                )
        bad = [item for item in link_items if not re.fullmatch(r"\d+", item)]
        if bad:
            raise base.InvalidArchitectureError(f"links {bad} in {text!r} are not non-negative integers")
        # Range-check before building int32 arrays (a huge number would overflow them).
        bad = [(k, item) for k, item in enumerate(link_items) if int(item) > k]
        if bad:
            raise base.InvalidArchitectureError(
                f"links in {text!r}: computing node k takes its input from node 0 (raw input) .. k, "
                f"but (node, link) {bad} are out of range"
            )
        bad = [item for item in op_items if item not in OP_NAMES]
        if bad:
            raise base.InvalidArchitectureError(f"unknown ops {bad} in {text!r}; known ops: {self.op_names}")
        arch = NBGraphArch(
            links=np.array([int(item) for item in link_items], np.int32),
            ops=np.array([OP_NAMES.index(item) for item in op_items], np.int32),
        )
        self.check(arch)  # range of links, proteins op set, all-skip
        return NBGraphArch(links=jnp.asarray(arch.links), ops=jnp.asarray(arch.ops))
