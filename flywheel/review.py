"""The review queue: failures no one has corrected, out to annotators and back as feedback.

`export` writes one row per failure awaiting review, as JSONL or CSV (by the file's suffix):
`line_key`, `signals`, `prompt` (the conversation before the answer, one `role: text` line per
message), `answer`, and empty `label` (good | bad), `correction` and `note` columns to fill in.
`import_labels` reads the same file back: a row with a label or a correction becomes a feedback
event (origin `review`), stored once however often the file is imported; a row left blank is
still awaiting review. A correction is PII-scrubbed like the logs.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gristmill.errors import InvalidRecord, UsageError
from gristmill.flywheel.log_store import insert_feedback
from gristmill.flywheel.mine import LOW_RATING, LOW_SCORE, failures
from gristmill.store.db import Store
from gristmill.store.runs import writing

COLUMNS = ("line_key", "signals", "prompt", "answer", "label", "correction", "note")
LABELS = ("good", "bad")


@dataclass
class ImportResult:
    rows: int = 0
    labelled: int = 0  # rows with a label or a correction
    new: int = 0  # feedback events not stored before
    blank: int = 0

    def summary(self, path: Path) -> str:
        return (f"read {self.rows:,} review row(s) from {path}: {self.labelled:,} labelled "
                f"({self.new:,} new), {self.blank:,} still blank")


def export(store: Store, out: Path, dataset: str = "logs", limit: int | None = None,
           low_rating: float = LOW_RATING, low_score: float = LOW_SCORE) -> int:
    fmt = _format(out)
    with store.read() as con:
        queue = [f for f in failures(con, dataset, low_rating, low_score)
                 if f.awaits_review][:limit]
    rows = [{"line_key": f.line_key, "signals": ", ".join(f.signals),
             "prompt": "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in f.prompt),
             "answer": f.answer, "label": "", "correction": "", "note": ""} for f in queue]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with open(out, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return len(rows)


def import_labels(store: Store, path: Path, dataset: str = "logs",
                  pii: str = "placeholder") -> ImportResult:
    rows = list(_read(path))
    result = ImportResult(rows=len(rows))
    events = []
    with store.read() as con:
        known = {k for (k,) in con.execute("SELECT line_key FROM log_lines WHERE dataset = ?",
                                           [dataset]).fetchall()}
    for number, row in rows:
        where = f"{path}:{number}"
        key = (row.get("line_key") or "").strip()
        label = (row.get("label") or "").strip().lower() or None
        correction = (row.get("correction") or "").strip() or None
        note = (row.get("note") or "").strip() or None
        if not key:
            raise InvalidRecord("line_key is missing", where)
        if key not in known:
            raise InvalidRecord(f"no log line {key!r} in {dataset}", where)
        if label is not None and label not in LABELS:
            raise InvalidRecord(f"label is {label!r}: use good or bad (or leave it blank)", where)
        if label is None and correction is None:
            result.blank += 1
            continue
        events.append({"line_key": key, "label": label, "correction": correction, "note": note,
                       "line": number})
    result.labelled = len(events)
    events = _scrubbed(events, pii)
    with writing(store, f"flywheel review import {path}", {"path": str(path)}) as run:
        with run.commit() as con:
            result.new = insert_feedback(con, run.id, [_feedback(e, path) for e in events])
            run.stats = result.__dict__
    return result


def _feedback(e: dict[str, Any], path: Path) -> dict[str, Any]:
    what = orjson.dumps([e["line_key"], e["label"], e["correction"], e["note"]])
    return {"feedback_key": "review:" + hashlib.sha256(what).hexdigest(),
            "line_key": e["line_key"], "origin": "review", "thumb": None, "rating": None,
            "score": None, "label": e["label"], "correction": e["correction"], "note": e["note"],
            "path": str(path.resolve()), "line": e["line"]}


def _scrubbed(events: list[dict[str, Any]], pii: str) -> list[dict[str, Any]]:
    """Reviewers' free text through the same PII scrub as the logs."""
    if pii == "off" or not any(e["correction"] or e["note"] for e in events):
        return events
    from gristmill.flywheel.records import Feedback, LogEntry
    from gristmill.flywheel.scrub import Scrubber

    entries = [LogEntry(e["line_key"], None, e["line_key"],
                        feedback=Feedback(correction=e["correction"], note=e["note"]))
               for e in events]
    scrubbed, _ = Scrubber(operator=pii)(entries)
    return [e | {"correction": s.feedback.correction, "note": s.feedback.note}
            for e, s in zip(events, scrubbed, strict=True)]


def _format(path: Path) -> str:
    if path.suffix == ".csv":
        return "csv"
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    raise UsageError(f"{path}: a review file is .jsonl or .csv")


def _read(path: Path):
    """(line number, row) pairs; the CSV header is line 1."""
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if _format(path) == "csv":
        # subtle: utf-8-sig, since spreadsheet programs save CSV with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            try:
                for row in reader:
                    yield reader.line_num, row
            except UnicodeDecodeError:
                raise InvalidRecord("not valid UTF-8: save the file as UTF-8",
                                    f"{path}:{reader.line_num + 1}") from None
        return
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise InvalidRecord(f"not valid JSON: {e.msg}", f"{path}:{number}") from None
            if not isinstance(row, dict):
                raise InvalidRecord("expected a JSON object", f"{path}:{number}")
            yield number, row
