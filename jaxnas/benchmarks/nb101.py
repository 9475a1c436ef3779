"""NAS-Bench-101 benchmarks over the NB101 space's enumeration (rows of nb101_graphs.npz).

Two sources, two benchmarks:

``nb101_subset`` (:func:`load_subset`)
    ``nb101_subset.npz``: 30,001 cells (two blocks in hash order, rows 0..20,000 and
    36,202..46,201 of the space: a ~7 % sample, unbiased since hashes are uniform) with
    the validation accuracy of ONE training repeat at 4/12/36/108 epochs. There is no
    test accuracy, so signal and reported are the same number. Every other cell of the
    space is NaN ("not in benchmark"). Cells are placed by hash (see load_subset).

``nb101`` (:func:`load_full`)
    The official table, ``nasbench_only108.tfrecord`` (or ``nasbench_full.tfrecord``
    with 4/12/36/108 epochs). Each record is the JSON list
    ``[module_hash, epochs, adjacency, operations, metrics]`` where ``metrics`` is a
    base64 ``ModelMetrics`` protobuf whose ``evaluation_data`` holds three evaluations:
    [0] at initialisation, [1] halfway through training, [2] at the end (the official
    API's "halfway" and "final"). All repeats are kept (three per cell and budget).
    signal = mean over repeats of the final validation accuracy at 108 epochs (%),
    reported = mean over repeats of the final test accuracy at 108 epochs (%).

Columns of ``nb101`` (``Benchmark.columns``; float32 over the space, NaN = absent), for
every epoch budget E in the file (E = 108 only, for nasbench_only108):

=============================  ==================================================
``val_acc_{E}ep``              mean over repeats, final validation accuracy (%)
``test_acc_{E}ep``             mean over repeats, final test accuracy (%)
``train_acc_{E}ep``            mean over repeats, final train accuracy (%)
``train_time_{E}ep``           mean over repeats, training time (seconds)
``halfway_<any of the above>`` the same at the halfway evaluation (E/2 epochs)
``<any of the above>_r{k}``    repeat k alone (k = 0, 1, ... in file order)
``num_repeats_{E}ep``          int8: how many repeats the file holds for the cell
``params``                     float64 trainable parameters (NaN = absent)
=============================  ==================================================

so ``bench.column("val_acc_108ep_r1")`` is the second repeat's validation accuracy of
every cell. :func:`load_records` returns the raw per-record table (every field of every
record) for anything else.

Parsing the 500 MB official file is pure Python (no TensorFlow, no protobuf package)
and takes a while, so the parsed records (and the columns) are cached with
:mod:`jaxnas.cache`, keyed by the tfrecord's path, size and mtime (and those of
nb101_graphs.npz, which maps hashes to rows); later loads read the cache.
"""

from __future__ import annotations

import array
import base64
import binascii
import functools
import json
import math
import os
import pathlib
import re
from typing import Dict, Optional, Sequence

import numpy as np

from jaxnas import cache, data
from jaxnas.benchmarks import tfrecord
from jaxnas.benchmarks.base import Benchmark
from jaxnas.spaces import nb101 as nb101_space

_N = nb101_space.NUM_ARCHITECTURES
_V = nb101_space.NUM_VERTICES
GRAPHS_FILE = "nb101_graphs.npz"
SUBSET_FILE = "nb101_subset.npz"
TFRECORD_FILE = "nasbench_only108.tfrecord"
_SUBSET_EPOCHS = (4, 12, 36, 108)

# ----------------------------------------------------------------------- the space's rows


def graph_hashes(data_dir: Optional[str] = None) -> np.ndarray:
    """S32[423,624]: the official fingerprint of every row of nb101_graphs.npz (sorted)."""
    return _graph_hashes(cache.source_stamp(data.resolve(GRAPHS_FILE, data_dir)))


@functools.lru_cache(maxsize=2)
def _graph_hashes(source: tuple) -> np.ndarray:
    hashes = data.load_npz(GRAPHS_FILE, ["hash"], pathlib.Path(source[0]).parent)["hash"]
    data.check_shape(GRAPHS_FILE, "hash", hashes, (_N,))
    # Hash -> row goes through searchsorted, which needs strictly ascending hashes.
    if hashes.dtype != np.dtype("S32") or not np.all(hashes[1:] > hashes[:-1]):
        raise data.DataFileError(
            f"Data file {source[0]}: 'hash' is not {_N} distinct 32-character fingerprints "
            f"in ascending order; the file is corrupt or the wrong version. "
            f"Obtain it from {data.FILE_SOURCES[GRAPHS_FILE]}"
        )
    hashes.setflags(write=False)
    return hashes


# ----------------------------------------------------------------------------- subset


def _subset_error(problem: str) -> data.DataFileError:
    return data.DataFileError(
        f"Data file {SUBSET_FILE!r} does not match {GRAPHS_FILE!r}: {problem}. One of them "
        f"is corrupt or from another version. Obtain {SUBSET_FILE} from "
        f"{data.FILE_SOURCES[SUBSET_FILE]}"
    )


def _subset_rows(table: Dict[str, np.ndarray], data_dir) -> np.ndarray:
    """Space row of every subset cell, by hash; checked against the cell's own graph."""
    hashes = graph_hashes(data_dir)
    rows = np.searchsorted(hashes, table["hash"])
    found = hashes[np.minimum(rows, _N - 1)] == table["hash"]
    if not found.all():
        i = int(np.flatnonzero(~found)[0])
        raise _subset_error(
            f"{int((~found).sum())} hashes are not cells of the space (first: subset row {i}, "
            f"hash {table['hash'][i].decode(errors='replace')})"
        )
    if np.unique(rows).size != rows.size:
        raise _subset_error("a cell is listed twice")
    graphs = nb101_space.load_graphs(data_dir)
    same = (graphs["adjacency"][rows] == table["adjacency"]).all(axis=(1, 2)) & (
        graphs["ops"][rows] == table["ops"]
    ).all(axis=1)
    if not same.all():
        i = int(np.flatnonzero(~same)[0])
        raise _subset_error(
            f"{int((~same).sum())} cells' adjacency/ops differ from {GRAPHS_FILE}'s row of "
            f"the same hash (first: subset row {i}, hash {table['hash'][i].decode()}, row {rows[i]})"
        )
    return rows


def subset_graph_row_mismatches(data_dir: Optional[str] = None) -> np.ndarray:
    """int64[K, 3] (subset row, its ``graph_row``, the row of its hash) for every subset
    cell whose stored ``graph_row`` is not the row holding its hash (see load_subset)."""
    table = data.load_npz(SUBSET_FILE, ["hash", "adjacency", "ops", "graph_row"], data_dir)
    rows = _subset_rows(table, data_dir)
    wrong = np.flatnonzero(table["graph_row"] != rows)
    return np.stack([wrong, table["graph_row"][wrong].astype(np.int64), rows[wrong]], axis=1)


def load_subset(data_dir: Optional[str] = None) -> Benchmark:
    """``nb101_subset``: one repeat's 108-epoch validation accuracy of 30,001 cells.

    signal = reported = ``val_acc_108ep`` x 100 at each cell's row; NaN for the ~93 % of
    the space the file does not cover. Extra columns: ``val_acc_4ep``, ``val_acc_12ep``,
    ``val_acc_36ep`` (%, same repeat), ``train_time_108ep`` (s), ``params`` (float64).

    Cells are placed by their official fingerprint (``hash``, looked up in
    nb101_graphs.npz), and the file's own ``adjacency``/``ops`` must equal that row's.
    The file's ``graph_row`` column is not trusted: in the shipped file it is simply
    0..30000, right for the first 20,001 cells but not for the last 10,000 (which are
    rows 36,202..46,201, not the next ones in hash order); placing by it would put those
    accuracies on the wrong cells. :func:`subset_graph_row_mismatches` reports them.
    """
    acc_keys = [f"val_acc_{e}ep" for e in _SUBSET_EPOCHS]
    keys = ["hash", "adjacency", "ops", *acc_keys, "train_time_108ep", "params"]
    table = data.load_npz(SUBSET_FILE, keys, data_dir)
    size = table["hash"].shape[0]
    shapes = {"adjacency": (size, _V, _V), "ops": (size, _V)}
    kinds = {"hash": "S", "adjacency": "iu", "ops": "iu", "params": "iu"}
    for key in keys:
        data.check_shape(SUBSET_FILE, key, table[key], shapes.get(key, (size,)), kinds.get(key, "biuf"))
    # The shipped file has a value for every cell: accuracies are fractions, times and
    # parameter counts positive.
    for key in acc_keys:
        data.check_values(SUBSET_FILE, key, table[key], data.FRACTION)
    data.check_values(SUBSET_FILE, "train_time_108ep", table["train_time_108ep"], low=0.0)
    data.check_values(SUBSET_FILE, "params", table["params"], low=1)
    rows = _subset_rows(table, data_dir)

    def place(values, dtype=np.float32, scale=1.0):
        column = np.full(_N, np.nan, dtype)
        column[rows] = values.astype(np.float64) * scale
        return column

    columns = {key: place(table[key], scale=100.0) for key in acc_keys}
    columns["train_time_108ep"] = place(table["train_time_108ep"])
    columns["params"] = place(table["params"], np.float64)  # float32 would round > 2^24
    signal = columns.pop("val_acc_108ep")
    name = "val_acc_108ep (validation accuracy of one training repeat, 108 epochs, %)"
    return Benchmark(
        name="nb101_subset",
        space=nb101_space.NB101Space(data_dir=data_dir),
        signal=signal,
        reported=signal,
        signal_name=name,
        reported_name=name,
        description=(
            f"NAS-Bench-101, {size:,} cells (a ~7 % sample, by hash) with ONE training "
            "repeat's validation accuracy; no test accuracy, so the search signal is "
            "also what is reported. Other cells are not in the benchmark (NaN)."
        ),
        columns=columns,
    )


# ------------------------------------------------------------------ official tfrecord

# Raw per-record table: per-evaluation fields, in EvaluationData field order.
STAGES = ("initial", "halfway", "final")  # evaluation_data[0], [1], [2]
EVALUATION_FIELDS = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
_CACHE_FORMAT = 1  # bump when what is cached (or how it is parsed) changes
_HEX32 = re.compile(r"[0-9a-f]{32}")
_OP_CODE = {name: code for code, name in enumerate(nb101_space.OP_NAMES)}
_FILE_PADDING = 255  # op code of padding vertices, as in nb101_graphs.npz
_NAN = math.nan


def resolve_tfrecord(data_dir: Optional[str] = None, path: Optional[str | os.PathLike] = None) -> pathlib.Path:
    """The tfrecord to read: ``path`` if given, else <data dir>/nasbench_only108.tfrecord.

    Raises DataFileError naming the file and where to download it when it is absent.
    """
    if path is None:
        return data.resolve(TFRECORD_FILE, data_dir)
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise data.DataFileError(
            f"NB101 tfrecord {path} not found. Obtain {data.FILE_SOURCES[TFRECORD_FILE]} "
            f"(nasbench_full.tfrecord, with 4/12/36/108 epochs, also works)."
        )
    return path


class _RecordParser:
    """Turns record payloads into compact columns (one record at a time: JSON and the
    protobuf are inherently sequential; everything after is vectorised)."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.hashes: list = []
        self.epochs = array.array("q")
        self.adjacency_bits = array.array("Q")
        self.num_vertices = array.array("B")
        self.ops = array.array("B")
        self.params = array.array("q")
        self.total_time = array.array("d")
        self.evaluations = array.array("d")  # 3 stages x 5 fields per record
        self._last_matrix: tuple = (None, None)
        self._ops_cache: Dict[str, tuple] = {}

    def error(self, record: int, what: str) -> data.DataFileError:
        return data.DataFileError(
            f"NB101 tfrecord {self.path}: record {record} (0-based): {what}. The file is "
            f"corrupt or not an NB101 table; obtain {data.FILE_SOURCES[TFRECORD_FILE]}"
        )

    def _matrix(self, text, record: int) -> tuple:
        """(7x7 adjacency as 49 bits, row-major i * 7 + j; number of vertices)."""
        if text == self._last_matrix[0]:  # a cell's repeats are usually consecutive
            return self._last_matrix[1]
        n = math.isqrt(len(text)) if type(text) is str else 0
        if not (2 <= n <= _V and n * n == len(text) and set(text) <= {"0", "1"}):
            raise self.error(record, f"adjacency {text!r} is not an n x n 0/1 string with 2 <= n <= {_V}")
        rows = [text[i * n : (i + 1) * n] + "0" * (_V - n) for i in range(n)] + ["0" * _V] * (_V - n)
        value = (int("".join(rows)[::-1], 2), n)  # reversed: character k becomes bit k
        self._last_matrix = (text, value)
        return value

    def _ops(self, text, n: int, record: int) -> tuple:
        """Op codes padded to 7 (255); there are only a few hundred distinct strings."""
        cached = self._ops_cache.get(text) if type(text) is str else None
        if cached is None:
            names = text.split(",") if type(text) is str else [None]
            if not all(name in _OP_CODE for name in names):
                raise self.error(record, f"operations {text!r} include names outside {list(_OP_CODE)}")
            cached = tuple(_OP_CODE[name] for name in names) + (_FILE_PADDING,) * (_V - len(names))
            self._ops_cache[text] = cached
        if len(cached) != _V or cached[n - 1] == _FILE_PADDING or (n < _V and cached[n] != _FILE_PADDING):
            raise self.error(record, f"operations {text!r} do not list one op per vertex of a {n}-vertex cell")
        return cached

    def add(self, record: int, payload: bytes) -> None:
        try:
            fields = json.loads(payload.decode("utf-8"))
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
            raise self.error(record, f"payload is not valid JSON ({err})") from None
        if type(fields) is not list or len(fields) != 5:
            raise self.error(
                record, "payload is not the JSON list [module_hash, epochs, adjacency, operations, metrics]"
            )
        module_hash, epochs, matrix, ops, metrics = fields
        if type(module_hash) is not str or not _HEX32.fullmatch(module_hash):
            raise self.error(record, f"module hash {module_hash!r} is not 32 lowercase hex digits")
        if type(epochs) is not int or epochs <= 0:
            raise self.error(record, f"epochs {epochs!r} is not a positive integer")
        bits, n = self._matrix(matrix, record)
        op_codes = self._ops(ops, n, record)
        if type(metrics) is not str:
            raise self.error(record, "metrics field is not a base64 string")
        try:
            raw = base64.b64decode(metrics, validate=True)
        except (binascii.Error, ValueError) as err:
            raise self.error(record, f"metrics field is not valid base64 ({err})") from None
        try:
            decoded = tfrecord.decode_model_metrics(raw)
        except tfrecord.ProtobufDecodeError as err:
            raise self.error(record, f"metrics field is not a valid ModelMetrics protobuf ({err})") from None
        if len(decoded.evaluation_data) != len(STAGES):
            raise self.error(
                record,
                f"ModelMetrics has {len(decoded.evaluation_data)} evaluation_data entries; NB101 "
                f"records have {len(STAGES)} (initial, halfway, final)",
            )
        first, middle, last = decoded.evaluation_data  # fields 1-5 = EVALUATION_FIELDS
        values = first[:5] + middle[:5] + last[:5]
        if None in values:
            values = [_NAN if v is None else v for v in values]
        self.evaluations.extend(values)
        self.hashes.append(module_hash)
        self.epochs.append(epochs)
        self.adjacency_bits.append(bits)
        self.num_vertices.append(n)
        self.ops.extend(op_codes)
        self.params.append(-1 if decoded.trainable_parameters is None else decoded.trainable_parameters)
        self.total_time.append(_NAN if decoded.total_time is None else decoded.total_time)

    def table(self, hashes_of_rows: np.ndarray) -> Dict[str, np.ndarray]:
        count = len(self.hashes)
        if count == 0:
            raise data.DataFileError(f"NB101 tfrecord {self.path} holds no records.")
        hashes = np.array(self.hashes, dtype="S32")
        rows = np.searchsorted(hashes_of_rows, hashes)
        found = hashes_of_rows[np.minimum(rows, _N - 1)] == hashes
        if not found.all():
            i = int(np.flatnonzero(~found)[0])
            raise data.DataFileError(
                f"NB101 tfrecord {self.path}: record {i} (0-based): module hash {self.hashes[i]} "
                f"is not a cell of the NB101 space ({GRAPHS_FILE}); {int((~found).sum())} "
                f"records are affected. The tfrecord is not the official NB101 table, or "
                f"{GRAPHS_FILE} is the wrong version."
            )
        epochs = np.frombuffer(self.epochs, np.int64).astype(np.int32)
        rows = rows.astype(np.int32)
        evaluations = np.frombuffer(self.evaluations, np.float64).reshape(count, len(STAGES), len(EVALUATION_FIELDS))
        table = {
            "row": rows,
            "epochs": epochs,
            "repeat": _repeat_numbers(rows, epochs),
            "trainable_parameters": np.frombuffer(self.params, np.int64).copy(),
            "total_time": np.frombuffer(self.total_time, np.float64).copy(),
            "adjacency_bits": np.frombuffer(self.adjacency_bits, np.uint64).copy(),
            "num_vertices": np.frombuffer(self.num_vertices, np.uint8).copy(),
            "ops": np.frombuffer(self.ops, np.uint8).reshape(count, _V).copy(),
        }
        for s, stage in enumerate(STAGES):
            for f, field in enumerate(EVALUATION_FIELDS):
                table[f"{stage}_{field}"] = np.ascontiguousarray(evaluations[:, s, f])
        return table


def _repeat_numbers(rows: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """int32: 0, 1, 2, ... for the successive records of one (cell, epochs), in file order."""
    key = epochs.astype(np.int64) * _N + rows
    order = np.argsort(key, kind="stable")  # stable: ties stay in file order
    sorted_key = key[order]
    first = np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]])
    group_start = np.maximum.accumulate(np.where(first, np.arange(key.size), 0))
    repeat = np.empty(key.size, np.int32)
    repeat[order] = np.arange(key.size) - group_start
    return repeat


def parse_tfrecord(path: str | os.PathLike, data_dir: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Parses an NB101 tfrecord into the raw per-record table (no cache; see load_records)."""
    path = pathlib.Path(path)
    parser = _RecordParser(path)
    for record, payload in enumerate(tfrecord.read_records(path)):
        parser.add(record, payload)
    return parser.table(graph_hashes(data_dir))


def _cache(kind: str, path: pathlib.Path, data_dir) -> Optional[cache.Entry]:
    """The cache entry of the parsed ``records`` or the per-cell ``columns``: keyed by the
    tfrecord and nb101_graphs.npz (which maps hashes to rows) and the cache format."""
    sources = [path, data.resolve(GRAPHS_FILE, data_dir)]
    return cache.entry(f"nb101_tfrecord_{kind}", _CACHE_FORMAT, sources=sources)


def _records(path: pathlib.Path, data_dir, names: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """The per-record table (arrays ``names``, all when None), parsed once then cached."""
    records = _cache("records", path, data_dir)
    table = cache.load(records, names)
    if table is None:
        table = parse_tfrecord(path, data_dir)
        cache.save(records, table)
        if names is not None:
            table = {k: table[k] for k in names}
    return table


def _columns(path: pathlib.Path, data_dir) -> Dict[str, np.ndarray]:
    """The benchmark's per-cell columns, cached beside the records: reading ~60 MB of
    finished columns is what keeps a cached load under a second."""
    def build():
        return _space_columns(_records(path, data_dir, _BENCHMARK_KEYS))

    return cache.load_or_build(_cache("columns", path, data_dir), build)[0]


def load_records(
    data_dir: Optional[str] = None, tfrecord_path: Optional[str | os.PathLike] = None
) -> Dict[str, np.ndarray]:
    """Every field of every record of the NB101 tfrecord, one array entry per record.

    Keys (R records, in file order):
      hash S32[R], row int32[R] (space index), epochs int32[R], repeat int32[R] (0, 1,
      ... per cell and epochs, file order), trainable_parameters int64[R] (-1 absent),
      total_time float64[R] (NaN absent), num_vertices uint8[R], adjacency uint8[R, 7, 7]
      (the record's module matrix, zero-padded), ops uint8[R, 7] (codes of
      nb101_graphs.npz, 255 padding), and for stage in initial/halfway/final (the
      evaluation_data entries 0/1/2) and field in current_epoch, training_time,
      train_accuracy, validation_accuracy, test_accuracy: ``{stage}_{field}``
      float64[R], as stored (accuracies are fractions; NaN absent).
    The EvaluationData ``checkpoint_path`` strings are not kept.
    Parsed once and cached (see the module docstring).
    """
    path = resolve_tfrecord(data_dir, tfrecord_path)
    table = _records(path, data_dir)
    bits = table.pop("adjacency_bits")
    shifts = np.arange(_V * _V, dtype=np.uint64)
    table["adjacency"] = ((bits[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(-1, _V, _V)
    table["hash"] = graph_hashes(data_dir)[table["row"]]
    return table


# (column suffix, field, scale): what each benchmark column holds.
_METRICS = (
    ("val_acc", "validation_accuracy", 100.0),
    ("test_acc", "test_accuracy", 100.0),
    ("train_acc", "train_accuracy", 100.0),
    ("train_time", "training_time", 1.0),
)
_COLUMN_STAGES = (("", "final"), ("halfway_", "halfway"))
_BENCHMARK_KEYS = ["row", "epochs", "repeat", "trainable_parameters"] + [
    f"{stage}_{field}" for _, stage in _COLUMN_STAGES for _, field, _ in _METRICS
]


def _space_columns(table: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Per-cell columns (means and per-repeat values) from the per-record table."""
    columns = {}
    all_rows, all_epochs = table["row"], table["epochs"]
    for epochs in np.unique(all_epochs):
        selected = all_epochs == epochs
        rows, repeat = all_rows[selected], table["repeat"][selected]
        columns[f"num_repeats_{epochs}ep"] = np.bincount(rows, minlength=_N).astype(np.int8)
        by_repeat = [repeat == k for k in range(int(repeat.max()) + 1)]
        for prefix, stage in _COLUMN_STAGES:
            for short, field, scale in _METRICS:
                name = f"{prefix}{short}_{epochs}ep"
                values = table[f"{stage}_{field}"][selected] * scale
                present = ~np.isnan(values)  # an absent field is skipped, not averaged as 0
                total = np.bincount(rows[present], weights=values[present], minlength=_N)
                count = np.bincount(rows[present], minlength=_N)
                with np.errstate(invalid="ignore", divide="ignore"):
                    columns[name] = (total / count).astype(np.float32)  # 0/0 = NaN: absent
                for k, mask in enumerate(by_repeat):
                    column = np.full(_N, np.nan, np.float32)
                    column[rows[mask]] = values[mask]
                    columns[f"{name}_r{k}"] = column
    params = np.full(_N, np.nan, np.float64)
    known = table["trainable_parameters"] >= 0
    params[all_rows[known]] = table["trainable_parameters"][known]
    columns["params"] = params
    return columns


def _check_columns(path: pathlib.Path, columns: Dict[str, np.ndarray]) -> None:
    """DataFileError unless the columns hold what an NB101 table holds.

    Records store accuracies as fractions (columns x 100 must lie in [0, 100]) and times
    and parameter counts are positive; cells without records are NaN. Every record of the
    official files has all five fields of every evaluation, so each cell with 108-epoch
    records has a final validation and test accuracy: a file where they are absent
    (NaN) would silently shrink the benchmark, or empty it.
    """
    hint = f"Obtain {data.FILE_SOURCES[TFRECORD_FILE]}"
    first = ["val_acc_108ep", "test_acc_108ep"]  # the benchmark's signal and reported columns
    for name in first + sorted(set(columns) - set(first)):
        column = columns[name]
        if name.startswith("num_repeats_") or (name == "params" and np.isnan(column).all()):
            continue  # counts; parameter counts are optional in ModelMetrics
        if "_acc_" in name:
            data.check_values(path.name, name, column, data.PERCENT, max_nan=column.size, hint=hint)
        else:  # train_time_*, halfway_train_time_*, params
            data.check_values(path.name, name, column, low=0.0, max_nan=column.size, hint=hint)
    has_records = columns["num_repeats_108ep"] > 0
    for name, what in (("val_acc_108ep", "validation"), ("test_acc_108ep", "test")):
        missing = int(np.isnan(columns[name][has_records]).sum())
        if missing:
            raise data.DataFileError(
                f"NB101 tfrecord {path}: {missing} of the {int(has_records.sum())} cells with 108-epoch "
                f"records have no final {what} accuracy (NaN in every repeat); "
                f"the file is corrupt or not an NB101 table. Obtain {data.FILE_SOURCES[TFRECORD_FILE]}"
            )


def load_full(
    data_dir: Optional[str] = None, tfrecord_path: Optional[str | os.PathLike] = None
) -> Benchmark:
    """``nb101``: the official NB101 table (see the module docstring for its columns).

    data_dir: folder with nb101_graphs.npz (and, by default, nasbench_only108.tfrecord).
    tfrecord_path: the tfrecord to read instead (e.g. nasbench_full.tfrecord).
    """
    path = resolve_tfrecord(data_dir, tfrecord_path)
    columns = _columns(path, data_dir)
    if "val_acc_108ep" not in columns:
        budgets = sorted(int(k[len("num_repeats_") : -2]) for k in columns if k.startswith("num_repeats_"))
        raise data.DataFileError(
            f"NB101 tfrecord {path} has no 108-epoch records (epochs found: {budgets}); "
            f"obtain {data.FILE_SOURCES[TFRECORD_FILE]}"
        )
    _check_columns(path, columns)
    return Benchmark(
        name="nb101",
        space=nb101_space.NB101Space(data_dir=data_dir),
        signal=columns["val_acc_108ep"],
        reported=columns["test_acc_108ep"],
        signal_name="val_acc_108ep (final validation accuracy, mean over repeats, 108 epochs, %)",
        reported_name="test_acc_108ep (final test accuracy, mean over repeats, 108 epochs, %)",
        description=(
            f"NAS-Bench-101 official table ({path.name}): search on the mean validation "
            "accuracy, report the mean test accuracy; per-repeat and halfway values are "
            "columns (e.g. 'val_acc_108ep_r0', 'halfway_test_acc_108ep')."
        ),
        columns=columns,
    )


__all__ = [
    "EVALUATION_FIELDS",
    "STAGES",
    "graph_hashes",
    "load_full",
    "load_records",
    "load_subset",
    "parse_tfrecord",
    "resolve_tfrecord",
]
