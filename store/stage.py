"""Staging: one piece of an input (a file, or a byte range of a large JSON Lines file) read,
converted, validated and hashed into Parquet parts. A piece is a pure function of its inputs, so
pieces run side by side in worker processes and the commit reads their parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.errors import InvalidRecord
from gristmill.example import canonical_json, content_id, normalize, plain_chat_stats, stats
from gristmill.store import readers
from gristmill.store.formats import parse

BATCH_ROWS = 50_000
SCHEMA = pa.schema([
    ("seq", pa.int64()), ("id", pa.string()), ("kind", pa.string()), ("payload", pa.string()),
    ("n_chars", pa.int32()), ("n_turns", pa.int32()), ("has_system", pa.bool_()),
    ("source", pa.dictionary(pa.int32(), pa.string())), ("piece", pa.int32()),
    ("position", pa.int64()),
    ("meta", pa.string()),
])


@dataclass(frozen=True)
class Piece:
    index: int  # global order of pieces: example keys follow it
    path: Path
    start: int | None = None  # a byte range of a JSON Lines file; None: the whole file
    length: int | None = None


@dataclass
class PieceResult:
    index: int
    records: int = 0
    lines: int = 0  # positions the piece spans, to number the next piece of the same file
    parts: list[str] = field(default_factory=list)
    rejects: list[tuple[int | None, str]] = field(default_factory=list)  # (position, reason)
    failed: bool = False  # stopped at its first bad record (on_error=fail)


def stage_piece(piece: Piece, fmt: str, on_error: str, max_bytes: int,
                meta: dict[str, Any] | None, directory: Path) -> PieceResult:
    result = PieceResult(piece.index)
    if piece.start is None:
        records = readers.read(piece.path, max_bytes)
    else:
        records = readers.jsonl_range(piece.path, piece.start, piece.length, max_bytes)
    writer = _PartWriter(directory, piece, meta)
    _stage_records(records, writer, result, fmt, on_error, max_bytes)
    writer.flush()
    result.records, result.parts = writer.rows, writer.parts
    if piece.start is not None:
        result.lines = _count_lines(piece.path, piece.start, piece.length)
    return result


def _stage_records(records, writer, result, fmt, on_error, max_bytes) -> None:
    rows = writer.pending
    plain_ok = fmt in ("auto", "openai") and not writer.meta
    for record in records:
        value = record.value
        # subtle: the bulk of real data, plain chats, is staged right here; the same checks as
        # `convert` (plain_chat_stats is tested against normalize), minus four calls a record
        if plain_ok and value is not None and len(value) == 1:
            messages = value.get("messages")
            if messages is not None and (plain := plain_chat_stats(messages)) is not None:
                canonical = orjson.dumps({"kind": "chat", "messages": messages},
                                         option=orjson.OPT_SORT_KEYS)
                if len(canonical) <= max_bytes:
                    rows.append((hashlib.sha256(canonical).hexdigest(), "chat", canonical,
                                 *plain, record.position, None))
                    if len(rows) >= BATCH_ROWS:
                        rows = writer.flush()
                    continue
        if record.error is None:
            try:
                writer.add(convert(value, fmt, max_bytes), record.position)
                rows = writer.pending
                continue
            except InvalidRecord as e:
                record.error = e.message
        result.rejects.append((record.position, record.error))
        if on_error == "fail":
            result.failed = True
            return


def _count_lines(path: Path, start: int, length: int) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0 and (block := f.read(min(length, 1 << 22))):
            count += block.count(b"\n")
            length -= len(block)
            last = block[-1:]
    return count + (last != b"\n")


def convert(value: dict[str, Any], fmt: str, max_bytes: int) -> tuple:
    """(id, kind, canonical bytes, stats, leftover keys) of one record."""
    payload, extra = parse(value, fmt)
    normal = normalize(payload)
    canonical = canonical_json(normal)
    if len(canonical) > max_bytes:
        raise InvalidRecord(f"the record is {len(canonical):,} bytes, over the limit of "
                            f"{max_bytes:,} (--max-record-bytes)")
    return content_id(canonical), normal["kind"], canonical, stats(normal), extra


class _PartWriter:
    """Column buffers flushed to a Parquet part every BATCH_ROWS rows."""

    def __init__(self, directory: Path, piece: Piece, meta: dict[str, Any] | None):
        self.directory, self.piece, self.meta = directory, piece, meta
        self.source = str(piece.path)
        self.parts: list[str] = []
        self.rows = 0
        self._reset()

    def _reset(self) -> list[tuple]:
        self.pending: list[tuple] = []
        return self.pending

    def add(self, converted: tuple, position: int | None) -> None:
        ex_id, kind, canonical, (chars, turns, system), extra = converted
        if extra or self.meta:
            meta = orjson.dumps({**(extra or {}), **(self.meta or {})}).decode()
        else:
            meta = None
        self.pending.append((ex_id, kind, canonical, chars, turns, system, position, meta))
        if len(self.pending) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> list[tuple]:
        """Write the pending rows as a part; returns the new (empty) pending list."""
        n = len(self.pending)
        if not n:
            return self.pending
        ids, kinds, payloads, chars, turns, system, positions, metas = zip(*self.pending,
                                                                            strict=True)
        # subtle: seq orders rows across pieces (piece index high, row low) so that example keys
        # follow the order of the input, whichever worker staged a piece
        first = (self.piece.index << 32) + self.rows
        columns = [
            pa.array(range(first, first + n), pa.int64()),
            pa.array(ids, pa.string()),
            pa.array(kinds, pa.string()),
            pa.array(payloads, pa.binary()).cast(pa.string()),
            pa.array(chars, pa.int32()),
            pa.array(turns, pa.int32()),
            pa.array(system, pa.bool_()),
            pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), [self.source]),
            pa.array([self.piece.index] * n, pa.int32()),
            pa.array(positions, pa.int64()),
            pa.array(metas, pa.string()),
        ]
        part = self.directory / f"part-{self.piece.index:06d}-{len(self.parts):05d}.parquet"
        pq.write_table(pa.Table.from_arrays(columns, schema=SCHEMA), part, compression="none")
        self.parts.append(str(part))
        self.rows += n
        return self._reset()
