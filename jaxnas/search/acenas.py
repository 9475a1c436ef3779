"""AceNAS search: the generic predictor-guided search with the AceNAS ranker.

Rounds as in the reference: every round queries ``queries_per_round`` cells, half the
ranker's predicted top among unqueried cells and half random unqueried cells
(``random_fraction=0.5``); the ranker is refit (LambdaRank finetuning of the
weak-label-pretrained GCN) on all labels so far before each round. With weak labels the
FIRST round already uses the pretrained ranker (half its top, half random) instead of a
purely random batch, since weak labels cost no queries; without weak labels the first
round is random. A 50-query budget with 10 per round is the reference's 5 rounds.

Composition, not duplication: :func:`jaxnas.search.predictor_search.predictor_search`
does every round after the first; this module only swaps in the pretrained first round.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.predictors.acenas import AceNASConfig, acenas_predictor, pretrained_scores
from jaxnas.search import predictor_search as ps
from jaxnas.search.base import SearchAlgorithm
from jaxnas.spaces.base import SearchSpace

# Weak-label defaults per benchmark: the cheap low-fidelity columns.
DEFAULT_WEAK_LABELS = {
    "nb201_cifar10": "nb201_cifar10:cifar10_valid_12ep",
    "nb101_subset": "nb101_subset:val_acc_12ep",
}


@dataclasses.dataclass(frozen=True)
class AceNASSearchConfig(ps.SearchSettings, AceNASConfig):
    """Search settings (half top, half random per round) + the AceNAS ranker's fields."""

    @classmethod
    def for_benchmark(cls, benchmark_name):
        settings = ps.SearchSettings.for_benchmark(benchmark_name)
        settings = dataclasses.replace(settings, random_fraction=0.5,
                                       label_capacity=min(settings.label_capacity, 200))
        ranker = dataclasses.replace(AceNASConfig.for_benchmark(benchmark_name),
                                     weak_labels=DEFAULT_WEAK_LABELS.get(benchmark_name, ""))
        return cls(**dataclasses.asdict(ranker), **dataclasses.asdict(settings))

    def validate(self):
        ps.SearchSettings.validate(self)
        AceNASConfig.validate(self)


def acenas_search(space: SearchSpace, config: AceNASSearchConfig = AceNASSearchConfig()) -> SearchAlgorithm:
    settings, ranker_config = ps.split_config(config, AceNASConfig)
    inner = ps.predictor_search(space, acenas_predictor(space, ranker_config), settings)
    available = getattr(space, "available", None)
    if available is not None:
        pool = np.flatnonzero(available).astype(np.int32)
    elif space.num_architectures <= settings.max_enumerated:
        pool = np.arange(space.num_architectures, dtype=np.int32)
    else:
        pool = None
    if pool is None or not ranker_config.weak_labels:
        return inner  # first round random (no free ranking of a fixed pool)

    pool_scores = np.asarray(pretrained_scores(space, ranker_config, space.from_index_batch(jnp.asarray(pool))))
    q = settings.queries_per_round
    num_random = int(round(settings.random_fraction * q))
    num_top = q - num_random

    def first_round(state, key):
        # Constants behind a barrier so XLA does not fold them at compile time.
        indices, scores = jax.lax.optimization_barrier((jnp.asarray(pool), jnp.asarray(pool_scores)))
        top = jax.lax.top_k(scores, num_top)[1]
        taken = jnp.zeros(indices.shape, bool).at[top].set(True)
        noise = jnp.where(taken, -jnp.inf, jax.random.uniform(key, indices.shape))
        extra = jax.lax.top_k(noise, num_random)[1]
        picks = indices[jnp.concatenate([top, extra])]
        return space.from_index_batch(picks), state._replace(rounds=state.rounds + 1)

    def ask(state, key):
        return jax.lax.cond(state.count == 0, first_round, inner.ask, state, key)

    return inner._replace(ask=ask)
