"""The flywheel's writes: a chunk of log lines with their cursor in one transaction, and the
version that takes in every line stored since the last one.

A chunk stores its new examples, its log lines (each line key once, ever), their sources, the
feedback they carry, the lines it rejected, and the file's cursor after its last line. Commit
and cursor move together, so a killed run resumes exactly where its last chunk ended: no line
is lost and none is stored twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson

from gristmill.flywheel.records import LogEntry
from gristmill.flywheel.tail import LogFile
from gristmill.store import versions


@dataclass(frozen=True)
class Cursor:
    offset: int
    lines: int


@dataclass
class Stored:
    lines: int = 0  # new log lines
    repeats: int = 0  # lines whose key was stored before (or earlier in the chunk)
    feedback: int = 0  # new feedback events


def cursor(con: duckdb.DuckDBPyConnection, fingerprint: str) -> Cursor | None:
    row = con.execute('SELECT "offset", lines FROM log_cursors WHERE fingerprint = ?',
                      [fingerprint]).fetchone()
    return Cursor(*row) if row else None


def user_hash(user: str) -> str:
    return hashlib.sha256(user.encode()).hexdigest()


def store_chunk(con: duckdb.DuckDBPyConnection, run_id: int, dataset: str, source: str,
                file: LogFile, after: Cursor, taken: list[tuple[int, LogEntry, dict[str, int]]],
                rejects: list[tuple[int, str]]) -> Stored:
    """Store (line number, entry, PII found) rows and the rejects of one chunk, and move the
    file's cursor to `after`. Runs inside the caller's transaction."""
    import pyarrow as pa

    out = Stored()
    conversations = [(n, e, pii) for n, e, pii in taken if e.example is not None]
    examples = list({e.example.id: e.example for _, e, _ in conversations}.values())
    if examples:
        con.register("_log_examples", pa.table(versions.example_columns(examples)))
        versions.insert_new_examples(con, "_log_examples", run_id)
        con.unregister("_log_examples")
    path = str(file.path)
    lines = pa.table({
        "ordinal": pa.array(range(len(conversations)), pa.int64()),
        "line_key": [e.key for _, e, _ in conversations],
        "example_id": [e.example.id for _, e, _ in conversations],
        "line": pa.array([n for n, _, _ in conversations], pa.int64()),
        "request_id": [e.request_id for _, e, _ in conversations],
        "session_id": [e.session_id for _, e, _ in conversations],
        "user_hash": [user_hash(e.user) if e.user else None for _, e, _ in conversations],
        "model": [e.model for _, e, _ in conversations],
        "logged_at": pa.array([e.logged_at for _, e, _ in conversations], pa.timestamp("us")),
        "latency_ms": pa.array([e.latency_ms for _, e, _ in conversations], pa.float64()),
        "pii": [orjson.dumps(p).decode() if p else None for _, _, p in conversations],
    })
    con.register("_log_lines_in", lines)
    (out.lines,) = con.execute(
        """INSERT INTO log_lines
           SELECT l.line_key, ?, e.key, ?, l.line, ?, l.request_id, l.session_id, l.user_hash,
                  l.model, l.logged_at, l.latency_ms, l.pii, NULL, ?
           FROM (SELECT * FROM _log_lines_in QUALIFY row_number() OVER
                 (PARTITION BY line_key ORDER BY ordinal) = 1) l
           JOIN examples e ON e.id = l.example_id
           ANTI JOIN log_lines x ON x.line_key = l.line_key""",
        [dataset, path, file.fingerprint, run_id]).fetchone()
    out.repeats = len(conversations) - out.lines
    con.execute(
        """INSERT INTO sources SELECT x.example_key, ?, ?, ?, x.line,
               json_object('line_key', x.line_key, 'request_id', x.request_id,
                           'model', x.model, 'logged_at', x.logged_at)
           FROM log_lines x WHERE x.run_id = ? AND x.path = ?
           AND x.line_key IN (SELECT line_key FROM _log_lines_in)
           AND NOT EXISTS (SELECT 1 FROM sources s WHERE s.example_key = x.example_key
                           AND s.dataset = ? AND s.source = x.path AND s.position = x.line)""",
        [dataset, run_id, path, run_id, path, dataset])
    con.unregister("_log_lines_in")
    out.feedback = _store_feedback(con, run_id, path, taken)
    if rejects:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?)",
                        [[run_id, path, n, reason] for n, reason in rejects])
    con.execute("DELETE FROM log_cursors WHERE fingerprint = ?", [file.fingerprint])
    con.execute("INSERT INTO log_cursors VALUES (?, ?, ?, ?, ?, ?, current_localtimestamp())",
                [file.fingerprint, source, path, after.offset, after.lines, run_id])
    return out


def _store_feedback(con: duckdb.DuckDBPyConnection, run_id: int, path: str,
                    taken: list[tuple[int, LogEntry, dict[str, int]]]) -> int:
    rows = [_feedback_row(e, path, n) for n, e, _ in taken if e.feedback is not None]
    return insert_feedback(con, run_id, rows)


def _feedback_row(e: LogEntry, path: str, line: int) -> dict[str, Any]:
    f = e.feedback
    # subtle: feedback inside a line is known by the line; a separate event by its own hash
    key = e.key + "#feedback" if e.example is not None else e.key
    return {"feedback_key": key, "line_key": e.about, "origin": "log", "thumb": f.thumb,
            "rating": f.rating, "score": f.score, "label": None, "correction": f.correction,
            "note": f.note, "path": path, "line": line}


FEEDBACK_COLUMNS = ("feedback_key", "line_key", "origin", "thumb", "rating", "score", "label",
                    "correction", "note", "path", "line")


def insert_feedback(con: duckdb.DuckDBPyConnection, run_id: int, rows: list[dict[str, Any]]) -> int:
    """Feedback rows stored once each by feedback key; returns how many were new."""
    if not rows:
        return 0
    import pyarrow as pa

    table = pa.Table.from_pylist(rows, schema=pa.schema([
        (c, pa.float64() if c in ("rating", "score") else pa.int64() if c == "line"
         else pa.string()) for c in FEEDBACK_COLUMNS]))
    con.register("_feedback_in", table)
    (count,) = con.execute(
        f"""INSERT INTO log_feedback
            SELECT {', '.join('f.' + c for c in FEEDBACK_COLUMNS)}, ?, current_localtimestamp()
            FROM (SELECT * FROM _feedback_in QUALIFY row_number() OVER
                  (PARTITION BY feedback_key) = 1) f
            ANTI JOIN log_feedback x ON x.feedback_key = f.feedback_key""", [run_id]).fetchone()
    con.unregister("_feedback_in")
    return count


def extend(con: duckdb.DuckDBPyConnection, dataset: str, new: str, run_id: int, step: str,
           config: dict[str, Any], stats: dict[str, Any] | None = None,
           ) -> tuple[versions.Version | None, int]:
    """`dataset`'s latest plus the example keys the SQL `new` selects (`example_key`), as a new
    version when any of them is not a member yet. Returns the latest version then and how many
    it added; create_version keeps forgotten examples out, with a removal each."""
    parent = versions.latest(con, dataset)
    parent_id = parent.version_id if parent else -1
    (added,) = con.execute(
        f"SELECT count(DISTINCT example_key) FROM ({new}) WHERE example_key NOT IN "
        "(SELECT example_key FROM members WHERE version_id = ?)", [parent_id]).fetchone()
    if not added:
        return parent, 0
    members = new if parent is None else \
        f"SELECT example_key FROM members WHERE version_id = {parent_id} UNION ALL {new}"
    version = versions.create_version(
        con, dataset=dataset, parent=parent, step=step, config=config, run_id=run_id,
        members=members, n_added=added, stats={"added": added} if stats is None else stats)
    return version, added


def version_pending(con: duckdb.DuckDBPyConnection, dataset: str, run_id: int,
                    config: dict[str, Any]) -> versions.Version | None:
    """A new version of `dataset`: its latest plus every log line's example that no version has
    taken in yet (this run's, and any a killed run committed). None when nothing is new."""
    (pending,) = con.execute("SELECT count(*) FROM log_lines WHERE dataset = ? AND version_id "
                             "IS NULL", [dataset]).fetchone()
    if not pending:
        return None
    new = f"SELECT example_key FROM log_lines WHERE dataset = '{dataset}' AND version_id IS NULL"
    version, added = extend(con, dataset, new, run_id, "flywheel-ingest", config,
                            {"log_lines": pending})
    con.execute("UPDATE log_lines SET version_id = ? WHERE dataset = ? AND version_id IS NULL",
                [version.version_id if version else None, dataset])
    return version if added else None


def append_examples(con: duckdb.DuckDBPyConnection, run_id: int, dataset: str, step: str,
                    config: dict[str, Any], rows: list[tuple[Any, str, int | None, dict]]
                    ) -> versions.Version | None:
    """A new version of `dataset`: its latest plus the examples of `rows` (example, source,
    position, metadata), each with a source row; None when every one is already a member."""
    import pyarrow as pa

    if not rows:
        return None
    examples = [r[0] for r in rows]
    con.register("_append_in", pa.table(versions.example_columns(examples) | {
        "source": pa.array([r[1] for r in rows], pa.string()),
        "position": pa.array([r[2] for r in rows], pa.int64()),
        "meta": pa.array([orjson.dumps(r[3]).decode() for r in rows], pa.string())}))
    try:
        versions.insert_new_examples(con, "_append_in", run_id)
        con.execute(
            "INSERT INTO sources SELECT e.key, ?, ?, a.source, a.position, a.meta "
            "FROM _append_in a JOIN examples e ON e.id = a.id WHERE NOT EXISTS (SELECT 1 FROM "
            "sources s WHERE s.example_key = e.key AND s.dataset = ? AND s.source = a.source "
            "AND s.position IS NOT DISTINCT FROM a.position)", [dataset, run_id, dataset])
        version, added = extend(con, dataset, "SELECT e.key AS example_key FROM _append_in a "
                                "JOIN examples e ON e.id = a.id", run_id, step, config)
        return version if added else None
    finally:
        con.abort()
        con.unregister("_append_in")
