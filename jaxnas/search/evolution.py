"""Regularised (aging) evolution, Real et al. 2019, as a vectorised ask/tell algorithm.

The population is filled with random architectures; then each step samples a tournament
of ``tournament_size`` members without replacement, mutates the fittest, and the child
replaces the OLDEST member (aging, not the worst). Children without an answer (NaN: not
in the benchmark, invalid, over budget) are discarded and the step is retried.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnas import presets
from jaxnas.config import Config, field
from jaxnas.search.base import SearchAlgorithm
from jaxnas.spaces.base import SearchSpace


# Population and tournament sizes per space family: the best mean of a P x S grid on
# tuning seeds at the family's search budget, 150 for nb201 and nbgraph, 300 for nb101
# (the grids and figures: docs/design-results.md).
DEFAULTS = {
    "nb201": dict(population_size=10, tournament_size=10),
    "nbgraph": dict(population_size=10, tournament_size=5),
    "nb101": dict(population_size=50, tournament_size=10),
}


@dataclasses.dataclass(frozen=True)
class EvolutionConfig(Config):
    label = "evolution"

    population_size: int = field(20, "P: members of the population; the oldest dies when a child is added.",
                                 lower=2)
    tournament_size: int = field(5, "S: members sampled per tournament; the best of them is mutated "
                                    "(at most population_size).", lower=1)

    @classmethod
    def for_benchmark(cls, benchmark_name):
        return cls(**DEFAULTS.get(presets.space_family(benchmark_name), {}))

    def cross_check(self):
        if self.tournament_size > self.population_size:
            raise ValueError(
                f"evolution tournament_size must be in [1, population_size={self.population_size}], "
                f"got {self.tournament_size}"
            )


class EvolutionState(NamedTuple):
    population: Any  # architecture pytree with leading axis population_size
    fitness: jax.Array  # float32[P], NaN for empty slots
    birth: jax.Array  # int32[P], step at which each member was added (-1 empty)
    size: jax.Array  # int32: members so far (<= P)
    clock: jax.Array  # int32: members ever added


def regularized_evolution(space: SearchSpace, config: EvolutionConfig = EvolutionConfig()) -> SearchAlgorithm:
    config.validate()
    p, s = config.population_size, config.tournament_size

    def init(key):
        template = space.sample_batch(key, p)  # placeholder contents; slots start empty
        return EvolutionState(
            population=template,
            fitness=jnp.full((p,), jnp.nan, jnp.float32),
            birth=jnp.full((p,), -1, jnp.int32),
            size=jnp.zeros((), jnp.int32),
            clock=jnp.zeros((), jnp.int32),
        )

    def ask(state, key):
        sample_key, tournament_key, mutate_key = jax.random.split(key, 3)

        def random_member(_):
            return space.sample(sample_key)

        def mutated_winner(_):
            contestants = jax.random.choice(tournament_key, p, (s,), replace=False)
            winner = contestants[jnp.argmax(state.fitness[contestants])]
            parent = jax.tree_util.tree_map(lambda a: a[winner], state.population)
            return space.mutate(mutate_key, parent)

        child = jax.lax.cond(state.size < p, random_member, mutated_winner, None)
        return jax.tree_util.tree_map(lambda a: a[None], child), state

    def tell(state, archs, values):
        child = jax.tree_util.tree_map(lambda a: a[0], archs)
        value = values[0]
        accepted = ~jnp.isnan(value)
        # Fill the population first, then replace the oldest member.
        slot = jnp.where(state.size < p, state.size, jnp.argmin(state.birth))
        population = jax.tree_util.tree_map(
            lambda pop, c: pop.at[slot].set(jnp.where(accepted, c, pop[slot])), state.population, child
        )
        return EvolutionState(
            population=population,
            fitness=state.fitness.at[slot].set(jnp.where(accepted, value, state.fitness[slot])),
            birth=state.birth.at[slot].set(jnp.where(accepted, state.clock, state.birth[slot])),
            size=state.size + (accepted & (state.size < p)).astype(jnp.int32),
            clock=state.clock + accepted.astype(jnp.int32),
        )

    return SearchAlgorithm(init=init, ask=ask, tell=tell, batch_size=1)
