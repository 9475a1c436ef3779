"""TFRecord files and the NAS-Bench-101 ``ModelMetrics`` protobuf, without TensorFlow.

Three independent pieces, each pure Python + NumPy:

* CRC32C (Castagnoli), the checksum TFRecord framing uses. :func:`crc32c` hashes one
  buffer, :func:`crc32c_batch` many byte ranges of one buffer at once. Both use the
  linearity of a CRC over GF(2): the CRC of a block is the XOR of per-(position, byte)
  table entries, so a whole block is one vectorised gather + XOR-reduce instead of a
  Python loop per byte, and blocks are joined with "append n zero bytes" operators.
* TFRecord framing: :func:`read_records` yields payloads, checking the length CRC of
  every record and (by default) the payload CRC; :func:`write_records` /
  :func:`frame_record` produce byte-exact framing. A record on disk is::

      uint64 length (little endian) | uint32 masked_crc32c(length bytes)
      | payload (length bytes)       | uint32 masked_crc32c(payload)

  with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8  (mod 2**32)``.
* A minimal protobuf (proto2 wire format) codec for the two messages of
  ``nasbench/lib/model_metrics.proto``: :func:`decode_model_metrics` /
  :func:`encode_model_metrics`. Every declared field is decoded; unknown fields are
  skipped according to their wire type (groups included).

Errors: the framing reader raises :class:`jaxnas.data.DataFileError` naming the file,
the record number (0-based) and its byte offset, and what is wrong. The protobuf codec
works on bytes, knows no file, and raises :class:`ProtobufDecodeError` (a ValueError);
callers that know the file and record wrap it (see ``jaxnas.benchmarks.nb101``).
"""

from __future__ import annotations

import functools
import os
import pathlib
import struct
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from jaxnas.data import DataFileError

# ============================================================================ CRC32C

_POLY = 0x82F63B78  # Castagnoli polynomial, bit-reflected (as TFRecord/iSCSI use it)
_MASK32 = 0xFFFFFFFF
_MASK_DELTA = 0xA282EAD8
# Below this many bytes the plain table loop beats setting up NumPy arrays.
_SMALL = 128
# Row width of the vectorised single-buffer CRC.
_ROW = 1024
# Widest width class of the batched CRC (longer ranges go one by one), and so the size
# of the position table (4096 x 256 uint32, 4 MiB).
_MAX_BATCH_WIDTH = 4096
# Bytes per vectorised block: bounds the intp index + uint32 gather temporaries (12x)
# while keeping them cache-sized.
_BLOCK_BYTES = 1 << 18


def _byte_table() -> np.ndarray:
    """T[v]: CRC register after feeding byte v into a zero register (reflected CRC)."""
    v = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        v = np.where(v & 1, (v >> 1) ^ np.uint32(_POLY), v >> 1).astype(np.uint32)
    return v


_TABLE = _byte_table()
_TABLE_LIST = [int(x) for x in _TABLE]


def _crc32c_loop(data, crc: int = 0) -> int:
    """Reference byte-at-a-time CRC32C (also the fast path for short inputs)."""
    c = crc ^ _MASK32
    table = _TABLE_LIST
    for byte in data:
        c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ _MASK32


# A linear map on 32-bit registers is stored as 4 lane tables uint32[4, 256]:
# op(x) = op[0][x & 255] ^ op[1][(x >> 8) & 255] ^ op[2][(x >> 16) & 255] ^ op[3][x >> 24].
# The one we need is Z^n, "feed n zero bytes", which moves a CRC n bytes to the left.
_BASIS = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)
_BYTE_BITS = ((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1).astype(bool)  # [256, 8]


def _apply(op: np.ndarray, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.uint32)
    return op[0][x & 0xFF] ^ op[1][(x >> 8) & 0xFF] ^ op[2][(x >> 16) & 0xFF] ^ op[3][x >> 24]


def _from_columns(columns: np.ndarray) -> np.ndarray:
    """Lane tables of the linear map whose image of bit j is columns[j]."""
    lanes = columns.reshape(4, 8)  # lane b holds the images of bits 8b .. 8b+7
    picked = np.where(_BYTE_BITS[None, :, :], lanes[:, None, :], np.uint32(0))  # [4, 256, 8]
    return np.bitwise_xor.reduce(picked, axis=2).astype(np.uint32)


def _zero_byte(x: np.ndarray) -> np.ndarray:
    return (x >> 8) ^ _TABLE[x & 0xFF]


@functools.lru_cache(maxsize=None)
def _zeros_pow2(k: int) -> np.ndarray:
    """Lane tables of Z^(2^k): feeding 2^k zero bytes."""
    if k == 0:
        return _from_columns(_zero_byte(_BASIS))
    half = _zeros_pow2(k - 1)
    return _from_columns(_apply(half, _apply(half, _BASIS)))


def _shift(x, n: int) -> np.ndarray:
    """Z^n applied to registers x (powers of one map commute, so bit order is free)."""
    x = np.asarray(x, dtype=np.uint32)
    k = 0
    while n:
        if n & 1:
            x = _apply(_zeros_pow2(k), x)
        n >>= 1
        k += 1
    return x


@functools.lru_cache(maxsize=None)
def _full_position_table() -> np.ndarray:
    """uint32[W * 256] for W = _MAX_BATCH_WIDTH: entry [p * 256 + v] is the CRC (zero
    initial register) of a W-byte block that is all zeros except byte v at position p.
    By linearity the zero-initial CRC of any W-byte block is the XOR of its bytes'
    entries. Rows depend only on how many bytes follow, so the table of a narrower
    width w is this one's last w rows."""
    width = _MAX_BATCH_WIDTH
    rows = np.empty((width, 256), np.uint32)
    rows[width - 1] = _TABLE
    for p in range(width - 2, -1, -1):
        rows[p] = _zero_byte(rows[p + 1])
    return rows.reshape(-1)


def _position_table(width: int) -> np.ndarray:
    return _full_position_table()[(_MAX_BATCH_WIDTH - width) * 256 :]


@functools.lru_cache(maxsize=None)
def _init_terms() -> np.ndarray:
    """uint32[W + 1]: term[n] = Z^n(0xFFFFFFFF) ^ 0xFFFFFFFF, what the standard
    initial/final inversion adds to the zero-initial CRC of an n-byte message."""
    out = np.empty(_MAX_BATCH_WIDTH + 1, np.uint32)
    c = _MASK32
    for n in range(_MAX_BATCH_WIDTH + 1):
        out[n] = c ^ _MASK32
        c = _TABLE_LIST[c & 0xFF] ^ (c >> 8)
    return out


def _raw_rows(rows: np.ndarray) -> np.ndarray:
    """Zero-initial CRC of each row of uint8[K, W] (leading zero bytes change nothing,
    which is why shorter messages are right-aligned and zero-padded on the left)."""
    k, width = rows.shape
    table = _position_table(width)
    offsets = np.arange(width, dtype=np.intp) * 256
    out = np.empty(k, np.uint32)
    step = max(1, _BLOCK_BYTES // width)
    gathered = np.empty((min(step, k), width), np.uint32)
    for start in range(0, k, step):
        block = rows[start : start + step]
        index = block.astype(np.intp)
        index += offsets
        g = gathered[: block.shape[0]]
        # Indices are in range by construction; mode="clip" skips the bounds-error path.
        np.take(table, index, out=g, mode="clip")
        out[start : start + step] = np.bitwise_xor.reduce(g, axis=1)
    return out


def _as_uint8(data) -> np.ndarray:
    return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)


def crc32c(data, crc: int = 0) -> int:
    """CRC32C of ``data`` (bytes-like); ``crc`` continues a previous result, so
    ``crc32c(b, crc32c(a)) == crc32c(a + b)``."""
    buf = _as_uint8(data)
    n = buf.size
    if n < _SMALL:
        return _crc32c_loop(buf.tobytes(), crc)
    num_rows = -(-n // _ROW)
    num_rows_pow2 = 1 << (num_rows - 1).bit_length()
    # Left-pad with zeros to a power-of-two number of rows: zero-initial CRCs ignore
    # leading zeros, and equal-width halves make every tree level one vector op.
    padded = np.zeros(num_rows_pow2 * _ROW, np.uint8)
    padded[padded.size - n :] = buf
    regs = _raw_rows(padded.reshape(num_rows_pow2, _ROW))
    level = _ROW.bit_length() - 1  # rows are 2^level bytes wide
    while regs.size > 1:
        pairs = regs.reshape(-1, 2)
        regs = _apply(_zeros_pow2(level), pairs[:, 0]) ^ pairs[:, 1]
        level += 1
    raw = int(regs[0])
    return (raw ^ int(_shift((crc ^ _MASK32) & _MASK32, n)) ^ _MASK32) & _MASK32


def _width_class(lengths: np.ndarray) -> np.ndarray:
    # Short ranges (TFRecord length fields are 8 bytes) round up to 8, others to 64:
    # little zero padding, few classes.
    grain = np.where(lengths <= 64, 8, 64)
    return np.maximum(8, -(-lengths // grain) * grain)


def crc32c_batch(buffer, offsets, lengths) -> np.ndarray:
    """uint32[K]: CRC32C of ``buffer[offsets[i] : offsets[i] + lengths[i]]`` for each i.

    Ranges are grouped by width class, copied right-aligned into a zero-padded matrix
    (one row copy each, through a sliding-window view) and hashed by one vectorised
    gather per block; ranges over 4096 bytes go through :func:`crc32c` one by one.
    """
    buf = _as_uint8(buffer)
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    out = np.empty(offsets.shape, np.uint32)
    if offsets.size == 0:
        return out
    if np.any(lengths < 0) or np.any(offsets < 0) or np.any(offsets + lengths > buf.size):
        raise ValueError("crc32c_batch: a range lies outside the buffer")
    widths = _width_class(lengths)
    long = widths > _MAX_BATCH_WIDTH
    for i in np.flatnonzero(long):
        out[i] = crc32c(buf[offsets[i] : offsets[i] + lengths[i]])
    if long.all():
        return out
    # Right-aligned rows start up to width - length bytes before their range: pad the
    # front so that never falls off the buffer (the zeroing below overwrites the pad).
    pad = int(np.max(np.where(long, 0, widths - lengths - offsets), initial=0))
    padded = np.concatenate([np.zeros(pad, np.uint8), buf]) if pad > 0 else buf
    terms = _init_terms()
    for width in np.unique(widths[~long]):
        width = int(width)
        members = np.flatnonzero(widths == width)
        windows = np.lib.stride_tricks.sliding_window_view(padded, width)
        cols = np.arange(width)[None, :]
        step = max(1, (8 * _BLOCK_BYTES) // width)
        for start in range(0, members.size, step):
            idx = members[start : start + step]
            lead = width - lengths[idx]
            rows = windows[offsets[idx] + pad - lead]
            rows[cols < lead[:, None]] = 0
            out[idx] = _raw_rows(rows) ^ terms[lengths[idx]]
    return out


def masked_crc(crc):
    """TFRecord's CRC masking (scalar int or uint32 array)."""
    if isinstance(crc, np.ndarray):
        c = crc.astype(np.uint32)
        return (((c >> 15) | (c << 17)) + np.uint32(_MASK_DELTA)).astype(np.uint32)
    c = int(crc) & _MASK32
    return ((((c >> 15) | (c << 17)) & _MASK32) + _MASK_DELTA) & _MASK32


# ============================================================================ framing

_HEADER = 12  # uint64 length + uint32 masked CRC of those 8 bytes
_FOOTER = 4  # uint32 masked CRC of the payload
_LEN = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def frame_record(payload: bytes) -> bytes:
    """One record in TFRecord framing."""
    length = _LEN.pack(len(payload))
    return b"".join(
        [
            length,
            _U32.pack(masked_crc(crc32c(length))),
            payload,
            _U32.pack(masked_crc(crc32c(payload))),
        ]
    )


def _frame_many(payloads: Sequence[bytes]) -> bytes:
    """Frames a batch of payloads, checksumming them all in two vectorised calls."""
    lengths = np.array([len(p) for p in payloads], dtype="<u8")
    joined = b"".join(payloads)
    starts = np.concatenate([[0], np.cumsum(lengths[:-1], dtype=np.int64)]).astype(np.int64)
    payload_crcs = masked_crc(crc32c_batch(joined, starts, lengths.astype(np.int64)))
    length_bytes = lengths.tobytes()
    length_crcs = masked_crc(
        crc32c_batch(length_bytes, np.arange(len(payloads), dtype=np.int64) * 8, np.full(len(payloads), 8))
    )
    parts = []
    for i, payload in enumerate(payloads):
        parts += [
            length_bytes[8 * i : 8 * i + 8],
            _U32.pack(int(length_crcs[i])),
            payload,
            _U32.pack(int(payload_crcs[i])),
        ]
    return b"".join(parts)


def write_records(path, payloads: Iterable[bytes], batch_size: int = 8192) -> int:
    """Writes ``payloads`` to a new TFRecord file at ``path``; returns how many."""
    count = 0
    batch = []
    with open(path, "wb") as f:
        for payload in payloads:
            batch.append(bytes(payload))
            if len(batch) == batch_size:
                f.write(_frame_many(batch))
                count += len(batch)
                batch = []
        if batch:
            f.write(_frame_many(batch))
            count += len(batch)
    return count


def _record_error(path, record: int, offset: int, what: str) -> DataFileError:
    return DataFileError(
        f"TFRecord file {path}: record {record} (0-based, at byte offset {offset}): {what}. "
        f"The file is corrupt or truncated; download it again."
    )


def _scan(buf: bytes, file_offset: int, file_size: int, chunk_size: int):
    """Record boundaries inside ``buf`` (which starts at a record boundary).

    Returns (starts, lengths, consumed, stop) where ``stop`` is None when the last
    partial record just needs more bytes, or a (position, reason) pair when the record
    at ``position`` cannot be completed (it claims to run past the end of the file, or
    is longer than a chunk and has a bad length CRC: never read a bogus huge length).
    """
    starts, lengths = [], []
    pos, n = 0, len(buf)
    unpack = _LEN.unpack_from
    while n - pos >= _HEADER:
        (length,) = unpack(buf, pos)
        end = pos + _HEADER + length + _FOOTER
        if end > n:
            past_eof = file_offset + end > file_size
            if past_eof or length > chunk_size:
                stored = _U32.unpack_from(buf, pos + 8)[0]
                if masked_crc(_crc32c_loop(buf[pos : pos + 8])) != stored:
                    return starts, lengths, pos, (pos, "length CRC mismatch (corrupt length field)")
                if past_eof:
                    remaining = file_size - file_offset - pos - _HEADER
                    return starts, lengths, pos, (
                        pos,
                        f"truncated: the header declares a {length}-byte payload (+4-byte "
                        f"CRC) but only {remaining} bytes follow it",
                    )
            break
        starts.append(pos)
        lengths.append(length)
        pos = end
    return starts, lengths, pos, None


def _verify(path, buf: bytes, starts, lengths, first_record: int, file_offset: int, check_payload: bool):
    """Checks the CRCs of a batch of records; raises at the first bad one."""
    if not starts:
        return
    arr = np.frombuffer(buf, dtype=np.uint8)
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)

    def stored_at(positions):
        return arr[positions[:, None] + np.arange(4)].copy().view("<u4").reshape(-1)

    header_bad = masked_crc(crc32c_batch(arr, starts, np.full(starts.size, 8))) != stored_at(starts + 8)
    if check_payload:
        stored = stored_at(starts + _HEADER + lengths)
        computed = masked_crc(crc32c_batch(arr, starts + _HEADER, lengths))
        payload_bad = computed != stored
    else:
        payload_bad = np.zeros(starts.size, bool)
    bad = np.flatnonzero(header_bad | payload_bad)
    if bad.size:
        i = int(bad[0])  # the first bad record; after a bad length the framing is garbage
        what = (
            "length CRC mismatch (corrupt length field)"
            if header_bad[i]
            else f"payload CRC32C mismatch (stored masked CRC 0x{int(stored[i]):08x}, "
            f"computed 0x{int(computed[i]):08x})"
        )
        raise _record_error(path, first_record + i, file_offset + int(starts[i]), what)


def read_records(
    path, *, check_payload_crc: bool = True, chunk_size: int = 32 << 20
) -> Iterator[bytes]:
    """Yields the payload of every record of TFRecord file ``path``, in order.

    The length CRC of every record is always checked (a corrupt length would derail
    the framing); the payload CRC too unless ``check_payload_crc=False``. Checks are
    vectorised per chunk of ``chunk_size`` bytes, so an error is raised before any
    record of the chunk that holds it is yielded. Raises DataFileError naming the file,
    the record number and offset, and the problem.
    """
    path = pathlib.Path(path)
    try:
        f = open(path, "rb")
    except OSError as err:
        raise DataFileError(f"TFRecord file {path} cannot be opened ({err}).") from err
    with f:
        file_size = os.fstat(f.fileno()).st_size
        carry = b""
        file_offset = 0  # file offset of carry[0]
        record = 0
        need = chunk_size
        while True:
            chunk = f.read(need)
            if not chunk:
                if carry:
                    reason = (
                        f"truncated: {len(carry)} bytes left, fewer than the 12-byte header"
                        if len(carry) < _HEADER
                        else "truncated record"
                    )
                    raise _record_error(path, record, file_offset, reason)
                return
            buf = carry + chunk if carry else chunk
            starts, lengths, consumed, stop = _scan(buf, file_offset, file_size, chunk_size)
            _verify(path, buf, starts, lengths, record, file_offset, check_payload_crc)
            if stop is not None:
                raise _record_error(path, record + len(starts), file_offset + stop[0], stop[1])
            for start, length in zip(starts, lengths):
                yield buf[start + _HEADER : start + _HEADER + length]
            record += len(starts)
            file_offset += consumed
            carry = buf[consumed:]
            # A record longer than a chunk: read all of it at once, not chunk by chunk.
            need = chunk_size
            if len(carry) >= _HEADER:
                need = max(chunk_size, _HEADER + _LEN.unpack_from(carry, 0)[0] + _FOOTER - len(carry))


# ============================================================================ protobuf


class ProtobufDecodeError(ValueError):
    """Bytes that are not a well-formed encoding of the expected protobuf message."""


class EvaluationData(NamedTuple):
    """``nasbench.EvaluationData``; None = field absent (proto2 ``optional``).

    A NamedTuple (immutable, cheap to build: 3.8 million of them per NB101 file)."""

    current_epoch: Optional[float] = None
    training_time: Optional[float] = None
    train_accuracy: Optional[float] = None
    validation_accuracy: Optional[float] = None
    test_accuracy: Optional[float] = None
    checkpoint_path: Optional[str] = None


class ModelMetrics(NamedTuple):
    """``nasbench.ModelMetrics``. In NB101 files ``evaluation_data`` holds three entries:
    [0] at initialisation, [1] halfway through training, [2] at the end."""

    evaluation_data: Tuple[EvaluationData, ...] = ()
    trainable_parameters: Optional[int] = None
    total_time: Optional[float] = None


_VARINT, _I64, _LENGTH_DELIMITED, _START_GROUP, _END_GROUP, _I32 = 0, 1, 2, 3, 4, 5
_DOUBLE, _INT32, _STRING, _EVAL_MESSAGE = "double", "int32", "string", "EvaluationData"
_WIRE_OF = {_DOUBLE: _I64, _INT32: _VARINT, _STRING: _LENGTH_DELIMITED, _EVAL_MESSAGE: _LENGTH_DELIMITED}

# field number -> (attribute, type, repeated), in field-number order (= encoding order).
_EVALUATION_DATA_FIELDS = {
    1: ("current_epoch", _DOUBLE, False),
    2: ("training_time", _DOUBLE, False),
    3: ("train_accuracy", _DOUBLE, False),
    4: ("validation_accuracy", _DOUBLE, False),
    5: ("test_accuracy", _DOUBLE, False),
    6: ("checkpoint_path", _STRING, False),
}
_MODEL_METRICS_FIELDS = {
    1: ("evaluation_data", _EVAL_MESSAGE, True),
    2: ("trainable_parameters", _INT32, False),
    3: ("total_time", _DOUBLE, False),
}
_DOUBLE_STRUCT = struct.Struct("<d")
# What protoc writes for an EvaluationData with exactly the five doubles set (the NB101
# files): tag, 8 bytes, five times. Recognised by its tags and read with one unpack.
_FIVE_DOUBLES = struct.Struct("<xdxdxdxdxd")
_FIVE_DOUBLE_TAGS = bytes(number << 3 | _I64 for number in range(1, 6))


def _read_varint(buf: bytes, pos: int, end: int) -> Tuple[int, int]:
    result = shift = 0
    for _ in range(10):  # a 64-bit varint has at most 10 bytes
        if pos >= end:
            raise ProtobufDecodeError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
    raise ProtobufDecodeError("varint longer than 10 bytes")


def _skip_field(buf: bytes, pos: int, end: int, number: int, wire: int) -> int:
    """Position after the value of an unknown field (proto2 rules, groups included)."""
    if wire == _VARINT:
        return _read_varint(buf, pos, end)[1]
    if wire == _I64 or wire == _I32:
        size = 8 if wire == _I64 else 4
    elif wire == _LENGTH_DELIMITED:
        size, pos = _read_varint(buf, pos, end)
    elif wire == _START_GROUP:
        while True:
            key, pos = _read_varint(buf, pos, end)
            if key >> 3 == 0:
                raise ProtobufDecodeError("field number 0 inside a group")
            if key & 7 == _END_GROUP:
                if key >> 3 != number:
                    raise ProtobufDecodeError(f"group {number} closed by end-group tag {key >> 3}")
                return pos
            pos = _skip_field(buf, pos, end, key >> 3, key & 7)
    elif wire == _END_GROUP:
        raise ProtobufDecodeError(f"end-group tag for field {number} without a matching start")
    else:
        raise ProtobufDecodeError(f"invalid wire type {wire} (field {number})")
    if pos + size > end:
        raise ProtobufDecodeError(f"field {number} runs past the end of the message")
    return pos + size


def _decode_fields(buf: bytes, pos: int, end: int, fields: dict, message: str) -> dict:
    values = {}
    while pos < end:
        key = buf[pos]  # one-byte varints (all tags and short lengths here) inline: speed
        if key < 0x80:
            pos += 1
        else:
            key, pos = _read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufDecodeError(f"{message}: field number 0")
        spec = fields.get(number)
        if spec is None:
            pos = _skip_field(buf, pos, end, number, wire)
            continue
        name, kind, repeated = spec
        if wire != _WIRE_OF[kind]:
            # protoc would file this under unknown fields; for NB101 data it only ever
            # means the bytes are not a ModelMetrics, so say so.
            raise ProtobufDecodeError(
                f"{message}.{name} (field {number}) has wire type {wire}, expected {_WIRE_OF[kind]}"
            )
        if kind == _DOUBLE:
            if pos + 8 > end:
                raise ProtobufDecodeError(f"{message}.{name}: truncated double")
            value = _DOUBLE_STRUCT.unpack_from(buf, pos)[0]
            pos += 8
        elif kind == _INT32:
            raw, pos = _read_varint(buf, pos, end)
            raw &= 0xFFFFFFFF  # int32 keeps the low 32 bits of the (sign-extended) varint
            value = raw - (1 << 32) if raw >= 1 << 31 else raw
        else:
            size = buf[pos] if pos < end else 0x80
            if size < 0x80:
                pos += 1
            else:
                size, pos = _read_varint(buf, pos, end)
            if pos + size > end:
                raise ProtobufDecodeError(f"{message}.{name}: length {size} runs past the end")
            if kind == _STRING:
                try:
                    value = bytes(buf[pos : pos + size]).decode("utf-8")
                except UnicodeDecodeError as err:
                    raise ProtobufDecodeError(f"{message}.{name}: invalid UTF-8 ({err})") from None
            elif size == 45 and buf[pos : pos + 45 : 9] == _FIVE_DOUBLE_TAGS:
                value = EvaluationData(*_FIVE_DOUBLES.unpack_from(buf, pos))
            else:
                value = EvaluationData(
                    **_decode_fields(buf, pos, pos + size, _EVALUATION_DATA_FIELDS, "EvaluationData")
                )
            pos += size
        if repeated:
            values.setdefault(name, []).append(value)
        else:
            values[name] = value  # proto2: the last occurrence of a scalar wins
    if pos != end:
        raise ProtobufDecodeError(f"{message}: last field runs past the end of the message")
    return values


def decode_model_metrics(data: bytes) -> ModelMetrics:
    """Parses a serialized ``nasbench.ModelMetrics``; raises ProtobufDecodeError."""
    values = _decode_fields(data, 0, len(data), _MODEL_METRICS_FIELDS, "ModelMetrics")
    if "evaluation_data" in values:
        values["evaluation_data"] = tuple(values["evaluation_data"])
    return ModelMetrics(**values)


def decode_evaluation_data(data: bytes) -> EvaluationData:
    """Parses a serialized ``nasbench.EvaluationData``; raises ProtobufDecodeError."""
    return EvaluationData(**_decode_fields(data, 0, len(data), _EVALUATION_DATA_FIELDS, "EvaluationData"))


def _varint_bytes(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # negative int32 -> 10-byte two's complement, as protoc does
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_fields(message, fields: dict) -> bytes:
    parts = []
    for number, (name, kind, repeated) in fields.items():
        value = getattr(message, name)
        if value is None:
            continue
        tag = _varint_bytes(number << 3 | _WIRE_OF[kind])
        for item in value if repeated else (value,):
            if kind == _DOUBLE:
                parts += [tag, _DOUBLE_STRUCT.pack(float(item))]
            elif kind == _INT32:
                if not -(1 << 31) <= int(item) < 1 << 31:
                    raise ValueError(f"{name}={item} does not fit an int32")
                parts += [tag, _varint_bytes(int(item))]
            else:
                body = (
                    item.encode("utf-8")
                    if kind == _STRING
                    else _encode_fields(item, _EVALUATION_DATA_FIELDS)
                )
                parts += [tag, _varint_bytes(len(body)), body]
    return b"".join(parts)


def encode_model_metrics(metrics: ModelMetrics) -> bytes:
    """Serializes a ModelMetrics (fields in field-number order, as protoc writes them)."""
    return _encode_fields(metrics, _MODEL_METRICS_FIELDS)


def encode_evaluation_data(evaluation: EvaluationData) -> bytes:
    return _encode_fields(evaluation, _EVALUATION_DATA_FIELDS)


__all__ = [
    "EvaluationData",
    "ModelMetrics",
    "ProtobufDecodeError",
    "crc32c",
    "crc32c_batch",
    "decode_evaluation_data",
    "decode_model_metrics",
    "encode_evaluation_data",
    "encode_model_metrics",
    "frame_record",
    "masked_crc",
    "read_records",
    "write_records",
]
