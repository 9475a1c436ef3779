import json

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import parsec
from jaxnas.models import darts_network as dn

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
    """The online (one architecture at a time) accumulation equals sum_k omega_k grad l_k."""
    params = {"w": jax.random.normal(jax.random.key(7), (3, 4)), "b": jnp.arange(4.0)}
    archs = jnp.array([0, 2, 1, 2, 3])

    def loglik(p, arch):
        ll = -jnp.sum((p["w"][:, arch] * 30.0 - 2.0) ** 2) - 5.0 * p["b"][arch]
        return ll, arch * 2

    for beta in (1.0, 0.3, 0.0):
        grads, logliks, weights, aux = jax.jit(parsec.weighted_gradient, static_argnums=0)(loglik, params, archs, beta)
        lls = jnp.stack([loglik(params, a)[0] for a in archs])
        want_w = jax.nn.softmax(beta * lls)
        np.testing.assert_allclose(logliks, lls, rtol=1e-6)
        np.testing.assert_allclose(weights, want_w, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(aux, archs * 2)
        per_arch = [jax.grad(lambda p, a=a: loglik(p, a)[0])(params) for a in archs]
        want = jax.tree_util.tree_map(lambda *g: sum(w * gi for w, gi in zip(want_w, g)), *per_arch)
        chex.assert_trees_all_close(grads, want, rtol=1e-4, atol=1e-3)


def test_nb201_edge_remat_keeps_the_parsec_gradient_and_lowers_memory(monkeypatch):
    """The supernet's per-edge rematerialisation (nb201_network.REMAT_POLICY) changes no value
    or gradient of the importance-weighted PARSEC step, and lowers the compiled step's memory."""
    from jaxnas.models import nb201_network as nbn

    model = nbn.supernet(channels=4, cells_per_stage=1)
    params = nbn.init(jax.random.key(0), model)
    images = jax.random.normal(jax.random.key(1), (8, 32, 32, 3))
    labels = jax.random.randint(jax.random.key(2), (8,), 0, 10)
    archs = jnp.array([[3, 3, 3, 3, 3, 3], [2, 3, 1, 4, 0, 3], [4, 2, 3, 1, 2, 2]], jnp.int32)

    def compiled():  # a fresh function per call, so jit traces the current REMAT_POLICY
        def fn(p):
            return parsec.weighted_gradient(
                lambda q, a: parsec.batch_log_likelihood(model.apply, q, a, images, labels), p, archs, 0.5)
        return jax.jit(fn).lower(params).compile()

    assert nbn.REMAT_POLICY is not None
    remat = compiled()
    monkeypatch.setattr(nbn, "REMAT_POLICY", None)
    plain = compiled()
    (g_remat, ll_remat, w_remat, c_remat), (g_plain, ll_plain, w_plain, c_plain) = remat(params), plain(params)
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


class _ToySupernet(nn.Module):
    """Two 'edges' on flat inputs, each switching among 3 ops (only the chosen one runs)."""

    @nn.compact
    def __call__(self, x, ops):
        x = x.reshape(x.shape[0], -1)[:, :16]
        for e in range(2):
            dense = [nn.Dense(16, name=f"e{e}_op{o}") for o in range(2)]
            if self.is_initializing():
                for d in dense:
                    d(x)
            branches = [lambda v: jnp.zeros_like(v), lambda v, d=dense[0]: d(v), lambda v, d=dense[1]: jnp.tanh(d(v))]
            x = x + jax.lax.switch(ops[e], branches, x)
        return nn.Dense(10, name="head")(x)


def test_train_step_warms_up_then_moves_the_prior(tmp_path):
    choices = (parsec.Choice("ops", (2,), ("zero", "linear", "tanh")),)
    model = _ToySupernet()
    params = model.init(jax.random.key(0), jnp.zeros((4, 4, 4, 3)), jnp.zeros(2, jnp.int32))
    config = parsec.Config(num_samples=3, batch_size=16, steps=10, warmup_steps=5, ramp_steps=2,
                           prior_learning_rate=0.1, warmup_samples=3)
    step = parsec.make_train_step(model.apply, choices, parsec.nb201_to_arch, config, np.zeros(3), np.ones(3))
    run_steps = jax.jit(parsec.make_run_steps(step, config.batch_size, max_steps=10))

    def run(state, key, images, labels, num_steps):
        state, metrics = run_steps(state, key, images, labels, num_steps)
        return state, {k: np.asarray(v)[:num_steps] for k, v in metrics.items()}

    images = jax.random.randint(jax.random.key(1), (64, 4, 4, 3), 0, 256).astype(jnp.uint8)
    labels = jax.random.randint(jax.random.key(2), (64,), 0, 10)
    fresh = parsec.init_state(params, parsec.uniform_logits(choices), config)
    state, warm = run(fresh, jax.random.key(3), images, labels, num_steps=5)
    chex.assert_trees_all_close(state.logits, parsec.uniform_logits(choices))  # beta = 0: pi frozen
    np.testing.assert_allclose(warm["ess"], 3.0, rtol=1e-6)
    # Checkpoint after the warm-up and continue from the restored state (what --resume does).
    from jaxnas import checkpoint

    ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", {"test": 1})
    ckpt.save(int(state.step), state)
    step_saved, state = ckpt.restore(fresh)
    ckpt.close()
    assert step_saved == 5 and int(state.step) == 5
    state, later = run(state, jax.random.key(3), images, labels, num_steps=5)
    assert int(state.step) == 10
    np.testing.assert_allclose(later["beta"][-1], 1.0)
    assert not np.allclose(state.logits["ops"], 0.0)
    assert all(np.isfinite(v).all() for v in later.values())
    # Neither chunking nor the checkpoint round trip changes the run: 10 steps at once give the same state.
    again, _ = run(fresh, jax.random.key(3), images, labels, num_steps=10)
    chex.assert_trees_all_close(again.logits, state.logits, atol=1e-5)
    chex.assert_trees_all_close(again.params, state.params, atol=1e-5)


def test_saved_priors_round_trip_and_are_checked():
    choices = parsec.darts_choices()
    logits = _random_logits(jax.random.key(10), choices)
    restored = parsec.logits_from_json(choices, json.loads(json.dumps(parsec.to_json(logits))))
    chex.assert_trees_all_close(restored, logits)
    with pytest.raises(ValueError, match="lacks choice"):
        parsec.logits_from_json(parsec.nb201_choices(), parsec.to_json(logits))
    with pytest.raises(ValueError, match="shape"):
        parsec.logits_from_json(choices, {**parsec.to_json(logits), "normal_ops": [[0.0] * 7]})
    with pytest.raises(ValueError, match="config"):
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


def test_experiment_resumes_an_interrupted_run_exactly(tmp_path, monkeypatch):
    """experiments.parsec's seed loop, interrupted (a) right after a checkpoint and (b) after
    history.json but before the state is saved, then --resume: results equal an uninterrupted
    run. In-process with a toy supernet (the NB201 step takes minutes to compile on a CPU);
    tests/test_parsec.py::test_cli_kill_and_resume (slow) SIGKILLs the real command."""
    from absl import flags

    from experiments import parsec as exp
    from jaxnas import input_pipeline

    rng = np.random.default_rng(0)
    split = lambda n: input_pipeline.Split(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),  # noqa: E731
                                           rng.integers(0, 10, n).astype(np.int32))
    dataset = input_pipeline.ImageData("toy", split(64), split(32), 10, np.full(3, 0.5, np.float32),
                                       np.full(3, 0.25, np.float32))
    table = jnp.asarray(rng.uniform(80, 95, 15625).astype(np.float32))
    argv = ["parsec", "--steps=9", "--warmup_steps=3", "--ramp_steps=2", "--samples=3", "--warmup_samples=3",
            "--batch_size=8", "--log_every=2", "--eval_every=5", "--checkpoint_every=2", "--eval_batch_size=16",
            "--compilation_cache_dir=", "--prior_learning_rate=0.2"]
    fl = flags.FLAGS
    fl(argv + [f"--output_dir={tmp_path / 'full'}"])
    try:
        choices, to_arch, _, describe = exp._space_setup(10)
        ctx = exp._make_context((choices, to_arch, _ToyNB201(), describe), exp._config(), dataset, table)
        full = exp._run_seed(0, ctx)
        timing = ("search_seconds", "seconds")

        def strip(r):
            return {k: ({c: v for c, v in r[k].items() if c not in timing} if k == "curves" else r[k])
                    for k in r if k not in timing}

        assert full["curves"]["step"] == [2, 3, 5, 7, 9] and full["curves"]["eval_step"] == [5, 9]
        assert not np.allclose(full["logits"]["ops"], 0.0)  # the prior moved: a result worth comparing

        original_save = exp.checkpoint.Checkpointer.save
        for kill_at, after_save in ((7, True), (5, False)):
            out = tmp_path / f"killed_{kill_at}"
            fl.output_dir, fl.resume = str(out), False

            def save(self, step, state, kill_at=kill_at, after_save=after_save):
                if after_save:
                    original_save(self, step, state)
                if step == kill_at:
                    raise _Killed
                if not after_save:
                    original_save(self, step, state)

            monkeypatch.setattr(exp.checkpoint.Checkpointer, "save", save)
            with pytest.raises(_Killed):
                exp._run_seed(0, ctx)
            monkeypatch.setattr(exp.checkpoint.Checkpointer, "save", original_save)
            history = json.loads((out / "checkpoints" / "seed_0" / "history.json").read_text())
            assert history["step"][-1] == kill_at  # (b): history is ahead of the saved state
            fl.resume = True
            resumed = exp._run_seed(0, ctx)
            assert strip(resumed) == strip(full), kill_at
            assert json.loads((out / "prior_seed0.json").read_text())["logits"] == full["logits"]
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
                "--batch_size=8", "--samples=2", "--warmup_samples=2", "--steps=12", "--warmup_steps=3",
                "--ramp_steps=2", "--log_every=2", "--eval_every=4", "--checkpoint_every=2",
                "--eval_batch_size=500", "--prior_learning_rate=0.2", f"--output_dir={out}",
                f"--compilation_cache_dir={tmp_path / 'xla'}", *extra]

    def metrics(out):
        runs = json.loads((out / "results.json").read_text())["runs"]
        return [{k: ({c: v for c, v in r[k].items() if c != "seconds"} if k == "curves" else r[k])
                 for k in r if k != "search_seconds"} for r in runs]

    timings = {}
    start = time.time()
    full = subprocess.run(command(tmp_path / "full"), cwd=root, capture_output=True, text=True, timeout=1500)
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
    resumed = subprocess.run(command(tmp_path / "killed", "--resume"), cwd=root, capture_output=True, text=True,
                             timeout=1500)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    timings["resumed"] = time.time() - start
    assert "resumed at step" in resumed.stderr
    assert metrics(tmp_path / "killed") == metrics(tmp_path / "full")
    print(f"kill+resume: killed after checkpoints {saved}; wall seconds {timings}")
