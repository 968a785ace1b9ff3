"""Shadow comparison: the candidate answers recent production prompts, and a pairwise judge
compares each answer with the one production logged.

The judge is the eval suite's (its endpoint and settings), asked in both orders: a win counts
only when it survives the swap (see evals.judge). The win rate comes with a bootstrap 95%
interval; when the whole interval is under 50% the candidate is worse than what users get
today, and the gate fails. Answers and verdicts are cached like an eval's, so a killed turn
re-run pays only for what is missing.
"""

from __future__ import annotations

from typing import Any

import orjson

from gristmill.evals.suite import Suite
from gristmill.store.db import Store
from gristmill.store.runs import writing


def recent_prompts(store: Store, dataset: str, n: int) -> list[dict[str, Any]]:
    """The last `n` logged conversations that are not forgotten: prompt and logged answer."""
    with store.read() as con:
        rows = con.execute(
            "SELECT l.line_key, e.id, e.payload FROM log_lines l JOIN examples e "
            "ON e.key = l.example_key WHERE l.dataset = ? AND l.example_key NOT IN "
            "(SELECT example_key FROM forgotten) "
            "ORDER BY l.logged_at DESC NULLS LAST, l.run_id DESC, l.line DESC LIMIT ?",
            [dataset, n]).fetchall()
    out = []
    for key, example_id, payload in rows:
        messages = orjson.loads(payload)["messages"]
        out.append({"line_key": key, "id": example_id, "prompt": messages[:-1],
                    "logged": messages[-1].get("content") or ""})
    return out


def shadow(store: Store, suite: Suite, model: str, dataset: str, sample: int,
           progress: bool = False) -> dict[str, Any]:
    from gristmill.evals import judge
    from gristmill.evals.answer import Checkpoints, answer
    from gristmill.evals.candidates import resolve_candidate
    from gristmill.evals.items import Item
    from gristmill.evals.servers import Servers, templates
    from gristmill.evals.stats import bootstrap_mean

    logged = recent_prompts(store, dataset, sample)
    if not logged:
        return {"status": "skipped", "reason": f"{dataset} has no log lines"}
    who = resolve_candidate(store, model)
    params = suite.generation.model_dump(exclude={"batch_size"})
    config = {"model": model, "dataset": dataset, "sample": sample, "params": params}
    with writing(store, f"flywheel shadow {model}", config) as run, \
            Servers(store, run, suite) as servers:
        cp = Checkpoints(run)
        prompts = [x["prompt"] for x in logged]
        got = answer(store, who, prompts, [params] * len(prompts), cp,
                     lambda: servers.calls_for(who, cp), suite.generation.batch_size)
        cp.maybe(force=True)
        items = [Item(x["id"], x["prompt"]) for x in logged]
        verdicts = judge.pairwise(servers.judge_calls(cp), templates(), suite.judge, items, got,
                                  [x["logged"] for x in logged])
        values = [v for v in verdicts.values if v is not None]
        interval = bootstrap_mean(values, n_resamples=suite.bootstrap)
        result = {"status": "ok", "model": model, "n": len(values), "asked": len(items),
                  "win_rate": interval.as_dict(),
                  "wins": sum(v > 0.5 for v in values), "losses": sum(v < 0.5 for v in values),
                  "ties": sum(v == 0.5 for v in values),
                  "swap_consistency": (verdicts.swap_consistent / verdicts.swap_judged
                                       if verdicts.swap_judged else None),
                  "examples": [{"line_key": x["line_key"], "candidate": a, "logged": x["logged"],
                                "outcome": d.get("outcome")}
                               for x, a, d in zip(logged, got, verdicts.details, strict=True)][:5]}
        run.stats = {k: v for k, v in result.items() if k != "examples"}
        with run.commit() as con:
            cp.flush(con)
    return result


def gate(result: dict[str, Any]) -> dict[str, Any]:
    """fail when the whole interval is under 50%; warn when its mean is."""
    if result.get("status") != "ok" or not result["n"]:
        return {"name": "shadow win rate", "status": "ok", "detail": "not measured"}
    w = result["win_rate"]
    status = "fail" if w["high"] < 0.5 else "warn" if w["mean"] < 0.5 else "ok"
    return {"name": "shadow win rate", "status": status,
            "detail": f"{w['mean']:.2f} [{w['low']:.2f}, {w['high']:.2f}] over {result['n']} "
                      "production prompts"}
