"""An eval run's record: the `eval_runs` row with its report, every per-item score, and the
report files (HTML, Markdown, JSON) written beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from gristmill.evals.suite import Suite


def store_run(con, run_id: int, suite: Suite, config, report, out_dir, override, scores) -> int:
    ((eval_id,),) = con.execute("SELECT coalesce(max(eval_id), 0) + 1 FROM eval_runs").fetchall()
    report["run_id"] = eval_id
    where = str(report_dir(out_dir, suite.name, eval_id).resolve())
    con.execute("INSERT INTO eval_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "current_localtimestamp())",
                [eval_id, run_id, suite.name, suite.digest(), dumps(config),
                 report["candidate"]["name"], (report["baseline"] or {}).get("name"),
                 report["verdict"], dumps(report), where, override])
    import pyarrow as pa

    rows = []
    for task, s in scores.items():
        for (metric, side), values in s.values.items():
            details = s.details.get((metric, side)) or [None] * len(values)
            rows += [(eval_id, task, side, item.id, metric, v, dumps(d) if d else None)
                     for item, v, d in zip(s.items, values, details, strict=True)]
    names = ["eval_id", "task", "side", "example_id", "metric", "value", "detail"]
    con.register("_scores", pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}))
    try:
        con.execute(f"INSERT INTO eval_scores SELECT {', '.join(names)} FROM _scores")
    finally:
        con.unregister("_scores")
    return eval_id


def report_dir(out_dir: Path | None, suite: str, eval_id: int) -> Path:
    return out_dir if out_dir is not None else Path("eval-reports") / f"{suite}-{eval_id}"


def write_reports(report: dict, out_dir: Path | None, suite: str, eval_id: int) -> Path:
    from gristmill.evals.report_html import page
    from gristmill.evals.report_md import markdown

    where = report_dir(out_dir, suite, eval_id)
    where.mkdir(parents=True, exist_ok=True)
    (where / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (where / "report.md").write_text(markdown(report), encoding="utf-8")
    (where / "report.html").write_text(page(report), encoding="utf-8")
    return where


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
