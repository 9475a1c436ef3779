"""Predictor-guided search: fit a predictor on what has been queried, query its top picks.

One generic ask/tell algorithm for every predictor (Wen et al.'s neural predictor, the
semi-supervised assessor, AceNAS, ...). Each ``ask`` is one round:

* while fewer than ``initial_queries`` labels are known: ``queries_per_round`` random
  unqueried candidates;
* afterwards: fit the predictor on the label pool, score the candidate pool, and
  ask the ``(1 - random_fraction) * queries_per_round`` best-scored unqueried candidates
  plus ``random_fraction * queries_per_round`` random other unqueried ones (AceNAS asks
  half top, half random).

The candidate pool is the search domain (``space`` is ``benchmark.search_space``):
every cell of a RestrictedSpace (nb101_subset's 30,001) or of a space with at most
``max_enumerated`` architectures (NB201, NB-Graph); for larger spaces (full NB101)
``candidate_samples`` fresh uniform samples per round. Unqueried means "not in the
label pool", checked by space index.

Static shapes: the labels are kept in a :class:`jaxnas.search.label_pool.LabelPool` of
``label_capacity`` slots. The predictor is fit on the pool's n labels cycled to fill a
fixed number S of slots (slot i holds label i mod n), so each label appears floor(S/n)
or ceil(S/n) times per epoch. ``fit_slots="capacity"``: S is the capacity, one compiled
fit serves every round. ``fit_slots="doubling"``: S is the smallest of initial_queries,
2 x initial_queries, 4 x ..., capped at the capacity, that holds n, so each label appears
once or twice per epoch and a round's fit costs about n rather than capacity examples
per epoch (one compiled fit per size); ``fit_min_slots`` drops the sizes below it, so the
first rounds' few labels are still cycled over that many slots. Once the pool is full, a
new label replaces the lowest one (so set the capacity at least the budget to use every
label). ``warm_start_epochs`` > 0 (predictors with a ``refit``): after the search's first
fit, each round continues from the previous round's fitted predictor for that many
epochs instead of fitting anew. Everything is jittable and the runner vmaps over seeds;
each branch of a round (random, or a predictor fit of one size) runs only when some seed
takes it.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import presets
from jaxnas.predictors.assessor import AssessorConfig, assessor_predictor
from jaxnas.predictors.base import Predictor
from jaxnas.predictors.gcn import GCNConfig, gcn_predictor
from jaxnas.config import Config, field, part
from jaxnas.search import label_pool
from jaxnas.search.base import SearchAlgorithm, only_where
from jaxnas.spaces.base import SearchSpace


FIT_SLOTS = ("capacity", "doubling")
ROUND_PHASES = ("fit", "score")  # a round's named scopes (jaxnas.profiling, scripts.profile_round)


@dataclasses.dataclass(frozen=True)
class SearchSettings(Config):
    """The search's own settings (a part of each predictor search's config)."""

    label = "search"

    initial_queries: int = field(10, "Random architectures queried before the first predictor fit (a multiple "
                                     "of queries_per_round).", lower=2)
    queries_per_round: int = field(10, "Architectures queried per round (per predictor fit).", lower=1)
    random_fraction: float = field(0.0, "Fraction of a round's queries that are random unqueried candidates "
                                        "instead of the predictor's best.", lower=0.0, upper=1.0)
    label_capacity: int = field(300, "Slots of the label pool the predictor is fit on; when full, a new "
                                     "label replaces the lowest (set it >= the budget to use every label).",
                                lower=1)
    max_enumerated: int = field(100_000, "Spaces with at most this many architectures are scored whole; larger "
                                         "ones through candidate_samples random samples per round.", lower=1)
    candidate_samples: int = field(10_000, "Random candidates scored per round in spaces larger than "
                                           "max_enumerated.", lower=1)
    fit_slots: str = field("capacity", "Examples per epoch of a round's fit, the n labels cycled to fill them: "
                                       "'capacity' (label_capacity: one compiled fit) or 'doubling' (the "
                                       "smallest of initial_queries x 2^k, capped at label_capacity, that "
                                       "holds n).", choices=FIT_SLOTS)
    fit_min_slots: int = field(0, "With fit_slots='doubling', the fewest slots a fit uses: the sizes start at "
                                  "the smallest initial_queries x 2^k >= this (0: at initial_queries).", lower=0)
    warm_start_epochs: int = field(0, "0: every round fits the predictor from new weights. > 0: the first fit "
                                      "does, each later round continues from the previous round's fit for this "
                                      "many epochs (predictors with a refit: gcn).", lower=0)

    @classmethod
    def for_benchmark(cls, benchmark_name):
        if presets.space_family(benchmark_name) == "nb101":
            return cls(initial_queries=20, queries_per_round=20, label_capacity=1000)
        return cls()

    def cross_check(self):
        if self.initial_queries % self.queries_per_round:
            raise ValueError(f"initial_queries must be a multiple of queries_per_round "
                             f"({self.queries_per_round}), got {self.initial_queries}")
        if self.label_capacity < self.initial_queries:
            raise ValueError(f"label_capacity ({self.label_capacity}) must be >= initial_queries "
                             f"({self.initial_queries})")
        if self.fit_min_slots and self.fit_slots != "doubling":
            raise ValueError(f"fit_min_slots ({self.fit_min_slots}) needs fit_slots='doubling', got "
                             f"'{self.fit_slots}'")
        if self.candidate_samples < self.queries_per_round:
            raise ValueError(f"candidate_samples must be >= queries_per_round ({self.queries_per_round}), got "
                             f"{self.candidate_samples}")

    def fit_sizes(self) -> tuple[int, ...]:
        """The slot counts a round's fit may use, ascending; a round uses the first that
        holds its labels."""
        if self.fit_slots == "capacity":
            return (self.label_capacity,)
        sizes = [self.initial_queries]
        while sizes[-1] < self.label_capacity:
            sizes.append(min(2 * sizes[-1], self.label_capacity))
        return tuple(size for size in sizes if size >= min(self.fit_min_slots, self.label_capacity))


class PredictorSearchState(NamedTuple):
    labelled: label_pool.LabelPool  # the queried architectures and their labels
    rounds: jax.Array  # int32: asks so far
    # With warm_start_epochs: the last round's fitted predictor and whether there is one.
    fitted: Any = None
    has_fitted: Optional[jax.Array] = None


def _cycled(pool: label_pool.LabelPool, slots: int) -> tuple[Any, jax.Array]:
    """``slots`` slots of the pool's architectures and labels, slot i holding entry i mod count."""
    source = jnp.arange(slots) % jnp.maximum(pool.count, 1)
    return jax.tree_util.tree_map(lambda a: a[source], pool.archs), pool.labels[source]


def _top_unqueried(scores: jax.Array, excluded: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """Positions of the k best scores among non-excluded entries, and the updated mask."""
    picks = jax.lax.top_k(jnp.where(excluded, -jnp.inf, scores), k)[1]
    return picks, excluded.at[picks].set(True)


def candidate_pool(space: SearchSpace, max_enumerated: int) -> Optional[np.ndarray]:
    """int32 indices a round scores as candidates: the space's search domain, every
    architecture when there are at most ``max_enumerated``, else None (sample candidates
    each round)."""
    domain = space.search_domain()
    if domain is not None:
        return domain
    if space.num_architectures <= max_enumerated:
        return np.arange(space.num_architectures, dtype=np.int32)
    return None


def predictor_search(space: SearchSpace, predictor: Predictor, settings: SearchSettings) -> SearchAlgorithm:
    """The generic predictor-guided search (see the module docstring) as ask/tell."""
    settings.validate()
    q = settings.queries_per_round
    num_random = int(round(settings.random_fraction * q))
    num_top = q - num_random
    capacity = settings.label_capacity
    fit_sizes = settings.fit_sizes()
    pool = candidate_pool(space, settings.max_enumerated)
    if pool is not None and len(pool) < q:
        raise ValueError(f"the search domain has {len(pool)} architectures, fewer than queries_per_round={q}")
    warm_start = settings.warm_start_epochs > 0
    if warm_start and predictor.refit is None:
        raise ValueError(f"search warm_start_epochs={settings.warm_start_epochs} needs a predictor that can "
                         f"continue a fit (a refit: the gcn search's has one, this one has none); set it to 0")

    def candidates(key):
        if pool is None:
            archs = space.sample_batch(key, settings.candidate_samples)
            return archs, space.index_batch(archs)
        # A constant behind a barrier: XLA would otherwise constant-fold the predictor's
        # encoding of every candidate at compile time.
        indices = jax.lax.optimization_barrier(jnp.asarray(pool))
        return space.from_index_batch(indices), indices

    def init(key):
        state = PredictorSearchState(labelled=label_pool.init(capacity, space.sample(key)),
                                     rounds=jnp.zeros((), jnp.int32))
        if not warm_start:
            return state
        # Zeros shaped as a fitted predictor (its shapes do not depend on the labels).
        labelled, labels = _cycled(state.labelled, fit_sizes[0])
        shapes = jax.eval_shape(predictor.fit, key, labelled, labels, candidates(key)[0])
        fitted = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        return state._replace(fitted=fitted, has_fitted=jnp.zeros((), bool))

    def ask(state, key):
        pool_key, random_key, fit_key, extra_key = jax.random.split(key, 4)
        archs, indices = candidates(pool_key)
        known = jnp.sort(state.labelled.indices)
        position = jnp.clip(jnp.searchsorted(known, indices), 0, capacity - 1)
        queried = (known[position] == indices) | (indices < 0)

        def random_round(operand):
            queried, random_key = operand
            return _top_unqueried(jax.random.uniform(random_key, queried.shape), queried, q)[0]

        def fit(operand):
            fit_key, _, labelled, labels, archs = operand
            return predictor.fit(fit_key, labelled, labels, archs)

        def refit(operand):
            fit_key, previous, labelled, labels, archs = operand
            return predictor.refit(fit_key, previous, labelled, labels, archs, settings.warm_start_epochs)

        def predictor_round(slots, operand):
            state, archs, queried, fit_key, extra_key = operand
            labelled, labels = _cycled(state.labelled, slots)
            with jax.named_scope("fit"):
                if warm_start:
                    fit_operand = (fit_key, state.fitted, labelled, labels, archs)
                    fitted = only_where(~state.has_fitted, fit, fit_operand, state.fitted)
                    fitted = only_where(state.has_fitted, refit, fit_operand, fitted)
                else:
                    fitted = fit((fit_key, None, labelled, labels, archs))
            with jax.named_scope("score"):
                scores = predictor.predict(fitted, archs)
            scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
            top, excluded = _top_unqueried(scores, queried, num_top)
            if num_random:
                extra, _ = _top_unqueried(jax.random.uniform(extra_key, queried.shape), excluded, num_random)
                top = jnp.concatenate([top, extra])
            return top, (fitted if warm_start else None)

        # Each branch runs only when some seed takes it (a lax.cond under vmap would fit
        # the predictor for every seed in the random initial rounds too).
        count = state.labelled.count
        initial = count < settings.initial_queries
        picks = only_where(initial, random_round, (queried, random_key), jnp.zeros((q,), jnp.int32))
        operand = (state, archs, queried, fit_key, extra_key)
        picked = (picks, state.fitted)
        for smaller, slots in zip((0,) + fit_sizes[:-1], fit_sizes):
            takes = ~initial & (count > smaller) & (count <= slots)
            picked = only_where(takes, functools.partial(predictor_round, slots), operand, picked)
        picks, fitted = picked
        asked = jax.tree_util.tree_map(lambda a: a[picks], archs)
        state = state._replace(rounds=state.rounds + 1)
        if warm_start:
            state = state._replace(fitted=fitted, has_fitted=state.has_fitted | ~initial)
        return asked, state

    def tell(state, archs, values):
        return state._replace(labelled=label_pool.insert(state.labelled, archs, space.index_batch(archs), values))

    return SearchAlgorithm(init=init, ask=ask, tell=tell, batch_size=q)


# ----------------------------------------------------------------------------- registered searches
@dataclasses.dataclass(frozen=True)
class PredictorSearchConfig(Config):
    """A predictor search's config: the predictor's hyperparameters and the search settings
    for the benchmark, as two parts (one flat set of flags). Subclasses declare
    ``predictor`` with the predictor's config class."""

    predictor: Config = part(Config)
    search: SearchSettings = part(SearchSettings)

    @classmethod
    def for_benchmark(cls, benchmark_name):
        return cls(cls._predictor_class().for_benchmark(benchmark_name), cls.settings_for(benchmark_name))

    @classmethod
    def paper(cls, benchmark_name):
        # The papers train each round's predictor on the n labels, each once per epoch;
        # "doubling" slots hold each once or twice (the closest static-shape fit), where
        # the default's 300 capacity slots would train up to 30x longer than the paper.
        settings = dataclasses.replace(cls.settings_for(benchmark_name), fit_slots="doubling")
        return cls(cls._predictor_class().paper(benchmark_name), settings)

    @classmethod
    def settings_for(cls, benchmark_name) -> SearchSettings:
        """The search settings of both presets for ``benchmark_name``."""
        return SearchSettings.for_benchmark(benchmark_name)

    @classmethod
    def _predictor_class(cls) -> type:
        return typing.get_type_hints(cls)["predictor"]


@dataclasses.dataclass(frozen=True)
class AssessorSearchConfig(PredictorSearchConfig):
    """Search settings + the assessor's hyperparameters."""

    predictor: AssessorConfig = part(AssessorConfig)


@dataclasses.dataclass(frozen=True)
class GCNSearchConfig(PredictorSearchConfig):
    """Search settings + Wen et al.'s GCN predictor's hyperparameters."""

    predictor: GCNConfig = part(GCNConfig)


def assessor_search(space: SearchSpace, config: AssessorSearchConfig = AssessorSearchConfig()) -> SearchAlgorithm:
    return predictor_search(space, assessor_predictor(space, config.predictor), config.search)


def gcn_search(space: SearchSpace, config: GCNSearchConfig = GCNSearchConfig()) -> SearchAlgorithm:
    return predictor_search(space, gcn_predictor(space, config.predictor), config.search)
