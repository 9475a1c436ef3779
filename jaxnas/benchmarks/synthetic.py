"""Synthetic benchmarks over real search spaces, so tests and trial runs need no data files.

NOT a real benchmark: every number is made up from a fixed NumPy seed, and results on it
mean nothing about any architecture. It exists so that code which needs *some* benchmark
(search algorithms, predictors, the query ledger, entry points) can be exercised without
the tables in ``../shared/data``.

The values are a smooth, structured function of the architecture, so predictors can
learn it and searches beat random sampling: each architecture is read as categorical
positions (NB201: its 6 edge ops; NB-Graph: its 4 canonical links and 4 ops), and its
score is a per-position value table plus a pairwise-interaction table (both drawn once
from the seed), squashed into percent.
``signal`` and ``reported`` add independent noise to that score; the extra column
``synthetic_valid_12ep`` is a noisier, lower "low-fidelity" copy (an allowed AceNAS weak
label; ``reported_name`` contains "test", so the reported column is refused as one).

``coverage < 1`` leaves a seeded fraction of the cells out (NaN), so that the benchmark
searches a :class:`~jaxnas.spaces.restricted.RestrictedSpace`, as ``nb101_subset`` does.
"""

from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

from jaxnas.benchmarks.base import Benchmark
from jaxnas.spaces import get_space, nb201

# Scale of the pieces, in percent: mid-range score, half-range of the squashed score, and
# the noise of each column (reported and signal disagree like two trainings of one cell).
_CENTRE, _HALF_RANGE = 60.0, 25.0
_NOISE = 0.5
_LOW_FIDELITY_NOISE = 2.0
_INTERACTION_SHARE = 0.2  # of the score's variance


def _nb201_positions(space) -> np.ndarray:
    """int64[15625, 6]: each cell's op per edge (the enumeration is their mixed-radix code)."""
    radix = nb201.NUM_OPS ** np.arange(nb201.NUM_EDGES - 1, -1, -1)
    return np.arange(space.num_architectures)[:, None] // radix % nb201.NUM_OPS


def _nbgraph_positions(space) -> np.ndarray:
    """int64[N, 8]: each row's canonical links and ops (read off its hash)."""
    from jaxnas.spaces import nbgraph  # lazy: its package is needed only for this space

    links, ops = nbgraph.decode_hash(space.hashes)
    return np.concatenate([links, ops], axis=1).astype(np.int64)


# Each architecture as categorical positions, computed on the host from the enumeration
# (building them through the spaces' jitted from_index would cost seconds per load).
_POSITIONS = {"nb201": _nb201_positions, "nbgraph": _nbgraph_positions}


def _standardise(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / (std if std > 0 else 1.0)


def _score(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float64[N]: standardised main effects plus a pairwise interaction, standardised."""
    sizes = positions.max(axis=0) + 1
    main = sum(rng.normal(size=size)[positions[:, p]] for p, size in enumerate(sizes))
    pairs = sum(
        rng.normal(size=(sizes[p], sizes[q]))[positions[:, p], positions[:, q]]
        for p, q in itertools.combinations(range(len(sizes)), 2)
    )
    return _standardise(
        np.sqrt(1 - _INTERACTION_SHARE) * _standardise(main) + np.sqrt(_INTERACTION_SHARE) * _standardise(pairs)
    )


def load(space_name: str, seed: int, coverage: float = 1.0, data_dir: Optional[str] = None) -> Benchmark:
    """The synthetic benchmark over space ``space_name`` (``data_dir`` is ignored: nothing is read).

    ``coverage`` (in (0, 1]) is the fraction of cells the benchmark contains. Named
    ``<space_name>_synthetic``, or ``<space_name>_synthetic_subset`` when ``coverage < 1``.
    """
    del data_dir
    if space_name not in _POSITIONS:
        raise ValueError(f"no synthetic benchmark over space {space_name!r}; choose from {sorted(_POSITIONS)}")
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    space = get_space(space_name)
    rng = np.random.default_rng(seed)
    score = _score(_POSITIONS[space_name](space), rng)
    accuracy = _CENTRE + _HALF_RANGE * np.tanh(score / 2.0)
    n = space.num_architectures

    def column(values):
        return np.clip(values, 0.0, 100.0).astype(np.float32)

    signal = column(accuracy + rng.normal(scale=_NOISE, size=n))
    reported = column(accuracy + rng.normal(scale=_NOISE, size=n))
    low_fidelity = column(0.8 * accuracy + rng.normal(scale=_LOW_FIDELITY_NOISE, size=n))
    if coverage < 1.0:
        left_out = rng.permutation(n)[: n - max(1, round(coverage * n))]
        for values in (signal, reported, low_fidelity):
            values[left_out] = np.nan
    name = f"{space_name}_synthetic" + ("" if coverage == 1.0 else "_subset")
    return Benchmark(
        name=name,
        space=space,
        signal=signal,
        reported=reported,
        signal_name="synthetic_valid_200ep (made-up validation accuracy, %)",
        reported_name="synthetic_test_200ep (made-up test accuracy, %)",
        description=(f"SYNTHETIC benchmark over the {space.name} space (seed {seed}, coverage {coverage:g}): "
                     f"made-up values for tests, results on it mean nothing"),
        columns={"synthetic_valid_12ep": low_fidelity},
    )
