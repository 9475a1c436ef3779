import numpy as np
import pytest

from jaxnas import benchmarks, data
from jaxnas.spaces import nb201

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def test_nb201_cifar10_columns_follow_the_space_order():
    bench = benchmarks.load_benchmark("nb201_cifar10")
    assert bench.num_available == 15625
    assert bench.optimum == pytest.approx(94.3733, abs=1e-3)
    space = bench.space
    best = int(space.index(space.from_string(BEST)))
    assert bench.reported[best] == pytest.approx(94.3733, abs=1e-3)
    # Same cell, looked up in the raw official-order file.
    raw = np.load(data.resolve("nb201.npz"))
    row = np.flatnonzero((raw["ops"] == np.asarray(space.from_string(BEST).ops)).all(axis=1))[0]
    assert bench.reported[best] == raw["cifar10_test_200ep"][row]
    analog = np.load(data.resolve("nb201_analognas.npz"))
    assert bench.signal[best] == analog["c10_baseline_accuracy"][row]
    # The search signal is a different measurement from the reported one.
    assert np.corrcoef(bench.signal, bench.reported)[0, 1] > 0.99
    assert not np.allclose(bench.signal, bench.reported)


@pytest.mark.parametrize("name", ["nb201_cifar10_12ep", "nb201_cifar100_12ep", "nb201_imagenet16_12ep"])
def test_low_fidelity_benchmarks(name):
    bench = benchmarks.load_benchmark(name)
    assert bench.signal_name.endswith("valid_12ep") and bench.reported_name.endswith("test_12ep")
    assert np.isfinite(bench.signal).all()


def test_benchmark_arrays_are_read_only():
    bench = benchmarks.load_benchmark("nb201_cifar10")
    with pytest.raises(ValueError):
        bench.signal[0] = 0.0


def test_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark 'nb999'.*nb201_cifar10"):
        benchmarks.load_benchmark("nb999")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(data.DataFileError, match="nb201.npz.*not found.*JAXNAS_DATA"):
        benchmarks.load_benchmark("nb201_cifar10", data_dir=str(tmp_path))


def test_corrupt_file_is_reported(tmp_path):
    (tmp_path / "nb201.npz").write_bytes(b"this is not a zip archive")
    with pytest.raises(data.DataFileError, match="corrupt"):
        nb201.official_order(str(tmp_path))


def test_wrong_arrays_are_reported(tmp_path):
    np.savez(tmp_path / "nb201.npz", ops=np.zeros((10, 6), np.uint8), index=np.arange(10))
    with pytest.raises(data.DataFileError, match="shape"):
        nb201.official_order(str(tmp_path))
    np.savez(tmp_path / "nb201.npz", something=np.zeros(3))
    with pytest.raises(data.DataFileError, match="lacks arrays"):
        nb201.official_order(str(tmp_path))


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXNAS_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    assert data.data_dir("/elsewhere") == data.pathlib.Path("/elsewhere")
    monkeypatch.delenv("JAXNAS_DATA")
    assert (data.data_dir() / "nb201.npz").is_file()  # ../shared/data beside the checkout
