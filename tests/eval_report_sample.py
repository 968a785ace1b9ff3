"""Report dicts for the renderer tests: one with every section filled (and hostile or non-ASCII text
where model outputs go), one sparse (no baseline, judge or contamination check)."""

from __future__ import annotations

import copy
from typing import Any

INJECTED = "<script>window.__pwned = 1; alert(1)</script>"
UNICODE = "Grüße aus Köln — 你好, ça va ? ✓"


def _est(mean: float, half: float, n: int = 150) -> dict[str, Any]:
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def _metric(task: str, metric: str, cand: float, base: float, half: float, p: float, gate: str | None,
            higher: bool = True) -> dict[str, Any]:
    diff = cand - base
    return {"task": task, "metric": metric, "higher_is_better": higher, "candidate": _est(cand, half),
            "baseline": _est(base, half),
            "diff": {"diff": diff, "low": diff - half / 2, "high": diff + half / 2, "p_value": p,
                     "relative": diff / base, "n": 150},
            "gate": gate}


def full_report() -> dict[str, Any]:
    """Every section filled; the verdict is WARN (one gate warns)."""
    return {
        "suite": "support-golden", "run_id": 7, "created_at": "2026-11-23T22:40:00",
        "candidate": {"name": "support-sft-1", "kind": "model",
                      "detail": "base smollm2-135m + adapter /runs/support-sft-1/adapter"},
        "baseline": {"name": "base", "kind": "model", "detail": "smollm2-135m-instruct"},
        "verdict": "warn",
        "gates": [
            {"name": "support/rouge_l", "status": "ok", "message": "change +5.1% vs baseline | p = 0.21"},
            {"name": "support/exact_match", "status": "warn", "message": "drop 3.2% (2% to 5%: warn)"},
            {"name": "support/json format compliance", "status": "ok",
             "message": "98.7% of answers comply (floor 95.0%)"},
            {"name": "intent/accuracy", "status": "ok", "message": "change +1.0% vs baseline"},
            {"name": "support/pairwise", "status": "ok", "message": "win rate 60.0% [50.0%, 69.0%]"},
        ],
        "metrics": [
            _metric("support", "rouge_l", 0.41, 0.39, 0.03, 0.21, "ok"),
            _metric("support", "exact_match", 0.302, 0.312, 0.05, 0.000012, "warn"),
            _metric("support", "answer_tokens", 84.0, 97.5, 6.0, 0.0031, None, higher=False),
            _metric("intent", "accuracy", 0.875, 0.8663, 0.04, 0.64, "ok"),
        ],
        "slices": [{"task": "support", "metric": "rouge_l", "key": "topic", "rows": [
            {"slice": "billing", "n": 40, "candidate": 0.4, "baseline": 0.38},
            {"slice": "refunds | returns", "n": 60, "candidate": 0.45, "baseline": 0.47},
            {"slice": "Lieferung (Köln)", "n": 50, "candidate": 0.37, "baseline": None},
        ]}],
        "judge": {
            "pairwise": [{"task": "support", "n": 150, "wins": 60, "losses": 40, "ties": 50,
                          "win_rate": {"mean": 0.6, "low": 0.5, "high": 0.69, "n": 150},
                          "swap_consistency": 0.83}],
            "rubric": [{"task": "support", "side": "candidate", "scale": "1-5", "mean": 3.4, "low": 3.2,
                        "high": 3.6, "n": 150},
                       {"task": "support", "side": "baseline", "scale": "1-5", "mean": 3.1, "low": 2.9,
                        "high": 3.3, "n": 150}],
            "calibration": {"n": 60, "agreement": 0.85, "kappa": 0.69, "labels": ["A", "B", "tie"],
                            "confusion": [[20, 2, 1], [3, 21, 0], [1, 2, 10]], "source": "labels.jsonl"},
            "repeats": {"n": 3, "per_item_agreement": 0.9},
            "warnings": ["swap inconsistency 17% is over 10%: the judge's preferences follow position"],
        },
        "classification": [
            {"task": "intent", "side": "candidate", "labels": ["billing", "refund", "other"],
             "confusion": [[30, 2, 1], [1, 25, 3], [2, 1, 15]], "accuracy": 0.875, "macro_f1": 0.868},
            {"task": "intent", "side": "baseline", "labels": ["billing", "refund", "other"],
             "confusion": [[29, 3, 1], [2, 24, 3], [3, 1, 14]], "accuracy": 0.866, "macro_f1": 0.857},
        ],
        "contamination": {
            "status": "overridden", "checked": ["support@5", "support-synth@2"],
            "hits": [{"eval_id": "ab12cd34", "train_ref": "support@5", "method": "ngram", "score": 0.8,
                      "eval_text": "How do I get a refund for <b>order</b> 1234?",
                      "train_text": "how do i get a refund for order 1234 — thanks"}],
            "override": "the hit is a template greeting shared by all tickets (reviewed by the team)",
            "message": "1 eval item overlaps training data (13-gram)"},
        "worst": [
            {"task": "support", "metric": "rouge_l", "example_id": "ab12cd34",
             "prompt": "Customer: my parcel to Köln never arrived, what now?",
             "reference": "Sorry about that! I have opened a trace for your parcel.",
             "candidate": f"Sure! {INJECTED} {UNICODE}",
             "baseline": "Sorry to hear that. I opened a trace; you will hear back in 2 days.",
             "candidate_score": 0.1, "baseline_score": 0.7},
            {"task": "support", "metric": "exact_match", "example_id": "ef56",
             "prompt": "Reply with JSON: {\"intent\": ...}", "reference": "{\"intent\": \"refund\"}",
             "candidate": "{\"intent\": \"billing\"}",
             "baseline": "<img src=\"http://evil.invalid/x.png\" onerror=\"window.__pwned = 2\">",
             "candidate_score": 0.0, "baseline_score": 1.0},
        ],
        "warnings": ["3 items had empty candidate outputs", "baseline | candidate tokenizers differ"],
        "params": {"max_tokens": 128, "temperature": 0.0},
    }


def sparse_report() -> dict[str, Any]:
    """No baseline, judge or contamination check; the run ended in an error."""
    r = copy.deepcopy(full_report())
    for m in r["metrics"]:
        m.update(baseline=None, diff=None, gate=None)
    for s in r["slices"]:
        for row in s["rows"]:
            row["baseline"] = None
    for w in r["worst"]:
        w.update(baseline=None, baseline_score=None)
    r["worst"] = r["worst"][:1]
    r.update(baseline=None, verdict="error", gates=[], judge=None, contamination=None,
             classification=[], warnings=["the judge endpoint did not answer"], params={})
    return r
