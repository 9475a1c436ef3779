import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, metrics, predictors
from jaxnas.predictors import acenas
from jaxnas.predictors.base import fit_network
from jaxnas.spaces import nb201


@pytest.fixture(scope="module")
def space():
    return nb201.NB201Space()


@pytest.mark.parametrize("positions", acenas.POSITIONS)
def test_lambdarank_gradient_pushes_misordered_pair_apart(positions):
    # Item 0 is the most relevant but scored lowest: the gradient must raise its score
    # (negative gradient) and lower the score of the items scored above it.
    scores = jnp.array([0.0, 1.0, 0.5, -1.0])
    relevance = jnp.array([20.0, 5.0, 10.0, 0.0])
    weights = jnp.ones(4)
    grad = jax.grad(acenas.lambdarank_loss)(scores, relevance, weights, positions)
    chex.assert_shape(grad, (4,))
    assert grad[0] < 0  # most relevant: pushed up
    assert grad[1] > 0  # least-deserving of its high position: pushed down
    assert grad[3] > 0  # least relevant: pushed down
    # A gradient step lowers the loss and raises NDCG of the batch.
    stepped = scores - 0.5 * grad / jnp.abs(grad).max()
    loss = lambda s: acenas.lambdarank_loss(s, relevance, weights, positions)
    assert loss(stepped) < loss(scores)
    assert metrics.ndcg_at_k(relevance, stepped, 4) >= metrics.ndcg_at_k(relevance, scores, 4)


def test_lambdarank_two_items_direction_and_padding():
    # Two items, mis-ordered: d/ds_good < 0 and d/ds_bad > 0, equal and opposite.
    grad = jax.grad(acenas.lambdarank_loss)(jnp.array([0.0, 2.0]), jnp.array([3.0, 1.0]), jnp.ones(2))
    assert grad[0] < 0 < grad[1]
    np.testing.assert_allclose(grad[0], -grad[1], rtol=1e-6)
    # Padding items (weight 0) neither contribute nor receive gradient.
    padded = jax.grad(acenas.lambdarank_loss)(jnp.array([0.0, 2.0, 9.0]), jnp.array([3.0, 1.0, 20.0]),
                                              jnp.array([1.0, 1.0, 0.0]))
    np.testing.assert_allclose(padded[:2], grad, rtol=1e-6)
    assert padded[2] == 0
    # Equal relevance: no pairs, no loss.
    assert acenas.lambdarank_loss(jnp.array([0.0, 1.0]), jnp.array([2.0, 2.0]), jnp.ones(2)) == 0


def test_lambda_weights_are_delta_ndcg():
    # |dNDCG_ij| equals the NDCG change when the two items swap scores.
    key = jax.random.key(3)
    scores = jax.random.normal(key, (6,))
    relevance = jnp.array([0.0, 3.0, 1.0, 7.0, 2.0, 5.0])
    lam = acenas.lambda_weights(scores, relevance, jnp.ones(6), "predicted")
    ndcg = lambda s: metrics.ndcg_at_k(relevance, s, 6)
    i, j = 3, 0
    swapped = scores.at[i].set(scores[j]).at[j].set(scores[i])
    np.testing.assert_allclose(lam[i, j], jnp.abs(ndcg(swapped) - ndcg(scores)), rtol=1e-5, atol=1e-7)
    assert lam[j, i] == 0  # only rel_i > rel_j pairs


def test_ndcg_of_perfect_ranking_is_one():
    accuracy = jnp.array([93.0, 91.2, 80.0, 94.3, 88.8, 10.0, 92.5])
    rel = metrics.relevance(accuracy)
    np.testing.assert_allclose(metrics.ndcg_at_k(rel, accuracy, 3), 1.0, rtol=1e-6)
    np.testing.assert_allclose(metrics.ndcg_at_k(rel, accuracy, 7), 1.0, rtol=1e-6)
    assert metrics.ndcg_at_k(rel, -accuracy, 3) < 0.5


def test_config_validation():
    with pytest.raises(ValueError, match="positions"):
        acenas.AceNASConfig(positions="oracle").validate()
    with pytest.raises(ValueError, match="finetune_loss"):
        acenas.AceNASConfig(finetune_loss="hinge").validate()
    with pytest.raises(ValueError, match="weak_finetune_learning_rate"):
        acenas.AceNASConfig(weak_finetune_learning_rate=0.0).validate()


def test_weak_label_spec_errors(space, tmp_path):
    with pytest.raises(ValueError, match="weak_labels must be"):
        acenas.load_weak_labels("nonsense", space)
    with pytest.raises(acenas.WeakLabelError, match="does not exist"):
        acenas.load_weak_labels(str(tmp_path / "missing.npz"), space)
    np.savez(tmp_path / "short.npz", weak_labels=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="shape"):
        acenas.load_weak_labels(str(tmp_path / "short.npz"), space)
    with pytest.raises(ValueError, match="space"):  # a table over another space
        acenas.load_weak_labels("nbgraph_citeseer:signal", space, searched_benchmark="nb201_synthetic",
                                allow_table=True)


def test_cross_dataset_weak_labels():
    # NAS-Bench-Graph ships in its package: no data files needed.
    cora, citeseer = benchmarks.load_benchmark("nbgraph_cora"), benchmarks.load_benchmark("nbgraph_citeseer")
    table = dict(searched_benchmark="nbgraph_cora", allow_table=True)
    weak = acenas.load_weak_labels("nbgraph_citeseer:signal", cora.search_space, **table)
    np.testing.assert_array_equal(weak, citeseer.signal)
    np.testing.assert_array_equal(acenas.load_weak_labels("nbgraph_cora:params", cora.search_space, **table),
                                  cora.columns["params"])
    with pytest.raises(ValueError, match="no column"):
        acenas.load_weak_labels("nbgraph_cora:val_acc_4ep", cora.search_space, **table)
    # Another dataset's table is still a table: refused without the explicit flag.
    with pytest.raises(acenas.WeakLabelError, match="allow_table_weak_labels"):
        acenas.load_weak_labels("nbgraph_citeseer:signal", cora.search_space, searched_benchmark="nbgraph_cora")


@pytest.mark.parametrize("spec,message", [
    ("nbgraph_cora:signal", "own signal column"),
    ("nbgraph_cora:reported", "test-split column"),  # NAS-Bench-Graph's reported column is its test split
    ("nbgraph_citeseer:reported", "test-split column"),
    # The reported column by its own name.
    ("nb201_synthetic:synthetic_test_200ep (made-up test accuracy, %)", "test-split column"),
])
def test_side_doors_around_the_ledger_are_refused_even_when_tables_are_allowed(spec, message):
    searched = spec.split(":")[0] if spec.startswith("nb201") else "nbgraph_cora"
    bench = benchmarks.load_benchmark(searched)
    config = acenas.AceNASConfig(weak_labels=spec, searched_benchmark=searched, allow_table_weak_labels=True)
    with pytest.raises(acenas.WeakLabelError, match=message):
        config.validate()
    with pytest.raises(acenas.WeakLabelError, match=message):
        acenas.load_weak_labels(spec, bench.search_space, searched_benchmark=searched, allow_table=True)


def test_searched_columns_are_refused_under_any_name_and_tables_need_the_searched_benchmark(
        synthetic_nb201, tmp_path):
    bench = synthetic_nb201
    # The searched benchmark's reported column, repackaged as a weak-label file.
    np.savez(tmp_path / "leak.npz", weak_labels=bench.reported)
    leak = dataclasses.replace(acenas.AceNASConfig.for_benchmark(bench.name), weak_labels=str(tmp_path / "leak.npz"))
    with pytest.raises(acenas.WeakLabelError, match="own reported column"):
        leak.validate()
    # Its search signal under the column's full name instead of "signal".
    with pytest.raises(acenas.WeakLabelError, match="own search signal column"):
        acenas.AceNASConfig(weak_labels=f"{bench.name}:{bench.signal_name}", allow_table_weak_labels=True,
                            searched_benchmark=bench.name).validate()
    # A 12-epoch column is a table: refused until the searched benchmark is named.
    with pytest.raises(acenas.WeakLabelError, match="searched benchmark"):
        acenas.AceNASConfig(weak_labels=f"{bench.name}:synthetic_valid_12ep", allow_table_weak_labels=True).validate()


def test_searched_signal_is_refused_under_another_real_tables_name():
    # Searching nb201_cifar10_12ep, the same values under nb201_cifar10's name are its own signal.
    with pytest.raises(acenas.WeakLabelError, match="own search signal column"):
        acenas.AceNASConfig(weak_labels="nb201_cifar10:cifar10_valid_12ep", allow_table_weak_labels=True,
                            searched_benchmark="nb201_cifar10_12ep").validate()


def test_weak_label_cost_is_declared(tmp_path):
    nb201 = acenas.AceNASConfig.for_benchmark("nb201_synthetic")
    assert acenas.weak_label_source(nb201).to_json()["kind"] == "none"
    table = dataclasses.replace(nb201, weak_labels="nb201_synthetic:synthetic_valid_12ep", allow_table_weak_labels=True)
    source = acenas.weak_label_source(table)
    assert source.kind == "table" and source.table_assisted and source.queries == 0 and source.cells == 15625
    assert source.full_training_equivalents == pytest.approx(15625 * 12 / 200)  # ~938 full trainings
    subset = acenas.weak_label_source(dataclasses.replace(table, pretrain_size=1000))
    assert subset.cells == 1000 and subset.full_training_equivalents == pytest.approx(60.0)
    cora = acenas.AceNASConfig(weak_labels="nbgraph_citeseer:signal", allow_table_weak_labels=True,
                               searched_benchmark="nbgraph_cora")
    assert acenas.weak_label_source(cora).full_training_equivalents == 26206  # one full training per cell
    params = dataclasses.replace(cora, weak_labels="nbgraph_cora:params")
    assert acenas.weak_label_source(params).full_training_equivalents == 0.0
    # A supernet file: its measured seconds, 0 queries, not table-assisted; without times, "cost unknown".
    weak = np.random.default_rng(0).normal(size=15625).astype(np.float32)
    np.savez(tmp_path / "timed.npz", weak_labels=weak, train_seconds=np.float64(579.0), eval_seconds=np.float64(1678.0),
             steps=np.int64(700))
    np.savez(tmp_path / "untimed.npz", weak_labels=weak)
    timed = acenas.weak_label_source(dataclasses.replace(nb201, weak_labels=str(tmp_path / "timed.npz")))
    assert timed.kind == "file" and not timed.table_assisted and timed.seconds == 2257.0 and timed.queries == 0
    assert "700 training steps" in timed.cost_note
    untimed = acenas.weak_label_source(dataclasses.replace(nb201, weak_labels=str(tmp_path / "untimed.npz"))).to_json()
    assert untimed["cost_known"] is False and "cost unknown" in untimed["cost_note"]


def test_presets_default_uses_no_table_and_paper_follows_the_reference():
    from jaxnas.search import acenas as acenas_search

    for name in ("nb201_cifar10", "nb101_subset", "nbgraph_cora"):
        default = acenas_search.AceNASSearchConfig.for_benchmark(name)
        assert default.predictor.weak_labels == "" and not default.predictor.allow_table_weak_labels
        assert default.first_round == "random" and default.predictor.searched_benchmark == name
    paper = acenas_search.AceNASSearchConfig.paper("nb201_cifar10")
    assert paper.predictor == acenas.AceNASConfig.paper("nb201_cifar10")
    assert paper.first_round == "random" and paper.search.random_fraction == 0.5
    assert paper.search.queries_per_round == 10
    # Each round's fit: the labels once or twice per epoch, as near the reference's one pass as static shapes allow.
    assert paper.search.fit_slots == "doubling" and default.search.fit_slots == "capacity"
    ranker = paper.predictor
    assert (ranker.learning_rate, ranker.weight_decay, ranker.batch_size, ranker.epochs) == (5e-3, 5e-4, 20, 300)
    assert ranker.positions == "true" and ranker.pretrain_loss == "mse" and ranker.pretrain_weight_decay == 0.0
    paper.validate()
    with pytest.raises(ValueError, match="first_round"):
        dataclasses.replace(paper, first_round="best").validate()


def _target(archs):
    return (jnp.sum(archs.ops == 3, axis=1) - 0.5 * jnp.sum(archs.ops == 0, axis=1)).astype(jnp.float32)


def test_predictor_learns_ranking_and_pretraining_helps(space, tmp_path):
    # Default pretraining loss (LambdaRank: B^2 pairs per batch) on 3,000 of the 15,625 weak labels.
    small = dict(num_layers=2, hidden=16, fc_hidden=16, epochs=60, batch_size=32, pretrain_epochs=3,
                 pretrain_batch_size=256, pretrain_size=3000)
    all_archs = space.from_index_batch(jnp.arange(space.num_architectures))
    # Weak labels: the synthetic target plus noise, over the whole space.
    weak = np.asarray(_target(all_archs)) + np.random.default_rng(0).normal(0, 0.5, space.num_architectures)
    np.savez(tmp_path / "weak.npz", weak_labels=weak.astype(np.float32))
    assert "acenas" in predictors.PREDICTOR_NAMES
    train_idx = jnp.arange(20) * 701
    test_idx = jnp.arange(300) * 51 + 7
    labelled, test = space.from_index_batch(train_idx), space.from_index_batch(test_idx)
    taus = {}
    for name, weak_spec in [("scratch", ""), ("weak", str(tmp_path / "weak.npz"))]:
        config = acenas.AceNASConfig(**small, weak_labels=weak_spec)
        predictor = predictors.make_predictor("acenas", space, config)
        state = jax.jit(jax.vmap(predictor.fit, in_axes=(0, None, None, None)))(
            jax.random.split(jax.random.key(0), 2), labelled, _target(labelled), None)
        scores = jax.vmap(predictor.predict, in_axes=(0, None))(state, test)
        chex.assert_shape(scores, (2, 300))
        chex.assert_tree_all_finite(scores)
        taus[name] = float(jnp.mean(jax.vmap(metrics.kendall_tau, in_axes=(None, 0))(_target(test), scores)))
    assert taus["scratch"] > 0.3, taus
    assert taus["weak"] > taus["scratch"], taus


def test_mse_variant_differs_from_lambdarank_only_in_the_loss(space):
    # Same model, same optimiser: the MSE variant's fit equals fit_network with the MSE
    # loss on the same targets, and the LambdaRank fit equals it with the LambdaRank loss.
    small = dict(num_layers=1, hidden=4, fc_hidden=4, epochs=2, batch_size=8)
    labelled = space.from_index_batch(jnp.arange(12) * 1000)
    labels = jnp.linspace(80.0, 94.0, 12)
    key = jax.random.key(0)
    for loss_name, loss_fn, targets in [
        ("mse", acenas.gcn.mse_loss, acenas.training.regression_targets("rank", labels, jnp.ones(12, bool))[0]),
        ("lambdarank", acenas._loss("lambdarank", acenas.AceNASConfig()), metrics.relevance(labels)),
    ]:
        config = acenas.AceNASConfig(**small, finetune_loss=loss_name, mse_targets="rank")
        state = acenas.acenas_predictor(space, config).fit(key, labelled, labels)
        optimizer = acenas.gcn.make_optimizer(config.learning_rate, config.weight_decay, 2 * 2)
        network = acenas.gcn.regression_network(acenas.make_model(config), space, optimizer, loss_fn)
        params, _ = fit_network(key, network, acenas.gcn.cell_graphs(space, labelled), targets, 8, 2)
        chex.assert_trees_all_close(state.params, params, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="mse_targets"):
        acenas.AceNASConfig(mse_targets="ranks").validate()
