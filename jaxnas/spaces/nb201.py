"""NAS-Bench-201 cells: 4 nodes, 6 edges, each edge one of 5 operations.

Edge order is the official string's: ``|e0~0|+|e1~0|e2~1|+|e3~0|e4~1|e5~2|`` with edges
(0->1), (0->2), (1->2), (0->3), (1->3), (2->3). The space's enumeration is the mixed-radix
code of the 6 ops (edge 0 most significant), so it needs no data; the official NB201
index order (a shuffle) is available through :func:`official_order` when ``nb201.npz``
is at hand.
"""

from __future__ import annotations

import re
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxnas import data
from jaxnas.spaces import base

OP_NAMES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_OPS = len(OP_NAMES)
NUM_EDGES = 6
NUM_NODES = 4
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
EDGE_SRC = np.array([e[0] for e in EDGES], np.int32)
EDGE_DST = np.array([e[1] for e in EDGES], np.int32)
NUM_ARCHITECTURES = NUM_OPS**NUM_EDGES  # 15,625
_RADIX = NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1)  # edge 0 most significant

# Graph encoding: input node, one node per edge-op, output node.
GRAPH_INPUT_TYPE = 0  # node types 1..5 are the ops, 6 the output
GRAPH_OUTPUT_TYPE = NUM_OPS + 1
_GRAPH_NODES = NUM_EDGES + 2


def _op_graph_adjacency() -> np.ndarray:
    """Fixed adjacency of the op-on-node graph (independent of the chosen ops)."""
    adj = np.zeros((_GRAPH_NODES, _GRAPH_NODES), bool)
    out = _GRAPH_NODES - 1
    for e, (src, dst) in enumerate(EDGES):
        if src == 0:
            adj[0, 1 + e] = True
        if dst == NUM_NODES - 1:
            adj[1 + e, out] = True
        for f, (src_f, _) in enumerate(EDGES):
            if src_f == dst:
                adj[1 + e, 1 + f] = True
    return adj


_OP_GRAPH_ADJACENCY = _op_graph_adjacency()


def _ops(arch) -> jax.Array:
    return base.traced_int_array("NB201 ops", arch.ops, (NUM_EDGES,))


@struct.dataclass
class NB201Cell:
    """ops: int32[..., 6], op index per edge (into OP_NAMES)."""

    ops: jax.Array


class NB201Space(base.SearchSpace):
    name = "nb201"
    num_architectures = NUM_ARCHITECTURES
    sequence_length = NUM_EDGES
    vocab_size = NUM_OPS + 1  # token = op + 1; 0 is padding
    max_nodes = _GRAPH_NODES
    num_node_types = NUM_OPS + 2
    max_edges = int(_OP_GRAPH_ADJACENCY.sum())
    one_hot_size = NUM_EDGES * NUM_OPS

    def sample(self, key):
        return NB201Cell(ops=jax.random.randint(key, (NUM_EDGES,), 0, NUM_OPS, jnp.int32))

    def mutate(self, key, arch):
        edge_key, op_key = jax.random.split(key)
        edge = jax.random.randint(edge_key, (), 0, NUM_EDGES)
        # A different op on one edge: shift by 1..NUM_OPS-1 (uniform over the others).
        shift = jax.random.randint(op_key, (), 1, NUM_OPS)
        ops = arch.ops.at[edge].set((arch.ops[edge] + shift) % NUM_OPS)
        return NB201Cell(ops=ops)

    def is_valid(self, arch):
        ops = _ops(arch)
        return jnp.all((ops >= 0) & (ops < NUM_OPS))

    def check(self, arch):
        ops = base.require_shape("NB201 ops", np.asarray(arch.ops), (NUM_EDGES,))
        if not np.issubdtype(ops.dtype, np.integer):
            raise base.InvalidArchitectureError(f"NB201 ops must be integers, got {ops.dtype}")
        bad = [(EDGES[e], int(o)) for e, o in enumerate(ops) if not 0 <= o < NUM_OPS]
        if bad:
            raise base.InvalidArchitectureError(
                f"NB201 ops out of range [0, {NUM_OPS}) on edges {bad}; ops are {OP_NAMES}"
            )

    def canonicalise(self, arch):
        """Ops on edges that lie on no input->output path are set to 'none'.

        Such edges cannot change the cell's output, so cells that differ only there
        compute the same function. (The benchmark trained them separately; lookups use
        the cell as given, never its canonical form.)
        """
        live = arch.ops != 0
        reach = jnp.zeros(NUM_NODES, bool).at[0].set(True)  # reachable from input
        for e in range(NUM_EDGES):  # edges are in topological order of their dst
            reach = reach.at[EDGE_DST[e]].max(reach[EDGE_SRC[e]] & live[e])
        coreach = jnp.zeros(NUM_NODES, bool).at[NUM_NODES - 1].set(True)
        for e in reversed(range(NUM_EDGES)):
            coreach = coreach.at[EDGE_SRC[e]].max(coreach[EDGE_DST[e]] & live[e])
        on_path = live & reach[EDGE_SRC] & coreach[EDGE_DST]
        return NB201Cell(ops=jnp.where(on_path, arch.ops, 0))

    def index(self, arch):
        code = jnp.sum(_ops(arch) * _RADIX).astype(jnp.int32)
        return jnp.where(self.is_valid(arch), code, -1)

    def from_index(self, index):
        """The cell of row ``index``; out of range: every op -1 (invalid, index -1)."""
        index = base.traced_int_array("NB201 index", index, ())
        ops = ((index // _RADIX) % NUM_OPS).astype(jnp.int32)
        in_range = (index >= 0) & (index < NUM_ARCHITECTURES)
        return NB201Cell(ops=jnp.where(in_range, ops, -1))

    def one_hot(self, arch):
        return jax.nn.one_hot(arch.ops, NUM_OPS).reshape(-1)

    def tokens(self, arch):
        return (jnp.asarray(arch.ops, jnp.int32) + 1)

    def from_tokens(self, tokens):
        # Padding or out-of-range tokens give an op of -1, which is_valid rejects.
        tokens = jnp.asarray(tokens, jnp.int32)
        ok = (tokens >= 1) & (tokens <= NUM_OPS)
        return NB201Cell(ops=jnp.where(ok, tokens - 1, -1))

    def graph(self, arch):
        node_ops = jnp.concatenate(
            [
                jnp.array([GRAPH_INPUT_TYPE], jnp.int32),
                jnp.asarray(arch.ops, jnp.int32) + 1,
                jnp.array([GRAPH_OUTPUT_TYPE], jnp.int32),
            ]
        )
        return base.CellGraph(node_ops=node_ops, adjacency=jnp.asarray(_OP_GRAPH_ADJACENCY))

    def to_string(self, arch):
        ops = np.asarray(arch.ops)
        self.check(NB201Cell(ops=ops))
        nodes = []
        for dst in range(1, NUM_NODES):
            parts = [f"{OP_NAMES[ops[e]]}~{EDGE_SRC[e]}" for e in range(NUM_EDGES) if EDGE_DST[e] == dst]
            nodes.append("|" + "|".join(parts) + "|")
        return "+".join(nodes)

    def from_string(self, text):
        if not isinstance(text, str):
            raise base.InvalidArchitectureError(f"NB201 cell string must be str, got {type(text)}")
        nodes = text.strip().split("+")
        if len(nodes) != NUM_NODES - 1:
            raise base.InvalidArchitectureError(
                f"NB201 cell string {text!r} has {len(nodes)} node groups separated by '+', "
                f"expected {NUM_NODES - 1} like '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'"
            )
        ops = np.full(NUM_EDGES, -1, np.int32)
        for dst, group in enumerate(nodes, start=1):
            if not (group.startswith("|") and group.endswith("|")):
                raise base.InvalidArchitectureError(f"node group {group!r} of {text!r} must be wrapped in '|'")
            items = group[1:-1].split("|")
            if len(items) != dst:
                raise base.InvalidArchitectureError(
                    f"node {dst} of {text!r} has {len(items)} inputs, expected {dst}"
                )
            for item in items:
                match = re.fullmatch(r"([a-z0-9_]+)~(\d+)", item)
                if not match:
                    raise base.InvalidArchitectureError(f"malformed edge {item!r} in {text!r}; expected 'op~source'")
                op, src = match.group(1), int(match.group(2))
                if op not in OP_NAMES:
                    raise base.InvalidArchitectureError(f"unknown op {op!r} in {text!r}; known ops: {OP_NAMES}")
                if src >= dst:
                    raise base.InvalidArchitectureError(
                        f"edge {src}->{dst} in {text!r} does not go forward (not a DAG)"
                    )
                edge = EDGES.index((src, dst))
                if ops[edge] != -1:
                    raise base.InvalidArchitectureError(f"edge {src}->{dst} given twice in {text!r}")
                ops[edge] = OP_NAMES.index(op)
        return NB201Cell(ops=jnp.asarray(ops))


def official_order(data_dir: Optional[str] = None) -> np.ndarray:
    """int32[15625]: space index of each official NB201 index (from nb201.npz)."""
    table = data.load_npz("nb201.npz", ["ops", "index"], data_dir)
    data.check_shape("nb201.npz", "ops", table["ops"], (NUM_ARCHITECTURES, NUM_EDGES), kinds="iu")
    data.check_shape("nb201.npz", "index", table["index"], (NUM_ARCHITECTURES,), kinds="iu")
    data.check_values("nb201.npz", "ops", table["ops"], low=0, high=NUM_OPS - 1)
    if not np.array_equal(np.sort(table["index"]), np.arange(NUM_ARCHITECTURES)):
        raise data.DataFileError("nb201.npz: the 'index' column is not a permutation of 0..15624; the file is corrupt")
    codes = table["ops"].astype(np.int64) @ _RADIX
    order = np.empty(NUM_ARCHITECTURES, np.int32)
    order[table["index"]] = codes
    return order
