"""Offline evaluation of architecture-performance predictors on a tabular benchmark.

Protocol (per seed s, key ``fold_in(key(0), s)``):

1. Draw L labelled architectures uniformly without replacement from the benchmark's
   available cells; their labels are the benchmark's SIGNAL column (what a search would
   have paid for).
2. Fit the predictor on them; every other available cell is passed as ``unlabelled``
   (semi-supervised predictors may use them; they never see their values).
3. Score all non-training available cells and compare with the REPORTED column:
   Kendall tau-b, Spearman rho, NDCG@10, precision@top-5 %.

NDCG@10 uses the AceNAS relevance of :func:`jaxnas.metrics.relevance`:
``rel = 20 * clip((acc - q20) / (max - q20), 0, 1)`` where q20 and max are the 20 %
quantile and maximum of the evaluated architectures' reported accuracies, with gain
``2^rel - 1`` and discount ``1 / log2(rank + 2)``; only the top 80 % carry gain and the
very best dominate, which is what a search cares about. precision@5 % is the fraction of
the true top 5 % (k = ceil(0.05 n)) that the predictor also ranks in its top 5 %.

Seeds are vmapped: ``seed_batch`` seeds are fitted, predicted and scored by one compiled
program (all seeds at once by default), sharded over a device mesh along the seed axis
(see :mod:`jaxnas.distributed`; results do not depend on the device count). With a
checkpoint directory the finished seeds' outputs are saved after every seed batch
(:mod:`jaxnas.checkpoint`), so an interrupted evaluation resumes at the next batch.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import checkpoint, distributed, metrics, progress
from jaxnas.benchmarks.base import Benchmark
from jaxnas.predictors.base import Predictor

METRICS = ("kendall_tau", "spearman_rho", "ndcg_at_10", "precision_at_5pct")


@dataclasses.dataclass
class EvalResult:
    benchmark: str
    predictor: str
    num_labels: int
    seeds: np.ndarray  # int[S]
    metrics: dict  # name -> float[S]
    train_indices: np.ndarray  # int32[S, L] space indices of the labelled cells
    test_indices: np.ndarray  # int32[S, T] space indices of the evaluated cells (sorted)
    train_predictions: np.ndarray  # float32[S, L]
    test_predictions: np.ndarray  # float32[S, T]
    wall_seconds: float  # fit + predict + scoring of all seeds, compilation included
    # Checkpointed runs: who made the result (checkpoint.Checkpointer.parts); else empty.
    parts: list = dataclasses.field(default_factory=list)

    def summary(self) -> dict:
        """Per metric: :func:`jaxnas.metrics.summary` over seeds and the per-seed values."""
        return {name: {**metrics.summary(values), "per_seed": [float(v) for v in np.asarray(values, np.float64)]}
                for name, values in self.metrics.items()}

    def to_json(self, extra: Optional[dict] = None) -> dict:
        out = {
            "benchmark": self.benchmark,
            "predictor": self.predictor,
            "num_labels": self.num_labels,
            "seeds": int(len(self.seeds)),
            "seed_list": [int(s) for s in self.seeds],
            "num_evaluated": int(self.test_indices.shape[1]),
            "metrics": self.summary(),
            "train_indices": self.train_indices.tolist(),
            "wall_seconds": self.wall_seconds,
        }
        out.update(extra or {})
        return out


def split(key: jax.Array, available: jax.Array, num_labels: int) -> tuple[jax.Array, jax.Array]:
    """(train int32[L], test int32[T]) space indices: L uniform without replacement from
    ``available`` (int32[A]), the remaining A - L sorted. Jittable and vmappable."""
    order = jax.random.permutation(key, available.shape[0])
    return available[order[:num_labels]], jnp.sort(available[order[num_labels:]])


def score(y_true: jax.Array, y_pred: jax.Array) -> dict:
    """The four ranking metrics of ``y_pred`` against ``y_true`` (reported accuracies)."""
    return {
        "kendall_tau": metrics.kendall_tau(y_true, y_pred),
        "spearman_rho": metrics.spearman_rho(y_true, y_pred),
        "ndcg_at_10": metrics.ndcg_at_k(metrics.relevance(y_true), y_pred, k=10),
        "precision_at_5pct": metrics.precision_at_fraction(y_true, y_pred, 0.05),
    }


def evaluate(
    predictor: Predictor,
    benchmark: Benchmark,
    num_labels: int,
    num_seeds: int,
    seed: int = 0,
    predictor_name: str = "",
    seed_batch: Optional[int] = None,
    log=print,
    num_devices: Optional[int] = None,
    checkpoint_dir: Optional[str] = None,
    resume: bool = False,
    overwrite: bool = False,
    run_info: Optional[dict] = None,
) -> EvalResult:
    """Fits ``predictor`` on ``num_labels`` random cells per seed and scores it on the rest.

    Seeds seed..seed+num_seeds-1 run ``seed_batch`` at a time (default: all) as one
    vmapped program, split over ``num_devices`` devices (default all, at most one per seed;
    each batch is padded to a multiple of the device count and the extra seeds are
    dropped). ``predictor`` must be built for ``benchmark.search_space``.

    With ``checkpoint_dir`` the outputs of the seeds done so far are saved after each
    batch; ``resume`` continues after the newest saved batch, which must come from the
    same evaluation (``run_info`` adds to its identity, e.g. the predictor's settings).
    Without ``resume`` the directory must hold no checkpoint unless ``overwrite``. A
    resumed evaluation gives the results of an uninterrupted one; ``wall_seconds``
    counts every part. Raises ValueError for impossible settings, the
    :mod:`jaxnas.checkpoint` errors for an unusable directory.
    """
    available = benchmark.available_indices
    if not 2 <= num_labels <= len(available) - 2:
        raise ValueError(
            f"number of labels must be in [2, {len(available) - 2}] for {benchmark.name} "
            f"({len(available)} architectures), got {num_labels}")
    if num_seeds < 1:
        raise ValueError(f"number of seeds must be positive, got {num_seeds}")
    if resume and not checkpoint_dir:
        raise ValueError("resume needs a checkpoint directory")
    seed_batch = min(seed_batch or num_seeds, num_seeds)
    checkpointer = None
    if checkpoint_dir:  # a used directory is refused before any work
        identity = {"benchmark": benchmark.name, "predictor": predictor_name, "labels": num_labels,
                    "seeds": num_seeds, "seed": seed, "seed_batch": seed_batch, **(run_info or {})}
        checkpointer = checkpoint.Checkpointer(checkpoint_dir, identity, resume=resume, overwrite=overwrite)
    space = benchmark.search_space
    signal = jnp.asarray(benchmark.signal)
    reported = jnp.asarray(benchmark.reported)
    available_j = jnp.asarray(available)

    def one_seed(seed_number):
        split_key, fit_key = jax.random.split(jax.random.fold_in(jax.random.key(0), seed_number))
        train, test = split(split_key, available_j, num_labels)
        labelled, unlabelled = space.from_index_batch(train), space.from_index_batch(test)
        state = predictor.fit(fit_key, labelled, signal[train], unlabelled)
        train_pred = predictor.predict(state, labelled)
        test_pred = predictor.predict(state, unlabelled)
        return train, test, train_pred, test_pred, score(reported[test], test_pred)

    mesh = distributed.seed_mesh(num_devices, seed_batch)
    sharding = distributed.seed_sharding(mesh)
    run = jax.jit(jax.vmap(one_seed))
    start = time.perf_counter()
    seeds = np.arange(seed, seed + num_seeds)
    # Every seed's outputs, filled batch by batch (the checkpointed state: fixed shapes).
    batch_shapes = jax.eval_shape(run, jax.ShapeDtypeStruct((seed_batch,), jnp.uint32))
    done = jax.tree_util.tree_map(lambda s: np.zeros((num_seeds, *s.shape[1:]), s.dtype), batch_shapes)
    first_todo = 0
    if resume:
        restored = checkpointer.restore_with_info(done, _check_progress(num_seeds, seed_batch))
        first_todo, done = restored.step, jax.tree_util.tree_map(np.array, restored.state)
        start -= float(restored.info.get("wall_seconds", 0.0))  # wall time counts every part
        log(f"resumed from {checkpoint_dir}: seeds {seed}..{seed + first_todo - 1} done")
    pace_start = time.perf_counter()  # this process's pace: its own batches, compilation included
    for first in range(first_todo, num_seeds, seed_batch):
        batch_seeds = seeds[first:first + seed_batch]
        run_seeds = np.arange(batch_seeds[0], batch_seeds[0] + distributed.padded_count(len(batch_seeds), mesh))
        # Seed numbers as a global array (device_put cannot reach other processes' devices).
        result = distributed.to_host(run(distributed.global_array(run_seeds.astype(np.uint32), sharding)))
        for into, value in zip(jax.tree_util.tree_leaves(done), jax.tree_util.tree_leaves(result)):
            into[first:first + len(batch_seeds)] = value[:len(batch_seeds)]
        if checkpointer:
            checkpointer.save(first + len(batch_seeds), done, info={"wall_seconds": time.perf_counter() - start})
        log(f"{predictor_name or 'predictor'} on {benchmark.name}, L={num_labels}: seeds "
            f"{batch_seeds[0]}..{batch_seeds[-1]} done, "
            f"tau {np.round(done[4]['kendall_tau'][first:first + len(batch_seeds)].astype(float), 3).tolist()}, "
            f"{time.perf_counter() - start:.1f}s"
            + progress.time_left(first + len(batch_seeds) - first_todo, num_seeds - first - len(batch_seeds),
                                 time.perf_counter() - pace_start))
    train, test, train_pred, test_pred, scores = done
    return EvalResult(
        benchmark=benchmark.name,
        predictor=predictor_name,
        num_labels=num_labels,
        seeds=seeds,
        metrics={name: scores[name] for name in METRICS},
        train_indices=train,
        test_indices=test,
        train_predictions=train_pred,
        test_predictions=test_pred,
        wall_seconds=time.perf_counter() - start,
        parts=checkpointer.parts if checkpointer else [],
    )


def _check_progress(num_seeds: int, seed_batch: int):
    """Validator of restored evaluations: the step (seeds done) ends a batch."""
    def validate(step, state):
        del state
        if not (0 < step <= num_seeds and (step == num_seeds or step % seed_batch == 0)):
            return f"{step} seeds done is not a whole number of batches of {seed_batch} out of {num_seeds}"
        return None
    return validate


def mean_std(values: Sequence[float]) -> str:
    """"mean ± std (sem)" over seeds (sample std; "n/a" for one seed)."""
    return metrics.format_summary(metrics.summary(values))
