"""`flywheel judge`: an LLM judge grades logged answers, so bad answers nobody flagged are found.

The eval judge's rubric (evals.judge.rubric, its template and schema) grades each answer with no
reference: pass/fail, or 1-5. A grade is stored as feedback of origin `judge`, its score on 0..1
(pass 1, fail 0; 1-5 as (grade - 1) / 4), which `mine` reads against `--low-score`. Lines already
graded under the same judge, rubric and scale are skipped; calls are recorded and cached like
every LLM call.
"""

from __future__ import annotations

import hashlib
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gristmill.flywheel.log_store import insert_feedback
from gristmill.flywheel.shadow import recent_prompts
from gristmill.store.db import Store
from gristmill.store.runs import writing


def judge_logs(store: Store, dataset: str = "logs", endpoint_file: Path | None = None,
               limit: int = 200, scale: str = "pass_fail", rubric: str | None = None,
               ) -> dict[str, Any]:
    from gristmill.evals import judge
    from gristmill.evals.items import Item
    from gristmill.evals.servers import templates
    from gristmill.evals.suite import Judge, Metric
    from gristmill.synth.calls import Calls, call_ids
    from gristmill.synth.endpoint import load_endpoint

    metric = Metric(metric="judge", scale=scale, rubric=rubric)
    with ExitStack() as stack:
        if endpoint_file:
            endpoint = load_endpoint(endpoint_file)
        else:
            from gristmill.synth.server import local_server

            endpoint = stack.enter_context(local_server()).endpoint
        who = hashlib.sha256(f"{endpoint.public_url}|{endpoint.model}|{scale}|{rubric}".encode())
        tag = "judge:" + who.hexdigest()[:16] + ":"
        with store.read() as con:
            done = {k for (k,) in con.execute(
                "SELECT line_key FROM log_feedback WHERE starts_with(feedback_key, ?)",
                [tag]).fetchall()}
        todo = [x for x in recent_prompts(store, dataset, limit + len(done))
                if x["line_key"] not in done][:limit]
        config = {"dataset": dataset, "model": endpoint.model, "scale": scale, "rubric": rubric,
                  "limit": limit}
        with writing(store, f"flywheel judge {dataset}", config) as run:
            calls = Calls(store, run.id, endpoint, ids=call_ids(store))
            items = [Item(x["id"], x["prompt"]) for x in todo]
            graded = judge.rubric(calls, templates(), Judge(), metric, items,
                                  [x["logged"] for x in todo])
            rows = [_row(tag, x, v, scale, d) for x, v, d in
                    zip(todo, graded.values, graded.details, strict=True) if v is not None]
            with run.commit() as con:
                calls.flush(con)
                insert_feedback(con, run.id, rows)
                run.stats = result = {"judged": len(rows), "unreadable": len(todo) - len(rows),
                                      "low": sum(r["score"] < 0.5 for r in rows),
                                      "skipped": len(done), "model": endpoint.model}
    return result


def _row(tag: str, line: dict[str, Any], value: float, scale: str,
         detail: dict[str, Any]) -> dict[str, Any]:
    score = value if scale == "pass_fail" else (value - 1) / 4
    reasons = [v.get("reason") for v in detail.get("verdicts", []) if v.get("reason")]
    return {"feedback_key": tag + line["line_key"], "line_key": line["line_key"],
            "origin": "judge", "thumb": None, "rating": None, "score": score, "label": None,
            "correction": None, "note": reasons[0][:500] if reasons else None, "path": None,
            "line": None}
