"""Stages of a model's life: candidate → staging → production → archived, per product line.

A line has at most one production model: promoting another archives it, and `rollback` restores
the one before. Every change is a `model_stages` row, so the history answers "what was live,
when, and why". The functions take a connection opened inside the WriterLock and a transaction.
"""

from __future__ import annotations

from typing import Any

import duckdb

from gristmill.errors import GristmillError, UsageError
from gristmill.store.runs import invocation
from gristmill.train.registry import STAGES, enter_stage, get

_RANK = {"candidate": 0, "staging": 1, "production": 2}


def promote(con: duckdb.DuckDBPyConnection, name: str, to: str | None = None,
            reason: str | None = None) -> dict[str, Any]:
    """Move a model one stage on (candidate → staging → production) or to `to`; entering
    production archives the line's current production model."""
    m = get(con, name)
    current = m["stage"]
    if to is None:
        if current not in ("candidate", "staging"):
            raise GristmillError(f"{name} is {current}: name the stage with --to "
                                 "(staging, production or archived)")
        to = "staging" if current == "candidate" else "production"
    if to not in STAGES[1:]:
        raise UsageError(f"cannot promote to {to!r}: expected staging, production or archived")
    if to == current:
        raise GristmillError(f"{name} is already {current}")
    if to != "archived":
        if current != "archived" and _RANK[current] > _RANK[to]:
            raise GristmillError(f"{name} is {current}: promote moves forward; to replace it, "
                                 f"promote another model or run `gristmill models rollback {m['line']}`")
        if m["status"] != "ok":
            raise GristmillError(f"cannot promote {name} to {to}: its training status is "
                                 f"{m['status']} (only runs that finished ok can be promoted)")
    command = invocation(f"models promote {name}")
    archived = []
    if to == "production":
        for (other_id, other) in con.execute(
            "SELECT model_id, name FROM models WHERE line = ? AND stage = 'production' "
            "AND model_id <> ? ORDER BY model_id", [m["line"], m["model_id"]]).fetchall():
            enter_stage(con, other_id, "archived", "production", f"replaced by {name}", command)
            archived.append(other)
    enter_stage(con, m["model_id"], to, current, reason, command)
    return {"model": name, "line": m["line"], "from": current, "to": to, "reason": reason,
            "archived": archived}


def rollback(con: duckdb.DuckDBPyConnection, line_or_model: str,
             reason: str | None = None) -> dict[str, Any]:
    """Archive the line's production model and restore the one that was production before it.
    Like an undo, a second rollback swaps them back."""
    line = _line(con, line_or_model)
    live = con.execute("SELECT model_id, name FROM models WHERE line = ? AND stage = 'production'",
                       [line]).fetchall()
    if not live:
        raise GristmillError(f"line {line} has no production model to roll back")
    current_id, current = live[0]
    before = con.execute(
        "SELECT m.model_id, m.name, m.stage FROM model_stages s JOIN models m USING (model_id) "
        "WHERE m.line = ? AND s.stage = 'production' AND m.model_id <> ? "
        "ORDER BY s.entered_at DESC, s.rowid DESC LIMIT 1", [line, current_id]).fetchall()
    if not before:
        raise GristmillError(f"nothing to roll back to: {current} is the first production model "
                             f"of line {line}")
    restored_id, restored, previous = before[0]
    why = f": {reason}" if reason else ""
    command = invocation(f"models rollback {line_or_model}")
    enter_stage(con, current_id, "archived", "production", f"rolled back to {restored}{why}", command)
    enter_stage(con, restored_id, "production", previous, f"rollback from {current}{why}", command)
    return {"line": line, "from": current, "to": restored, "reason": reason}


def _line(con: duckdb.DuckDBPyConnection, line_or_model: str) -> str:
    rows = con.execute("SELECT line FROM models WHERE name = ?", [line_or_model]).fetchall()
    if rows:
        return rows[0][0]
    lines = [r[0] for r in con.execute("SELECT DISTINCT line FROM models ORDER BY 1").fetchall()]
    if line_or_model in lines:
        return line_or_model
    raise GristmillError(f"no model or line named {line_or_model!r} "
                         f"(lines: {', '.join(lines) if lines else 'none yet'})")
