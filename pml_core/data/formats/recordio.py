"""MXNet / dmlc indexed RecordIO (.rec + .idx) read and written without mxnet.

Record layout: uint32 magic 0xced7230a, uint32 ``lrecord`` (upper 3 bits: continuation flag, lower 29:
length), payload, zero padding to 4 bytes. A payload containing the magic word at a 4-byte aligned
offset is split there into parts flagged 1 (first), 2 (middle), 3 (last); the magic word itself is
dropped and re-inserted on reading. The ``.idx`` file lists ``key<TAB>byte offset`` per record.

Image payloads (mxnet ``recordio.pack``): IRHeader ``<IfQQ`` (flag uint32, label float32, id uint64,
id2 uint64); if flag > 0 the label is the ``flag`` float32 values that follow; then the encoded image.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from pathlib import Path

import numpy as np

from ...errors import DataError

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_HEADER = struct.Struct("<IfQQ")
_LENGTH_MASK = (1 << 29) - 1


def pack_header(label, payload: bytes, record_id: int = 0, id2: int = 0) -> bytes:
    """IRHeader + payload; ``label`` a number (flag 0) or a sequence of floats (flag = its length)."""
    if np.ndim(label) == 0:
        return _HEADER.pack(0, float(label), record_id, id2) + payload
    values = np.asarray(label, np.float32).reshape(-1)
    return _HEADER.pack(len(values), 0.0, record_id, id2) + values.tobytes() + payload


def unpack_header(record: bytes) -> tuple[float | np.ndarray, bytes]:
    """(label, payload): label is a float (flag 0) or a float32 array (flag > 0)."""
    if len(record) < _HEADER.size:
        raise ValueError(f"record of {len(record)} bytes is shorter than its 24-byte header")
    flag, label, _, _ = _HEADER.unpack_from(record)
    body = record[_HEADER.size :]
    if flag > 0:
        if len(body) < 4 * flag:
            raise ValueError("record too short for its label array")
        return np.frombuffer(body[: 4 * flag], np.float32).copy(), body[4 * flag :]
    return float(label), body


def _encode_record(payload: bytes) -> bytes:
    """The on-disk bytes of one record (split at aligned magic words, as dmlc does)."""
    parts = []
    start = 0
    for offset in range(0, len(payload) - 3, 4):
        if payload[offset : offset + 4] == _MAGIC_BYTES:
            parts.append(payload[start:offset])
            start = offset + 4
    parts.append(payload[start:])
    out = io.BytesIO()
    for index, part in enumerate(parts):
        if len(parts) == 1:
            flag = 0
        else:
            flag = 1 if index == 0 else (3 if index == len(parts) - 1 else 2)
        if len(part) > _LENGTH_MASK:
            raise ValueError("record part larger than 2**29 bytes")
        out.write(struct.pack("<II", MAGIC, (flag << 29) | len(part)))
        out.write(part)
        out.write(b"\0" * (-len(part) % 4))
    return out.getvalue()


def write_indexed_recordio(rec_path: str | Path, idx_path: str | Path, records) -> None:
    """Write ``records`` (iterable of ``(key, payload bytes)``) to ``rec_path`` and its index, atomically."""
    rec_path, idx_path = Path(rec_path), Path(idx_path)
    rec_tmp = rec_path.with_name(f".{rec_path.name}.tmp")
    idx_tmp = idx_path.with_name(f".{idx_path.name}.tmp")
    rec_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(rec_tmp, "wb") as rec, open(idx_tmp, "w") as idx:
            for key, payload in records:
                idx.write(f"{int(key)}\t{rec.tell()}\n")
                rec.write(_encode_record(payload))
        os.replace(rec_tmp, rec_path)
        os.replace(idx_tmp, idx_path)
    finally:
        rec_tmp.unlink(missing_ok=True)
        idx_tmp.unlink(missing_ok=True)


class IndexedRecordIO:
    """Random access to an indexed RecordIO file: ``keys``, ``read(key) -> bytes``.

    File handles are opened lazily per process (safe with DataLoader workers).
    """

    def __init__(self, rec_path: str | Path, idx_path: str | Path | None = None, hint: str = ""):
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path) if idx_path is not None else self.rec_path.with_suffix(".idx")
        self.hint = hint
        for path in (self.rec_path, self.idx_path):
            if not path.is_file():
                raise DataError(f"{path} is missing{'; ' + hint if hint else ''}")
        self.offsets: dict[int, int] = {}
        self.keys: list[int] = []
        size = self.rec_path.stat().st_size
        for number, line in enumerate(self.idx_path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split()
            try:
                key, offset = int(fields[0]), int(fields[1])
            except (ValueError, IndexError):
                raise DataError(f"{self.idx_path}, line {number}: expected 'key<TAB>offset', got {line[:60]!r}"
                                f"{'; ' + hint if hint else ''}") from None
            if not 0 <= offset < size:
                raise DataError(f"{self.idx_path}, line {number}: offset {offset} is outside {self.rec_path} "
                                f"({size} bytes); the index does not belong to this file{'; ' + hint if hint else ''}")
            self.offsets[key] = offset
            self.keys.append(key)
        self._local = threading.local()
        self._pid = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_local"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def _handle(self):
        handle = getattr(self._local, "handle", None)
        if handle is None or self._local.pid != os.getpid():
            handle = open(self.rec_path, "rb")
            self._local.handle, self._local.pid = handle, os.getpid()
        return handle

    def __len__(self) -> int:
        return len(self.keys)

    def read(self, key: int) -> bytes:
        """The payload of record ``key`` (multi-part records joined)."""
        if key not in self.offsets:
            raise DataError(f"{self.idx_path} has no record {key}{'; ' + self.hint if self.hint else ''}")
        handle = self._handle()
        handle.seek(self.offsets[key])
        parts = []
        while True:
            head = handle.read(8)
            if len(head) < 8:
                raise DataError(f"{self.rec_path}: record {key} is truncated{'; ' + self.hint if self.hint else ''}")
            magic, lrecord = struct.unpack("<II", head)
            if magic != MAGIC:
                raise DataError(f"{self.rec_path}: record {key} does not start with the RecordIO magic number "
                                f"(corrupt file or wrong .idx){'; ' + self.hint if self.hint else ''}")
            flag, length = lrecord >> 29, lrecord & _LENGTH_MASK
            data = handle.read(length)
            if len(data) < length:
                raise DataError(f"{self.rec_path}: record {key} is truncated{'; ' + self.hint if self.hint else ''}")
            handle.read(-length % 4)
            parts.append(data)
            if flag in (0, 3):
                break
        return _MAGIC_BYTES.join(parts)

    def read_header(self, key: int):
        """The IRHeader label of record ``key`` (reads the whole record)."""
        return unpack_header(self.read(key))[0]

    def read_image(self, key: int):
        """(label, encoded image bytes) of record ``key``."""
        try:
            return unpack_header(self.read(key))
        except ValueError as error:
            raise DataError(f"{self.rec_path}: record {key}: {error}{'; ' + self.hint if self.hint else ''}") from None
