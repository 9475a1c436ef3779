import jax
import numpy as np
import pytest

from jaxnas import benchmarks, spaces
from jaxnas.spaces import nb201, restricted


# A benchmark holding part of its space: the synthetic half of NB201 (no data files), and
# the real nb101_subset (its 30,001 cells; slow).
@pytest.fixture(scope="module", params=["nb201_synthetic_subset", pytest.param("nb101_subset", marks=pytest.mark.slow)])
def subset(request):
    return benchmarks.load_benchmark(request.param)


def test_full_benchmarks_search_their_whole_space(synthetic_nb201, synthetic_nbgraph):
    for bench in (synthetic_nb201, synthetic_nbgraph):
        assert bench.search_space is bench.space


def test_subset_sampling_and_mutation_stay_in_the_benchmark(subset):
    space = subset.search_space
    assert isinstance(space, restricted.RestrictedSpace)
    keys = jax.random.split(jax.random.key(0), 64)
    cells = jax.jit(jax.vmap(space.sample))(keys)
    rows = np.asarray(jax.vmap(space.index)(cells))
    assert subset.available[rows].all()
    children = jax.jit(jax.vmap(space.mutate))(keys, cells)
    child_rows = np.asarray(jax.vmap(space.index)(children))
    assert subset.available[child_rows].all()
    assert (child_rows != rows).all()
    # Membership is part of validity here; the plain space accepts any valid cell.
    outside = int(np.flatnonzero(~subset.available)[0])
    cell = subset.space.from_index(outside)
    assert bool(subset.space.is_valid(cell)) and not bool(space.is_valid(cell))
    with pytest.raises(spaces.InvalidArchitectureError, match="not in the benchmark"):
        space.check(cell)


def test_sample_is_uniform_over_available_indices():
    space = nb201.NB201Space()
    available = np.zeros(space.num_architectures, bool)
    available[[5, 77, 9000]] = True
    small = restricted.RestrictedSpace(space, available)
    rows = jax.vmap(small.index)(jax.vmap(small.sample)(jax.random.split(jax.random.key(1), 3000)))
    counts = np.bincount(np.asarray(rows), minlength=space.num_architectures)[[5, 77, 9000]]
    assert counts.sum() == 3000 and counts.min() > 900


def test_bad_masks():
    space = nb201.NB201Space()
    with pytest.raises(ValueError, match="shape"):
        restricted.RestrictedSpace(space, np.ones(10, bool))
    with pytest.raises(ValueError, match="no architecture"):
        restricted.RestrictedSpace(space, np.zeros(space.num_architectures, bool))


def test_search_domain_is_the_available_indices(subset):
    np.testing.assert_array_equal(subset.search_space.search_domain(), np.flatnonzero(subset.available))
    assert subset.search_space.search_domain().dtype == np.int32
    assert subset.space.search_domain() is None
