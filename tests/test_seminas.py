"""SemiNAS and its NAO model: shapes, training, decoding, generation, the search."""

import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import benchmarks, predictors, search, training
from jaxnas.predictors import nao
from jaxnas.search import runner, seminas
from jaxnas.spaces import nb101, nb201, nbgraph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HIDDEN = 32  # a small model keeps the tests fast; the code is the same at 64


@pytest.fixture(scope="module")
def bench(synthetic_nb201):
    return synthetic_nb201


@pytest.fixture(scope="module")
def trained(bench):
    """A NAO model trained 600 epochs on 60 NB201 cells (shared by the model tests)."""
    space = bench.space
    config = nao.NAOConfig(hidden_size=HIDDEN, train_batch_size=30)
    model = nao.make_model(space, config)
    optimizer = nao.make_optimizer(config)
    indices = jax.random.choice(jax.random.key(0), space.num_architectures, (60,), replace=False)
    tokens = nao.tokens_of(space, space.from_index_batch(indices))
    labels = jnp.asarray(bench.signal)[indices]
    mean, std = training.normalisation(labels)
    data = {"tokens": tokens, "target": (labels - mean) / std, "weight": jnp.ones(60)}
    state = training.init_state(nao.init_params(model, jax.random.key(1), space.sequence_length), optimizer)
    train = jax.jit(training.train, static_argnames=("loss_fn", "optimizer", "batch_size", "epochs"))
    state, losses = train(jax.random.key(2), state, data, nao.make_loss(model, config.trade_off), optimizer,
                          batch_size=30, epochs=600)
    return dict(space=space, model=model, params=state.params, tokens=tokens, targets=data["target"],
                losses=np.asarray(losses), indices=np.asarray(indices))


def test_model_shapes(bench):
    space = bench.space
    model = nao.NAO(vocab_size=space.vocab_size, hidden_size=HIDDEN)
    tokens = jnp.ones((5, space.sequence_length), jnp.int32)
    params = jax.eval_shape(lambda: nao.init_params(model, jax.random.key(0), space.sequence_length))
    value, log_probs = jax.eval_shape(lambda p: model.apply(p, tokens), params)
    chex.assert_shape(value, (5,))
    chex.assert_shape(log_probs, (5, space.sequence_length, space.vocab_size))
    states = jax.eval_shape(lambda p: model.apply(p, tokens, method=nao.NAO.encode), params)
    chex.assert_shape(states, (5, space.sequence_length, HIDDEN))
    allowed = jnp.ones((space.sequence_length, space.vocab_size), bool)
    decoded = jax.eval_shape(lambda p, s: model.apply(p, s, allowed, method=nao.NAO.decode), params, states)
    chex.assert_shape(decoded, (5, space.sequence_length))
    assert decoded.dtype == jnp.int32


@pytest.mark.parametrize("space", [nb201.NB201Space(), nbgraph.NBGraphSpace(), nb101.NB101Space()],
                         ids=["nb201", "nbgraph", "nb101"])
def test_token_encodings_per_space(space):
    model = nao.NAO(vocab_size=space.vocab_size, hidden_size=HIDDEN)
    archs = jax.eval_shape(lambda: space.sample_batch(jax.random.key(0), 4))
    tokens = jax.eval_shape(lambda a: nao.tokens_of(space, a), archs)
    chex.assert_shape(tokens, (4, space.sequence_length))
    params = jax.eval_shape(lambda: nao.init_params(model, jax.random.key(0), space.sequence_length))
    value, log_probs = jax.eval_shape(lambda p, t: model.apply(p, t), params, tokens)
    chex.assert_shape([value, log_probs], [(4,), (4, space.sequence_length, space.vocab_size)])


def test_allowed_tokens_nb201():
    allowed = nao.allowed_tokens(nb201.NB201Space())
    expected = np.zeros((6, 6), bool)
    expected[:, 1:] = True  # every position takes any op token 1..5, never padding
    np.testing.assert_array_equal(allowed, expected)


def test_loss_decreases(trained):
    losses = trained["losses"]
    assert losses[-20:].mean() < 0.5 * losses[:5].mean(), (losses[:5], losses[-20:])


def test_decoder_reconstructs_after_training(trained):
    model, params, tokens, space = trained["model"], trained["params"], trained["tokens"], trained["space"]
    allowed = jnp.asarray(nao.allowed_tokens(space))

    @jax.jit
    def reconstruct(params, tokens):
        states = model.apply(params, tokens, method=nao.NAO.encode)
        return model.apply(params, states, allowed, method=nao.NAO.decode)

    decoded = np.asarray(reconstruct(params, tokens))
    # Whole architectures reproduced exactly (measured: 60 of 60; 300 epochs gave 47 of 60).
    assert (decoded == np.asarray(tokens)).all(axis=1).mean() >= 0.95


def test_gradient_ascent_increases_the_prediction(trained):
    model, params, space = trained["model"], trained["params"], trained["space"]
    seeds = trained["tokens"][:16]
    allowed = jnp.asarray(nao.allowed_tokens(space))
    generate = nao.make_generator(model, allowed)  # jit(vmap over seed architectures)

    @jax.jit
    def moved_value(params, seeds, step_size):
        states, grads = nao.state_gradients(model, params, seeds)
        moved = nao.l2_normalise(states + step_size * grads)
        return model.apply(params, moved, method=nao.NAO.predict_states)

    before = moved_value(params, seeds, 0.0)
    after = moved_value(params, seeds, 1.0)
    assert np.all(np.asarray(after) > np.asarray(before))
    decoded, predicted = generate(params, seeds, jnp.float32(1.0))
    chex.assert_shape([decoded, predicted], [(16, space.sequence_length), (16,)])
    np.testing.assert_allclose(predicted, after, rtol=1e-4, atol=1e-5)


def _tiny_config(**overrides):
    base = dict(
        initial_size=12, iterations=3, new_per_iteration=6, candidates_per_iteration=8, top_k=6,
        unlabelled_size=40, pretrain_epochs=5, epochs=2, train_batch_size=20, hidden_size=HIDDEN,
        max_step_size=20,
    )
    return seminas.SemiNASConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def tiny_search(bench):
    config = _tiny_config()
    algorithm = seminas.seminas(bench.search_space, config)
    budget = config.capacity  # 12 + 3 * 6 = 30
    result = runner.run_search(algorithm, bench, budget=budget, num_seeds=2, algorithm_name="seminas")
    return config, algorithm, result


def test_tiny_search_spends_exactly_its_budget(bench, tiny_search):
    config, _, result = tiny_search
    budget = config.capacity
    np.testing.assert_array_equal(result.queries, budget)
    # One initial step and one step per round: every architecture asked was charged, so
    # every generated candidate was valid and not queried before.
    np.testing.assert_array_equal(result.steps, 1 + config.iterations)
    for history in result.history:
        assert len(set(history.tolist())) == budget and history.min() >= 0
    np.testing.assert_array_equal(result.signal, bench.signal[result.history])


def test_diagnostics_account_for_every_round_query(tiny_search):
    # Each round asks new_per_iteration: those gradient ascent generated plus the slots
    # filled from the pseudo-labelled set; results.json carries the counters per seed.
    config, _, result = tiny_search
    d = result.diagnostics
    np.testing.assert_array_equal(d["rounds"], config.iterations)
    np.testing.assert_array_equal(d["asked_from_ascent"] + d["filled_instead_of_ascent"],
                                  config.iterations * config.new_per_iteration)
    assert np.all(d["asked_from_ascent"] <= d["generated_by_ascent"])
    assert np.all(d["max_step_size_used"] >= 1)
    written = result.to_json()["algorithm_diagnostics"]
    assert written["asked_from_ascent"]["per_seed"] == d["asked_from_ascent"].tolist()
    assert written["rounds"]["mean"] == config.iterations


def test_same_seed_same_result(bench, tiny_search):
    config, algorithm, first = tiny_search
    # The same algorithm object reuses the compiled stepper: a rerun costs only the search.
    again = runner.run_search(algorithm, bench, budget=config.capacity, num_seeds=2, algorithm_name="seminas")
    np.testing.assert_array_equal(again.history, first.history)
    np.testing.assert_array_equal(again.signal, first.signal)
    # ...and the two seeds are different searches.
    assert not np.array_equal(first.history[0], first.history[1])


@pytest.mark.parametrize("ensemble_size", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_space_top_queries_the_best_predicted_of_the_space(bench, ensemble_size):
    # A round with space_top=3 of 6: the last 3 asked are the trained model's 3 best
    # predicted unqueried architectures of the whole space (excluding the first 3 asked);
    # with an ensemble, best by the members' mean prediction.
    # Rank targets here (standardised in the other searches), so both target paths run.
    config = _tiny_config(space_top=3, targets="rank", ensemble_size=ensemble_size)
    space = bench.search_space
    algorithm = seminas.seminas(space, config)
    table = jnp.asarray(bench.signal)
    ask, tell = jax.jit(algorithm.ask), jax.jit(algorithm.tell)
    state = algorithm.init(jax.random.key(0))
    archs, state = ask(state, jax.random.key(1))  # the initial random pool
    state = tell(state, archs, table[jax.vmap(space.index)(archs)])
    archs, state = ask(state, jax.random.key(2))  # round 1
    asked = np.asarray(state.pending)[: config.new_per_iteration]
    assert (asked >= 0).all() and len(set(asked.tolist())) == config.new_per_iteration
    model = nao.make_model(space, config)
    all_tokens = nao.tokens_of(space, space.from_index_batch(jnp.arange(space.num_architectures)))
    if ensemble_size == 1:
        scores = np.array(nao.batched_predict(model, state.params, all_tokens))
    else:
        member_scores = [np.array(nao.batched_predict(model, jax.tree_util.tree_map(lambda a: a[m], state.params),
                                                      all_tokens)) for m in range(ensemble_size)]
        assert not np.allclose(member_scores[0], member_scores[1])  # differently initialised members
        scores = np.mean(member_scores, axis=0)
    scores[np.asarray(state.queried)] = -np.inf
    scores[asked[:3]] = -np.inf
    top = np.argsort(-scores)[:3]
    np.testing.assert_allclose(np.sort(scores[asked[3:]]), np.sort(scores[top]), rtol=1e-5)
    assert 0 <= int(state.asked_generated) <= 3
    with pytest.raises(ValueError, match="space_top"):
        _tiny_config(space_top=7).validate()
    with pytest.raises(ValueError, match="ensemble_size"):
        _tiny_config(ensemble_size=0).validate()


def test_generated_candidates_are_valid_and_unseen(trained):
    model, params, space = trained["model"], trained["params"], trained["space"]
    seeds = trained["tokens"][jnp.argsort(-trained["targets"])[:8]]  # the 8 best, as a round's top k
    queried = jnp.zeros(space.num_architectures, bool).at[trained["indices"]].set(True)
    allowed = jnp.asarray(nao.allowed_tokens(space))
    generate = jax.jit(lambda p, s, q: seminas.generate_candidates(model, p, space, s, q, allowed, 12, 100))
    candidates, found, step_size = generate(params, seeds, queried)
    candidates = np.asarray(candidates)
    assert int(found) == 12 and 1 <= int(step_size) <= 100
    assert len(set(candidates.tolist())) == 12 and candidates.min() >= 0
    assert not set(candidates.tolist()) & set(trained["indices"].tolist())
    assert np.all(np.asarray(jax.vmap(space.is_valid)(space.from_index_batch(candidates))))


def test_threshold_initial_pool_counts_every_query(bench):
    # Only the initial phase (iterations=0): keep cells answering >= 58 %, about half (53 %) of the cells.
    config = _tiny_config(iterations=0, initial_size=10, initial_threshold=58.0)
    algorithm = seminas.seminas(bench.search_space, config)
    result = runner.run_search(algorithm, bench, budget=200, num_seeds=2, max_steps=30)
    signal = np.where(result.history >= 0, result.signal, np.nan)
    for seed in range(2):
        charged = result.queries[seed]
        kept = np.sum(signal[seed, :charged] >= 58.0)
        # Every random cell it looked at was charged, good or not, and it stopped
        # asking once 10 had passed the filter.
        assert kept == 10
        assert charged > 10
        assert np.isnan(signal[seed, charged:]).all()


def test_threshold_off_by_default_and_validated():
    assert seminas.SemiNASConfig().initial_threshold == 0.0
    assert seminas.SemiNASConfig.for_benchmark("nb101_subset").initial_threshold == 0.0
    with pytest.raises(ValueError, match="initial_threshold"):
        _tiny_config(initial_threshold=-1.0).validate()
    with pytest.raises(ValueError, match="candidates_per_iteration"):
        _tiny_config(candidates_per_iteration=2).validate()
    with pytest.raises(ValueError, match="targets"):
        _tiny_config(targets="percent").validate()
    with pytest.raises(ValueError, match="exceeds"):
        seminas.seminas(nb201.NB201Space(), _tiny_config(unlabelled_size=15600))


REFERENCE_FLAGS_SCRIPT = r"""
from experiments import search as search_cli
from jaxnas.search import seminas
argv = ["search", "--algorithm=seminas", "--benchmark=nb101_subset", f"--budget={seminas.REFERENCE_BUDGET}"]
argv += [f"--seminas_{name}={value}" for name, value in seminas.REFERENCE.items()]
search_cli.FLAGS(argv)
config = search_cli.algorithm_config("seminas", "nb101_subset")
assert config == seminas.SemiNASConfig.reference(), config
assert config.capacity == seminas.REFERENCE_BUDGET == 2000
assert (config.initial_size, config.unlabelled_size, config.iterations, config.new_per_iteration) == (
    1100, 10000, 3, 300)
assert (config.top_k, config.pretrain_epochs, config.epochs) == (100, 1000, 500)
print("REFERENCE_OK")
"""


def test_reference_flag_set_parses():
    # A subprocess: experiments modules define absl flags (--output_dir, --resume, ...)
    # that clash when two of them are imported into one test process.
    proc = subprocess.run([sys.executable, "-c", REFERENCE_FLAGS_SCRIPT], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REFERENCE_OK" in proc.stdout


def test_registered_as_algorithm_and_predictor():
    assert "seminas" in search.ALGORITHM_NAMES
    assert search.config_class("seminas") is seminas.SemiNASConfig
    assert "nao" in predictors.PREDICTOR_NAMES
    assert predictors.config_class("nao") is nao.NAOConfig


@pytest.mark.slow
def test_nao_predictor_fit_predict_ranks(bench):
    space = bench.space
    predictor = predictors.make_predictor(
        "nao", space, nao.NAOConfig(hidden_size=HIDDEN, pretrain_epochs=200, epochs=20, train_batch_size=50)
    )
    indices = jax.random.choice(jax.random.key(0), space.num_architectures, (300,), replace=False)
    archs = space.from_index_batch(indices)
    labels = jnp.asarray(bench.signal)[indices]
    unlabelled = space.from_index_batch(jax.random.choice(jax.random.key(1), space.num_architectures, (200,)))
    state = jax.jit(predictor.fit)(jax.random.key(2), archs, labels, unlabelled)
    test = jnp.arange(0, space.num_architectures, 7)
    scores = jax.jit(predictor.predict)(state, space.from_index_batch(test))
    from jaxnas import metrics

    assert float(metrics.kendall_tau(jnp.asarray(bench.signal)[test], scores)) > 0.4


@pytest.mark.slow
@pytest.mark.parametrize("benchmark", ["nb201_synthetic_subset", "nb101_subset"])
def test_restricted_space_generation_stays_in_the_table(benchmark):
    bench = benchmarks.load_benchmark(benchmark)
    config = _tiny_config(initial_size=20, iterations=2, new_per_iteration=10, candidates_per_iteration=10,
                          unlabelled_size=100, top_k=10)
    algorithm = seminas.seminas(bench.search_space, config)
    result = runner.run_search(algorithm, bench, budget=config.capacity, num_seeds=2)
    np.testing.assert_array_equal(result.queries, config.capacity)
    assert np.all(bench.available[result.history])
