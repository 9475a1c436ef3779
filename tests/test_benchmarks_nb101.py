"""NB101 benchmarks: the TFRecord/protobuf reader, the official-table loader, the subset."""

import base64
import json
import os
import struct

import numpy as np
import pytest

from jaxnas import benchmarks, data
from jaxnas.benchmarks import nb101, tfrecord
from jaxnas.benchmarks.tfrecord import EvaluationData, ModelMetrics
from jaxnas.spaces import nb101 as nb101_space

# ============================================================================ CRC32C


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b"", 0x00000000),
        (b"123456789", 0xE3069283),  # the CRC catalogue's check value
        (bytes(32), 0x8A9136AA),  # RFC 3720 (iSCSI) B.4 test vectors
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
    ],
)
def test_crc32c_known_vectors(payload, expected):
    assert tfrecord.crc32c(payload) == expected
    assert tfrecord._crc32c_loop(payload) == expected


def test_crc32c_vectorised_paths_match_the_byte_loop():
    rng = np.random.default_rng(0)
    for n in [127, 128, 1000, 1024, 1025, 3 * 1024 + 7, 70_000]:
        blob = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert tfrecord.crc32c(blob) == tfrecord._crc32c_loop(blob), n
        cut = n // 3
        assert tfrecord.crc32c(blob[cut:], tfrecord.crc32c(blob[:cut])) == tfrecord.crc32c(blob)
    buffer = rng.integers(0, 256, 60_000, dtype=np.uint8).tobytes()
    offsets = rng.integers(0, 20_000, 300)
    lengths = np.concatenate([rng.integers(0, 70, 100), rng.integers(0, 5000, 190), rng.integers(5000, 9000, 10)])
    got = tfrecord.crc32c_batch(buffer, offsets, lengths)
    assert [int(c) for c in got] == [tfrecord._crc32c_loop(buffer[o : o + n]) for o, n in zip(offsets, lengths)]


def test_masked_crc_formula():
    crc = 0xE3069283
    expected = ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert tfrecord.masked_crc(crc) == expected
    assert int(tfrecord.masked_crc(np.array([crc], np.uint32))[0]) == expected


# ============================================================================ framing


def test_frame_is_byte_exact(tmp_path):
    payload = b'["hello", 108]'
    framed = tfrecord.frame_record(payload)
    length = struct.pack("<Q", len(payload))
    assert framed == (
        length
        + struct.pack("<I", tfrecord.masked_crc(tfrecord._crc32c_loop(length)))
        + payload
        + struct.pack("<I", tfrecord.masked_crc(tfrecord._crc32c_loop(payload)))
    )
    rng = np.random.default_rng(1)
    payloads = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in [0, 1, 7, 400, 5000, 70_000]]
    path = tmp_path / "x.tfrecord"
    assert tfrecord.write_records(path, payloads, batch_size=4) == len(payloads)
    assert path.read_bytes() == b"".join(tfrecord.frame_record(p) for p in payloads)
    # Small chunks: records straddle chunk boundaries, one is longer than a chunk.
    assert list(tfrecord.read_records(path, chunk_size=1000)) == payloads
    assert list(tfrecord.read_records(path)) == payloads


# ============================================================================ protobuf

FULL_METRICS = ModelMetrics(
    evaluation_data=(
        EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1, ""),
        EvaluationData(54.0, 800.5, 0.8, 0.75, 0.74, "gs://bucket/model.ckpt-123"),
        EvaluationData(108.0, 1600.25, 1.0, 0.93, 0.925, "ckpt/é"),
    ),
    trainable_parameters=2_694_282,
    total_time=1769.9,
)


def test_protobuf_round_trip():
    encoded = tfrecord.encode_model_metrics(FULL_METRICS)
    assert tfrecord.decode_model_metrics(encoded) == FULL_METRICS
    assert tfrecord.encode_model_metrics(tfrecord.decode_model_metrics(encoded)) == encoded
    partial = ModelMetrics(evaluation_data=(EvaluationData(validation_accuracy=0.5),), trainable_parameters=-7)
    assert tfrecord.decode_model_metrics(tfrecord.encode_model_metrics(partial)) == partial
    assert tfrecord.decode_model_metrics(b"") == ModelMetrics()


def test_protobuf_wire_bytes():
    # Tags: field 1 double = 0x09, field 2 varint = 0x10, field 3 double = 0x19;
    # a negative int32 is a 10-byte varint, as protoc writes it.
    assert tfrecord.encode_evaluation_data(EvaluationData(current_epoch=1.0)) == b"\x09" + struct.pack("<d", 1.0)
    assert tfrecord.encode_model_metrics(ModelMetrics(trainable_parameters=-1)) == b"\x10" + b"\xff" * 9 + b"\x01"
    assert tfrecord.encode_model_metrics(ModelMetrics(trainable_parameters=300)) == b"\x10\xac\x02"
    inner = b"\x21" + struct.pack("<d", 0.5)  # EvaluationData.validation_accuracy
    assert tfrecord.encode_model_metrics(
        ModelMetrics(evaluation_data=(EvaluationData(validation_accuracy=0.5),), total_time=2.0)
    ) == b"\x0a" + bytes([len(inner)]) + inner + b"\x19" + struct.pack("<d", 2.0)


def test_protobuf_skips_unknown_fields():
    unknown = (
        b"\x78\x96\x01"  # field 15 varint
        + b"\x81\x01" + bytes(8)  # field 16 fixed64
        + b"\x8a\x01\x03abc"  # field 17 length-delimited
        + b"\x93\x01" + b"\x08\x01" + b"\x94\x01"  # field 18 group holding a varint
        + b"\x9d\x01" + bytes(4)  # field 19 fixed32
    )
    encoded = tfrecord.encode_model_metrics(FULL_METRICS)
    assert tfrecord.decode_model_metrics(unknown + encoded + unknown) == FULL_METRICS
    inner = tfrecord.encode_evaluation_data(FULL_METRICS.evaluation_data[1])
    wrapped = b"\x0a" + bytes([len(inner) + len(unknown)]) + unknown + inner
    assert tfrecord.decode_model_metrics(wrapped).evaluation_data == (FULL_METRICS.evaluation_data[1],)


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\x10\x80", "truncated varint"),
        (b"\x19\x00\x00", "truncated double"),
        (b"\x0a\x05\x09", "runs past the end"),
        (b"\x7f", "invalid wire type 7"),
        (b"\x00\x01", "field number 0"),
        (b"\x09" + bytes(8), "wire type 1, expected 2"),
        (b"\x93\x01\x08\x01", "truncated varint"),  # group never closed
        (b"\x0a\x03\x32\x01\xff", "invalid UTF-8"),
    ],
)
def test_protobuf_malformed(blob, message):
    with pytest.raises(tfrecord.ProtobufDecodeError, match=message):
        tfrecord.decode_model_metrics(blob)


# ============================================================================ official table

with np.load(data.resolve("nb101_graphs.npz")) as _archive:  # read once, not per access
    GRAPHS = {key: _archive[key] for key in ("hash", "adjacency", "ops", "num_vertices", "params")}
# A few dozen real cells spread over the space (various sizes, first and last row).
ROWS = np.unique(np.concatenate([[0, nb101_space.NUM_ARCHITECTURES - 1], np.linspace(1, 423_000, 34).astype(int)]))
EXTRA_BUDGETS = {int(ROWS[3]): (4, 12, 36), int(ROWS[10]): (4, 36)}  # a couple with more epochs


def _metrics(i: int, epochs: int, repeat: int) -> ModelMetrics:
    """Distinct made-up numbers for cell i, budget, repeat."""
    val = 0.5 + i / 100 + repeat / 1000 + epochs / 1e5
    stages = [
        EvaluationData(0.0, 0.0, 0.1, 0.1 + repeat / 100, 0.1, ""),
        EvaluationData(epochs / 2, 10.0 * epochs + i, val - 0.05, val - 0.1, val - 0.11, ""),
        EvaluationData(float(epochs), 20.0 * epochs + i + repeat / 10, val + 0.03, val, val - 0.01, ""),
    ]
    return ModelMetrics(tuple(stages), int(GRAPHS["params"][ROWS[i]]), 30.0 * epochs + i)


def _record_json(row: int, epochs: int, metrics: ModelMetrics, module_hash=None) -> bytes:
    """One record exactly as in nasbench_*.tfrecord: JSON [hash, epochs, matrix, ops, b64]."""
    n = int(GRAPHS["num_vertices"][row])
    matrix = "".join(str(int(x)) for x in GRAPHS["adjacency"][row][:n, :n].reshape(-1))
    ops = ",".join(nb101_space.OP_NAMES[c] for c in GRAPHS["ops"][row][:n])
    encoded = base64.b64encode(tfrecord.encode_model_metrics(metrics)).decode("ascii")
    module_hash = GRAPHS["hash"][row].decode() if module_hash is None else module_hash
    return json.dumps([module_hash, epochs, matrix, ops, encoded]).encode("utf-8")


def _records():
    """(payload, row, epochs, repeat, metrics) for every record, in a scrambled file order."""
    out = []
    for i, row in enumerate(ROWS):
        for epochs in (108, *EXTRA_BUDGETS.get(int(row), ())):
            for repeat in range(3):
                metrics = _metrics(i, epochs, repeat)
                out.append((_record_json(row, epochs, metrics), int(row), epochs, repeat, metrics))
    # Interleave cells but keep each cell's repeats in order: repeat k is the k-th record.
    order = np.argsort([(r[3] * 1000 + (r[1] * 7919) % 1000) for r in out], kind="stable")
    return [out[j] for j in order]


RECORDS = _records()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(folder))
    return folder


@pytest.fixture
def official(tmp_path, cache):
    path = tmp_path / "nasbench_only108.tfrecord"
    tfrecord.write_records(path, [r[0] for r in RECORDS])
    return path


def test_load_full_places_every_value(official):
    bench = nb101.load_full(tfrecord_path=official)
    assert bench.name == "nb101" and bench.space.name == "nb101"
    assert bench.num_available == len(ROWS)
    np.testing.assert_array_equal(bench.available_indices, ROWS)
    for i, row in enumerate(ROWS):
        for epochs in (108, *EXTRA_BUDGETS.get(int(row), ())):
            reps = [_metrics(i, epochs, k) for k in range(3)]
            final = [m.evaluation_data[2] for m in reps]
            half = [m.evaluation_data[1] for m in reps]
            e = f"{epochs}ep"
            assert bench.column(f"num_repeats_{e}")[row] == 3
            for name, evals, field, scale in [
                (f"val_acc_{e}", final, "validation_accuracy", 100),
                (f"test_acc_{e}", final, "test_accuracy", 100),
                (f"train_acc_{e}", final, "train_accuracy", 100),
                (f"train_time_{e}", final, "training_time", 1),
                (f"halfway_val_acc_{e}", half, "validation_accuracy", 100),
                (f"halfway_test_acc_{e}", half, "test_accuracy", 100),
                (f"halfway_train_time_{e}", half, "training_time", 1),
            ]:
                values = [getattr(ev, field) * scale for ev in evals]
                assert bench.column(name)[row] == pytest.approx(np.mean(values), rel=1e-6), name
                for k in range(3):
                    assert bench.column(f"{name}_r{k}")[row] == pytest.approx(values[k], rel=1e-6)
        assert bench.signal[row] == bench.column("val_acc_108ep")[row]
        assert bench.reported[row] == bench.column("test_acc_108ep")[row]
        assert bench.signal[row] == pytest.approx(
            np.mean([_metrics(i, 108, k).evaluation_data[2].validation_accuracy * 100 for k in range(3)]), rel=1e-6
        )
        assert bench.column("params")[row] == GRAPHS["params"][row]
    # Every other cell is "not in benchmark"; other budgets only where the file has them.
    others = np.setdiff1d(np.arange(nb101_space.NUM_ARCHITECTURES), ROWS)
    assert np.isnan(bench.signal[others]).all() and np.isnan(bench.reported[others]).all()
    assert np.isnan(bench.column("params")[others]).all()
    assert np.flatnonzero(bench.column("num_repeats_4ep")).tolist() == sorted(EXTRA_BUDGETS)
    assert np.flatnonzero(~np.isnan(bench.column("val_acc_12ep_r2"))).tolist() == [int(ROWS[3])]
    assert "val_acc_4ep_r3" not in bench.columns


def test_load_records_is_the_raw_table(official):
    table = nb101.load_records(tfrecord_path=official)
    assert len(table["row"]) == len(RECORDS)
    for j, (_, row, epochs, repeat, metrics) in enumerate(RECORDS):
        assert table["row"][j] == row and table["epochs"][j] == epochs and table["repeat"][j] == repeat
        assert table["hash"][j] == GRAPHS["hash"][row]
        np.testing.assert_array_equal(table["adjacency"][j], GRAPHS["adjacency"][row])
        np.testing.assert_array_equal(table["ops"][j], GRAPHS["ops"][row])
        assert table["num_vertices"][j] == GRAPHS["num_vertices"][row]
        assert table["trainable_parameters"][j] == metrics.trainable_parameters
        assert table["total_time"][j] == metrics.total_time
        for s, stage in enumerate(nb101.STAGES):
            for field in nb101.EVALUATION_FIELDS:
                assert table[f"{stage}_{field}"][j] == getattr(metrics.evaluation_data[s], field)


def test_cache_is_hit_and_identical(official, cache, monkeypatch):
    first = nb101.load_full(tfrecord_path=official)
    records = list(cache.glob("nb101_tfrecord_records_*.npz"))
    columns = list(cache.glob("nb101_tfrecord_columns_*.npz"))
    assert len(records) == 1 and len(columns) == 1

    def no_parse(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(nb101, "parse_tfrecord", no_parse)
    second = benchmarks.load_benchmark("nb101", tfrecord_path=str(official))
    columns[0].unlink()  # rebuilt from the cached records, still without parsing
    third = nb101.load_full(tfrecord_path=official)
    for bench in (second, third):
        assert bench.columns.keys() == first.columns.keys()
        for name in ["signal", "reported", *first.columns]:
            np.testing.assert_array_equal(bench.column(name), first.column(name))
            assert bench.column(name).dtype == first.column(name).dtype
    records[0].write_bytes(b"damaged")  # a damaged cache is rebuilt, never trusted
    with pytest.raises(AssertionError, match="cache should have been used"):
        nb101.load_records(tfrecord_path=official)
    # A changed file (new mtime) is parsed again, not served from the stale cache.
    stat = official.stat()
    os.utime(official, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="cache should have been used"):
        nb101.load_full(tfrecord_path=official)


def _write(tmp_path, payloads, name="bad.tfrecord"):
    path = tmp_path / name
    tfrecord.write_records(path, payloads)
    return path


def test_corrupt_payload_byte_is_a_crc_error(official, tmp_path):
    raw = bytearray(official.read_bytes())
    sizes = [12 + len(r[0]) + 4 for r in RECORDS]
    raw[sum(sizes[:5]) + 12 + 30] ^= 0x01  # inside record 5's payload
    bad = tmp_path / "flipped.tfrecord"
    bad.write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError, match=r"flipped\.tfrecord: record 5 .*payload CRC32C mismatch"):
        nb101.load_full(tfrecord_path=bad)


def test_truncated_file(official, tmp_path):
    bad = tmp_path / "short.tfrecord"
    bad.write_bytes(official.read_bytes()[:-20])
    with pytest.raises(data.DataFileError, match=rf"short\.tfrecord: record {len(RECORDS) - 1} .*truncated"):
        nb101.load_full(tfrecord_path=bad)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b'["abc", 108', "not valid JSON"),
        (b'{"hash": 1}', "not the JSON list"),
        (_record_json(5, 108, _metrics(0, 108, 0))[:-2] + b'!!"]', "not valid base64"),
        (
            json.dumps(["0" * 32, 108, "0100", "input,output", base64.b64encode(b"\x0a\x05").decode()]).encode(),
            "not a valid ModelMetrics protobuf",
        ),
        (_record_json(5, 108, ModelMetrics(FULL_METRICS.evaluation_data[:2])), "2 evaluation_data entries"),
        (json.dumps(["0" * 32, 108, "010", "input,output", ""]).encode(), "adjacency '010'"),
        (json.dumps(["0" * 32, 108, "0100", "input,conv5x5", ""]).encode(), "operations"),
        (json.dumps(["xyz", 108, "0100", "input,output", ""]).encode(), "module hash 'xyz'"),
    ],
)
def test_bad_records_are_named(tmp_path, cache, payload, message):
    good = [r[0] for r in RECORDS[:3]]
    path = _write(tmp_path, good + [payload])
    with pytest.raises(data.DataFileError, match=rf"bad\.tfrecord: record 3 .*{message}"):
        nb101.load_full(tfrecord_path=path)


def test_hash_outside_the_space(tmp_path, cache):
    stranger = "f" * 32
    stranger_record = _record_json(5, 108, _metrics(0, 108, 0), stranger)
    path = _write(tmp_path, [r[0] for r in RECORDS[:4]] + [stranger_record])
    with pytest.raises(data.DataFileError, match=f"record 4 .*module hash {stranger} is not a cell of the NB101"):
        nb101.load_full(tfrecord_path=path)


def test_no_108_epoch_records(tmp_path, cache):
    path = _write(tmp_path, [_record_json(5, 12, _metrics(0, 12, 0))])
    with pytest.raises(data.DataFileError, match=r"no 108-epoch records \(epochs found: \[12\]\)"):
        nb101.load_full(tfrecord_path=path)


def _scaled(metrics: ModelMetrics, scale: float) -> ModelMetrics:
    """``metrics`` with every accuracy multiplied by ``scale`` (NaN: every accuracy NaN)."""
    def one(e):
        value = (lambda v: v * scale) if np.isfinite(scale) else (lambda v: float("nan"))
        return e._replace(train_accuracy=value(e.train_accuracy), validation_accuracy=value(e.validation_accuracy),
                          test_accuracy=value(e.test_accuracy))
    return metrics._replace(evaluation_data=tuple(one(e) for e in metrics.evaluation_data))


@pytest.mark.parametrize("scale,message", [
    (100.0, r"'val_acc_108ep' has \d+ values outside \[0, 100\] \(percent\)"),
    (float("nan"), r"'val_acc_108ep' holds no numbers, only NaN"),
], ids=["accuracies_times_100", "all_nan"])
def test_tfrecord_values_are_validated(tmp_path, cache, scale, message):
    payloads = [_record_json(row, epochs, _scaled(metrics, scale)) for _, row, epochs, _, metrics in RECORDS]
    path = _write(tmp_path, payloads)
    with pytest.raises(data.DataFileError, match=rf"bad.tfrecord.*{message}"):
        nb101.load_full(tfrecord_path=path)


def test_tfrecord_cell_without_final_accuracy_is_refused(tmp_path, cache):
    # Every repeat of one cell lacks its final validation accuracy: the cell would vanish.
    first_row = RECORDS[0][1]
    payloads = [_record_json(row, epochs, _scaled(metrics, float("nan")) if row == first_row else metrics)
                for _, row, epochs, _, metrics in RECORDS]
    path = _write(tmp_path, payloads)
    with pytest.raises(data.DataFileError, match=r"1 of the 36 cells with 108-epoch records have no final validation"):
        nb101.load_full(tfrecord_path=path)


def test_missing_files_are_named(tmp_path, cache):
    with pytest.raises(data.DataFileError, match="nasbench_only108.tfrecord.*not found.*storage.googleapis.com"):
        nb101.load_full(data_dir=str(tmp_path))
    with pytest.raises(data.DataFileError, match="absent.tfrecord not found.*nasbench"):
        nb101.load_full(tfrecord_path=tmp_path / "absent.tfrecord")
    with pytest.raises(data.DataFileError, match="nb101_subset.npz.*not found"):
        nb101.load_subset(data_dir=str(tmp_path))


# ============================================================================ subset


def test_load_subset_values_land_on_their_cells():
    bench = benchmarks.load_benchmark("nb101_subset")
    with np.load(data.resolve("nb101_subset.npz")) as archive:
        subset = {key: archive[key] for key in archive.files}
    assert bench.num_available == 30_001
    assert bench.optimum == pytest.approx(94.91, abs=0.01)
    assert bench.signal is bench.reported
    rows = np.searchsorted(GRAPHS["hash"], subset["hash"])
    for i in [0, 1, 20_000, 20_001, 30_000, int(np.argmax(subset["val_acc_108ep"]))]:
        row = rows[i]
        assert GRAPHS["hash"][row] == subset["hash"][i]
        assert bench.signal[row] == pytest.approx(100 * subset["val_acc_108ep"][i], rel=1e-6)
        for e in (4, 12, 36):
            expected = 100 * subset[f"val_acc_{e}ep"][i]
            assert bench.column(f"val_acc_{e}ep")[row] == pytest.approx(expected, rel=1e-6)
        assert bench.column("train_time_108ep")[row] == subset["train_time_108ep"][i]
        assert bench.column("params")[row] == subset["params"][i]
    outside = np.ones(nb101_space.NUM_ARCHITECTURES, bool)
    outside[rows] = False
    assert np.isnan(bench.signal[outside]).all() and np.isnan(bench.column("val_acc_4ep")[outside]).all()


def test_subset_is_checked_against_the_space(tmp_path):
    with np.load(data.resolve("nb101_subset.npz")) as archive:
        subset = {key: archive[key] for key in archive.files}
    subset["adjacency"] = subset["adjacency"].copy()
    subset["adjacency"][7] = 0
    np.savez(tmp_path / "nb101_subset.npz", **subset)
    os.symlink(data.resolve("nb101_graphs.npz"), tmp_path / "nb101_graphs.npz")
    with pytest.raises(data.DataFileError, match="1 cells' adjacency/ops differ.*subset row 7"):
        nb101.load_subset(data_dir=str(tmp_path))
