"""PII scrubbed from log entries before anything is stored: the curation PII step's engine and
its rules (Presidio, typed placeholders or consistent pseudonyms), applied to the conversation
and to a user's correction and comment together, so a pseudonym reads the same in both."""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from gristmill.curation.pii import PiiScrub, texts_of, with_texts
from gristmill.flywheel.records import LogEntry


class Scrubber:
    """Built once per run; the engine loads on the first batch that has text to scan."""

    def __init__(self, operator: str = "placeholder", model: str = "auto"):
        self.config = PiiScrub.Config(operator=operator, model=model)
        self.settings = PiiScrub(self.config).settings()

    def recorded(self) -> dict[str, Any]:
        return PiiScrub(self.config).resolved_config(None)

    def __call__(self, entries: list[LogEntry]) -> tuple[list[LogEntry], list[dict[str, int]]]:
        """The entries with PII replaced, and per entry the entity types found and their counts
        (the evidence: never the values)."""
        return next(self.stream(iter([entries]), parallel=False))

    def stream(self, batches: Iterator[list[LogEntry]], parallel: bool
               ) -> Iterator[tuple[list[LogEntry], list[dict[str, int]]]]:
        """`__call__` over each batch, in order; with `parallel`, in the PII step's number of
        worker processes, each starting its engine once."""
        from gristmill.curation.pii_engine import scrub_stream

        held: deque[tuple[list[LogEntry], list]] = deque()

        def items() -> Iterator[list[tuple[str, list[str]]]]:
            for entries in batches:
                places = [texts_of(e.example) if e.example else ([], []) for e in entries]
                held.append((entries, [where for where, _ in places]))
                yield [(e.key, texts + [t for t in _feedback_texts(e) if t])
                       for e, (_, texts) in zip(entries, places, strict=True)]

        workers = self.config.workers if parallel else 1
        for outcomes in scrub_stream(items(), self.settings, workers):
            entries, places = held.popleft()
            yield self._apply(entries, places, outcomes)

    def _apply(self, entries: list[LogEntry], places: list, outcomes: list
               ) -> tuple[list[LogEntry], list[dict[str, int]]]:
        out, found = [], []
        for entry, where, outcome in zip(entries, places, outcomes, strict=True):
            found.append(dict(Counter(kind for spans in outcome.spans for _, _, kind in spans)))
            texts = outcome.texts
            example = with_texts(entry.example, where, texts[:len(where)]) if entry.example \
                else None
            feedback, rest = entry.feedback, iter(texts[len(where):])
            if feedback is not None:
                correction, note = (next(rest) if t else t for t in _feedback_texts(entry))
                feedback = dataclasses.replace(feedback, correction=correction, note=note)
            out.append(dataclasses.replace(entry, example=example, feedback=feedback))
        return out, found


def _feedback_texts(entry: LogEntry) -> tuple[str | None, str | None]:
    """A user's correction and comment: free text, scanned like the conversation."""
    f = entry.feedback
    return (f.correction, f.note) if f else (None, None)
