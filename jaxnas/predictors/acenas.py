"""AceNAS (Zhang et al., "Learning to Rank Ace Neural Architectures with Weak Supervision
of Weight Sharing"): a cell-graph GCN ranker trained with LambdaRank towards NDCG,
optionally pretrained on free weak labels.

* Ranker: the project's cell-graph GCN (:mod:`jaxnas.predictors.gcn`; one implementation),
  by default 4 graph convolutions x 64 units, self-loops, a 64-unit FC layer and a scalar
  head, as in the reference.
* Loss: :func:`lambdarank_loss` -- for every pair (i, j) of a batch with rel_i > rel_j,
  ``|dNDCG_ij| * log(1 + exp(-sigma (s_i - s_j)))`` where ``dNDCG_ij`` is the change of the
  batch's NDCG when i and j swap positions: ``|g_i - g_j| |D(p_i) - D(p_j)| / IDCG``,
  gain ``g = 2^rel - 1``, discount ``D(p) = 1 / log2(p + 2)``. All B x B pairs at once (no
  loops), jittable. Positions p come from the predicted scores (textbook LambdaRank,
  ``positions="predicted"``); the reference code uses the ground-truth order
  (``positions="true"``).
* Relevance: :func:`jaxnas.metrics.relevance` of the training labels,
  ``20 * clip((acc - q20) / (max - q20), 0, 1)`` with q20/max of the training labels.
* Weak supervision: ``weak_labels`` names a free, label-less-to-the-search table over the
  space -- a low-fidelity benchmark column (``"nb201_cifar10:cifar10_valid_12ep"``,
  ``"nb101_subset:val_acc_4ep"``), another dataset's table over the same space
  (``"nbgraph_citeseer:signal"``) or a supernet weak-label file written by
  ``experiments.supernet`` (``"/path/weak_labels.npz"``, key ``weak_labels``). The ranker
  is pretrained once on it (LambdaRank towards the weak labels' NDCG by default, or
  ``pretrain_loss="mse"``: regression on standardised weak labels) when the predictor is
  built, then every ``fit`` finetunes a copy with LambdaRank on the ground-truth labels
  at ``weak_finetune_learning_rate`` (gentler than from scratch). Measured on
  nb201_cifar10 (BUILD_NOTES): MSE pretraining ranks the top badly (NDCG@10 ~0.04 before
  finetuning), LambdaRank pretraining keeps the weak column's top (NDCG@10 ~0.97). The rounds (half of each new batch from the
  predicted top, half random) are the search's job: see :mod:`jaxnas.search.acenas`.

Pretraining happens once per (space, weak table, pretraining settings) outside ``fit``:
weak labels cost no queries, and the reference likewise pretrains one model and
finetunes it. Seeds therefore share the pretrained start; they differ in their labelled
sets and finetuning keys.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
import time
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import metrics, training
from jaxnas.predictors import gcn
from jaxnas.predictors.base import Config, Predictor
from jaxnas.spaces import base as spaces_base

POSITIONS = ("predicted", "true")
LOSSES = ("lambdarank", "mse")


# ----------------------------------------------------------------------------- LambdaRank
def _positions(values: jax.Array, weights: jax.Array) -> jax.Array:
    """int32[B]: 0-based position of each item when sorted by descending value; padding
    items (weight 0) are placed after every real item."""
    keyed = jnp.where(weights > 0, values, -jnp.inf)
    order = jnp.argsort(-keyed, stable=True)
    return jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0], dtype=order.dtype))


def lambda_weights(scores: jax.Array, relevance: jax.Array, weights: jax.Array,
                   positions: str = "predicted") -> jax.Array:
    """float[B, B]: |dNDCG_ij| for pairs with rel_i > rel_j (both real), 0 otherwise."""
    if positions not in POSITIONS:
        raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
    real = weights > 0
    gains = jnp.where(real, 2.0**relevance - 1.0, 0.0)
    ranked_by = jax.lax.stop_gradient(scores) if positions == "predicted" else relevance
    discount = 1.0 / jnp.log2(_positions(ranked_by, weights).astype(jnp.float32) + 2.0)
    ideal_discount = 1.0 / jnp.log2(jnp.arange(gains.shape[0], dtype=jnp.float32) + 2.0)
    idcg = jnp.sum(jnp.sort(gains)[::-1] * ideal_discount)
    delta = jnp.abs(gains[:, None] - gains[None, :]) * jnp.abs(discount[:, None] - discount[None, :])
    pair = (relevance[:, None] > relevance[None, :]) & real[:, None] & real[None, :]
    return jnp.where(pair, delta / jnp.maximum(idcg, 1e-12), 0.0)


def lambdarank_loss(scores: jax.Array, relevance: jax.Array, weights: jax.Array,
                    positions: str = "predicted", sigma: float = 1.0) -> jax.Array:
    """LambdaRank: sum over pairs rel_i > rel_j of |dNDCG_ij| log(1 + exp(-sigma (s_i - s_j))).

    The |dNDCG| weights are constants (no gradient flows through positions), so
    d loss / d s_i = -sum_j lambda_ij as in Burges (2010). A plain sum, not a mean over
    pairs: the |dNDCG_ij| (normalised by the batch's IDCG) already sum to O(1), and a
    mean over the ~B^2/2 pairs made the gradients so small that weight decay erased the
    network (measured: constant scores after pretraining on 15,625 weak labels).
    """
    chex_shape = scores.shape
    if relevance.shape != chex_shape or weights.shape != chex_shape or scores.ndim != 1:
        raise ValueError(f"scores, relevance and weights must be float[B], got {scores.shape}, "
                         f"{relevance.shape}, {weights.shape}")
    lam = jax.lax.stop_gradient(lambda_weights(scores, relevance, weights, positions))
    logistic = jax.nn.softplus(-sigma * (scores[:, None] - scores[None, :]))
    return jnp.sum(lam * logistic)


# ----------------------------------------------------------------------------- weak labels
def load_weak_labels(spec: str, space: spaces_base.SearchSpace, data_dir: Optional[str] = None) -> np.ndarray:
    """float32[space.num_architectures] weak labels (NaN = none) named by ``spec``:
    ``"BENCHMARK:COLUMN"`` (a benchmark's extra column, e.g. a low-fidelity accuracy) or
    a path to an ``.npz`` holding ``weak_labels`` over the space's enumeration. The column
    ``signal`` is that benchmark's search signal: with another dataset's table over the same
    space (``"nbgraph_citeseer:signal"`` for nbgraph_cora) it is cross-dataset weak supervision."""
    if spec.endswith(".npz"):
        path = pathlib.Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"weak-label file {spec} does not exist (run experiments.supernet first)")
        with np.load(path, allow_pickle=False) as table:
            if "weak_labels" not in table.files:
                raise ValueError(f"{spec} has no 'weak_labels' array (has {table.files})")
            values = np.asarray(table["weak_labels"], np.float32)
    elif ":" in spec:
        from jaxnas import benchmarks  # lazy: loading tables is heavy

        bench_name, column = spec.split(":", 1)
        bench = benchmarks.load_benchmark(bench_name, data_dir)
        if bench.search_space.name != space.name:
            raise ValueError(f"weak labels {spec!r} are over the {bench.search_space.name} space, not {space.name}")
        if column == "signal":  # another table's search signal, e.g. a related dataset's accuracy
            values = np.asarray(bench.signal, np.float32)
        elif column in bench.columns:
            values = np.asarray(bench.columns[column], np.float32)
        else:
            raise ValueError(f"benchmark {bench_name} has no column {column!r}; it has "
                             f"{sorted(bench.columns)} (or 'signal')")
    else:
        raise ValueError(f"weak_labels must be '' (none), 'BENCHMARK:COLUMN' or a .npz path, got {spec!r}")
    if values.shape != (space.num_architectures,):
        raise ValueError(f"weak labels {spec!r} have shape {values.shape}, expected "
                         f"({space.num_architectures},) over the {space.name} enumeration")
    if np.isfinite(values).sum() < 2:
        raise ValueError(f"weak labels {spec!r} hold fewer than 2 finite values")
    return values


# ----------------------------------------------------------------------------- predictor
@dataclasses.dataclass(frozen=True)
class AceNASConfig(Config):
    """AceNAS ranker, loss and weak-supervision settings (defaults: the reference's GCN)."""

    num_layers: int = 4
    hidden: int = 64
    fc_hidden: int = 64
    directions: str = "both"
    dropout: float = 0.0
    learning_rate: float = 1e-3  # finetuning from scratch (no weak labels)
    # Finetuning a weak-label-pretrained ranker: 10x gentler, so that a few labels refine
    # the pretrained top instead of overwriting it (tuned on seeds 100..104; BUILD_NOTES).
    weak_finetune_learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    batch_size: int = 64  # LambdaRank sees the pairs within a batch: keep it large
    epochs: int = 200  # finetuning epochs on the ground-truth labels (0: pretrained ranker only)
    positions: str = "predicted"  # LambdaRank positions: predicted scores | true order
    sigma: float = 1.0
    finetune_loss: str = "lambdarank"
    weak_labels: str = ""  # '' = LambdaRank from scratch; 'BENCH:COLUMN' | path.npz
    pretrain_loss: str = "lambdarank"  # LambdaRank keeps the weak column's top (NDCG@10 ~0.97)
    pretrain_epochs: int = 20
    pretrain_batch_size: int = 256
    pretrain_learning_rate: float = 1e-3
    pretrain_size: int = 0  # weak-labelled architectures used (0 = all)
    pretrain_seed: int = 0
    predict_chunk: int = 4096

    @classmethod
    def for_benchmark(cls, benchmark_name):
        return cls()

    def validate(self):
        if self.epochs < 0 or (self.epochs == 0 and not self.weak_labels):
            raise ValueError(f"acenas epochs must be >= 1 (or 0 with weak_labels: no finetuning), got {self.epochs}")
        positive = ("num_layers", "hidden", "fc_hidden", "batch_size", "pretrain_epochs",
                    "pretrain_batch_size", "predict_chunk")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"acenas {name} must be >= 1, got {getattr(self, name)}")
        if self.positions not in POSITIONS:
            raise ValueError(f"acenas positions must be one of {POSITIONS}, got {self.positions!r}")
        for name in ("finetune_loss", "pretrain_loss"):
            if getattr(self, name) not in LOSSES:
                raise ValueError(f"acenas {name} must be one of {LOSSES}, got {getattr(self, name)!r}")
        if self.directions not in gcn.DIRECTIONS:
            raise ValueError(f"acenas directions must be one of {gcn.DIRECTIONS}, got {self.directions!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"acenas dropout must be in [0, 1), got {self.dropout}")
        if (min(self.learning_rate, self.weak_finetune_learning_rate, self.pretrain_learning_rate, self.sigma) <= 0
                or self.weight_decay < 0):
            raise ValueError("acenas learning rates and sigma must be > 0 and weight_decay >= 0")
        if self.pretrain_size < 0:
            raise ValueError(f"acenas pretrain_size must be >= 0, got {self.pretrain_size}")


def make_model(config: AceNASConfig) -> gcn.GraphRegressor:
    return gcn.make_model(gcn.GCNConfig(num_layers=config.num_layers, hidden=config.hidden,
                                        fc_hidden=config.fc_hidden, directions=config.directions,
                                        dropout=config.dropout))


def _loss(name: str, config: AceNASConfig):
    if name == "mse":
        return gcn.mse_loss
    return functools.partial(lambdarank_loss, positions=config.positions, sigma=config.sigma)


def _targets(name: str, labels: jax.Array) -> jax.Array:
    """Relevance for LambdaRank (q20/max of these labels), standardised labels for MSE."""
    if name == "lambdarank":
        return metrics.relevance(labels)
    return (labels - labels.mean()) / jnp.maximum(labels.std(), 1e-6)


_PRETRAINED: dict = {}


def pretrain(space: spaces_base.SearchSpace, config: AceNASConfig, weak: np.ndarray, log=logging.info):
    """Params of the ranker trained on every (or ``pretrain_size`` random) weak-labelled
    architecture with ``pretrain_loss``; cached per (space, table, settings)."""
    cache_key = (space.name, space.num_architectures, config.weak_labels, config.pretrain_loss,
                 config.pretrain_epochs, config.pretrain_batch_size, config.pretrain_learning_rate,
                 config.pretrain_size, config.pretrain_seed, config.num_layers, config.hidden,
                 config.fc_hidden, config.directions, config.dropout, config.positions, config.sigma,
                 config.weight_decay)
    if cache_key in _PRETRAINED:
        return _PRETRAINED[cache_key]
    indices = np.flatnonzero(np.isfinite(weak)).astype(np.int32)
    rng = np.random.default_rng(config.pretrain_seed)
    if config.pretrain_size and config.pretrain_size < len(indices):
        indices = np.sort(rng.choice(indices, config.pretrain_size, replace=False))
    model = make_model(config)
    batch = min(config.pretrain_batch_size, len(indices))
    steps = config.pretrain_epochs * training.num_batches(len(indices), batch)
    optimizer = gcn.make_optimizer(config.pretrain_learning_rate, config.weight_decay, steps)
    loss = _loss(config.pretrain_loss, config)

    @jax.jit
    def run(key, idx, values):
        graphs = gcn.cell_graphs(space, space.from_index_batch(idx))
        return gcn.fit_regression(key, model, space, graphs, _targets(config.pretrain_loss, values),
                                  optimizer, batch, config.pretrain_epochs, loss)

    start = time.perf_counter()
    params, losses = jax.block_until_ready(
        run(jax.random.key(config.pretrain_seed), jnp.asarray(indices), jnp.asarray(weak[indices])))
    log(f"acenas: pretrained on {len(indices)} weak labels ({config.weak_labels}), "
        f"{config.pretrain_epochs} epochs, loss {float(losses[0]):.4f} -> {float(losses[-1]):.4f}, "
        f"{time.perf_counter() - start:.1f}s")
    _PRETRAINED[cache_key] = params
    return params


class AceNASState(NamedTuple):
    params: Any


def acenas_predictor(space: spaces_base.SearchSpace, config: AceNASConfig = AceNASConfig(),
                     data_dir: Optional[str] = None) -> Predictor:
    """AceNAS ranker: (weak-label pretraining, once) + LambdaRank finetuning per ``fit``."""
    config.validate()
    model = make_model(config)
    pretrained = None
    if config.weak_labels:
        pretrained = pretrain(space, config, load_weak_labels(config.weak_labels, space, data_dir))
    loss = _loss(config.finetune_loss, config)

    def fit(key, labelled, labels, unlabelled=None):
        del unlabelled  # weak labels, not the unlabelled pool, are AceNAS's extra signal
        if config.epochs == 0:  # ablation: the weak-label ranker alone
            return AceNASState(pretrained)
        labels = jnp.asarray(labels, jnp.float32)
        num = labels.shape[0]
        batch_size = min(config.batch_size, num)
        learning_rate = config.weak_finetune_learning_rate if pretrained is not None else config.learning_rate
        optimizer = gcn.make_optimizer(learning_rate, config.weight_decay,
                                       config.epochs * training.num_batches(num, batch_size))
        params, _ = gcn.fit_regression(key, model, space, gcn.cell_graphs(space, labelled),
                                       _targets(config.finetune_loss, labels), optimizer, batch_size,
                                       config.epochs, loss, params=pretrained)
        return AceNASState(params)

    def predict(state, archs):
        return gcn.predict_scores(model, state.params, space, archs, config.predict_chunk)

    return Predictor(fit=fit, predict=predict)


def pretrained_scores(space: spaces_base.SearchSpace, config: AceNASConfig, archs,
                      data_dir: Optional[str] = None) -> Optional[jax.Array]:
    """Scores of ``archs`` by the weak-label-pretrained ranker (None without weak labels)."""
    if not config.weak_labels:
        return None
    params = pretrain(space, config, load_weak_labels(config.weak_labels, space, data_dir))
    return gcn.predict_scores(make_model(config), params, space, archs, config.predict_chunk)
