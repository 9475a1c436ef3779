import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.weight_sharing import input_pipeline, nb201_network, supernet

CHANNELS, CELLS = 2, 1


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 40).astype(np.int32)
    model = nb201_network.supernet(CHANNELS, CELLS)
    params = nb201_network.init(jax.random.key(0), model, (16, 16, 3))
    return images, labels, model, params


@pytest.mark.slow
def test_sampled_subnetwork_equals_standalone_network(tiny):
    images, labels, model, params = tiny
    x = input_pipeline.normalize(images[:8], np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32))
    for seed in range(3):
        ops = supernet.sample_ops(jax.random.key(seed))
        chex.assert_shape(ops, (6,))
        from_supernet = model.apply(params, x, ops)
        alone = nb201_network.standalone(np.asarray(ops), CHANNELS, CELLS)
        from_standalone = alone.apply(nb201_network.subnet_params(params, np.asarray(ops)), x)
        chex.assert_shape(from_supernet, (8, 10))
        np.testing.assert_allclose(from_supernet, from_standalone, rtol=1e-5, atol=1e-5)
        # ...and the standalone network holds only the chosen ops' weights.
        assert jax.tree_util.tree_structure(nb201_network.init(jax.random.key(1), alone, (16, 16, 3))) == \
            jax.tree_util.tree_structure(nb201_network.subnet_params(params, np.asarray(ops)))


@pytest.mark.slow
def test_cell_evaluator_matches_standalone_evaluation(tiny):
    images, labels, model, params = tiny
    mean, std = input_pipeline.channel_stats(images)
    evaluate = supernet.make_cell_evaluator(model, images, labels, mean, std, eval_batch=20)
    ops = np.array([[3, 3, 3, 3, 3, 3], [1, 0, 2, 4, 3, 1], [0, 0, 0, 0, 0, 0]], np.int32)
    accuracy, loss = evaluate(params, jnp.asarray(ops))
    chex.assert_shape((accuracy, loss), [(3,), (3,)])
    for row in range(3):
        alone = nb201_network.standalone(ops[row], CHANNELS, CELLS)
        sub = nb201_network.subnet_params(params, ops[row])
        correct, total_loss = 0, 0.0
        for first in (0, 20):  # BN statistics per evaluation batch, as the evaluator
            x = input_pipeline.normalize(images[first:first + 20], mean, std)
            logits = alone.apply(sub, x)
            correct += int(jnp.sum(jnp.argmax(logits, -1) == labels[first:first + 20]))
            total_loss += float(jnp.sum(supernet.cross_entropy(logits, jnp.asarray(labels[first:first + 20]))))
        np.testing.assert_allclose(accuracy[row], 100.0 * correct / 40, atol=1e-4)
        np.testing.assert_allclose(loss[row], total_loss / 40, rtol=1e-4)
    # evaluate_all pads the last chunk and keeps row order.
    acc_all, loss_all = supernet.evaluate_all(evaluate, params, ops[[0, 1, 2, 1, 0]], chunk=2, log=lambda *_: None)
    np.testing.assert_allclose(acc_all, np.asarray(accuracy)[[0, 1, 2, 1, 0]], atol=1e-5)


@pytest.mark.slow
def test_training_is_resumable_and_learns(tiny):
    images, labels, model, _ = tiny
    config = supernet.SupernetConfig(channels=CHANNELS, cells_per_stage=CELLS, batch_size=8, learning_rate=0.05)
    optimizer = supernet.make_optimizer(config, 8)
    mean, std = input_pipeline.channel_stats(images)
    split = input_pipeline.Split(images, labels)
    key = jax.random.key(3)
    state = supernet.TrainState(nb201_network.init(jax.random.key(0), model, (16, 16, 3)), None,
                                jnp.zeros((), jnp.int32))
    state = state._replace(opt_state=optimizer.init(state.params))
    four = supernet.make_train_chunk(model, optimizer, split, mean, std, 8, 4)
    two = supernet.make_train_chunk(model, optimizer, split, mean, std, 8, 2)
    whole, losses = four(state, key)
    half, _ = two(state, key)
    resumed, _ = two(half, key)
    chex.assert_shape(losses, (4,))
    assert int(whole.step) == int(resumed.step) == 4
    chex.assert_trees_all_close(whole.params, resumed.params, rtol=1e-5, atol=1e-6)
    assert not jax.tree_util.tree_all(jax.tree_util.tree_map(lambda a, b: bool(jnp.all(a == b)),
                                                             whole.params, state.params))


def test_config_validation():
    with pytest.raises(ValueError, match="eval_images"):
        supernet.SupernetConfig(eval_images=150, eval_batch=100).validate()
    with pytest.raises(ValueError, match="channels"):
        supernet.SupernetConfig(channels=0).validate()


def test_apply_to_used_leaves_unsampled_weights_and_their_state_alone():
    """Weight decay and momentum must not move the weights of ops a step did not use."""
    import optax

    optimizer = optax.chain(optax.add_decayed_weights(0.1), optax.sgd(0.5, momentum=0.9, nesterov=True))
    params = {"used": jnp.ones(3), "unused": {"kernel": jnp.full((2, 2), 2.0)}}
    state = optimizer.init(params)
    both = {"used": jnp.ones(3), "unused": {"kernel": jnp.ones((2, 2))}}
    params, state = supernet.apply_to_used(optimizer, both, state, params)  # both used: momentum builds up
    kernel, trace = params["unused"]["kernel"], state[1][0].trace["unused"]["kernel"]
    assert float(jnp.abs(trace).min()) > 0
    only_first = {"used": jnp.ones(3), "unused": {"kernel": jnp.zeros((2, 2))}}
    for _ in range(3):
        before = params["used"]
        params, state = supernet.apply_to_used(optimizer, only_first, state, params)
        assert not np.allclose(params["used"], before)
    np.testing.assert_array_equal(params["unused"]["kernel"], kernel)  # no decay, no momentum drift
    np.testing.assert_array_equal(state[1][0].trace["unused"]["kernel"], trace)
    # The plain optimizer would have moved it (what apply_to_used prevents).
    updates, _ = optimizer.update(only_first, state, params)
    assert float(jnp.abs(updates["unused"]["kernel"]).max()) > 0


def test_supernet_step_updates_only_the_sampled_cell(tiny):
    """One single-path step: the conv weights of ops the sampled cell does not use keep their
    values (weight decay and momentum included), and the used ones move."""
    images, labels, model, _ = tiny
    config = supernet.SupernetConfig(channels=CHANNELS, cells_per_stage=CELLS, batch_size=8, weight_decay=0.1)
    optimizer = supernet.make_optimizer(config, 8)
    mean, std = input_pipeline.channel_stats(images)
    state = supernet.TrainState(nb201_network.init(jax.random.key(0), model, (16, 16, 3)), None,
                                jnp.zeros((), jnp.int32))
    state = state._replace(opt_state=optimizer.init(state.params))
    one = supernet.make_train_chunk(model, optimizer, input_pipeline.Split(images, labels), mean, std, 8, 1)
    key = jax.random.key(3)
    after, _ = one(state, key)
    ops = np.asarray(supernet.sample_ops(jax.random.split(jax.random.fold_in(key, 0))[0]))
    edges = state.params["params"]["cells_0"]
    for e, op in enumerate(ops):
        for name, op_index in (("nor_conv_1x1", 2), ("nor_conv_3x3", 3)):
            old = edges[f"edges_{e}"][name]["conv"]["kernel"]
            new = after.params["params"]["cells_0"][f"edges_{e}"][name]["conv"]["kernel"]
            if op != op_index:
                np.testing.assert_array_equal(new, old)
    classifier = after.params["params"]["classifier"]["kernel"]
    assert not np.allclose(classifier, state.params["params"]["classifier"]["kernel"])


@pytest.mark.slow
def test_cli_writes_the_weak_label_cost(tmp_path):
    """experiments.supernet on a tiny supernet: weak_labels.npz carries train_seconds, eval_seconds
    and steps (what the predictor experiments charge for weak labels), as results.json does."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "supernet"
    run = subprocess.run([sys.executable, "-m", "experiments.supernet", "--channels=2", "--epochs=1",
                          "--batch_size=500", "--max_cells=20", "--eval_images=100", "--eval_chunk=10",
                          f"--output_dir={out}"], cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    table = np.load(out / "weak_labels.npz")
    results = json.loads((out / "results.json").read_text())
    assert int(table["steps"]) == results["steps"] == 9000 // 500
    assert float(table["train_seconds"]) == pytest.approx(results["train_seconds"]) and results["train_seconds"] > 0
    assert float(table["eval_seconds"]) == pytest.approx(results["eval_seconds"]) and results["eval_seconds"] > 0
    assert table["train_seconds"].shape == table["eval_seconds"].shape == table["steps"].shape == ()
