"""A search space restricted to the architectures a benchmark contains.

``nb101_subset`` holds 30,001 of the 423,624 NB101 cells. Searching the full space
wastes ~95 % of samples and mutations on cells the oracle can only answer with "not in
benchmark". Membership reveals nothing about accuracy, so a search may skip such cells
for free: this wrapper draws samples and mutations by rejection until they land in the
benchmark (a block of proposals at a time, inside jit). The distribution is the
space's own generative rule conditioned on membership.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas.spaces import base


class RestrictedSpace(base.SearchSpace):
    """``space`` with sample/mutate/is_valid restricted to ``available`` indices."""

    def __init__(self, space: base.SearchSpace, available: np.ndarray):
        available = np.asarray(available, bool)
        if available.shape != (space.num_architectures,):
            raise ValueError(
                f"availability mask has shape {available.shape}, expected ({space.num_architectures},)"
            )
        if not available.any():
            raise ValueError(f"no architecture of {space.name} is available")
        self.inner = space
        self.available = available
        self.name = space.name
        for attribute in ("num_architectures", "sequence_length", "vocab_size", "max_nodes",
                          "num_node_types", "max_edges", "one_hot_size"):
            setattr(self, attribute, getattr(space, attribute))

    def __getattr__(self, name):
        # Space-specific extras (e.g. NB101's fingerprint) pass through to the inner space.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def contains(self, arch) -> jax.Array:
        index = self.inner.index(arch)
        return (index >= 0) & jnp.asarray(self.available)[jnp.maximum(index, 0)]

    def search_domain(self):
        return np.flatnonzero(self.available).astype(np.int32)

    # Generation is restricted; everything else is the inner space's.
    def sample(self, key):
        """Uniform over the benchmark's architectures (every space's ``sample`` is
        uniform over its enumeration, so this is that rule conditioned on membership)."""
        indices = jnp.asarray(self.search_domain())
        return self.inner.from_index(indices[jax.random.randint(key, (), 0, indices.shape[0])])

    def mutate(self, key, arch):
        return self.inner.mutate_where(key, arch, self.contains)

    def mutate_where(self, key, arch, accept):
        return self.inner.mutate_where(key, arch, lambda child: self.contains(child) & accept(child))

    def is_valid(self, arch):
        return self.inner.is_valid(arch) & self.contains(arch)

    def check(self, arch):
        self.inner.check(arch)
        if not bool(self.contains(arch)):
            raise base.InvalidArchitectureError(
                f"architecture {self.inner.to_string(arch)} is valid but not in the benchmark"
            )

    def canonicalise(self, arch):
        return self.inner.canonicalise(arch)

    def index(self, arch):
        return self.inner.index(arch)

    def from_index(self, index):
        return self.inner.from_index(index)

    def one_hot(self, arch):
        return self.inner.one_hot(arch)

    def tokens(self, arch):
        return self.inner.tokens(arch)

    def from_tokens(self, tokens):
        return self.inner.from_tokens(tokens)

    def graph(self, arch):
        return self.inner.graph(arch)

    def to_string(self, arch):
        return self.inner.to_string(arch)

    def from_string(self, text):
        return self.inner.from_string(text)
