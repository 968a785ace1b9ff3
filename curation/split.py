"""Deterministic train / val / test splits by the hash of a group key.

Examples that share a group (a conversation, a user, a source file) and examples that share a
prompt (a duplicate cluster dedup left behind) are joined into one group first, so no group
straddles two splits. Groups are ordered by a seeded hash and cut at the fractions, within each
label when the split is stratified; the same input and config give the same split every time.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import model_validator

from gristmill.bounds import Fraction, Seed
from gristmill.curation.rows import SOURCE
from gristmill.curation.step import Decisions, Row, Rows, Step, StepConfig
from gristmill.curation.text import normalize, render

SPLITS = ("train", "val", "test")
_SAME = ("nfkc", "case", "whitespace")  # prompts equal under this are one group
GROUP_KEYS = {  # where each group key is looked for in an example's source metadata
    "user": ("user", "user_id", "session_id"),
    "conversation": ("conversation", "conversation_id", "thread_id"),
}


class Split(Step):
    name = "split"
    summary = "assign train / val / test by the hash of a group key; groups never straddle splits"

    class Config(StepConfig):
        train: Fraction = 0.8
        val: Fraction = 0.1
        test: Fraction = 0.1
        group_by: Literal["conversation", "user", "source", "time"] = "conversation"
        time_key: str = "timestamp"  # with group_by time: a metadata key holding an ISO time
        time_cutoff: str | None = None  # with group_by time: examples from here on are test
        stratify_by: str | None = None  # a metadata key holding a label
        seed: Seed = 0

        @model_validator(mode="after")
        def _check(self):
            if min(self.train, self.val, self.test) < 0 or abs(self.train + self.val + self.test
                                                              - 1) > 1e-9:
                raise ValueError("train, val and test are fractions that add up to 1")
            if self.group_by == "time" and not self.time_cutoff:
                raise ValueError("group_by time needs time_cutoff (an ISO date or time)")
            return self

    def needs_meta(self) -> bool:
        return True

    def run(self, rows: Rows, ctx) -> Decisions:
        c = self.config
        groups = _Groups()
        labels: dict[str, str] = {}
        later: set[str] = set()  # with group_by time: on or after the cut-off
        cutoff = datetime.fromisoformat(c.time_cutoff) if c.time_cutoff else None
        for row in rows:
            ex_id = row.example.id
            groups.join(ex_id, "g:" + self.group_of(row))
            groups.join(ex_id, "p:" + normalize(render(row.example, "prompt"), _SAME))
            if c.stratify_by:
                labels[ex_id] = str(meta_value(row, (c.stratify_by,)))
            if cutoff is not None and _after(row, c.time_key, cutoff):
                later.add(ex_id)
        components = groups.components()
        splits = self.assign(components, labels, later)
        decisions = Decisions(splits=splits)
        decisions.stats["splits"] = {s: sum(1 for v in splits.values() if v == s) for s in SPLITS}
        decisions.stats["groups"] = len(set(components.values()))
        return decisions

    def group_of(self, row: Row) -> str:
        by = self.config.group_by
        if by == "source":
            return str(row.meta.get(SOURCE, row.example.id))
        value = meta_value(row, GROUP_KEYS.get(by, ()))
        return row.example.id if value is None else f"{by}:{value}"

    def assign(self, group_of: dict[str, str], labels: dict[str, str],
               later: set[str]) -> dict[str, str]:
        c = self.config
        members: dict[str, list[str]] = {}
        for ex_id, group in group_of.items():
            members.setdefault(group, []).append(ex_id)
        strata: dict[tuple, list[str]] = {}
        for group, ids in members.items():
            # subtle: a group lands in test whole if any member is past the cut-off
            stratum = (any(i in later for i in ids), labels.get(min(ids), ""))
            strata.setdefault(stratum, []).append(group)
        splits: dict[str, str] = {}
        for (is_later, _), groups in strata.items():
            groups.sort(key=lambda g: hashlib.sha256(f"{c.seed}:{g}".encode()).digest())
            if is_later:
                splits.update({i: "test" for g in groups for i in members[g]})
                continue
            total, done = sum(len(members[g]) for g in groups), 0
            fractions = (c.train, c.val) if c.time_cutoff else (c.train, c.val, c.test)
            bounds = _bounds(fractions, total)
            for g in groups:
                split = next((SPLITS[k] for k, b in enumerate(bounds) if done < b), "test")
                splits.update({i: split for i in members[g]})
                done += len(members[g])
        return splits


def _bounds(fractions: tuple[float, ...], total: int) -> list[float]:
    scale = sum(fractions)
    bounds, acc = [], 0.0
    for f in fractions:
        acc += f / scale
        bounds.append(acc * total)
    return bounds


def meta_value(row: Row, keys: tuple[str, ...]):
    tags = row.meta.get("tags") or {}
    for key in keys:
        for where in (row.meta, tags):
            if where.get(key) is not None:
                return where[key]
    return None


def _after(row: Row, key: str, cutoff: datetime) -> bool:
    value = meta_value(row, (key,))
    try:
        return value is not None and datetime.fromisoformat(str(value)) >= cutoff
    except (TypeError, ValueError):  # not a time, or one with a zone against one without
        return False


class _Groups:
    """Union-find over example ids and the keys they share."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while (up := self.parent.setdefault(root, root)) != root:
            root = up
        while x != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def components(self) -> dict[str, str]:
        """Each example id (64 hex characters) -> its group's root."""
        return {x: self.find(x) for x in list(self.parent) if len(x) == 64 and ":" not in x}
