"""Self-Instruct (Wang et al. 2022): new instructions bootstrapped from seed tasks, then one
instance each.

Each round asks `batch` prompts, each showing `num_seed` sampled seed tasks and `num_machine`
sampled generated ones. A new instruction is kept only if it passes, in order: length (words),
the keyword blacklist, format, exact duplicate, and ROUGE-L below `rouge` against every seed and
kept instruction (an index, not a scan of the pool). Kept instructions are then classified, and a
classification task gets its instance output-first (label, then input) so the labels stay
balanced; others input-first. The run reports the keep rate of every filter.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from gristmill.bounds import MaxTokens, Temperature, in_order
from gristmill.example import Example
from gristmill.synth.calls import Request
from gristmill.synth.config import GeneratorConfig
from gristmill.synth.inputs import instruction_of, rows
from gristmill.synth.rouge import RougeIndex
from gristmill.synth.session import Outcome, Produced, Session, commit_output

STEP = "synth:self-instruct"
SEED_TASKS = Path(__file__).resolve().parent / "data" / "self_instruct_seed_tasks.jsonl"  # the paper's 175
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
             "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram")
FILTERS = ("length", "blacklist", "format", "duplicate", "rouge")
INSTRUCTION_CHARS = 1000  # 150 words at most pass the length filter anyway
CLASSIFY = {"type": "object", "properties": {"is_classification": {"type": "boolean"}},
            "required": ["is_classification"]}
INPUT_FIRST = {"type": "object", "properties": {"input": {"type": "string"}, "output": {"type": "string"}},
               "required": ["input", "output"]}
OUTPUT_FIRST = {"type": "object", "properties": {"output": {"type": "string"}, "input": {"type": "string"}},
                "required": ["output", "input"]}
_NUMBERING = re.compile(r"^\s*(?:task\s*)?\d+\s*[.:)\-]\s*", re.I)
_INLINE_NUMBER = re.compile(r"\s+(?=(?:task\s*)?\d{1,2}[.:)]\s)", re.I)  # "... 2. Next task"


class SelfInstructConfig(GeneratorConfig):
    count: int = Field(50, ge=1)  # new instructions to keep
    max_rounds: int = Field(20, ge=1)
    num_seed: int = Field(6, ge=1, le=1000)  # seed tasks shown per prompt
    num_machine: int = Field(2, ge=0, le=1000)  # generated tasks shown per prompt, once there are some
    per_prompt: int = Field(8, ge=1, le=1000)  # new tasks asked for per prompt
    rouge: float = Field(0.7, gt=0, le=1)  # kept only below this ROUGE-L against every kept one
    min_words: int = Field(3, ge=1)
    max_words: int = Field(150, ge=1)
    blacklist: tuple[str, ...] = BLACKLIST
    temperature: Temperature = 1.0
    max_tokens: MaxTokens = 1024
    instance_temperature: Temperature = 0.2
    instance_max_tokens: MaxTokens = 512
    shots: int = Field(4, ge=0, le=1000)  # seed tasks shown as examples in each instance prompt

    @model_validator(mode="after")
    def _order(self):
        in_order(self, "min_words", "max_words")
        return self


@dataclass
class Kept:
    instruction: str
    round: int
    call_id: int | None
    seed_ids: list[str]
    shown_generated: list[int]


@dataclass
class Pool:
    """The seed and kept instructions, with the filters' counts."""

    c: SelfInstructConfig
    index: RougeIndex
    seen: set[str] = field(default_factory=set)
    kept: list[Kept] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILTERS, 0))
    generated: int = 0

    def add_seed(self, instruction: str) -> None:
        self.seen.add(_key(instruction))
        self.index.add(instruction)

    def offer(self, text: str, origin: Kept) -> bool:
        self.generated += 1
        reason = self.verdict(text)
        if reason:
            self.dropped[reason] += 1
            return False
        self.seen.add(_key(text))
        self.index.add(text)
        self.kept.append(Kept(text, origin.round, origin.call_id, origin.seed_ids,
                              origin.shown_generated))
        return True

    def verdict(self, text: str) -> str | None:
        """The first filter `text` fails, or None."""
        c, words = self.c, text.split()
        if not c.min_words <= len(words) <= c.max_words:
            return "length"
        lowered = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
        if any(f" {w} " in lowered for w in c.blacklist):
            return "blacklist"
        if not text[0].isascii() or not text[0].isalnum() or text.lower().startswith("write a program"):
            return "format"
        if _key(text) in self.seen:
            return "duplicate"
        score, _ = self.index.most_similar(text)
        return "rouge" if score >= c.rouge else None

    def report(self) -> dict[str, Any]:
        """How many generated instructions reached each filter and how many it kept."""
        reached, rates = self.generated, {}
        for name in FILTERS:
            rates[name] = {"reached": reached, "dropped": self.dropped[name],
                           "keep_rate": round(1 - self.dropped[name] / reached, 4) if reached else None}
            reached -= self.dropped[name]
        return {"generated": self.generated, "kept_instructions": len(self.kept), "filters": rates}


def self_instruct(s: Session, ref: str, c: SelfInstructConfig) -> Outcome:
    from gristmill.store.versions import resolve

    with s.store.read() as con:
        source = resolve(con, ref)
    seed_rows = [(r, text) for r in rows(s.store, source) if (text := instruction_of(r))]
    seeds = [(r.example.id, text) for r, text in seed_rows]
    shots = [_shot(r, text) for r, text in seed_rows]
    if not seeds:
        from gristmill.errors import GristmillError

        raise GristmillError(f"{source.ref} has no instructions to seed from")
    pool = Pool(c, RougeIndex(c.rouge))
    for _, text in seeds:
        pool.add_seed(text)
    rng = random.Random(c.seed)
    stopped = _grow(s, c, pool, seeds, rng)
    produced, instance_counts, stopped_late = _instances(s, c, pool.kept[:c.count], shots,
                                                         random.Random(c.seed + 1))
    stats = pool.report() | instance_counts | {"seed_tasks": len(seeds)}
    if stopped or stopped_late:
        stats["stopped"] = stopped or stopped_late
    config = c.model_dump(mode="json") | {"input": source.ref}
    return commit_output(s, dataset=c.into or f"{source.dataset}-self-instruct", step=STEP,
                         config=config, produced=produced, stats=stats)


def _grow(s: Session, c: SelfInstructConfig, pool: Pool, seeds: list[tuple[str, str]],
          rng: random.Random) -> str | None:
    """Rounds of instruction generation until `count` are kept; returns why it stopped early."""
    template = s.options.templates.get("self_instruct_tasks")
    asked = 0
    for round_no in range(1, c.max_rounds + 1):
        if len(pool.kept) >= c.count:
            return None
        prompts, origins = [], []
        for _ in range(c.batch):
            shown_seeds = rng.sample(range(len(seeds)), min(c.num_seed, len(seeds)))
            shown_machine = rng.sample(range(len(pool.kept)), min(c.num_machine, len(pool.kept)))
            tasks = [seeds[i][1] for i in shown_seeds] + [pool.kept[i].instruction for i in shown_machine]
            rng.shuffle(tasks)
            prompts.append(Request(
                [{"role": "user", "content": template.render(tasks=tasks, n=c.per_prompt)}],
                {"temperature": c.temperature, "max_tokens": c.max_tokens, "seed": c.seed + asked},
                schema=_tasks_schema(c.per_prompt)))
            origins.append(([seeds[i][0] for i in shown_seeds], shown_machine))
            asked += 1
        replies = s.calls.ask(prompts)
        for reply, (seed_ids, shown) in zip(replies, origins, strict=True):
            if reply.status == "skipped":
                return "budget"
            origin = Kept("", round_no, reply.call_id, seed_ids, shown)
            for text in _tasks(reply)[:c.per_prompt]:
                pool.offer(text, origin)
        s.checkpoint()
    return None if len(pool.kept) >= c.count else "max_rounds"


def _tasks_schema(n: int) -> dict[str, Any]:
    """A list of at most `n` bounded strings: a constrained small model cannot ramble past it."""
    items = {"type": "string", "minLength": 1, "maxLength": INSTRUCTION_CHARS}
    return {"type": "object", "required": ["tasks"],
            "properties": {"tasks": {"type": "array", "items": items, "minItems": 1, "maxItems": n}}}


def _tasks(reply) -> list[str]:
    """The new instructions of a reply: the JSON list, or numbered lines when it was not JSON."""
    if reply.status == "ok" and isinstance(reply.parsed, dict):
        items = [t for t in reply.parsed.get("tasks", []) if isinstance(t, str)]
    elif reply.content:
        items = [line for line in reply.content.splitlines() if _NUMBERING.match(line)]
    else:
        items = []
    parts = [p for item in items for p in _INLINE_NUMBER.split(item)]
    return [t for t in (" ".join(_NUMBERING.sub("", p).split()) for p in parts) if t]


def _instances(s: Session, c: SelfInstructConfig, kept: list[Kept], shots: list[dict[str, Any]],
               rng: random.Random) -> tuple[list[Produced], dict, str | None]:
    """One input/output instance per kept instruction, output-first for classification tasks;
    as in the paper, each prompt shows seed tasks as examples (few-shot)."""
    classify = s.options.templates.get("self_instruct_classify")
    first = {False: s.options.templates.get("self_instruct_input_first"),
             True: s.options.templates.get("self_instruct_output_first")}
    params = {"temperature": 0.0, "max_tokens": 16, "seed": c.seed}
    by_flag = {flag: [x for x in shots if x["is_classification"] == flag] for flag in (False, True)}
    counts = {"classification_tasks": 0, "instances": 0, "no_instance": 0}
    produced: list[Produced] = []
    for start in range(0, len(kept), c.batch):
        chunk = kept[start:start + c.batch]
        labels = s.calls.ask([
            Request([{"role": "user", "content": classify.render(
                instruction=k.instruction, examples=_sample(rng, shots, c.shots))}],
                    params, schema=CLASSIFY) for k in chunk])
        is_class = [bool(r.ok and r.parsed.get("is_classification")) for r in labels]
        instances = s.calls.ask([
            Request([{"role": "user", "content": first[flag].render(
                instruction=k.instruction,
                examples=_sample(rng, by_flag[flag], c.shots))}],
                    {"temperature": c.instance_temperature, "max_tokens": c.instance_max_tokens,
                     "seed": c.seed}, schema=OUTPUT_FIRST if flag else INPUT_FIRST)
            for k, flag in zip(chunk, is_class, strict=True)])
        s.checkpoint()
        for k, label, flag, reply in zip(chunk, labels, is_class, instances, strict=True):
            if reply.status == "skipped" or label.status == "skipped":
                return produced, counts, "budget"
            counts["classification_tasks"] += flag
            output = (reply.parsed or {}).get("output", "").strip() if reply.ok else ""
            if not output:
                counts["no_instance"] += 1
                continue
            extra = (reply.parsed.get("input") or "").strip()
            user = f"{k.instruction}\n\n{extra}" if extra and extra.lower() != "<noinput>" else k.instruction
            counts["instances"] += 1
            produced.append(Produced(
                Example.chat([{"role": "user", "content": user}, {"role": "assistant", "content": output}]),
                s.provenance(["self_instruct_tasks", "self_instruct_classify",
                              "self_instruct_output_first" if flag else "self_instruct_input_first"],
                             [k.call_id, label.call_id, reply.call_id], generator="self-instruct",
                             instruction=k.instruction, is_classification=flag, round=k.round,
                             seed_ids=k.seed_ids, shown_generated=k.shown_generated)))
    return produced, counts, None


def _shot(row, instruction: str) -> dict[str, Any]:
    """A seed task as a few-shot example: its label flag and its first instance as JSON, in the
    order the instance prompt asks for (label first for classification)."""
    messages = row.example.payload["messages"]
    user = next(m["content"] for m in messages if m["role"] == "user")
    output = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
    extra = user[len(instruction):].strip() if user.startswith(instruction) else ""
    flag = bool(row.meta.get("is_classification"))
    order = {"output": output, "input": extra} if flag else {"input": extra, "output": output}
    return {"instruction": instruction, "is_classification": flag,
            "instance": json.dumps(order, ensure_ascii=False)}


def _sample(rng: random.Random, shots: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    return rng.sample(shots, min(k, len(shots)))


def _key(text: str) -> str:
    return " ".join(text.lower().split())
