"""Per-item scores of the metrics that need no LLM: each golden item's answer against its
reference. A missing answer (generation failed) scores 0: it is the candidate's failure too."""

from __future__ import annotations

from typing import Any

from gristmill.evals import metrics as m
from gristmill.evals.items import Item
from gristmill.evals.suite import Metric

NEEDS_REFERENCE = ("exact", "normalized", "token_f1", "rouge_l", "field_accuracy", "accuracy")


def item_score(metric: Metric, item: Item, output: str | None) -> tuple[float | None, dict | None]:
    """(value, detail) for one item; value None when the item has nothing to score."""
    ref = item.reference
    if metric.metric in NEEDS_REFERENCE and ref is None:
        return None, None
    if output is None:
        return 0.0, {"error": "no answer"}
    name = metric.metric
    if name == "accuracy":
        predicted = m.label_of(output, metric.labels or [])
        return float(predicted == _text(ref)), {"predicted": predicted, "expected": _text(ref)}
    if name == "field_accuracy":
        return (m.field_accuracy(output, ref, metric.fields) if isinstance(ref, dict) else None), None
    if name == "contains":
        return m.contains(output, metric.needles or [], metric.require_all), None
    if name == "regex":
        return m.regex(output, metric.pattern or ""), None
    if name == "json_valid":
        return m.json_valid(output), None
    if name == "json_schema":
        return m.json_schema(output, metric.schema_ or {}), None
    scorer = {"exact": m.exact, "normalized": m.normalized, "token_f1": m.token_f1,
              "rouge_l": m.rouge_l}[name]
    return scorer(output, _text(ref)), None


def _text(reference: Any) -> str:
    if isinstance(reference, str):
        return reference
    import orjson

    return orjson.dumps(reference).decode()
