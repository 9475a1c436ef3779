"""Result files that are never half-written, and output folders checked before a run.

Every entry point writes its outputs (results.json, plots, weak-label tables, priors)
through these helpers: the bytes go to a temporary file in the same folder, which is then
renamed over the target with ``os.replace``. A write cut short (disk full, a file-size
limit, a kill) leaves the previous good file in place, never a truncated one.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any, Callable


class OutputDirError(ValueError):
    """An output folder that cannot be created or written."""


def prepare_output_dir(path: str | os.PathLike) -> pathlib.Path:
    """Creates ``path`` and checks that a file can be written there; call before any work.

    Raises OutputDirError naming the folder when it is a file, lies under a file, or is
    not writable, so a run fails at once instead of after hours of search.
    """
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"output folder {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise OutputDirError(f"cannot create output folder {path}: a part of the path is a file ({err})") from err
    except OSError as err:
        raise OutputDirError(f"cannot create output folder {path}: {err.strerror or err}") from err
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        raise OutputDirError(f"output folder {path} is not writable: {err.strerror or err}") from err
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], binary: bool = True) -> pathlib.Path:
    """Calls ``write(file)`` on a temporary file beside ``path``, then renames it to ``path``.

    On any error the temporary file is removed and ``path`` keeps its previous content.
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike, value: Any, indent: int = 1) -> pathlib.Path:
    return write_text(path, json.dumps(value, indent=indent))


def save_figure(fig, path: str | os.PathLike, **kwargs) -> pathlib.Path:
    """``fig.savefig`` through a temporary file (the format is taken from ``path``)."""
    path = pathlib.Path(path)
    fmt = kwargs.pop("format", path.suffix.lstrip(".") or None)
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **kwargs))


def save_npz(path: str | os.PathLike, **arrays) -> pathlib.Path:
    """``np.savez`` through a temporary file."""
    import numpy as np

    return atomic_write(path, lambda f: np.savez(f, **arrays))
