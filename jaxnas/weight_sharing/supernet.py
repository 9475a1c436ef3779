"""Single-path weight-sharing supernet for the NB201 cell space, and the weak-label table.

Training (single-path one-shot with uniform sampling, Guo et al. 2020; AceNAS's source of
weak labels): every step samples one cell uniformly from the 5^6 op assignments and
trains the supernet weights that cell uses on one augmented minibatch (SGD, Nesterov
momentum, cosine learning rate, weight decay). The network is
:func:`jaxnas.weight_sharing.nb201_network.supernet` (``lax.switch`` per edge, so a step costs
what the sampled cell costs). Steps are a ``lax.scan``; every random draw derives from
(seed, step), so a run resumed from a checkpoint equals an uninterrupted one.

Evaluation: every NB201 cell, with the inherited supernet weights, on held-out training
images (never the test split), via ``lax.map`` over cells (one cell at a time; a vmap
over ops would compute every branch of every switch). BN uses each evaluation batch's
own statistics (the network has no running averages), as NB201 supernets are usually
evaluated. Gives accuracy (%) and mean cross-entropy per cell: the weak labels.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.config import Config, field
from jaxnas.weight_sharing import input_pipeline, nb201_network


@dataclasses.dataclass(frozen=True)
class SupernetConfig(Config):
    """Sizes default to what trains in minutes on a shared 2-core CPU."""

    label = "supernet"

    channels: int = field(8, "C: channels of the first stage of the NB201 supernet.", lower=1)
    cells_per_stage: int = field(1, "Cells per stage (the benchmark network has 5).", lower=1)
    batch_size: int = field(128, "Training minibatch size.", lower=1)
    epochs: int = field(10, "Training epochs over the training images.", lower=1)
    learning_rate: float = field(0.05, "SGD-Nesterov peak learning rate (cosine decay to 0).", above=0.0)
    momentum: float = field(0.9, "Nesterov momentum.", lower=0.0, below=1.0)
    weight_decay: float = field(5e-4, "L2 regularisation.", lower=0.0)
    num_valid: int = field(1000, "Training images held out for evaluating cells.", lower=1)
    eval_images: int = field(200, "Held-out images used per cell (cost: 15,625 x eval_images forwards).",
                             lower=1)
    # BN statistics are per batch: keep batches >= ~50 images.
    eval_batch: int = field(100, "Evaluation batch size.", lower=1)
    eval_chunk: int = field(625, "Cells per compiled evaluation call (progress, memory).", lower=1)
    seed: int = field(0, "Seed of the held-out split, the initialisation and the training order.")

    def cross_check(self):
        if self.eval_images > self.num_valid or self.eval_images % self.eval_batch:
            raise ValueError(f"supernet eval_images ({self.eval_images}) must be <= num_valid "
                             f"({self.num_valid}) and a multiple of eval_batch ({self.eval_batch})")


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    step: jax.Array  # int32: steps done


def make_model(config: SupernetConfig) -> nb201_network.NB201Network:
    return nb201_network.supernet(config.channels, config.cells_per_stage)


def steps_per_epoch(config: SupernetConfig, num_train: int) -> int:
    return num_train // config.batch_size


def make_optimizer(config: SupernetConfig, total_steps: int) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(config.learning_rate, max(total_steps, 1))
    return optax.chain(optax.add_decayed_weights(config.weight_decay),
                       optax.sgd(schedule, momentum=config.momentum, nesterov=True))


def sample_ops(key: jax.Array) -> jax.Array:
    """int32[6]: a uniformly random NB201 cell (every op assignment equally likely)."""
    return jax.random.randint(key, (nb201_network.NUM_EDGES,), 0, nb201_network.NUM_OPS, jnp.int32)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def init_state(key: jax.Array, model, optimizer) -> TrainState:
    params = nb201_network.init(key, model)
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


def used_leaves(grads: Any) -> Any:
    """Per parameter leaf, a bool scalar: did this step's architectures use it (any gradient != 0)?

    A weight-sharing step runs only the sampled ops, so every other op's weights get an
    exactly zero gradient (``lax.switch`` differentiates the chosen branch only).
    """
    return jax.tree_util.tree_map(lambda g: jnp.any(g != 0), grads)


def apply_to_used(optimizer: optax.GradientTransformation, grads: Any, opt_state: Any, params: Any):
    """(params, opt_state) after one ``optimizer`` step that leaves unused weights alone.

    Weight decay and momentum would otherwise keep moving (and shrinking) the weights of
    ops the step did not sample, so an op's weights would depend on how often OTHER ops
    were drawn. Leaves not used (:func:`used_leaves`) keep their value and their
    optimiser state (every params-shaped part of ``opt_state``, e.g. the momentum trace);
    scalar state such as the schedule's step count advances as usual.
    """
    used = used_leaves(grads)
    updates, new_state = optimizer.update(grads, opt_state, params)
    new_params = jax.tree_util.tree_map(lambda p, u, m: jnp.where(m, p + u, p), params, updates, used)
    params_def = jax.tree_util.tree_structure(params)

    def params_like(x) -> bool:
        return jax.tree_util.tree_structure(x) == params_def

    def keep_unused(new, old):
        if params_like(new):
            return jax.tree_util.tree_map(lambda m, a, b: jnp.where(m, a, b), used, new, old)
        return new

    return new_params, jax.tree_util.tree_map(keep_unused, new_state, opt_state, is_leaf=params_like)


def make_train_chunk(model, optimizer, train: input_pipeline.Split, mean, std, batch_size: int,
                     num_steps: int) -> Callable[[TrainState, jax.Array], tuple[TrainState, jax.Array]]:
    """Jitted (state, key) -> (state, losses float[num_steps]): ``num_steps`` single-path
    steps from ``state.step``; step t uses fold_in(key, t) only (resumable)."""
    images = jnp.asarray(train.images)
    labels = jnp.asarray(train.labels)

    def step(state: TrainState, key):
        step_key = jax.random.fold_in(key, state.step)
        data_key = jax.random.fold_in(jax.random.fold_in(key, 0), 2**31 - 1)  # one permutation stream per epoch
        ops_key, aug_key = jax.random.split(step_key)
        batch = input_pipeline.batch_indices(data_key, state.step, labels.shape[0], batch_size)
        x = input_pipeline.augment(aug_key, images[batch], mean, std)
        ops = sample_ops(ops_key)

        def loss_fn(params):
            return jnp.mean(cross_entropy(model.apply(params, x, ops), labels[batch]))

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        params, opt_state = apply_to_used(optimizer, grads, state.opt_state, state.params)
        return TrainState(params, opt_state, state.step + 1), loss

    @jax.jit
    def chunk(state, key):
        return jax.lax.scan(lambda s, _: step(s, key), state, None, length=num_steps)

    return chunk


def eval_arrays(images: np.ndarray, labels: np.ndarray, mean, std, eval_batch: int) -> tuple[jax.Array, jax.Array]:
    """(x float32 [n, eval_batch, H, W, C] normalised, y int32 [n, eval_batch]): images as
    :func:`make_arch_evaluator` takes them (``eval_batch`` must divide their number)."""
    split = input_pipeline.Split(np.asarray(images), np.asarray(labels, np.int32))
    batched_images, batched_labels = input_pipeline.eval_batches(split, eval_batch)
    return input_pipeline.normalize(jnp.asarray(batched_images), mean, std), jnp.asarray(batched_labels)


def make_arch_evaluator(apply_fn: Callable) -> Callable:
    """Jitted (params, archs, x, y) -> (accuracy % float[C], mean CE float[C]), x, y from :func:`eval_arrays`.

    ``apply_fn(params, images, arch) -> logits``; ``archs`` is a pytree of C architectures
    stacked on a leading axis (NB201: ``ops int32[C, 6]``). ``lax.map`` over the
    architectures (one at a time: a vmapped switch index would run every branch) and over
    the batches within one (BN uses each batch's statistics). The images are arguments,
    so one compiled program serves every data split of the same shape.
    """
    @jax.jit
    def evaluate(params, archs, x, y):
        def one_arch(arch):
            def one_batch(batch):
                logits = apply_fn(params, batch[0], arch)
                return jnp.sum(jnp.argmax(logits, -1) == batch[1]), jnp.sum(cross_entropy(logits, batch[1]))

            correct, loss = jax.lax.map(one_batch, (x, y))
            return 100.0 * jnp.sum(correct) / y.size, jnp.sum(loss) / y.size

        return jax.lax.map(one_arch, archs)

    return evaluate


def make_cell_evaluator(model, images: np.ndarray, labels: np.ndarray, mean, std, eval_batch: int):
    """(params, ops int32[C, 6]) -> (accuracy % float[C], mean CE float[C]) of NB201 cells on these images."""
    evaluate = make_arch_evaluator(model.apply)
    x, y = eval_arrays(images, labels, mean, std, eval_batch)
    return lambda params, ops: evaluate(params, ops, x, y)


def evaluate_all(evaluate, params, all_ops: np.ndarray, chunk: int, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, loss) float32[N] for every row of ``all_ops`` int[N, 6], ``chunk`` cells
    per call (the last chunk padded, so one compiled program serves all)."""
    num = all_ops.shape[0]
    accuracy = np.zeros(num, np.float32)
    loss = np.zeros(num, np.float32)
    start = time.perf_counter()
    for first in range(0, num, chunk):
        rows = np.arange(first, first + chunk) % num  # pad by wrapping
        acc, ce = jax.device_get(evaluate(params, jnp.asarray(all_ops[rows], jnp.int32)))
        real = min(chunk, num - first)
        accuracy[first:first + real], loss[first:first + real] = acc[:real], ce[:real]
        log(f"supernet: evaluated {first + real}/{num} cells, {time.perf_counter() - start:.0f}s")
    return accuracy, loss
