"""NAS-Bench-Graph space and benchmarks, checked against the nas-bench-graph package itself."""

import itertools
import os
import pickle
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nas_bench_graph import architecture as nbg
from nas_bench_graph import readbench

from jaxnas import data
from jaxnas.benchmarks import NBGRAPH_DATASETS, load_benchmark
from jaxnas.benchmarks import nbgraph as bench
from jaxnas.spaces import InvalidArchitectureError, get_space
from jaxnas.spaces import nbgraph as nbs

SPACE = nbs.NBGraphSpace()
PROTEINS = nbs.NBGraphSpace(proteins=True)
PROTEINS_OPS = [nbs.OP_NAMES.index(name) for name in nbs.PROTEINS_OP_NAMES]
# Non-canonical link patterns that regularize / move_skip_op must fold.
NON_CANONICAL_LINKS = [[0, 0, 1, 0], [0, 1, 0, 2], [0, 1, 2, 1], [0, 1, 1, 3], [0, 0, 2, 0], [0, 1, 2, 0]]


def package_hash(links, ops) -> int:
    """The package's hash of a raw architecture (-1 for the excluded all-skip cell)."""
    if all(o == nbs.SKIP for o in ops):
        return -1
    return nbg.Arch([int(v) for v in links], [nbs.OP_NAMES[int(o)] for o in ops]).valid_hash()


def random_raw(rng, num, op_choices=range(nbs.NUM_OPS)):
    links = np.stack([rng.integers(0, k + 1, num) for k in range(4)], axis=1).astype(np.int32)
    ops = rng.choice(np.asarray(op_choices), (num, 4)).astype(np.int32)
    links[: len(NON_CANONICAL_LINKS)] = NON_CANONICAL_LINKS
    ops[len(NON_CANONICAL_LINKS)] = op_choices[-1]  # one all-skip ('skip' is last in both lists)
    return links, ops


index_fn = jax.jit(jax.vmap(SPACE.index))
proteins_index_fn = jax.jit(jax.vmap(PROTEINS.index))


# ----------------------------------------------------------------- canonicalisation
def test_lookup_table_equals_package_valid_hash_on_every_raw_architecture():
    hashes = nbs.raw_hashes()
    for code, links in enumerate(nbs.LINK_PATTERNS.tolist()):
        for op_code, ops in enumerate(itertools.product(range(nbs.NUM_OPS), repeat=4)):
            expected = package_hash(links, ops)
            assert hashes[code * nbs.NUM_OPS**4 + op_code] == expected, (links, ops)


def test_jitted_index_agrees_with_package_on_random_raw_architectures():
    rng = np.random.default_rng(0)
    links, ops = random_raw(rng, 400)
    rows = np.asarray(index_fn(nbs.NBGraphArch(links=jnp.asarray(links), ops=jnp.asarray(ops))))
    expected = np.array([package_hash(l, o) for l, o in zip(links, ops)])
    assert np.sum(expected < 0) >= 1  # the all-skip cell is in the batch
    np.testing.assert_array_equal(rows < 0, expected < 0)
    np.testing.assert_array_equal(SPACE.hashes[rows[rows >= 0]], expected[expected >= 0])


def test_proteins_index_agrees_with_package_and_rejects_other_ops():
    rng = np.random.default_rng(1)
    links, ops = random_raw(rng, 300, PROTEINS_OPS)
    rows = np.asarray(proteins_index_fn(nbs.NBGraphArch(links=jnp.asarray(links), ops=jnp.asarray(ops))))
    expected = np.array([package_hash(l, o) for l, o in zip(links, ops)])
    np.testing.assert_array_equal(rows < 0, expected < 0)
    np.testing.assert_array_equal(PROTEINS.hashes[rows[rows >= 0]], expected[expected >= 0])
    ops[:, 2] = nbs.OP_NAMES.index("gat")  # not a proteins op
    rows = proteins_index_fn(nbs.NBGraphArch(links=jnp.asarray(links), ops=jnp.asarray(ops)))
    assert np.all(np.asarray(rows) == -1)


def test_enumeration_is_the_benchmark_tables_keys():
    for dataset, space in (("cora", SPACE), ("arxiv", SPACE), ("proteins", PROTEINS)):
        keys = np.array(sorted(bench.restricted_loads(bench.bench_path(dataset).read_bytes())))
        np.testing.assert_array_equal(space.hashes, keys)
    assert SPACE.num_architectures == 26_206 and PROTEINS.num_architectures == 2_021
    assert np.all(np.isin(PROTEINS.hashes, SPACE.hashes))


def test_from_index_index_round_trip_over_the_whole_enumeration():
    for space, fn in ((SPACE, index_fn), (PROTEINS, proteins_index_fn)):
        archs = jax.jit(jax.vmap(space.from_index))(jnp.arange(space.num_architectures))
        chex.assert_shape([archs.links, archs.ops], (space.num_architectures, 4))
        chex.assert_type([archs.links, archs.ops], jnp.int32)
        np.testing.assert_array_equal(fn(archs), np.arange(space.num_architectures))
    bad = SPACE.from_index_batch(jnp.array([-1, SPACE.num_architectures]))
    assert np.all(np.asarray(bad.links) == -1) and not np.any(np.asarray(index_fn(bad)) >= 0)


def test_canonicalise_is_the_package_canonical_form():
    rng = np.random.default_rng(2)
    links, ops = random_raw(rng, 50)
    canon = jax.jit(jax.vmap(SPACE.canonicalise))(nbs.NBGraphArch(links=jnp.asarray(links), ops=jnp.asarray(ops)))
    for k in range(50):
        if np.all(ops[k] == nbs.SKIP):  # invalid: returned unchanged
            np.testing.assert_array_equal(canon.ops[k], ops[k])
            continue
        ref = nbg.Arch(links[k].tolist(), [nbs.OP_NAMES[o] for o in ops[k]]).regularize()
        ref.move_skip_op()
        ref.equalpart_sort()
        assert np.asarray(canon.links[k]).tolist() == ref.link
        assert [nbs.OP_NAMES[o] for o in np.asarray(canon.ops[k])] == ref.ops


# ----------------------------------------------------------------- generation
FIXED_PARENT = "links=0,1,2,3 ops=gcn,sage,fc,arma"  # in both spaces


@pytest.mark.parametrize("space", [SPACE, PROTEINS], ids=["full", "proteins"])
def test_sample_and_mutate_are_valid_canonical_and_mutate_changes_the_arch(space):
    parent = space.from_string(FIXED_PARENT)

    @jax.jit  # one program: compiling op by op would dominate the test's run time
    def run(key):
        keys = jax.random.split(key, 4)
        parents = space.sample_batch(keys[0], 512)
        raw = jax.vmap(space.sample_raw)(jax.random.split(keys[1], 512))
        fixed = jax.tree_util.tree_map(lambda leaf: jnp.broadcast_to(leaf, (512, 4)), parent)
        everything = jax.tree_util.tree_map(lambda *leaves: jnp.concatenate(leaves), parents, raw, fixed)
        mutated = jax.vmap(space.mutate)(jax.random.split(keys[2], 3 * 512), everything)
        children, raw_children, fixed_children = (
            jax.tree_util.tree_map(lambda leaf: leaf[i * 512 : (i + 1) * 512], mutated) for i in range(3)
        )
        index = jax.vmap(space.index)
        canon = jax.vmap(space.canonicalise)
        return dict(
            parents=parents, children=children, fixed_children=fixed_children,
            p_rows=index(parents), r_rows=index(raw), c_rows=index(children), rc_rows=index(raw_children),
            f_rows=index(fixed_children), p_canon=canon(parents), c_canon=canon(children),
        )

    out = jax.device_get(run(jax.random.key(0)))
    chex.assert_shape([out["parents"].links, out["parents"].ops], (512, 4))
    chex.assert_type([out["parents"].links, out["parents"].ops], np.int32)
    for rows in ("p_rows", "r_rows", "c_rows", "rc_rows", "f_rows"):
        assert np.all(out[rows] >= 0), rows  # everything generated is valid
    assert np.all(out["c_rows"] != out["p_rows"])  # a DIFFERENT canonical architecture
    assert np.all(out["rc_rows"] != out["r_rows"])
    assert np.all(out["f_rows"] != int(space.index(parent)))
    # sample and mutate return canonical representatives
    chex.assert_trees_all_equal(out["p_canon"], out["parents"])
    chex.assert_trees_all_equal(out["c_canon"], out["children"])
    # sample covers the enumeration (512 draws of 2,021 or 26,206 rows: mostly distinct)
    assert len(np.unique(out["p_rows"])) > 400
    if space is PROTEINS:
        assert np.all(np.isin(out["children"].ops, PROTEINS_OPS))
    # About half op moves and half link moves. The parent's links [0,1,2,3] are canonical
    # and its ops distinct, so an op move keeps the links exactly.
    same_links = np.all(out["fixed_children"].links == np.asarray(parent.links), axis=1)
    assert 0.35 < same_links.mean() < 0.75, same_links.mean()


# ----------------------------------------------------------------- validation
def arch(links, ops):
    return nbs.NBGraphArch(links=np.asarray(links), ops=np.asarray(ops))


@pytest.mark.parametrize(
    "candidate, space, message",
    [
        (arch([0, 0, 1], [1, 1, 1, 1]), SPACE, r"links has shape \(3,\)"),
        (arch([0, 0, 1, 2], [[1, 1, 1, 1]]), SPACE, r"ops has shape \(1, 4\)"),
        (arch([0.0, 0, 1, 2], [1, 1, 1, 1]), SPACE, "links must be integers"),
        (arch([1, 0, 1, 2], [1, 1, 1, 1]), SPACE, r"\(node, link\) \[\(0, 1\)\]"),
        (arch([0, 0, 3, 2], [1, 1, 1, 1]), SPACE, r"\(node, link\) \[\(2, 3\)\]"),
        (arch([0, -1, 1, 2], [1, 1, 1, 1]), SPACE, r"\(node, link\) \[\(1, -1\)\]"),
        (arch([0, 0, 1, 2], [1, 9, 1, -1]), SPACE, r"unknown op indices \(node, op\) \[\(1, 9\), \(3, -1\)\]"),
        (arch([0, 0, 1, 2], [8, 8, 8, 8]), SPACE, "all 'skip'"),
        (arch([0, 0, 1, 2], [1, 0, 1, 1]), PROTEINS, r"\[\(1, 'gat'\)\] are not in the proteins op set"),
        ("links=0,0,1,2", SPACE, "needs 'links' and 'ops' fields"),
    ],
)
def test_check_errors(candidate, space, message):
    with pytest.raises(InvalidArchitectureError, match=message):
        space.check(candidate)
    # The jittable is_valid agrees wherever it can tell (it casts dtypes and needs the shapes).
    if message not in ("links must be integers", "needs 'links' and 'ops' fields") and "shape" not in message:
        assert not bool(space.is_valid(candidate))


def test_check_accepts_valid_and_non_canonical_architectures():
    SPACE.check(arch([0, 0, 1, 0], [1, 2, 7, 3]))
    PROTEINS.check(arch([0, 1, 2, 1], [1, 4, 5, 8]))
    assert bool(SPACE.is_valid(arch([0, 0, 1, 0], [1, 2, 7, 3])))


@pytest.mark.parametrize(
    "text, space, message",
    [
        (42, SPACE, "must be str"),
        ("0,1,2,1 gcn,gin,fc,cheb", SPACE, "malformed"),
        ("links=0,1,2,1;ops=gcn,gin,fc,cheb", SPACE, "malformed"),
        ("links=0,1,2 ops=gcn,gin,fc,cheb", SPACE, "gives 3 links, expected 4"),
        ("links=0,1,2,1 ops=gcn,gin,fc", SPACE, "gives 3 ops, expected 4"),
        ("links=0,x,2,1 ops=gcn,gin,fc,cheb", SPACE, r"links \['x'\] .* not non-negative integers"),
        ("links=0,1,-2,1 ops=gcn,gin,fc,cheb", SPACE, r"links \['-2'\]"),
        ("links=0,1,2,99999999999 ops=gcn,gin,fc,cheb", SPACE, r"\(node, link\) \[\(3, '99999999999'\)\]"),
        ("links=0,1,2,1 ops=gcn,gin,conv,cheb", SPACE, r"unknown ops \['conv'\]"),
        ("links=0,1,2,1 ops=skip,skip,skip,skip", SPACE, "all 'skip'"),
        ("links=0,1,2,1 ops=gcn,gin,fc,cheb", PROTEINS, "not in the proteins op set"),
    ],
)
def test_from_string_errors(text, space, message):
    with pytest.raises(InvalidArchitectureError, match=message):
        space.from_string(text)


def test_string_round_trip():
    text = "links=0,1,2,1 ops=gcn,gin,fc,cheb"
    parsed = SPACE.from_string(f"  {text} ")
    np.testing.assert_array_equal(parsed.links, [0, 1, 2, 1])
    np.testing.assert_array_equal(parsed.ops, [1, 2, 7, 3])
    assert SPACE.to_string(parsed) == text
    for row in (0, 1234, SPACE.num_architectures - 1):
        a = SPACE.from_index(row)
        assert int(SPACE.index(SPACE.from_string(SPACE.to_string(a)))) == row
    with pytest.raises(InvalidArchitectureError):
        SPACE.to_string(arch([0, 0, 1, 2], [8, 8, 8, 8]))


# ----------------------------------------------------------------- encodings
@pytest.mark.parametrize("space", [SPACE, PROTEINS], ids=["full", "proteins"])
def test_encodings_shapes_and_inverses(space):
    @jax.jit
    def run(rows):
        archs = jax.vmap(space.from_index)(rows)
        tokens = jax.vmap(space.tokens)(archs)
        # padding (0) and a token of the wrong kind decode to invalid architectures
        broken = tokens.at[:, 1].set(0).at[:, 2].set(space.vocab_size - 1)
        return dict(
            archs=archs, one_hot=jax.vmap(space.one_hot)(archs), tokens=tokens,
            decoded=jax.vmap(space.from_tokens)(tokens),
            broken_valid=jax.vmap(space.is_valid)(jax.vmap(space.from_tokens)(broken)),
            graphs=jax.vmap(space.graph)(archs), graphs_tuple=space.graphs_tuple(archs),
        )

    rows = np.random.default_rng(4).choice(space.num_architectures, 64, replace=False).astype(np.int32)
    out = jax.device_get(run(rows))
    chex.assert_shape(out["one_hot"], (64, space.one_hot_size))
    chex.assert_type(out["one_hot"], np.float32)
    np.testing.assert_array_equal(out["one_hot"].sum(axis=1), 8.0)
    chex.assert_shape(out["tokens"], (64, space.sequence_length))
    chex.assert_type(out["tokens"], np.int32)
    assert np.all((out["tokens"] >= 1) & (out["tokens"] < space.vocab_size))
    chex.assert_trees_all_equal(out["decoded"], out["archs"])
    assert not np.any(out["broken_valid"])
    graphs = out["graphs"]
    chex.assert_shape(graphs.node_ops, (64, space.max_nodes))
    chex.assert_shape(graphs.adjacency, (64, space.max_nodes, space.max_nodes))
    assert np.all((graphs.node_ops >= 0) & (graphs.node_ops < space.num_node_types))
    assert np.all(graphs.adjacency.sum(axis=(1, 2)) <= space.max_edges)
    # every computing node has one input edge; node 4 (the last) is always a leaf
    np.testing.assert_array_equal(graphs.adjacency[:, :, 1:5].sum(axis=1), 1)
    assert np.all(graphs.adjacency[:, 4, 5])
    assert int(out["graphs_tuple"].n_node[:-1].sum()) == 64 * space.max_nodes


def test_graph_follows_the_macro_dag():
    # README example: node 1 <- input, node 2 <- node 1, node 3 <- node 2, node 4 <- node 1;
    # leaves (nodes 3 and 4: fc and cheb) feed the output (node 5).
    g = SPACE.graph(SPACE.from_string("links=0,1,2,1 ops=gcn,gin,fc,cheb"))
    np.testing.assert_array_equal(g.node_ops, [0, 2, 3, 8, 4, 10])
    edges = sorted(zip(*np.nonzero(np.asarray(g.adjacency))))
    assert edges == [(0, 1), (1, 2), (1, 4), (2, 3), (3, 5), (4, 5)]
    g = PROTEINS.graph(PROTEINS.from_string("links=0,0,0,0 ops=gcn,sage,arma,skip"))
    np.testing.assert_array_equal(g.node_ops, [0, 1, 2, 3, 5, 6])
    assert int(np.asarray(g.adjacency).sum()) == 8


# ----------------------------------------------------------------- benchmark
KNOWN = [
    ("cora", "links=0,1,2,1 ops=gcn,gin,fc,cheb"),
    ("cora", "links=0,0,1,0 ops=skip,gat,sage,gcn"),  # non-canonical links
    ("arxiv", "links=0,1,2,3 ops=skip,gcn,gcn,gcn"),
    ("proteins", "links=0,1,1,3 ops=arma,skip,fc,sage"),
]


@pytest.mark.parametrize("dataset, text", KNOWN)
def test_benchmark_values_equal_package_light_read(dataset, text):
    b = load_benchmark(f"nbgraph_{dataset}")
    a = b.space.from_string(text)
    row = int(b.space.index(a))
    info = readbench.light_read(dataset)[nbg.Arch(*_package_arch(a)).valid_hash()]
    assert b.signal[row] == np.float32(info["valid_perf"] * 100)
    assert b.reported[row] == np.float32(info["perf"] * 100)
    assert b.column("latency")[row] == np.float32(info["latency"])
    assert b.column("params")[row] == np.float32(info["para"])


def _package_arch(a):
    return [int(v) for v in np.asarray(a.links)], [nbs.OP_NAMES[int(v)] for v in np.asarray(a.ops)]


def test_load_time_is_printed_and_every_dataset_fills_its_space():
    for dataset in NBGRAPH_DATASETS:
        start = time.perf_counter()
        b = bench.load(dataset)
        seconds = time.perf_counter() - start
        space = PROTEINS if dataset == "proteins" else SPACE
        assert b.name == f"nbgraph_{dataset}" and b.space.name == space.name
        assert b.num_available == space.num_architectures  # no NaN: keys <-> rows
        print(f"nbgraph_{dataset}: loaded in {seconds * 1000:.0f} ms, best test {b.optimum:.2f}%")


def test_unknown_dataset_lists_the_nine():
    with pytest.raises(ValueError, match="cora, citeseer, pubmed, cs, physics, photo, computers, arxiv, proteins"):
        bench.load("mnist")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({0: _Exploit(marker)})  # dumping runs nothing
    with pytest.raises(data.DataFileError, match=r"refusing to unpickle (posix|os|nt)\.system"):
        bench.restricted_loads(payload)
    assert not marker.exists()
    with pytest.raises(data.DataFileError, match="not a plain numeric dtype"):
        bench.restricted_loads(pickle.dumps(np.dtype(object)))


def test_missing_corrupt_or_foreign_bench_files(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "_package_light_dir", lambda: None)
    with pytest.raises(data.DataFileError, match="pip install nas-bench-graph"):
        bench.load("cora", data_dir=str(tmp_path))
    folder = tmp_path / "nbgraph"
    folder.mkdir()
    (folder / "cora.bench").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(data.DataFileError, match="corrupt.*pip install nas-bench-graph"):
        bench.load("cora", data_dir=str(tmp_path))
    entry = {"valid_perf": 0.5, "perf": 0.5, "latency": 0.1, "para": 1.0}
    (folder / "cora.bench").write_bytes(pickle.dumps({88888: entry}))  # the all-skip hash
    with pytest.raises(data.DataFileError, match=r"keys \(e.g. \[88888\]\) are not canonical"):
        bench.load("cora", data_dir=str(tmp_path))
    (folder / "cora.bench").write_bytes(pickle.dumps({int(SPACE.hashes[0]): entry}))
    with pytest.raises(data.DataFileError, match="1 architectures, expected all 26206"):
        bench.load("cora", data_dir=str(tmp_path))
    (folder / "cora.bench").write_bytes(pickle.dumps({int(SPACE.hashes[0]): {"perf": 1.0}}))
    with pytest.raises(data.DataFileError, match="entries must map"):
        bench.load("cora", data_dir=str(tmp_path))


def test_registry_builds_the_proteins_subspace():
    assert load_benchmark("nbgraph_proteins").space.proteins
    assert get_space("nbgraph", proteins=True).num_architectures == 2_021
