"""AceNAS (Zhang et al., "Learning to Rank Ace Neural Architectures with Weak Supervision
of Weight Sharing"): a cell-graph GCN ranker trained with LambdaRank towards NDCG,
optionally pretrained on weak labels.

* Ranker: the project's cell-graph GCN (:mod:`jaxnas.predictors.gcn`; one implementation),
  4 graph convolutions x 64 units as in the reference, then an FC layer and a scalar
  head. Not as in the reference: the reference's DGL GraphConv layers aggregate along the
  edges only, with SortPooling + Conv1d as readout, a fused 128-unit layer and a
  dropout-0.5 head; ours average both edge directions with self-loops, mean-pool, and use
  ``fc_hidden`` units (64 in the default, 128 in the paper preset) without dropout.
* Loss: :func:`lambdarank_loss` -- for every pair (i, j) of a batch with rel_i > rel_j,
  ``|dNDCG_ij| * log(1 + exp(-sigma (s_i - s_j)))`` where ``dNDCG_ij`` is the change of the
  batch's NDCG when i and j swap positions: ``|g_i - g_j| |D(p_i) - D(p_j)| / IDCG``,
  gain ``g = 2^rel - 1``, discount ``D(p) = 1 / log2(p + 2)``. All B x B pairs at once (no
  loops), jittable. Positions p come from the predicted scores (textbook LambdaRank,
  ``positions="predicted"``, the project default); the reference code uses the
  ground-truth order (``positions="true"``, the paper preset). ``finetune_loss="mse"``
  trains the same model with the same optimiser by regression on ``mse_targets`` (rank
  normal scores by default) instead, so the loss alone is compared.
* Relevance: :func:`jaxnas.metrics.relevance` of the training labels,
  ``20 * clip((acc - q20) / (max - q20), 0, 1)`` with q20/max of the training labels (as
  the reference's RelevanceCalculator).
* Weak supervision (:func:`load_weak_labels`, :func:`weak_label_source`): ``weak_labels``
  names a table over the space that is not paid for through the query ledger, so its cost
  is declared instead (results.json ``weak_labels``):

  - a weak-label file (``"/path/weak_labels.npz"``, key ``weak_labels``), e.g. a supernet's
    from ``experiments.supernet``: 0 queries, its measured training + evaluation seconds
    (the file's ``train_seconds``/``eval_seconds`` arrays) or "cost unknown";
  - a benchmark column (``"BENCHMARK:COLUMN"``, ``signal`` = that benchmark's search
    signal): cells x (the column's epochs / the searched benchmark's reported column's
    epochs) full-training equivalents, e.g. NB201's 15,625 cells at 12 of 200 epochs = 938.
    Such a table is a free oracle of the whole space, so it is refused unless
    ``allow_table_weak_labels`` is set, and the run is then labelled "table-assisted".
    The searched benchmark's own signal and reported columns (by name or by value) and any
    test-split column (a name containing "test") are always refused.

  The ranker is pretrained once on the weak labels when the predictor is built (LambdaRank
  towards the weak labels' NDCG in the default; MSE on standardised weak labels with Adam
  1e-3 and no weight decay in the paper preset, as the reference's pretrain.py), then every
  ``fit`` finetunes a copy on the ground-truth labels at ``weak_finetune_learning_rate``.
  MSE pretraining ranks the weak column's top badly; LambdaRank pretraining keeps it
  (measurements in docs/design-results.md). The rounds (half of each new
  batch from the predicted top, half random) are the search's job: see
  :mod:`jaxnas.search.acenas`.

Pretraining happens once per (space, weak table, pretraining settings) outside ``fit``:
weak labels cost no queries, and the reference likewise pretrains one model and
finetunes it. Seeds therefore share the pretrained start; they differ in their labelled
sets and finetuning keys. Not as in the reference: every ``fit`` starts again from the
pretrained (or a fresh) ranker, where the reference keeps training one model across its
search rounds; and the reference's early stopping (patience 50 on the training NDCG) and
its 20 % held-out part of the weak table (used only to report the pretraining fit) are
not reproduced.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
import re
import time
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import metrics, training
from jaxnas.predictors import gcn
from jaxnas.config import Config, field
from jaxnas.predictors.base import Predictor, PredictorNetwork, fit_network
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
WEAK_LABEL_KINDS = ("none", "file", "table")


class WeakLabelError(ValueError):
    """A weak-label source that is refused (a side door around the query ledger)."""


@dataclasses.dataclass(frozen=True)
class WeakLabelSource:
    """What a run's weak labels are and what they cost, for results.json.

    ``queries`` is always 0: weak labels never go through the ledger. A table's cost is in
    ``full_training_equivalents`` (cells x its epochs / the reported column's epochs); a
    file's in ``seconds`` (its measured training + evaluation time); None = unknown.
    """

    spec: str
    kind: str  # one of WEAK_LABEL_KINDS
    description: str
    cells: int = 0  # weak-labelled architectures the ranker is pretrained on
    queries: int = 0
    full_training_equivalents: Optional[float] = None
    seconds: Optional[float] = None
    cost_note: str = ""
    table_assisted: bool = False

    @property
    def cost_known(self) -> bool:
        return self.kind == "none" or self.full_training_equivalents is not None or self.seconds is not None

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["cost_known"] = self.cost_known
        if not self.cost_known:
            out["cost_note"] = self.cost_note or "cost unknown"
        return out


_EPOCHS = re.compile(r"(\d+)\s*ep")


def _epochs(name: str) -> Optional[int]:
    """Training epochs a column's name states (``cifar10_valid_12ep`` -> 12), or None."""
    match = _EPOCHS.search(name)
    return int(match.group(1)) if match else None


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def _load_benchmark(name: str, data_dir: Optional[str]):
    from jaxnas import benchmarks  # lazy: loading tables is heavy

    return benchmarks.load_benchmark(name, data_dir)


def _refuse_searched_columns(spec: str, values: np.ndarray, searched) -> None:
    """WeakLabelError when ``values`` are the searched benchmark's signal or reported column."""
    for role, column, name in [("search signal", searched.signal, searched.signal_name),
                               ("reported", searched.reported, searched.reported_name)]:
        if _same_values(values, column):
            raise WeakLabelError(f"weak labels {spec!r} are {searched.name}'s own {role} column ({name}): "
                                 f"refused, the search would see its own answers outside the query ledger")


def _table_column(bench, column: str) -> tuple[np.ndarray, str]:
    """(values, the column's full name) of ``bench``'s column ``column`` (``signal``/``reported``
    name the search signal and the reported column)."""
    if column in ("signal", bench.signal_name):
        return np.asarray(bench.signal, np.float32), bench.signal_name
    if column in ("reported", bench.reported_name):
        return np.asarray(bench.reported, np.float32), bench.reported_name
    if column in bench.columns:
        return np.asarray(bench.columns[column], np.float32), column
    raise WeakLabelError(f"benchmark {bench.name} has no column {column!r}; it has "
                         f"{sorted(bench.columns)} (or 'signal')")


def _table_cost(bench, column: str, full_name: str, searched, cells: int) -> tuple[Optional[float], str]:
    """(full-training equivalents or None, how they were counted) of ``cells`` cells of a table column."""
    if column in ("params", "latency"):
        return 0.0, f"{column}: computed without training"
    reported_epochs = _epochs(searched.reported_name) if searched is not None else None
    epochs = _epochs(full_name)
    if epochs is not None and reported_epochs:
        return cells * epochs / reported_epochs, (f"{cells} cells x {epochs} epochs / {reported_epochs} epochs "
                                                  f"of {searched.name}'s reported column")
    from jaxnas import benchmarks

    same_protocol = (searched is not None and column == "signal"
                     and benchmarks.space_family(bench.name) == benchmarks.space_family(searched.name) == "nbgraph")
    if same_protocol:  # NAS-Bench-Graph trains every dataset with the same schedule
        return float(cells), f"{cells} cells x 1 full training (on {bench.name}, not {searched.name})"
    return None, f"cost unknown: the epochs of {full_name!r} relative to the reported column are not known"


def _file_cost(table) -> tuple[Optional[float], str]:
    """(seconds, note) from a weak-label file's ``train_seconds`` / ``eval_seconds``."""
    parts = {}
    for key in ("train_seconds", "eval_seconds"):
        if key in table.files:
            value = np.asarray(table[key], np.float64).reshape(-1)
            if value.size != 1 or not np.isfinite(value[0]) or value[0] < 0:
                raise WeakLabelError(f"weak-label file {key} must be one finite number of seconds >= 0, got {value}")
            parts[key] = float(value[0])
    if len(parts) < 2:
        return None, "cost unknown: the file records no train_seconds and eval_seconds"
    steps = f", {int(np.asarray(table['steps']).reshape(-1)[0])} training steps" if "steps" in table.files else ""
    return parts["train_seconds"] + parts["eval_seconds"], (
        f"measured: training {parts['train_seconds']:.0f} s + evaluation {parts['eval_seconds']:.0f} s{steps}")


def _cells_used(values: np.ndarray, pretrain_size: int) -> int:
    """Weak-labelled cells pretraining uses: all finite ones, or ``pretrain_size`` of them."""
    cells = int(np.isfinite(values).sum())
    return min(cells, pretrain_size) if pretrain_size else cells


def _resolve(spec: str, num_architectures: Optional[int], space_name: Optional[str], searched_benchmark: str,
             allow_table: bool, pretrain_size: int,
             data_dir: Optional[str]) -> tuple[Optional[np.ndarray], WeakLabelSource]:
    """The weak labels ``spec`` names and their declared source; refuses the side doors."""
    if not spec:
        return None, WeakLabelSource(spec="", kind="none", description="no weak labels")
    searched = _load_benchmark(searched_benchmark, data_dir) if searched_benchmark else None
    if searched is not None:
        space_name = space_name or searched.search_space.name
        num_architectures = num_architectures or searched.search_space.num_architectures
    if spec.endswith(".npz"):
        path = pathlib.Path(spec)
        if not path.is_file():
            raise WeakLabelError(f"weak-label file {spec} does not exist (run experiments.supernet first)")
        with np.load(path, allow_pickle=False) as table:
            if "weak_labels" not in table.files:
                raise WeakLabelError(f"{spec} has no 'weak_labels' array (has {table.files})")
            values = np.asarray(table["weak_labels"], np.float32)
            seconds, note = _file_cost(table)
        kind, description, full_training_equivalents, table_assisted = "file", f"weak-label file {spec}", None, False
    elif ":" in spec:
        bench_name, column = spec.split(":", 1)
        bench = _load_benchmark(bench_name, data_dir)
        if space_name is not None and bench.search_space.name != space_name:
            raise WeakLabelError(f"weak labels {spec!r} are over the {bench.search_space.name} space, not {space_name}")
        values, full_name = _table_column(bench, column)
        if "test" in column.lower() or "test" in full_name.lower():
            raise WeakLabelError(f"weak labels {spec!r}: column {full_name!r} is a test-split column: refused "
                                 f"(test results may never guide a search)")
        if searched is not None and bench.name == searched.name and column in ("signal", "reported"):
            raise WeakLabelError(f"weak labels {spec!r} are {searched.name}'s own {column} column ({full_name}): "
                                 f"refused, the search would see its own answers outside the query ledger")
        if searched is not None:
            _refuse_searched_columns(spec, values, searched)
        if not searched_benchmark:
            raise WeakLabelError(f"weak labels {spec!r} are a benchmark table: name the searched benchmark "
                                 f"(AceNASConfig.searched_benchmark, set by for_benchmark) so that its own columns "
                                 f"can be refused")
        cells = _cells_used(values, pretrain_size)
        full_training_equivalents, note = _table_cost(bench, column, full_name, searched, cells)
        if not allow_table:
            cost = (f"about {full_training_equivalents:,.0f} full-training equivalents" if full_training_equivalents
                    is not None else "a cost not known here")
            raise WeakLabelError(
                f"weak labels {spec!r} are a whole benchmark table ({cells:,} cells, {cost}) outside the query "
                f"ledger: pass --acenas_allow_table_weak_labels (allow_table_weak_labels=True) to run it, "
                f"labelled table-assisted")
        kind, description, seconds, table_assisted = "table", f"{bench.name} column {full_name}", None, True
    else:
        raise WeakLabelError(f"weak_labels must be '' (none), 'BENCHMARK:COLUMN' or a .npz path, got {spec!r}")
    if num_architectures is not None and values.shape != (num_architectures,):
        raise WeakLabelError(f"weak labels {spec!r} have shape {values.shape}, expected "
                             f"({num_architectures},) over the {space_name} enumeration")
    if np.isfinite(values).sum() < 2:
        raise WeakLabelError(f"weak labels {spec!r} hold fewer than 2 finite values")
    if kind == "file" and searched is not None:
        _refuse_searched_columns(spec, values, searched)
    source = WeakLabelSource(spec=spec, kind=kind, description=description, cells=_cells_used(values, pretrain_size),
                             full_training_equivalents=full_training_equivalents, seconds=seconds,
                             cost_note=note, table_assisted=table_assisted)
    return values, source


def load_weak_labels(spec: str, space: spaces_base.SearchSpace, data_dir: Optional[str] = None,
                     searched_benchmark: str = "", allow_table: bool = False) -> np.ndarray:
    """float32[space.num_architectures] weak labels (NaN = none) named by ``spec``:
    ``"BENCHMARK:COLUMN"`` (a benchmark's column; ``signal`` = its search signal, e.g.
    ``"nbgraph_citeseer:signal"`` for nbgraph_cora: cross-dataset weak supervision) or a
    path to an ``.npz`` holding ``weak_labels`` over the space's enumeration.

    Raises WeakLabelError for the searched benchmark's own signal/reported column, a
    test-split column, or any table without ``allow_table`` (see the module docstring).
    """
    values, _ = _resolve(spec, space.num_architectures, space.name, searched_benchmark, allow_table, 0, data_dir)
    if values is None:
        raise WeakLabelError("no weak labels named (weak_labels='')")
    return values


def weak_label_source(config: "AceNASConfig", data_dir: Optional[str] = None) -> WeakLabelSource:
    """What ``config``'s weak labels are and cost (refusing what :func:`load_weak_labels` refuses)."""
    return _resolve(config.weak_labels, None, None, config.searched_benchmark, config.allow_table_weak_labels,
                    config.pretrain_size, data_dir)[1]


# ----------------------------------------------------------------------------- predictor
@dataclasses.dataclass(frozen=True)
class AceNASConfig(Config):
    """AceNAS ranker, loss and weak-supervision settings: the project default (fields) and
    the reference's (:data:`PAPER`, via :meth:`paper`)."""

    label = "acenas"

    num_layers: int = field(4, "Ranker: graph-convolution layers.", lower=1)
    hidden: int = field(64, "Ranker: units of each graph-convolution layer.", lower=1)
    fc_hidden: int = field(64, "Ranker: units of the head's hidden layer.", lower=1)
    directions: str = field("both", "Ranker: edges each layer aggregates over: forward, reverse, both (separate "
                                    "weights) or undirected.", choices=gcn.DIRECTIONS)
    dropout: float = field(0.0, "Ranker: dropout rate.", lower=0.0, below=1.0)
    learning_rate: float = field(1e-3, "Finetuning from scratch (no weak labels): Adam peak learning rate.",
                                 above=0.0)
    # 10x gentler, so that a few labels refine the pretrained top instead of overwriting it.
    weak_finetune_learning_rate: float = field(1e-4, "Finetuning a weak-label-pretrained ranker: Adam peak "
                                                     "learning rate.", above=0.0)
    weight_decay: float = field(1e-4, "Finetuning: L2 regularisation.", lower=0.0)
    batch_size: int = field(64, "Finetuning minibatch size (LambdaRank sees the pairs within a batch: keep "
                                "it large).", lower=1)
    epochs: int = field(200, "Finetuning epochs on the ground-truth labels (0: the pretrained ranker only, "
                             "with weak_labels).", lower=0)
    positions: str = field("predicted", "LambdaRank positions: the predicted scores' order or the true order.",
                           choices=POSITIONS)
    sigma: float = field(1.0, "LambdaRank: scale of the score differences in the pairwise logistic loss.",
                         above=0.0)
    finetune_loss: str = field("lambdarank", "Finetuning loss: lambdarank, or mse (the same model and optimiser, "
                                             "regression on mse_targets).", choices=LOSSES)
    # Rank targets, as for Wen et al.'s GCN: the few collapsed cells do not dominate the MSE.
    mse_targets: str = field("rank", "Targets of finetune_loss=mse: 'rank' (normal scores of the labels' ranks) "
                                     "or 'standardise' (the reference's normaliser).", choices=training.TARGETS)
    weak_labels: str = field("", "Weak labels to pretrain on: '' (none), a weak-label .npz (e.g. a supernet's) "
                                 "or BENCH:COLUMN (a benchmark table).")
    # A table is a free oracle of the whole space.
    allow_table_weak_labels: bool = field(False, "Allow a benchmark table as weak labels (the run is then "
                                                 "table-assisted in results.json).")
    searched_benchmark: str = field("", "The benchmark this ranker serves (set by the presets): its own signal "
                                        "and reported columns are refused as weak labels.")
    # LambdaRank keeps the weak column's top (NDCG@10 ~0.97).
    pretrain_loss: str = field("lambdarank", "Pretraining loss on the weak labels: lambdarank or mse.",
                               choices=LOSSES)
    pretrain_epochs: int = field(20, "Pretraining epochs over the weak-labelled architectures.", lower=1)
    pretrain_batch_size: int = field(256, "Pretraining minibatch size.", lower=1)
    pretrain_learning_rate: float = field(1e-3, "Pretraining: Adam peak learning rate.", above=0.0)
    pretrain_weight_decay: float = field(1e-4, "Pretraining: L2 regularisation.", lower=0.0)
    pretrain_size: int = field(0, "Weak-labelled architectures used for pretraining (0 = all).", lower=0)
    pretrain_seed: int = field(0, "Seed of the pretraining (initialisation, shuffling, subset).")
    predict_chunk: int = field(4096, "Architectures scored per compiled call (memory bound).", lower=1)

    @classmethod
    def for_benchmark(cls, benchmark_name):
        return cls(searched_benchmark=benchmark_name)

    @classmethod
    def paper(cls, benchmark_name):
        """The reference's settings (:data:`PAPER`), the same for every space family."""
        return cls(searched_benchmark=benchmark_name, **PAPER)

    def cross_check(self):
        if self.epochs == 0 and not self.weak_labels:
            raise ValueError(f"acenas epochs must be >= 1 (or 0 with weak_labels: no finetuning), got {self.epochs}")
        if self.weak_labels:
            weak_label_source(self)  # refuses the side doors before any work (WeakLabelError)


# The reference's settings (ultmaster/AceNAS, gcn/benchmarks/{pretrain,train}.py and the
# README's finetuning command), scaled down only where the CPU forces it:
# * finetuning: LambdaRank with the ground-truth order's positions, Adam lr 5e-3 with L2
#   5e-4 and cosine decay, batch 20, 300 epochs (no early stopping: the reference stops
#   after 50 epochs without a better training NDCG);
# * pretraining: MSE on standardised weak labels, Adam lr 1e-3 without weight decay,
#   cosine, batch 20 -- 20 epochs instead of the reference's 300 (CPU), one head (the
#   reference adds FLOPs and parameter-count heads);
# * the FC layer has the reference's 128 units.
PAPER = dict(
    fc_hidden=128,
    learning_rate=5e-3,
    weak_finetune_learning_rate=5e-3,
    weight_decay=5e-4,
    batch_size=20,
    epochs=300,
    positions="true",
    finetune_loss="lambdarank",
    mse_targets="standardise",
    pretrain_loss="mse",
    pretrain_epochs=20,
    pretrain_batch_size=20,
    pretrain_learning_rate=1e-3,
    pretrain_weight_decay=0.0,
)


def make_model(config: AceNASConfig) -> gcn.GraphRegressor:
    return gcn.make_model(gcn.GCNConfig(num_layers=config.num_layers, hidden=config.hidden,
                                        fc_hidden=config.fc_hidden, directions=config.directions,
                                        dropout=config.dropout))


def _loss(name: str, config: AceNASConfig):
    if name == "mse":
        return gcn.mse_loss
    return functools.partial(lambdarank_loss, positions=config.positions, sigma=config.sigma)


def pretrain_network(space: spaces_base.SearchSpace, config: AceNASConfig, train_steps: int) -> PredictorNetwork:
    """The ranker as pretrained on weak labels (``pretrain_loss``, pretraining optimiser)."""
    optimizer = gcn.make_optimizer(config.pretrain_learning_rate, config.pretrain_weight_decay, train_steps)
    return gcn.regression_network(make_model(config), space, optimizer, _loss(config.pretrain_loss, config))


def finetune_network(space: spaces_base.SearchSpace, config: AceNASConfig, train_steps: int,
                     pretrained: bool = False) -> PredictorNetwork:
    """The ranker as each ``fit`` trains it on ground-truth labels (``finetune_loss``; the
    gentler ``weak_finetune_learning_rate`` when it starts from the pretrained ranker)."""
    learning_rate = config.weak_finetune_learning_rate if pretrained else config.learning_rate
    optimizer = gcn.make_optimizer(learning_rate, config.weight_decay, train_steps)
    return gcn.regression_network(make_model(config), space, optimizer, _loss(config.finetune_loss, config))


def _targets(name: str, labels: jax.Array, mse_targets: str = "standardise") -> jax.Array:
    """Relevance for LambdaRank (q20/max of these labels); for MSE, ``mse_targets`` of
    :func:`jaxnas.training.regression_targets` (standardised labels or their ranks' normal scores)."""
    if name == "lambdarank":
        return metrics.relevance(labels)
    return training.regression_targets(mse_targets, labels, jnp.ones(labels.shape, bool))[0]


def finetune_targets(config: AceNASConfig, labels: jax.Array) -> jax.Array:
    """The targets each ``fit`` finetunes on (see :func:`finetune_network`)."""
    return _targets(config.finetune_loss, labels, config.mse_targets)


_PRETRAINED: dict = {}


def _config_weak_labels(space: spaces_base.SearchSpace, config: AceNASConfig, data_dir: Optional[str]) -> np.ndarray:
    return load_weak_labels(config.weak_labels, space, data_dir, config.searched_benchmark,
                            config.allow_table_weak_labels)


def pretrain(space: spaces_base.SearchSpace, config: AceNASConfig, weak: np.ndarray, log=logging.info):
    """Params of the ranker trained on every (or ``pretrain_size`` random) weak-labelled
    architecture with ``pretrain_loss``; cached per (space, table, settings)."""
    cache_key = (space.name, space.num_architectures, config.weak_labels, config.pretrain_loss,
                 config.pretrain_epochs, config.pretrain_batch_size, config.pretrain_learning_rate,
                 config.pretrain_size, config.pretrain_seed, config.num_layers, config.hidden,
                 config.fc_hidden, config.directions, config.dropout, config.positions, config.sigma,
                 config.pretrain_weight_decay, config.searched_benchmark, config.allow_table_weak_labels)
    if cache_key in _PRETRAINED:
        return _PRETRAINED[cache_key]
    indices = np.flatnonzero(np.isfinite(weak)).astype(np.int32)
    rng = np.random.default_rng(config.pretrain_seed)
    if config.pretrain_size and config.pretrain_size < len(indices):
        indices = np.sort(rng.choice(indices, config.pretrain_size, replace=False))
    batch = min(config.pretrain_batch_size, len(indices))
    network = pretrain_network(space, config, config.pretrain_epochs * training.num_batches(len(indices), batch))

    @jax.jit
    def run(key, idx, values):
        graphs = gcn.cell_graphs(space, space.from_index_batch(idx))
        return fit_network(key, network, graphs, _targets(config.pretrain_loss, values), batch,
                           config.pretrain_epochs)

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
    pretrained = None
    if config.weak_labels:
        pretrained = pretrain(space, config, _config_weak_labels(space, config, data_dir))

    def fit(key, labelled, labels, unlabelled=None):
        del unlabelled  # weak labels, not the unlabelled pool, are AceNAS's extra signal
        if config.epochs == 0:  # ablation: the weak-label ranker alone
            return AceNASState(pretrained)
        labels = jnp.asarray(labels, jnp.float32)
        num = labels.shape[0]
        batch_size = min(config.batch_size, num)
        network = finetune_network(space, config, config.epochs * training.num_batches(num, batch_size),
                                   pretrained is not None)
        params, _ = fit_network(key, network, gcn.cell_graphs(space, labelled),
                                finetune_targets(config, labels), batch_size,
                                config.epochs, params=pretrained)
        return AceNASState(params)

    def predict(state, archs):
        return gcn.predict_scores(finetune_network(space, config, 1), state.params, space, archs,
                                  config.predict_chunk)

    return Predictor(fit=fit, predict=predict)


def pretrained_scores(space: spaces_base.SearchSpace, config: AceNASConfig, archs,
                      data_dir: Optional[str] = None) -> Optional[jax.Array]:
    """Scores of ``archs`` by the weak-label-pretrained ranker (None without weak labels)."""
    if not config.weak_labels:
        return None
    params = pretrain(space, config, _config_weak_labels(space, config, data_dir))
    return gcn.predict_scores(pretrain_network(space, config, 1), params, space, archs, config.predict_chunk)
