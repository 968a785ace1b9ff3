"""Reading records from files: JSON Lines (plain or gzip), JSON arrays, CSV, Parquet and folders
written by `datasets.Dataset.save_to_disk`.

Readers stream with bounded memory and never raise on bad input: each yields `Record`s, and a
record that cannot be read carries the reason instead of a value, so the caller decides whether
one bad line stops the ingest or goes to the rejects.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

MAX_RECORD_BYTES = 1 << 20
MAX_JSON_ARRAY_BYTES = 1 << 30
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Record:
    position: int | None  # line (JSONL, CSV) or record number (array, Parquet); None: the file
    value: dict[str, Any] | None = None
    error: str | None = None


def read(path: Path, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Record]:
    """The records of one file or save_to_disk folder, whatever its type."""
    kind = file_type(path)
    if kind == "hf":
        yield from _arrow_folder(path)
        return
    if path.stat().st_size == 0:
        yield Record(None, error="the file is empty")
        return
    if kind == "parquet":
        yield from _parquet(path)
        return
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.peek(4)[:4] if hasattr(f, "peek") else b""
            if head.startswith(_UTF16_BOMS):
                yield Record(None, error="the file is UTF-16 (it starts with a UTF-16 byte-order "
                             "mark); Gristmill reads UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8")
                return
            if head.startswith(_UTF8_BOM):
                f.read(3)  # subtle: a UTF-8 BOM is harmless; dropping it keeps line 1 parseable
            if kind == "csv":
                yield from _csv(f, max_record_bytes)
            elif kind == "json" and _first_byte(f) == b"[":
                yield from _json_array(f, path)
            else:
                yield from _jsonl(f, max_record_bytes)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        yield Record(None, error=f"cannot read the file: {e}")


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


def _first_byte(f: BinaryIO) -> bytes:
    head = f.peek(64) if hasattr(f, "peek") else b""
    return head.lstrip()[:1]


def _jsonl(f: BinaryIO, max_bytes: int) -> Iterator[Record]:
    number = 0
    while True:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            size = len(line) + _skip_rest_of_line(f)
            yield Record(number, error=f"the line is {_size(size)}, over the limit of "
                         f"{_size(max_bytes)} a record (--max-record-bytes)")
            continue
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            yield Record(number, error=_json_error(line, e))
            continue
        if type(value) is not dict:
            yield Record(number, error=f"expected a JSON object, found {_kind(value)}")
            continue
        yield Record(number, value)


def _skip_rest_of_line(f: BinaryIO) -> int:
    skipped = 0
    while chunk := f.readline(1 << 20):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _json_error(line: bytes, e: orjson.JSONDecodeError) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as u:
        return (f"not valid UTF-8 (byte 0x{line[u.start]:02x} at column {u.start + 1}); "
                "Gristmill reads UTF-8 text")
    if not line.endswith(b"\n"):
        return "the last line is cut off (no newline at the end and not valid JSON): " \
               "was the file still being written?"
    return f"not valid JSON: {e.msg} at column {e.colno}"


def _json_array(f: BinaryIO, path: Path) -> Iterator[Record]:
    if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
        yield Record(None, error=f"a JSON array is read whole, and this one is over "
                     f"{_size(MAX_JSON_ARRAY_BYTES)}: write it as JSON Lines instead")
        return
    data = f.read()
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        yield Record(None, error=_json_error(data, e).replace("column", "character"))
        return
    if type(items) is not list:
        yield Record(None, error=f"expected a JSON array of objects, found {_kind(items)}")
        return
    for number, value in enumerate(items, 1):
        if type(value) is dict:
            yield Record(number, value)
        else:
            yield Record(number, error=f"expected a JSON object, found {_kind(value)}")


def _csv(f: BinaryIO, max_bytes: int) -> Iterator[Record]:
    csv.field_size_limit(max_bytes)
    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    reader = csv.DictReader(text)
    try:
        for row in reader:
            if None in row:
                yield Record(reader.line_num, error="the row has more fields than the header")
                continue
            yield Record(reader.line_num, {k: v for k, v in row.items() if v not in ("", None)})
    except UnicodeDecodeError:
        yield Record(reader.line_num + 1, error="not valid UTF-8; Gristmill reads UTF-8 text "
                     "(the rest of the file was not read)")
    except csv.Error as e:
        yield Record(reader.line_num, error=f"not valid CSV: {e} (the rest of the file was "
                     "not read)")


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
