"""Staging: one piece of an input (a file, or a byte range of a large JSON Lines file) read,
converted, validated and hashed into Parquet parts. A piece is a pure function of its inputs, so
pieces run side by side in worker processes and the commit reads their parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gristmill.errors import InvalidRecord
from gristmill.example import canonical_json, content_id, normalize, stats
from gristmill.store import fastpath, readers
from gristmill.store.formats import parse

BATCH_ROWS = 50_000


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
    stage = _Staging(_PartWriter(directory, piece, meta), result, fmt, on_error, max_bytes)
    if readers.file_type(piece.path) == "jsonl":
        stage.lines(piece)
    else:
        stage.records(readers.read(piece.path, max_bytes))
    stage.writer.flush()
    result.records, result.parts = stage.writer.rows, stage.writer.parts
    if piece.start is not None:
        result.lines = _count_lines(piece.path, piece.start, piece.length)
    else:
        result.lines = max([stage.writer.last_position, *(p or 0 for p, _ in result.rejects)])
    return result


def convert(value: dict[str, Any], fmt: str, max_bytes: int) -> tuple[tuple, dict | None]:
    """The row (id, kind, canonical bytes, chars, turns, has system) of one record, and its
    leftover keys."""
    payload, extra = parse(value, fmt)
    normal = normalize(payload)
    canonical = canonical_json(normal)
    if len(canonical) > max_bytes:
        raise InvalidRecord(f"the record is {len(canonical):,} bytes, over the limit of "
                            f"{max_bytes:,} (--max-record-bytes)")
    return (content_id(canonical), normal["kind"], canonical, *stats(normal)), extra


@dataclass
class _Staging:
    writer: _PartWriter
    result: PieceResult
    fmt: str
    on_error: str
    max_bytes: int

    def lines(self, piece: Piece) -> None:
        """JSON Lines: plain chats go straight from the raw line to a row (the fast path); any
        other line is parsed and goes the general way."""
        fast = self.fmt in ("auto", "openai")
        plain, add, max_bytes = fastpath.plain_chat, self.writer.add, self.max_bytes
        try:
            for number, line, size, complete in readers.lines(piece.path, max_bytes,
                                                              piece.start or 0, piece.length):
                if fast and line and (row := plain(line, max_bytes)) is not None:
                    add(row, number)
                    continue
                record = readers.parse_line(number, line, size, complete, max_bytes)
                if record is not None and not self.take(record):
                    return
        except readers.FileProblem as e:
            self.take(readers.Record(None, error=str(e)))

    def records(self, records) -> None:
        for record in records:
            if not self.take(record):
                return

    def take(self, record: readers.Record) -> bool:
        """Stage one parsed record or keep it as a reject; False: stop (on_error=fail)."""
        if record.error is None:
            try:
                row, extra = convert(record.value, self.fmt, self.max_bytes)
                self.writer.add(row, record.position, extra)
                return True
            except InvalidRecord as e:
                record.error = e.message
        self.result.rejects.append((record.position, record.error))
        self.result.failed = self.on_error == "fail"
        return not self.result.failed


def _count_lines(path: Path, start: int, length: int) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0 and (block := f.read(min(length, 1 << 22))):
            count += block.count(b"\n")
            length -= len(block)
            last = block[-1:]
    return count + (last != b"\n")


class _PartWriter:
    """Column buffers flushed to a Parquet part every BATCH_ROWS rows."""

    def __init__(self, directory: Path, piece: Piece, meta: dict[str, Any] | None):
        self.directory, self.piece, self.meta = directory, piece, meta
        self.parts: list[str] = []
        self.rows = 0
        self.last_position = 0
        self._columns: tuple[list, ...] = tuple([] for _ in range(8))

    def add(self, row: tuple, position: int, extra: dict | None = None) -> None:
        ids, kinds, payloads, chars, turns, system, positions, metas = self._columns
        ids.append(row[0])
        kinds.append(row[1])
        payloads.append(row[2])
        chars.append(row[3])
        turns.append(row[4])
        system.append(row[5])
        positions.append(position)
        if extra or self.meta:
            metas.append(orjson.dumps({**(extra or {}), **(self.meta or {})}).decode())
        else:
            metas.append(None)
        if len(ids) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        # subtle: pyarrow starts threads when imported; importing it here, in the process that
        # stages, keeps the ingest's own process single-threaded, so its workers can be forked
        import pyarrow as pa
        import pyarrow.parquet as pq

        ids, kinds, payloads, chars, turns, system, positions, metas = self._columns
        n = len(ids)
        if not n:
            return
        self.last_position = max(self.last_position, positions[-1])
        columns = [
            pa.array(ids, pa.string()),
            pa.array(kinds, pa.string()),
            pa.array(payloads, pa.binary()).cast(pa.string()),
            pa.array(chars, pa.int32()),
            pa.array(turns, pa.int32()),
            pa.array(system, pa.bool_()),
            pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), [str(self.piece.path)]),
            pa.array([self.piece.index] * n, pa.int32()),
            pa.array(positions, pa.int64()),
            pa.array(metas, pa.string()),
        ]
        part = self.directory / f"part-{self.piece.index:06d}-{len(self.parts):05d}.parquet"
        schema = pa.schema([
            ("id", pa.string()), ("kind", pa.string()), ("payload", pa.string()),
            ("n_chars", pa.int32()), ("n_turns", pa.int32()), ("has_system", pa.bool_()),
            ("source", pa.dictionary(pa.int32(), pa.string())), ("piece", pa.int32()),
            ("position", pa.int64()), ("meta", pa.string()),
        ])
        pq.write_table(pa.Table.from_arrays(columns, schema=schema), part, compression="none")
        self.parts.append(str(part))
        self.rows += n
        for column in self._columns:
            column.clear()
