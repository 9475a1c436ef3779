"""Disk cache of derived tables: ``.npz`` files under ``data.cache_dir()`` ($JAXNAS_CACHE).

A table that takes minutes to build (an index over a whole space, a parsed benchmark
file, a trained auto-encoder's outputs) is stored once and read by every later process.

* Naming: :func:`entry` names the file by a digest of everything the table depends on --
  its kind, the caller's format version, its settings and the path, size and mtime of
  each source file -- so a changed source or setting gives a new file, never a stale
  table. The key text is stored in the file too and checked on load.
* Writing: :func:`save` writes a temporary file in the same folder, then ``os.replace``:
  a reader (another process) sees the old file or the new one, never half of one, and a
  write cut short leaves the old file in place.
* Reading: :func:`load` returns None for a missing, damaged or foreign file; the caller
  rebuilds (:func:`load_or_build` does both).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import zipfile
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from absl import logging

from jaxnas import data

# Bump when the file layout below changes (it is part of every key).
FORMAT_VERSION = 1
_KEY_ARRAY = "cache_key"  # the key text, stored beside the tables
# What np.load raises on a truncated, garbled or non-npz file.
_UNREADABLE = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One cached table: where it lives and the key text its name digests."""

    path: pathlib.Path
    key: str


def source_stamp(path: str | os.PathLike) -> tuple[str, int, int]:
    """(resolved path, size, mtime_ns) of a source file: what a cache keyed on it sees."""
    path = pathlib.Path(path).resolve()
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def entry(
    kind: str,
    version: int,
    settings: Optional[Mapping[str, Any]] = None,
    sources: Sequence[str | os.PathLike] = (),
    subfolder: str = "",
) -> Optional[Entry]:
    """The cache entry ``<cache_dir>/[subfolder/]<kind>_<digest>.npz``, or None when no
    cache folder can be created (the caller then builds in every process).

    kind: what the table is (also the file name's prefix). version: the caller's format
    version, bumped when what it stores or how it is built changes. settings: JSON values
    the table depends on. sources: files the table is derived from (their path, size and
    mtime enter the key; a missing one raises FileNotFoundError).
    """
    key = json.dumps(
        {
            "kind": kind,
            "cache_format": FORMAT_VERSION,
            "version": version,
            "settings": dict(settings or {}),
            "sources": [source_stamp(s) for s in sources],
        },
        sort_keys=True,
    )
    try:
        folder = data.cache_dir() / subfolder
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return Entry(folder / f"{kind}_{digest}.npz", key)


def load(cached: Optional[Entry], names: Optional[Sequence[str]] = None) -> Optional[dict[str, np.ndarray]]:
    """The arrays ``names`` (all when None) of a cache entry; None when there is no entry,
    or its file is missing, damaged or holds another key."""
    if cached is None:
        return None
    try:
        with np.load(cached.path, allow_pickle=False) as archive:
            if str(archive[_KEY_ARRAY]) != cached.key:
                return None
            wanted = [k for k in archive.files if k != _KEY_ARRAY] if names is None else names
            return {k: archive[k] for k in wanted}  # reads (and CRC-checks) every array
    except _UNREADABLE:
        return None


def save(cached: Optional[Entry], arrays: Mapping[str, np.ndarray]) -> bool:
    """Writes the arrays atomically; False (logged, nothing left behind) when the write
    fails: a cache is an optimisation, so an unwritable one only costs a rebuild."""
    if cached is None:
        return False
    if _KEY_ARRAY in arrays:
        raise ValueError(f"{_KEY_ARRAY!r} is reserved for the cache key")
    tmp = cached.path.with_name(f"{cached.path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **{_KEY_ARRAY: np.array(cached.key)}, **arrays)
        os.replace(tmp, cached.path)
    except BaseException as err:  # the old file stays; the partial one goes
        tmp.unlink(missing_ok=True)
        if not isinstance(err, OSError):
            raise
        logging.warning("could not write cache file %s (%s); it will be rebuilt next time", cached.path, err)
        return False
    return True


def load_or_build(
    cached: Optional[Entry],
    build: Callable[[], Mapping[str, np.ndarray]],
    valid: Optional[Callable[[Mapping[str, np.ndarray]], bool]] = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """(arrays, from_cache): the cached arrays when they load (and pass ``valid``), else
    ``build()``'s, saved for next time."""
    arrays = load(cached)
    if arrays is not None and (valid is None or valid(arrays)):
        return arrays, True
    arrays = dict(build())
    save(cached, arrays)
    return arrays, False


__all__ = ["Entry", "FORMAT_VERSION", "entry", "load", "load_or_build", "save", "source_stamp"]
