
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import search
from jaxnas.search import evolution, runner
from jaxnas.search.base import SearchAlgorithm


@pytest.fixture(scope="module")
def bench(synthetic_nb201):
    return synthetic_nb201


def _run(bench, name, budget, seeds, seed=0, **kwargs):
    config = search.config_class(name).for_benchmark(bench.name)
    algorithm = search.make_algorithm(name, bench.space, config)
    return runner.run_search(algorithm, bench, budget, seeds, seed=seed, algorithm_name=name, **kwargs)


@pytest.mark.parametrize("name", ["random", "evolution"])
def test_search_spends_exactly_the_budget_on_distinct_architectures(bench, name):
    result = _run(bench, name, budget=40, seeds=3)
    np.testing.assert_array_equal(result.queries, 40)
    for history in result.history:
        assert len(set(history.tolist())) == 40 and history.min() >= 0
    # Reported values are read from the table after the search, by history.
    np.testing.assert_array_equal(result.reported, bench.reported[result.history])
    np.testing.assert_array_equal(result.signal, bench.signal[result.history])
    assert not np.isnan(result.curve).any()
    assert np.all(result.curve <= bench.optimum)


def test_seed_results_do_not_depend_on_batching_or_chunks(bench):
    together = _run(bench, "evolution", budget=30, seeds=4)
    alone = _run(bench, "evolution", budget=30, seeds=2, seed=2, chunk_steps=7)
    np.testing.assert_array_equal(together.history[2:], alone.history)
    again = _run(bench, "evolution", budget=30, seeds=4)
    np.testing.assert_array_equal(together.history, again.history)
    assert not np.array_equal(together.history[0], together.history[1])


def test_evolution_beats_random_search(bench):
    evo = _run(bench, "evolution", budget=100, seeds=50)
    rnd = _run(bench, "random", budget=100, seeds=50)
    gap = evo.at(100).mean() - rnd.at(100).mean()
    sem = np.sqrt(evo.at(100).var() / 50 + rnd.at(100).var() / 50)
    assert gap > 2 * sem, (evo.at(100).mean(), rnd.at(100).mean(), sem)


def test_stuck_algorithm_stops_at_max_steps(bench):
    fixed = bench.space.from_index(jnp.int32(123))
    stuck = SearchAlgorithm(
        init=lambda key: (),
        ask=lambda state, key: (jax.tree_util.tree_map(lambda a: a[None], fixed), state),
        tell=lambda state, archs, values: state,
        batch_size=1,
    )
    result = runner.run_search(stuck, bench, budget=10, num_seeds=2, max_steps=25)
    np.testing.assert_array_equal(result.queries, 1)
    np.testing.assert_array_equal(result.steps, 25)
    assert result.to_json()["ledger"]["budget_reached_all_seeds"] is False


def test_evolution_population_mechanics(bench):
    space = bench.space
    algorithm = evolution.regularized_evolution(space, evolution.EvolutionConfig(population_size=3, tournament_size=2))
    state = algorithm.init(jax.random.key(0))
    cells = space.from_index_batch(jnp.arange(5))
    for i, value in enumerate([1.0, jnp.nan, 2.0, 3.0]):
        arch = jax.tree_util.tree_map(lambda a: a[i][None], cells)
        state = algorithm.tell(state, arch, jnp.array([value]))
    # NaN child discarded; population filled by cells 0, 2, 3.
    assert int(state.size) == 3
    np.testing.assert_array_equal(space.index_batch(state.population), [0, 2, 3])
    state = algorithm.tell(state, jax.tree_util.tree_map(lambda a: a[4][None], cells), jnp.array([0.5]))
    # Aging: the oldest (cell 0) goes, even though cell 4 is worse than everyone.
    np.testing.assert_array_equal(space.index_batch(state.population), [4, 2, 3])
    child, _ = algorithm.ask(state, jax.random.key(1))
    # The child is a one-edge mutation of a population member.
    distance = np.sum(np.asarray(state.population.ops) != np.asarray(child.ops), axis=1)
    assert distance.min() == 1


def test_config_validation():
    with pytest.raises(ValueError, match="tournament_size"):
        evolution.regularized_evolution(None, evolution.EvolutionConfig(population_size=4, tournament_size=5))
    with pytest.raises(ValueError, match="unknown search algorithm"):
        search.config_class("annealing")
    assert evolution.EvolutionConfig.for_benchmark("nb101_subset").population_size == 50


def test_results_json_contract(bench):
    result = _run(bench, "random", budget=20, seeds=3)
    out = result.to_json()
    for key in ["benchmark", "algorithm", "budget", "seeds", "curve", "final", "wall_seconds"]:
        assert key in out
    assert out["curve"]["queries"] == list(range(1, 21))
    assert len(out["curve"]["mean"]) == len(out["curve"]["std"]) == 20
    assert out["final"]["per_seed"] == pytest.approx(result.curve[:, -1].tolist())
    assert out["final"]["mean"] == pytest.approx(float(np.mean(result.curve[:, -1])))
    assert out["ledger"]["history"] == result.history.tolist()
