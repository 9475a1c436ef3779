"""SemiNAS (Luo et al. 2020, "Semi-Supervised Neural Architecture Search") as ask/tell.

One search, as in the reference (renqianluo/SemiNAS, nasbench/train_seminas.py):

1. query ``initial_size`` (N) random architectures;
2. each round: train the NAO model (``jaxnas.predictors.nao``) ``pretrain_epochs`` on the
   labelled pool; sample ``unlabelled_size`` (M) architectures the search has not
   queried from the whole space and pseudo-label them with that model; train ``epochs``
   more on the labelled pool repeated ``up_sample_ratio`` times plus the pseudo-labelled
   set; take the ``top_k`` architectures by (pseudo-)label as seeds; move each seed's
   token states up the gradient of the predicted accuracy with step sizes 1, 2, 3, ...
   (up to ``max_step_size``) and decode, keeping valid architectures not yet queried,
   until ``new_per_iteration`` are collected; query them;
3. repeat for ``iterations`` rounds. The model is trained on, not re-initialised, across
   rounds, with a fresh Adam state per training phase (the reference builds a new
   optimiser in every ``train_controller`` call).

Deviations from the reference, and why:

* Targets are normalised by the labelled pool's own mean and standard deviation (the
  reference hard-codes NB101's 0.908 / 0.024); ``targets="rank"`` regresses the normal
  scores of the pool's ranks instead.
* The initial pool is N uniform random architectures. The reference keeps only those
  whose queried validation accuracy is >= 0.9 and does not count the other queries;
  ``initial_threshold`` (percent, 0 = off) restores the filter, and every query it costs
  is charged by the ledger.
* Identity is the space's canonical index, not the raw token sequence, so isomorphic
  duplicates of a queried cell are not "new".
* A round's candidates are asked best predicted first (the model's prediction for the
  decoded architecture), so a budget that ends mid-round keeps the most promising.
* ``space_top`` (0 in the class and the paper preset; 5 in the nb201 and nbgraph defaults): of
  each round's ``new_per_iteration`` queries, the last ``space_top`` are the model's best
  predicted unqueried architectures of the whole space (every architecture is scored once
  per round), the rest the best predicted generated ones. Not in the reference;
  ``SemiNASState.asked_generated`` counts what ascent contributed.
* ``ensemble_size`` (1 in the class and the paper preset, the reference's one model; 3 in
  the nb201 default):
  E NAO models, vmapped, whose mean prediction replaces the one model's everywhere except
  the gradient ascent (run in the first member's embedding space). On nb201 it lifts the
  mean at 150 queries (fewer seeds end far from the optimum) at 2.6x the wall time.
* In a restricted space (``nb101_subset``) ``is_valid`` includes membership in the
  table: generated cells outside it are discarded at no cost and generation continues
  with the next seed / step size. The pseudo-labelled sample is still drawn from the
  whole space (all 423,624 NB101 cells), as the reference does. A round that ascent and
  the in-table pseudo-labelled cells leave short is completed with the table's best
  predicted unqueried cells (the reference would ask fewer and never spend its budget).

Fixed shapes: ``ask`` returns ``max(N, new_per_iteration)`` architectures; unused slots are
an invalid architecture (answered NaN at no cost). The labelled architectures are kept in
a :class:`jaxnas.search.label_pool.LabelPool` (in query order) with room for
``N + iterations * new_per_iteration``, so it never fills; a budget beyond that is never
spent (the search then asks nothing and the runner stops at ``max_steps``). Work that only
some steps do (initial sampling, a round) runs in :func:`jaxnas.search.base.only_where`, a ``while_loop`` of at most one
trip: under ``vmap`` over seeds it runs once when any seed needs it and is skipped when
none does (a ``lax.cond`` would run both branches for every seed).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import presets, training
from jaxnas.config import field
from jaxnas.predictors import nao
from jaxnas.search import label_pool
from jaxnas.search.base import SearchAlgorithm, only_where
from jaxnas.spaces.base import SearchSpace

# The SemiNAS NB101 reference configuration (train_seminas.py defaults). Its 3 rounds of
# 300 after 1,100 initial architectures spend 2,000 queries: run it with --budget=2000.
REFERENCE = dict(
    initial_size=1100,
    unlabelled_size=10000,
    iterations=3,
    new_per_iteration=300,
    top_k=100,
    max_step_size=100,
    candidates_per_iteration=0,  # query every generated architecture, as the reference
    pretrain_epochs=1000,
    epochs=500,
    up_sample_ratio=10,
    train_batch_size=100,
    hidden_size=64,
    mlp_hidden_size=16,
    mlp_layers=2,
    dropout=0.1,
    trade_off=0.8,
    learning_rate=1e-3,
    l2_reg=1e-4,
    grad_bound=5.0,
    initial_threshold=0.0,
)
REFERENCE_BUDGET = REFERENCE["initial_size"] + REFERENCE["iterations"] * REFERENCE["new_per_iteration"]


@dataclasses.dataclass(frozen=True)
class SemiNASConfig(nao.NAOConfig):
    """SemiNAS hyperparameters (the NAO model's fields are inherited from NAOConfig)."""

    label = "seminas"

    initial_size: int = field(100, "N: random architectures queried first.", lower=1)
    unlabelled_size: int = field(1000, "M: pseudo-labelled architectures per round.", lower=1)
    iterations: int = field(10, "Rounds of generation.", lower=0)
    new_per_iteration: int = field(20, "Architectures generated and queried per round.", lower=1)
    top_k: int = field(20, "Seeds of the gradient ascent (the best by label or pseudo-label).", lower=1)
    max_step_size: int = field(100, "Step sizes 1, 2, ... up to this are tried per round.", lower=1)
    candidates_per_iteration: int = field(0, "Candidates generated per round, of which the new_per_iteration best "
                                             "predicted are queried; 0 = new_per_iteration (the reference: query "
                                             "every generated one).", lower=0)
    initial_threshold: float = field(0.0, "Keep initial architectures answering >= this (a percentage); 0 = off.",
                                     lower=0.0)
    space_top: int = field(0, "Of a round's new_per_iteration queries, this many are the model's best predicted "
                              "unqueried architectures of the WHOLE space instead of gradient-ascent candidates; "
                              "0 = off (the reference).", lower=0)
    # On NB201 the few collapsed cells (~10 %) dominate a standardised MSE; rank targets do not
    # weight them.
    targets: str = field("standardise", "Regression targets of the labelled pool: 'standardise' ((y - mean) / "
                                        "std of the pool, the reference's) or 'rank' (normal scores of the ranks).",
                         choices=training.TARGETS)
    # Their mean prediction pseudo-labels, picks the ascent seeds, ranks the candidates and
    # scores the space; the gradient ascent moves in the first member's embedding space
    # (the members' spaces are unrelated).
    ensemble_size: int = field(1, "E: NAO models trained side by side (vmapped) from different "
                                  "initialisations; 1 = the reference (one model).", lower=1)

    @classmethod
    def for_benchmark(cls, benchmark_name: str) -> "SemiNASConfig":
        """The project default of the benchmark's space family (:data:`DEFAULTS`)."""
        return cls(**DEFAULTS.get(presets.space_family(benchmark_name), {}))

    @classmethod
    def paper(cls, benchmark_name: str) -> "SemiNASConfig":
        """The paper's algorithm (:data:`PAPER`) at the default's per-family sizes."""
        return dataclasses.replace(cls.for_benchmark(benchmark_name), **PAPER)

    @classmethod
    def reference(cls) -> "SemiNASConfig":
        """The SemiNAS NB101 reference configuration (spend it with budget=REFERENCE_BUDGET)."""
        return cls(**REFERENCE)

    @property
    def capacity(self) -> int:
        """Labelled architectures the search can hold: N + iterations * new."""
        return self.initial_size + self.iterations * self.new_per_iteration

    def cross_check(self):
        if self.top_k > self.initial_size + self.unlabelled_size:
            raise ValueError(
                f"seminas top_k={self.top_k} exceeds the labelled + pseudo-labelled architectures "
                f"of the first round ({self.initial_size} + {self.unlabelled_size})"
            )
        if self.candidates_per_iteration and self.candidates_per_iteration < self.new_per_iteration:
            raise ValueError(
                f"seminas candidates_per_iteration={self.candidates_per_iteration} must be 0 or >= "
                f"new_per_iteration={self.new_per_iteration}"
            )
        if self.space_top > self.new_per_iteration:
            raise ValueError(
                f"seminas space_top={self.space_top} must be in [0, new_per_iteration={self.new_per_iteration}]"
            )


# Project defaults per space family (how they were chosen: docs/design-results.md). The
# model persists across rounds, so a round's few epochs fine-tune it; hidden 32 (reference
# 64) keeps 20 vmapped seeds affordable on a CPU. nb201 and nbgraph: half of each round's
# 10 queries from the model's top of the whole space (space_top=5) and 5x over-generation
# (candidates_per_iteration=50). nb201: 2,000 pseudo-labelled cells per round and an
# ensemble of 3 NAO models.
_NBGRAPH_DEFAULTS = dict(
    hidden_size=32, initial_size=20, unlabelled_size=500, iterations=13, new_per_iteration=10,
    candidates_per_iteration=50, top_k=20, pretrain_epochs=50, epochs=10, space_top=5,
)
DEFAULTS = {
    "nbgraph": _NBGRAPH_DEFAULTS,
    "nb201": dict(_NBGRAPH_DEFAULTS, unlabelled_size=2000, ensemble_size=3),
    "nb101": dict(
        hidden_size=32, initial_size=100, unlabelled_size=1000, iterations=9, new_per_iteration=100,
        candidates_per_iteration=200, top_k=100, pretrain_epochs=20, epochs=3,
    ),
}
# The paper's algorithm (Luo et al. and renqianluo/SemiNAS): every generated architecture
# is queried (no over-generation filter), none comes from scoring the whole space, one NAO
# model, targets normalised by the labelled pool. Sizes (N, M, rounds, epochs, hidden) stay
# the default's per family: the reference's 1,100 + 3 x 300 queries, 10,000 pseudo-labels,
# 1,000 + 500 epochs and hidden 64 are NB101-at-2,000-queries settings beyond this CPU
# (``SemiNASConfig.reference()`` has them).
PAPER = dict(space_top=0, candidates_per_iteration=0, ensemble_size=1, targets="standardise")


class SemiNASState(NamedTuple):
    params: Any  # the NAO model's parameters, trained on (not re-initialised) across rounds;
    # with ensemble_size > 1, every leaf has a leading axis of that size (one per member)
    labelled: label_pool.LabelPool  # the kept answers (percent), in query order
    queried: jax.Array  # bool[num_architectures]: answered by the ledger so far
    rounds: jax.Array  # int32: generation rounds done
    pending: jax.Array  # int32[batch]: space index of each architecture of the last ask, -1 none
    pending_initial: jax.Array  # bool: the last ask was initial random sampling
    generated: jax.Array  # int32: candidates found by gradient ascent, all rounds (diagnostic)
    filled: jax.Array  # int32: round slots ascent left empty, filled with the best predicted pseudo-labelled
    # cells (in a restricted space, then the table's best predicted) instead (diagnostic)
    max_step_used: jax.Array  # int32: largest step size any round needed (diagnostic)
    asked_generated: jax.Array  # int32: asked architectures that gradient ascent generated (diagnostic)


def _first_unqueried(indices: jax.Array, queried: jax.Array) -> jax.Array:
    """bool mask: valid (>= 0), not queried, and the first occurrence in ``indices``."""
    n = indices.shape[0]
    order = jnp.argsort(indices, stable=True)
    sorted_idx = indices[order]
    first_sorted = jnp.concatenate([jnp.ones((1,), bool), sorted_idx[1:] != sorted_idx[:-1]])
    first = jnp.zeros((n,), bool).at[order].set(first_sorted)
    return first & (indices >= 0) & ~queried[jnp.maximum(indices, 0)]


def _compact(indices: jax.Array, keep: jax.Array, size: int) -> jax.Array:
    """The kept ``indices`` in order, in an int32[size] array padded with -1."""
    position = jnp.cumsum(keep) - 1
    slot = jnp.where(keep & (position < size), position, size)
    return jnp.full((size,), -1, jnp.int32).at[slot].set(indices.astype(jnp.int32), mode="drop")


def generate_candidates(model: nao.NAO, params, space: SearchSpace, seeds: jax.Array, queried: jax.Array,
                        allowed: jax.Array, pool: int, max_step_size: int):
    """SemiNAS's generator: gradient ascent from ``seeds`` (int32[k, T] tokens) with step
    sizes 1, 2, ... until ``pool`` valid, unqueried, distinct architectures are found or
    the step size passes ``max_step_size``.

    Each step size moves all k seeds' token states up the gradient of the predicted value
    and decodes them (``nao.decode_ascended``, vmapped over the seeds); candidates are
    taken in order (step size, then seed). Validity is ``space.is_valid`` -- for a
    restricted space that includes being in the benchmark's table. Returns (space indices
    int32[pool] padded with -1, number found, largest step size used).
    """
    states, grads = nao.state_gradients(model, params, seeds)

    def more(carry):
        step_size, found, _ = carry
        return (found < pool) & (step_size <= max_step_size)

    def one_step_size(carry):
        step_size, found, taken = carry
        decoded, _ = nao.decode_ascended(model, params, states, grads, step_size.astype(jnp.float32), allowed)
        archs = jax.vmap(space.from_tokens)(decoded)
        idx = space.index_batch(archs)
        ok = jax.vmap(space.is_valid)(archs) & (idx >= 0) & ~queried[jnp.maximum(idx, 0)]

        def take(carry, candidate):
            found, taken = carry
            index, good = candidate
            good = good & (found < pool) & ~jnp.any(taken == index)
            taken = taken.at[jnp.where(good, found, pool)].set(index, mode="drop")
            return (found + good.astype(jnp.int32), taken), None

        (found, taken), _ = jax.lax.scan(take, (found, taken), (idx, ok))
        return step_size + 1, found, taken

    start = (jnp.int32(1), jnp.int32(0), jnp.full((pool,), -1, jnp.int32))
    step_size, found, taken = jax.lax.while_loop(more, one_step_size, start)
    return taken, found, step_size - 1


# The named scopes of a round (jaxnas.profiling, scripts.profile_round).
ROUND_PHASES = ("sample_unlabelled", "train", "pseudo_label", "ascent", "score_candidates", "score_space")


def seminas(space: SearchSpace, config: SemiNASConfig = SemiNASConfig()) -> SearchAlgorithm:
    config.validate()
    n_arch = space.num_architectures
    if config.capacity + config.unlabelled_size > n_arch:
        raise ValueError(
            f"seminas: labelled capacity {config.capacity} (N + iterations * new) plus "
            f"unlabelled_size {config.unlabelled_size} exceeds the {n_arch} architectures of {space.name}"
        )
    model = nao.make_model(space, config)
    optimizer = nao.make_optimizer(config)
    loss_fn = nao.make_loss(model, config.trade_off)
    allowed = jnp.asarray(nao.allowed_tokens(space)) if config.iterations else None
    length = space.sequence_length
    capacity, unlabelled = config.capacity, config.unlabelled_size
    num_new, k = config.new_per_iteration, config.top_k
    pool = config.candidates_per_iteration or num_new
    batch = max(config.initial_size, num_new)
    up = config.up_sample_ratio
    padding_arch = space.from_tokens(jnp.zeros((length,), jnp.int32))  # invalid in every space
    space_top = config.space_top if config.iterations else 0
    # A restricted space (nb101_subset) answers only its table's architectures: the
    # pseudo-labelled fill and space_top pick only among those (else their slots would be
    # answered "not in benchmark", unspent, and the budget never reached).
    domain = space.search_domain()
    in_table = None if domain is None else jnp.asarray(np.isin(np.arange(n_arch), domain))
    scored = np.arange(n_arch, dtype=np.int32) if domain is None else domain
    num_ascent = num_new - space_top  # a round's queries taken from the generated candidates

    # With one member the params carry no member axis: ensemble_size=1 runs the plain
    # single-model program, with the same numbers as a search without ensembles.
    members = config.ensemble_size

    def tokens_at(indices):
        return jax.vmap(lambda i: space.tokens(space.from_index(i)))(indices)

    def predict(params, tokens):
        """The ensemble's mean predicted (normalised) value of each token sequence."""
        if members == 1:
            return nao.batched_predict(model, params, tokens)
        return jnp.mean(jax.vmap(lambda p: nao.batched_predict(model, p, tokens))(params), axis=0)

    def init_params(key):
        if members == 1:
            return nao.init_params(model, key, length)
        return jax.vmap(lambda k: nao.init_params(model, k, length))(jax.random.split(key, members))

    def init(key):
        # Without rounds there is no model to train (the initial phase alone).
        params = init_params(key) if config.iterations else {}
        return SemiNASState(
            params=params,
            labelled=label_pool.init(capacity, padding_arch),
            queried=jnp.zeros((n_arch,), bool),
            rounds=jnp.zeros((), jnp.int32),
            pending=jnp.full((batch,), -1, jnp.int32),
            pending_initial=jnp.zeros((), bool),
            generated=jnp.zeros((), jnp.int32),
            filled=jnp.zeros((), jnp.int32),
            max_step_used=jnp.zeros((), jnp.int32),
            asked_generated=jnp.zeros((), jnp.int32),
        )

    def initial_batch(state, key):
        """Fresh uniform random architectures, as many as the initial pool still lacks."""
        proposals = space.index_batch(space.sample_batch(key, 2 * batch))
        fresh = _first_unqueried(proposals, state.queried)
        need = config.initial_size - state.labelled.count
        return _compact(proposals, fresh & (jnp.cumsum(fresh) <= need), batch)

    def round_batch(state, key):
        """One SemiNAS round: train, pseudo-label, train, generate; returns the ask. Its
        phases are named scopes (ROUND_PHASES), which jaxnas.profiling times."""
        sample_key, train_key = jax.random.split(key)
        size = state.labelled.count
        labelled = jnp.arange(capacity) < size
        targets, _, _ = training.regression_targets(config.targets, state.labelled.labels, labelled)
        # Empty slots as zero tokens: training gathers them as weight-0 padding rows.
        labelled_tokens = jnp.where(labelled[:, None], jax.vmap(space.tokens)(state.labelled.archs), 0)

        # M unqueried architectures of the whole space, to be pseudo-labelled.
        with jax.named_scope("sample_unlabelled"):
            order = jax.random.permutation(sample_key, n_arch)
            pseudo_idx = _compact(order, ~state.queried[order], unlabelled)
            pseudo_tokens = tokens_at(pseudo_idx)
            all_tokens = jnp.concatenate([labelled_tokens, pseudo_tokens])

        # Phase 0 trains on the labelled rows. Phase 1 pseudo-labels with that model and
        # trains on the labelled rows `up` times, then the pseudo-labelled ones. One loop
        # over the phases, so the training step is compiled once.
        virtual = jnp.arange(up * capacity + unlabelled)
        labelled_rows = up * size
        main_rows = jnp.where(virtual < labelled_rows, virtual % jnp.maximum(size, 1),
                              capacity + virtual - labelled_rows)
        main_rows = jnp.clip(main_rows, 0, capacity + unlabelled - 1)

        def phase(number, carry):
            params, pseudo_targets = carry
            with jax.named_scope("pseudo_label"):
                pseudo_targets = only_where(
                    number == 1, lambda p: predict(p, pseudo_tokens), params, pseudo_targets
                )
            data = {
                "tokens": all_tokens,
                "target": jnp.concatenate([targets, pseudo_targets]),
                "weight": jnp.ones((capacity + unlabelled,)),
            }
            pretrain = number == 0
            rows = jnp.where(pretrain, virtual, main_rows)
            count = jnp.where(pretrain, size, labelled_rows + unlabelled)
            epochs = jnp.where(pretrain, config.pretrain_epochs, config.epochs)
            # A fresh Adam state per phase, as the reference's train_controller.
            def train(params, key):
                return nao.train_rows(
                    key, training.init_state(params, optimizer), data, rows, count, loss_fn, optimizer,
                    config.train_batch_size, epochs,
                ).params

            phase_key = jax.random.fold_in(train_key, number)
            if members == 1:
                return train(params, phase_key), pseudo_targets
            return jax.vmap(train)(params, jax.random.split(phase_key, members)), pseudo_targets

        with jax.named_scope("train"):
            params, pseudo_targets = jax.lax.fori_loop(
                0, 2, phase, (state.params, jnp.zeros((unlabelled,), jnp.float32))
            )

        # Seeds: the top k by label (labelled) or pseudo-label (unlabelled).
        seed_scores = jnp.where(jnp.concatenate([labelled, jnp.ones((unlabelled,), bool)]),
                                jnp.concatenate([targets, pseudo_targets]), -jnp.inf)
        seeds = all_tokens[jax.lax.top_k(seed_scores, k)[1]]
        ascent_params = params if members == 1 else jax.tree_util.tree_map(lambda a: a[0], params)
        with jax.named_scope("ascent"):
            candidates, found, step_size = generate_candidates(
                model, ascent_params, space, seeds, state.queried, allowed, pool, config.max_step_size
            )
        generated = candidates
        candidates = fill(candidates, found, pseudo_idx, pseudo_targets)

        # Ask the best predicted first.
        with jax.named_scope("score_candidates"):
            predicted = predict(params, tokens_at(candidates))
        order = jnp.argsort(jnp.where(candidates >= 0, -predicted, jnp.inf))
        chosen = candidates[order[:num_ascent]]
        if space_top or in_table is not None:
            # The best predicted unqueried architectures of the whole space (of the table,
            # in a restricted space), best first.
            blocked = state.queried.at[jnp.where(chosen >= 0, chosen, n_arch)].set(True, mode="drop")
            scored_idx = jnp.asarray(scored)
            with jax.named_scope("score_space"):
                scores = predict(params, tokens_at(scored_idx))
            top_values, top = jax.lax.top_k(jnp.where(blocked[scored_idx], -jnp.inf, scores), num_new)
            ranked = jnp.where(top_values > -jnp.inf, scored_idx[top], -1)
            used = jnp.int32(0)
            if in_table is not None:
                # A restricted space: slots that ascent and the pseudo-labelled fill left
                # empty take the table's best predicted cells, so every round asks num_new
                # and the budget is spent (else the search would end short of it).
                missing = chosen < 0
                chosen = jnp.where(missing, ranked[jnp.clip(jnp.cumsum(missing) - 1, 0, num_new - 1)], chosen)
                used = missing.sum().astype(jnp.int32)
            if space_top:  # the last space_top slots: the next best predicted
                chosen = jnp.concatenate([chosen, ranked[used + jnp.arange(space_top)]])
        ask = jnp.full((batch,), -1, jnp.int32).at[:num_new].set(chosen)
        from_ascent = jnp.sum((chosen[:, None] == generated[None, :]) & (chosen[:, None] >= 0))
        return params, ask, found, step_size, from_ascent.astype(jnp.int32)

    def fill(candidates, found, pseudo_idx, pseudo_targets):
        """Completes a short round with the best pseudo-labelled architectures.

        Should the gradient ascent find fewer than num_new fresh architectures within
        max_step_size step sizes, the rest are the unqueried pseudo-labelled ones the
        model rates highest, so every round queries num_new (the reference would query
        fewer and spend less than its budget). Counted in ``SemiNASState.filled``. In a
        restricted space only pseudo-labelled architectures in the table qualify (about 7 %
        of an NB101 sample); should even those run short, the round asks fewer.
        """
        usable = pseudo_idx >= 0
        if in_table is not None:  # only the table's architectures can be answered
            usable = usable & in_table[jnp.maximum(pseudo_idx, 0)]
        top_values, top = jax.lax.top_k(jnp.where(usable, pseudo_targets, -jnp.inf), min(2 * num_new, unlabelled))
        best = pseudo_idx[top]
        fresh = (top_values > -jnp.inf) & ~jnp.any(best[:, None] == candidates[None, :], axis=1)
        extra = _compact(best, fresh, pool)
        slot = jnp.arange(pool)
        short = jnp.maximum(num_new - found, 0)
        return jnp.where(slot < found, candidates,
                         jnp.where(slot < found + short, extra[jnp.maximum(slot - found, 0)], -1))

    def ask(state, key):
        initial_key, round_key = jax.random.split(key)
        in_initial = state.labelled.count < config.initial_size
        in_round = ~in_initial & (state.rounds < config.iterations)
        none = jnp.full((batch,), -1, jnp.int32)
        initial = only_where(in_initial, lambda s: initial_batch(s, initial_key), state, none)
        params, generated, found, step_size, from_ascent = (
            state.params, none, jnp.int32(0), jnp.int32(0), jnp.int32(0))
        if config.iterations:
            params, generated, found, step_size, from_ascent = only_where(
                in_round, lambda s: round_batch(s, round_key), state,
                (params, generated, found, step_size, from_ascent),
            )
        pending = jnp.where(in_initial, initial, generated)
        archs = jax.vmap(lambda i: jax.tree_util.tree_map(
            lambda a, p: jnp.where(i >= 0, a, p), space.from_index(jnp.maximum(i, 0)), padding_arch))(pending)
        state = state._replace(
            params=params,
            rounds=state.rounds + in_round.astype(jnp.int32),
            pending=pending,
            pending_initial=in_initial,
            generated=state.generated + found,
            filled=state.filled + jnp.where(in_round, jnp.maximum(num_new - found, 0), 0),
            max_step_used=jnp.maximum(state.max_step_used, step_size),
            asked_generated=state.asked_generated + from_ascent,
        )
        return archs, state

    def tell(state, archs, values):
        answered = (state.pending >= 0) & ~jnp.isnan(values)
        queried = state.queried.at[jnp.where(answered, state.pending, n_arch)].set(True, mode="drop")
        threshold = jnp.where(state.pending_initial, config.initial_threshold, -jnp.inf)
        kept = jnp.where(values >= threshold, values, jnp.nan)  # NaN: not labelled
        labelled = label_pool.insert(state.labelled, archs, state.pending, kept)
        return state._replace(labelled=labelled, queried=queried, pending=jnp.full_like(state.pending, -1))

    def diagnostics(state):
        return {"rounds": state.rounds, "generated_by_ascent": state.generated,
                "asked_from_ascent": state.asked_generated, "filled_instead_of_ascent": state.filled,
                "max_step_size_used": state.max_step_used}

    return SearchAlgorithm(init=init, ask=ask, tell=tell, batch_size=batch, diagnostics=diagnostics)


__all__ = ["REFERENCE", "REFERENCE_BUDGET", "ROUND_PHASES", "SemiNASConfig", "SemiNASState", "generate_candidates", "seminas"]
