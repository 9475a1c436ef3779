"""Random search: every query is a fresh sample from the space's generative rule."""

from __future__ import annotations

import dataclasses


from jaxnas.config import Config, field
from jaxnas.search.base import SearchAlgorithm
from jaxnas.spaces.base import SearchSpace


@dataclasses.dataclass(frozen=True)
class RandomSearchConfig(Config):
    label = "random search"

    batch_size: int = field(1, "Architectures asked per step.", lower=1)


def random_search(space: SearchSpace, config: RandomSearchConfig = RandomSearchConfig()) -> SearchAlgorithm:
    config.validate()

    def init(key):
        del key
        return ()

    def ask(state, key):
        return space.sample_batch(key, config.batch_size), state

    def tell(state, archs, values):
        del archs, values
        return state

    return SearchAlgorithm(init=init, ask=ask, tell=tell, batch_size=config.batch_size)
