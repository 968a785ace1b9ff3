"""The model registry: one row per training run, the examples it saw, and its stage history.

Stages belong to a product line (default: the training dataset's name), so a line has at most one
production model; promoting another archives it, and `rollback` restores the one before. Every
stage change is a `model_stages` row, so the history answers "what was live, when, and why".
The functions take a connection: writers open it inside the WriterLock and a transaction.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

import duckdb
import orjson

from gristmill.errors import GristmillError, UsageError
from gristmill.store.runs import code_version, invocation
from gristmill.store.versions import check_name

KINDS = ("sft", "dpo")
STAGES = ("candidate", "staging", "production", "archived")
FINISHED = ("ok", "failed", "stopped")
SPLITS = ("train", "val", "dropped")
_COLUMNS = (
    "model_id", "name", "kind", "line", "stage", "status", "parent", "base_path", "base_source",
    "base_digest", "adapter_path", "output_dir", "versions", "config", "code_version", "packages",
    "hardware", "curves", "metrics", "pid", "error", "created_at", "ended_at",
)
_JSON = {"versions", "config", "packages", "hardware", "curves", "metrics"}


def start(con: duckdb.DuckDBPyConnection, *, kind: str, dataset: str, base_path: str,
          base_source: str, base_digest: str, versions: list[dict], config: dict, output_dir: str,
          parent: str | None, packages: dict, hardware: dict, line: str | None = None) -> str:
    """Record a run that is starting (status training, stage candidate); returns its name."""
    if kind not in KINDS:
        raise UsageError(f"unknown model kind {kind!r}: expected {' or '.join(KINDS)}")
    check_name(dataset)
    line = check_name(line) if line else dataset
    if parent is not None:
        get(con, parent)
    prefix = f"{dataset}-{kind}-"
    taken = con.execute("SELECT name FROM models WHERE starts_with(name, ?)", [prefix]).fetchall()
    # subtle: only NAME-KIND-<digits> counts; dataset `a-sft` makes `a-sft-sft-1`, not `a-sft-1`
    n = max((int(s[len(prefix):]) for (s,) in taken if s[len(prefix):].isdigit()), default=0) + 1
    name = f"{prefix}{n}"
    ((model_id,),) = con.execute("SELECT coalesce(max(model_id), 0) + 1 FROM models").fetchall()
    con.execute(
        f"INSERT INTO models ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        [model_id, name, kind, line, "candidate", "training", parent, base_path, base_source,
         base_digest, None, output_dir, _dumps(versions), _dumps(config), code_version(),
         _dumps(packages), _dumps(hardware), None, None, os.getpid(), None, datetime.now(), None],
    )
    enter_stage(con, model_id, "candidate", None, "trained", invocation(f"train {kind}"))
    return name


def record_examples(con: duckdb.DuckDBPyConnection, name: str,
                    rows: list[tuple[int, str, str | None, str | None]]) -> None:
    """Store (example_key, split, reason, message) for each example the run saw or dropped."""
    import pyarrow as pa

    model_id = _model_id(con, name)
    keys, splits, reasons, messages = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 4
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise GristmillError(f"unknown split(s) {', '.join(sorted(unknown))} for {name}: "
                             f"expected {', '.join(SPLITS)}")
    table = pa.table({
        "example_key": pa.array(keys, pa.int64()), "split": pa.array(splits, pa.string()),
        "reason": pa.array(reasons, pa.string()), "message": pa.array(messages, pa.string()),
    })
    con.register("_model_examples_in", table)  # subtle: refused while a result is half read
    try:
        ((missing,),) = con.execute("SELECT count(*) FROM _model_examples_in i "
                                    "ANTI JOIN examples e ON e.key = i.example_key").fetchall()
        if missing:
            raise GristmillError(f"{missing:,} example key(s) recorded for {name} are not in the store")
        con.execute("INSERT INTO model_examples SELECT ?, example_key, split, reason, message "
                    "FROM _model_examples_in", [model_id]).fetchall()
    finally:
        con.unregister("_model_examples_in")


def set_output_dir(con: duckdb.DuckDBPyConnection, name: str, output_dir: str) -> None:
    """Record where the run writes (known once the name is, as it may contain it)."""
    con.execute("UPDATE models SET output_dir = ? WHERE model_id = ?",
                [output_dir, _model_id(con, name)])


def check_resumable(m: dict[str, Any]) -> None:
    """A resume continues a stopped, failed or interrupted run, never a finished or live one."""
    if m["status"] in ("ok", "training"):  # shown_status: training means its process lives
        live = f" (pid {m['pid']})" if m["status"] == "training" else ""
        raise UsageError(f"{m['name']} is {m['status']}{live}: only a stopped, failed or "
                         "interrupted run can be resumed")


def reopen(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Mark a stopped, failed or interrupted run as training again, in this process (a resume)."""
    m = get(con, name)
    check_resumable(m)
    con.execute("UPDATE models SET status = 'training', pid = ?, error = NULL, ended_at = NULL "
                "WHERE model_id = ?", [os.getpid(), m["model_id"]])


def finish(con: duckdb.DuckDBPyConnection, name: str, *, status: str, adapter_path: str | None,
           curves: dict, metrics: dict, error: str | None = None) -> None:
    """Record how the run ended: its status, adapter, loss curves and metrics."""
    if status not in FINISHED:
        raise UsageError(f"a run ends as {', '.join(FINISHED)}, not {status!r}")
    con.execute("UPDATE models SET status = ?, adapter_path = ?, curves = ?, metrics = ?, error = ?, "
                "ended_at = ? WHERE model_id = ?",
                [status, adapter_path, _dumps(curves), _dumps(metrics), error, datetime.now(),
                 _model_id(con, name)])


def get(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    """Every column of the model, JSON decoded; `status` as users should read it."""
    rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM models WHERE name = ?", [name]).fetchall()
    if not rows:
        known = [r[0] for r in con.execute("SELECT name FROM models ORDER BY model_id DESC LIMIT 6")
                 .fetchall()]
        names = ", ".join(known[:5]) + (", …" if len(known) > 5 else "") if known else "none yet"
        raise GristmillError(f"no model named {name!r} (latest models: {names})")
    return _decode(rows[0])


def listing(con: duckdb.DuckDBPyConnection, stage: str | None = None) -> list[dict[str, Any]]:
    """All models (or those in `stage`), oldest first."""
    if stage is not None and stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}: expected {', '.join(STAGES)}")
    rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM models WHERE stage = ? OR ? IS NULL "
                       "ORDER BY model_id", [stage, stage]).fetchall()
    return [_decode(r) for r in rows]


def history(con: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    """The model's stage changes, oldest first."""
    keys = ("stage", "previous", "reason", "entered_at", "command")
    rows = con.execute(f"SELECT {', '.join(keys)} FROM model_stages WHERE model_id = ? "
                       "ORDER BY entered_at, rowid", [_model_id(con, name)]).fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


def shown_status(status: str, pid: int | None) -> str:
    """A run still marked training whose process is gone was interrupted (killed, crashed)."""
    return "interrupted" if status == "training" and not _alive(pid) else status


def lineage(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    """The dataset versions behind a model, with the examples it trained on, validated on and
    dropped from each, and the same for the model it continued, recursively."""
    return _lineage(con, name, set())


def _lineage(con: duckdb.DuckDBPyConnection, name: str, seen: set[str]) -> dict[str, Any]:
    seen.add(name)
    m = get(con, name)
    mid = m["model_id"]
    counts = dict(con.execute("SELECT split, count(*) FROM model_examples WHERE model_id = ? "
                              "GROUP BY split", [mid]).fetchall())
    dropped = dict(con.execute(
        "SELECT coalesce(reason, 'unknown'), count(*) FROM model_examples WHERE model_id = ? "
        "AND split = 'dropped' GROUP BY ALL ORDER BY 2 DESC, 1", [mid]).fetchall())
    versions = []
    for v in m["versions"]:
        seen_here = dict(con.execute(
            "SELECT x.split, count(*) FROM model_examples x SEMI JOIN members s "
            "ON s.example_key = x.example_key AND s.version_id = ? WHERE x.model_id = ? "
            "GROUP BY x.split", [v.get("version_id"), mid]).fetchall())
        versions.append({**v, **{s: seen_here.get(s, 0) for s in SPLITS}})
    parent = None
    if m["parent"] and m["parent"] not in seen:
        try:
            parent = _lineage(con, m["parent"], seen)
        except GristmillError:
            parent = {"name": m["parent"], "missing": True}
    return {"name": name, "kind": m["kind"], "line": m["line"], "stage": m["stage"],
            "status": m["status"], "created_at": m["created_at"],
            "base": {"path": m["base_path"], "source": m["base_source"], "digest": m["base_digest"]},
            "examples": {s: counts.get(s, 0) for s in SPLITS}, "dropped_reasons": dropped,
            "versions": versions, "parent": parent}


def models_for_example(con: duckdb.DuckDBPyConnection, example_id_or_prefix: str) -> list[dict[str, Any]]:
    """The models that trained or validated on an example, named by its id or a unique prefix."""
    prefix = example_id_or_prefix.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", prefix):
        raise UsageError(f"an example id is 8 to 64 hex characters (a sha256 or its start), "
                         f"not {example_id_or_prefix!r}")
    found = con.execute("SELECT key, id FROM examples WHERE starts_with(id, ?) ORDER BY id LIMIT 4",
                        [prefix]).fetchall()
    if not found:
        raise GristmillError(f"no example id starts with {prefix}")
    if len(found) > 1:
        some = ", ".join(i[:16] + "…" for _, i in found[:3])
        raise GristmillError(f"{prefix} is the start of more than one example id ({some}): "
                             "give more characters")
    key, example_id = found[0]
    rows = con.execute(
        "SELECT m.name, m.kind, m.line, m.stage, m.status, m.pid, m.created_at, x.split "
        "FROM model_examples x JOIN models m USING (model_id) "
        "WHERE x.example_key = ? AND x.split IN ('train', 'val') ORDER BY m.model_id", [key]).fetchall()
    return [{"example_id": example_id, "model": n, "kind": k, "line": ln, "stage": st,
             "status": shown_status(status, pid), "created_at": created, "split": split}
            for n, k, ln, st, status, pid, created, split in rows]


def enter_stage(con: duckdb.DuckDBPyConnection, model_id: int, stage: str, previous: str | None,
           reason: str | None, command: str) -> None:
    con.execute("UPDATE models SET stage = ? WHERE model_id = ?", [stage, model_id])
    con.execute("INSERT INTO model_stages VALUES (?, ?, ?, ?, ?, ?)",
                [model_id, stage, previous, reason, datetime.now(), command])


def _model_id(con: duckdb.DuckDBPyConnection, name: str) -> int:
    rows = con.execute("SELECT model_id FROM models WHERE name = ?", [name]).fetchall()
    return rows[0][0] if rows else get(con, name)["model_id"]  # get() raises the helpful error


def _decode(row: tuple) -> dict[str, Any]:
    m = {c: (orjson.loads(v) if c in _JSON and v is not None else v)
         for c, v in zip(_COLUMNS, row, strict=True)}
    m["status"] = shown_status(m["status"], m["pid"])
    return m


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
