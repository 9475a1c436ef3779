"""Tests of the disk cache (jaxnas/cache.py)."""

import os

import numpy as np
import pytest

from jaxnas import cache, data

ARRAYS = {
    "values": np.arange(10, dtype=np.float32),
    "names": np.array([b"a", b"bc"]),
    "param:encoder/Dense_0/kernel": np.ones((2, 3), np.float32),  # any text is a name
}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.bin"
    path.write_bytes(b"source table")
    return path


def test_round_trip(folder, source):
    cached = cache.entry("table", 1, {"rows": 10}, [source])
    assert cached.path.parent == folder and cached.path.name.startswith("table_")
    assert cache.load(cached) is None
    assert cache.save(cached, ARRAYS)
    loaded = cache.load(cached)
    assert loaded.keys() == ARRAYS.keys()
    for name, array in ARRAYS.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype
    assert cache.load(cached, ["values"]).keys() == {"values"}
    assert [p.name for p in folder.iterdir()] == [cached.path.name]  # no temporary left


def test_subfolder(folder):
    cached = cache.entry("table", 1, subfolder="assessor")
    assert cached.path.parent == folder / "assessor" and cached.path.parent.is_dir()


def test_load_or_build_builds_once(folder, source):
    cached = cache.entry("table", 1, {}, [source])
    calls = []

    def build():
        calls.append(1)
        return ARRAYS

    first, from_cache = cache.load_or_build(cached, build)
    assert not from_cache and len(calls) == 1
    second, from_cache = cache.load_or_build(cached, build)
    assert from_cache and len(calls) == 1
    np.testing.assert_array_equal(second["values"], first["values"])
    # A table the caller rejects is rebuilt.
    _, from_cache = cache.load_or_build(cached, build, valid=lambda a: a["values"].size == 3)
    assert not from_cache and len(calls) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped"])
def test_damaged_file_is_rebuilt(folder, damage):
    cached = cache.entry("table", 1)
    cache.save(cached, {"values": np.arange(100_000, dtype=np.int64)})
    raw = cached.path.read_bytes()
    damaged = {
        "garbage": b"not an npz file",
        "truncated": raw[: len(raw) // 2],
        "empty": b"",
        "flipped": raw[:1000] + bytes([raw[1000] ^ 0xFF]) + raw[1001:],  # inside the data: CRC
    }[damage]
    cached.path.write_bytes(damaged)
    assert cache.load(cached) is None
    rebuilt, from_cache = cache.load_or_build(cached, lambda: ARRAYS)
    assert not from_cache
    np.testing.assert_array_equal(cache.load(cached)["values"], ARRAYS["values"])


def test_file_with_another_key_is_not_trusted(folder):
    cached = cache.entry("table", 1)
    other = cache.entry("table", 2)
    cache.save(other, ARRAYS)
    os.replace(other.path, cached.path)  # right name, wrong contents
    assert cache.load(cached) is None


def test_key_changes_with_settings_version_and_sources(folder, source, tmp_path):
    base = cache.entry("table", 1, {"rows": 10, "seed": 0}, [source])
    assert cache.entry("table", 1, {"seed": 0, "rows": 10}, [source]) == base  # order-free
    changed = [
        cache.entry("table", 1, {"rows": 11, "seed": 0}, [source]),
        cache.entry("table", 2, {"rows": 10, "seed": 0}, [source]),
        cache.entry("other", 1, {"rows": 10, "seed": 0}, [source]),
        cache.entry("table", 1, {"rows": 10, "seed": 0}, []),
    ]
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes, new mtime
    changed.append(cache.entry("table", 1, {"rows": 10, "seed": 0}, [source]))
    source.write_bytes(b"a longer source table")
    changed.append(cache.entry("table", 1, {"rows": 10, "seed": 0}, [source]))
    copy = tmp_path / "copy.bin"
    copy.write_bytes(source.read_bytes())
    changed.append(cache.entry("table", 1, {"rows": 10, "seed": 0}, [copy]))
    paths = {c.path for c in changed}
    assert len(paths) == len(changed) and base.path not in paths
    cache.save(base, ARRAYS)
    assert all(cache.load(c) is None for c in changed)


def test_failing_write_leaves_the_old_file(folder, monkeypatch):
    cached = cache.entry("table", 1)
    assert cache.save(cached, ARRAYS)
    before = cached.path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(file, **arrays):
        real_savez(file, **arrays)  # the temporary file is complete ...
        raise OSError(28, "No space left on device")  # ... but the write fails

    monkeypatch.setattr(np, "savez", savez_then_fail)
    assert not cache.save(cached, {"values": np.zeros(3)})
    assert cached.path.read_bytes() == before
    assert [p.name for p in folder.iterdir()] == [cached.path.name]

    def interrupted(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.save(cached, {"values": np.zeros(3)})
    assert cached.path.read_bytes() == before
    assert [p.name for p in folder.iterdir()] == [cached.path.name]
    np.testing.assert_array_equal(cache.load(cached)["values"], ARRAYS["values"])


def test_no_cache_folder_means_no_entry(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(blocker / "cache"))  # cannot be created
    cached = cache.entry("table", 1)
    assert cached is None
    assert cache.load(cached) is None and not cache.save(cached, ARRAYS)
    arrays, from_cache = cache.load_or_build(cached, lambda: ARRAYS)
    assert not from_cache and arrays.keys() == ARRAYS.keys()


def test_missing_source_raises(folder, tmp_path):
    with pytest.raises(FileNotFoundError):
        cache.entry("table", 1, sources=[tmp_path / "absent"])
