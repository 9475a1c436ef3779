"""Runs an ask/tell search algorithm against a benchmark, many seeds at once.

One search step is ``ask -> index -> ledger.query -> tell``. Steps run inside a jitted
``lax.while_loop`` vmapped over seeds and sharded over a device mesh, in chunks: between
chunks the host logs progress and checkpoints. Step keys are ``fold_in(seed_key, step)`` and seed keys
``fold_in(key, seed)``, so results do not depend on the chunk size or on how many seeds
run together.

The step program is compiled ahead of time, with its compile time logged, and the first
chunk is a single ask/tell round, so a slow predictor-guided search shows its first
progress line after one round. A seed that stops at ``max_steps`` before spending its
budget is reported (a warning, and ``budget_reached``/``short_of_budget`` in results).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxnas import checkpoint, distributed, metrics, progress, provenance
from jaxnas.benchmarks import ledger as ledger_lib
from jaxnas.benchmarks.base import Benchmark
from jaxnas.search.base import SearchAlgorithm


class SearchSettingsError(ValueError):
    """Search settings that cannot give a meaningful result (e.g. an impossible budget)."""


class SearchState(NamedTuple):
    algorithm: Any
    ledger: ledger_lib.Ledger
    step: jax.Array  # int32: steps taken (ask/tell rounds)
    key: jax.Array  # this seed's key


@dataclasses.dataclass
class SearchResult:
    """Per-seed histories (numpy, leading axis = seed)."""

    benchmark: str
    algorithm: str
    budget: int
    seeds: np.ndarray  # int[S]: the seed numbers
    history: np.ndarray  # int32[S, budget]: space index of each query, -1 unused
    signal: np.ndarray  # float32[S, budget]: search-signal value answered
    reported: np.ndarray  # float32[S, budget]: reported value (read after the search)
    curve: np.ndarray  # float32[S, budget]: best-so-far reported value after q queries
    queries: np.ndarray  # int32[S]: queries charged
    steps: np.ndarray  # int32[S]: ask/tell steps taken
    optimum: float  # best reported value in the benchmark
    wall_seconds: float
    # The algorithm's own counters at the end (SearchAlgorithm.diagnostics): name -> [S].
    diagnostics: dict = dataclasses.field(default_factory=dict)
    # Checkpointed runs: who made the result (checkpoint.Checkpointer.parts); else empty.
    parts: list = dataclasses.field(default_factory=list)

    @property
    def budget_reached(self) -> bool:
        """Did every seed spend its whole budget? (False: some stopped at max_steps.)"""
        return bool(np.all(self.queries >= self.budget))

    def shortfall(self) -> dict:
        """Seeds that did not spend the budget: {"seeds": [...], "queries": [...]}."""
        short = np.flatnonzero(self.queries < self.budget)
        return {"seeds": [int(self.seeds[i]) for i in short], "queries": [int(self.queries[i]) for i in short]}

    def to_json(self, extra: Optional[dict] = None, report_at: Sequence[int] = ()) -> dict:
        """The results.json contract (values in the reported metric, percent).

        ``report_at``: query counts at which to summarise the curve (:func:`metrics.summary`).
        ``budget_reached`` is False when a seed stopped at max_steps before spending the
        budget (``short_of_budget`` lists them): its curve then stays at the best of the
        queries it made. ``algorithm_diagnostics`` (when the algorithm has counters) gives
        each counter's per-seed values and mean.
        """
        curve = self.curve
        final = curve[:, -1]
        num_seeds = curve.shape[0]
        std = lambda a, axis=None: np.std(a, axis=axis, ddof=1) if num_seeds > 1 else np.zeros_like(np.mean(a, axis=axis))
        out = {
            "benchmark": self.benchmark,
            "algorithm": self.algorithm,
            "budget": self.budget,
            "budget_reached": self.budget_reached,
            "short_of_budget": self.shortfall(),
            "seeds": int(num_seeds),
            "seed_list": [int(s) for s in self.seeds],
            "curve": {
                "queries": list(range(1, self.budget + 1)),
                "mean": _floats(np.nanmean(curve, axis=0)),
                "std": _floats(std(curve, axis=0)),
            },
            "final": {**metrics.summary(final, self.optimum), "per_seed": _floats(final)},
            "regret": {
                "optimum": self.optimum,
                "mean": float(np.mean(self.optimum - final)),
                "std": float(std(self.optimum - final)),
            },
            "ledger": {
                "queries_per_seed": [int(q) for q in self.queries],
                "steps_per_seed": [int(s) for s in self.steps],
                "budget_reached_all_seeds": bool(np.all(self.queries == self.budget)),
                # Space index of every charged query, in order, per seed (-1 = unused).
                "history": self.history.tolist(),
            },
            # Per query count: metrics.summary over seeds (mean, std ddof=1, sem, median,
            # fraction at the optimum) and the per-seed values, for paired comparisons.
            "at_queries": {
                str(q): {**metrics.summary(self.at(q), self.optimum), "per_seed": _floats(self.at(q))}
                for q in report_at
                if q <= self.budget
            },
            "wall_seconds": self.wall_seconds,
        }
        if self.diagnostics:
            out["algorithm_diagnostics"] = {
                name: {"mean": float(np.mean(values)), "per_seed": np.asarray(values).tolist()}
                for name, values in self.diagnostics.items()
            }
        out.update(extra or {})
        return out

    def at(self, queries: int) -> np.ndarray:
        """Per-seed best reported value after ``queries`` queries."""
        if not 1 <= queries <= self.budget:
            raise ValueError(f"queries must be in [1, {self.budget}], got {queries}")
        return self.curve[:, queries - 1]


class SeedPartsError(ValueError):
    """Seed parts that are not parts of one run (other settings, overlapping seeds)."""


# results.json keys made per run (merged below); every other key must agree across parts.
_PER_RUN_KEYS = {"seeds", "seed_list", "curve", "final", "regret", "ledger", "at_queries", "budget_reached",
                 "short_of_budget", "wall_seconds", "algorithm_diagnostics", "command", "git"}


def merge_seed_parts(parts: Sequence[dict], command: str) -> dict:
    """One results.json from search runs of the same settings on disjoint seeds (e.g.
    seeds 0-4, 5-9, ... run one after another), as the run of all their seeds would
    write it: per-seed values concatenated in seed order and the summaries recomputed
    from them (the mean/std curve pooled from the parts' means and stds). ``command``
    is the command of the whole run; ``git.seed_parts`` records each part's seeds,
    command, git state and wall time, and ``wall_seconds`` is their sum. Seeds do not
    interact (see the module docstring), so each seed's values are those the whole run
    gives it on the same code. Raises SeedPartsError for parts that differ in anything
    but their seeds, or share a seed."""
    if not parts:
        raise SeedPartsError("no seed parts to merge")
    parts = sorted(parts, key=lambda part: part["seed_list"][0])
    first = parts[0]
    for part in parts[1:]:
        differ = sorted(key for key in set(first) | set(part)
                        if key not in _PER_RUN_KEYS and first.get(key) != part.get(key))
        if differ:
            raise SeedPartsError(f"seed parts {first['seed_list']} and {part['seed_list']} differ in {differ}: "
                                 "not parts of one run")
    seeds = [s for part in parts for s in part["seed_list"]]
    if len(set(seeds)) != len(seeds):
        raise SeedPartsError(f"seed parts overlap: seeds {seeds}")
    optimum = first["regret"]["optimum"]
    per_seed = lambda get: [v for part in parts for v in get(part)]
    final = np.asarray(per_seed(lambda p: p["final"]["per_seed"]), np.float64)
    std = lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0
    counts = np.asarray([len(part["seed_list"]) for part in parts], np.float64)[:, None]
    means = np.asarray([part["curve"]["mean"] for part in parts], np.float64)
    stds = np.asarray([part["curve"]["std"] for part in parts], np.float64)
    mean = (counts * means).sum(0) / counts.sum()
    squares = ((counts - 1) * stds**2 + counts * (means - mean) ** 2).sum(0)
    out = {key: value for key, value in first.items() if key not in _PER_RUN_KEYS}
    out.update({
        "budget_reached": all(part["budget_reached"] for part in parts),
        "short_of_budget": {name: per_seed(lambda p: p["short_of_budget"][name]) for name in ("seeds", "queries")},
        "seeds": len(seeds),
        "seed_list": seeds,
        "curve": {"queries": first["curve"]["queries"], "mean": _floats(mean),
                  "std": _floats(np.sqrt(squares / max(len(seeds) - 1, 1)))},
        "final": {**metrics.summary(final, optimum), "per_seed": _floats(final)},
        "regret": {"optimum": optimum, "mean": float(np.mean(optimum - final)), "std": std(optimum - final)},
        "ledger": {
            "queries_per_seed": per_seed(lambda p: p["ledger"]["queries_per_seed"]),
            "steps_per_seed": per_seed(lambda p: p["ledger"]["steps_per_seed"]),
            "budget_reached_all_seeds": all(p["ledger"]["budget_reached_all_seeds"] for p in parts),
            "history": per_seed(lambda p: p["ledger"]["history"]),
        },
        "at_queries": {},
        "wall_seconds": float(sum(part["wall_seconds"] for part in parts)),
        "command": command,
    })
    for q in first["at_queries"]:
        values = per_seed(lambda p: p["at_queries"][q]["per_seed"])
        out["at_queries"][q] = {**metrics.summary(values, optimum), "per_seed": values}
    if "algorithm_diagnostics" in first:
        out["algorithm_diagnostics"] = {}
        for name in first["algorithm_diagnostics"]:
            values = per_seed(lambda p: p["algorithm_diagnostics"][name]["per_seed"])
            out["algorithm_diagnostics"][name] = {"mean": float(np.mean(values)), "per_seed": values}
    gits = [part.get("git") or {} for part in parts]
    commits = {git.get("commit") for git in gits}
    out["git"] = {
        "commit": commits.pop() if len(commits) == 1 else None,
        "dirty": provenance.any_dirty(gits),
        "seed_parts": [{"seeds": part["seed_list"], "command": part["command"], "git": git,
                        "wall_seconds": part["wall_seconds"]} for part, git in zip(parts, gits)],
    }
    return out


def _log_progress(name, benchmark, states, limit, counts, budget, seconds, num_seeds, pace=None):
    """One progress line; ``pace`` (queries, seconds) spent by this process so far gives an
    estimate of the time left (low for a predictor-guided search, whose first round is
    random and whose later rounds may train on more labels)."""
    values = np.asarray(distributed.to_host(states.ledger.values))[:num_seeds]
    best = np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=1)
    left = progress.time_left(pace[0], budget - counts.mean(), pace[1]) if pace else ""
    logging.info(
        "%s on %s: step %d, queries %.1f/%d (min %d), mean best signal %.3f, %.1fs%s",
        name or "search", benchmark.name, limit, counts.mean(), budget, counts.min(), float(np.mean(best)), seconds,
        left,
    )


def _floats(array) -> list:
    return [None if np.isnan(v) else float(v) for v in np.asarray(array, np.float64)]


def _init_state(algorithm: SearchAlgorithm, num_architectures: int, budget: int, seed) -> SearchState:
    init_key, run_key = jax.random.split(jax.random.fold_in(jax.random.key(0), seed))
    return SearchState(
        algorithm=algorithm.init(init_key),
        ledger=ledger_lib.init(num_architectures, budget),
        step=jnp.zeros((), jnp.int32),
        key=run_key,
    )


@functools.lru_cache(maxsize=32)
def make_init(algorithm: SearchAlgorithm, num_architectures: int, budget: int, sharding=None) -> Callable:
    """jit(vmap(seed -> the initial SearchState of that seed)), the states run_search starts from."""
    init = functools.partial(_init_state, algorithm, num_architectures, budget)
    return jax.jit(jax.vmap(init), out_shardings=sharding)


def _search_step(algorithm: SearchAlgorithm, index_fn, table, state: SearchState) -> SearchState:
    key = jax.random.fold_in(state.key, state.step)
    archs, alg_state = algorithm.ask(state.algorithm, key)
    indices = jax.vmap(index_fn)(archs)
    values, ledger = ledger_lib.query(state.ledger, table, indices)
    alg_state = algorithm.tell(alg_state, archs, values)
    return SearchState(algorithm=alg_state, ledger=ledger, step=state.step + 1, key=state.key)


def _compile(advance: Callable, states: SearchState, name: str) -> Callable:
    """``advance`` compiled ahead of time for states shaped and placed like ``states``."""
    spec = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), states)
    leaves, treedef = jax.tree_util.tree_flatten(spec)
    return _compiled(advance, treedef, tuple(leaves), name)


@functools.lru_cache(maxsize=32)
def _compiled(advance: Callable, treedef, leaves: tuple, name: str) -> Callable:
    # Cached like make_stepper: repeated searches with one algorithm object compile once.
    start = time.perf_counter()
    logging.info("%s: compiling the search step...", name)
    spec = jax.tree_util.tree_unflatten(treedef, leaves)
    compiled = advance.lower(spec, np.int32(0)).compile()
    logging.info("%s: search step compiled in %.1fs", name, time.perf_counter() - start)
    return compiled


def _check_state(budget: int, max_steps: int):
    """Validator of restored states: counts and steps within what the run allows."""

    def check(step: int, states: SearchState) -> Optional[str]:
        counts = np.asarray(distributed.to_host(states.ledger.count))
        steps = np.asarray(distributed.to_host(states.step))
        if counts.min() < 0 or counts.max() > budget:
            return f"query counts {counts.min()}..{counts.max()} outside [0, {budget}]"
        if steps.min() < 0 or steps.max() > min(step, max_steps):
            return f"seed steps {steps.min()}..{steps.max()} outside [0, {min(step, max_steps)}]"
        return None

    return check


@functools.lru_cache(maxsize=32)
def make_stepper(algorithm: SearchAlgorithm, benchmark: Benchmark, sharding=None) -> Callable:
    """jit(vmap(run until `limit` steps or budget spent)) for one algorithm/benchmark.

    Cached, so repeated searches with the same algorithm object reuse the compiled code.
    """
    table = jnp.asarray(benchmark.signal)
    index_fn = benchmark.space.index

    def advance(state: SearchState, limit):
        def cond(s):
            return (s.step < limit) & ~ledger_lib.exhausted(s.ledger)

        return jax.lax.while_loop(cond, lambda s: _search_step(algorithm, index_fn, table, s), state)

    batched = jax.vmap(advance, in_axes=(0, None))
    if sharding is not None:
        # Each device loops over its own seeds only: the vmapped while_loop's "any seed
        # still running" test stays on the device instead of an all-reduce every step.
        batched = distributed.per_device(batched, sharding, (True, False))
    return jax.jit(batched, out_shardings=sharding)


def run_search(
    algorithm: SearchAlgorithm,
    benchmark: Benchmark,
    budget: int,
    num_seeds: int,
    seed: int = 0,
    algorithm_name: str = "",
    max_steps: Optional[int] = None,
    chunk_steps: Optional[int] = None,
    log_every_seconds: float = 5.0,
    num_devices: Optional[int] = None,
    checkpoint_dir: Optional[str] = None,
    checkpoint_every_steps: Optional[int] = None,
    resume: bool = False,
    overwrite: bool = False,
    run_info: Optional[dict] = None,
) -> SearchResult:
    """Runs ``num_seeds`` independent searches (seeds seed..seed+S-1) with one program.

    A seed stops when it has spent ``budget`` queries or taken ``max_steps`` ask/tell
    steps (default 100 steps per query, so an algorithm that keeps re-asking known or
    absent architectures still terminates).

    Seeds are sharded over ``num_devices`` devices (default all, at most one per seed). With
    ``checkpoint_dir`` the state is saved every ``checkpoint_every_steps`` steps (default
    every chunk; chunks end at those steps) and at the end; ``resume`` continues from the
    newest checkpoint there that restores, which must come from the same run (``run_info``
    describes it: algorithm, benchmark, hyperparameters). Without ``resume`` the directory
    must hold no checkpoint unless ``overwrite``. Results do not depend on the device
    count, the chunking or on resuming; ``wall_seconds`` counts the resumed runs' time too.

    Raises SearchSettingsError (a ValueError) for impossible settings: a budget above
    the number of architectures the benchmark contains, a budget, seed count,
    max_steps, chunk_steps or checkpoint_every_steps below 1, resume without a directory.
    """
    for what, value in (("budget", budget), ("number of seeds", num_seeds), ("max_steps", max_steps),
                        ("chunk_steps", chunk_steps), ("checkpoint_every_steps", checkpoint_every_steps)):
        if value is not None and value < 1:
            raise SearchSettingsError(f"{what} must be >= 1, got {value}")
    if budget > benchmark.num_available:
        raise SearchSettingsError(
            f"budget {budget} exceeds the {benchmark.num_available} architectures {benchmark.name} contains "
            "(a search queries each at most once)"
        )
    if resume and not checkpoint_dir:
        raise SearchSettingsError("resume needs a checkpoint directory")
    max_steps = 100 * budget + 1000 if max_steps is None else max_steps
    chunk_steps = chunk_steps or max(1, budget // (10 * algorithm.batch_size))
    name = algorithm_name or "search"
    start = time.perf_counter()
    checkpointer = None
    if checkpoint_dir:  # a used directory is refused before any work
        run = {"budget": budget, "seeds": num_seeds, "seed": seed, "max_steps": max_steps,
               "benchmark": benchmark.name, "algorithm": algorithm_name, **(run_info or {})}
        checkpointer = checkpoint.Checkpointer(checkpoint_dir, run, resume=resume, overwrite=overwrite)

    mesh = distributed.seed_mesh(num_devices, num_seeds)
    sharding = distributed.seed_sharding(mesh)
    logging.info("%d seeds on %d %s device(s)", num_seeds, mesh.devices.size, mesh.devices.flat[0].platform)
    seeds = np.arange(seed, seed + num_seeds)
    # Pad to a multiple of the device count; seeds are independent, the extras are dropped.
    run_seeds = np.arange(seed, seed + distributed.padded_count(num_seeds, mesh))
    init_start = time.perf_counter()
    # Seed keys are made inside jit from a global seed array (every process holds the same
    # numbers), so a multi-process run starts from exactly the states of a one-process run.
    states = jax.block_until_ready(make_init(algorithm, benchmark.space.num_architectures, budget, sharding)(
        distributed.global_array(run_seeds.astype(np.uint32), sharding)
    ))
    logging.info("%s: initial search states built in %.1fs (compilation included)", name,
                 time.perf_counter() - init_start)
    advance = _compile(make_stepper(algorithm, benchmark, sharding), states, name)

    limit, last_saved = 0, 0
    if checkpointer:
        if resume:
            restored = checkpointer.restore_with_info(states, _check_state(budget, max_steps))
            limit, states = restored.step, restored.state
            last_saved = limit
            start -= float(restored.info.get("wall_seconds", 0.0))  # wall time counts every part
            logging.info("resumed from %s at step %d", checkpoint_dir, limit)
    # Chunks end at every checkpoint step, so checkpoints come every checkpoint_every_steps.
    checkpoint_every_steps = checkpoint_every_steps or chunk_steps

    last_log, first_round = start, True
    # This process's pace excludes compilation and the parts before a resume.
    pace_start, pace_from = time.perf_counter(), None
    while True:
        counts = np.asarray(distributed.to_host(states.ledger.count))[:num_seeds]
        pace_from = counts.mean() if pace_from is None else pace_from
        done = bool(np.all(counts >= budget)) or limit >= max_steps
        if done:
            break
        chunk = 1 if first_round else chunk_steps  # the first progress line after one round
        next_save = (limit // checkpoint_every_steps + 1) * checkpoint_every_steps if checkpointer else max_steps
        limit = min(limit + chunk, next_save, max_steps)
        round_start = time.perf_counter()
        states = advance(states, np.int32(limit))
        counts = np.asarray(distributed.to_host(states.ledger.count))[:num_seeds]
        now = time.perf_counter()
        if first_round:
            logging.info("%s: first ask/tell round took %.1fs", name, now - round_start)
        if checkpointer and limit % checkpoint_every_steps == 0:
            checkpointer.save(limit, states, info={"wall_seconds": now - start})
            last_saved = limit
        if first_round or now - last_log >= log_every_seconds:
            _log_progress(algorithm_name, benchmark, states, limit, counts, budget, now - start, num_seeds,
                          pace=(counts.mean() - pace_from, now - pace_start))
            last_log = now
        first_round = False
    _log_progress(algorithm_name, benchmark, states, limit, counts, budget, time.perf_counter() - start, num_seeds)
    if checkpointer:
        if last_saved != limit:
            checkpointer.save(limit, states, info={"wall_seconds": time.perf_counter() - start})
        checkpointer.close()
    if not np.all(counts >= budget):
        short = np.flatnonzero(counts < budget)
        logging.warning(
            "%s on %s: %d of %d seeds stopped at max_steps=%d before spending the budget of %d queries "
            "(seeds %s made %s queries); their results are the best of fewer queries",
            name, benchmark.name, len(short), num_seeds, max_steps, budget,
            [int(seeds[i]) for i in short[:10]], [int(counts[i]) for i in short[:10]],
        )

    states = jax.tree_util.tree_map(lambda a: a[:num_seeds], distributed.to_host(states))
    ledger = states.ledger
    history = np.asarray(ledger.history)
    reported = np.where(history >= 0, benchmark.reported[np.maximum(history, 0)], np.nan).astype(np.float32)
    signal = np.asarray(ledger.values, np.float32)
    curve = np.asarray(metrics.best_so_far(signal, reported))
    diagnostics = {}
    if algorithm.diagnostics is not None:
        diagnostics = {name: np.asarray(values) for name, values in algorithm.diagnostics(states.algorithm).items()}
    return SearchResult(
        benchmark=benchmark.name,
        algorithm=algorithm_name,
        budget=budget,
        seeds=seeds,
        history=history,
        signal=signal,
        reported=reported,
        curve=curve,
        queries=np.asarray(ledger.count),
        steps=np.asarray(states.step),
        optimum=benchmark.optimum,
        wall_seconds=time.perf_counter() - start,
        diagnostics=diagnostics,
        parts=checkpointer.parts if checkpointer else [],
    )
