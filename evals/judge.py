"""LLM judges: a rubric grade per answer, and pairwise preference against the baseline.

Pairwise judging asks both orders: the candidate's win counts only when it wins as answer A and
again as answer B; a verdict that flips with the order is a tie, and the share of items whose two
verdicts agree is the swap consistency the report shows (the seeds: disagreement over 10% means
the judge reads position, not quality). With `repeats` N each judgement is asked N times with
distinct seeds, and the per-item agreement across repeats measures how stochastic the judge is.
Every verdict keeps its call id, so a number in the report leads back to the judge's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gristmill.evals.items import Item
from gristmill.evals.suite import Judge, Metric
from gristmill.synth.calls import Calls, Request
from gristmill.synth.pairs import VERDICT as PAIRWISE
from gristmill.synth.pairs import show_prompt as show

RUBRIC = {"pass_fail": {"type": "object", "properties": {
    "reason": {"type": "string"}, "verdict": {"type": "string", "enum": ["pass", "fail"]}},
    "required": ["reason", "verdict"]},
    "1-5": {"type": "object", "properties": {
        "reason": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
        "required": ["reason", "score"]}}
DEFAULT_RUBRIC = ("The answer does what the request asks, is factually correct, and is clear and "
                  "concise; an answer that contradicts the reference or invents facts fails.")


@dataclass
class Judged:
    """Per item: the value (None when the judge never answered readably) and its evidence."""

    values: list[float | None]
    details: list[dict[str, Any]]
    labels: list[list[str | None]] = field(default_factory=list)  # per repeat, per item
    swap_consistent: int = 0
    swap_judged: int = 0


def reference_text(reference: Any) -> str | None:
    if reference is None:
        return None
    if isinstance(reference, str):
        return reference
    import orjson

    return orjson.dumps(reference).decode()


def rubric(calls: Calls, templates, settings: Judge, metric: Metric, items: list[Item],
           answers: list[str | None]) -> Judged:
    """A grade per answer: pass/fail (1/0) or 1-5, the majority (or mean) over repeats."""
    template = templates.get("judge_rubric")
    schema = RUBRIC[metric.scale]
    asked, requests = [], []
    for i, (item, answer) in enumerate(zip(items, answers, strict=True)):
        if answer is None:
            continue
        text = template.render(prompt=show(item.prompt), reference=reference_text(item.reference),
                               answer=answer, rubric=metric.rubric or DEFAULT_RUBRIC,
                               scale=metric.scale)
        for r in range(settings.repeats):
            asked.append((i, r))
            requests.append(Request([{"role": "user", "content": text}], _params(settings, r),
                                    schema=schema))
    replies = calls.ask(requests)
    grades: dict[int, list] = {}
    out = Judged([None] * len(items), [{} for _ in items],
                 [[None] * len(items) for _ in range(settings.repeats)])
    for (i, r), reply in zip(asked, replies, strict=True):
        grade = None
        if reply.ok:
            grade = reply.parsed["score"] if metric.scale == "1-5" else float(
                reply.parsed["verdict"] == "pass")
        grades.setdefault(i, []).append(grade)
        if grade is not None:
            out.labels[r][i] = ("pass" if grade else "fail") if metric.scale == "pass_fail" \
                else str(grade)
        out.details[i].setdefault("verdicts", []).append(
            {"grade": grade, "reason": (reply.parsed or {}).get("reason"), "call_id": reply.call_id,
             "status": reply.status})
    for i, got in grades.items():
        known = [g for g in got if g is not None]
        out.values[i] = sum(known) / len(known) if known else None
    return out


def pairwise(calls: Calls, templates, settings: Judge, items: list[Item],
             candidate: list[str | None], baseline: list[str | None]) -> Judged:
    """1 for a candidate win that survives the swap, 0 for a loss, 0.5 for a tie or a flip."""
    template = templates.get("judge_pairwise")
    asked, requests = [], []
    out = Judged([None] * len(items), [{} for _ in items],
                 [[None] * len(items) for _ in range(settings.repeats)])
    for i, item in enumerate(items):
        c, b = candidate[i], baseline[i]
        if c is None or b is None:
            continue
        if c.strip() == b.strip():  # nothing to prefer: a tie without asking
            out.values[i], out.details[i] = 0.5, {"identical": True, "outcome": "tie"}
            for r in range(settings.repeats):
                out.labels[r][i] = "tie"
            continue
        for r in range(settings.repeats):
            for first in ("candidate", "baseline"):
                a_text, b_text = (c, b) if first == "candidate" else (b, c)
                asked.append((i, r, first))
                requests.append(Request([{"role": "user", "content": template.render(
                    prompt=show(item.prompt), reference=reference_text(item.reference),
                    a=a_text, b=b_text)}], _params(settings, r), schema=PAIRWISE))
    replies = calls.ask(requests)
    said: dict[tuple[int, int], dict[str, str | None]] = {}
    for (i, r, first), reply in zip(asked, replies, strict=True):
        winner = reply.parsed.get("winner") if reply.ok else None
        second = "baseline" if first == "candidate" else "candidate"
        said.setdefault((i, r), {})[first] = {"A": first, "B": second, "tie": "tie"}.get(winner)
        out.details[i].setdefault("verdicts", []).append(
            {"repeat": r, "candidate_as": "A" if first == "candidate" else "B", "winner": winner,
             "reason": (reply.parsed or {}).get("reason"), "call_id": reply.call_id})
    values: dict[int, list[float]] = {}
    for (i, r), both in said.items():
        if None in both.values() or len(both) < 2:
            continue  # an unreadable verdict: the item is not judged in this repeat
        out.swap_judged += 1
        consistent = both["candidate"] == both["baseline"]
        out.swap_consistent += consistent
        outcome = both["candidate"] if consistent else "tie"
        out.labels[r][i] = outcome
        values.setdefault(i, []).append({"candidate": 1.0, "baseline": 0.0, "tie": 0.5}[outcome])
        out.details[i]["consistent"] = out.details[i].get("consistent", True) and consistent
    for i, got in values.items():
        out.values[i] = sum(got) / len(got)
        out.details[i]["outcome"] = _outcome(out.values[i])
    return out


def _outcome(value: float) -> str:
    return "win" if value > 0.5 else "loss" if value < 0.5 else "tie"


def _params(settings: Judge, repeat: int) -> dict[str, Any]:
    return {"temperature": settings.temperature, "max_tokens": settings.max_tokens,
            "seed": repeat}
