"""Reading records from files: JSON Lines (plain or gzip), JSON arrays, CSV, Parquet and folders
written by `datasets.Dataset.save_to_disk`.

Readers stream with bounded memory and never raise on bad input: each yields `Record`s, and a
record that cannot be read carries the reason instead of a value, so the caller decides whether
one bad line stops the ingest or goes to the rejects.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from gristmill.store.files import Flood, GuardedGzip

MAX_RECORD_BYTES = 1 << 20
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 20


@dataclass(slots=True)
class Record:
    position: int | None  # line (JSONL, CSV) or record number (array, Parquet); None: the file
    value: dict[str, Any] | None = None
    error: str | None = None


class FileProblem(Exception):
    """The file as a whole cannot be read (empty, UTF-16, not gzip, ...)."""


def read(path: Path, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Record]:
    """The records of one file or save_to_disk folder, whatever its type."""
    kind = file_type(path)
    try:
        if kind == "hf":
            yield from _arrow_folder(path)
        elif kind == "parquet":
            _check_not_empty(path)
            yield from _parquet(path)
        elif kind == "jsonl" or (kind == "json" and not _is_array(path)):
            for number, line, size, complete in lines(path, max_record_bytes):
                if (record := parse_line(number, line, size, complete, max_record_bytes)):
                    yield record
        elif kind == "csv":
            with _open(path) as f:
                yield from _csv(f, max_record_bytes)
        else:
            yield from _json_array(path, max_record_bytes)
    except FileProblem as e:
        yield Record(None, error=str(e))


def lines(path: Path, max_bytes: int, start: int = 0,
          length: int | None = None) -> Iterator[tuple[int, bytes | None, int, bool]]:
    """Numbered raw lines `(number, line, size, ended by a newline)` of a JSON Lines file, or of
    `length` bytes of one from `start`, a line boundary (numbers then count from there). `line`
    is None for a line over `max_bytes`. Raises FileProblem for a file that cannot be read."""
    with _open(path, start) as f:
        if start == 0 and length is not None:
            length -= f.tell()  # a byte-order mark was skipped
        number = 0
        for line, size, complete in _lines(f, max_bytes, length):
            number += 1
            yield number, line, size, complete


def parse_line(number: int, line: bytes | None, size: int, complete: bool,
               max_bytes: int) -> Record | None:
    """The record on one JSON line; None for a blank line."""
    if line is None:
        return Record(number, error=f"the line is {_size(size)}, over the limit of "
                      f"{_size(max_bytes)} a record (--max-record-bytes)")
    if not line or line.isspace():
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return Record(number, error=_json_error(line, e, complete))
    if type(value) is not dict:
        return Record(number, error=f"expected a JSON object, found {_kind(value)}")
    return Record(number, value)


@contextmanager
def _open(path: Path, start: int = 0) -> Iterator[BinaryIO]:
    """The file, uncompressed, past a UTF-8 byte-order mark; FileProblem for an empty file, a
    UTF-16 one, or one that cannot be read."""
    if start == 0:
        _check_not_empty(path)
    opener = GuardedGzip if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            if start:
                f.seek(start)
            else:
                head = f.peek(4)[:4] if hasattr(f, "peek") else b""
                if head.startswith(_UTF16_BOMS):
                    raise FileProblem(
                        "the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                        "Gristmill reads UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8")
                if head.startswith(_UTF8_BOM):
                    f.read(3)  # subtle: a UTF-8 BOM is harmless; dropping it keeps line 1 parseable
            yield f
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise FileProblem(f"cannot read the file: {e}") from None
    except Flood as e:
        raise FileProblem(str(e)) from None


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise FileProblem("the file is empty")


def file_type(path: Path) -> str:
    """jsonl | json | csv | parquet | hf, from the name (sniffing the bytes when it says nothing)."""
    if path.is_dir():
        if is_saved_dataset(path):
            return "hf"
        raise ValueError(f"{path} is a folder but not one written by datasets' save_to_disk")
    name = path.name.lower().removesuffix(".gz")
    for suffix, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"),
                         (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return kind
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PAR1":
        return "parquet"
    if head[:2] == b"\x1f\x8b" or head.lstrip()[:1] in (b"{", b"["):
        return "json"
    raise ValueError(
        f"{path}: cannot tell the file type from its name; "
        "name it .jsonl, .json, .csv or .parquet (optionally .gz)"
    )


def is_saved_dataset(path: Path) -> bool:
    return (path / "state.json").exists() and any(path.glob("*.arrow"))


def _is_array(path: Path) -> bool:
    """A .json file holds one array, or else JSON Lines."""
    with _open(path) as f:
        head = f.peek(64) if hasattr(f, "peek") else b""
    return head.lstrip()[:1] == b"["


def _lines(f: BinaryIO, max_bytes: int, length: int | None) -> Iterator[tuple[bytes | None, int, bool]]:
    """(line, size, ended by a newline) for each line, read in blocks; `line` is None for a line
    over `max_bytes`, which is skipped without ever being held whole in memory."""
    carry, carry_size, too_long = b"", 0, False
    left = length
    while left is None or left > 0:
        block = f.read(_BLOCK if left is None else min(_BLOCK, left))
        if not block:
            break
        if left is not None:
            left -= len(block)
        parts = block.split(b"\n")
        tail = parts.pop()
        if parts:
            first, size = parts[0], carry_size + len(parts[0])
            yield (None if too_long or size > max_bytes else carry + first), size, True
            carry, carry_size, too_long = b"", 0, False
            for part in parts[1:]:
                yield (None if len(part) > max_bytes else part), len(part), True
        carry_size += len(tail)
        if too_long or carry_size > max_bytes:
            carry, too_long = b"", True
        else:
            carry += tail
    if carry_size:
        yield (None if too_long else carry), carry_size, False


def _json_error(line: bytes, e: orjson.JSONDecodeError, complete: bool = True) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as u:
        return (f"not valid UTF-8 (byte 0x{line[u.start]:02x} at column {u.start + 1}); "
                "Gristmill reads UTF-8 text")
    if not complete:
        return "the last line is cut off (no newline at the end and not valid JSON): " \
               "was the file still being written?"
    return f"not valid JSON: {e.msg} at column {e.colno}"


def _json_array(path: Path, max_bytes: int) -> Iterator[Record]:
    """The items of a JSON array, streamed by DuckDB's JSON reader (plain or gzip)."""
    import duckdb

    con = duckdb.connect()
    try:
        cursor = con.execute(
            "SELECT json FROM read_json_objects(?, format = 'array', maximum_object_size = ?)",
            [str(path), max(max_bytes + 1, 16 << 20)])
        number = 0
        while batch := cursor.fetchmany(2048):
            for (text,) in batch:
                number += 1
                if (size := len(text.encode())) > max_bytes:
                    yield Record(number, error=f"the item is {_size(size)}, over the limit "
                                 f"of {_size(max_bytes)} a record (--max-record-bytes)")
                    continue
                value = orjson.loads(text)
                if type(value) is dict:
                    yield Record(number, value)
                else:
                    yield Record(number, error=f"expected a JSON object, found {_kind(value)}")
    except duckdb.Error as e:
        message = str(e).splitlines()[0].removeprefix("Invalid Input Error: ").strip(" .")
        raise FileProblem(f"not a valid JSON array: {message}") from None
    finally:
        con.close()


def _csv(f: BinaryIO, max_bytes: int) -> Iterator[Record]:
    csv.field_size_limit(max_bytes)
    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    # subtle: strict, or a quote never closed swallows every later line into one record
    reader = csv.DictReader(text, strict=True)
    ended = 1  # the line the last row ended on (the header's, at first)
    try:
        for row in reader:
            ended = reader.line_num
            if None in row:
                yield Record(ended, error="the row has more fields than the header")
                continue
            yield Record(ended, {k: v for k, v in row.items() if v not in ("", None)})
    except UnicodeDecodeError:
        yield Record(ended + 1, error="not valid UTF-8; Gristmill reads UTF-8 text "
                     "(the rest of the file was not read)")
    except csv.Error as e:
        why = "a quoted field that opens here is never closed" \
            if "unexpected end of data" in str(e) else str(e)
        yield Record(ended + 1, error=f"not valid CSV: {why} (the rest of the file was not "
                     "read)")


def _parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=2048)
        number = 0
        for batch in batches:
            for value in batch.to_pylist():
                number += 1
                yield Record(number, value)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
        yield Record(None, error=f"cannot read it as Parquet: {e}")


def _arrow_folder(path: Path) -> Iterator[Record]:
    import pyarrow as pa

    number = 0
    for part in sorted(path.glob("*.arrow")):
        with pa.memory_map(str(part)) as source:
            for batch in pa.ipc.open_stream(source):
                for value in batch.to_pylist():
                    number += 1
                    yield Record(number, value)


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), "a value")


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"
