"""The query ledger: honest accounting of every oracle access by a search algorithm.

The ledger is a pytree, so it lives inside jitted, vmapped search loops. Rules:
- a new architecture costs one query and is recorded in order (``history``);
- re-querying an architecture already paid for is free and returns the same value;
- an invalid architecture (index -1) or one the benchmark does not contain (NaN in the
  table) is answered NaN at no cost — it never maps to a nearby architecture;
- once ``count == budget`` new architectures are refused (NaN, no record).
Search algorithms receive only the search-signal column; the reported metric is read
after the search from ``history``, outside the algorithm.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Ledger(NamedTuple):
    seen: jax.Array  # bool[num_architectures]: paid for (answered) so far
    count: jax.Array  # int32 scalar: queries charged
    history: jax.Array  # int32[budget]: space index of each charged query, -1 = unused
    values: jax.Array  # float32[budget]: the value answered for each charged query

    @property
    def budget(self) -> int:
        return self.history.shape[-1]


def init(num_architectures: int, budget: int) -> Ledger:
    if budget <= 0:
        raise ValueError(f"query budget must be positive, got {budget}")
    return Ledger(
        seen=jnp.zeros((num_architectures,), bool),
        count=jnp.zeros((), jnp.int32),
        history=jnp.full((budget,), -1, jnp.int32),
        values=jnp.full((budget,), jnp.nan, jnp.float32),
    )


def query(ledger: Ledger, table: jax.Array, indices: jax.Array) -> tuple[jax.Array, Ledger]:
    """Answers a batch of queries in order; returns (values float32[B], new ledger).

    table: float32[num_architectures] search-signal column (NaN = not in benchmark).
    indices: int32[B] space indices, -1 for invalid architectures.
    """

    def one(ledger: Ledger, index):
        safe = jnp.maximum(index, 0)
        value = table[safe]
        in_table = (index >= 0) & ~jnp.isnan(value)
        known = ledger.seen[safe] & in_table
        charge = in_table & ~known & (ledger.count < ledger.budget)
        answered = known | charge
        slot = jnp.minimum(ledger.count, ledger.budget - 1)
        ledger = Ledger(
            seen=ledger.seen.at[safe].set(ledger.seen[safe] | charge),
            count=ledger.count + charge.astype(jnp.int32),
            history=ledger.history.at[slot].set(jnp.where(charge, index, ledger.history[slot])),
            values=ledger.values.at[slot].set(jnp.where(charge, value, ledger.values[slot])),
        )
        return ledger, jnp.where(answered, value, jnp.nan)

    ledger, values = jax.lax.scan(one, ledger, jnp.asarray(indices, jnp.int32))
    return values, ledger


def exhausted(ledger: Ledger) -> jax.Array:
    return ledger.count >= ledger.budget
