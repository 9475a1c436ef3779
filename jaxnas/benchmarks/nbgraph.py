"""NAS-Bench-Graph benchmarks (9 datasets), from the PyPI package ``nas-bench-graph``.

The package ships one Python pickle per dataset (``light/<dataset>.bench``): a dict from
the package's architecture hash (``Arch.valid_hash()``) to ``{'valid_perf', 'perf',
'latency', 'para'}``. Signal = ``valid_perf`` x 100 (validation), reported = ``perf`` x 100
(test); ``latency`` and ``para`` are kept as the columns ``latency`` and ``params``, in
the package's units. Rows follow the space's enumeration (sorted hashes); every key of a
table must be exactly one row and every row one key, so no value is NaN; values are
checked on load (performances in [0, 1], latency and parameters >= 0, no NaN).

The eight node-classification tables cover the full 26,206-cell space. ``proteins`` was
trained on the 5-op sub-space only (2,021 cells), so its benchmark lives on
``NBGraphSpace(proteins=True)``: searching it on the full space would spend most samples
on cells it does not contain.

Loading takes ~0.2 s per dataset on a 2-core CPU (printed by tests/test_nbgraph.py::
test_load_time_is_printed_and_every_dataset_fills_its_space), so nothing is cached.
"""

from __future__ import annotations

import importlib.metadata
import io
import importlib.util
import pathlib
import pickle
from typing import Optional

import numpy as np

from jaxnas import data
from jaxnas.benchmarks import NBGRAPH_DATASETS
from jaxnas.benchmarks.base import Benchmark
from jaxnas.spaces import nbgraph as nbgraph_space

_FIELDS = ("valid_perf", "perf", "latency", "para")
_PIP_HINT = (
    "The NAS-Bench-Graph tables ship with the PyPI package nas-bench-graph: run "
    "`pip install nas-bench-graph` (>= 1.4), or put <dataset>.bench in <data_dir>/nbgraph/."
)

try:  # NumPy >= 2 moved numpy.core to numpy._core; old pickles still name numpy.core.
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import scalar as _np_scalar


def _numeric_dtype(*args):
    """``numpy.dtype`` limited to numeric dtypes (what the tables' float64 scalars use)."""
    dtype = np.dtype(*args)
    if dtype.kind not in "biuf":
        raise data.DataFileError(f"pickle asks for NumPy dtype {dtype}, not a plain numeric dtype")
    return dtype


# Unpickling can call ANY importable callable the file names (os.system, eval, ...), so
# the .bench files, which come from a third-party package, are read by an unpickler that
# resolves only the globals those files actually reference: numpy.dtype (numeric kinds
# only) and NumPy's scalar reconstructor, to rebuild the np.float64 values some entries
# hold. Everything else in the files is plain dicts, ints, floats and strings.
_ALLOWED_GLOBALS = {
    ("numpy", "dtype"): _numeric_dtype,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global but the NumPy scalar/dtype reconstructors."""

    def find_class(self, module, name):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise data.DataFileError(
                f"refusing to unpickle {module}.{name}: a NAS-Bench-Graph table only needs "
                f"{sorted('.'.join(key) for key in _ALLOWED_GLOBALS)}"
            )
        return allowed


def restricted_loads(payload: bytes):
    """Unpickles ``payload`` with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(payload)).load()


def _package_light_dir() -> Optional[pathlib.Path]:
    """The installed package's ``light/`` folder, or None when it is not installed."""
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "light"


def bench_path(dataset: str, data_dir: Optional[str] = None) -> pathlib.Path:
    """Where ``<dataset>.bench`` is read from: ``<data_dir>/nbgraph/`` if there, else the package."""
    name = f"{dataset}.bench"
    candidates = [data.data_dir(data_dir) / "nbgraph" / name]
    light = _package_light_dir()
    if light is not None:
        candidates.append(light / name)
    for path in candidates:
        if path.is_file():
            return path
    raise data.DataFileError(
        f"NAS-Bench-Graph table {name!r} not found (looked in {[str(p) for p in candidates]}). {_PIP_HINT}"
    )


def _read_table(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """(keys int64[R], values float64[R, 4] in _FIELDS order) of one .bench file."""
    try:
        table = restricted_loads(path.read_bytes())
    except data.DataFileError as err:
        raise data.DataFileError(f"{path}: {err}. The file is not a NAS-Bench-Graph table. {_PIP_HINT}") from err
    except Exception as err:  # any unpickling failure means a corrupt or foreign file
        raise data.DataFileError(
            f"{path} is corrupt or not a NAS-Bench-Graph table ({type(err).__name__}: {err}). "
            f"Reinstall it. {_PIP_HINT}"
        ) from err
    if not isinstance(table, dict) or not table:
        raise data.DataFileError(f"{path} holds a {type(table).__name__}, not a non-empty dict. {_PIP_HINT}")
    try:
        keys = np.fromiter(table.keys(), np.int64, len(table))
        values = np.array([tuple(entry[f] for f in _FIELDS) for entry in table.values()], np.float64)
        if values.shape != (len(table), len(_FIELDS)):
            raise ValueError(f"values have shape {values.shape}")
    except (TypeError, KeyError, ValueError, OverflowError) as err:
        raise data.DataFileError(
            f"{path}: entries must map an integer hash to {_FIELDS} numbers ({type(err).__name__}: {err}). "
            f"{_PIP_HINT}"
        ) from err
    # The package's tables: performances are fractions (accuracy or ROC-AUC), latency
    # and parameter counts non-negative, nothing missing.
    for column, (field, unit) in enumerate(zip(_FIELDS, (data.FRACTION, data.FRACTION, None, None))):
        data.check_values(str(path), field, values[:, column], unit, low=0.0, hint=_PIP_HINT)
    return keys, values


def _rows(path: pathlib.Path, keys: np.ndarray, space: nbgraph_space.NBGraphSpace) -> np.ndarray:
    """Row of each table key; the keys must be exactly the space's canonical hashes."""
    hashes = space.hashes
    rows = np.clip(np.searchsorted(hashes, keys), 0, len(hashes) - 1)
    unknown = keys[hashes[rows] != keys]
    if unknown.size:
        raise data.DataFileError(
            f"{path}: {unknown.size} keys (e.g. {unknown[:5].tolist()}) are not canonical "
            f"architectures of the {space.name} space. {_PIP_HINT}"
        )
    # Dict keys are distinct, so len(keys) == num_architectures means every row is covered.
    if len(keys) != space.num_architectures:
        raise data.DataFileError(
            f"{path}: {len(keys)} architectures, expected all {space.num_architectures} of the "
            f"{space.name} space. {_PIP_HINT}"
        )
    return rows


def _package_version() -> str:
    try:
        return importlib.metadata.version("nas-bench-graph")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load(dataset: str, data_dir: Optional[str] = None) -> Benchmark:
    """The NAS-Bench-Graph benchmark ``nbgraph_<dataset>`` (dataset one of NBGRAPH_DATASETS)."""
    if dataset not in NBGRAPH_DATASETS:
        raise ValueError(f"unknown NAS-Bench-Graph dataset {dataset!r}; choose from {', '.join(NBGRAPH_DATASETS)}")
    space = nbgraph_space.NBGraphSpace(proteins=dataset == "proteins")
    path = bench_path(dataset, data_dir)
    keys, values = _read_table(path)
    rows = _rows(path, keys, space)
    # Scale in float64, then round once to float32 (as a user of the package would get).
    columns = np.full((space.num_architectures, len(_FIELDS)), np.nan, np.float64)
    columns[rows] = values * [100.0, 100.0, 1.0, 1.0]
    valid, test, latency, params = columns.astype(np.float32).T
    # ogbn-proteins is scored with ROC-AUC in OGB; the package does not name its metric.
    metric = "metric (ROC-AUC for ogbn-proteins)" if dataset == "proteins" else "accuracy"
    return Benchmark(
        name=f"nbgraph_{dataset}",
        space=space,
        signal=np.ascontiguousarray(valid),
        reported=np.ascontiguousarray(test),
        signal_name=f"valid_perf x 100 (validation {metric}, %)",
        reported_name=f"perf x 100 (test {metric}, %)",
        description=(
            f"NAS-Bench-Graph {dataset} ({space.num_architectures} cells), from nas-bench-graph "
            f"{_package_version()} light/{dataset}.bench"
        ),
        columns={
            "latency": np.ascontiguousarray(latency),  # the package's 'latency'
            "params": np.ascontiguousarray(params),  # the package's 'para' (millions)
        },
    )
