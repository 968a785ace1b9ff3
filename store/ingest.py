"""Ingest: files in, one new version out — or nothing at all.

Records are read, converted, validated and hashed into Parquet parts in a staging folder beside
the store (bounded memory, and readers keep working meanwhile); the commit is one transaction
that stores the new examples, their sources, the rejects and the version. A killed ingest leaves
the store at its previous version and a staging folder that the next ingest sweeps away.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.errors import GristmillError, InvalidRecord, UsageError
from gristmill.example import canonical_json, content_id, normalize, stats
from gristmill.store import readers, versions
from gristmill.store.db import Store
from gristmill.store.formats import FORMATS, parse
from gristmill.store.runs import writing

ON_ERROR = ("fail", "skip")
_BATCH_ROWS = 50_000
_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("id", pa.string()), ("kind", pa.string()), ("payload", pa.string()),
    ("n_chars", pa.int32()), ("n_turns", pa.int32()), ("has_system", pa.bool_()),
    ("source", pa.string()), ("position", pa.int64()), ("meta", pa.string()),
])


@dataclass
class IngestResult:
    dataset: str
    run_id: int
    files: int = 0
    records: int = 0  # records read and valid
    new: int = 0  # examples the store did not hold before
    repeated: int = 0  # records whose content appeared earlier in this same input
    rejected: int = 0
    version: str | None = None  # the new version's ref; None when nothing changed
    added: int = 0  # examples the new version has that its parent had not
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = (f"ingested {self.records:,} records from {self.files} file(s) "
                f"in {self.seconds:.1f} s: ")
        if self.version is None:
            body = f"nothing new, every example is already in {self.dataset}"
        else:
            body = (f"{self.dataset} is now {self.version} (+{self.added:,} examples; "
                    f"{self.new:,} new to the store, {self.repeated:,} repeats within the input)")
        tail = f"; {self.rejected:,} rejected (gristmill rejects --run {self.run_id})" \
            if self.rejected else ""
        return head + body + tail


def ingest(
    store: Store,
    paths: list[Path],
    dataset: str,
    fmt: str = "auto",
    on_error: str = "fail",
    max_record_bytes: int = readers.MAX_RECORD_BYTES,
    tags: dict[str, str] | None = None,
    progress: bool = False,
) -> IngestResult:
    versions.check_name(dataset)
    if fmt != "auto" and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error is fail or skip, not {on_error!r}")
    files = expand(paths)
    config = {"paths": [str(p) for p in files], "format": fmt, "on_error": on_error,
              "max_record_bytes": max_record_bytes, "tags": tags or {}}
    started = time.perf_counter()
    with writing(store, f"ingest --dataset {dataset}", config) as run:
        _sweep_stale_stages(store.path)
        staging = Path(tempfile.mkdtemp(prefix=_stage_prefix(store.path), dir=store.path.parent))
        try:
            result = IngestResult(dataset, run.id, files=len(files))
            stage = _Stage(staging)
            rejects: list[tuple[str, int | None, str]] = []
            meta_tags = {"tags": tags} if tags else None
            for path in files:
                _read_file(path, fmt, on_error, max_record_bytes, meta_tags, stage, rejects,
                           result, progress)
            stage.close()
            result.rejected = len(rejects)
            run.stats = {"records": result.records, "rejected": result.rejected,
                         "files": result.files}
            with run.commit() as con:
                _commit(con, run.id, dataset, config, stage, rejects, result)
                run.stats |= {"new": result.new, "added": result.added,
                              "version": result.version}
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


def expand(paths: list[Path]) -> list[Path]:
    """Files named, and the readable files inside folders named (save_to_disk folders whole)."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such file: {path}")
        if path.is_dir() and not readers.is_saved_dataset(path):
            inside = [p for p in sorted(path.iterdir()) if p.is_file() and _readable(p)]
            if not inside:
                raise UsageError(f"{path} holds no .jsonl, .json, .csv or .parquet files")
            files.extend(p.resolve() for p in inside)
        else:
            try:
                readers.file_type(path)
            except ValueError as e:
                raise UsageError(str(e)) from None
            files.append(path.resolve())
    return files


def _readable(path: Path) -> bool:
    try:
        readers.file_type(path)
    except ValueError:
        return False
    return True


def _read_file(path, fmt, on_error, max_bytes, meta_tags, stage, rejects, result, progress):
    source = str(path)
    bar = _progress_bar(path) if progress else None
    count = 0
    for record in readers.read(path, max_bytes):
        if bar is not None:
            bar.update(1)
        if record.error is None:
            try:
                stage.add(_convert(record.value, fmt, max_bytes), source, record.position,
                          meta_tags)
                count += 1
                continue
            except InvalidRecord as e:
                record.error = e.message
        where = f"{path}:{record.position}" if record.position else str(path)
        if on_error == "fail":
            raise InvalidRecord(record.error, where)
        rejects.append((source, record.position, record.error))
    if bar is not None:
        bar.close()
    if count == 0 and not any(r[0] == source for r in rejects):
        if on_error == "fail":
            raise InvalidRecord("the file holds no records", str(path))
        rejects.append((source, None, "the file holds no records"))
    result.records += count


def _convert(value: dict[str, Any], fmt: str, max_bytes: int) -> tuple:
    payload, extra = parse(value, fmt)
    normal = normalize(payload)
    canonical = canonical_json(normal)
    if len(canonical) > max_bytes:
        raise InvalidRecord(f"the record is {len(canonical):,} bytes, over the limit of "
                            f"{max_bytes:,} (--max-record-bytes)")
    return content_id(canonical), normal["kind"], canonical, stats(normal), extra


class _Stage:
    """Column buffers flushed to Parquet parts every `_BATCH_ROWS` rows."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.parts: list[str] = []
        self.rows = 0
        self._cols: dict[str, list] = {name: [] for name in _SCHEMA.names}

    def add(self, converted: tuple, source: str, position: int | None, tags: dict | None):
        ex_id, kind, canonical, (chars, turns, system), extra = converted
        c = self._cols
        c["seq"].append(self.rows)
        c["id"].append(ex_id)
        c["kind"].append(kind)
        c["payload"].append(canonical)
        c["n_chars"].append(chars)
        c["n_turns"].append(turns)
        c["has_system"].append(system)
        c["source"].append(source)
        c["position"].append(position)
        meta = extra if not tags else {**(extra or {}), **tags}
        c["meta"].append(orjson.dumps(meta).decode() if meta else None)
        self.rows += 1
        if len(c["seq"]) >= _BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._cols["seq"]:
            return
        arrays = []
        for name, typ in zip(_SCHEMA.names, _SCHEMA.types, strict=True):
            values = self._cols[name]
            if name == "payload":  # bytes to string without a Python-level decode
                arrays.append(pa.array(values, pa.binary()).cast(pa.string()))
            else:
                arrays.append(pa.array(values, typ))
        part = self.directory / f"part-{len(self.parts):05d}.parquet"
        pq.write_table(pa.Table.from_arrays(arrays, schema=_SCHEMA), part, compression="none")
        self.parts.append(str(part))
        self._cols = {name: [] for name in _SCHEMA.names}

    close = flush


def _commit(con, run_id, dataset, config, stage, rejects, result) -> None:
    if rejects:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?)",
                        [(run_id, s, p, r) for s, p, r in rejects])
    if not stage.parts:
        return
    parts = ", ".join(f"'{p}'" for p in stage.parts)
    con.execute(f"CREATE OR REPLACE TEMP VIEW _stage AS SELECT * FROM read_parquet([{parts}])")
    result.new = versions.insert_new_examples(con, "_stage", run_id)
    con.execute("CREATE OR REPLACE TEMP TABLE _staged_keys AS SELECT DISTINCT e.key, s.source, "
                "s.position, s.meta FROM _stage s JOIN examples e ON e.id = s.id")
    (distinct,) = con.execute("SELECT count(DISTINCT key) FROM _staged_keys").fetchone()
    result.repeated = result.records - distinct
    con.execute(
        "INSERT INTO sources SELECT s.key, ?, ?, s.source, s.position, s.meta FROM _staged_keys s "
        "WHERE NOT EXISTS (SELECT 1 FROM sources x WHERE x.example_key = s.key AND "
        "x.dataset = ? AND x.source = s.source AND x.position IS NOT DISTINCT FROM s.position)",
        [dataset, run_id, dataset],
    )
    parent = _latest(con, dataset)
    members = "SELECT key AS example_key FROM _staged_keys"
    if parent is not None:
        (outside,) = con.execute(
            "SELECT count(DISTINCT key) FROM _staged_keys WHERE key NOT IN "
            "(SELECT example_key FROM members WHERE version_id = ?)", [parent.version_id]
        ).fetchone()
        if outside == 0:
            return
        members = (f"SELECT example_key FROM members WHERE version_id = {parent.version_id} "
                   f"UNION ALL {members}")
    version = versions.create_version(
        con, dataset=dataset, parent=parent, step="ingest", config=config, run_id=run_id,
        members=members,
        stats={"records": result.records, "new_examples": result.new,
               "repeats": result.repeated, "rejected": result.rejected},
    )
    result.version, result.added = version.ref, version.n_added


def _latest(con, dataset: str) -> versions.Version | None:
    try:
        return versions.resolve(con, dataset)
    except GristmillError:
        return None


def _stage_prefix(store_path: Path) -> str:
    return f".{store_path.name}.stage-"


def _sweep_stale_stages(store_path: Path) -> None:
    """Staging folders that killed ingests left (we hold the writer lock: none is live)."""
    for stale in store_path.parent.glob(_stage_prefix(store_path) + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def _progress_bar(path: Path):
    from tqdm import tqdm

    return tqdm(desc=path.name, unit=" rec", file=sys.stderr, mininterval=0.5, leave=False)
