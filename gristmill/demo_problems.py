"""The demo data's planted damage: near copies of a chat (small edits a dedup step should
catch), malformed lines (each a different way a JSON Lines file goes wrong), and the debug logs
that make a chat overlong."""

from __future__ import annotations

import random
import re
from typing import Any

import orjson

from gristmill import demo_texts as texts

MALFORMED = (
    "invalid UTF-8 bytes in a string",
    "missing closing brace",
    "trailing characters after the object",
    "line truncated mid-record",
    "key 'conversation' instead of 'messages'",
    "unknown role 'bot'",
    "messages is a string, not a list",
    "message content is null",
    "conversation ends with a user turn",
    "Python dict repr instead of JSON",
)
NEAR_VARIANTS = ("typo", "whitespace", "reorder")
_SENTENCE = re.compile(r"(?<=[.!?]) (?=[A-Z])")


def dumps(messages: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"messages": messages})


def near_copy(rng: random.Random, messages: list[dict], variant: str) -> tuple[list[dict], str]:
    """A copy with small edits in one message: swapped letters, spacing, or sentence order."""
    new = [dict(m) for m in messages]
    turns = [i for i, m in enumerate(new) if m["role"] != "system"]
    multi = [i for i in turns if len(_SENTENCE.split(new[i]["content"])) > 2]
    if variant == "reorder" and not multi:
        variant = "typo"
    i = rng.choice(multi if variant == "reorder" else turns)
    text = new[i]["content"]
    if variant == "reorder":
        parts = _SENTENCE.split(text)
        k = rng.randrange(len(parts) - 1)  # two neighbours swap: a small edit
        parts[k], parts[k + 1] = parts[k + 1], parts[k]
        new[i]["content"] = " ".join(parts)
    elif variant == "typo":
        chars, done = list(text), [-2]
        spots = [
            k
            for k in range(len(text) - 1)
            if text[k : k + 2].isalpha() and text[k : k + 2].islower() and text[k] != text[k + 1]
        ]
        for k in sorted(rng.sample(spots, min(5, len(spots)))):
            if len(done) <= 3 and k > done[-1] + 1:  # swaps must not overlap
                chars[k], chars[k + 1] = chars[k + 1], chars[k]
                done.append(k)
        new[i]["content"] = "".join(chars)
    else:
        chars, spaces = list(text), [k for k, c in enumerate(text) if c == " "]
        for k in rng.sample(spaces, min(3, len(spaces))):
            chars[k] = "  "
        new[i]["content"] = "".join(chars) + rng.choice((" ", "  "))
    if new == messages:  # subtle: a swap of identical sentences changes nothing
        return near_copy(rng, messages, "whitespace")
    return new, variant


def malformed_line(n: int, messages: list[dict]) -> tuple[bytes, str]:
    reason = MALFORMED[n % len(MALFORMED)]
    msgs = [dict(m) for m in messages]
    match n % len(MALFORMED):
        case 0:
            msgs[-2]["content"] += " @@BAD@@"
            return dumps(msgs).replace(b"@@BAD@@", b"\xff\xfe"), reason
        case 1:
            return dumps(msgs)[:-1], reason
        case 2:
            return dumps(msgs) + b"}", reason
        case 3:
            data = dumps(msgs)
            return data[: len(data) // 2], reason
        case 4:
            return orjson.dumps({"conversation": msgs}), reason
        case 5:
            return dumps([m | {"role": "bot"} if m["role"] == "assistant" else m for m in msgs]), reason
        case 6:
            return orjson.dumps({"messages": "\n".join(m["content"] for m in msgs)}), reason
        case 7:
            msgs[-1]["content"] = None
            return dumps(msgs), reason
        case 8:
            return dumps(msgs[:-1]), reason
    return repr({"messages": msgs}).encode(), reason


def debug_log(rng: random.Random, size: int) -> str:
    """A device's debug log of about `size` characters, as a customer pastes it into a chat."""
    lines, total, ms = [], 0, rng.randrange(20 * 3_600_000)
    device = f"{rng.randrange(16**6):06X}"
    while total < size:
        ms += rng.randint(3, 2500)
        h, m, s = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        level, component, template, low, high = rng.choice(texts.LOG_EVENTS)
        message = template.format(n=rng.randint(low, high), device=device)
        lines.append(
            f"2024-06-14T{h:02d}:{m:02d}:{s:02d}.{ms % 1000:03d}Z {level:<5} [{component}] {message}"
        )
        total += len(lines[-1]) + 1
    return "\n".join(lines)
