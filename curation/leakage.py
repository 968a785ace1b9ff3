"""Eval-set leakage: training examples that match an evaluation item are removed from training,
never from the eval set.

Methods, tried in order, the first match wins: the same normalized question (exact), a shared
13-gram run (ngram), close word shingles (minhash), and a close meaning (embedding). Questions are
compared, not answers: the eval answers are what the model should learn to produce, and a
question reworded keeps its meaning while losing its words. Paraphrases sit well below the cosine
semantic dedup uses, so the embedding method pairs a lower cosine with `Specifics`: a reworded
question keeps its product names and numbers, a different question about the same kind of thing
does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from gristmill.bounds import BatchSize
from gristmill.curation.embed import DEFAULT_MODEL, embed_rows
from gristmill.curation.leak_match import METHODS, LexicalIndex, Match, Method
from gristmill.curation.rows import Context, VersionRows
from gristmill.curation.semantic import MARGIN, Specifics, best, nearest
from gristmill.curation.step import Decisions, Row, Rows, Step, StepConfig
from gristmill.curation.text import Normalization, content, first_user
from gristmill.store.db import Store
from gristmill.store.versions import Version

FIELD = "first_user"  # what the embedding method compares, on both sides
SHOWN = 200  # characters of each question a report shows


@dataclass(frozen=True)
class Leak:
    train_id: str
    eval_id: str
    eval_ref: str
    method: Method
    score: float
    train_text: str
    eval_text: str


@dataclass
class Scan:
    leaks: list[Leak]
    n_train: int
    n_eval: int
    tables: list[tuple[str, Any]] = field(default_factory=list)  # new embeddings, for a step
    stats: dict[str, Any] = field(default_factory=dict)


class LeakageStep(Step):
    name = "leakage"
    summary = "drop training examples that match an eval item (exact, n-gram, MinHash, embedding)"

    class Config(StepConfig):
        against: tuple[str, ...] = Field(min_length=1)  # eval refs; pinned to NAME@N when run
        methods: tuple[Method, ...] = METHODS
        normalize: tuple[Normalization, ...] = ("nfkc", "case", "punctuation", "whitespace")
        ngram: int = Field(13, ge=1, le=100)  # words per n-gram
        ngram_overlap: float = Field(0.5, gt=0, le=1)  # share of the eval question's n-grams
        shingle: int = Field(3, ge=1, le=64)  # words per MinHash shingle
        num_perm: int = Field(128, ge=16, le=1024)
        jaccard: float = Field(0.6, gt=0, le=1)  # MinHash estimate at or above which two match
        cosine: float = Field(0.68, gt=0, le=1)  # embedding similarity of the two questions
        specifics: float = Field(0.9, ge=0, le=1)  # rare-token overlap the embedding match needs
        model: str = DEFAULT_MODEL
        batch_size: BatchSize = 64
        device: str | None = None

        @field_validator("against", mode="before")
        @classmethod
        def _one_or_many(cls, value: Any) -> Any:
            return (value,) if isinstance(value, str) else value  # `--set against=golden`

    def resolved_config(self, ctx: Context) -> dict[str, Any]:
        config = self.config.model_dump(mode="json", exclude={"device", "batch_size"})
        return config | {"against": [v.ref for v in self.pinned(ctx)]}

    def pinned(self, ctx: Context) -> list[Version]:
        return [ctx.resolve(ref) for ref in self.config.against]

    def run(self, rows: Rows, ctx: Context) -> Decisions:
        scan = scan_rows(rows, ctx, self.config, self.pinned(ctx))
        decisions = Decisions(tables=scan.tables, stats=scan.stats)
        for leak in scan.leaks:
            reason, message, evidence = removal(leak.method, leak.score, leak.eval_ref,
                                                leak.eval_id)
            decisions.drop(leak.train_id, reason, message, **evidence)
        return decisions


def removal(method: str, score: float, eval_ref: str, eval_id: str) -> tuple[str, str, dict]:
    """The removal record of a training example that leaks an eval item (reason, message,
    evidence), which both engines write."""
    return ("eval_leak", f"{method} match ({score:.3f}) to {eval_ref} item {eval_id[:12]}",
            {"eval_id": eval_id, "eval_ref": eval_ref, "method": method, "score": score})


def find_leaks(store: Store, train_ref: str, against: list[str], settings: dict[str, Any] | None = None,
               progress: bool = False) -> Scan:
    """The library call behind `gristmill leakage`: reads only, so vectors it computes are
    not stored (a `leakage` step in a recipe stores them)."""
    config = LeakageStep.Config(against=tuple(against), **(settings or {}))
    ctx = Context(store, show_progress=progress)
    ctx.version = ctx.resolve(train_ref)
    evals = [ctx.resolve(ref) for ref in against]
    return scan_rows(VersionRows(store, ctx.version), ctx, config, evals)


def scan_rows(rows: Rows, ctx: Context, c: LeakageStep.Config, evals: list[Version]) -> Scan:
    """Match every training row against the eval versions' items."""
    items: dict[str, tuple[Row, str]] = {}  # eval id -> (row, ref): one item in two sets is one
    for version in evals:
        for row in VersionRows(ctx.store, version):
            items.setdefault(row.example.id, (row, version.ref))
    eval_rows = [r for r, _ in items.values()]
    questions = [first_user(r.example) for r in eval_rows]
    index = LexicalIndex(questions, tuple(m for m in c.methods if m != "embedding"), c.normalize,
                         c.ngram, c.ngram_overlap, c.shingle, c.num_perm, c.jaccard)
    use_vectors = "embedding" in c.methods
    specifics = Specifics() if use_vectors and c.specifics > 0 else None
    ids: list[str] = []
    shown: list[str] = []
    found: dict[int, Match] = {}

    def visit(row: Row) -> None:
        question = first_user(row.example)
        if (match := index.match(question, content(row.example))) is not None:
            found[len(ids)] = match
        ids.append(row.example.id)
        shown.append(question[:SHOWN])
        if specifics is not None:
            specifics.add(question)

    tables, stats = [], {}
    if use_vectors:
        train = embed_rows(rows, ctx, field=FIELD, model=c.model, device=c.device,
                           batch_size=c.batch_size, visit=visit, desc="leakage: embed training")
        held = eval_vectors(ctx, evals, items, c)
        new = [t for t in (train.new, held.new) if t is not None]
        tables = [("embeddings", unique_keys(new))] if new else []
        stats = {"embedded": train.embedded + held.embedded, "cached": train.cached + held.cached}
        _embedding_matches(found, train.vectors, held.vectors, questions, specifics, c)
    else:
        with ctx.progress(len(rows), "leakage") as bar:
            for batch in rows.batches():
                for row in batch:
                    visit(row)
                bar.update(len(batch))
    leaks = []
    for i, m in sorted(found.items()):
        row, ref = eval_rows[m.eval], items[eval_rows[m.eval].example.id][1]
        leaks.append(Leak(ids[i], row.example.id, ref, m.method, m.score, shown[i],
                          questions[m.eval][:SHOWN]))
    methods = {m: sum(1 for x in leaks if x.method == m) for m in c.methods}
    stats |= {"eval_items": len(eval_rows), "leaks": methods}
    return Scan(leaks, len(ids), len(eval_rows), tables, stats)


@dataclass
class _Held:
    vectors: np.ndarray
    new: Any
    embedded: int
    cached: int


def eval_vectors(ctx: Context, evals: list[Version], items: dict, c: LeakageStep.Config) -> _Held:
    """Vectors of the eval questions, in the order of `items`, each read from or cached for the
    version it came from."""
    import pyarrow as pa

    from gristmill.curation.step import ListRows

    parts, new, embedded, cached = {}, [], 0, 0
    for version in evals:
        rows = [r for r, ref in items.values() if ref == version.ref]
        got = embed_rows(ListRows(rows), ctx, field=FIELD, model=c.model, device=c.device,
                         batch_size=c.batch_size, version_id=version.version_id,
                         desc=f"leakage: embed {version.ref}")
        parts |= {r.example.id: v for r, v in zip(rows, got.vectors, strict=True)}
        new += [got.new] if got.new is not None else []
        embedded, cached = embedded + got.embedded, cached + got.cached
    vectors = np.stack([parts[i] for i in items]) if items else np.empty((0, 1), np.float32)
    return _Held(vectors, pa.concat_tables(new) if new else None, embedded, cached)


def _embedding_matches(found: dict[int, Match], train: np.ndarray, held: np.ndarray,
                       questions: list[str], specifics: Specifics | None, c: LeakageStep.Config) -> None:
    """Add an embedding match for each training row no lexical method matched."""
    if len(held) == 0 or len(train) == 0:
        return
    _, nbrs, _ = nearest(held, train, 1 + MARGIN)
    sims, nbrs = best(train, held, nbrs, 1)
    n_train = len(train)
    if specifics is not None:
        for q in questions:
            specifics.add(q)
    for i in np.nonzero(sims[:, 0] >= c.cosine)[0]:
        i, j = int(i), int(nbrs[i, 0])
        if i in found or j < 0:
            continue
        if specifics is None or specifics.overlap(i, n_train + j) >= c.specifics:
            found[i] = Match(j, "embedding", round(float(sims[i, 0]), 4))


def unique_keys(tables: list[Any]) -> Any:
    """One vector per example key: an item in both the training and the eval set is embedded
    on both sides."""
    import pyarrow as pa

    table = pa.concat_tables(tables)
    _, first = np.unique(table.column("example_key").to_numpy(), return_index=True)
    return table.take(pa.array(np.sort(first))) if len(first) < table.num_rows else table
