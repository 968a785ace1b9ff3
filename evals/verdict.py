"""From per-item scores to a verdict: intervals, paired tests, gates, slices and the worst cases.

Every metric gets a bootstrap 95% interval; with a baseline, the paired difference gets one too,
with a paired permutation test. A gated metric's relative drop decides its status by the suite's
thresholds (the seeds': under 2% ok, 2-5% warn, over 5% fail), and a drop fails only when its
interval excludes no change: a large drop the data cannot tell from noise warns instead, so the
gate rests on intervals, not point scores. Format metrics must also reach the compliance floor on
their own. The verdict is the worst status of any gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gristmill.evals.items import Item
from gristmill.evals.suite import Suite

ORDER = {"ok": 0, "warn": 1, "fail": 2}
WORST = 5  # regressions shown side by side


@dataclass
class Scores:
    """One task's per-item values: (metric, side) -> values aligned with `items`."""

    items: list[Item]
    values: dict[tuple[str, str], list[float | None]] = field(default_factory=dict)
    details: dict[tuple[str, str], list[dict | None]] = field(default_factory=dict)
    outputs: dict[str, list[str | None]] = field(default_factory=dict)  # side -> answers
    gated: dict[str, bool] = field(default_factory=dict)  # metric -> compared against baseline
    formats: set[str] = field(default_factory=set)


def summarize(suite: Suite, scores: dict[str, Scores], baseline: bool) -> dict[str, Any]:
    from gristmill.evals import stats

    g, n = suite.gates, suite.bootstrap
    metrics, gates = [], []
    for task, s in scores.items():
        for (metric, side), values in s.values.items():
            if side != "candidate" or metric == "pairwise":
                continue
            cand = [v for v in values if v is not None]
            row: dict[str, Any] = {"task": task, "metric": metric, "higher_is_better": True,
                                   "candidate": stats.bootstrap_mean(cand, n_resamples=n).as_dict(),
                                   "baseline": None, "diff": None, "gate": None}
            base = s.values.get((metric, "baseline"))
            if baseline and base is not None:
                pairs = [(c, b) for c, b in zip(values, base, strict=True)
                         if c is not None and b is not None]
                row["baseline"] = stats.bootstrap_mean([b for _, b in pairs], n_resamples=n).as_dict()
                if pairs:
                    d = stats.paired([c for c, _ in pairs], [b for _, b in pairs])
                    row["diff"] = {"diff": d.diff, "low": d.low, "high": d.high,
                                   "p_value": d.p_value, "relative": d.relative, "n": d.n}
                    if s.gated.get(metric, True):
                        row["gate"] = _regression(f"{task}/{metric}", d, g, gates)
            if metric in s.formats and cand:
                mean = sum(cand) / len(cand)
                status = "ok" if mean >= g.format_compliance else "fail"
                gates.append({"name": f"{task}/{metric} format compliance", "status": status,
                              "message": f"{mean:.1%} of answers comply (floor "
                                         f"{g.format_compliance:.1%})"})
                row["gate"] = _worse(row["gate"], status)
            metrics.append(row)
    return {"metrics": metrics, "gates": gates}


def _regression(name: str, d, g, gates: list[dict]) -> str:
    from gristmill.evals.stats import gate

    if d.relative is None:
        drop = -d.diff  # a zero baseline: the absolute change is the only measure
    else:
        drop = -d.relative
    status = gate(drop, warn=g.warn, fail=g.fail)
    unshown = status == "fail" and d.high >= 0
    if unshown:  # the interval holds "no change": a large drop, but not one the data shows
        status = "warn"
    change = f"{-drop:+.1%}" if d.relative is not None else f"{d.diff:+.3f} (baseline 0)"
    gates.append({"name": name, "status": status,
                  "message": f"change {change} vs baseline, 95% CI of the difference "
                             f"[{d.low:+.3f}, {d.high:+.3f}], p = {d.p_value:.3g} "
                             f"(ok under {g.warn:.0%} drop, fail over {g.fail:.0%} when the "
                             "interval excludes no change)"
                             + ("; the interval includes no change, so it warns: more items "
                                "would tell" if unshown else "")})
    return status


def _worse(a: str | None, b: str) -> str:
    return b if a is None or ORDER[b] > ORDER[a] else a


def pairwise_summary(task: str, s: Scores, judged, suite: Suite, gates: list[dict]) -> dict | None:
    from gristmill.evals import stats

    values = [v for v in s.values.get(("pairwise", "candidate"), []) if v is not None]
    if not values:
        return None
    wins = sum(v > 0.5 for v in values)
    losses = sum(v < 0.5 for v in values)
    rate = stats.bootstrap_mean(values, n_resamples=suite.bootstrap)
    consistency = judged.swap_consistent / judged.swap_judged if judged.swap_judged else None
    out = {"task": task, "n": len(values), "wins": wins, "losses": losses,
           "ties": len(values) - wins - losses, "win_rate": rate.as_dict(),
           "swap_consistency": consistency}
    if suite.gates.pairwise:
        status = "fail" if rate.high < 0.5 else "ok"
        gates.append({"name": f"{task}/pairwise", "status": status,
                      "message": f"win rate {rate.mean:.1%} [{rate.low:.1%}, {rate.high:.1%}] over "
                                 f"{len(values)} items (ties count half; fails when the whole "
                                 "interval is below 50%)"})
    if consistency is not None and 1 - consistency > suite.gates.max_swap_inconsistency:
        gates.append({"name": f"{task}/judge position bias", "status": "warn",
                      "message": f"the judge changed its verdict when the answers swapped places "
                                 f"on {1 - consistency:.0%} of items (over "
                                 f"{suite.gates.max_swap_inconsistency:.0%}): its preferences "
                                 "follow position, not only quality"})
    return out


def slices(suite: Suite, scores: dict[str, Scores]) -> list[dict[str, Any]]:
    out = []
    for task in suite.tasks:
        s = scores.get(task.name)
        key = task.slice_by or ("subject" if task.builtin == "mmlu" else
                                "category" if task.builtin == "safety" else None)
        if s is None or key is None:
            continue
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(s.items):
            groups.setdefault(str(item.meta.get(key, "(none)")), []).append(i)
        for (metric, side), values in s.values.items():
            if side != "candidate":
                continue
            base = s.values.get((metric, "baseline"))
            rows = []
            for name, idx in sorted(groups.items()):
                cand = [values[i] for i in idx if values[i] is not None]
                if not cand:
                    continue
                b = [base[i] for i in idx if base[i] is not None] if base else []
                rows.append({"slice": name, "n": len(cand), "candidate": sum(cand) / len(cand),
                             "baseline": sum(b) / len(b) if b else None})
            if len(rows) > 1:
                out.append({"task": task.name, "metric": metric, "key": key, "rows": rows})
    return out


def worst(scores: dict[str, Scores]) -> list[dict[str, Any]]:
    """The items where the candidate fell furthest below the baseline, on any metric."""
    from gristmill.evals.judge import reference_text, show

    found = []
    for task, s in scores.items():
        for (metric, side), values in s.values.items():
            base = s.values.get((metric, "baseline"))
            if side != "candidate" or base is None or metric == "pairwise":
                continue
            for i, (c, b) in enumerate(zip(values, base, strict=True)):
                if c is not None and b is not None and b - c > 0:
                    found.append((b - c, task, metric, i, c, b))
    found.sort(key=lambda x: -x[0])
    out, seen = [], set()
    for _, task, metric, i, c, b in found:
        s = scores[task]
        if (task, i) in seen:
            continue
        seen.add((task, i))
        out.append({"task": task, "metric": metric, "example_id": s.items[i].id,
                    "prompt": show(s.items[i].prompt), "reference": reference_text(s.items[i].reference),
                    "candidate": s.outputs["candidate"][i], "baseline": s.outputs["baseline"][i],
                    "candidate_score": c, "baseline_score": b})
        if len(out) == WORST:
            break
    return out


def verdict(gates: list[dict[str, Any]]) -> str:
    status = max((ORDER[x["status"]] for x in gates), default=0)
    return {0: "pass", 1: "warn", 2: "fail"}[status]
