"""What a training run reads: a version's train and val examples, rendered with the tokenizer's own
chat template, every one checked to render and to fit.

Nothing is truncated: an example longer than max_length, one the template cannot render, or one
with no assistant turn to learn from is dropped with its reason (recorded in the registry) or
fails the run, as the config says. SFT labels mark the assistant's tokens only: each assistant
turn's characters are found by rendering the conversation up to it, and a token is a label when
it starts inside one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson

from gristmill.errors import GristmillError
from gristmill.store.versions import Version

IGNORE = -100  # the label transformers' loss skips


@dataclass
class Item:
    key: int
    id: str
    kind: str
    payload: dict[str, Any]
    split: str  # train | val


@dataclass
class Prepared:
    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)
    # (example key, split, reason, message) for every example read: the registry's record
    used: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)
    split_source: str = "version"
    tokens: int = 0  # train tokens per epoch

    def drop(self, item: Item, reason: str, message: str) -> None:
        self.used.append((item.key, "dropped", reason, message))


class BadExample(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def read_items(con: duckdb.DuckDBPyConnection, version: Version, kinds: tuple[str, ...],
               val_fraction: float, seed: int, limit: int | None) -> tuple[list[Item], str]:
    """The version's examples of the given kinds with their split (train or val; test is never
    read). A version without splits is split here by a seeded hash of each example's id."""
    has_splits = con.execute("SELECT count(*) FROM splits WHERE version_id = ?",
                             [version.version_id]).fetchone()[0] > 0
    rows = con.execute(
        "SELECT e.key, e.id, e.kind, e.payload, s.split FROM members m "
        "JOIN examples e ON e.key = m.example_key LEFT JOIN splits s "
        "ON s.version_id = m.version_id AND s.example_key = m.example_key "
        f"WHERE m.version_id = ? AND e.kind IN ({', '.join('?' * len(kinds))}) "
        "ORDER BY m.example_key", [version.version_id, *kinds]).fetchall()
    items = []
    for key, ex_id, kind, payload, split in rows:
        if not has_splits:
            split = "val" if _unit(ex_id, seed) < val_fraction else "train"
        if split in ("train", "val"):
            items.append(Item(key, ex_id, kind, orjson.loads(payload), split))
    if limit is not None:
        train = [i for i in items if i.split == "train"][:limit]
        val = [i for i in items if i.split == "val"][:max(1, limit // 8)]
        items = train + val
    if not any(i.split == "train" for i in items):
        raise GristmillError(f"{version.ref} has no {' or '.join(kinds)} examples in its train "
                             "split to train on")
    return items, "version" if has_splits else f"hash(seed={seed}, val={val_fraction:g})"


def _unit(example_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def prepare(items: list[Item], render, max_length: int, on_bad: str) -> Prepared:
    """Render each item with `render(item) -> (record, tokens)`; sort out what does not fit."""
    out = Prepared()
    for item in items:
        try:
            record, n_tokens = render(item)
            if n_tokens > max_length:
                raise BadExample("too_long", f"{n_tokens:,} tokens > max_length {max_length:,}")
        except BadExample as e:
            if on_bad == "fail":
                raise GristmillError(f"example {item.id[:12]} ({item.split}): {e}; set "
                                     "bad_examples: drop to leave such examples out") from None
            out.drop(item, e.reason, str(e))
            continue
        (out.train if item.split == "train" else out.val).append(record)
        out.used.append((item.key, item.split, None, None))
        if item.split == "train":
            out.tokens += n_tokens
    if not out.train:
        raise GristmillError("no train example is left to train on: "
                             + (dropped_summary(out.used) or "the train split is empty"))
    return out


def dropped_summary(used: list[tuple]) -> str:
    """`3 too_long, 1 unrenderable`, or empty when nothing was dropped."""
    counts: dict[str, int] = {}
    for _, _, reason, _ in used:
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{n:,} {r}" for r, n in counts.items())



def chat_messages(item: Item) -> list[dict]:
    """An SFT conversation: a chat as it is, a preference pair's prompt with its chosen answer."""
    p = item.payload
    if item.kind == "chat":
        return p["messages"]
    if item.kind == "preference":
        return p["prompt"] + p["chosen"]
    raise BadExample("unsupported_kind", f"a {item.kind} example is not a conversation")


def _template(tokenizer, messages: list[dict], **kw) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, **kw)
    except Exception as e:  # a template raises whatever its author chose
        raise BadExample("unrenderable", f"the chat template cannot render it: {e}") from None


def sft_renderer(tokenizer, assistant_only: bool):
    """`render(item) -> ({input_ids, labels}, n_tokens)` for SFT."""
    eos = tokenizer.eos_token or ""

    def render(item: Item) -> tuple[dict, int]:
        if item.kind == "text":
            text = item.payload["text"] + eos
            spans = [(0, len(text))]
        else:
            messages = chat_messages(item)
            text = _template(tokenizer, messages)
            spans = assistant_spans(tokenizer, messages, text) if assistant_only \
                else [(0, len(text))]
            if not spans:
                raise BadExample("no_assistant_turn", "no assistant turn to learn from")
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"]
        labels = [tok if _inside(start, spans) else IGNORE
                  for tok, (start, _) in zip(ids, enc["offset_mapping"], strict=True)]
        return {"input_ids": ids, "labels": labels}, len(ids)

    return render


def assistant_spans(tokenizer, messages: list[dict], text: str) -> list[tuple[int, int]]:
    """Character spans of the assistant turns in `text`: from the end of the prompt that asks
    for each turn to the end of the conversation rendered through it (its end-of-turn marker)."""
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _template(tokenizer, messages[:i], add_generation_prompt=True)
        through = _template(tokenizer, messages[:i + 1])
        if not (text.startswith(before) and text.startswith(through)
                and len(before) <= len(through)):
            raise BadExample("unrenderable", "the chat template renders a conversation's "
                             "start differently from the whole, so assistant turns cannot be "
                             "located (set assistant_only: false to train on every token)")
        if len(through) > len(before):
            spans.append((len(before), len(through)))
    return spans


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def dpo_renderer(tokenizer):
    """`render(item) -> ({prompt, chosen, rejected}, n_tokens)`: TRL's conversational preference
    format, checked to render, sized by the longer side."""

    def render(item: Item) -> tuple[dict, int]:
        p = item.payload
        sides = [len(tokenizer(_template(tokenizer, p["prompt"] + p[s]),
                               add_special_tokens=False)["input_ids"])
                 for s in ("chosen", "rejected")]
        return {"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]}, \
            max(sides)

    return render
