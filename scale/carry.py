"""What a step's decisions do to the rows on the cluster: fetched to the driver in key order,
the keys the store will give rewritten examples (predicted, as the commit will assign them, so
later steps rank rows as the single-process runner does), and the partitions after the step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import ray

from gristmill.curation.rows import FIRST_SOURCE
from gristmill.curation.step import Step
from gristmill.example import Example
from gristmill.scale.parts import DROPS, REWRITES, SCHEMA, empty, home, removal_table
from gristmill.scale.result import Result
from gristmill.scale.tasks import Frame, call, concat
from gristmill.store.db import Store


@dataclass
class Planned:
    """One step's decisions, ready to commit, and what the cluster's rows became."""

    step: Step
    config: dict
    removals: pa.Table  # id, reason, message, evidence, in key order
    removed: np.ndarray  # their keys
    rewrites: Frame  # in old key order
    new_keys: dict[int, int]  # old key -> the key its rewrite gets
    stored: dict[str, tuple[str | None, str | None]]  # rewritten ids already stored: meta, source
    splits: pa.Table | None
    tables: list[tuple[str, pa.Table]]
    stats: dict[str, Any] = field(default_factory=dict)
    n_rows: int = 0  # members after the step

    @property
    def transforms(self) -> list[tuple[str, Example, dict]]:
        f = self.rewrites
        return [(old, Example(i, kind, orjson.loads(p), p.encode()), orjson.loads(ev))
                for old, i, kind, p, ev in zip(f["old_id"], f["id"], f["kind"], f["payload"],
                                               f["evidence"], strict=True)]


class Keys:
    """The keys the store will give new examples: an id it holds keeps its key, a new one gets
    the highest key so far plus its place among the step's transforms."""

    def __init__(self, store: Store):
        self.store = store
        with store.read() as con:
            (self.base,) = con.execute("SELECT coalesce(max(key), 0) FROM examples").fetchone()
        self.made: dict[str, int] = {}  # ids this run will insert

    def assign(self, ids: list[str]) -> tuple[list[int], dict[str, tuple[str | None, str | None]]]:
        """Each id's key, and the stored metadata (meta, source) of the ids already stored."""
        with self.store.read() as con:
            con = con.cursor()
            con.register("_ids", pa.table({"id": pa.array(ids, pa.string())}))
            held = con.execute(
                "SELECT e.id, e.key, s.meta, s.source FROM (SELECT DISTINCT id FROM _ids) i "
                f"JOIN examples e ON e.id = i.id {FIRST_SOURCE}").fetchall()
        stored = {i: k for i, k, _, _ in held}
        meta = {i: (m, s) for i, _, m, s in held}
        out, top = [], self.base
        for ordinal, ex_id in enumerate(ids, 1):
            key = stored.get(ex_id) or self.made.get(ex_id)
            if key is None:
                key = self.made[ex_id] = self.base + ordinal
                top = max(top, key)
            out.append(key)
        self.base = top
        return out, meta


def settle(step: Step, config: dict, result: Result, keys: Keys) -> Planned:
    """Fetch a step's decisions to the driver, in key order, with the keys of its rewrites."""
    rewrites = concat(ray.get(result.rewrites), empty(REWRITES))
    order = np.argsort(rewrites["old_key"], kind="stable")
    rewrites = {k: v[order] for k, v in rewrites.items()}
    assigned, stored = keys.assign(rewrites["id"].tolist())
    drops = concat(ray.get(result.drops), empty(DROPS))
    splits = None
    if result.splits is not None:
        f = concat(ray.get(result.splits))
        splits = pa.table({"id": pa.array(f["id"].tolist(), pa.string()),
                           "split": pa.array(f["split"].tolist(), pa.string())})
    tables = [(name, pa.concat_tables(ray.get(refs))) for name, refs in result.tables]
    return Planned(step, config, removal_table([drops]), np.sort(drops["key"]), rewrites,
                   dict(zip(rewrites["old_key"].tolist(), assigned, strict=True)), stored,
                   splits, [(name, t) for name, t in tables if t.num_rows])


def advance(parts: list, plan: Planned, n: int) -> list:
    """The rows after a step: without its drops and rewritten rows, with the new content at its
    home, one copy of each key."""
    gone = np.union1d(plan.removed, np.array(list(plan.new_keys), np.int64))
    new = _new_rows(plan)
    where_gone = home(gone, n)
    where_new = home(new.column("key").to_numpy(), n)
    return [call(_next_part, part, gone[where_gone == i], new.filter(pa.array(where_new == i)))
            for i, part in enumerate(parts)]


def _new_rows(plan: Planned) -> pa.Table:
    f = plan.rewrites
    keys = [plan.new_keys[k] for k in f["old_key"].tolist()]
    meta = [plan.stored.get(i, (None, None)) for i in f["id"].tolist()]
    return pa.table({"key": pa.array(keys, pa.int64()), "id": pa.array(f["id"].tolist()),
                     "kind": pa.array(f["kind"].tolist()),
                     "payload": pa.array(f["payload"].tolist()),
                     "meta": pa.array([m for m, _ in meta], pa.string()),
                     "source": pa.array([s for _, s in meta], pa.string())}, schema=SCHEMA)


def _next_part(part: pa.Table, gone: np.ndarray, new: pa.Table) -> pa.Table:
    keys = part.column("key").to_numpy()
    kept = part.filter(pa.array(~np.isin(keys, gone)))
    if new.num_rows:
        new_keys = new.column("key").to_numpy()
        _, first = np.unique(new_keys, return_index=True)
        first = np.sort(first)
        fresh = first[~np.isin(new_keys[first], kept.column("key").to_numpy())]
        kept = pa.concat_tables([kept, new.take(pa.array(fresh))])
    return kept.sort_by("key")
