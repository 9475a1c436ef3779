import chex
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
import pytest

from jaxnas import metrics, predictors
from jaxnas.models import cell_graph_gcn
from jaxnas.predictors import gcn
from jaxnas.predictors.base import fit_network
from jaxnas.spaces import nb201


@pytest.fixture(scope="module")
def space():
    return nb201.NB201Space()


def _target(space, archs):
    """A smooth synthetic accuracy: count of conv3x3 ops minus count of 'none' ops."""
    return jnp.sum(archs.ops == 3, axis=1) - jnp.sum(archs.ops == 0, axis=1) * 0.5


def test_encoder_shapes_and_padding_independence(space):
    archs = space.from_index_batch(jnp.arange(5) * 997)
    graphs = space.graphs_tuple(archs)
    encoder = gcn.CellGraphEncoder((16, 8), directions="both")
    params = encoder.init(jax.random.key(0), graphs)
    pooled, nodes = encoder.apply(params, graphs, return_nodes=True)
    chex.assert_shape(pooled, (5, 8))
    chex.assert_shape(nodes, (graphs.nodes.shape[0], 8))
    chex.assert_tree_all_finite(pooled)
    # Each architecture's embedding is the same whatever else is in the batch.
    alone = encoder.apply(params, space.graphs_tuple(jax.tree_util.tree_map(lambda a: a[2:3], archs)))
    np.testing.assert_allclose(alone[0], pooled[2], rtol=1e-5, atol=1e-6)


def test_directions_differ_and_bad_direction_is_an_error(space):
    graphs = space.graphs_tuple(space.from_index_batch(jnp.arange(3)))
    outputs = {}
    for directions in gcn.DIRECTIONS:
        encoder = gcn.CellGraphEncoder((8,), directions=directions)
        outputs[directions] = encoder.apply(encoder.init(jax.random.key(0), graphs), graphs)
    assert not np.allclose(outputs["forward"], outputs["reverse"])
    with pytest.raises(ValueError, match="directions must be one of"):
        encoder = gcn.CellGraphEncoder((8,), directions="sideways")
        encoder.init(jax.random.key(0), graphs)


def test_aggregate_matches_dense_row_normalised_adjacency():
    # 3-node chain 0 -> 1 -> 2 plus 0 -> 2, one padding node 3.
    graphs = jraph.GraphsTuple(nodes=jnp.eye(4), edges=None, senders=jnp.array([0, 1, 0, 3]),
                               receivers=jnp.array([1, 2, 2, 3]), globals=None,
                               n_node=jnp.array([3, 1]), n_edge=jnp.array([3, 1]))
    h = jnp.arange(12.0).reshape(4, 3)
    forward = cell_graph_gcn.aggregate(h, graphs.senders[:3], graphs.receivers[:3], self_loops=True)
    adjacency = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]], float) + np.eye(3)
    expected = (adjacency.T / adjacency.T.sum(1, keepdims=True)) @ np.asarray(h[:3])
    np.testing.assert_allclose(forward[:3], expected, rtol=1e-6)


def test_wen_configuration(space):
    model = gcn.make_model(gcn.GCNConfig())
    graphs = space.graphs_tuple(space.from_index_batch(jnp.arange(4)))
    params = model.init(jax.random.key(0), graphs)["params"]
    shapes = jax.tree_util.tree_map(lambda a: a.shape, params)
    encoder_layers = [k for k in shapes["encoder"]]
    assert len(encoder_layers) == 4
    for layer in encoder_layers:  # forward and reverse adjacency, 144 units each
        assert shapes["encoder"][layer]["forward"]["kernel"][1] == 144
        assert shapes["encoder"][layer]["reverse"]["kernel"][1] == 144
    assert shapes["head"]["Dense_0"]["kernel"] == (144, 128)
    assert shapes["head"]["Dense_1"]["kernel"] == (128, 1)


def test_fit_network_learns_and_loss_is_pluggable(space):
    key = jax.random.key(0)
    archs = space.sample_batch(key, 64)
    targets = _target(space, archs)
    model = gcn.GraphRegressor(gcn.CellGraphEncoder((32, 32)), gcn.RegressionHead((32,)))
    graphs = gcn.cell_graphs(space, archs)
    fit = jax.jit(fit_network, static_argnames=("network", "batch_size", "epochs"))
    params, losses = fit(key, gcn.regression_network(model, space, optax.adam(3e-3)), graphs, targets, 16, 60)
    chex.assert_shape(losses, (60,))
    assert float(losses[-1]) < 0.2 * float(losses[0])

    # A custom loss is used as given: a constant loss leaves the parameters where they start.
    zero = lambda predictions, targets, weights: 0.0 * jnp.sum(predictions)
    init = model.init(jax.random.split(key)[0], gcn.batch_graphs(space, jax.tree_util.tree_map(lambda a: a[:1], graphs)))
    unchanged, _ = fit(key, gcn.regression_network(model, space, optax.sgd(0.1), zero), graphs, targets, 16, 3)
    chex.assert_trees_all_close(unchanged, init)


@pytest.mark.parametrize("targets", ["rank", pytest.param("standardise", marks=pytest.mark.slow)])
def test_gcn_predictor_ranks_held_out_cells(space, targets):
    config = gcn.GCNConfig(hidden=32, fc_hidden=32, epochs=40, batch_size=16, learning_rate=3e-3, targets=targets)
    predictor = predictors.make_predictor("gcn", space, config)
    train = space.sample_batch(jax.random.key(1), 96)
    test = space.sample_batch(jax.random.key(2), 200)
    labels = 80.0 + _target(space, train)
    state = jax.jit(predictor.fit)(jax.random.key(3), train, labels, None)
    scores = jax.jit(predictor.predict)(state, test)
    chex.assert_shape(scores, (200,))
    assert float(metrics.kendall_tau(_target(space, test), scores)) > 0.6
    # Predictions are in label units (accuracy %), not standardised.
    assert 75.0 < float(jnp.mean(scores)) < 90.0


def test_refit_continues_from_the_fitted_weights(space):
    config = gcn.GCNConfig(hidden=8, fc_hidden=8, num_layers=2, epochs=2, batch_size=8, learning_rate=3e-3,
                           targets="standardise")
    predictor = predictors.make_predictor("gcn", space, config)
    train = space.sample_batch(jax.random.key(1), 16)
    labels = 80.0 + _target(space, train)
    state = predictor.fit(jax.random.key(3), train, labels, None)
    # At a vanishing learning rate a refit keeps the weights it was given; a fit from new
    # weights (another key) does not.
    still = predictors.make_predictor("gcn", space, config.replace(learning_rate=1e-12))
    refitted = still.refit(jax.random.key(4), state, train, labels, None, 1)
    chex.assert_trees_all_close(refitted.params, state.params, atol=1e-7)
    fresh = still.fit(jax.random.key(4), train, labels, None)
    assert not np.allclose(jax.tree_util.tree_leaves(fresh.params)[0], jax.tree_util.tree_leaves(state.params)[0])
    # At the configured rate it trains on: its loss on the labels is lower than the fit's.
    refitted = predictor.refit(jax.random.key(4), state, train, labels, None, 20)

    def loss(fitted):
        return float(jnp.mean((predictor.predict(fitted, train) - labels) ** 2))

    assert loss(refitted) < loss(state)


def test_predict_scores_chunks_do_not_change_results(space):
    model = gcn.make_model(gcn.GCNConfig(hidden=8, fc_hidden=8, num_layers=2))
    archs = space.from_index_batch(jnp.arange(37) * 11)
    params = model.init(jax.random.key(0), space.graphs_tuple(archs))
    network = gcn.regression_network(model, space, optax.adam(1e-3))
    whole = gcn.predict_scores(network, params, space, archs, chunk_size=1000)
    chunked = gcn.predict_scores(network, params, space, archs, chunk_size=8)
    chex.assert_shape(chunked, (37,))
    np.testing.assert_allclose(whole, chunked, rtol=1e-5, atol=1e-5)


def test_bad_config_is_an_error():
    with pytest.raises(ValueError, match="gcn hidden"):
        gcn.GCNConfig(hidden=0).validate()
    with pytest.raises(ValueError, match="dropout"):
        gcn.GCNConfig(dropout=1.5).validate()
    with pytest.raises(ValueError, match="targets"):
        gcn.GCNConfig(targets="zscore").validate()
    assert gcn.GCNConfig().targets == "rank" and gcn.GCNConfig.paper("nb201_cifar10").targets == "standardise"
