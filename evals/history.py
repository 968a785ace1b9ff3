"""Stored eval runs: the list over time, and one run's report."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson

from gristmill.errors import GristmillError


def history(con: duckdb.DuckDBPyConnection, suite: str | None = None,
            candidate: str | None = None) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT eval_id, created_at, suite, candidate, baseline, verdict, report FROM eval_runs "
        "WHERE (? IS NULL OR suite = ?) AND (? IS NULL OR candidate = ?) ORDER BY eval_id",
        [suite, suite, candidate, candidate]).fetchall()
    out = []
    for eval_id, at, name, cand, base, verdict, report in rows:
        data = orjson.loads(report)
        metrics = {f"{m['task']}/{m['metric']}": m["candidate"]["mean"] for m in data["metrics"]}
        for p in (data.get("judge") or {}).get("pairwise", []):
            metrics[f"{p['task']}/win_rate"] = p["win_rate"]["mean"]
        out.append({"eval_id": eval_id, "created_at": at.isoformat(sep=" "), "suite": name,
                    "candidate": cand, "baseline": base, "verdict": verdict, "metrics": metrics})
    return out


def report(con: duckdb.DuckDBPyConnection, eval_id: int) -> dict[str, Any]:
    row = con.execute("SELECT report FROM eval_runs WHERE eval_id = ?", [eval_id]).fetchone()
    if row is None:
        (last,) = con.execute("SELECT max(eval_id) FROM eval_runs").fetchone()
        raise GristmillError(f"no eval run {eval_id} ({'none yet' if last is None else f'1 to {last}'})")
    return orjson.loads(row[0])
