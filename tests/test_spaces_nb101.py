"""Tests of the NAS-Bench-101 space (the jaxnas/spaces/nb101/ package).

The full-table checks (official hash on all 423,624 rows, WL-hash uniqueness) are
scripts/check_nb101_hashes.py; here a random sample of rows, isomorphic relabellings and
raw specs with extraneous vertices. Batched calls are padded to one batch size so each
jitted function compiles once.
"""

from __future__ import annotations

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import data
from jaxnas.spaces import base, get_space, nb101
from jaxnas.spaces.nb101 import NB101Cell, NB101Space

N = nb101.NUM_ARCHITECTURES
BATCH = 512  # every batched call is padded to this size
PAD = nb101.PAD
UPPER_ROWS, UPPER_COLS = np.triu_indices(nb101.NUM_VERTICES, k=1)  # edge slots, row-major


def _graphs_or_skip():
    try:
        return nb101.load_graphs()
    except data.DataFileError as err:
        pytest.skip(f"nb101_graphs.npz not available: {err}")


@pytest.fixture(scope="module")
def space():
    return NB101Space()


@pytest.fixture(scope="module")
def graphs():
    return _graphs_or_skip()


@pytest.fixture(scope="module")
def fns(space):
    """Jitted, vmapped functions (compiled once per module, at BATCH)."""
    sample_raw = jax.jit(jax.vmap(space.sample_raw))
    return {
        "valid": jax.jit(jax.vmap(space.is_valid)),
        "index": jax.jit(jax.vmap(space.index)),
        "from_index": jax.jit(jax.vmap(space.from_index)),
        "canon": jax.jit(jax.vmap(space.canonicalise)),
        "mutate": jax.jit(jax.vmap(space.mutate)),
        "encode": jax.jit(jax.vmap(lambda c: (space.tokens(c), space.one_hot(c), space.graph(c)))),
        "from_tokens": jax.jit(jax.vmap(space.from_tokens)),
        "sample_raw": lambda key: sample_raw(jax.random.split(key, BATCH)),
    }


def run(fn, *trees):
    """fn over a batch of any size <= BATCH, padded to BATCH with copies of item 0."""
    size = jax.tree_util.tree_leaves(trees[-1])[0].shape[0]
    assert size <= BATCH

    def pad(x):
        x = jnp.asarray(x)
        return jnp.concatenate([x, jnp.repeat(x[:1], BATCH - size, axis=0)])

    out = fn(*jax.tree_util.tree_map(pad, trees))
    return jax.tree_util.tree_map(lambda x: np.asarray(x[:size]), out)


def stack(cells):
    return NB101Cell(
        adjacency=jnp.asarray(np.stack([np.asarray(c[0]) for c in cells]), jnp.int32),
        ops=jnp.asarray(np.stack([np.asarray(c[1]) for c in cells]), jnp.int32),
    )


def row_cell(graphs, row):
    """(adjacency, ops) of a table row in the jnp convention (-1 padding)."""
    ops = graphs["ops"][row].astype(np.int64)
    return graphs["adjacency"][row].astype(np.int64), np.where(ops == 255, PAD, ops)


# --------------------------------------------------------------- host-side generators
def relabel(adj, ops, rng):
    """An isomorphic relabelling of a packed cell: random topological order of its
    vertices (input stays first and output last: they are the only source and sink)."""
    n = int((ops != PAD).sum())
    indeg = adj[:n, :n].sum(axis=0).tolist()
    ready = [v for v in range(n) if indeg[v] == 0]
    order = []
    while ready:
        v = ready.pop(rng.integers(len(ready)))
        order.append(v)
        for w in range(n):
            if adj[v, w]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    ready.append(w)
    new_adj = np.zeros_like(adj)
    new_adj[:n, :n] = adj[np.ix_(order, order)]
    new_ops = np.full_like(ops, PAD)
    new_ops[:n] = ops[order]
    assert not np.tril(new_adj).any()
    return new_adj, new_ops


def add_extraneous(adj, ops, rng):
    """The packed cell as a raw 7-vertex spec with extraneous vertices at random
    positions: dead ends (edges in from anything earlier, out only to later dead ends)
    and orphans (no edges in, edges out to later non-orphans). Neither lies on an
    input -> output path, so pruning gives the packed cell back."""
    n = int((ops != PAD).sum())
    inner = sorted(rng.choice(np.arange(1, 6), size=n - 2, replace=False).tolist())
    position = [0] + inner + [6]  # where each real vertex goes
    raw_adj = np.zeros((7, 7), np.int64)
    raw_ops = np.zeros(7, np.int64)
    for a in range(n):
        raw_ops[position[a]] = ops[a]
        for b in range(n):
            raw_adj[position[a], position[b]] = adj[a, b]
    extra = [v for v in range(1, 6) if v not in position]
    kind = {v: rng.choice(["dead_end", "orphan"]) for v in extra}
    for v in extra:
        raw_ops[v] = rng.integers(1, 4)
    for i in range(7):
        for j in range(i + 1, 7):
            allowed = kind.get(j) == "dead_end" or (kind.get(i) == "orphan" and kind.get(j) != "orphan")
            if allowed and rng.random() < 0.5:
                raw_adj[i, j] = 1
    return raw_adj, raw_ops


def random_rule(rng):
    adj = np.triu(rng.integers(0, 2, (7, 7)), 1)
    ops = np.concatenate([[0], rng.integers(1, 4, 5), [4]])
    return adj, ops


def corrupt(adj, ops, rng):
    """A random small corruption (maybe still valid)."""
    adj, ops = adj.copy(), ops.copy()
    kind = rng.integers(5)
    if kind == 0:
        i, j = rng.integers(0, 7, 2)
        adj[i, j] = 1 - adj[i, j] if rng.random() < 0.8 else rng.integers(-1, 3)
    elif kind == 1:
        ops[rng.integers(7)] = rng.integers(-1, 6)
    elif kind == 2:  # truncate to a packed-looking cell
        n = rng.integers(1, 7)
        ops[n:] = PAD
        ops[n - 1] = 4
        if rng.random() < 0.7:
            adj[n:, :] = 0
            adj[:, n:] = 0
    elif kind == 3:
        adj[rng.integers(7), :] = 0
    return adj, ops


# --------------------------------------------------------------- a hand-made example
# input -> conv3x3 -> output, input -> conv1x1 -> output, packed in 4 vertices.
SMALL_ADJ = np.zeros((7, 7), np.int64)
for i, j in [(0, 1), (0, 2), (1, 3), (2, 3)]:
    SMALL_ADJ[i, j] = 1
SMALL_OPS = np.array([0, 2, 1, 4, PAD, PAD, PAD])
# The same cell as a raw spec: vertex 3 a dead end, vertices 4 and 5 orphans.
RAW_ADJ = np.zeros((7, 7), np.int64)
for i, j in [(0, 1), (1, 6), (0, 2), (2, 6), (0, 3), (1, 3), (4, 5), (4, 6), (5, 6)]:
    RAW_ADJ[i, j] = 1
RAW_OPS = np.array([0, 2, 1, 3, 2, 3, 4])


def small():
    return NB101Cell(adjacency=jnp.asarray(SMALL_ADJ, jnp.int32), ops=jnp.asarray(SMALL_OPS, jnp.int32))


def raw():
    return NB101Cell(adjacency=jnp.asarray(RAW_ADJ, jnp.int32), ops=jnp.asarray(RAW_OPS, jnp.int32))


# ===================================================================== validity
def test_registered_and_attributes(space):
    assert isinstance(get_space("nb101"), NB101Space)
    assert (space.name, space.num_architectures) == ("nb101", 423_624)
    assert (space.sequence_length, space.vocab_size) == (27, 7)
    assert (space.max_nodes, space.num_node_types, space.max_edges, space.one_hot_size) == (7, 5, 9, 36)
    with pytest.raises(ValueError, match="mutation_rate"):
        NB101Space(mutation_rate=0.0)


def test_valid_examples(space, fns):
    # The NB101 README's Inception-like module (9 edges), via the official-API helpers.
    inception = nb101.from_spec(
        [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
         "maxpool3x3", "output"],
    )
    minimal = NB101Cell(adjacency=jnp.zeros((7, 7), jnp.int32).at[0, 1].set(1),
                        ops=jnp.array([0, 4, PAD, PAD, PAD, PAD, PAD], jnp.int32))
    # 12 edges in the raw spec but 9 after pruning (vertex 5 is a dead end): valid, as
    # the official API counts edges on the pruned spec.
    many = np.zeros((7, 7), np.int64)
    for i, j in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 4), (2, 3), (3, 4), (4, 6), (3, 6), (0, 5), (1, 5), (2, 5)]:
        many[i, j] = 1
    many_cell = NB101Cell(adjacency=jnp.asarray(many, jnp.int32), ops=jnp.array([0, 1, 2, 3, 1, 2, 4], jnp.int32))
    assert nb101.to_spec(many_cell, prune=True)[0].sum() == 9
    cells = [inception, minimal, small(), raw(), many_cell]
    for cell in cells:
        space.check(cell)
    assert run(fns["valid"], stack([(c.adjacency, c.ops) for c in cells])).all()


def _error_cases():
    """(name, adjacency, ops, message regex) of invalid variants of the small/raw cells."""
    cases = []

    def add(name, pattern, adj=None, ops=None, base_adj=SMALL_ADJ, base_ops=SMALL_OPS):
        a = base_adj.copy() if adj is None else adj
        o = base_ops.copy() if ops is None else ops
        cases.append((name, a, o, pattern))

    a = SMALL_ADJ.copy(); a[0, 1] = 2
    add("non_binary", r"adjacency\[0, 1\] = 2; entries must be 0 or 1", adj=a)
    a = SMALL_ADJ.copy(); a[2, 1] = 1
    add("backward_edge", r"not a DAG in topological order: edge 2->1 goes backwards", adj=a)
    a = SMALL_ADJ.copy(); a[1, 1] = 1
    add("self_loop", r"not a DAG in topological order: edge 1->1 is a self-loop", adj=a)
    o = SMALL_OPS.copy(); o[2] = 7
    add("unknown_op", r"unknown op code 7 at vertex 2", ops=o)
    o = SMALL_OPS.copy(); o[4:] = 255
    add("file_padding", r"unknown op code 255 at vertex 4.*255 must be converted to -1", ops=o)
    a = SMALL_ADJ.copy(); a[0, 2] = a[2, 3] = 0
    o = SMALL_OPS.copy(); o[2] = PAD
    add("padding_gap", r"padding vertex 2 comes before real vertex 3", adj=a, ops=o)
    add("too_few", r"has 1 real vertices", adj=np.zeros((7, 7), np.int64),
        ops=np.array([0, PAD, PAD, PAD, PAD, PAD, PAD]))
    a = SMALL_ADJ.copy(); a[1, 5] = 1
    add("padding_edge", r"edge 1->5 touches a padding vertex", adj=a)
    o = SMALL_OPS.copy(); o[0] = 2
    add("first_not_input", r"vertex 0 must be 'input', got 'conv3x3-bn-relu'", ops=o)
    o = SMALL_OPS.copy(); o[3] = 3
    add("last_not_output", r"last real vertex \(3\) must be 'output', got 'maxpool3x3'", ops=o)
    o = SMALL_OPS.copy(); o[1] = 0
    add("input_inside", r"vertex 1 is 'input'; only vertex 0 may be 'input'", ops=o)
    o = RAW_OPS.copy(); o[4] = 4
    add("output_inside", r"vertex 4 is 'output'", ops=o, base_adj=RAW_ADJ)
    a = RAW_ADJ.copy(); a[1, 6] = a[2, 6] = 0
    add("disconnected", r"input does not reach the output \(no path from vertex 0 to vertex 6\)",
        adj=a, base_ops=RAW_OPS)
    dense = np.zeros((7, 7), np.int64)  # a chain plus 4 skips: 10 edges, all on paths
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (0, 2), (1, 3), (2, 4), (3, 5)]:
        dense[i, j] = 1
    add("too_many_edges", r"10 edges after pruning; NB101 allows at most 9", adj=dense,
        ops=np.array([0, 1, 2, 3, 1, 2, 4]))
    return cases


ERROR_CASES = _error_cases()


@pytest.mark.parametrize("name,adj,ops,pattern", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_check_errors(space, name, adj, ops, pattern):
    cell = NB101Cell(adjacency=jnp.asarray(adj, jnp.int32), ops=jnp.asarray(ops, jnp.int32))
    with pytest.raises(base.InvalidArchitectureError, match=pattern):
        space.check(cell)
    with pytest.raises(base.InvalidArchitectureError, match=pattern):
        nb101.fingerprint(adj, ops)


def test_is_valid_false_on_every_error_case(space, fns):
    cells = stack([(a, o) for _, a, o, _ in ERROR_CASES])
    assert not run(fns["valid"], cells).any()


def test_check_shape_and_dtype_errors(space):
    with pytest.raises(base.InvalidArchitectureError, match="adjacency has shape"):
        space.check(NB101Cell(adjacency=np.zeros((6, 6), np.int32), ops=SMALL_OPS))
    with pytest.raises(base.InvalidArchitectureError, match="ops has shape"):
        space.check(NB101Cell(adjacency=SMALL_ADJ, ops=SMALL_OPS[:5]))
    with pytest.raises(base.InvalidArchitectureError, match="unsigned dtype"):
        space.check(NB101Cell(adjacency=SMALL_ADJ, ops=np.where(SMALL_OPS < 0, 255, SMALL_OPS).astype(np.uint8)))
    with pytest.raises(base.InvalidArchitectureError, match="must be integers"):
        space.check(NB101Cell(adjacency=SMALL_ADJ.astype(np.float32), ops=SMALL_OPS))


def test_is_valid_agrees_with_check(space, fns):
    rng = np.random.default_rng(0)
    specs = []
    for _ in range(BATCH):
        adj, ops = random_rule(rng)
        if rng.random() < 0.6:
            adj, ops = corrupt(adj, ops, rng)
        specs.append((adj, ops))
    valid = run(fns["valid"], stack(specs))
    chex.assert_shape(valid, (BATCH,))
    for (adj, ops), v in zip(specs, valid):
        try:
            space.check(NB101Cell(adjacency=adj, ops=ops))
            expected = True
        except base.InvalidArchitectureError:
            expected = False
        assert bool(v) == expected, (adj, ops)
    assert 0.2 < valid.mean() < 0.8  # both outcomes well represented


# ===================================================================== pruning
def test_canonicalise_prunes_and_packs(space, fns):
    packed = run(fns["canon"], stack([(RAW_ADJ, RAW_OPS), (SMALL_ADJ, SMALL_OPS)]))  # raw, then packed
    chex.assert_shape(packed.adjacency, (2, 7, 7))
    chex.assert_type([packed.adjacency, packed.ops], np.int32)
    np.testing.assert_array_equal(packed.adjacency, [SMALL_ADJ, SMALL_ADJ])
    np.testing.assert_array_equal(packed.ops, [SMALL_OPS, SMALL_OPS])
    matrix, names = nb101.to_spec(raw(), prune=True)
    np.testing.assert_array_equal(matrix, SMALL_ADJ[:4, :4])
    assert names == ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "output"]


def test_canonicalise_of_raw_expansions_gives_table_rows(graphs, fns):
    rng = np.random.default_rng(1)
    rows = rng.choice(N, 200, replace=False)
    originals = [row_cell(graphs, r) for r in rows]
    raws = [add_extraneous(a, o, rng) for a, o in originals]
    packed = run(fns["canon"], stack(raws))
    np.testing.assert_array_equal(packed.adjacency, np.stack([a for a, _ in originals]))
    np.testing.assert_array_equal(packed.ops, np.stack([o for _, o in originals]))


# ===================================================================== official fingerprint
def test_fingerprint_reproduces_hash_column(graphs):
    rng = np.random.default_rng(2)
    for row in rng.choice(N, 300, replace=False):
        assert nb101.fingerprint(graphs["adjacency"][row], graphs["ops"][row]) == graphs["hash"][row].decode()


def test_fingerprint_invariant_to_relabelling_and_extraneous_vertices(space, graphs):
    rng = np.random.default_rng(3)
    for row in rng.choice(N, 100, replace=False):
        adj, ops = row_cell(graphs, row)
        expected = graphs["hash"][row].decode()
        adj2, ops2 = relabel(adj, ops, rng)
        assert nb101.fingerprint(adj2, ops2) == expected
        raw_adj, raw_ops = add_extraneous(adj2, ops2, rng)
        assert nb101.fingerprint(raw_adj, raw_ops) == expected
        # the unpadded official-API form gives the same
        matrix, names = nb101.to_spec(NB101Cell(adjacency=raw_adj, ops=raw_ops))
        assert nb101.fingerprint(matrix, [nb101.OP_NAMES.index(n) for n in names]) == expected
    assert space.fingerprint(small()) == space.fingerprint(raw())


# ===================================================================== index
def test_index_agrees_with_fingerprint(space, graphs, fns):
    rng = np.random.default_rng(4)
    rows = rng.choice(N, 150, replace=False)
    relabelled = [relabel(*row_cell(graphs, r), rng) for r in rows]
    raws = [add_extraneous(a, o, rng) for a, o in relabelled]
    sampled = fns["sample_raw"](jax.random.key(5))
    sampled = [(sampled.adjacency[k], sampled.ops[k]) for k in range(150)]
    specs = relabelled + raws + sampled
    got = run(fns["index"], stack(specs))
    chex.assert_type(got, np.int32)
    np.testing.assert_array_equal(got[:150], rows)
    np.testing.assert_array_equal(got[150:300], rows)
    for (adj, ops), row in zip(specs, got):
        assert row >= 0
        assert graphs["hash"][row].decode() == nb101.fingerprint(adj, ops)


def test_index_is_minus_one_for_invalid(fns):
    cells = stack([(a, o) for _, a, o, _ in ERROR_CASES])
    np.testing.assert_array_equal(run(fns["index"], cells), -1)


def test_from_index_round_trip(space, graphs, fns):
    rng = np.random.default_rng(6)
    rows = np.concatenate([[0, N - 1], rng.choice(N, 300, replace=False)]).astype(np.int32)
    cells = run(fns["from_index"], jnp.asarray(rows))
    chex.assert_shape([cells.adjacency, cells.ops], [(len(rows), 7, 7), (len(rows), 7)])
    chex.assert_type([cells.adjacency, cells.ops], np.int32)
    for k, r in enumerate(rows):
        adj, ops = row_cell(graphs, r)
        np.testing.assert_array_equal(cells.adjacency[k], adj)
        np.testing.assert_array_equal(cells.ops[k], ops)
    np.testing.assert_array_equal(run(fns["index"], cells), rows)
    outside = run(fns["from_index"], jnp.asarray([-1, N], jnp.int32))
    assert not run(fns["valid"], outside).any()
    np.testing.assert_array_equal(run(fns["index"], outside), -1)


def test_index_table_is_built_then_cached(graphs, tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path))
    built = nb101.build_index_table()
    assert not built.from_cache and len(list(tmp_path.glob("nb101_wl_index_*.npz"))) == 1
    loaded = nb101.build_index_table()
    assert loaded.from_cache
    for name in ("lane0", "lane1", "rows"):
        np.testing.assert_array_equal(getattr(built, name), getattr(loaded, name))
    assert (np.diff(np.asarray(loaded.lane0).astype(np.int64)) >= 0).all()
    np.testing.assert_array_equal(np.sort(np.asarray(loaded.rows)), np.arange(N))
    (cached,) = tmp_path.glob("nb101_wl_index_*.npz")
    cached.write_bytes(cached.read_bytes()[:1000])  # damaged: rebuilt, never trusted
    rebuilt = nb101.build_index_table()
    assert not rebuilt.from_cache
    np.testing.assert_array_equal(rebuilt.rows, built.rows)
    assert nb101.build_index_table().from_cache


def test_missing_data_raises_data_file_error(tmp_path):
    space = NB101Space(data_dir=tmp_path)
    with pytest.raises(data.DataFileError, match="nb101_graphs.npz"):
        space.from_index(0)
    with pytest.raises(data.DataFileError, match="nb101_graphs.npz"):
        space.index(small())


# ===================================================================== generation
def test_sample_is_uniform_over_cells(space, fns):
    cells = jax.jit(space.sample_batch, static_argnums=1)(jax.random.key(3), BATCH)
    assert run(fns["valid"], cells).all()
    rows = run(fns["index"], cells)
    assert (rows >= 0).all()
    # Uniform over 423,624 rows: 512 draws are almost surely distinct and spread out.
    assert len(np.unique(rows)) >= BATCH - 2
    assert 0.4 < np.mean(rows) / N < 0.6


def test_sample_raw_gives_valid_raw_cells(space, fns):
    cells = fns["sample_raw"](jax.random.key(7))
    chex.assert_shape([cells.adjacency, cells.ops], [(BATCH, 7, 7), (BATCH, 7)])
    assert run(fns["valid"], cells).all()
    ops = np.asarray(cells.ops)
    assert (ops[:, 0] == 0).all() and (ops[:, 6] == 4).all()
    assert np.isin(ops[:, 1:6], [1, 2, 3]).all()
    # every op and ~half the edge slots on before rejection (rejection prefers fewer edges)
    assert set(np.unique(ops[:, 1:6])) == {1, 2, 3}
    assert 0.35 < np.asarray(cells.adjacency)[:, UPPER_ROWS, UPPER_COLS].mean() < 0.55
    again = fns["sample_raw"](jax.random.key(7))
    np.testing.assert_array_equal(again.adjacency, cells.adjacency)
    # The rule favours small pruned cells (about 9% of samples are input -> output
    # alone), so repeats are common: an independent host-side run of the rule gave 294
    # distinct cells in 512.
    assert len(np.unique(run(fns["index"], cells))) > BATCH * 0.4


def test_mutate_gives_valid_different_cells(space, fns):
    sampled = jax.tree_util.tree_map(lambda x: x[: BATCH // 2], fns["sample_raw"](jax.random.key(8)))
    packed = run(fns["from_index"], jnp.arange(BATCH // 2, dtype=jnp.int32) * 811)
    parents = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([jnp.asarray(a), jnp.asarray(b)]), sampled, packed)
    keys = jax.random.split(jax.random.key(9), BATCH)
    children = run(fns["mutate"], keys, parents)
    chex.assert_shape([children.adjacency, children.ops], [(BATCH, 7, 7), (BATCH, 7)])
    assert run(fns["valid"], children).all()
    assert (children.ops[:, 6] == 4).all()  # raw 7-vertex form
    parent_rows = run(fns["index"], parents)
    child_rows = run(fns["index"], children)
    assert (parent_rows >= 0).all() and (child_rows >= 0).all()
    assert (parent_rows != child_rows).all()
    # A mutation is local: most children keep most of their parent's pruned edges.
    changed_edges = np.abs(
        run(fns["canon"], children).adjacency.sum(axis=(1, 2)) - run(fns["canon"], parents).adjacency.sum(axis=(1, 2))
    )
    assert np.median(changed_edges) <= 2


# ===================================================================== encodings
def seminas_reference(adj, ops):
    """SemiNAS's sequence written out directly from its description (packed cells)."""
    n = int((ops != PAD).sum())
    token_of_op = {1: 3, 2: 4, 3: 5, 4: 6}
    seq = []
    for col in range(1, 7):
        if col < n:
            seq += [int(adj[r, col]) + 1 for r in range(col)] + [token_of_op[int(ops[col])]]
        else:
            seq += [0] * (col + 1)
    return seq


def test_tokens_one_hot_graph_of_example(space, fns):
    tokens, one_hot, graph = jax.tree_util.tree_map(lambda x: x[0], run(fns["encode"], stack([(RAW_ADJ, RAW_OPS)])))
    chex.assert_shape([tokens, one_hot], [(27,), (36,)])
    chex.assert_type([tokens, one_hot], [np.int32, np.float32])
    assert tokens.tolist() == [2, 4, 2, 1, 3, 1, 2, 2, 6] + [0] * 18
    edge_bits = np.zeros(21)
    slots = list(zip(UPPER_ROWS.tolist(), UPPER_COLS.tolist()))
    for edge in [(0, 1), (0, 2), (1, 3), (2, 3)]:
        edge_bits[slots.index(edge)] = 1
    op_bits = np.zeros((5, 3))
    op_bits[0, 1] = op_bits[1, 0] = 1  # vertex 1 conv3x3, vertex 2 conv1x1
    np.testing.assert_array_equal(one_hot, np.concatenate([edge_bits, op_bits.ravel()]))
    np.testing.assert_array_equal(graph.node_ops, SMALL_OPS)
    np.testing.assert_array_equal(graph.adjacency, SMALL_ADJ.astype(bool))
    chex.assert_type(graph.adjacency, bool)


def test_tokens_round_trip_and_match_seminas(space, graphs, fns):
    rng = np.random.default_rng(10)
    rows = rng.choice(N, 200, replace=False)
    packed = [row_cell(graphs, r) for r in rows]
    raws = [add_extraneous(a, o, rng) for a, o in packed]
    tokens, one_hot, graph = run(fns["encode"], stack(packed + raws))
    chex.assert_shape([tokens, one_hot], [(400, 27), (400, 36)])
    np.testing.assert_array_equal(tokens[:200], tokens[200:])  # raw encodes as its pruned cell
    np.testing.assert_array_equal(one_hot[:200], one_hot[200:])
    assert tokens.min() >= 0 and tokens.max() < space.vocab_size
    for (adj, ops), seq in zip(packed, tokens[:200]):
        assert seq.tolist() == seminas_reference(adj, ops)
    back = run(fns["from_tokens"], jnp.asarray(tokens))
    np.testing.assert_array_equal(back.adjacency[:200], np.stack([a for a, _ in packed]))
    np.testing.assert_array_equal(back.ops[:200], np.stack([o for _, o in packed]))
    np.testing.assert_array_equal(graph.node_ops[:200], np.stack([o for _, o in packed]))
    # garbage sequences decode to cells that is_valid rejects (most) and never crash
    garbage = rng.integers(0, 7, (BATCH, 27))
    garbage[0] = tokens[0]
    garbage[0, 1] = 1  # op token replaced by "no edge"
    decoded = run(fns["from_tokens"], jnp.asarray(garbage))
    valid = run(fns["valid"], decoded)
    assert not valid[0] and valid.mean() < 0.05


def test_graphs_tuple_of_batch(space, graphs):
    cells = stack([row_cell(graphs, r) for r in [0, 1, 2]] + [(RAW_ADJ, RAW_OPS)])
    gt = jax.jit(space.graphs_tuple)(cells)
    expected_nodes = [int((row_cell(graphs, r)[1] != PAD).sum()) for r in [0, 1, 2]] + [4]
    expected_edges = [int(row_cell(graphs, r)[0].sum()) for r in [0, 1, 2]] + [4]
    chex.assert_shape(gt.nodes, (4 * 7 + 1, 5))
    chex.assert_shape([gt.senders, gt.receivers], [(4 * 9,), (4 * 9,)])
    assert gt.n_node.tolist()[:4] == expected_nodes
    assert gt.n_edge.tolist()[:4] == expected_edges
    assert int(gt.n_node.sum()) == 4 * 7 + 1 and int(gt.n_edge.sum()) == 4 * 9
    # the example's node features: input, conv3x3, conv1x1, output
    first = sum(expected_nodes[:3])
    np.testing.assert_array_equal(gt.nodes[first : first + 4].argmax(axis=1), [0, 2, 1, 4])


# ===================================================================== strings and specs
def test_string_round_trip(space, graphs):
    text = space.to_string(small())
    assert text == "ops=input,conv3x3-bn-relu,conv1x1-bn-relu,output adjacency=0110/0001/0001/0000"
    for cell in [small(), raw(), NB101Cell(*map(jnp.asarray, row_cell(graphs, 12345)))]:
        back = space.from_string(space.to_string(cell))
        np.testing.assert_array_equal(back.adjacency, cell.adjacency)
        np.testing.assert_array_equal(back.ops, cell.ops)


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("input->output", "is not of the form"),
        ("ops=input,output adjacency=01/00/00", "has 2 ops but 3 adjacency rows"),
        ("ops=input,output adjacency=01/0", re.escape("adjacency row 1 '0'")),
        ("ops=input,output adjacency=0x/00", "must be 2 characters of 0/1"),
        ("ops=input,conv5x5,output adjacency=011/001/000", "unknown NB101 op names"),
        ("ops=input,maxpool3x3,output adjacency=010/000/000", "does not reach the output"),
        ("ops=input,output adjacency=00/10", "not a DAG in topological order"),
    ],
)
def test_from_string_errors(space, text, pattern):
    with pytest.raises(base.InvalidArchitectureError, match=pattern):
        space.from_string(text)


def test_to_spec_from_spec(space, fns):
    matrix, names = nb101.to_spec(raw())
    np.testing.assert_array_equal(matrix, RAW_ADJ)
    assert names[0] == "input" and names[-1] == "output" and names[1] == "conv3x3-bn-relu"
    back = nb101.from_spec(matrix, names)
    np.testing.assert_array_equal(back.adjacency, RAW_ADJ)
    np.testing.assert_array_equal(back.ops, RAW_OPS)
    small_matrix, small_names = nb101.to_spec(small())
    chex.assert_shape(small_matrix, (4, 4))
    cell = nb101.from_spec(small_matrix, small_names)
    np.testing.assert_array_equal(cell.ops, SMALL_OPS)
    with pytest.raises(base.InvalidArchitectureError, match="unknown NB101 op names"):
        nb101.from_spec(small_matrix, ["input", "conv", "conv1x1-bn-relu", "output"])
    with pytest.raises(base.InvalidArchitectureError, match="ops has shape"):
        nb101.from_spec(small_matrix, ["input", "output"])
    disconnected = nb101.from_spec(np.zeros((3, 3), int), ["input", "maxpool3x3", "output"], validate=False)
    assert not run(fns["valid"], stack([(disconnected.adjacency, disconnected.ops)]))[0]


@pytest.mark.parametrize("adjacency,ops,message", [
    (np.zeros((8, 8), np.int32), np.zeros(7, np.int32), r"NB101 adjacency has shape \(8, 8\), expected \(7, 7\)"),
    (np.zeros((7, 6), np.int32), np.zeros(7, np.int32), r"NB101 adjacency has shape \(7, 6\), expected \(7, 7\)"),
    (np.zeros((7, 7), np.int32), np.zeros(6, np.int32), r"NB101 ops has shape \(6,\), expected \(7,\)"),
    (np.zeros((7, 7), np.float32), np.zeros(7, np.int32), "NB101 adjacency must be integers"),
])
def test_nb101_malformed_arrays_are_named(adjacency, ops, message):
    space = nb101.NB101Space()
    cell = nb101.NB101Cell(adjacency=jnp.asarray(adjacency), ops=jnp.asarray(ops))
    with pytest.raises(base.InvalidArchitectureError, match=message):
        jax.jit(space.is_valid)(cell)
    with pytest.raises(base.InvalidArchitectureError, match=message):
        space.index(cell)
