"""AceNAS search: the generic predictor-guided search with the AceNAS ranker.

Rounds as in the reference (ultmaster/AceNAS, gcn/benchmarks/train.py with
``--iteration 5``): the first round queries ``queries_per_round`` random cells; every
later round refits the ranker on all labels so far and queries half its predicted top
among unqueried cells and half random unqueried cells (``random_fraction=0.5``). A
50-query budget with 10 per round is the reference's 5 rounds. Not as in the reference:
each refit starts again from the weak-label-pretrained (or a fresh) ranker, where the
reference keeps training one model across rounds; a refit's epoch holds each label once
or twice in the paper preset (``fit_slots="doubling"``; the reference: once) and the
labels cycled to ``label_capacity`` slots in the default.

``first_round="pretrained"`` (an option, in neither preset) replaces the random first
round by the weak-label-pretrained ranker's top half plus a random half. Weak labels cost
no queries, but a weak table that ranks the space well then decides the search before
any query: every seed shares the pretrained ranker and so the same top half.

Composition, not duplication: :func:`jaxnas.search.predictor_search.predictor_search`
does every round; this module only swaps in the pretrained first round when asked.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.config import field, part
from jaxnas.predictors.acenas import AceNASConfig, acenas_predictor, pretrained_scores
from jaxnas.search import predictor_search as ps
from jaxnas.search.base import SearchAlgorithm
from jaxnas.spaces.base import SearchSpace

FIRST_ROUNDS = ("random", "pretrained")


@dataclasses.dataclass(frozen=True)
class AceNASSearchConfig(ps.PredictorSearchConfig):
    """Search settings (half top, half random per round) + the AceNAS ranker's fields + the
    first round.

    No weak labels by default: a weak-label file (e.g. a supernet's) when given; a
    benchmark table only with ``allow_table_weak_labels`` (table-assisted).
    """

    label = "acenas"

    predictor: AceNASConfig = part(AceNASConfig)
    first_round: str = field("random", "First round: 'random' (the reference) or 'pretrained' (the weak-label "
                                       "ranker's top half plus a random half).", choices=FIRST_ROUNDS)

    @classmethod
    def settings_for(cls, benchmark_name):
        settings = ps.SearchSettings.for_benchmark(benchmark_name)
        return dataclasses.replace(settings, random_fraction=0.5, label_capacity=min(settings.label_capacity, 200))


def acenas_search(space: SearchSpace, config: AceNASSearchConfig = AceNASSearchConfig()) -> SearchAlgorithm:
    config.validate()
    settings, ranker_config = config.search, config.predictor
    inner = ps.predictor_search(space, acenas_predictor(space, ranker_config), settings)
    pool = ps.candidate_pool(space, settings.max_enumerated)
    if pool is None or not ranker_config.weak_labels or config.first_round == "random":
        return inner  # first round random

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
        return jax.lax.cond(state.labelled.count == 0, first_round, inner.ask, state, key)

    return inner._replace(ask=ask)
