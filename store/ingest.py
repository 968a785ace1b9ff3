"""Ingest: files in, one new version out — or nothing at all.

Records are read, converted, validated and hashed into Parquet parts in a staging folder beside
the store (bounded memory, and readers keep working meanwhile); the commit is one transaction
that stores the new examples, their sources, the rejects and the version. A killed ingest leaves
the store at its previous version and a staging folder that the next ingest sweeps away.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gristmill.errors import GristmillError, InvalidRecord, UsageError
from gristmill.store import readers, versions
from gristmill.store.db import Store
from gristmill.store.files import special
from gristmill.store.formats import FORMATS
from gristmill.store.pieces import offsets, split, stage_all
from gristmill.store.runs import writing
from gristmill.store.stage import Piece, PieceResult, stage_piece

ON_ERROR = ("fail", "skip")
COMMIT_MEMORY = "1GB"  # DuckDB spills to disk past this while committing


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
    left_out: list[str] = field(default_factory=list)  # in folders named, not of a read type

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
        if self.left_out:
            names = ", ".join(Path(p).name for p in self.left_out[:3])
            more = f" and {len(self.left_out) - 3:,} more" if len(self.left_out) > 3 else ""
            tail += (f"; left out {len(self.left_out):,} file(s) of other types in the folders "
                     f"named ({names}{more})")
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
    workers: int | None = None,
) -> IngestResult:
    versions.check_name(dataset)
    if fmt != "auto" and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error is fail or skip, not {on_error!r}")
    if max_record_bytes < 1024:
        raise UsageError(f"--max-record-bytes must be at least 1024, not {max_record_bytes}")
    files, left_out = expand(paths)
    config = {"paths": [str(p) for p in files], "format": fmt, "on_error": on_error,
              "max_record_bytes": max_record_bytes, "tags": tags or {}}
    started = time.perf_counter()
    with writing(store, f"ingest --dataset {dataset}", config) as run:
        _sweep_stale_stages(store.path)
        staging = Path(tempfile.mkdtemp(prefix=_stage_prefix(store.path), dir=store.path.parent))
        try:
            result = IngestResult(dataset, run.id, files=len(files),
                                  left_out=[str(p) for p in left_out])
            pieces = split(files)
            job = functools.partial(stage_piece, fmt=fmt, on_error=on_error,
                                    max_bytes=max_record_bytes,
                                    meta={"tags": tags} if tags else None, directory=staging)
            staged = stage_all(pieces, job, workers, progress)
            placed = offsets(pieces, staged)
            rejects = _check(pieces, staged, placed, on_error)
            result.records = sum(r.records for r in staged)
            result.rejected = len(rejects)
            run.stats = {"records": result.records, "rejected": result.rejected,
                         "files": result.files}
            with run.commit() as con:
                _commit(con, run.id, dataset, config, staged, placed, rejects, result)
                run.stats |= {"new": result.new, "added": result.added,
                              "version": result.version}
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


def _check(pieces: list[Piece], staged: list[PieceResult], placed: dict[int, tuple[int, int]],
           on_error: str) -> list[tuple]:
    """Rejects as (source, line, reason) with file-wide line numbers; raises the first one under
    on_error=fail, and flags files that hold no records."""
    rejects, records = [], {}
    for result in staged:
        piece = pieces[result.index]
        records[piece.path] = records.get(piece.path, 0) + result.records
        for position, reason in result.rejects:
            line = position + placed[result.index][0] if position else None
            if result.failed:
                raise InvalidRecord(reason, f"{piece.path}:{line}" if line else str(piece.path))
            rejects.append((str(piece.path), line, reason))
    for path, count in records.items():
        if count == 0 and not any(r[0] == str(path) for r in rejects):
            if on_error == "fail":
                raise InvalidRecord("the file holds no records", str(path))
            rejects.append((str(path), None, "the file holds no records"))
    return rejects


def expand(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Files named, and the readable files inside folders named (save_to_disk folders whole);
    and what those folders hold that is not read (other types, FIFOs, subfolders)."""
    files: list[Path] = []
    left_out: list[Path] = []
    for path in paths:
        if not path.exists():
            raise GristmillError(f"no such file: {path}")
        _check_not_special(path)
        if path.is_dir() and not readers.is_saved_dataset(path):
            entries = sorted(path.iterdir())
            read = {p for p in entries if p.is_file() and _readable(p)}
            if not read:
                raise GristmillError(f"{path} holds no .jsonl, .json, .csv or .parquet files")
            files.extend(p.resolve() for p in entries if p in read)
            left_out.extend(p for p in entries if p not in read)
        else:
            try:
                readers.file_type(path)
            except ValueError as e:
                raise GristmillError(str(e)) from None
            files.append(path.resolve())
    return files, left_out


def _check_not_special(path: Path) -> None:
    """Refuse a FIFO, device or socket: reading one may never end and cannot be cut into
    pieces or read twice."""
    if what := special(path.stat().st_mode):
        raise GristmillError(f"{path} is {what}; ingest reads files and folders (save the "
                             "stream to a file first)")


def _readable(path: Path) -> bool:
    try:
        readers.file_type(path)
    except ValueError:
        return False
    return True


def _commit(con, run_id, dataset, config, staged, placed, rejects, result) -> None:
    if rejects:
        import pyarrow as pa

        sources, positions, reasons = zip(*rejects, strict=True)
        con.register("_rejects_in", pa.table({
            "source": pa.array(sources, pa.string()), "position": pa.array(positions, pa.int64()),
            "reason": pa.array(reasons, pa.string())}))
        con.execute(f"INSERT INTO rejects SELECT {int(run_id)}, source, position, reason "
                    "FROM _rejects_in").fetchall()
        con.unregister("_rejects_in")
    parts = ", ".join("'" + p.replace("'", "''") + "'" for r in staged for p in r.parts)
    if not parts:
        return
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{COMMIT_MEMORY}'")
    # subtle: zstd writes payloads about twice as fast as the default's analysis, and smaller
    con.execute("SET force_compression = 'zstd'")
    ordinals = ", ".join(f"({i}, {line}, {before})" for i, (line, before) in placed.items())
    con.execute(f"""CREATE OR REPLACE TEMP VIEW _stage AS
        SELECT s.* REPLACE (s.position + o.line_offset AS position),
               o.ordinal_offset + s.position AS ordinal
        FROM read_parquet([{parts}]) s
        JOIN (VALUES {ordinals}) o(piece, line_offset, ordinal_offset) USING (piece)""")
    result.new, base = versions.insert_new_examples(con, "_stage", run_id)
    # keys of the rows just stored follow from their ordinals; only the few others are looked up
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _staged_keys AS
        SELECT {base} + s.ordinal AS key, s.source, s.position, s.meta
        FROM _stage s ANTI JOIN _skip k ON k.ordinal = s.ordinal
        UNION ALL
        SELECT e.key, s.source, s.position, s.meta
        FROM (_stage s SEMI JOIN _skip k ON k.ordinal = s.ordinal) JOIN examples e ON e.id = s.id""")
    (result.repeated,) = con.execute(
        "SELECT count(DISTINCT ordinal) FROM _skip WHERE repeat").fetchone()
    con.execute(
        "INSERT INTO sources SELECT s.key, ?, ?, s.source, s.position, s.meta FROM _staged_keys s "
        "WHERE NOT EXISTS (SELECT 1 FROM sources x WHERE x.example_key = s.key AND "
        "x.dataset = ? AND x.source = s.source AND x.position IS NOT DISTINCT FROM s.position)",
        [dataset, run_id, dataset],
    )
    parent = versions.latest(con, dataset)
    members = "SELECT key AS example_key FROM _staged_keys"
    (outside,) = con.execute(
        "SELECT count(DISTINCT key) FROM _staged_keys WHERE key NOT IN "
        "(SELECT example_key FROM members WHERE version_id = ?)",
        [parent.version_id if parent else 0]).fetchone()
    if outside == 0:
        return
    if parent is not None:
        members = (f"SELECT example_key FROM members WHERE version_id = {parent.version_id} "
                   f"UNION ALL {members}")
    version = versions.create_version(
        con, dataset=dataset, parent=parent, step="ingest", config=config, run_id=run_id,
        members=members, n_added=outside,
        stats={"records": result.records, "new_examples": result.new,
               "repeats": result.repeated, "rejected": result.rejected},
    )
    result.version, result.added = version.ref, version.n_added


def _stage_prefix(store_path: Path) -> str:
    return f".{store_path.name}.stage-"


def _sweep_stale_stages(store_path: Path) -> None:
    """Staging folders that killed ingests left (we hold the writer lock: none is live)."""
    for stale in store_path.parent.glob(_stage_prefix(store_path) + "*"):
        shutil.rmtree(stale, ignore_errors=True)
