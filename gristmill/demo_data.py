"""A seeded demo dataset of customer-support chats with planted, labelled problems.

`generate` writes four JSON Lines files for a fictional outdoor-gear shop: training chats,
preference pairs, a golden evaluation set, and `labels.jsonl`, one record per planted problem
(PII with exact character spans, exact and near duplicates, paraphrases, golden-set leaks,
malformed lines, empty answers, overlong examples), so curation steps can be scored against the
labels. The same seed writes byte-identical files; the words come from `gristmill.demo_texts`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from gristmill import demo_texts as texts  # its text banks load on first use, not on import
from gristmill.demo_problems import NEAR_VARIANTS, debug_log, dumps, malformed_line, near_copy
from gristmill.example import Example

CHATS, PREFERENCES = "support_chats.jsonl", "preferences.jsonl"
GOLDEN, LABELS = "golden.jsonl", "labels.jsonl"
RATES = {  # planted problems per chat line
    "pii": 0.10,
    "exact_duplicate": 0.03,
    "near_duplicate": 0.03,
    "paraphrase": 0.02,
    "golden_leak": 0.0075,
    "malformed": 0.005,
    "empty_assistant": 0.0025,
    "overlong": 0.0025,
}
_HEAD = 20  # ordinary lines first, so every copy has an earlier original


@dataclass(frozen=True)
class DemoFiles:
    """Where `generate` wrote the files, and how many lines and planted problems each holds."""

    directory: Path
    chats: Path
    preferences: Path
    golden: Path
    labels: Path
    counts: dict[str, int]


class _Gold(NamedTuple):
    line: int
    id: str
    messages: list[dict[str, Any]]
    core: int  # index into demo_texts.GOLDEN
    slots: dict[str, str]
    lead: int
    tail: int


def generate(directory: Path, seed: int = 0, n_chats: int = 2000) -> DemoFiles:
    """Write the four demo files into `directory` (created if missing) and return their paths."""
    if n_chats < 100:
        raise ValueError(f"n_chats must be at least 100, not {n_chats}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    golden = _golden(rng, max(20, min(150, round(n_chats * 0.075))))
    chats = _Chats(rng, golden)
    for kind in _plan(rng, n_chats, len(golden)):
        getattr(chats, kind)()
    pref_lines, pref_labels = _preferences(rng, max(30, round(n_chats * 0.15)))
    labels = chats.labels + pref_labels
    paths = [directory / name for name in (CHATS, PREFERENCES, GOLDEN, LABELS)]
    golden_lines = [dumps(g.messages) for g in golden]
    contents = (chats.lines, pref_lines, golden_lines, [orjson.dumps(x) for x in labels])
    for path, lines in zip(paths, contents, strict=True):
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    counts = {"chats": len(chats.lines), "preferences": len(pref_lines), "golden": len(golden)}
    for problem in RATES:
        counts[problem] = sum(1 for x in chats.labels if x["problem"] == problem)
    counts["preference_exact_duplicate"] = len(pref_labels)
    counts["labels"] = len(labels)
    return DemoFiles(directory, *paths, counts=counts)


def _plan(rng: random.Random, n: int, n_golden: int) -> list[str]:
    counts = {k: max(1, round(n * rate)) for k, rate in RATES.items()}
    counts["golden_leak"] = min(counts["golden_leak"], n_golden)
    rest = [kind for kind, c in counts.items() for _ in range(c)]
    rest += ["ordinary"] * (n - _HEAD - len(rest))
    rng.shuffle(rest)
    return ["ordinary"] * _HEAD + rest


class _Chats:
    """Builds support_chats.jsonl line by line; each planted-problem method adds its label."""

    def __init__(self, rng: random.Random, golden: list[_Gold]):
        self.rng, self.golden = rng, golden
        self.lines: list[bytes] = []
        self.labels: list[dict[str, Any]] = []
        self.pool: list[tuple[int, texts.ChatSpec, list[dict], str]] = []  # clean originals to copy
        self.seen: set[tuple] = set()  # wordings and facts used
        self.leaks = iter(rng.sample(range(len(golden)), len(golden)))
        self.n = {"golden_leak": 0, "malformed": 0, "overlong": 0}

    def _emit(self, data: bytes, problem: str | None = None, id_: str | None = None, **details):
        self.lines.append(data)
        if problem:
            label = {"file": CHATS, "line": len(self.lines), "problem": problem, "id": id_}
            self.labels.append(label | details)

    def _fresh(self, pii: bool = False) -> tuple[texts.ChatSpec, list[dict], list[dict], str]:
        while True:  # subtle: new chats repeat neither a wording nor the facts, or they would
            spec = texts.new_spec(self.rng)  # be near duplicates or paraphrases no label names
            if spec.wording not in self.seen and spec.facts not in self.seen:
                self.seen |= {spec.wording, spec.facts}
                messages, entities = texts.build(spec, self.rng if pii else None)
                return spec, messages, entities, Example.chat(messages).id

    def _source(self) -> tuple[int, texts.ChatSpec, list[dict], str]:
        i = self.rng.randrange(len(self.pool))
        return self.pool.pop(i) if len(self.pool) > 10 else self.pool[i]

    def ordinary(self) -> None:
        spec, messages, _, ex_id = self._fresh()
        self._emit(dumps(messages))
        self.pool.append((len(self.lines), spec, messages, ex_id))

    def pii(self) -> None:
        _, messages, entities, ex_id = self._fresh(pii=True)
        self._emit(dumps(messages), "pii", ex_id, entities=entities)

    def exact_duplicate(self) -> None:
        line, _, messages, ex_id = self._source()
        self._emit(dumps(messages), "exact_duplicate", ex_id, of_line=line, of_id=ex_id)

    def near_duplicate(self) -> None:
        line, _, messages, ex_id = self._source()
        while True:  # subtle: the edit must stay small by difflib's ratio, in either order
            near, variant = near_copy(self.rng, messages, self.rng.choice(NEAR_VARIANTS))
            a, b = dumps(messages), dumps(near)
            if min(SequenceMatcher(None, a, b).ratio(), SequenceMatcher(None, b, a).ratio()) > 0.8:
                break
        near_id = Example.chat(near).id
        self._emit(dumps(near), "near_duplicate", near_id, of_line=line, of_id=ex_id, variant=variant)

    def paraphrase(self) -> None:
        line, spec, _, ex_id = self._source()
        messages, _ = texts.build(texts.reword(self.rng, spec))
        self._emit(dumps(messages), "paraphrase", Example.chat(messages).id, of_line=line, of_id=ex_id)

    def golden_leak(self) -> None:
        g = self.golden[next(self.leaks)]
        verbatim = self.n["golden_leak"] % 2 == 0
        self.n["golden_leak"] += 1
        messages = g.messages if verbatim else texts.golden_messages(g.core, g.slots, g.lead, g.tail, True)
        ex_id, variant = Example.chat(messages).id, "verbatim" if verbatim else "paraphrase"
        self._emit(
            dumps(messages), "golden_leak", ex_id, golden_line=g.line, golden_id=g.id, variant=variant
        )

    def malformed(self) -> None:
        _, messages, _, _ = self._fresh()
        data, reason = malformed_line(self.n["malformed"], messages)
        self.n["malformed"] += 1
        self._emit(data, "malformed", None, reason=reason)

    def empty_assistant(self) -> None:
        _, messages, _, _ = self._fresh()
        messages[-1]["content"] = self.rng.choice(("", "   ", " "))
        self._emit(dumps(messages), "empty_assistant", None, message=len(messages) - 1)

    def overlong(self) -> None:
        rng, target = self.rng, self.rng.randint(22_000, 55_000)
        self.n["overlong"] += 1
        if self.n["overlong"] % 2:  # a customer pastes a whole debug log
            slots = texts.draw_slots(rng, ("device",))
            log = debug_log(rng, target)
            user = f"{texts.fill(rng.choice(texts.LOG_INTROS), slots)}\n\n{log}\n\n"
            user += rng.choice(texts.LOG_OUTROS)
            reply = texts.fill(rng.choice(texts.LOG_REPLIES), slots)
            messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        else:  # an agent who repeats every policy
            _, messages, _, _ = self._fresh()
            text, paragraphs = messages[-1]["content"], list(texts.RAMBLE)
            before = sum(len(m["content"]) for m in messages[:-1])
            while before + len(text) < target:
                rng.shuffle(paragraphs)
                para = paragraphs[0]
                text += f"\n\n{rng.choice(texts.RAMBLE_LINKS)}{para[0].lower()}{para[1:]}"
            messages[-1]["content"] = text
        chars = sum(len(m["content"]) for m in messages)
        self._emit(dumps(messages), "overlong", Example.chat(messages).id, chars=chars)


def _golden(rng: random.Random, n: int) -> list[_Gold]:
    """The evaluation items, cycling through the golden questions with varied products."""
    items: list[_Gold] = []
    seen: set[tuple[int, str]] = set()
    offsets = [rng.randrange(100) for _ in texts.GOLDEN]
    while len(items) < n:
        core, k = len(items) % len(texts.GOLDEN), len(items) // len(texts.GOLDEN)
        slots = texts.draw_slots(rng, texts.GOLDEN[core][0])
        # subtle: the instances of one question take different products, lead-ins and closing
        # facts, so that evaluation items are not near duplicates of each other
        lead = (offsets[core] + k) % len(texts.GOLDEN_LEADINS)
        tail = (offsets[core] + k) % len(texts.GOLDEN_TAILS)
        messages = texts.golden_messages(core, slots, lead, tail)
        ex_id = Example.chat(messages).id
        if (core, slots["product"]) not in seen:
            seen.add((core, slots["product"]))
            items.append(_Gold(len(items) + 1, ex_id, messages, core, slots, lead, tail))
    return items


def _preferences(rng: random.Random, n: int) -> tuple[list[bytes], list[dict]]:
    """Prompt, a good answer and a worse one (curt, wrong, unhelpful or off-policy)."""
    dups = set(rng.sample(range(10, n), max(1, n // 60)))
    lines: list[bytes] = []
    ids: list[str] = []
    seen: set[tuple] = set()  # wordings used, as for chats
    labels: list[dict] = []
    for pos in range(n):
        if pos in dups:
            src = rng.choice([k for k in range(pos) if k not in dups])
            lines.append(lines[src])
            ids.append(ids[src])
            label = {"file": PREFERENCES, "line": pos + 1, "problem": "exact_duplicate", "id": ids[src]}
            labels.append(label | {"of_line": src + 1, "of_id": ids[src]})
            continue
        spec = replace(texts.new_spec(rng), follows=())
        while spec.wording in seen:
            spec = replace(texts.new_spec(rng), follows=())
        seen.add(spec.wording)
        messages, _ = texts.build(spec)
        kind = rng.choice(("curt", "wrong", "unhelpful", "off_policy"))
        bank = texts.INTENTS[spec.intent]["wrong"] if kind == "wrong" else texts.REJECTED[kind]
        bad = [{"role": "assistant", "content": texts.fill(rng.choice(bank), spec.slots)}]
        record = {"prompt": messages[:-1], "chosen": messages[-1:], "rejected": bad}
        lines.append(orjson.dumps(record))
        ids.append(Example.preference(**record).id)
    return lines, labels
