"""Data files (jaxnas.data and the table loaders): a damaged, foreign or mis-scaled file is
refused with an error naming it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil

import numpy as np
import pytest

from jaxnas import benchmarks, data
from jaxnas.benchmarks import nb101 as nb101_bench
from jaxnas.benchmarks import nb201 as nb201_bench
from jaxnas.benchmarks import nbgraph as nbgraph_bench
from jaxnas.spaces import nb201


def _nb201_copy(tmp_path, **changes):
    """tmp_path/nb201.npz: the real table with ``changes`` (column -> new array)."""
    with np.load(data.resolve("nb201.npz")) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    np.savez(tmp_path / "nb201.npz", **arrays)
    return arrays


def _column(name="cifar10_valid_12ep"):
    with np.load(data.resolve("nb201.npz")) as archive:
        return archive[name]


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda c: c / 100, r"should be in percent but every value is <= 1.*divided by 100"),
        (lambda c: c * 100, r"has 15625 values outside \[0, 100\] \(percent\)"),
        (lambda c: np.where(np.arange(c.size) % 7 == 0, np.nan, c), r"has 2233 NaN values of 15625"),
        (lambda c: c.astype(str), r"holds <U\d+ values, not numbers"),
    ],
    ids=["divided_by_100", "times_100", "every_seventh_nan", "strings"],
)
def test_bad_nb201_columns_are_refused(tmp_path, change, message):
    _nb201_copy(tmp_path, cifar10_valid_12ep=change(_column()))
    with pytest.raises(data.DataFileError, match=rf"nb201.npz.*'cifar10_valid_12ep' {message}"):
        nb201_bench.load_12ep("cifar10", data_dir=str(tmp_path))


def test_nb201_ops_out_of_range_are_refused(tmp_path):
    with np.load(data.resolve("nb201.npz")) as archive:
        ops = archive["ops"].copy()
    ops[3, 2] = 7
    _nb201_copy(tmp_path, ops=ops)
    with pytest.raises(data.DataFileError, match=r"'ops' has 1 values outside \[0, 4\]"):
        nb201_bench.load_12ep("cifar10", data_dir=str(tmp_path))


def test_byte_flip_in_a_compressed_member(tmp_path):
    rng = np.random.default_rng(0)
    np.savez_compressed(tmp_path / "nb201.npz", ops=rng.integers(0, 5, (15625, 6), dtype=np.uint8),
                        index=np.arange(15625, dtype=np.int32))
    raw = bytearray((tmp_path / "nb201.npz").read_bytes())
    raw[len(raw) // 4] ^= 0x5A  # inside the compressed 'ops' member
    (tmp_path / "nb201.npz").write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError, match=r"nb201.npz is corrupt or not an .npz archive \((error|BadZipFile)"):
        nb201.official_order(str(tmp_path))


def test_random_bytes_and_pickles_are_refused_without_unsafe_advice(tmp_path):
    (tmp_path / "nb201.npz").write_bytes(b"\x80\x04" + np.random.default_rng(1).bytes(4000))
    with pytest.raises(data.DataFileError, match="does not start with a zip header") as err:
        nb201.official_order(str(tmp_path))
    assert "allow_pickle" not in str(err.value)
    np.savez(tmp_path / "nb201.npz", ops=np.array([object()] * 3, dtype=object), index=np.arange(3))
    with pytest.raises(data.DataFileError, match="holds pickled Python objects, which are never loaded") as err:
        nb201.official_order(str(tmp_path))
    assert "allow_pickle" not in str(err.value)


def test_sha256sums_are_verified_once(tmp_path):
    shutil.copy(data.resolve("nb201.npz"), tmp_path / "nb201.npz")
    digest = hashlib.sha256((tmp_path / "nb201.npz").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  nb201.npz\n{digest}  other.npz\n")
    before = data._sha256.cache_info()
    with pytest.raises(data.DataFileError, match=r"nb201.npz does not match its checksum in .*SHA256SUMS"):
        data.resolve("nb201.npz", tmp_path)
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  nb201.npz\n")
    for _ in range(3):
        data.resolve("nb201.npz", tmp_path)
    after = data._sha256.cache_info()
    assert after.misses - before.misses == 1 and after.hits - before.hits == 3  # hashed once
    (tmp_path / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(data.DataFileError, match="SHA256SUMS, line 1: .* is not '<sha256 hex digest>  <file name>'"):
        data.resolve("nb201.npz", tmp_path)


def test_shipped_files_match_their_sha256sums():
    sums = data.data_dir() / data.CHECKSUM_FILE
    if not sums.is_file():
        pytest.skip("no SHA256SUMS beside the data")
    for line in sums.read_text().splitlines():
        data.resolve(line.split()[1])  # raises on a mismatch


def test_nbgraph_table_in_percent_is_refused(tmp_path):
    folder = tmp_path / "nbgraph"
    folder.mkdir()
    space = benchmarks.load_benchmark("nbgraph_proteins").space
    entry = {"valid_perf": 85.2, "perf": 0.8, "latency": 0.1, "para": 1.0}
    (folder / "proteins.bench").write_bytes(pickle.dumps({int(h): entry for h in space.hashes}))
    with pytest.raises(data.DataFileError, match=r"'valid_perf' has 2021 values outside \[0, 1\] \(fraction\)"):
        nbgraph_bench.load("proteins", data_dir=str(tmp_path))


def test_nb101_subset_in_percent_is_refused(tmp_path):
    with np.load(data.resolve("nb101_subset.npz")) as archive:
        subset = {key: archive[key] for key in archive.files}
    subset["val_acc_108ep"] = subset["val_acc_108ep"] * 100
    np.savez(tmp_path / "nb101_subset.npz", **subset)
    os.symlink(data.resolve("nb101_graphs.npz"), tmp_path / "nb101_graphs.npz")
    with pytest.raises(data.DataFileError, match=r"'val_acc_108ep' has 30001 values outside \[0, 1\] \(fraction\)"):
        nb101_bench.load_subset(data_dir=str(tmp_path))
