r"""PARSEC: probabilistic neural architecture search (Casale, Gordon & Fusi, 2019).

Model. An architecture alpha is a set of independent categorical choices (an op per
edge; for DARTS also each node's input pair) with prior p(alpha | pi), pi the logits.
The network weights w are shared by all architectures (a supernet). The data enter
through the batch likelihood p(y | X, w, alpha) = prod_i softmax(f(x_i; w, alpha))[y_i].
Empirical Bayes maximises the marginal likelihood

    log p(y | X, w, pi) = log sum_alpha p(alpha | pi) p(y | X, w, alpha)

over w and pi. Its gradients are posterior expectations (Fisher's identity):

    grad_w  = E_{p(alpha | y, X, w, pi)} [ grad_w log p(y | X, w, alpha) ]
    grad_pi = E_{p(alpha | y, X, w, pi)} [ grad_pi log p(alpha | pi) ]

Estimator (one step, one minibatch). Draw alpha_1..K ~ p(alpha | pi) (the prior is the
proposal; a vmapped draw), compute l_k = log p(y | X, w, alpha_k) with the shared weights,
and self-normalise: omega_k = exp(l_k) / sum_j exp(l_j) (importance weights, summing to
1, since posterior / proposal is proportional to the likelihood). Then

    g_w  = sum_k omega_k grad_w l_k        = grad_w log( (1/K) sum_k exp(l_k) )
    g_pi = sum_k (omega_k - 1/K) grad_pi log p(alpha_k | pi)

``g_w`` is exactly the gradient of the log of the Monte Carlo marginal-likelihood
estimate (an IWAE-style bound), computed one architecture at a time with an online
log-sum-exp (:func:`weighted_gradient`), so memory is that of one architecture.

Variance control, all in this module:
* self-normalisation (the weights sum to 1: no unknown normaliser, bounded weights);
* a control variate in g_pi: (1/K) sum_k grad log p(alpha_k | pi) has expectation 0
  under the prior, so subtracting it leaves the estimator's expectation unchanged but
  removes the pure-noise drift of pi that an unweighted sample would otherwise cause
  (with equal likelihoods g_pi is exactly 0). For categorical logits,
  grad log p(alpha | pi) = onehot(alpha) - softmax(pi), so g_pi = sum_k (omega_k - 1/K)
  onehot(alpha_k);
* likelihood tempering: omega proportional to exp(beta * l_k) with beta ramped 0 -> 1
  (``beta_schedule``). beta = 0 is uniform weights (every sampled architecture trains
  the shared weights equally and pi stays put) while the supernet is untrained and
  likelihood differences reflect training order rather than architecture quality.

The self-normalised estimator is consistent, with O(1/K) bias; tests compare it with
the brute-force gradient of the exact marginal likelihood on an enumerable space.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import input_pipeline

Params = Any
Logits = dict  # choice name -> float32[*shape, num_options]
Sample = dict  # choice name -> int32[*shape] (leading batch axes allowed)


# --------------------------------------------------------------------------- prior


@dataclasses.dataclass(frozen=True)
class Choice:
    """A group of independent categoricals of the same size (e.g. the op of each edge)."""

    name: str
    shape: tuple[int, ...]
    options: tuple[str, ...]
    valid: Optional[np.ndarray] = None  # bool [*shape, num_options]; None = all valid

    @property
    def num_options(self) -> int:
        return len(self.options)

    @property
    def mask(self) -> np.ndarray:
        if self.valid is None:
            return np.ones((*self.shape, self.num_options), bool)
        mask = np.asarray(self.valid, bool)
        if mask.shape != (*self.shape, self.num_options) or not mask.any(-1).all():
            raise ValueError(f"choice {self.name!r}: valid mask must be {(*self.shape, self.num_options)} "
                             f"with at least one valid option per categorical")
        return mask


ChoiceSpace = tuple  # tuple[Choice, ...]


def uniform_logits(choices: ChoiceSpace) -> Logits:
    """The uniform prior (zero logits; invalid options are masked wherever logits are used)."""
    return {c.name: jnp.zeros((*c.shape, c.num_options), jnp.float32) for c in choices}


def log_probabilities(choices: ChoiceSpace, logits: Logits) -> Logits:
    """log p per option (-inf for invalid options)."""
    return {c.name: jax.nn.log_softmax(jnp.where(c.mask, logits[c.name], -jnp.inf), axis=-1) for c in choices}


def probabilities(choices: ChoiceSpace, logits: Logits) -> Logits:
    return {name: jnp.exp(lp) for name, lp in log_probabilities(choices, logits).items()}


def log_prob(choices: ChoiceSpace, logits: Logits, sample: Sample) -> jax.Array:
    """log p(alpha | pi) of one architecture (a sum over all its categoricals)."""
    total = jnp.zeros((), jnp.float32)
    for c, lp in zip(choices, log_probabilities(choices, logits).values()):
        picked = jnp.take_along_axis(lp, jnp.asarray(sample[c.name], jnp.int32)[..., None], axis=-1)
        total = total + jnp.sum(picked)
    return total


def sample(key: jax.Array, choices: ChoiceSpace, logits: Logits) -> Sample:
    """One architecture alpha ~ p(alpha | pi) (Gumbel-max; one Gumbel draw for all choices)."""
    sizes = [int(np.prod(c.shape, dtype=int)) * c.num_options for c in choices]
    gumbel = jax.random.gumbel(key, (sum(sizes),), jnp.float32)
    out, start = {}, 0
    for c, size in zip(choices, sizes):
        noise = gumbel[start:start + size].reshape(*c.shape, c.num_options)
        masked = jnp.where(c.mask, logits[c.name], -jnp.inf)
        out[c.name] = jnp.argmax(masked + noise, axis=-1).astype(jnp.int32)
        start += size
    return out


def sample_batch(key: jax.Array, choices: ChoiceSpace, logits: Logits, num_samples: int) -> Sample:
    """K architectures as one vectorised draw (vmap over per-sample keys)."""
    return jax.vmap(lambda k: sample(k, choices, logits))(jax.random.split(key, num_samples))


def map_architecture(choices: ChoiceSpace, logits: Logits) -> Sample:
    """The prior's mode: under a factorised prior, the argmax of every categorical."""
    return {c.name: jnp.argmax(jnp.where(c.mask, logits[c.name], -jnp.inf), axis=-1).astype(jnp.int32)
            for c in choices}


def entropy(choices: ChoiceSpace, logits: Logits) -> jax.Array:
    """Entropy of p(alpha | pi) in nats (a sum over the independent categoricals)."""
    total = jnp.zeros((), jnp.float32)
    for lp in log_probabilities(choices, logits).values():
        total = total - jnp.sum(jnp.where(jnp.isfinite(lp), jnp.exp(lp) * lp, 0.0))
    return total


def enumerate_architectures(choices: ChoiceSpace) -> Sample:
    """Every architecture of a small space (leading axis), valid options only."""
    slots = []
    for c in choices:
        mask = c.mask.reshape(-1, c.num_options)
        slots.extend([np.flatnonzero(row) for row in mask])
    combos = np.array(list(itertools.product(*slots)), np.int32)
    out, start = {}, 0
    for c in choices:
        n = int(np.prod(c.shape, dtype=int))
        out[c.name] = jnp.asarray(combos[:, start:start + n].reshape(-1, *c.shape))
        start += n
    return out


# ------------------------------------------------------------- importance weighting


def importance_weights(log_likelihoods: jax.Array, beta=1.0) -> jax.Array:
    """Self-normalised weights omega_k proportional to exp(beta * l_k); they sum to 1."""
    return jax.nn.softmax(beta * log_likelihoods)


def effective_sample_size(weights: jax.Array) -> jax.Array:
    """1 / sum_k omega_k^2: K for equal weights, 1 when one sample takes all the weight."""
    return 1.0 / jnp.sum(jnp.square(weights))


def prior_gradient(choices: ChoiceSpace, logits: Logits, samples: Sample, weights: jax.Array,
                   control_variate: bool = True) -> Logits:
    """Score-function estimate of grad_pi log p(y | X, w, pi) (an ascent direction).

    sum_k (omega_k - b) grad_pi log p(alpha_k | pi), with b = 1/K (control variate) or 0.
    """
    coef = jax.lax.stop_gradient(weights - (1.0 / weights.shape[0] if control_variate else 0.0))

    def surrogate(lg):
        return jnp.sum(coef * jax.vmap(lambda s: log_prob(choices, lg, s))(samples))

    return jax.grad(surrogate)(logits)


def weighted_gradient(loglik_fn: Callable, params: Params, archs: Any, beta=1.0):
    """sum_k omega_k grad_w l_k with omega = softmax(beta * l), one architecture at a time.

    ``loglik_fn(params, arch) -> (l, aux)``; ``archs`` has a leading axis of K. A
    ``lax.scan`` evaluates each architecture's value and gradient in turn and folds it
    into a running log-sum-exp, so the memory is that of one architecture plus one
    gradient accumulator (never K sets of activations), and no second pass is needed.
    Returns (gradient, l float[K], omega float[K], aux stacked over K).
    """
    def body(carry, arch):
        top, total, acc = carry
        (ll, aux), grad = jax.value_and_grad(loglik_fn, has_aux=True)(params, arch)
        z = beta * ll
        new_top = jnp.maximum(top, z)
        old_scale = jnp.where(jnp.isneginf(top), 0.0, jnp.exp(top - new_top))
        new_scale = jnp.exp(z - new_top)
        acc = jax.tree_util.tree_map(lambda a, g: a * old_scale + g * new_scale, acc, grad)
        return (new_top, total * old_scale + new_scale, acc), (ll, aux)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    init = (jnp.array(-jnp.inf, jnp.float32), jnp.zeros((), jnp.float32), zeros)
    (_, total, acc), (logliks, aux) = jax.lax.scan(body, init, archs)
    grads = jax.tree_util.tree_map(lambda a: a / total, acc)
    return grads, logliks, importance_weights(logliks, beta), aux


# ------------------------------------------------------------------------ training


@dataclasses.dataclass(frozen=True)
class Config:
    num_samples: int = 4  # K architectures per step
    batch_size: int = 64
    steps: int = 1000
    learning_rate: float = 0.05  # shared weights: SGD + Nesterov momentum, cosine decay
    momentum: float = 0.9
    weight_decay: float = 5e-4  # a Gaussian prior on w (MAP estimate of the weights)
    grad_clip: float = 5.0
    prior_learning_rate: float = 0.05  # Adam on the prior logits pi
    warmup_steps: int = 200  # beta = 0 (uniform weights, pi frozen)
    warmup_samples: int = 1  # K during the warm-up (uniform weights: K samples = K x the cost of 1)
    ramp_steps: int = 200  # then beta ramps linearly to 1
    control_variate: bool = True

    def validate(self) -> None:
        checks = {
            "num_samples": self.num_samples >= 1, "warmup_samples": self.warmup_samples >= 1,
            "batch_size": self.batch_size >= 2, "steps": self.steps >= 1,
            "learning_rate": self.learning_rate > 0, "momentum": 0 <= self.momentum < 1,
            "weight_decay": self.weight_decay >= 0, "grad_clip": self.grad_clip > 0,
            "prior_learning_rate": self.prior_learning_rate >= 0,
            "warmup_steps": self.warmup_steps >= 0, "ramp_steps": self.ramp_steps >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid PARSEC config values for {bad}: {self}")


class ParsecState(NamedTuple):
    params: Params
    opt_state: optax.OptState
    logits: Logits
    prior_opt_state: optax.OptState
    step: jax.Array


def beta_schedule(step, warmup_steps: int, ramp_steps: int) -> jax.Array:
    """Likelihood temperature: 0 for ``warmup_steps``, then linear to 1 over ``ramp_steps``."""
    step = jnp.asarray(step, jnp.float32)
    if ramp_steps == 0:
        return (step >= warmup_steps).astype(jnp.float32)
    return jnp.clip((step - warmup_steps + 1) / ramp_steps, 0.0, 1.0)


def weights_optimizer(config: Config) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(config.learning_rate, config.steps)
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(schedule, momentum=config.momentum, nesterov=True),
    )


def prior_optimizer(config: Config) -> optax.GradientTransformation:
    return optax.adam(config.prior_learning_rate)


def init_state(params: Params, logits: Logits, config: Config) -> ParsecState:
    return ParsecState(params, weights_optimizer(config).init(params), logits,
                       prior_optimizer(config).init(logits), jnp.zeros((), jnp.int32))


def batch_log_likelihood(apply_fn: Callable, params: Params, arch: Any, images: jax.Array, labels: jax.Array):
    """(sum_i log p(y_i | x_i, w, arch), number correct): the batch likelihood of one architecture."""
    logits = apply_fn(params, images, arch)
    logp = jax.nn.log_softmax(logits)
    ll = jnp.sum(jnp.take_along_axis(logp, labels[:, None], axis=-1))
    return ll, jnp.sum(jnp.argmax(logits, -1) == labels)


def make_train_step(apply_fn: Callable, choices: ChoiceSpace, to_arch: Callable, config: Config,
                    mean, std, num_samples: Optional[int] = None) -> Callable:
    """step(state, key, images uint8 [B,H,W,C], labels int32[B]) -> (state, metrics). Pure, jittable.

    ``apply_fn(params, images, arch) -> logits`` (the supernet); ``to_arch`` maps a
    sample of ``choices`` to the network's architecture argument. ``num_samples``
    overrides K (the warm-up step uses ``config.warmup_samples``: while beta = 0 the
    weights are uniform, so one sample gives the same expected update at 1/K the cost).
    """
    config.validate()
    num_samples = num_samples or config.num_samples
    w_opt, p_opt = weights_optimizer(config), prior_optimizer(config)

    def step(state: ParsecState, key, images, labels):
        aug_key, sample_key = jax.random.split(key)
        x = input_pipeline.augment(aug_key, images, mean, std)
        samples = sample_batch(sample_key, choices, state.logits, num_samples)
        beta = beta_schedule(state.step, config.warmup_steps, config.ramp_steps)
        batch = labels.shape[0]

        def loglik(params, s):
            return batch_log_likelihood(apply_fn, params, to_arch(s), x, labels)

        grads, logliks, weights, correct = weighted_gradient(loglik, state.params, samples, beta)
        # Ascent on the per-example log-likelihood -> descent on its negative.
        grads = jax.tree_util.tree_map(lambda g: -g / batch, grads)
        updates, opt_state = w_opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)

        prior_grads = prior_gradient(choices, state.logits, samples, weights, config.control_variate)
        prior_grads = jax.tree_util.tree_map(jnp.negative, prior_grads)
        prior_updates, prior_opt_state = p_opt.update(prior_grads, state.prior_opt_state, state.logits)
        logits = optax.apply_updates(state.logits, prior_updates)

        metrics = {
            "loss": -jnp.sum(weights * logliks) / batch,  # importance-weighted NLL per example
            "mean_loss": -jnp.mean(logliks) / batch,
            "accuracy": jnp.sum(weights * correct) / batch,
            "ess": effective_sample_size(weights),
            "beta": beta,
            "entropy": entropy(choices, logits),
        }
        return ParsecState(params, opt_state, logits, prior_opt_state, state.step + 1), metrics

    return step


METRICS = ("loss", "mean_loss", "accuracy", "ess", "beta", "entropy")  # what a train step reports


def make_run_steps(step_fn: Callable, batch_size: int, max_steps: int) -> Callable:
    """run(state, key, images, labels, num_steps) -> (state, metrics float32[max_steps] each).

    ``num_steps`` (<= ``max_steps``) is a traced int: the steps run in a
    ``lax.fori_loop`` with a dynamic trip count, so every chunk length
    (the warm-up boundary, the last partial chunk, a resumed run's first chunk) uses ONE
    compiled program. XLA:CPU needs 30-60 s to compile a small supernet's train step, so
    a static chunk length compiled once per distinct length dominated short runs.
    Metrics of step i land in row i; rows >= num_steps are zero (slice them off).
    ``step_fn`` must return the scalar metrics named in :data:`METRICS`. Step t uses
    fold_in(key, t) and ``input_pipeline.batch_indices``, so results do not depend on the
    chunking; ``images``/``labels`` are the whole training split, resident on the device.
    """
    def run(state, key, images, labels, num_steps):
        data_key, step_key = jax.random.split(key)

        def body(i, carry):
            state, buffer = carry
            idx = input_pipeline.batch_indices(data_key, state.step, labels.shape[0], batch_size)
            state, metrics = step_fn(state, jax.random.fold_in(step_key, state.step), images[idx], labels[idx])
            row = jnp.stack([jnp.asarray(metrics[k], jnp.float32) for k in METRICS])
            return state, buffer.at[i].set(row)

        buffer = jnp.zeros((max_steps, len(METRICS)), jnp.float32)
        n = jnp.minimum(jnp.asarray(num_steps, jnp.int32), max_steps)
        state, buffer = jax.lax.fori_loop(0, n, body, (state, buffer))
        return state, {k: buffer[:, j] for j, k in enumerate(METRICS)}

    return run


def make_evaluate(apply_fn: Callable) -> Callable:
    """evaluate(params, arch, images float [N, B, H, W, C], labels [N, B]) -> accuracy.

    One architecture, ``lax.map`` over the batches (BN uses each batch's statistics).
    """
    def evaluate(params, arch, images, labels):
        def one(batch):
            x, y = batch
            return jnp.sum(jnp.argmax(apply_fn(params, x, arch), -1) == y)

        return jnp.sum(jax.lax.map(one, (images, labels))) / labels.size

    return evaluate


# ------------------------------------------------------------------ search spaces


def nb201_choices() -> ChoiceSpace:
    from jaxnas.spaces import nb201 as nb201_space

    return (Choice("ops", (nb201_space.NUM_EDGES,), nb201_space.OP_NAMES),)


def nb201_to_arch(s: Sample) -> jax.Array:
    return s["ops"]


def darts_choices() -> ChoiceSpace:
    from jaxnas.models import darts_network as dn

    pair_names = tuple(f"pair_{i}" for i in range(dn.MAX_PAIRS))
    pair_mask = np.arange(dn.MAX_PAIRS)[None, :] < np.array(dn.NUM_PAIRS)[:, None]
    out = []
    for cell in dn.CELL_TYPES:
        out.append(Choice(f"{cell}_inputs", (dn.NUM_NODES,), pair_names, pair_mask))
        out.append(Choice(f"{cell}_ops", (dn.NUM_NODES, 2), dn.PRIMITIVES))
    return tuple(out)


def darts_to_arch(s: Sample):
    from jaxnas.models import darts_network as dn

    return dn.DartsArch(s["normal_inputs"], s["normal_ops"], s["reduce_inputs"], s["reduce_ops"])


def nb201_expected_accuracy(op_probabilities: jax.Array, table: jax.Array) -> jax.Array:
    """Exact E_{alpha ~ p(alpha | pi)}[table[alpha]] over all 15,625 NB201 cells.

    op_probabilities float[6, 5] (the factorised prior); table float[15625] in the
    space's index order (mixed radix, edge 0 most significant).
    """
    from jaxnas.spaces import nb201 as nb201_space

    codes = np.arange(nb201_space.NUM_ARCHITECTURES)
    ops = (codes[:, None] // nb201_space._RADIX[None, :]) % nb201_space.NUM_OPS  # [15625, 6]
    probs = jnp.prod(op_probabilities[jnp.arange(nb201_space.NUM_EDGES)[None, :], ops], axis=1)
    return jnp.sum(probs * table)


def to_json(tree) -> Any:
    """Arrays -> nested lists (for results.json)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a).tolist(), tree)


def logits_from_json(choices: ChoiceSpace, stored: dict) -> Logits:
    """Prior logits saved by :func:`to_json`, checked against ``choices``."""
    out = {}
    for c in choices:
        if c.name not in stored:
            raise ValueError(f"saved prior lacks choice {c.name!r} (has {sorted(stored)}): wrong search space?")
        value = jnp.asarray(stored[c.name], jnp.float32)
        if value.shape != (*c.shape, c.num_options):
            raise ValueError(f"saved prior {c.name!r} has shape {value.shape}, expected {(*c.shape, c.num_options)}")
        out[c.name] = value
    return out


__all__ = [
    "Choice", "Config", "ParsecState", "beta_schedule", "darts_choices", "darts_to_arch", "effective_sample_size",
    "entropy", "enumerate_architectures", "importance_weights", "init_state", "log_prob", "log_probabilities",
    "METRICS", "logits_from_json", "make_evaluate", "make_run_steps", "make_train_step",
    "map_architecture",
    "nb201_choices", "nb201_expected_accuracy", "nb201_to_arch", "prior_gradient", "probabilities", "sample",
    "sample_batch", "to_json", "uniform_logits", "weighted_gradient",
]
