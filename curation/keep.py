"""Which member of a duplicate cluster survives: the first seen, the longest, a human-written one
over a synthetic one, or the one with the highest quality score in its source metadata."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Literal

from gristmill.curation.step import Row

Keep = Literal["first", "longest", "human", "quality"]
_UNSTORED = 1 << 62  # a dry run's rewritten rows sort after stored ones


def needs_meta(policy: Keep) -> bool:
    return policy in ("human", "quality")


def rank(row: Row, policy: Keep) -> tuple:
    """Lower ranks win; ties go to the first seen (the lowest key)."""
    first = row.key if row.key is not None else _UNSTORED
    if policy == "longest":
        return (-len(row.example.canonical), first)
    if policy == "human":
        return (synthetic(row.meta), first)
    if policy == "quality":
        score = quality(row.meta)
        return (score is None, -(score or 0.0), first)
    return (first,)


def winners(groups: Iterable[Hashable], ranks: Sequence[tuple]) -> dict[Hashable, int]:
    """Each group's survivor: the position with the lowest rank, the earlier one on ties."""
    best: dict[Hashable, int] = {}
    for i, (group, r) in enumerate(zip(groups, ranks, strict=True)):
        if group not in best or r < ranks[best[group]]:
            best[group] = i
    return best


def synthetic(meta: dict) -> bool:
    """Marked synthetic by a tag or a record key `origin`, or produced by a synth run."""
    tags = meta.get("tags") or {}
    origin = tags.get("origin", meta.get("origin"))
    return str(origin).lower() in ("synthetic", "synth", "generated")


def quality(meta: dict) -> float | None:
    tags = meta.get("tags") or {}
    for value in (meta.get("quality"), tags.get("quality"), meta.get("score"), tags.get("score")):
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None
