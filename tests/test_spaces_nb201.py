import chex
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from jaxnas import spaces
from jaxnas.benchmarks import ledger as ledger_lib
from jaxnas.spaces import base, nb201

SPACE = nb201.NB201Space()
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def test_string_round_trip_and_index():
    cell = SPACE.from_string(BEST)
    np.testing.assert_array_equal(cell.ops, [3, 3, 3, 1, 2, 3])
    assert SPACE.to_string(cell) == BEST
    idx = SPACE.index(cell)
    assert SPACE.to_string(SPACE.from_index(idx)) == BEST


def test_index_is_a_bijection_over_the_enumeration():
    archs = SPACE.all_architectures()
    chex.assert_shape(archs.ops, (15625, 6))
    np.testing.assert_array_equal(SPACE.index_batch(archs), np.arange(15625))


def test_official_order_matches_the_table():
    order = nb201.official_order()
    table = np.load(nb201.data.resolve("nb201.npz"))
    i = 4321
    official_row = int(np.flatnonzero(table["index"] == i)[0])
    np.testing.assert_array_equal(SPACE.from_index(order[i]).ops, table["ops"][official_row])


@pytest.mark.parametrize(
    "text,message",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "node groups"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "not a DAG"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "twice"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "inputs"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed"),
    ],
)
def test_bad_strings_raise_clear_errors(text, message):
    with pytest.raises(spaces.InvalidArchitectureError, match=message):
        SPACE.from_string(text)


def test_check_rejects_bad_arrays():
    with pytest.raises(spaces.InvalidArchitectureError, match="shape"):
        SPACE.check(nb201.NB201Cell(ops=np.zeros(5, np.int32)))
    with pytest.raises(spaces.InvalidArchitectureError, match="out of range"):
        SPACE.check(nb201.NB201Cell(ops=np.array([0, 1, 2, 3, 4, 5])))
    bad = nb201.NB201Cell(ops=jnp.array([0, 1, 2, 3, 4, 7]))
    assert not bool(SPACE.is_valid(bad)) and int(SPACE.index(bad)) == -1


def test_sample_and_mutate():
    keys = jax.random.split(jax.random.key(0), 512)
    cells = jax.vmap(SPACE.sample)(keys)
    assert bool(jax.vmap(SPACE.is_valid)(cells).all())
    children = jax.vmap(SPACE.mutate)(keys, cells)
    differences = np.sum(np.asarray(children.ops) != np.asarray(cells.ops), axis=1)
    np.testing.assert_array_equal(differences, 1)  # exactly one edge changes
    # Every op appears: the mutation is not stuck on a subset.
    assert set(np.unique(children.ops)) == set(range(5))


def test_canonicalise_removes_dead_edges():
    # Node 1 is fed but never reaches the output: its ops are dead.
    cell = SPACE.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|")
    canon = SPACE.canonicalise(cell)
    assert SPACE.to_string(canon) == "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"
    cell = SPACE.from_string("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|")
    assert SPACE.to_string(SPACE.canonicalise(cell)) == "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    dead = SPACE.from_string("|none~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|")
    assert int(SPACE.index(SPACE.canonicalise(dead))) == 0  # no path at all: all 'none'


def test_encodings():
    cell = SPACE.from_string(BEST)
    one_hot = SPACE.one_hot(cell)
    chex.assert_shape(one_hot, (SPACE.one_hot_size,))
    assert float(one_hot.sum()) == 6
    tokens = SPACE.tokens(cell)
    chex.assert_type(tokens, jnp.int32)
    assert int(tokens.min()) >= 1 and int(tokens.max()) < SPACE.vocab_size
    np.testing.assert_array_equal(SPACE.from_tokens(tokens).ops, cell.ops)
    assert not bool(SPACE.is_valid(SPACE.from_tokens(jnp.zeros(6, jnp.int32))))


def test_graphs_tuple_batch():
    cells = SPACE.sample_batch(jax.random.key(1), 3)
    graphs = jax.jit(SPACE.graphs_tuple)(cells)
    assert isinstance(graphs, jraph.GraphsTuple)
    chex.assert_shape(graphs.nodes, (3 * SPACE.max_nodes + 1, SPACE.num_node_types))
    chex.assert_shape(graphs.senders, (3 * SPACE.max_edges,))
    np.testing.assert_array_equal(graphs.n_node, [8, 8, 8, 1])
    np.testing.assert_array_equal(graphs.n_edge, [10, 10, 10, 0])
    # Node 1 of graph 2 is the op on edge 0 of cell 2.
    assert int(jnp.argmax(graphs.nodes[16 + 1])) == int(cells.ops[2, 0]) + 1
    # The first graph's edges stay inside its own nodes.
    assert int(graphs.senders[:10].max()) < 8 and int(graphs.receivers[:10].max()) < 8


def test_nb201_index_refuses_float_ops_at_trace_time():
    space = nb201.NB201Space()
    with pytest.raises(base.InvalidArchitectureError, match="NB201 ops must be integers, got dtype float32"):
        jax.jit(space.index)(nb201.NB201Cell(ops=jnp.array([0.0, 1.5, 2.0, 3.0, 4.0, 1.0])))
    with pytest.raises(base.InvalidArchitectureError, match=r"NB201 ops has shape \(2, 6\), expected \(6,\)"):
        space.index(nb201.NB201Cell(ops=jnp.zeros((2, 6), jnp.int32)))
    assert int(jax.jit(space.index)(space.from_index(1234))) == 1234  # correct input unchanged


def test_out_of_range_indices_give_invalid_architectures(synthetic_nb201):
    bench = synthetic_nb201
    space = bench.space
    cells = space.from_index_batch(jnp.array([15625, -1, 2 * 15625 + 3, 0, 15624]))
    indices = space.index_batch(cells)
    np.testing.assert_array_equal(indices, [-1, -1, -1, 0, 15624])
    assert not np.asarray(jax.vmap(space.is_valid)(cells))[:3].any()
    values, ledger = ledger_lib.query(ledger_lib.init(space.num_architectures, 5), jnp.asarray(bench.signal), indices)
    assert np.isnan(values[:3]).all() and not np.isnan(values[3:]).any()
    assert int(ledger.count) == 2  # invalid ones cost nothing and are never real cells
