r"""PARSEC: probabilistic neural architecture search (Casale, Gordon & Fusi, 2019).

Model. An architecture alpha is a set of independent categorical choices (an op per
edge; for DARTS also each node's input pair) with prior p(alpha | pi), pi the logits.
The network weights w are shared by all architectures (a supernet). The data enter
through the batch likelihood p(y | X, w, alpha) = prod_i softmax(f(x_i; w, alpha))[y_i].
Empirical Bayes maximises the marginal likelihood

    log p(y | X, w, pi) = log sum_alpha p(alpha | pi) p(y | X, w, alpha)

over pi. Its gradient is a posterior expectation (Fisher's identity):

    grad_pi = E_{p(alpha | y, X, w, pi)} [ grad_pi log p(alpha | pi) ]

Estimator (one step, one minibatch). Draw alpha_1..K ~ p(alpha | pi) (the prior is the
proposal; a vmapped draw), compute l_k = log p(y | X, w, alpha_k) with the shared weights
(``lax.map``: one architecture's memory at a time) and self-normalise:
omega_k = exp(beta l_k) / sum_j exp(beta l_j). Then

    g_pi = sum_k (omega_k - 1/K) grad_pi log p(alpha_k | pi) = sum_k (omega_k - 1/K) onehot(alpha_k)

(categorical logits: grad log p(alpha | pi) = onehot(alpha) - softmax(pi); the 1/K term is
a control variate with expectation 0 under the prior, so with equal likelihoods g_pi is
exactly 0). The paper's weight gradient is the same posterior expectation of
grad_w l_k, i.e. the gradient of the log of the Monte Carlo marginal-likelihood estimate
(IWAE); :func:`weighted_gradient` computes sum_k omega_k grad_w l_k.

Protocol (what this module runs, :func:`make_train_step`):

* Two data streams: the weights train on augmented batches of the TRAINING split; pi is
  fitted on unaugmented batches of a held-out VALIDATION split (as DARTS, GDAS and the
  NB201 one-shot baselines fit their architecture parameters). Test data never enter.
* Weights (``Config.weight_sampling``): ``"uniform"`` draws the architectures of the
  weight step uniformly (single-path one-shot): every op is trained equally often,
  whatever pi does, so pi cannot starve the parametric ops of updates, and the supernet
  is exactly the one a random-sampling baseline of the same seed trains.
  ``"posterior"`` is the paper's estimator: archs from pi, importance weights on the
  training batch. Only the weights the sampled architectures use are updated, optimiser
  state included (:func:`jaxnas.weight_sharing.supernet.apply_to_used`).
* Tempering: a batch log-likelihood sums over B examples, so per-example gaps of a few
  hundredths of a nat become nats per batch and the raw weights are one-hot (effective
  sample size ~1). Each step picks the largest beta <= 1 with ESS >= ``target_ess * K``
  (:func:`tempering`, bisection; adaptive tempering as in sequential Monte Carlo), so
  every step uses about ``target_ess * K`` of its K samples. The ESS is logged.
* Phases: a warm-up trains the weights only (pi frozen, no pi samples drawn); the search
  phase starts at step ``ParsecState.search_start``, set by the caller (a quality gate
  on the supernet's ranking, see experiments/parsec.py). pi is updated by plain SGD
  (stateless), so the warm-up cannot change the size of its first steps.

The self-normalised estimator is consistent, with O(1/K) bias; tests compare it with
the brute-force gradient of the exact marginal likelihood on an enumerable space.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas import config as config_base
from jaxnas.config import field
from jaxnas.weight_sharing import input_pipeline, supernet

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


def tempering(log_likelihoods: jax.Array, target_ess: float, beta_max: float = 1.0,
              iterations: int = 40) -> jax.Array:
    """The largest beta in [0, beta_max] whose weights softmax(beta * l) keep ESS >= target_ess * K.

    ESS(beta) falls monotonically from K (beta = 0) as beta grows (its log-derivative is
    2 (E_omega[l] - E_omega2[l]) <= 0, omega2 the weights at 2 beta), so a bisection on
    log beta over [beta_max * 1e-9, beta_max] finds it; beta_max when even that keeps the
    ESS (e.g. equal likelihoods). target_ess is a fraction of K in (0, 1].
    """
    num = log_likelihoods.shape[0]
    target = target_ess * num
    ess = lambda beta: effective_sample_size(importance_weights(log_likelihoods, beta))  # noqa: E731
    lo, hi = jnp.log(beta_max) + jnp.log(1e-9), jnp.log(beta_max)

    def body(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        ok = ess(jnp.exp(mid)) >= target
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, _ = jax.lax.fori_loop(0, iterations, body, (lo, hi))
    return jnp.where(ess(beta_max) >= target, beta_max, jnp.exp(lo)).astype(jnp.float32)


def prior_gradient(choices: ChoiceSpace, logits: Logits, samples: Sample, weights: jax.Array,
                   control_variate: bool = True) -> Logits:
    """Score-function estimate of grad_pi log p(y | X, w, pi) (an ascent direction).

    sum_k (omega_k - b) grad_pi log p(alpha_k | pi), with b = 1/K (control variate) or 0.
    """
    coef = jax.lax.stop_gradient(weights - (1.0 / weights.shape[0] if control_variate else 0.0))

    def surrogate(lg):
        return jnp.sum(coef * jax.vmap(lambda s: log_prob(choices, lg, s))(samples))

    return jax.grad(surrogate)(logits)


def weighted_gradient(loglik_fn: Callable, params: Params, archs: Any, beta_fn: Callable = lambda l: 1.0):
    """sum_k omega_k grad_w l_k with omega = softmax(beta * l), beta = ``beta_fn(l)``.

    ``loglik_fn(params, arch) -> (l, aux)``; ``archs`` has a leading axis of K. A
    ``lax.scan`` evaluates one architecture's value and gradient at a time (the
    activations of one architecture, never K at once) and stacks the K gradients
    (K copies of the weights: small next to the activations), so beta can depend on
    all K likelihoods. Returns (gradient, l float[K], omega float[K], beta, aux stacked over K).
    """
    def body(_, arch):
        (ll, aux), grad = jax.value_and_grad(loglik_fn, has_aux=True)(params, arch)
        return None, (ll, aux, grad)

    _, (logliks, aux, grads) = jax.lax.scan(body, None, archs)
    beta = jnp.asarray(beta_fn(logliks), jnp.float32)
    weights = importance_weights(logliks, beta)
    grad = jax.tree_util.tree_map(lambda g: jnp.tensordot(weights, g, axes=1), grads)
    return grad, logliks, weights, beta, aux


# ------------------------------------------------------------------------ training


@dataclasses.dataclass(frozen=True)
class Config(config_base.Config):
    """Every setting of a PARSEC run that changes its result. The defaults ARE the CPU preset
    (:data:`PRESETS`); experiments/parsec.py makes one flag per field from this class."""

    label = "PARSEC"

    dataset: str = field("cifar10_small", "Image dataset.", choices=("cifar10_small", "cifar10_tfds"))
    image_size: int = field(16, "Images are average-pooled to this size (32: CIFAR's own; 16: a 4x cheaper "
                                "proxy, as NB201's ImageNet16).", lower=4)
    channels: int = field(8, "C: channels of the first stage (NB201) / of the cells (DARTS).", lower=1)
    cells: int = field(2, "NB201: cells per stage (the benchmark network has 5).", lower=1)
    layers: int = field(5, "DARTS: number of cells (reductions at 1/3 and 2/3).", lower=3)
    num_valid: int = field(1000, "Training images held out as the validation split (pi's data, the gate, "
                                 "the baseline's ranking).", lower=2)
    steps: int = field(2000, "Training steps in all (warm-up + search).", lower=1)
    batch_size: int = field(64, "Weight-training minibatch size.", lower=2)
    learning_rate: float = field(0.05, "Shared weights: SGD-Nesterov peak learning rate (cosine decay to 0 "
                                       "over the steps).", above=0.0)
    momentum: float = field(0.9, "Shared weights: Nesterov momentum.", lower=0.0, below=1.0)
    weight_decay: float = field(5e-4, "Shared weights: L2 (a Gaussian prior on the weights).", lower=0.0)
    grad_clip: float = field(5.0, "Shared weights: global gradient-norm clip.", above=0.0)
    weight_sampling: str = field("uniform", "Architectures of the weight step: 'uniform' (every op trained "
                                            "equally often) or 'posterior' (the paper: drawn from pi, "
                                            "importance-weighted on the training batch).",
                                 choices=("uniform", "posterior"))
    weight_samples: int = field(1, "Architectures per weight step.", lower=1)
    num_samples: int = field(8, "K: architectures drawn from pi per search step (pi's update).", lower=2)
    valid_batch_size: int = field(32, "Validation images per pi update (unaugmented).", lower=2)
    target_ess: float = field(0.5, "Tempering: per step, the largest beta <= 1 keeping the effective "
                                   "sample size >= target_ess * K.", above=0.0, upper=1.0)
    prior_learning_rate: float = field(0.5, "Plain SGD step size on the prior logits pi.", lower=0.0)
    warmup_steps: int = field(1000, "Minimum weight-only steps before the search phase (pi frozen).", lower=0)
    warmup_max_steps: int = field(1500, "Step limit of the warm-up: the search starts here even if the "
                                        "quality gate never opened.")
    gate_every: int = field(250, "Steps between quality-gate evaluations (Kendall tau of the gate cells).",
                            lower=1)
    gate_cells: int = field(30, "Fixed random NB201 cells of the quality gate.", lower=3)
    gate_tau: float = field(0.0, "The search phase starts once the gate's tau exceeds this (after "
                                 "warmup_steps).")
    eval_images: int = field(500, "Validation images per cell for the gate and the baseline's ranking.", lower=1)
    eval_batch_size: int = field(250, "Evaluation batch size (BN uses batch statistics).", lower=2)

    def cross_check(self) -> None:
        if self.valid_batch_size > self.num_valid or self.eval_images > self.num_valid:
            raise ValueError(f"PARSEC valid_batch_size ({self.valid_batch_size}) and eval_images "
                             f"({self.eval_images}) must be <= num_valid ({self.num_valid})")
        if self.eval_images % self.eval_batch_size:
            raise ValueError(f"PARSEC eval_images ({self.eval_images}) must be a multiple of eval_batch_size "
                             f"({self.eval_batch_size})")
        if not self.warmup_steps <= self.warmup_max_steps < self.steps:
            raise ValueError(
                f"need warmup_steps ({self.warmup_steps}) <= warmup_max_steps ({self.warmup_max_steps}) < steps "
                f"({self.steps}): otherwise the search phase (pi's updates) may never start")

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)


# "cpu": the small proxy that fits the shared 2-core CPU (the defaults). "paper": NB201's
# search setting (the benchmark network C=16, N=5; full CIFAR-10 with half of its training
# images held out; 100 epochs of 25k images at batch 64) for an accelerator.
PRESETS = {
    "cpu": Config(),
    "paper": Config(dataset="cifar10_tfds", image_size=32, channels=16, cells=5, layers=8, num_valid=25000,
                    steps=39000, learning_rate=0.025, valid_batch_size=64, warmup_steps=8000,
                    warmup_max_steps=20000, gate_every=1000, eval_images=1000),
}


class ParsecState(NamedTuple):
    params: Params
    opt_state: optax.OptState
    logits: Logits
    step: jax.Array  # int32: steps done
    search_start: jax.Array  # int32: first step that updates pi (a large value until the gate opens)


NOT_STARTED = np.iinfo(np.int32).max  # ParsecState.search_start before the search phase is scheduled


def weights_optimizer(config: Config) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(config.learning_rate, config.steps)
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(schedule, momentum=config.momentum, nesterov=True),
    )


def init_state(params: Params, logits: Logits, config: Config, search_start: int = NOT_STARTED) -> ParsecState:
    return ParsecState(params, weights_optimizer(config).init(params), logits, jnp.zeros((), jnp.int32),
                       jnp.asarray(search_start, jnp.int32))


def batch_log_likelihood(apply_fn: Callable, params: Params, arch: Any, images: jax.Array, labels: jax.Array):
    """(sum_i log p(y_i | x_i, w, arch), number correct): the batch likelihood of one architecture."""
    logits = apply_fn(params, images, arch)
    logp = jax.nn.log_softmax(logits)
    ll = jnp.sum(jnp.take_along_axis(logp, labels[:, None], axis=-1))
    return ll, jnp.sum(jnp.argmax(logits, -1) == labels)


def make_prior_update(apply_fn: Callable, choices: ChoiceSpace, to_arch: Callable, config: Config) -> Callable:
    """update(params, logits, key, images float [B,H,W,C], labels) -> (logits, metrics). Pure, jittable.

    K architectures from pi, their log-likelihoods on the (validation) batch, tempered
    self-normalised weights (:func:`tempering`) and one plain SGD ascent step on pi.
    """
    def update(params, logits, key, images, labels):
        samples = sample_batch(key, choices, logits, config.num_samples)
        logliks = jax.lax.map(
            lambda s: batch_log_likelihood(apply_fn, params, to_arch(s), images, labels)[0], samples)
        beta = tempering(logliks, config.target_ess)
        weights = importance_weights(logliks, beta)
        grads = prior_gradient(choices, logits, samples, weights)
        logits = jax.tree_util.tree_map(lambda p, g: p + config.prior_learning_rate * g, logits, grads)
        metrics = {"ess": effective_sample_size(weights), "beta": beta,
                   "valid_loss": -jnp.mean(logliks) / labels.shape[0]}
        return logits, metrics

    return update


METRICS = ("loss", "accuracy", "searching", "ess", "beta", "valid_loss", "entropy")  # what a train step reports


def make_train_step(apply_fn: Callable, choices: ChoiceSpace, to_arch: Callable, config: Config,
                    mean, std) -> Callable:
    """step(state, key, train_images, train_labels, valid_images, valid_labels) -> (state, metrics).

    Images uint8 [B, H, W, C], labels int32 [B]. ``apply_fn(params, images, arch) -> logits``
    (the supernet); ``to_arch`` maps a sample of ``choices`` to the network's architecture
    argument. Pure and jittable; the search phase (pi's update, a ``lax.cond``) runs from
    step ``state.search_start`` on, so warm-up and search are one compiled program and a
    warm-up step costs the weight step alone. Metrics of a warm-up step: ess/beta/valid_loss 0.
    """
    config.validate()
    w_opt = weights_optimizer(config)
    prior_update = make_prior_update(apply_fn, choices, to_arch, config)
    uniform = uniform_logits(choices)

    def step(state: ParsecState, key, images, labels, valid_images, valid_labels):
        aug_key, weight_key, prior_key = jax.random.split(key, 3)
        x = input_pipeline.augment(aug_key, images, mean, std)
        searching = state.step >= state.search_start
        posterior = config.weight_sampling == "posterior"
        samples = sample_batch(weight_key, choices, state.logits if posterior else uniform, config.weight_samples)

        def loglik(params, s):
            return batch_log_likelihood(apply_fn, params, to_arch(s), x, labels)

        def beta_fn(logliks):  # uniform weights unless the paper's posterior weighting is searching
            if not posterior:
                return 0.0
            return jnp.where(searching, tempering(logliks, config.target_ess), 0.0)

        grads, logliks, _, _, correct = weighted_gradient(loglik, state.params, samples, beta_fn)
        # Ascent on the per-example log-likelihood -> descent on its negative.
        grads = jax.tree_util.tree_map(lambda g: -g / labels.shape[0], grads)
        params, opt_state = supernet.apply_to_used(w_opt, grads, state.opt_state, state.params)

        xv = input_pipeline.normalize(valid_images, mean, std)
        zeros = {"ess": jnp.zeros(()), "beta": jnp.zeros(()), "valid_loss": jnp.zeros(())}
        logits, prior_metrics = jax.lax.cond(
            searching, lambda: prior_update(state.params, state.logits, prior_key, xv, valid_labels),
            lambda: (state.logits, zeros))
        metrics = {
            "loss": -jnp.mean(logliks) / labels.shape[0],
            "accuracy": jnp.mean(correct) / labels.shape[0],
            "searching": searching.astype(jnp.float32),
            **prior_metrics,
            "entropy": entropy(choices, logits),
        }
        return ParsecState(params, opt_state, logits, state.step + 1, state.search_start), metrics

    return step


def make_run_steps(step_fn: Callable, config: Config, max_steps: int) -> Callable:
    """run(state, key, train_images, train_labels, valid_images, valid_labels, num_steps)
    -> (state, metrics float32[max_steps] each).

    ``num_steps`` (<= ``max_steps``) is a traced int: the steps run in a
    ``lax.fori_loop`` with a dynamic trip count, so every chunk length (a gate boundary,
    the last partial chunk, a resumed run's first chunk) uses ONE compiled program
    (XLA:CPU needs a minute or more to compile a supernet's train step).
    Metrics of step i land in row i; rows >= num_steps are zero (slice them off).
    ``step_fn`` must return the scalar metrics named in :data:`METRICS`. Step t uses
    fold_in(key, t) and ``input_pipeline.batch_indices`` for both splits, so results do
    not depend on the chunking; the splits are whole arrays resident on the device.
    """
    def run(state, key, images, labels, valid_images, valid_labels, num_steps):
        data_key, valid_key, step_key = jax.random.split(key, 3)

        def body(i, carry):
            state, buffer = carry
            idx = input_pipeline.batch_indices(data_key, state.step, labels.shape[0], config.batch_size)
            vidx = input_pipeline.batch_indices(valid_key, state.step, valid_labels.shape[0],
                                                config.valid_batch_size)
            state, metrics = step_fn(state, jax.random.fold_in(step_key, state.step), images[idx], labels[idx],
                                     valid_images[vidx], valid_labels[vidx])
            row = jnp.stack([jnp.asarray(metrics[k], jnp.float32) for k in METRICS])
            return state, buffer.at[i].set(row)

        buffer = jnp.zeros((max_steps, len(METRICS)), jnp.float32)
        n = jnp.minimum(jnp.asarray(num_steps, jnp.int32), max_steps)
        state, buffer = jax.lax.fori_loop(0, n, body, (state, buffer))
        return state, {k: buffer[:, j] for j, k in enumerate(METRICS)}

    return run


# ------------------------------------------------------------------ search spaces


def nb201_choices() -> ChoiceSpace:
    from jaxnas.spaces import nb201 as nb201_space

    return (Choice("ops", (nb201_space.NUM_EDGES,), nb201_space.OP_NAMES),)


def nb201_to_arch(s: Sample) -> jax.Array:
    return s["ops"]


def darts_choices() -> ChoiceSpace:
    from jaxnas.weight_sharing import darts_network as dn

    pair_names = tuple(f"pair_{i}" for i in range(dn.MAX_PAIRS))
    pair_mask = np.arange(dn.MAX_PAIRS)[None, :] < np.array(dn.NUM_PAIRS)[:, None]
    out = []
    for cell in dn.CELL_TYPES:
        out.append(Choice(f"{cell}_inputs", (dn.NUM_NODES,), pair_names, pair_mask))
        out.append(Choice(f"{cell}_ops", (dn.NUM_NODES, 2), dn.PRIMITIVES))
    return tuple(out)


def darts_to_arch(s: Sample):
    from jaxnas.weight_sharing import darts_network as dn

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
    "Choice", "Config", "NOT_STARTED", "PRESETS", "ParsecState", "darts_choices", "darts_to_arch",
    "effective_sample_size", "entropy", "enumerate_architectures", "importance_weights", "init_state", "log_prob",
    "log_probabilities", "METRICS", "logits_from_json", "make_prior_update", "make_run_steps", "make_train_step",
    "map_architecture", "nb201_choices", "nb201_expected_accuracy", "nb201_to_arch", "prior_gradient",
    "probabilities", "sample", "sample_batch", "tempering", "to_json", "uniform_logits", "weighted_gradient",
]
