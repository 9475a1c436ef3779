import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnas import metrics, predictors, training
from jaxnas.models import relation_gcn
from jaxnas.predictors import assessor, base, gcn
from jaxnas.spaces import nb201


@pytest.fixture(scope="module")
def space():
    return nb201.NB201Space()


def _target(archs):
    return 80.0 + jnp.sum(archs.ops == 3, axis=1) - 0.5 * jnp.sum(archs.ops == 0, axis=1)


# ----------------------------------------------------------------------------- auto-encoder
def test_autoencoder_reduces_reconstruction_loss(space):
    config = assessor.AssessorConfig(ae_hidden=32, ae_latent=8, ae_epochs=40, ae_batch_size=32, ae_learning_rate=3e-3)
    archs = space.sample_batch(jax.random.key(0), 128)
    graphs = gcn.cell_graphs(space, archs)
    model = assessor.make_autoencoder(space, config)
    params0 = model.init(jax.random.key(1), gcn.batch_graphs(space, graphs))
    embedding = model.apply(params0, gcn.batch_graphs(space, graphs), method=assessor.ArchAutoEncoder.encode)
    chex.assert_shape(embedding, (128, space.max_nodes * config.ae_latent))
    adj_logits, op_logits = model.apply(params0, embedding, method=assessor.ArchAutoEncoder.decode)
    chex.assert_shape([adj_logits, op_logits], [(128, space.max_nodes, space.max_nodes),
                                                (128, space.max_nodes, space.num_node_types + 1)])

    params, losses = jax.jit(assessor.train_autoencoder, static_argnames=("space", "config"))(
        jax.random.key(1), space, graphs, config)
    chex.assert_shape(losses, (40,))
    encode_all = jax.jit(assessor.encode_all, static_argnums=(0, 1), static_argnames="chunk")
    _, loss_before, _ = encode_all(space, config, params0, graphs, chunk=128)
    z, loss_after, exact = encode_all(space, config, params, graphs, chunk=128)
    chex.assert_shape([z, loss_after, exact], [(128, space.max_nodes * config.ae_latent), (128,), (128,)])
    assert float(loss_after.mean()) < 0.5 * float(loss_before.mean())
    assert float(losses[-1]) < 0.5 * float(losses[0])


@pytest.mark.slow
def test_autoencoder_network_is_what_train_autoencoder_fits(space):
    config = assessor.AssessorConfig(ae_hidden=8, ae_latent=2, ae_epochs=1, ae_batch_size=32)
    graphs = gcn.cell_graphs(space, space.from_index_batch(jnp.arange(0, 15625, 500)))  # 32 cells
    network = assessor.autoencoder_network(space, config)
    key = jax.random.key(0)
    params, losses = assessor.train_autoencoder(key, space, graphs, config)
    # One epoch of one full minibatch = one step of the shared loop from network.init.
    params0 = network.init(jax.random.split(key)[0], jax.tree_util.tree_map(lambda a: a[:1], graphs))
    stepped, _, loss0 = base.network_train_step(
        network, params0, network.optimizer.init(params0), graphs, jnp.zeros((32,)), jax.random.key(1))
    np.testing.assert_allclose(losses[0], loss0, rtol=1e-5)
    chex.assert_trees_all_close(params, stepped, rtol=1e-4, atol=1e-6)
    # apply: each cell's reconstruction loss, as encode_all computes it.
    _, per_cell, _ = assessor.encode_all(space, config, params, graphs, chunk=32)
    np.testing.assert_allclose(network.apply(params, graphs), per_cell, rtol=1e-5)


# ----------------------------------------------------------------------------- relation graph
def _features(n=300, d=5, seed=0):
    return jax.random.normal(jax.random.key(seed), (n, d))


def test_architecture_features_append_the_weighted_node_sum():
    latent, nodes = 3, 4
    z = np.random.default_rng(0).normal(size=(50, nodes * latent)).astype(np.float32)
    np.testing.assert_array_equal(assessor.architecture_features(z, latent, 0.0), z)
    features = assessor.architecture_features(jnp.asarray(z), latent, 2.0)
    chex.assert_shape(features, (50, (nodes + 1) * latent))
    np.testing.assert_allclose(features[:, -latent:], z.reshape(50, nodes, latent).sum(1), rtol=1e-5)
    mean, std = assessor.feature_scale(np.asarray(features), latent, 2.0)
    standardised = (np.asarray(features) - mean) / std
    # Unit variance for the node latents, the readout weight for the sums.
    np.testing.assert_allclose(standardised.std(0), [1.0] * nodes * latent + [2.0] * latent, rtol=1e-4)
    np.testing.assert_allclose(standardised.mean(0), 0.0, atol=1e-5)


def test_knn_search_matches_brute_force():
    x = _features(203)
    idx, d2 = assessor.knn_search(x, x, 7, exclude=jnp.arange(203), block=64)
    chex.assert_shape([idx, d2], [(203, 7), (203, 7)])
    dist = ((np.asarray(x)[:, None] - np.asarray(x)[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    expected = np.sort(dist, axis=1)[:, :7]
    np.testing.assert_allclose(np.asarray(d2), expected, rtol=1e-4, atol=1e-4)
    assert not np.any(np.asarray(idx) == np.arange(203)[:, None])  # never itself


def test_relation_graph_is_symmetric_without_self_loops_or_duplicates():
    n, k = 300, 6
    x = _features(n)
    # Exact duplicates of features (distinct architectures with equal embeddings) are allowed.
    x = x.at[1].set(x[0])
    relation = jax.jit(assessor.build_relation_graph, static_argnames=("k", "min_weight", "block"))(x, k=k, block=64)
    g = relation.graph
    chex.assert_shape(g.nodes, (n + 1, 5))
    num_real = int(g.n_edge[0])
    assert int(g.n_edge.sum()) == g.senders.shape[0] == 2 * n * k
    s, r, w = (np.asarray(a)[:num_real] for a in (g.senders, g.receivers, g.edges))
    assert np.all((s < n) & (r < n))
    assert not np.any(s == r)  # no self-loops
    pairs = set(zip(s.tolist(), r.tolist()))
    assert len(pairs) == num_real  # no duplicate edges
    assert pairs == {(b, a) for a, b in pairs}  # symmetric
    weight = dict(zip(zip(s.tolist(), r.tolist()), w.tolist()))
    assert all(abs(weight[(a, b)] - weight[(b, a)]) < 1e-5 for a, b in pairs)
    assert np.all((w > 0) & (w <= 1))
    # Every node keeps its k nearest neighbours; padding edges are inert.
    assert np.all(np.bincount(s, minlength=n) >= k)
    pad_s, pad_w = np.asarray(g.senders)[num_real:], np.asarray(g.edges)[num_real:]
    assert np.all(pad_s == n) and np.all(pad_w == 0)
    assert (0, 1) in pairs  # the duplicate-feature pair is connected (distance 0)


def test_threshold_drops_weak_edges():
    x = _features(200)
    full = assessor.build_relation_graph(x, k=8).graph
    cut = assessor.build_relation_graph(x, k=8, min_weight=0.3).graph
    assert int(cut.n_edge[0]) < int(full.n_edge[0])
    assert float(jnp.min(cut.edges[: int(cut.n_edge[0])])) >= 0.3


def test_trim_keeps_the_edges():
    relation = assessor.build_relation_graph(_features(100), k=4)
    trimmed = assessor.trim(jax.device_get(relation))
    num_real = int(relation.graph.n_edge[0])
    assert trimmed.graph.senders.shape == (num_real,)
    before = set(zip(np.asarray(relation.graph.senders[:num_real]).tolist(), np.asarray(relation.graph.receivers[:num_real]).tolist()))
    after = set(zip(np.asarray(trimmed.graph.senders).tolist(), np.asarray(trimmed.graph.receivers).tolist()))
    assert before == after
    assert np.all(np.diff(np.asarray(trimmed.graph.receivers)) >= 0)


# ----------------------------------------------------------------------------- relation GCN
def test_propagate_matches_dense_normalised_adjacency():
    relation = assessor.build_relation_graph(_features(40), k=3)
    g = relation.graph
    edges = assessor.normalise(g.senders, g.receivers, g.edges, 41)
    h = jax.random.normal(jax.random.key(3), (41, 2))
    w = np.zeros((41, 41))
    np.add.at(w, (np.asarray(g.receivers), np.asarray(g.senders)), np.asarray(g.edges))
    w = w[:40, :40] + np.eye(40)
    d = w.sum(1)
    expected = (w / np.sqrt(d[:, None] * d[None, :])) @ np.asarray(h[:40])
    np.testing.assert_allclose(relation_gcn.propagate(h, edges)[:40], expected, rtol=1e-4, atol=1e-5)


def test_edge_tables_propagate_like_the_edge_list_with_gradients():
    # Tables over the first 300 edges of 50 nodes; 20 more edges (into 6 extra nodes) stay
    # an edge list, as the assessor's attached cells do. Values and gradients (features and
    # coefficients) match the edge-list form, also vmapped over a batch of features.
    rng = np.random.default_rng(0)
    n, extra = 50, 6
    s = np.concatenate([rng.integers(0, n, 300), rng.integers(0, n + extra, 20)])
    r = np.concatenate([rng.integers(0, n, 300), rng.integers(n, n + extra, 20)])
    w = jnp.asarray(rng.random(320).astype(np.float32))
    tables = relation_gcn.edge_tables(s[:300], r[:300], n)
    incoming, outgoing = np.asarray(tables.incoming), np.asarray(tables.outgoing)
    for node in range(n):
        assert sorted(incoming[node][incoming[node] < 300]) == list(np.flatnonzero(r[:300] == node))
        assert sorted(outgoing[node][outgoing[node] < 300]) == list(np.flatnonzero(s[:300] == node))
    h = jnp.asarray(rng.standard_normal((3, n + extra, 5)).astype(np.float32))

    def loss(h, w, tables):
        edges = relation_gcn.normalise(jnp.asarray(s), jnp.asarray(r), w, n + extra, tables)
        return jnp.sum(jnp.sin(relation_gcn.propagate(h, edges)))

    grads = jax.jit(jax.vmap(jax.value_and_grad(loss, (0, 1)), (0, None, None)))
    (value, (dh, dw)), (value_t, (dh_t, dw_t)) = grads(h, w, None), grads(h, w, tables)
    np.testing.assert_allclose(value_t, value, rtol=1e-5)
    np.testing.assert_allclose(dh_t, dh, atol=1e-5)
    np.testing.assert_allclose(dw_t, dw, atol=1e-5)
    assert float(jnp.abs(dh).max()) > 0.1 and float(jnp.abs(dw).max()) > 0.1


def test_edge_tables_name_an_edge_outside_the_graph():
    with pytest.raises(ValueError, match="names node 7, the graph has 5 nodes"):
        relation_gcn.edge_tables(np.array([0, 7]), np.array([1, 2]), 5)


def test_gcn_prediction_for_a_labelled_node_moves_toward_its_label():
    n = 120
    relation = assessor.build_relation_graph(_features(n, seed=4), k=5)
    g = relation.graph
    edges = assessor.normalise(g.senders, g.receivers, g.edges, n + 1)
    propagated = relation_gcn.propagate(g.nodes, edges)
    model = assessor.RelationGCN(hidden=16, layers=2)
    params = model.init(jax.random.key(0), g.nodes, propagated, edges)
    before = model.apply(params, g.nodes, propagated, edges)
    chex.assert_shape(before, (n + 1,))
    node, label = 7, float(before[7]) + 3.0
    optimizer = optax.adam(1e-2)

    def loss_fn(params, batch, weights, key):
        scores = model.apply(params, g.nodes, propagated, edges)
        return training.weighted_mean((scores[batch["node"]] - batch["y"]) ** 2, weights), {}

    state, losses = training.train(jax.random.key(1), training.init_state(params, optimizer),
                                   {"node": jnp.array([node]), "y": jnp.array([label])}, loss_fn, optimizer, 1, 50)
    after = model.apply(state.params, g.nodes, propagated, edges)
    assert abs(float(after[node]) - label) < 0.5 * abs(float(before[node]) - label)
    assert float(losses[-1]) < float(losses[0])


# ----------------------------------------------------------------------------- predictor
SMALL = dict(ae_hidden=16, ae_latent=4, ae_epochs=2, knn=6, gcn_hidden=16, gcn_layers=3, steps=80)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXNAS_CACHE", str(tmp_path))
    return tmp_path


def test_assessor_predictor_end_to_end(space, cache):
    config = assessor.AssessorConfig(**SMALL)
    predictor = predictors.make_predictor("assessor", space, config)
    assert list((cache / "assessor").glob("autoencoder_nb201_*.npz"))  # embeddings cached
    pretrained = assessor.pretrained_autoencoder(space, config)
    chex.assert_shape(pretrained["embeddings"], (space.num_architectures, space.max_nodes * 4))

    train = space.from_index_batch(jnp.arange(0, 15625, 97))  # 162 labelled cells
    test = space.from_index_batch(jnp.arange(5, 15625, 31))
    # Two seeds' fits in one program, as a search runs them.
    keys = jax.random.split(jax.random.key(0), 2)
    states = jax.jit(jax.vmap(predictor.fit, in_axes=(0, None, None, None)))(keys, train, _target(train), None)
    chex.assert_shape(states.node_scores, (2, space.num_architectures))
    assert not np.array_equal(states.node_scores[0], states.node_scores[1])
    state = jax.tree.map(lambda leaf: leaf[0], states)
    scores = jax.jit(predictor.predict)(state, test)
    chex.assert_shape(scores, (test.ops.shape[0],))
    chex.assert_tree_all_finite(scores)
    assert float(metrics.kendall_tau(_target(test), scores)) > 0.3
    # Out of the domain -> NaN (not a guess).
    bad = nb201.NB201Cell(ops=jnp.full((1, 6), 9, jnp.int32))
    assert bool(jnp.isnan(predictor.predict(state, bad))[0])


def test_autoencoder_cache_round_trips(space, cache, monkeypatch):
    config = assessor.AssessorConfig(ae_hidden=8, ae_latent=2, ae_epochs=1, ae_batch_size=1024)
    built, from_cache = assessor.load_or_train_autoencoder(space, config)
    assert not from_cache
    [path] = (cache / "assessor").glob("autoencoder_nb201_*.npz")

    def no_training(*args, **kwargs):
        raise AssertionError("the cached auto-encoder should have been loaded")

    monkeypatch.setattr(assessor, "train_autoencoder", no_training)
    loaded, from_cache = assessor.load_or_train_autoencoder(space, config)
    assert from_cache and loaded.keys() == built.keys()
    for name in built:
        np.testing.assert_array_equal(loaded[name], built[name])
    # Other settings: another file, not this one.
    other = assessor._autoencoder_cache(space, dataclasses.replace(config, ae_seed=1))
    assert other.path != path and other.path.parent == path.parent
    # A damaged file is rebuilt (here: training is called).
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(AssertionError, match="should have been loaded"):
        assessor.load_or_train_autoencoder(space, config)


def test_assessor_attaches_cells_outside_a_partial_pool(space, cache):
    config = assessor.AssessorConfig(**{**SMALL, "max_pool": 3000})
    predictor = assessor.assessor_predictor(space, config)
    pool = assessor._pool(space, config)
    assert not pool.covers_domain and len(pool.indices) == 3000
    outside = np.setdiff1d(np.arange(space.num_architectures), pool.indices)
    train = space.from_index_batch(jnp.asarray(outside[::60]))
    test = space.from_index_batch(jnp.asarray(np.concatenate([outside[7::40], pool.indices[::40]])))
    state = jax.jit(predictor.fit)(jax.random.key(0), train, _target(train), None)
    scores = jax.jit(predictor.predict)(state, test)
    chex.assert_tree_all_finite(scores)
    assert float(metrics.kendall_tau(_target(test), scores)) > 0.2


@pytest.mark.slow
def test_joint_training_fine_tunes_the_encoder_and_lowers_the_combined_loss(space, cache):
    config = assessor.AssessorConfig(**{**SMALL, "steps": 60, "joint": True, "joint_weight": 0.5,
                                        "encoder_learning_rate": 1e-3, "targets": "rank"})
    predictor = assessor.assessor_predictor(space, config)
    pretrained = assessor.autoencoder_params(assessor.pretrained_autoencoder(space, config))
    train = space.from_index_batch(jnp.arange(0, 15625, 97))
    state = jax.jit(predictor.fit)(jax.random.key(0), train, _target(train), None)
    chex.assert_shape(state.losses, (60,))
    chex.assert_tree_all_finite(state.losses)
    assert float(state.losses[-5:].mean()) < float(state.losses[:5].mean())  # MSE + weight * reconstruction
    moved = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()), state.params["ae"], pretrained)
    assert max(jax.tree_util.tree_leaves(moved)) > 0  # the encoder was trained too
    test = space.from_index_batch(jnp.arange(5, 15625, 31))
    scores = jax.jit(predictor.predict)(state, test)
    chex.assert_tree_all_finite(scores)
    assert float(metrics.kendall_tau(_target(test), scores)) > 0.3


def test_bad_config_is_an_error(space):
    with pytest.raises(ValueError, match="knn"):
        assessor.AssessorConfig(knn=0).validate()
    with pytest.raises(ValueError, match="min_weight"):
        assessor.AssessorConfig(min_weight=1.0).validate()
    with pytest.raises(ValueError, match="targets"):
        assessor.AssessorConfig(targets="ranks").validate()
    with pytest.raises(ValueError, match="readout_weight"):
        assessor.AssessorConfig(readout_weight=-1.0).validate()
    with pytest.raises(ValueError, match="k=50 neighbours"):
        assessor.knn_search(_features(20), _features(20), 50)
