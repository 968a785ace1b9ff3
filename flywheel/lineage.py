"""From a production log line to everything made of it: the example it became, the examples
mined from it, the versions holding each, and the models trained on them."""

from __future__ import annotations

from typing import Any

from gristmill.errors import GristmillError


def log_lineage(con, selector: str) -> dict[str, Any]:
    """`selector`: a line key (the request id) or PATH:LINE as ingested."""
    line = _find(con, selector)
    key = line["line_key"]
    feedback = con.execute(
        "SELECT origin, thumb, rating, score, label, correction IS NOT NULL FROM log_feedback "
        "WHERE line_key = ? ORDER BY created_at", [key]).fetchall()
    line["feedback"] = [{k: v for k, v in zip(("origin", "thumb", "rating", "score", "label",
                                                "correction"), row, strict=True) if v}
                        for row in feedback]
    examples = con.execute(
        """SELECT DISTINCT e.key, e.id, e.kind, 'logged' AS made_by FROM examples e
           WHERE e.key = $ex
           UNION SELECT DISTINCT e.key, e.id, e.kind, s.dataset FROM sources s
           JOIN examples e ON e.key = s.example_key
           WHERE json_extract_string(s.meta, '$.line_key') = $key AND e.key <> $ex
           ORDER BY 1""", {"ex": line.pop("example_key"), "key": key}).fetchall()
    line["examples"] = [_example(con, k, i, kind, made) for k, i, kind, made in examples]
    return line


def _find(con, selector: str) -> dict[str, Any]:
    cols = "line_key, dataset, path, line, request_id, logged_at, model, example_key"
    rows = con.execute(f"SELECT {cols} FROM log_lines WHERE line_key = ?", [selector]).fetchall()
    path, _, number = selector.rpartition(":")
    if not rows and path and number.isdigit():
        rows = con.execute(f"SELECT {cols} FROM log_lines WHERE (path = ? OR ends_with(path, ?)) "
                           "AND line = ?", [path, "/" + path.lstrip("/"), int(number)]).fetchall()
    if not rows:
        raise GristmillError(f"no log line {selector!r}: give a request id (line key) or "
                             "PATH:LINE as ingested")
    if len(rows) > 1:
        raise GristmillError(f"{selector!r} names {len(rows)} log lines: give the request id")
    return dict(zip([c.strip() for c in cols.split(",")], rows[0], strict=True))


def _example(con, key: int, example_id: str, kind: str, made_by: str) -> dict[str, Any]:
    held = con.execute(
        "SELECT v.dataset || '@' || v.number FROM members m JOIN versions v USING (version_id) "
        "WHERE m.example_key = ? ORDER BY v.dataset, v.number", [key]).fetchall()
    models = con.execute(
        "SELECT m.name, x.split FROM model_examples x JOIN models m USING (model_id) "
        "WHERE x.example_key = ? AND x.split IN ('train', 'val') ORDER BY m.model_id",
        [key]).fetchall()
    forgotten = con.execute("SELECT reason FROM forgotten WHERE example_key = ? LIMIT 1",
                            [key]).fetchone()
    return {"id": example_id, "kind": kind, "made_by": made_by,
            "versions": [v for (v,) in held],
            "models": [{"model": n, "split": s} for n, s in models],
            "forgotten": forgotten[0] if forgotten else None}
