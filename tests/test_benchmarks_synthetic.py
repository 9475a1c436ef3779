"""The synthetic benchmarks: deterministic, data-free, learnable, and given their space's defaults."""

import jax
import numpy as np
import pytest

from jaxnas import benchmarks, presets, search
from jaxnas.benchmarks import synthetic
from jaxnas.predictors import acenas
from jaxnas.spaces import restricted

SYNTHETIC = {"nb201_synthetic": "nb201", "nb201_synthetic_subset": "nb201", "nbgraph_synthetic": "nbgraph"}


@pytest.mark.parametrize("name,space", SYNTHETIC.items())
def test_registered_over_the_real_space_in_percent(name, space):
    bench = benchmarks.load_benchmark(name)
    assert name in benchmarks.BENCHMARK_NAMES and bench.name == name and bench.space.name == space
    assert "SYNTHETIC" in bench.description
    for column in (bench.signal, bench.reported, bench.columns["synthetic_valid_12ep"]):
        assert column.dtype == np.float32 and column.shape == (bench.space.num_architectures,)
        values = column[bench.available]
        assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 100.0
        assert values.std() > 5.0  # spread like accuracies, not a constant
        assert np.isnan(column[~bench.available]).all()
    ok = bench.available
    # Independent noise: close to the same score, never the same column.
    assert not np.array_equal(bench.signal[ok], bench.reported[ok])
    assert np.corrcoef(bench.signal[ok], bench.reported[ok])[0, 1] > 0.95
    assert 0.8 < np.corrcoef(bench.columns["synthetic_valid_12ep"][ok], bench.reported[ok])[0, 1] < 0.99


def test_deterministic_and_reads_no_data(monkeypatch):
    monkeypatch.setenv("JAXNAS_DATA", "/nonexistent")
    a = synthetic.load("nb201", seed=201, data_dir="/nonexistent")
    b = benchmarks.load_benchmark("nb201_synthetic")
    for column in ("signal", "reported", "synthetic_valid_12ep"):
        np.testing.assert_array_equal(a.column(column), b.column(column))
    other = synthetic.load("nb201", seed=7)
    assert not np.array_equal(other.reported, a.reported)
    with pytest.raises(ValueError, match="coverage"):
        synthetic.load("nb201", seed=0, coverage=0.0)
    with pytest.raises(ValueError, match="no synthetic benchmark over space 'nb101'"):
        synthetic.load("nb101", seed=0)


def test_subset_searches_a_restricted_space(synthetic_nb201, synthetic_nb201_subset):
    subset = synthetic_nb201_subset
    assert isinstance(subset.search_space, restricted.RestrictedSpace)
    assert subset.num_available == round(0.5 * subset.space.num_architectures)
    # Same made-up score where both have the cell.
    ok = subset.available
    np.testing.assert_array_equal(subset.reported[ok], synthetic_nb201.reported[ok])


@pytest.mark.parametrize("fixture", ["synthetic_nb201", "synthetic_nbgraph"])
def test_a_linear_model_of_the_encoding_learns_most_of_it(fixture, request):
    """Structured, not noise: per-position op scores explain most of the variance."""
    bench = request.getfixturevalue(fixture)
    space = bench.space
    x = np.asarray(jax.vmap(space.one_hot)(space.all_architectures()), np.float64)
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    rng = np.random.default_rng(0)
    train = rng.choice(len(x), 1000, replace=False)
    test = np.setdiff1d(np.arange(len(x)), train)
    weights = np.linalg.lstsq(x[train], bench.signal[train], rcond=None)[0]
    residual = bench.reported[test] - x[test] @ weights
    r2 = 1.0 - residual.var() / bench.reported[test].var()
    assert 0.6 < r2 < 0.98, r2  # learnable, with an interaction a linear model misses


def test_space_defaults_not_benchmark_defaults():
    """Every method's default and paper settings on a synthetic benchmark are those of a real
    benchmark over the same space (presets key on the space family)."""
    assert presets.space_family("nb201_synthetic") == "nb201" == presets.space_family("nb201_synthetic_subset")
    assert presets.space_family("nbgraph_synthetic") == "nbgraph"
    for name in search.ALGORITHM_NAMES:
        cls = search.config_class(name)
        for preset in presets.PRESETS:
            if preset == "paper" and not hasattr(cls, "paper"):
                continue
            for synthetic_name, real in [("nb201_synthetic", "nb201_cifar10"), ("nbgraph_synthetic", "nbgraph_cora")]:
                a, b = presets.config(cls, synthetic_name, preset), presets.config(cls, real, preset)
                if hasattr(a, "searched_benchmark"):  # AceNAS: the benchmark whose columns it refuses
                    assert a.searched_benchmark == synthetic_name
                    a, b = (c.replace(searched_benchmark="") for c in (a, b))
                assert a == b, (name, preset, synthetic_name)


def test_low_fidelity_column_is_an_allowed_weak_label(synthetic_nb201):
    space = synthetic_nb201.space
    labels = acenas.load_weak_labels("nb201_synthetic:synthetic_valid_12ep", space, None, "nb201_synthetic", True)
    np.testing.assert_array_equal(labels, synthetic_nb201.columns["synthetic_valid_12ep"])
    with pytest.raises(acenas.WeakLabelError, match="without|allow_table"):
        acenas.load_weak_labels("nb201_synthetic:synthetic_valid_12ep", space, None, "nb201_synthetic", False)
    for column, message in [("reported", "test-split column"), ("signal", "own signal column")]:
        with pytest.raises(acenas.WeakLabelError, match=message):
            acenas.load_weak_labels(f"nb201_synthetic:{column}", space, None, "nb201_synthetic", True)


def test_each_synthetic_benchmark_is_over_its_declared_space_family():
    for name in ("nb201_synthetic", "nb201_synthetic_subset", "nbgraph_synthetic"):
        assert benchmarks.load_benchmark(name).space.name == benchmarks.space_family(name)
    assert benchmarks.space_family("no_such_benchmark") is None
