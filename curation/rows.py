"""Where a step's rows come from: a stored version, streamed, with a dry run's pending decisions
laid over it; and the context a step may consult (the store, the input version, progress)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson

from gristmill.curation.step import Row, Rows
from gristmill.example import Example
from gristmill.store.db import Store
from gristmill.store.versions import Version, resolve

SOURCE = "_source"  # the meta key that carries the first source's file (or producer) name
# each example's first source (its metadata and name), to LEFT JOIN on `e.key`
FIRST_SOURCE = ("LEFT JOIN (SELECT example_key, arg_min(meta, run_id) AS meta, arg_min(source, "
                "run_id) AS source FROM sources GROUP BY example_key) s ON s.example_key = e.key")


@dataclass
class Overlay:
    """A dry run's decisions so far: stored ids left out, and stored ids shown rewritten."""

    removed: set[str] = field(default_factory=set)
    rewrites: dict[str, Example] = field(default_factory=dict)  # stored id -> current content
    _stored: dict[str, str] = field(default_factory=dict)  # current id -> stored id

    def apply(self, drops: dict, rewrites: dict) -> None:
        for example_id in drops:
            self.removed.add(self._stored.pop(example_id, example_id))
        for old_id, rewrite in rewrites.items():
            stored = self._stored.pop(old_id, old_id)
            self.rewrites[stored] = rewrite.example
            self._stored[rewrite.example.id] = stored


class VersionRows(Rows):
    """A version's members in key order; `meta` adds each example's first source's metadata,
    with the source's name under `SOURCE`."""

    def __init__(self, store: Store, version: Version, overlay: Overlay | None = None,
                 meta: bool = False):
        self.store, self.version, self.meta = store, version, meta
        self.overlay = overlay or Overlay()

    def __len__(self) -> int:
        return self.version.n_examples - len(self.overlay.removed)

    def batches(self, size: int = 2048) -> Iterator[list[Row]]:
        meta_join = FIRST_SOURCE if self.meta else ""
        removed, rewrites = self.overlay.removed, self.overlay.rewrites
        with self.store.read() as con:
            reader = con.cursor().sql(
                f"SELECT e.key, e.id, e.kind, e.payload, {'s.meta, s.source' if self.meta else 'NULL, NULL'} "
                f"FROM members m JOIN examples e ON e.key = m.example_key {meta_join} "
                "WHERE m.version_id = ? ORDER BY m.example_key",
                params=[self.version.version_id],
            ).to_arrow_reader(size)
            for batch in reader:
                rows = []
                columns = (c.to_pylist() for c in batch.columns)
                for key, ex_id, kind, payload, meta, source in zip(*columns, strict=True):
                    if ex_id in removed:
                        continue
                    if ex_id in rewrites:
                        rows.append(Row(None, rewrites[ex_id], meta_of(meta, source)))
                    else:
                        rows.append(make_row(key, ex_id, kind, payload, meta, source))
                if rows:
                    yield rows


def make_row(key: int, ex_id: str, kind: str, payload: str, meta: str | None,
             source: str | None) -> Row:
    """A row from the store's columns: the example's payload JSON, its first source's metadata
    JSON and that source's name."""
    return Row(key, Example(ex_id, kind, orjson.loads(payload), payload.encode()),
               meta_of(meta, source))


def meta_of(meta: str | None, source: str | None) -> dict[str, Any]:
    out = orjson.loads(meta) if meta else {}
    if source is not None:
        out[SOURCE] = source
    return out


@dataclass
class Context:
    """What a step may consult besides its rows. `store` is None for rows held in memory."""

    store: Store | None = None
    version: Version | None = None
    show_progress: bool = False

    def read(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        if self.store is None:
            raise RuntimeError("this step needs a store; run it through `gristmill curate`")
        return self.store.read()

    def resolve(self, ref: str) -> Version:
        with self.read() as con:
            return resolve(con, ref)

    def progress(self, total: int, desc: str) -> Any:
        """A tqdm bar on a TTY, else an object whose `update` and `close` do nothing."""
        if not self.show_progress:
            return nullcontext(_Quiet())
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=" examples", leave=False, mininterval=0.5)


class _Quiet:
    def update(self, n: int = 1) -> None:
        pass
