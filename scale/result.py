"""What a distributed step hands the driver: refs of its decision frames, and its stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    drops: list  # refs of drop frames (key, id, reason, message, evidence)
    rewrites: list = field(default_factory=list)  # refs of rewrite frames
    splits: list | None = None  # refs of (id, split) frames, for a split step
    tables: list[tuple[str, list]] = field(default_factory=list)  # (store table, refs of tables)
    stats: dict[str, Any] = field(default_factory=dict)


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-partition stats as one: counts add up, nested counts too, anything else is the
    first partition's (a tokenizer's name, an index kind)."""
    out: dict[str, Any] = {}
    for stats in parts:
        for key, value in stats.items():
            held = out.get(key)
            if held is None:
                out[key] = dict(value) if isinstance(value, dict) else value
            elif isinstance(value, dict) and isinstance(held, dict):
                out[key] = merge_stats([held, value])
            elif isinstance(value, int | float) and not isinstance(value, bool) and \
                    isinstance(held, int | float):
                out[key] = held + value
    return out
