import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, search
from jaxnas.predictors.base import Predictor
from jaxnas.search import label_pool, predictor_search, runner


@pytest.fixture(scope="module")
def bench(synthetic_nb201):
    return synthetic_nb201


def _signal_oracle(bench, labelled_check=None):
    """Predicts the search signal exactly; fit records how many distinct labels it got."""
    table = jnp.asarray(bench.signal)
    space = bench.search_space

    def fit(key, labelled, labels, unlabelled):
        del key, unlabelled
        # The buffer is cycled: every label must be the oracle's value of its cell.
        ok = jnp.all(jnp.abs(table[space.index_batch(labelled)] - labels) < 1e-6)
        return ok

    def predict(ok, archs):
        return jnp.where(ok, table[space.index_batch(archs)], jnp.nan)

    return Predictor(fit=fit, predict=predict)


def test_settings_validation():
    with pytest.raises(ValueError, match="multiple of queries_per_round"):
        predictor_search.SearchSettings(initial_queries=15, queries_per_round=10).validate()
    with pytest.raises(ValueError, match="random_fraction"):
        predictor_search.SearchSettings(random_fraction=1.5).validate()
    with pytest.raises(ValueError, match="label_capacity"):
        predictor_search.SearchSettings(label_capacity=5).validate()


def test_oracle_guided_search_queries_the_best_cells_after_the_random_start(bench):
    settings = predictor_search.SearchSettings(initial_queries=10, queries_per_round=5, label_capacity=40)
    algorithm = predictor_search.predictor_search(bench.search_space, _signal_oracle(bench), settings)
    result = runner.run_search(algorithm, bench, budget=30, num_seeds=3)
    assert np.all(result.queries == 30)
    assert np.all(result.steps == 6)  # 2 random rounds + 4 predictor rounds, no wasted asks
    best = np.sort(np.nan_to_num(bench.signal, nan=-1))[::-1]
    for seed in range(3):
        history = result.history[seed]
        assert len(set(history.tolist())) == 30  # never re-asks a queried cell
        guided = set(history[10:].tolist())
        # The 20 guided queries are the 20 best cells not found by the random start.
        expected = [i for i in np.argsort(-np.nan_to_num(bench.signal, nan=-1), kind="stable") if i not in set(history[:10].tolist())][:20]
        assert guided == set(expected)
        assert result.signal[seed].max() == best[0]


def test_doubling_fit_slots_fit_each_round_on_the_next_size_that_holds_the_labels(bench):
    settings = predictor_search.SearchSettings(initial_queries=10, queries_per_round=5, label_capacity=40,
                                               fit_slots="doubling")
    assert settings.fit_sizes() == (10, 20, 40)
    assert predictor_search.SearchSettings(label_capacity=300).fit_sizes() == (300,)
    assert predictor_search.SearchSettings(label_capacity=300, fit_slots="doubling").fit_sizes() == (
        10, 20, 40, 80, 160, 300)
    for floor, sizes in ((1, (10, 20, 40, 80, 160, 300)), (80, (80, 160, 300)), (81, (160, 300)), (999, (300,))):
        assert predictor_search.SearchSettings(label_capacity=300, fit_slots="doubling",
                                               fit_min_slots=floor).fit_sizes() == sizes
    for config in (predictor_search.GCNSearchConfig, predictor_search.AssessorSearchConfig):
        for benchmark in ("nb201_cifar10", "nb101_subset"):  # the papers' one pass over the labels, near enough
            assert config.paper(benchmark).search.fit_slots == "doubling"
            assert config.for_benchmark(benchmark).search.fit_slots == "capacity"
            assert config.paper(benchmark).search.label_capacity == config.for_benchmark(benchmark).search.label_capacity
    table = jnp.asarray(bench.signal)
    space = bench.search_space
    sizes = settings.fit_sizes()

    def fit(key, labelled, labels, unlabelled):
        del key, unlabelled
        indices = jnp.sort(space.index_batch(labelled))
        distinct = 1 + jnp.sum(indices[1:] != indices[:-1])
        smallest = jnp.asarray(sizes)[jnp.argmax(jnp.asarray(sizes) >= distinct)]
        return (jnp.all(jnp.abs(table[space.index_batch(labelled)] - labels) < 1e-6)
                & (labels.shape[0] == smallest))

    def predict(ok, archs):
        return jnp.where(ok, table[space.index_batch(archs)], jnp.nan)

    algorithm = predictor_search.predictor_search(space, Predictor(fit=fit, predict=predict), settings)
    result = runner.run_search(algorithm, bench, budget=30, num_seeds=2)
    for seed in range(2):
        history = result.history[seed]
        # Fits at 10, 15, 20 and 25 labels on 10, 20, 20 and 40 slots: each a right fit,
        # so the guided queries are the best cells the random start did not find.
        expected = [i for i in np.argsort(-np.nan_to_num(bench.signal, nan=-1), kind="stable")
                    if i not in set(history[:10].tolist())][:20]
        assert set(history[10:].tolist()) == set(expected)


def test_warm_start_fits_once_then_refits_from_the_previous_round(bench):
    """fit starts a count of fits at 1, refit adds one to the state it is given: a round
    that fit anew, or refit from anything but the previous round's state, breaks the count."""
    settings = predictor_search.SearchSettings(initial_queries=10, queries_per_round=5, label_capacity=40,
                                               warm_start_epochs=3)
    table = jnp.asarray(bench.signal)
    space = bench.search_space

    def fit(key, labelled, labels, unlabelled):
        del key, labelled, labels, unlabelled
        return jnp.ones((), jnp.int32)

    def refit(key, fits, labelled, labels, unlabelled, epochs):
        del key, labelled, labels, unlabelled
        assert epochs == 3
        return fits + 1

    def predict(fits, archs):
        return table[space.index_batch(archs)] + 0.0 * fits

    algorithm = predictor_search.predictor_search(space, Predictor(fit=fit, predict=predict, refit=refit), settings)
    state = algorithm.init(jax.random.key(0))
    assert not state.has_fitted
    ask, tell = jax.jit(algorithm.ask), jax.jit(algorithm.tell)
    for round_, key in enumerate(jax.random.split(jax.random.key(1), 6)):
        asked, state = ask(state, key)
        state = tell(state, asked, table[space.index_batch(asked)])
        predictor_rounds = max(0, round_ - 1)  # two random rounds reach initial_queries
        assert int(state.fitted) == predictor_rounds and bool(state.has_fitted) == (predictor_rounds > 0)
    # Without warm start the state carries no fitted predictor.
    plain = predictor_search.predictor_search(space, Predictor(fit=fit, predict=predict),
                                              settings.replace(warm_start_epochs=0))
    assert plain.init(jax.random.key(0)).fitted is None
    with pytest.raises(ValueError, match="search warm_start_epochs=3 needs a predictor that can continue a fit"):
        predictor_search.predictor_search(space, Predictor(fit=fit, predict=predict), settings)


def test_random_fraction_mixes_in_random_cells(bench):
    settings = predictor_search.SearchSettings(initial_queries=10, queries_per_round=10, random_fraction=0.5,
                                               label_capacity=40)
    algorithm = predictor_search.predictor_search(bench.search_space, _signal_oracle(bench), settings)
    result = runner.run_search(algorithm, bench, budget=30, num_seeds=2)
    top = set(np.argsort(-np.nan_to_num(bench.signal, nan=-1))[:200].tolist())
    for seed in range(2):
        round_ = result.history[seed][10:20].tolist()
        assert sum(i in top for i in round_) >= 5  # the 5 top picks
        assert sum(i in top for i in round_) < 10  # ... and random ones (top 200 of 15,625 is ~1 %)


def test_label_pool_keeps_new_labels_in_order_then_the_best(bench):
    space = bench.search_space
    archs = space.from_index_batch(jnp.arange(8) * 1000)
    take = lambda rows: jax.tree_util.tree_map(lambda a: a[jnp.asarray(rows)], archs)
    pool = label_pool.init(4, space.sample(jax.random.key(0)))
    assert int(pool.count) == 0
    # NaN answers, invalid indices and repeats (within the batch too) are not labels.
    pool = label_pool.insert(pool, take([0, 1, 2, 1, 3]), jnp.array([0, 1000, -1, 1000, 3000]),
                             jnp.array([0.0, 1.0, 5.0, 9.0, jnp.nan]))
    assert int(pool.count) == 2
    np.testing.assert_array_equal(pool.indices, [0, 1000, -1, -1])
    pool = label_pool.insert(pool, take([2, 3]), jnp.array([2000, 3000]), jnp.array([2.0, 3.0]))
    np.testing.assert_array_equal(pool.indices, [0, 1000, 2000, 3000])  # query order
    np.testing.assert_array_equal(space.index_batch(pool.archs), pool.indices)
    np.testing.assert_array_equal(pool.labels, [0.0, 1.0, 2.0, 3.0])
    # Full: a higher label replaces the lowest, a lower one (or a repeat) is dropped.
    pool = label_pool.insert(pool, take([4, 5, 6, 7, 4]), jnp.array([4000, 5000, 6000, 7000, 4000]),
                             jnp.array([10.0, -1.0, jnp.nan, 0.5, 11.0]))
    assert int(pool.count) == 4
    np.testing.assert_array_equal(pool.indices, [4000, 1000, 2000, 3000])
    np.testing.assert_array_equal(pool.labels, [10.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(space.index_batch(pool.archs), pool.indices)


@pytest.mark.slow
def test_restricted_space_candidates_are_the_benchmark_cells():
    bench = benchmarks.load_benchmark("nb101_subset")
    settings = predictor_search.SearchSettings(initial_queries=4, queries_per_round=4, label_capacity=12)
    algorithm = predictor_search.predictor_search(bench.search_space, _signal_oracle(bench), settings)
    result = runner.run_search(algorithm, bench, budget=12, num_seeds=1)
    assert result.queries[0] == 12 and result.steps[0] == 3
    assert np.all(bench.available[result.history[0]])
    assert result.signal[0].max() == np.nanmax(bench.signal)


def test_registered_configs_compose_parts_and_take_benchmark_defaults():
    config = search.config_class("assessor").for_benchmark("nb101_subset")
    assert config.predictor.ae_epochs == 3 and config.search.label_capacity == 1000  # predictor + search defaults
    assert config.search == predictor_search.SearchSettings.for_benchmark("nb101_subset")
    with pytest.raises(ValueError, match="knn"):
        config.replace(knn=0).validate()
    gcn_config = search.config_class("gcn").for_benchmark("nb201_cifar10")
    assert gcn_config.predictor.hidden == 144 and gcn_config.search.initial_queries == 10


def test_gcn_search_runs_in_the_runner(bench):
    config = search.config_class("gcn").for_benchmark(bench.name).replace(
        hidden=8, fc_hidden=8, num_layers=2, epochs=2, batch_size=8, label_capacity=20, initial_queries=10,
        queries_per_round=5)
    algorithm = search.make_algorithm("gcn", bench.search_space, config)
    result = runner.run_search(algorithm, bench, budget=20, num_seeds=2)
    assert np.all(result.queries == 20)
    assert all(len(set(h.tolist())) == 20 for h in result.history)
