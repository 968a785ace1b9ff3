"""Failure mining: where production went wrong, turned into training data and review work.

A log line is a failure when its feedback says so: a thumb down, a rating at or under
`low_rating`, a judge score under `low_score` (judge scores are 0..1), a reviewer's `bad` label,
or a user's correction. A reviewer's `good` label with no correction clears the other signals.
- a correction becomes an SFT example (the prompt, answered by the correction) in
  `<dataset>-corrections` and a preference pair (correction chosen, logged answer rejected) in
  `<dataset>-pairs`, each with a source row naming the log line;
- a failure with no correction and no review yet goes to the review queue (`review.py`), whose
  labels and corrections come back as feedback and are mined on the next run.
Forgotten examples are never mined.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from gristmill.example import Example
from gristmill.flywheel.log_store import append_examples
from gristmill.store.db import Store
from gristmill.store.runs import writing

LOW_RATING = 2.0
LOW_SCORE = 0.5


@dataclass(frozen=True)
class Failure:
    line_key: str
    path: str
    line: int
    example: Example  # the logged conversation
    signals: tuple[str, ...]
    correction: str | None
    label: str | None  # a reviewer's, when there is one

    @property
    def prompt(self) -> list[dict[str, Any]]:
        return self.example.payload["messages"][:-1]

    @property
    def answer(self) -> str:
        return self.example.payload["messages"][-1].get("content") or ""

    @property
    def awaits_review(self) -> bool:
        return self.correction is None and self.label is None


@dataclass
class MineResult:
    dataset: str
    failures: int = 0
    corrections: int = 0
    queued: int = 0  # failures awaiting review
    signals: dict[str, int] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)

    def summary(self) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in self.signals.items()) or "none"
        made = ", ".join(self.versions) or "no new versions"
        return (f"{self.failures:,} failure(s) in {self.dataset} ({shown}): "
                f"{self.corrections:,} correction(s) mined ({made}); "
                f"{self.queued:,} await review (gristmill flywheel review export)")


def failures(con, dataset: str, low_rating: float = LOW_RATING,
             low_score: float = LOW_SCORE) -> list[Failure]:
    """Every failing log line of `dataset`, oldest first."""
    rows = con.execute(
        """WITH f AS (
             SELECT line_key, bool_or(thumb = 'down') AS down, min(rating) AS rating,
                    min(score) AS score,
                    arg_max(correction, created_at) FILTER (WHERE correction IS NOT NULL) AS correction,
                    arg_max(label, created_at) FILTER (WHERE label IS NOT NULL) AS label
             FROM log_feedback GROUP BY line_key)
           SELECT l.line_key, l.path, l.line, e.payload, f.down, f.rating, f.score,
                  f.correction, f.label
           FROM log_lines l JOIN f USING (line_key) JOIN examples e ON e.key = l.example_key
           WHERE l.dataset = ? AND l.example_key NOT IN (SELECT example_key FROM forgotten)
           ORDER BY l.run_id, l.path, l.line""", [dataset]).fetchall()
    out = []
    for key, path, line, payload, down, rating, score, correction, label in rows:
        signals = [name for name, hit in (
            ("thumb_down", down), ("low_rating", rating is not None and rating <= low_rating),
            ("low_judge_score", score is not None and score < low_score),
            ("review_bad", label == "bad"), ("correction", correction is not None)) if hit]
        if label == "good" and correction is None:
            continue  # a reviewer read it and found it fine
        if signals:
            out.append(Failure(key, path, line, Example.from_payload(orjson.loads(payload)),
                               tuple(signals), correction, label))
    return out


def mine(store: Store, dataset: str = "logs", low_rating: float = LOW_RATING,
         low_score: float = LOW_SCORE) -> MineResult:
    """Commit the corrections as SFT examples and preference pairs (one transaction)."""
    config = {"dataset": dataset, "low_rating": low_rating, "low_score": low_score}
    result = MineResult(dataset)
    with writing(store, f"flywheel mine {dataset}", config) as run:
        with run.commit() as con:
            found = failures(con, dataset, low_rating, low_score)
            result.failures = len(found)
            result.signals = dict(Counter(s for f in found for s in f.signals))
            fixed = [f for f in found if f.correction is not None]
            result.corrections = len(fixed)
            result.queued = sum(f.awaits_review for f in found)
            sft = [(Example.chat([*f.prompt, {"role": "assistant", "content": f.correction}]),
                    f.path, f.line, _meta(f)) for f in fixed]
            pairs = [(Example.preference(f.prompt, [{"role": "assistant", "content": f.correction}],
                                         [{"role": "assistant", "content": f.answer}]),
                      f.path, f.line, _meta(f)) for f in fixed if f.correction != f.answer]
            for name, rows in ((f"{dataset}-corrections", sft), (f"{dataset}-pairs", pairs)):
                version = append_examples(con, run.id, name, "flywheel-mine", config, rows)
                if version is not None:
                    result.versions.append(version.ref)
            run.stats = result.__dict__
    return result


def _meta(f: Failure) -> dict[str, Any]:
    return {"line_key": f.line_key, "signals": list(f.signals), "from": "flywheel mine"}
