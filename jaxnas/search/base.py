"""Search algorithms as pure ask/tell pairs over vectorised populations.

An algorithm is a triple of pure functions (optax-style), with its state a pytree:

    state = algorithm.init(key)
    archs, state = algorithm.ask(state, key)     # a batch of `batch_size` architectures
    state = algorithm.tell(state, archs, values)  # their search-signal values

and optionally ``algorithm.diagnostics(state)``: named counters of what the search did
(e.g. how many queries SemiNAS's gradient ascent supplied), which the runner reports per
seed in results.json.

``values`` are what the query ledger answered: NaN means "no answer" (invalid, not in
the benchmark, or over budget) and must be ignored by the algorithm. Everything is
jittable and written for one search; the runner vmaps over seeds.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

State = Any


class SearchAlgorithm(NamedTuple):
    init: Callable[[jax.Array], State]
    ask: Callable[[State, jax.Array], tuple[Any, State]]
    tell: Callable[[State, Any, jax.Array], State]
    batch_size: int
    # State -> {name: int or float array}; works on one state or a seed-batched one.
    diagnostics: Optional[Callable[[State], dict]] = None


def only_where(pred: jax.Array, fn: Callable[[Any], Any], operand: Any, default: Any) -> Any:
    """``fn(operand)`` where ``pred``, else ``default``; a while_loop of at most one trip.

    Under vmap the loop runs while ANY seed's ``pred`` holds, so the work is skipped
    entirely when no seed needs it (``lax.cond`` under vmap computes both branches).
    The operand goes through the loop carry and an optimisation barrier with the loop
    flag: otherwise XLA sees ``fn(operand)`` as loop-invariant and hoists it out of the
    loop, computing it at every step (measured: it did, under vmap).
    """

    def body(carry):
        flag, operand, _ = carry
        operand, _ = jax.lax.optimization_barrier((operand, flag))
        return jnp.zeros((), bool), operand, fn(operand)

    return jax.lax.while_loop(lambda carry: carry[0], body, (jnp.asarray(pred), operand, default))[2]
