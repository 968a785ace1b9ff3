"""Filters: each answers keep or drop for one example, with a reason code and evidence.

structure (roles, turns, the final answer), length (characters; tokens of a named tokenizer, so
examples longer than a training max length are reported and dropped, never truncated silently),
repetition (an answer that repeats its own lines, paragraphs or phrases), refusals (boilerplate
such as "As an AI language model"), json_valid (answers of tasks declared JSON must parse).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import orjson
from pydantic import Field, model_validator

from gristmill.bounds import Fraction, in_order
from gristmill.curation.step import Decisions, Drop, Filter, Rows, StepConfig
from gristmill.curation.text import Scope, content, messages
from gristmill.errors import InvalidRecord
from gristmill.example import Example, check_order, normalize


def malformed(example: Example) -> str | None:
    """What the record type's own validation says is wrong, for content that may have bypassed
    it (a rewrite, a row written by another tool)."""
    try:
        normalize(example.payload)
        if example.kind == "chat":
            check_order(example.payload["messages"], "assistant")
    except InvalidRecord as e:
        return str(e)
    return None


class StructureFilter(Filter):
    name = "structure"
    summary = "drop examples whose roles, turn count or final answer are malformed"

    class Config(StepConfig):
        min_turns: int = Field(1, ge=0)
        max_turns: int | None = Field(None, ge=1)
        require_system: bool = False
        allow_tools: bool = True

        @model_validator(mode="after")
        def _order(self):
            in_order(self, "min_turns", "max_turns")
            return self

    def check(self, example: Example) -> Drop | None:
        c = self.config
        if (problem := malformed(example)) is not None:
            return Drop("bad_structure", problem)
        if example.kind == "text":
            return None
        turns = messages(example)
        users = sum(m["role"] == "user" for m in turns)
        if users < c.min_turns or (c.max_turns is not None and users > c.max_turns):
            return Drop("turn_count", f"{users} user turn(s), outside {c.min_turns}.."
                        f"{c.max_turns if c.max_turns is not None else ''}", {"turns": users})
        if c.require_system and turns[0]["role"] != "system":
            return Drop("no_system_prompt", "no system prompt, and the recipe requires one")
        if not c.allow_tools and any(m["role"] == "tool" or m.get("tool_calls") for m in turns):
            return Drop("tool_use", "tool calls or results, and the recipe excludes them")
        return None


class LengthFilter(Filter):
    name = "length"
    summary = "drop examples outside character bounds, or over a token limit of a named tokenizer"

    class Config(StepConfig):
        min_chars: int = Field(1, ge=0)
        max_chars: int | None = Field(20_000, ge=1)
        # the training max length, counted with `tokenizer`
        max_tokens: int | None = Field(None, ge=1)
        tokenizer: str = "smollm2"  # a local tokenizer folder, a GGUF file, or smollm2 (bundled)
        scope: Scope = "conversation"

        @model_validator(mode="after")
        def _order(self):
            in_order(self, "min_chars", "max_chars")
            return self

    def run(self, rows: Rows, ctx) -> Decisions:
        if self.config.max_tokens is None:
            return super().run(rows, ctx)
        from gristmill.curation.tokens import TokenCounter

        counter, decisions, limit = TokenCounter(self.config.tokenizer), Decisions(), \
            self.config.max_tokens
        for batch in rows.batches(512):
            kept = []
            for row in batch:
                if (drop := self.check(row.example)) is not None:
                    decisions.drops[row.example.id] = drop
                else:
                    kept.append(row.example)
            for example, n in zip(kept, counter.count(kept), strict=True):
                if n > limit:
                    decisions.drop(example.id, "too_many_tokens",
                                   f"{n:,} tokens with {counter.name}, over max_tokens {limit:,}",
                                   tokens=n, max_tokens=limit, tokenizer=counter.name)
        decisions.stats["tokenizer"] = counter.name
        return decisions

    def check(self, example: Example) -> Drop | None:
        n = len(content(example, self.config.scope))
        if n < self.config.min_chars:
            return Drop("too_short", f"{n:,} characters, under min_chars {self.config.min_chars:,}",
                        {"chars": n})
        if self.config.max_chars is not None and n > self.config.max_chars:
            return Drop("too_long", f"{n:,} characters, over max_chars {self.config.max_chars:,}",
                        {"chars": n})
        return None


class RepetitionFilter(Filter):
    """Repetition measures in the style of Gopher (Rae et al. 2021), over the answers only."""

    name = "repetition"
    summary = "drop answers that repeat their own lines, paragraphs or word n-grams"

    class Config(StepConfig):
        max_duplicate_lines: Fraction = 0.3  # fraction of lines that repeat an earlier line
        max_duplicate_paragraphs: Fraction = 0.3
        # subtle: short answers name their subject often ("the Cirque Sleeping Pad ... the Cirque
        # Sleeping Pad"), so the n-gram measure is looser than Gopher's web-page 0.18
        max_top_ngram: Fraction = 0.3  # characters covered by the most frequent word n-gram
        ngram: int = Field(4, ge=1, le=100)
        min_words: int = Field(80, ge=0)  # shorter answers are not judged: too little text to tell

    def check(self, example: Example) -> Drop | None:
        c = self.config
        for m in messages(example, "response"):
            text = m.get("content") or ""
            words = text.split()
            if len(words) < c.min_words:
                continue
            measures = {
                "duplicate_lines": _duplicate_fraction([x for x in text.splitlines() if x.strip()]),
                "duplicate_paragraphs": _duplicate_fraction(
                    [x for x in re.split(r"\n\s*\n", text) if x.strip()]),
                "top_ngram": _top_ngram_fraction(words, c.ngram),
            }
            limits = {"duplicate_lines": c.max_duplicate_lines,
                      "duplicate_paragraphs": c.max_duplicate_paragraphs,
                      "top_ngram": c.max_top_ngram}
            for measure, value in measures.items():
                if value > limits[measure]:
                    return Drop("repetitive", f"{measure} {value:.2f} over {limits[measure]}",
                                {"measure": measure, "value": round(value, 4)})
        return None


def _duplicate_fraction(parts: list[str]) -> float:
    if len(parts) < 2:
        return 0.0
    counts = Counter(p.strip() for p in parts)
    return sum(n - 1 for n in counts.values()) / len(parts)


def _top_ngram_fraction(words: list[str], n: int) -> float:
    if len(words) < n * 2:
        return 0.0
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    return count * sum(len(w) for w in gram) / sum(len(w) for w in words)


REFUSALS = (
    r"as an ai(?: language)? model",
    r"as a large language model",
    r"i(?:'m| am) (?:just )?an ai",
    r"i (?:cannot|can't|can not|am unable to|'m unable to) (?:help|assist) with (?:that|this)",
    r"i(?:'m| am) sorry, but i (?:cannot|can't)",
    r"i do not have (?:personal )?(?:opinions|feelings|the ability)",
)


class RefusalFilter(Filter):
    name = "refusals"
    summary = "drop answers with boilerplate refusals such as 'As an AI language model'"

    class Config(StepConfig):
        patterns: tuple[str, ...] = REFUSALS  # case-insensitive regular expressions
        extra_patterns: tuple[str, ...] = ()

    def __init__(self, config: StepConfig):
        super().__init__(config)
        pattern = "|".join(f"(?:{p})" for p in (*config.patterns, *config.extra_patterns))
        self.regex = re.compile(pattern, re.IGNORECASE) if pattern else None

    def check(self, example: Example) -> Drop | None:
        if self.regex is None:
            return None
        for i, m in enumerate(messages(example, "response")):
            if found := self.regex.search(m.get("content") or ""):
                return Drop("refusal", f"boilerplate refusal {found.group(0)!r}",
                            {"answer": i, "start": found.start(), "end": found.end()})
        return None


class JsonFilter(Filter):
    """A task is declared JSON by its source metadata (`format: json`, as a tag or a record key)
    or by a system prompt that asks for JSON."""

    name = "json_valid"
    summary = "drop answers that are not valid JSON, for tasks declared as JSON"

    class Config(StepConfig):
        meta_key: str = "format"  # source metadata key whose value `json` declares a JSON task
        system_pattern: str | None = r"\b(?:respond|reply|answer|output|return)\b[^.\n]*\bJSON\b"
        allow_fences: bool = True  # accept ```json ... ``` around the object

    def __init__(self, config: StepConfig):
        super().__init__(config)
        self.asks = re.compile(config.system_pattern, re.IGNORECASE) if config.system_pattern \
            else None

    def needs_meta(self) -> bool:
        return True

    def run(self, rows: Rows, ctx) -> Decisions:
        decisions = Decisions()
        for row in rows:
            if self.declared(row.example, row.meta) and (drop := self.check(row.example)):
                decisions.drops[row.example.id] = drop
        return decisions

    def declared(self, example: Example, meta: dict[str, Any]) -> bool:
        tags = meta.get("tags") or {}
        if str(tags.get(self.config.meta_key, meta.get(self.config.meta_key))).lower() == "json":
            return True
        system = [m for m in messages(example, "prompt") if m["role"] == "system"]
        return bool(self.asks and system and self.asks.search(system[0]["content"]))

    def check(self, example: Example) -> Drop | None:
        for i, m in enumerate(messages(example, "response")):
            text = (m.get("content") or "").strip()
            if self.config.allow_fences:
                text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
            try:
                orjson.loads(text)
            except orjson.JSONDecodeError as e:
                return Drop("invalid_json", f"answer {i + 1} is not JSON: {e}", {"answer": i})
        return None
