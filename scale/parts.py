"""Partitions of a version as Arrow tables, and the frames a step's decisions travel in.

A row lives in the partition `home(key)`: any task that needs a row by its key (to verify a
pair, to join a label) knows where to find it. Partitions are written and read as Parquet
through pyarrow's filesystem layer (the one Ray Data uses), so a work folder may be a local
path or an `s3://`-style URI.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from gristmill.curation.rows import make_row
from gristmill.curation.step import Decisions, Row
from gristmill.scale.tasks import Frame, bucket, concat, objects

SCHEMA = pa.schema([("key", pa.int64()), ("id", pa.string()), ("kind", pa.string()),
                    ("payload", pa.string()), ("meta", pa.string()), ("source", pa.string())])
DROPS = ("key", "id", "reason", "message", "evidence")
REWRITES = ("old_key", "old_id", "id", "kind", "payload", "evidence")


def home(keys: np.ndarray, n: int) -> np.ndarray:
    return bucket(keys, n)


def rows_of(part: pa.Table) -> list[Row]:
    columns = [part.column(name).to_pylist() for name in SCHEMA.names]
    return [make_row(*values) for values in zip(*columns, strict=True)]


def row_count(part: pa.Table) -> int:
    return part.num_rows


def keys_of(part: pa.Table) -> np.ndarray:
    return part.column("key").to_numpy()


def empty(columns: tuple[str, ...]) -> Frame:
    return {c: np.empty(0, np.int64 if c.endswith("key") else object) for c in columns}


def drops_frame(decisions: Decisions, key_of: dict[str, int]) -> Frame:
    return drops_of([(key_of[i], i, d.reason, d.message, d.evidence)
                     for i, d in decisions.drops.items()])


def drops_of(items: list[tuple[int, str, str, str, dict[str, Any]]]) -> Frame:
    """A drops frame from (key, id, reason, message, evidence) tuples."""
    if not items:
        return empty(DROPS)
    keys, ids, reasons, messages, evidence = zip(*items, strict=True)
    return {"key": np.array(keys, np.int64), "id": objects(ids), "reason": objects(reasons),
            "message": objects(messages),
            "evidence": objects([orjson.dumps(e).decode() for e in evidence])}


def rewrites_frame(decisions: Decisions, key_of: dict[str, int]) -> Frame:
    rewrites = decisions.rewrites
    if not rewrites:
        return empty(REWRITES)
    new = [r.example for r in rewrites.values()]
    return {"old_key": np.array([key_of[i] for i in rewrites], np.int64),
            "old_id": objects(list(rewrites)), "id": objects([e.id for e in new]),
            "kind": objects([e.kind for e in new]),
            "payload": objects([e.canonical.decode() for e in new]),
            "evidence": objects([orjson.dumps(r.evidence).decode() for r in rewrites.values()])}


def removal_table(frames: list[Frame]) -> pa.Table:
    """What `commit_child` takes as removals, in key order."""
    f = concat(frames, empty(DROPS))
    order = np.argsort(f["key"], kind="stable")
    return pa.table({c: pa.array(f[c][order].tolist(), pa.string()) for c in DROPS[1:]})


def table_of(frame: Frame, schema: pa.Schema = SCHEMA) -> pa.Table:
    return pa.table({f.name: pa.array(frame[f.name].tolist(), f.type) for f in schema})
