"""Synthetic chat JSONL at benchmark scale: realistic record sizes, distinct contents, seeded."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

_WORDS = (
    "order refund shipping account password invoice delivery tracking package return exchange "
    "warranty battery charger tent jacket boots size colour discount coupon subscription billing "
    "address payment card bank transfer delay damaged missing replacement support agent manager "
    "please thanks hello could would should when where why how what which today tomorrow week "
    "number email phone store online app login reset update cancel change confirm receive send"
).split()
_SYSTEM = "You are a helpful, concise customer-support assistant for an outdoor-gear shop."


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n)).capitalize() + "."


def chat_record(rng: random.Random, i: int) -> dict:
    messages = [{"role": "system", "content": _SYSTEM}] if i % 2 else []
    for turn in range(1 + (i % 3 == 0)):
        messages.append({"role": "user", "content": f"#{i}-{turn} " + _sentence(rng, 18)})
        messages.append({"role": "assistant", "content": " ".join(
            _sentence(rng, 14) for _ in range(2))})
    return {"messages": messages}


def write_chats(path: Path, n: int, seed: int = 0) -> Path:
    """`n` distinct chat records (about 500 bytes each) as JSON Lines, written once and reused."""
    if path.exists() and path.with_suffix(".done").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with open(path, "wb") as f:
        for i in range(n):
            f.write(orjson.dumps(chat_record(rng, i)) + b"\n")
    path.with_suffix(".done").write_text(str(n))
    return path
