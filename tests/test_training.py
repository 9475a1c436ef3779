import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import training


def _linear_problem(key, n=37):
    x = jax.random.normal(key, (n, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5]) + 0.3
    return {"x": x, "y": y}


def _loss(params, batch, weights, key):
    del key
    pred = batch["x"] @ params["w"] + params["b"]
    return training.weighted_mean((pred - batch["y"]) ** 2, weights), {}


def test_train_fits_and_handles_a_ragged_last_batch():
    data = _linear_problem(jax.random.key(0))  # 37 examples, batches of 8: 5 batches, 3 padding slots
    optimizer = optax.adam(0.05)
    state = training.init_state({"w": jnp.zeros(3), "b": jnp.zeros(())}, optimizer)
    train = jax.jit(training.train, static_argnames=("loss_fn", "optimizer", "batch_size", "epochs"))
    state, losses = train(jax.random.key(1), state, data, _loss, optimizer, batch_size=8, epochs=150)
    chex.assert_shape(losses, (150,))
    assert float(losses[-1]) < 1e-3 < float(losses[0])
    np.testing.assert_allclose(state.params["w"], [1.0, -2.0, 0.5], atol=0.02)


def test_padding_examples_carry_no_weight():
    indices, weights = training._epoch_batches(jax.random.key(0), 10, 4)
    chex.assert_shape([indices, weights], [(3, 4), (3, 4)])
    assert float(weights.sum()) == 10
    real = np.asarray(indices)[np.asarray(weights) > 0]
    assert sorted(real.tolist()) == list(range(10))  # every example exactly once per epoch


def test_train_vmaps_over_seeds():
    optimizer = optax.sgd(0.1)
    keys = jax.random.split(jax.random.key(2), 4)
    data = jax.vmap(_linear_problem)(keys)
    states = jax.vmap(lambda _: training.init_state({"w": jnp.zeros(3), "b": jnp.zeros(())}, optimizer))(keys)
    run = jax.vmap(lambda k, s, d: training.train(k, s, d, _loss, optimizer, 16, 60))
    states, losses = jax.jit(run)(keys, states, data)
    chex.assert_shape(losses, (4, 60))
    assert np.all(np.asarray(losses[:, -1]) < 0.05)


def test_normal_scores_are_rank_preserving():
    values = jnp.array([3.0, -1.0, 10.0, 0.5, 7.0])
    usable = jnp.array([True, True, True, False, True])
    z = training.normal_scores(values, usable)
    assert float(z[3]) == 0.0
    np.testing.assert_array_equal(np.argsort(np.asarray(z)[[0, 1, 2, 4]]), np.argsort(np.asarray(values)[[0, 1, 2, 4]]))
    np.testing.assert_allclose(float(z[jnp.array([0, 1, 2, 4])].sum()), 0.0, atol=1e-5)


def test_regression_targets_standardise_or_rank_the_usable_values():
    values = jnp.array([90.0, 10.0, 93.0, 50.0, 91.0])
    usable = jnp.array([True, True, True, False, True])
    targets, mean, std = training.regression_targets("standardise", values, usable)
    kept = np.asarray(values)[[0, 1, 2, 4]]
    np.testing.assert_allclose(float(mean), kept.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(std), kept.std(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(targets)[[0, 1, 2, 4]], (kept - kept.mean()) / kept.std(), rtol=1e-5)
    assert float(targets[3]) == 0.0
    ranked, rank_mean, _ = training.regression_targets("rank", values, usable)
    np.testing.assert_array_equal(np.asarray(ranked), np.asarray(training.normal_scores(values, usable)))
    assert float(rank_mean) == float(mean)
