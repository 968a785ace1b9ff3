"""PII scrub: Presidio finds personal data in every text of an example and replaces it with a
typed placeholder (`<PERSON>`) or a consistent pseudonym, or drops the example.

Every message of a chat, every message of a preference's prompt, chosen and rejected, and a text
example's text are scanned. The evidence names entity types, counts and character spans in the
original text (field, message index, start, end, type), never the values themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import Field, field_validator

from gristmill.bounds import BatchSize, Workers
from gristmill.curation.pii_engine import (
    DEFAULT_ENTITIES,
    KNOWN_ENTITIES,
    Settings,
    Span,
    scrub_stream,
)
from gristmill.curation.pii_models import DEFAULT_MODEL, pick_model, resolve_model
from gristmill.curation.step import Decisions, Rewrite, Row, Rows, Step, StepConfig
from gristmill.example import Example

Place = tuple[str, int | None]  # payload field, message index (None for a text example)
_PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")


class PiiScrub(Step):
    name = "pii"
    summary = "replace PII (Presidio) with placeholders or pseudonyms, or drop the example"

    class Config(StepConfig):
        entities: tuple[str, ...] = DEFAULT_ENTITIES
        operator: Literal["placeholder", "pseudonym", "drop"] = "placeholder"
        allow: tuple[str, ...] = ()  # terms never scrubbed, e.g. the company's support address
        model: str = DEFAULT_MODEL  # auto (the best installed), a spaCy model package or folder
        # above the 0.4 of a bare libphonenumber match, which then needs a context word
        score_threshold: float = Field(0.45, ge=0, le=1)
        workers: Workers = 2  # processes; a run detail, not part of the recorded config
        batch_size: BatchSize = 128  # examples per batch a worker takes

        @field_validator("entities")
        @classmethod
        def _known(cls, entities: tuple[str, ...]) -> tuple[str, ...]:
            if not entities:
                raise ValueError("name at least one entity type")
            for entity in entities:
                if entity not in KNOWN_ENTITIES:
                    raise ValueError(f"unknown entity {entity!r}; known: {', '.join(KNOWN_ENTITIES)}")
            return entities

    def resolved_config(self, ctx: Any) -> dict[str, Any]:
        # subtle: workers and batch size change the speed, never the output, so a re-run with
        # other values reuses the committed version; `auto` is recorded as the model it picked
        config = self.config.model_dump(mode="json", exclude={"workers", "batch_size"})
        return config | {"model": pick_model(self.config.model)}

    def settings(self) -> Settings:
        c = self.config
        return Settings(resolve_model(c.model), c.entities, c.score_threshold, c.allow, c.operator)

    def run(self, rows: Rows, ctx: Any) -> Decisions:
        settings = self.settings()
        batches = rows.batches(self.config.batch_size)
        # subtle: one batch cannot be shared out, and workers start slower than a warm engine
        workers = self.config.workers if len(rows) > self.config.batch_size else 1
        decisions = Decisions()
        entities: Counter = Counter()
        held: list[list[Row]] = []
        with ctx.progress(len(rows), self.name) as bar:
            for outcomes in scrub_stream(_items(batches, held), settings, workers):
                batch = held.pop(0)
                for row, outcome in zip(batch, outcomes, strict=True):
                    places = texts_of(row.example)[0]
                    spans = evidence(places, outcome.spans)
                    if spans["spans"]:
                        entities.update(spans["entities"])
                        self._decide(decisions, row.example, places, outcome.texts, spans)
                bar.update(len(batch))
        decisions.stats["entities"] = dict(entities.most_common())
        return decisions

    def _decide(self, decisions: Decisions, example: Example, places: list[Place],
                texts: list[str], found: dict[str, Any]) -> None:
        n = len(found["spans"])
        kinds = ", ".join(f"{k} {c}" for k, c in found["entities"].items())
        if self.config.operator == "drop":
            decisions.drop(example.id, "pii", f"{n} PII span(s): {kinds}", **found)
            return
        new = with_texts(example, places, texts)
        if new.id != example.id:
            decisions.rewrites[example.id] = Rewrite(new, {"operator": self.config.operator,
                                                           **found})


def _items(batches: Iterable[list[Row]], held: list[list[Row]],
           ) -> Iterator[list[tuple[str, list[str]]]]:
    """(seed, texts) per example for the engine; each batch of rows is held until its outcomes
    come back, in order."""
    for batch in batches:
        held.append(batch)
        yield [(row.example.id, texts_of(row.example)[1]) for row in batch]


def texts_of(example: Example) -> tuple[list[Place], list[str]]:
    """Where each text of an example lives, and the texts."""
    p = example.payload
    if example.kind == "text":
        return [("text", None)], [p["text"]]
    fields = ("messages",) if example.kind == "chat" else _PREFERENCE_FIELDS
    places = [(f, i) for f in fields for i in range(len(p[f]))]
    return places, [p[f][i].get("content") or "" for f, i in places]


def with_texts(example: Example, places: list[Place], texts: list[str]) -> Example:
    """The example with its texts replaced (other message keys kept)."""
    if example.kind == "text":
        return Example.text(texts[0])
    payload = {k: [dict(m) for m in v] if isinstance(v, list) else v
               for k, v in example.payload.items()}
    for (field, index), text in zip(places, texts, strict=True):
        if payload[field][index].get("content"):
            payload[field][index]["content"] = text
    return Example.from_payload(payload)


def evidence(places: list[Place], spans: list[list[Span]]) -> dict[str, Any]:
    """Entity counts and spans (field, message index, start, end, type): no values."""
    found = [{"field": field, **({} if index is None else {"message": index}),
              "start": start, "end": end, "type": kind}
             for (field, index), text_spans in zip(places, spans, strict=True)
             for start, end, kind in text_spans]
    return {"entities": dict(Counter(s["type"] for s in found).most_common()), "spans": found}
