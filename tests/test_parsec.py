import dataclasses
import json

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas.weight_sharing import darts_network as dn
from jaxnas.weight_sharing import parsec

# A tiny space: an op on each of 2 edges (3 options) and a masked 4-way input choice
# (option 3 invalid): 3 * 3 * 3 = 27 architectures.
TINY = (
    parsec.Choice("ops", (2,), ("a", "b", "c")),
    parsec.Choice("inputs", (1,), ("x", "y", "z", "w"), valid=np.array([[True, True, True, False]])),
)


def _random_logits(key, choices):
    keys = jax.random.split(key, len(choices))
    return {c.name: 1.5 * jax.random.normal(k, (*c.shape, c.num_options)) for c, k in zip(choices, keys)}


def test_sampling_frequencies_match_the_prior():
    choices = parsec.nb201_choices() + parsec.darts_choices()
    logits = _random_logits(jax.random.key(0), choices)
    n = 40000

    @jax.jit
    def draw(key):
        draws = parsec.sample_batch(key, choices, logits, n)
        freqs = {c.name: jax.nn.one_hot(draws[c.name], c.num_options).mean(0) for c in choices}
        return draws, freqs, parsec.probabilities(choices, logits)

    draws, freqs, probs = draw(jax.random.key(1))
    for c in choices:
        chex.assert_shape(draws[c.name], (n, *c.shape))
        freq, p = np.asarray(freqs[c.name]), np.asarray(probs[c.name])
        sigma = np.sqrt(p * (1 - p) / n)
        assert np.all(np.abs(freq - p) <= 5 * sigma + 1e-6), c.name  # 5 sigma per option
        assert np.all(freq[~c.mask] == 0)  # never an invalid DARTS input pair
    # Sampled DARTS genotypes are valid.
    one = jax.tree_util.tree_map(lambda a: a[0], draws)
    dn.check_arch(parsec.darts_to_arch(one))


def test_log_prob_map_and_entropy():
    logits = _random_logits(jax.random.key(2), TINY)
    archs = parsec.enumerate_architectures(TINY)
    assert archs["ops"].shape == (27, 2)

    @jax.jit
    def compute(logits):
        log_p = jax.vmap(lambda s: parsec.log_prob(TINY, logits, s))(archs)
        best = parsec.log_prob(TINY, logits, parsec.map_architecture(TINY, logits))
        return log_p, best, parsec.entropy(TINY, logits), parsec.entropy(TINY, parsec.uniform_logits(TINY))

    log_p, best, ent, uniform_ent = compute(logits)
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)  # a distribution over the space
    np.testing.assert_allclose(best, jnp.max(log_p), rtol=1e-6)
    np.testing.assert_allclose(ent, -jnp.sum(jnp.exp(log_p) * log_p), rtol=1e-5)
    np.testing.assert_allclose(uniform_ent, np.log(27), rtol=1e-6)


def test_importance_weights_sum_to_one_and_ess():
    for logliks in [jnp.array([-3000.0, -3001.0, -2999.5, -5000.0]), jnp.zeros(5), jnp.array([1e4, -1e4])]:
        w = parsec.importance_weights(logliks)
        assert np.all(np.isfinite(w)) and np.all(w >= 0)
        np.testing.assert_allclose(jnp.sum(w), 1.0, rtol=1e-6)
    np.testing.assert_allclose(parsec.effective_sample_size(parsec.importance_weights(jnp.zeros(5))), 5.0)
    np.testing.assert_allclose(parsec.effective_sample_size(parsec.importance_weights(jnp.array([0.0, -1e4]))), 1.0)
    np.testing.assert_allclose(parsec.importance_weights(jnp.array([0.0, 5.0]), beta=0.0), [0.5, 0.5])


def test_score_function_gradient_matches_brute_force_marginal_likelihood():
    """grad_pi log sum_alpha p(alpha|pi) L(alpha), by enumeration, vs the PARSEC estimate."""
    logits = _random_logits(jax.random.key(3), TINY)
    archs = parsec.enumerate_architectures(TINY)
    loglik_table = 3.0 * jax.random.normal(jax.random.key(4), (27,))
    code = lambda s: s["ops"][..., 0] * 9 + s["ops"][..., 1] * 3 + s["inputs"][..., 0]  # noqa: E731
    np.testing.assert_array_equal(np.sort(np.asarray(code(archs))), np.arange(27))
    table = jnp.zeros(27).at[code(archs)].set(loglik_table)

    def log_marginal(lg):
        log_p = jax.vmap(lambda s: parsec.log_prob(TINY, lg, s))(archs)
        return jax.scipy.special.logsumexp(log_p + table[code(archs)])

    exact = jax.grad(log_marginal)(logits)

    @jax.jit
    def estimate(key):
        samples = parsec.sample_batch(key, TINY, logits, 50000)
        weights = parsec.importance_weights(table[code(samples)])
        return [parsec.prior_gradient(TINY, logits, samples, weights, cv) for cv in (True, False)]

    assert max(float(jnp.abs(g).max()) for g in exact.values()) > 0.2  # a gradient worth matching
    for got in estimate(jax.random.key(5)):  # the control variate leaves the expectation unchanged
        for name in exact:  # 50k samples: observed error ~0.003
            np.testing.assert_allclose(got[name], exact[name], atol=0.015)
    # The estimate does not move pi when every sampled architecture is equally likely.
    samples = parsec.sample_batch(jax.random.key(6), TINY, logits, 8)
    flat = parsec.prior_gradient(TINY, logits, samples, parsec.importance_weights(jnp.zeros(8)))
    chex.assert_trees_all_close(flat, jax.tree_util.tree_map(jnp.zeros_like, flat), atol=1e-7)


def test_weighted_gradient_is_the_importance_weighted_sum():
    """The scan over architectures equals sum_k omega_k grad l_k, with beta chosen from the l_k."""
    params = {"w": jax.random.normal(jax.random.key(7), (3, 4)), "b": jnp.arange(4.0)}
    archs = jnp.array([0, 2, 1, 2, 3])

    def loglik(p, arch):
        ll = -jnp.sum((p["w"][:, arch] * 30.0 - 2.0) ** 2) - 5.0 * p["b"][arch]
        return ll, arch * 2

    for beta_fn in (lambda l: 1.0, lambda l: 0.3, lambda l: 0.0, lambda l: parsec.tempering(l, 0.5)):
        grads, logliks, weights, beta, aux = jax.jit(parsec.weighted_gradient, static_argnums=(0, 3))(
            loglik, params, archs, beta_fn)
        lls = jnp.stack([loglik(params, a)[0] for a in archs])
        want_w = jax.nn.softmax(beta_fn(lls) * lls)
        np.testing.assert_allclose(logliks, lls, rtol=1e-6)
        np.testing.assert_allclose(beta, beta_fn(lls), rtol=1e-6)
        np.testing.assert_allclose(weights, want_w, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(aux, archs * 2)
        per_arch = [jax.grad(lambda p, a=a: loglik(p, a)[0])(params) for a in archs]
        want = jax.tree_util.tree_map(lambda *g: sum(w * gi for w, gi in zip(want_w, g)), *per_arch)
        chex.assert_trees_all_close(grads, want, rtol=1e-4, atol=1e-3)


def test_tempering_keeps_the_target_effective_sample_size():
    rng = np.random.default_rng(0)
    for scale in (0.01, 3.0, 300.0):  # per-batch log-likelihood gaps from tiny to huge
        logliks = jnp.asarray(rng.normal(-100.0, scale, 8), jnp.float32)
        for target in (0.25, 0.5, 0.9):
            beta = float(parsec.tempering(logliks, target))
            ess = float(parsec.effective_sample_size(parsec.importance_weights(logliks, beta)))
            assert 0 < beta <= 1.0
            if beta < 1.0:  # the largest beta that keeps the ESS: the ESS sits at the target
                np.testing.assert_allclose(ess, target * 8, rtol=1e-3)
            else:  # beta = 1 keeps it anyway
                assert ess >= target * 8 - 1e-4
    # Equal likelihoods: any beta keeps ESS = K, so beta = 1; untempered weights collapse for big gaps.
    assert float(parsec.tempering(jnp.zeros(8), 0.5)) == 1.0
    spread = jnp.asarray(rng.normal(-3000.0, 3.0, 8), jnp.float32)  # ~0.05 nats/example x 64 examples
    assert float(parsec.effective_sample_size(parsec.importance_weights(spread))) < 2.0
    tempered = parsec.importance_weights(spread, parsec.tempering(spread, 0.5))
    np.testing.assert_allclose(parsec.effective_sample_size(tempered), 4.0, rtol=1e-3)


@pytest.mark.slow
def test_nb201_edge_remat_keeps_the_parsec_gradient_and_lowers_memory(monkeypatch):
    """The supernet's per-edge rematerialisation (nb201_network.REMAT_POLICY) changes no value
    or gradient of the importance-weighted PARSEC step, and lowers the compiled step's memory."""
    from jaxnas.weight_sharing import nb201_network as nbn

    model = nbn.supernet(channels=4, cells_per_stage=1)
    params = nbn.init(jax.random.key(0), model)
    images = jax.random.normal(jax.random.key(1), (8, 32, 32, 3))
    labels = jax.random.randint(jax.random.key(2), (8,), 0, 10)
    archs = jnp.array([[3, 3, 3, 3, 3, 3], [2, 3, 1, 4, 0, 3], [4, 2, 3, 1, 2, 2]], jnp.int32)

    def compiled():  # a fresh function per call, so jit traces the current REMAT_POLICY
        def fn(p):
            return parsec.weighted_gradient(
                lambda q, a: parsec.batch_log_likelihood(model.apply, q, a, images, labels), p, archs,
                lambda l: 0.5)
        return jax.jit(fn).lower(params).compile()

    assert nbn.REMAT_POLICY is not None
    remat = compiled()
    monkeypatch.setattr(nbn, "REMAT_POLICY", None)
    plain = compiled()
    (g_remat, ll_remat, w_remat, _, c_remat), (g_plain, ll_plain, w_plain, _, c_plain) = remat(params), plain(params)
    np.testing.assert_allclose(ll_remat, ll_plain, rtol=1e-6)
    np.testing.assert_allclose(w_remat, w_plain, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(c_remat, c_plain)
    chex.assert_trees_all_close(g_remat, g_plain, rtol=1e-5, atol=1e-6)
    assert remat.memory_analysis().temp_size_in_bytes < plain.memory_analysis().temp_size_in_bytes


def test_nb201_expected_accuracy_is_exact():
    from jaxnas.spaces import nb201 as nb201_space

    table = jax.random.uniform(jax.random.key(8), (15625,)) * 100
    uniform = jnp.full((6, 5), 0.2)
    np.testing.assert_allclose(parsec.nb201_expected_accuracy(uniform, table), jnp.mean(table), rtol=1e-5)
    cell = jnp.array([3, 3, 1, 0, 2, 4])
    one_hot = jax.nn.one_hot(cell, 5)
    index = nb201_space.NB201Space().index(nb201_space.NB201Cell(cell))
    np.testing.assert_allclose(parsec.nb201_expected_accuracy(one_hot, table), table[index], rtol=1e-6)
    # An arbitrary factorised prior: against the explicit sum over the space's enumeration.
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(9), (6, 5)), -1)
    ops = jax.vmap(nb201_space.NB201Space().from_index)(jnp.arange(15625)).ops
    p_cell = jnp.prod(probs[jnp.arange(6), ops], axis=1)
    np.testing.assert_allclose(parsec.nb201_expected_accuracy(probs, table), jnp.sum(p_cell * table), rtol=1e-5)


class _OneEdgeToy(nn.Module):
    """One 'edge' choosing among 3 ops on a scalar feature (the brightness of channel 0):
    'zero', 'blind' (a weight times a constant: it can learn the base rate, nothing else)
    and 'informative' (a weight times the feature, which decides the label). Only the
    chosen op runs (a switch), as in the supernets."""

    @nn.compact
    def __call__(self, x, ops):
        feature = jnp.mean(x[..., 0], axis=(1, 2))[:, None]
        blind = nn.Dense(1, use_bias=False, kernel_init=nn.initializers.zeros, name="blind")
        informative = nn.Dense(1, use_bias=False, kernel_init=nn.initializers.zeros, name="informative")
        if self.is_initializing():
            blind(jnp.ones_like(feature))
            informative(feature)
        branches = [lambda: jnp.zeros_like(feature), lambda: blind(jnp.ones_like(feature)),
                    lambda: informative(feature)]
        h = jax.lax.switch(ops[0], branches)
        return jnp.concatenate([-h, h], axis=-1)  # two classes


_TOY_CHOICES = (parsec.Choice("ops", (1,), ("zero", "blind", "informative")),)
_TOY_MEAN, _TOY_STD = np.full(3, 127.5 / 255, np.float32), np.full(3, 0.25, np.float32)


def _toy_split(key, n):
    """uint8 images whose channel-0 brightness decides the label (bright -> 1)."""
    images = jax.random.randint(key, (n, 4, 4, 3), 0, 256).astype(jnp.uint8)
    labels = (jnp.mean(images[..., 0].astype(jnp.float32), axis=(1, 2)) > 127.5).astype(jnp.int32)
    return images, labels


def _toy_config(**changes):
    base = dict(batch_size=16, valid_batch_size=16, num_valid=32, eval_images=16, eval_batch_size=16,
                num_samples=8, steps=200, warmup_steps=20, warmup_max_steps=20, learning_rate=0.1,
                weight_decay=0.0, prior_learning_rate=0.5)
    return parsec.Config(**{**base, **changes})


def test_weight_gradient_has_the_right_sign_on_the_informative_op():
    """At w = 0 the likelihood grows with the informative op's weight (bright images are class 1
    and its logit is +w * brightness): the importance-weighted gradient must say so, and must
    not touch the weights of ops no sample used."""
    model = _OneEdgeToy()
    params = model.init(jax.random.key(0), jnp.zeros((2, 4, 4, 3)), jnp.zeros(1, jnp.int32))
    images, labels = _toy_split(jax.random.key(1), 64)
    x = (images.astype(jnp.float32) / 255 - _TOY_MEAN) / _TOY_STD
    archs = {"ops": jnp.array([[2], [0], [2], [0]], jnp.int32)}  # informative and zero, never blind

    def loglik(p, s):
        return parsec.batch_log_likelihood(model.apply, p, s["ops"], x, labels)

    for beta_fn in (lambda l: 0.0, lambda l: 1.0, lambda l: parsec.tempering(l, 0.5)):
        grads, _, weights, _, _ = parsec.weighted_gradient(loglik, params, archs, beta_fn)
        assert float(grads["params"]["informative"]["kernel"][0, 0]) > 0  # ascent direction: increase w
        assert float(grads["params"]["blind"]["kernel"][0, 0]) == 0.0
        np.testing.assert_allclose(jnp.sum(weights), 1.0, rtol=1e-6)


def test_prior_moves_to_the_informative_op_and_validation_data_drive_it():
    """The whole train step on the toy: weights trained on uniform samples, pi fitted on the
    validation batches from step 20. pi concentrates on the informative op, the informative
    weight grows positive, the ESS is tempered to target_ess * K, and pi stays put while the
    search has not started."""
    model = _OneEdgeToy()
    params = model.init(jax.random.key(0), jnp.zeros((2, 4, 4, 3)), jnp.zeros(1, jnp.int32))
    config = _toy_config()
    images, labels = _toy_split(jax.random.key(1), 128)
    valid_images, valid_labels = _toy_split(jax.random.key(2), 32)
    step = parsec.make_train_step(model.apply, _TOY_CHOICES, parsec.nb201_to_arch, config, _TOY_MEAN, _TOY_STD)
    run = jax.jit(parsec.make_run_steps(step, config, max_steps=config.steps))
    uniform = parsec.uniform_logits(_TOY_CHOICES)

    waiting = parsec.init_state(params, uniform, config)  # search never scheduled
    state, metrics = run(waiting, jax.random.key(3), images, labels, valid_images, valid_labels, 50)
    chex.assert_trees_all_close(state.logits, uniform)
    assert not np.asarray(metrics["searching"][:50]).any()

    state = parsec.init_state(params, uniform, config, search_start=config.warmup_steps)
    state, metrics = run(state, jax.random.key(3), images, labels, valid_images, valid_labels, config.steps)
    probs = np.asarray(parsec.probabilities(_TOY_CHOICES, state.logits)["ops"][0])
    assert probs[2] > 0.6 and probs[0] < 0.1, probs  # from 1/3 each
    assert float(state.params["params"]["informative"]["kernel"][0, 0]) > 0.1
    searching = np.asarray(metrics["searching"]) > 0
    np.testing.assert_array_equal(searching, np.arange(config.steps) >= config.warmup_steps)
    ess, beta = np.asarray(metrics["ess"])[searching], np.asarray(metrics["beta"])[searching]
    assert np.all(ess >= config.target_ess * config.num_samples - 1e-3)
    tempered = beta < 1.0
    np.testing.assert_allclose(ess[tempered], config.target_ess * config.num_samples, rtol=1e-3)

    # Swap in validation labels that carry no information (all 0): pi no longer moves towards
    # the informative op, so what moves it is the validation data (the training data are unchanged).
    state = parsec.init_state(params, uniform, config, search_start=config.warmup_steps)
    state, _ = run(state, jax.random.key(3), images, labels, valid_images, jnp.zeros_like(valid_labels),
                   config.steps)
    probs = np.asarray(parsec.probabilities(_TOY_CHOICES, state.logits)["ops"][0])
    assert probs[2] < 0.5, probs


def test_run_steps_draw_validation_batches_from_the_validation_split_only():
    """Training and validation examples carry disjoint ids as labels; a probe step reports the
    ids it received. Every training batch comes from the training split, every validation
    batch from the validation split, and each split is covered."""
    config = _toy_config(batch_size=8, valid_batch_size=4, num_valid=12, eval_images=12, eval_batch_size=4)
    train_ids, valid_ids = jnp.arange(40), 1000 + jnp.arange(12)

    def probe_step(state, key, images, labels, valid_images, valid_labels):
        metrics = {k: jnp.zeros(()) for k in parsec.METRICS}
        metrics.update(loss=jnp.max(labels), accuracy=jnp.min(labels), ess=jnp.min(valid_labels),
                       beta=jnp.max(valid_labels), valid_loss=jnp.sum(valid_labels))
        return state._replace(step=state.step + 1), metrics

    run = jax.jit(parsec.make_run_steps(probe_step, config, max_steps=30))
    state = parsec.init_state({"w": jnp.zeros(1)}, parsec.uniform_logits(_TOY_CHOICES), config)
    images = jnp.zeros((40, 4, 4, 3), jnp.uint8)
    _, m = run(state, jax.random.key(0), images, train_ids, images[:12], valid_ids, 30)
    assert np.asarray(m["loss"]).max() < 1000 and np.asarray(m["ess"]).min() >= 1000
    assert np.asarray(m["beta"]).max() < 1012
    # Over 30 steps (10 validation epochs) the validation batches cover the validation split.
    np.testing.assert_allclose(np.asarray(m["valid_loss"]).sum(), 10 * float(jnp.sum(valid_ids)))


def test_validation_split_is_disjoint_from_training_images():
    from jaxnas.weight_sharing import input_pipeline

    rng = np.random.default_rng(0)
    n = 50
    images = np.zeros((n, 32, 32, 3), np.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = np.arange(n) % 256, np.arange(n) // 256  # a unique id per image
    labels = rng.integers(0, 10, n).astype(np.int32)
    data = input_pipeline.ImageData("ids", input_pipeline.Split(images, labels), input_pipeline.Split(images[:10],
                                    labels[:10]), 10, np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32))
    split = input_pipeline.with_validation(data, 15, seed=3)
    ids = lambda s: set((s.images[:, 0, 0, 0] + 256 * s.images[:, 0, 0, 1].astype(int)).tolist())  # noqa: E731
    assert len(ids(split.valid)) == 15 and len(ids(split.train)) == 35
    assert not ids(split.valid) & ids(split.train)
    assert ids(split.valid) | ids(split.train) == set(range(n))
    assert ids(input_pipeline.with_validation(data, 15, seed=4).valid) != ids(split.valid)  # seeded


@pytest.mark.slow
def test_resumed_run_steps_equal_an_uninterrupted_run(tmp_path):
    model = _OneEdgeToy()
    params = model.init(jax.random.key(0), jnp.zeros((2, 4, 4, 3)), jnp.zeros(1, jnp.int32))
    config = _toy_config(steps=10, warmup_steps=4, warmup_max_steps=4)
    images, labels = _toy_split(jax.random.key(1), 64)
    valid = _toy_split(jax.random.key(2), 32)
    step = parsec.make_train_step(model.apply, _TOY_CHOICES, parsec.nb201_to_arch, config, _TOY_MEAN, _TOY_STD)
    run = jax.jit(parsec.make_run_steps(step, config, max_steps=10))
    fresh = parsec.init_state(params, parsec.uniform_logits(_TOY_CHOICES), config, search_start=4)
    state, _ = run(fresh, jax.random.key(3), images, labels, *valid, 5)
    from jaxnas import checkpoint

    ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", {"test": 1})
    ckpt.save(int(state.step), state)
    step_saved, state = ckpt.restore(fresh)
    ckpt.close()
    assert step_saved == 5 and int(state.step) == 5 and int(state.search_start) == 4
    state, _ = run(state, jax.random.key(3), images, labels, *valid, 5)
    again, _ = run(fresh, jax.random.key(3), images, labels, *valid, 10)
    assert not np.allclose(again.logits["ops"], 0.0)
    chex.assert_trees_all_close(again.logits, state.logits, atol=1e-5)
    chex.assert_trees_all_close(again.params, state.params, atol=1e-5)


@pytest.mark.slow
def test_posterior_weight_sampling_draws_from_pi():
    """weight_sampling='posterior' (the paper) trains the weights on archs drawn from pi: with pi
    all on 'zero', no parametric op is ever used and no weight moves; 'uniform' trains them."""
    model = _OneEdgeToy()
    params = model.init(jax.random.key(0), jnp.zeros((2, 4, 4, 3)), jnp.zeros(1, jnp.int32))
    images, labels = _toy_split(jax.random.key(1), 64)
    valid = _toy_split(jax.random.key(2), 32)
    zero_only = {"ops": jnp.array([[0.0, -1e9, -1e9]])}
    moved = {}
    for mode in ("posterior", "uniform"):
        config = _toy_config(steps=10, warmup_steps=0, warmup_max_steps=0, weight_sampling=mode,
                             weight_samples=2, prior_learning_rate=0.0)
        step = parsec.make_train_step(model.apply, _TOY_CHOICES, parsec.nb201_to_arch, config, _TOY_MEAN,
                                      _TOY_STD)
        run = jax.jit(parsec.make_run_steps(step, config, max_steps=10))
        state, _ = run(parsec.init_state(params, zero_only, config, search_start=0), jax.random.key(3), images,
                       labels, *valid, 10)
        moved[mode] = float(jnp.abs(state.params["params"]["informative"]["kernel"]).sum())
    assert moved["posterior"] == 0.0 and moved["uniform"] > 0.0


def test_config_refuses_a_search_that_cannot_start():
    with pytest.raises(ValueError, match="may never start"):
        parsec.Config(steps=400, warmup_steps=500, warmup_max_steps=500).validate()
    with pytest.raises(ValueError, match="may never start"):
        parsec.Config(steps=1000, warmup_steps=500, warmup_max_steps=1000).validate()
    for preset in parsec.PRESETS.values():
        preset.validate()


def test_saved_priors_round_trip_and_are_checked():
    choices = parsec.darts_choices()
    logits = _random_logits(jax.random.key(10), choices)
    restored = parsec.logits_from_json(choices, json.loads(json.dumps(parsec.to_json(logits))))
    chex.assert_trees_all_close(restored, logits)
    with pytest.raises(ValueError, match="lacks choice"):
        parsec.logits_from_json(parsec.nb201_choices(), parsec.to_json(logits))
    with pytest.raises(ValueError, match="shape"):
        parsec.logits_from_json(choices, {**parsec.to_json(logits), "normal_ops": [[0.0] * 7]})
    with pytest.raises(ValueError, match="num_samples must be >= 2"):
        parsec.Config(num_samples=0).validate()


class _ToyNB201(nn.Module):
    """A cheap stand-in for the NB201 supernet: 6 'edges' of 5 ops on pooled features."""

    fixed_ops = None  # a supernet (what nb201_network.init checks)

    @nn.compact
    def __call__(self, x, ops):
        x = jnp.mean(x.reshape(x.shape[0], 8, 4, 8, 4, 3), axis=(2, 4)).reshape(x.shape[0], -1)[:, :16]
        for e in range(6):
            dense = [nn.Dense(16, name=f"e{e}_op{o}") for o in range(2)]
            if self.is_initializing():
                for d in dense:
                    d(x)
            branches = [lambda v: jnp.zeros_like(v), lambda v: v, lambda v, d=dense[0]: d(v),
                        lambda v, d=dense[1]: jnp.tanh(d(v)), lambda v: jnp.maximum(v, 0.0)]
            x = x + jax.lax.switch(ops[e], branches, x)
        return nn.Dense(10, name="head")(x)


class _Killed(Exception):
    pass


def test_experiment_resumes_an_interrupted_run_exactly(tmp_path, monkeypatch, entry_point):
    """The PARSEC workflow's seed loop, interrupted (a) right after a checkpoint and (b) just
    before one is saved, then --resume: results equal an uninterrupted
    run. In-process with a toy supernet (the NB201 step takes minutes to compile on a CPU);
    tests/test_parsec.py::test_cli_kill_and_resume (slow) SIGKILLs the real command."""
    from absl import flags

    exp = entry_point("experiments.parsec")
    from jaxnas import checkpoint
    from jaxnas.weight_sharing import input_pipeline
    from jaxnas.workflows import parsec as workflow

    import types

    rng = np.random.default_rng(0)
    split = lambda n: input_pipeline.Split(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),  # noqa: E731
                                           rng.integers(0, 10, n).astype(np.int32))
    dataset = input_pipeline.ImageData("toy", split(64), split(32), 10, np.full(3, 0.5, np.float32),
                                       np.full(3, 0.25, np.float32))
    bench = types.SimpleNamespace(reported=rng.uniform(80, 95, 15625),
                                  columns={"cifar10_valid_12ep": rng.uniform(70, 85, 15625)})
    argv = ["parsec", "--steps=9", "--warmup_steps=3", "--warmup_max_steps=5", "--gate_every=4", "--gate_cells=5",
            "--num_samples=3", "--batch_size=8", "--valid_batch_size=8", "--num_valid=16", "--eval_images=16",
            "--eval_batch_size=8", "--test_batch_size=16", "--log_every=2", "--checkpoint_every=2",
            "--compilation_cache_dir=", "--prior_learning_rate=0.5"]
    fl = flags.FLAGS
    fl(argv + [f"--output_dir={tmp_path / 'full'}"])
    try:
        config, options = exp._config(), exp._options()
        choices, to_arch, _, describe = workflow.space_setup(config, 10, options.space, options.depthwise)
        ctx = workflow.make_context((choices, to_arch, _ToyNB201(), describe), config, dataset, bench, options)
        full = workflow.run_seed(0, ctx, options)
        # Not compared: timings, and the code of each part of a resumed run.
        timing = ("search_seconds", "seconds", "load_average_start_end", "cpu_seconds", "git_parts")

        def strip(r):
            r = {k: ({c: v for c, v in r[k].items() if c not in timing} if k in ("curves", "baseline") else r[k])
                 for k in r if k not in timing}
            return json.loads(json.dumps(r))  # NaN-free comparison of floats and lists

        assert full["curves"]["step"] == [2, 4, 5, 6, 8, 9], full["curves"]["step"]
        assert full["curves"]["gate_step"][-1] == 9 and full["search_start"] in (4, 5)
        assert full["baseline"]["num_cells"] == workflow.baseline_num_cells(config, 9 - full["search_start"])
        assert not np.allclose(full["logits"]["ops"], 0.0)  # the prior moved: a result worth comparing

        original_save = checkpoint.Checkpointer.save
        for kill_at, after_save in ((6, True), (4, False)):
            out = tmp_path / f"killed_{kill_at}"
            run = dataclasses.replace(options, output_dir=str(out), resume=False)

            def save(self, step, state, info=None, kill_at=kill_at, after_save=after_save):
                if after_save:
                    original_save(self, step, state, info)
                if step == kill_at:
                    raise _Killed
                if not after_save:
                    original_save(self, step, state, info)

            monkeypatch.setattr(checkpoint.Checkpointer, "save", save)
            with pytest.raises(_Killed):
                workflow.run_seed(0, ctx, run)
            monkeypatch.setattr(checkpoint.Checkpointer, "save", original_save)
            # A new run in the used checkpoint folder is refused: the old checkpoints are kept.
            with pytest.raises(checkpoint.CheckpointExistsError, match="--overwrite"):
                workflow.run_seed(0, ctx, run)
            resumed = workflow.run_seed(0, ctx, dataclasses.replace(run, resume=True))
            assert strip(resumed) == strip(full), kill_at
            assert len(resumed["git_parts"]) == 2 and "git_parts" not in full
            assert json.loads((out / "prior_seed0.json").read_text())["logits"] == full["logits"]
        # --overwrite starts afresh in a used folder
        assert strip(workflow.run_seed(0, ctx, dataclasses.replace(run, overwrite=True))) == strip(full)
    finally:
        fl.unparse_flags()


@pytest.mark.slow
def test_cli_kill_and_resume(tmp_path):
    """The real command on a tiny NB201 supernet: SIGKILL after the first checkpoint, then
    --resume; results.json equals an uninterrupted run's (timings aside)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def command(out, *extra):
        return [sys.executable, "-m", "experiments.parsec", "--space=nb201", "--channels=2", "--cells=1",
                "--batch_size=8", "--num_samples=2", "--steps=12", "--warmup_steps=3", "--warmup_max_steps=4",
                "--gate_every=4", "--valid_batch_size=8", "--num_valid=500", "--eval_images=250",
                "--log_every=2", "--checkpoint_every=2", "--prior_learning_rate=0.5", f"--output_dir={out}",
                f"--compilation_cache_dir={tmp_path / 'xla'}", *extra]

    def metrics(out):
        runs = json.loads((out / "results.json").read_text())["runs"]
        timing = ("search_seconds", "seconds", "load_average_start_end", "cpu_seconds", "git_parts")
        return [{k: ({c: v for c, v in r[k].items() if c not in timing} if k in ("curves", "baseline") else r[k])
                 for k in r if k not in timing} for r in runs]

    timings = {}
    start = time.time()
    full = subprocess.run(command(tmp_path / "full"), cwd=root, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr[-3000:]
    timings["full"] = time.time() - start

    start = time.time()
    victim = subprocess.Popen(command(tmp_path / "killed"), cwd=root, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed" / "checkpoints" / "seed_0"
    deadline = time.time() + 1200
    while time.time() < deadline and not (ckpt / "2").is_dir():
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    timings["killed"] = time.time() - start
    assert not (tmp_path / "killed" / "results.json").exists(), "run finished before it could be killed"
    saved = sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    assert saved and max(saved) < 12, saved

    start = time.time()
    resumed = subprocess.run(command(tmp_path / "killed", "--resume"), cwd=root, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    timings["resumed"] = time.time() - start
    assert "resumed at step" in resumed.stderr
    assert metrics(tmp_path / "killed") == metrics(tmp_path / "full")
    print(f"kill+resume: killed after checkpoints {saved}; wall seconds {timings}")


def test_flags_are_the_config_fields_with_the_same_defaults(entry_point):
    """experiments.parsec makes one flag per parsec.Config field; defaults come from the
    dataclass (= the CPU preset), --preset=paper fills the flags not given, --help lists
    every flag with its default, and a search that could never start is refused."""
    import dataclasses

    from absl import app, flags

    exp = entry_point("experiments.parsec")

    fl = flags.FLAGS
    fields = dataclasses.fields(parsec.Config)
    assert set(exp.CONFIG_FIELDS) == {f.name for f in fields}
    for f in fields:
        assert fl[f.name].default == f.default == getattr(parsec.PRESETS["cpu"], f.name), f.name
    try:
        fl(["parsec"])
        assert exp._config() == parsec.Config() == parsec.PRESETS["cpu"]
        fl.unparse_flags()
        fl(["parsec", "--preset=paper", "--steps=50000"])
        assert exp._config() == parsec.PRESETS["paper"].replace(steps=50000)
        fl.unparse_flags()
        fl(["parsec", "--steps=400", "--warmup_steps=500"])
        with pytest.raises(app.UsageError, match="warmup_steps"):
            exp._config()
    finally:
        fl.unparse_flags()
    help_text = fl.module_help(exp)
    for name in exp._OWN_FLAGS:
        assert f"--{name}" in help_text or f"--[no]{name}" in help_text, name
    for f in fields:
        assert f"(default: '{f.default}')" in help_text.split(f"--{f.name}:")[1].split("\n  --")[0], f.name


def test_summaries_use_the_sample_std_and_merge_refuses_mixed_runs(tmp_path, entry_point):
    from absl import app, flags

    from jaxnas import outputs
    from jaxnas.workflows import parsec as workflow

    exp = entry_point("experiments.parsec")

    s = workflow.summarize([1.0, 2.0, 4.0])
    np.testing.assert_allclose(s["std"], np.std([1.0, 2.0, 4.0], ddof=1))
    np.testing.assert_allclose(s["sem"], s["std"] / np.sqrt(3))
    d = workflow.paired_comparison([90.0, 91.0, 87.0], [89.0, 91.0, 88.0])
    assert (d["wins"], d["ties"], d["losses"]) == (1, 1, 1) and d["mean"] == 0.0
    runs = [{"seed": k, "map": {"string": "x"}, "map_test_accuracy_supernet": 0.3, "search_seconds": 1.0,
             "cpu_seconds": 1.0, "entropy": 2.0, "map_cifar10_test_200ep": 90.0 + k,
             "expected_cifar10_test_200ep": 88.0, "baseline_cifar10_test_200ep": 89.0, "tau_at_search_start": 0.1,
             "tau_final": 0.2, "search_start": 1000, "ess_mean": 4.0} for k in range(2)]
    summary, keys = workflow.summary_of(runs, 87.04)
    assert "map_minus_baseline" in summary and summary["map_cifar10_test_200ep"]["mean"] == 90.5
    for k, run in enumerate(runs):
        outputs.prepare_output_dir(tmp_path / f"r{k}")
        outputs.write_json(tmp_path / f"r{k}" / "results.json",
                               {"config": {"steps": 10 + k}, "space": "nb201", "runs": [run], "summary": {},
                                "command": "", "wall_seconds": 1.0})
    fl = flags.FLAGS
    try:
        fl(["parsec", f"--merge={tmp_path / 'r0'},{tmp_path / 'r1'}", f"--output_dir={tmp_path / 'm'}"])
        with pytest.raises(app.UsageError, match="differ in config"):
            exp.main(["parsec"])
    finally:
        fl.unparse_flags()


def test_new_run_refuses_a_used_checkpoint_folder_before_loading(tmp_path, entry_point):
    from absl import app, flags

    exp = entry_point("experiments.parsec")
    used = tmp_path / "checkpoints" / "seed_1" / "250"
    used.mkdir(parents=True)
    flags.FLAGS(["parsec", f"--output_dir={tmp_path}", "--seed=0", "--seeds=2", "--data_dir=/nonexistent"])
    with pytest.raises(app.UsageError, match="seed_1 already holds checkpoints.*--overwrite"):
        exp.main(["parsec"])
    assert used.is_dir()
    flags.FLAGS.resume, flags.FLAGS.overwrite = True, True
    with pytest.raises(app.UsageError, match="give one of them"):
        exp.main(["parsec"])
