"""Export a version to the formats trainers read; every exported file ingests back to the same ids.

Files are written under a temporary name and renamed when complete, so a killed export never
leaves half a file where a trainer would read it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import orjson

from gristmill.errors import GristmillError, UsageError
from gristmill.example import KINDS, Example
from gristmill.store import export_target as target
from gristmill.store.formats import Unsupported, render
from gristmill.store.readers import is_saved_dataset
from gristmill.store.versions import Version

EXPORT_FORMATS = ("openai", "sharegpt", "alpaca", "preference", "text", "gristmill", "parquet",
                  "hf")
_HF_COLUMNS = {"chat": ("messages",), "preference": ("prompt", "chosen", "rejected"),
               "text": ("text",)}


@dataclass
class ExportResult:
    path: Path | str
    written: int
    skipped: int

    def summary(self, ref: str, fmt: str) -> str:
        tail = f", {self.skipped:,} left out as unsupported in {fmt}" if self.skipped else ""
        from gristmill.redact import redacted

        where = "standard output" if str(self.path) == target.STDOUT else redacted(str(self.path))
        return f"exported {self.written:,} examples of {ref} to {where} ({fmt}){tail}"


def export(
    con: duckdb.DuckDBPyConnection, version: Version, path: Path, fmt: str,
    kind: str | None = None, skip_unsupported: bool = False, progress: bool = False,
    split: str | None = None, store: Path | None = None, force: bool = False,
) -> ExportResult:
    """Write the version to `path` (`-`: standard output, JSON Lines only), never over the
    store, a device, a link or a file an export did not write unless `force`."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    if split is not None:
        check_split(con, version, split)
    if str(path) == target.STDOUT:
        return _stdout(con, version, fmt, kind, split, skip_unsupported)
    target.check(path, store, force)
    if path.is_dir() and not (fmt == "hf" and is_saved_dataset(path)):
        raise GristmillError(f"{path} is a folder that export will not replace; name a new path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    target.clear(tmp)
    try:
        if fmt == "parquet":
            result = _parquet(con, version, tmp, kind, split)
        elif fmt == "hf":
            result = _hf(con, version, tmp, kind, split)
        else:
            result = _jsonl(con, version, tmp, fmt, kind, split, skip_unsupported, progress)
        target.mark(tmp)
        if path.is_dir():  # an earlier hf export of the same name
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    result.path = path
    return result


_WHERE = ("m.version_id = ? AND (e.kind = ? OR ? IS NULL) AND (? IS NULL OR m.example_key IN "
          "(SELECT example_key FROM splits WHERE version_id = ? AND split = ?))")


def export_dataset(con: duckdb.DuckDBPyConnection, version: Version, uri: str,
                   kind: str | None = None, split: str | None = None,
                   partition_by: str | None = None, rows_per_file: int = 1_000_000) -> ExportResult:
    """The version as a partitioned Parquet dataset at `uri` (a folder or an s3:// URI); by
    default partitioned by split when the version has splits."""
    from gristmill.store.datasets import write_dataset

    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    if split is not None:
        check_split(con, version, split)
    if rows_per_file < 1:
        raise UsageError("--rows-per-file is a positive number")
    if partition_by is None:
        has = con.execute("SELECT 1 FROM splits WHERE version_id = ? LIMIT 1",
                          [version.version_id]).fetchone()
        partition_by = "split" if has else "none"
    written = write_dataset(con, version, uri, _WHERE, _params(version, kind, split),
                            partition_by, rows_per_file)
    return ExportResult(uri, written, 0)


def _params(version: Version, kind: str | None, split: str | None) -> list:
    return [version.version_id, kind, kind, split, version.version_id, split]


def check_split(con: duckdb.DuckDBPyConnection, version: Version, split: str) -> None:
    known = [s for (s,) in con.execute(
        "SELECT DISTINCT split FROM splits WHERE version_id = ? ORDER BY split",
        [version.version_id]).fetchall()]
    if not known:
        raise GristmillError(f"{version.ref} has no splits: run `gristmill curate "
                             f"{version.ref} --step split` first")
    if split not in known:
        raise UsageError(f"{version.ref} has no split {split!r} (splits: {', '.join(known)})")


def examples(
    con: duckdb.DuckDBPyConnection, version: Version, kind: str | None = None,
    split: str | None = None, batch_rows: int = 10_000,
) -> Iterator[Example]:
    """The version's examples (of one split, when named) in key order (the order they were
    first stored), streamed."""
    reader = con.cursor().sql(
        "SELECT e.id, e.kind, e.payload FROM members m JOIN examples e ON e.key = m.example_key "
        f"WHERE {_WHERE} ORDER BY m.example_key", params=_params(version, kind, split),
    ).to_arrow_reader(batch_rows)
    for batch in reader:
        for ex_id, ex_kind, payload in zip(*(c.to_pylist() for c in batch.columns), strict=True):
            yield Example(ex_id, ex_kind, orjson.loads(payload), payload.encode())


def _rendered(con, version, fmt, kind, split, skip_unsupported, result) -> Iterator[dict]:
    for example in examples(con, version, kind, split):
        try:
            yield render(example, fmt)
        except Unsupported as e:
            if not skip_unsupported:
                raise GristmillError(
                    f"example {example.id[:12]} cannot be written as {fmt}: {e}; pass "
                    "--skip-unsupported to leave such examples out (they are counted), or "
                    "--kind to export one kind"
                ) from None
            result.skipped += 1
            continue
        result.written += 1


def _jsonl(con, version, tmp: Path, fmt, kind, split, skip_unsupported, progress) -> ExportResult:
    result = ExportResult(tmp, 0, 0)
    opener = gzip.open if tmp.name.endswith(".gz.partial") else open
    records = _rendered(con, version, fmt, kind, split, skip_unsupported, result)
    if progress:
        from tqdm import tqdm

        records = tqdm(records, total=version.n_examples, desc="export", unit=" examples",
                       leave=False, mininterval=0.5)
    with opener(tmp, "wb") as f:
        _write_lines(records, f)
    return result


def _stdout(con, version, fmt, kind, split, skip_unsupported) -> ExportResult:
    if fmt in ("parquet", "hf"):
        raise UsageError(f"--format {fmt} writes files: `-o -` (standard output) takes a JSON "
                         "Lines format")
    result = ExportResult(target.STDOUT, 0, 0)
    _write_lines(_rendered(con, version, fmt, kind, split, skip_unsupported, result),
                 sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return result


def _write_lines(records: Iterator[dict], out: BinaryIO) -> None:
    for record in records:
        out.write(orjson.dumps(record) + b"\n")


def _parquet(con, version, tmp: Path, kind, split) -> ExportResult:
    (written,) = con.execute(
        "COPY (SELECT e.id, e.kind, e.payload FROM members m JOIN examples e "
        f"ON e.key = m.example_key WHERE {_WHERE} "
        f"ORDER BY m.example_key) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)",
        _params(version, kind, split),
    ).fetchone()
    return ExportResult(tmp, written, 0)


def _empty(columns: tuple[str, ...]):
    import pyarrow as pa

    return pa.schema([("id", pa.string()), *((c, pa.string()) for c in columns)])


def _hf(con, version, tmp: Path, kind, split) -> ExportResult:
    import datasets
    import pyarrow as pa

    kinds = [k for (k,) in con.execute(
        "SELECT DISTINCT e.kind FROM members m JOIN examples e ON e.key = m.example_key "
        f"WHERE {_WHERE}", _params(version, kind, split)).fetchall()]
    if len(kinds) > 1:
        raise GristmillError(f"{version.ref} holds {' and '.join(sorted(kinds))} examples; a "
                             "Hugging Face dataset has one schema: pass --kind")
    columns = _HF_COLUMNS[kinds[0]] if kinds else ("messages",)
    tables, rows = [], []
    for ex in examples(con, version, kind, split):
        rows.append({"id": ex.id, **{c: ex.payload[c] for c in columns}})
        if len(rows) == 10_000:  # Arrow batches, not a million Python dicts, held in memory
            tables.append(pa.Table.from_pylist(rows))
            rows = []
    if rows or not tables:
        tables.append(pa.Table.from_pylist(rows or [], schema=None if rows else _empty(columns)))
    table = pa.concat_tables(tables, promote_options="default")
    datasets.disable_progress_bars()
    datasets.Dataset(table).save_to_disk(str(tmp))
    return ExportResult(tmp, table.num_rows, 0)
