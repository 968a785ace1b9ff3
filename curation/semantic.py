"""Semantic dedup: examples whose embeddings are close in cosine are one; one survives.

Stages, each inspectable: embeddings (cached in the `embeddings` table), a faiss nearest-neighbour
search, then a greedy pass in keep-policy order: an example is dropped when a neighbour that
already survived is within the threshold, so every drop names a survivor it is itself close to
(no chains of A~B~C that drop C for A).

Templated data (support logs, synthetic sets) defeats cosine alone: two chats about different
orders read alike to a sentence model. `specifics` adds a check that a pair also shares its rare
specific tokens (order numbers, codes, names); see `Specifics`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field

from gristmill.bounds import BatchSize
from gristmill.curation import keep as keeping
from gristmill.curation.embed import DEFAULT_MODEL, FIELDS, embed_rows
from gristmill.curation.exact import cluster_table
from gristmill.curation.step import Decisions, Row, Rows, Step, StepConfig
from gristmill.curation.text import Scope

IndexKind = Literal["auto", "flat", "ivf", "hnsw"]
MARGIN = 8  # candidates searched past the k kept, so the exact rescoring chooses the k


class SemanticDedup(Step):
    name = "semantic_dedup"
    summary = "drop examples whose embedding is within a cosine of a kept one (evidence: kept id, cosine)"

    class Config(StepConfig):
        threshold: float = Field(0.95, gt=0, le=1)  # cosine at or above which two are one
        scope: Scope = "conversation"
        keep: keeping.Keep = "first"
        model: str = DEFAULT_MODEL  # or a local sentence-transformers folder
        specifics: float = Field(0.0, ge=0, le=1)  # min rare-token overlap of a pair; 0 = off
        # candidates per example from the index: templated data crowds alike rows together
        neighbors: int = Field(32, ge=1, le=1024)
        index: IndexKind = "auto"  # auto: exact up to flat_max vectors, IVF past it
        flat_max: int = Field(200_000, ge=1)
        nprobe: int = Field(16, ge=1, le=65_536)  # IVF lists searched per query
        batch_size: BatchSize = 64
        device: str | None = None  # cpu, cuda; None lets the model choose

    def resolved_config(self, ctx) -> dict:
        # subtle: how vectors are computed (device, batch size) is not what they are, so it must
        # not make a finished version look unfinished
        return self.config.model_dump(mode="json", exclude={"device", "batch_size"})

    def needs_meta(self) -> bool:
        return keeping.needs_meta(self.config.keep)

    def run(self, rows: Rows, ctx) -> Decisions:
        c = self.config
        ids: list[str] = []
        keys: list[int | None] = []
        ranks: list[tuple] = []
        text = FIELDS[c.scope]
        specifics = Specifics() if c.specifics > 0 else None

        def visit(row: Row) -> None:  # what the greedy pass needs, not the payloads
            ids.append(row.example.id)
            keys.append(row.key)
            ranks.append(keeping.rank(row, c.keep))
            if specifics is not None:
                specifics.add(text(row.example))

        embedded = embed_rows(rows, ctx, field=c.scope, model=c.model, device=c.device,
                              batch_size=c.batch_size, visit=visit, desc="semantic: embed")
        vectors = embedded.vectors
        sims, nbrs, kind = nearest(vectors, vectors, c.neighbors + 1 + MARGIN, c.index,
                                   c.flat_max, c.nprobe)
        sims, nbrs = best(vectors, vectors, nbrs, c.neighbors + 1)
        agree = None if specifics is None else lambda i, j: specifics.overlap(i, j) >= c.specifics
        pairs = keep_pass(ranks, edge_lists(sims, nbrs, c.threshold), agree)
        decisions = Decisions()
        for i, j, score in pairs:
            reason, message, evidence = removal(ids[j], score, c.scope)
            decisions.drop(ids[i], reason, message, **evidence)
        if embedded.new is not None:
            decisions.tables.append(("embeddings", embedded.new))
        clustered = [(keys[i], keys[j]) for i, j, _ in pairs]
        if clustered and all(a is not None and b is not None for a, b in clustered):
            decisions.tables.append(("clusters", cluster_table(self.name, clustered,
                                                               [s for _, _, s in pairs])))
        decisions.stats.update(embedded=embedded.embedded, cached=embedded.cached, index=kind,
                               clusters=len({j for _, j, _ in pairs}))
        return decisions


def nearest(base: np.ndarray, queries: np.ndarray, k: int, index: IndexKind = "auto",
            flat_max: int = 200_000, nprobe: int = 16) -> tuple[np.ndarray, np.ndarray, str]:
    """For each query its k most similar base rows by inner product: (sims, ids, index kind).
    Missing neighbours (k > len(base), or an approximate index's empty lists) have id -1."""
    import faiss

    n, dim = base.shape
    kind = ("flat" if n <= flat_max else "ivf") if index == "auto" else index
    k = min(k, n)
    if n == 0 or k == 0:
        return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64), kind
    if kind == "flat":
        ix = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        ix = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        ix.hnsw.efSearch = max(64, 2 * k)
    else:
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))  # faiss wants >= 39 points a list
        ix = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = base[np.random.default_rng(0).choice(n, min(n, nlist * 64), replace=False)]
        ix.train(sample)
        ix.nprobe = min(nprobe, nlist)
    ix.add(base)
    sims, ids = ix.search(queries, k)
    return sims, ids, kind


def removal(kept_id: str, cosine: float, scope: str) -> tuple[str, str, dict]:
    """The removal record of a semantic duplicate (reason, message, evidence), which both
    engines write."""
    return ("semantic_duplicate", f"cosine {cosine:.3f} to {kept_id[:12]} ({scope})",
            {"kept_id": kept_id, "cosine": round(cosine, 4), "scope": scope})


def best(queries: np.ndarray, base: np.ndarray, nbrs: np.ndarray, k: int,
         ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each query's candidates by a cosine recomputed in float64, ties to the
    lower id. An index's float32 scores differ in their last bits with the shape of the search
    (one index or shards of it), so decisions rest on this exact score instead: any engine that
    finds the same candidates decides the same. `ids` names base rows (default: positions)."""
    found = nbrs >= 0
    rows, cols = np.nonzero(found)
    at = nbrs[rows, cols]
    exact = np.full(nbrs.shape, -np.inf)
    exact[rows, cols] = np.einsum("ij,ij->i", queries[rows].astype(np.float64),
                                  base[at].astype(np.float64))
    named = np.where(found, nbrs if ids is None else ids[np.maximum(nbrs, 0)], np.iinfo(np.int64).max)
    order = np.lexsort((named, -exact), axis=1)[:, :k]
    sims = np.take_along_axis(exact, order, 1)
    return sims, np.where(np.isfinite(sims), np.take_along_axis(named, order, 1), -1)


def edge_lists(sims: np.ndarray, nbrs: np.ndarray, threshold: float,
               rows: np.ndarray | None = None) -> dict[int, list[tuple[float, int]]]:
    """Each row's neighbours at or above `threshold` as (cosine, neighbour); kNN is not
    symmetric, so each edge is offered to both ends. `rows` names the query rows (default:
    positions)."""
    edges: dict[int, list[tuple[float, int]]] = {}
    for i, col in zip(*np.nonzero((sims >= threshold) & (nbrs >= 0)), strict=True):
        a, b = int(i if rows is None else rows[i]), int(nbrs[i, col])
        if a != b:
            s = float(sims[i, col])
            edges.setdefault(a, []).append((s, b))
            edges.setdefault(b, []).append((s, a))
    return edges


def keep_pass(ranks, edges: dict[int, list[tuple[float, int]]],
              agree: Callable[[int, int], bool] | None = None) -> list[tuple[int, int, float]]:
    """(dropped, kept, cosine): rows visited best rank first (`ranks[row]`), each dropped for
    its most similar already-kept neighbour that it `agree`s with. A row's fate depends only on
    its connected component, so components may be passed one at a time."""
    kept: set[int] = set()
    pairs = []
    for i in sorted(edges, key=ranks.__getitem__):
        match = next(((s, j) for s, j in sorted(edges[i], reverse=True)
                      if j in kept and (agree is None or agree(i, j))), None)
        if match is None:
            kept.add(i)
        else:
            pairs.append((i, match[1], match[0]))
    return pairs


class Specifics:
    """Rare specific tokens (with a digit, or capitalized inside a sentence and longer than two
    letters: order numbers, prices, error codes, product and person names) and how much of their
    weight two rows share.

    Weights are squared inverse document frequencies over the rows added, so a shared shop name
    counts for little and a shared order number for a lot; two rows with no specifics agree."""

    _SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")
    _TOKEN = re.compile(r"[\w$][\w.\-/$]*\w|\w")

    def __init__(self) -> None:
        self.df: Counter[str] = Counter()
        self.rows: list[frozenset[str]] = []

    @classmethod
    def tokens(cls, text: str) -> frozenset[str]:
        out = set()
        for sentence in cls._SENTENCE.split(text):
            for pos, word in enumerate(cls._TOKEN.findall(sentence)):
                # subtle: two capitals are mostly an abbreviation (PO box, US), not a name
                if any(ch.isdigit() for ch in word) or (pos > 0 and word[0].isupper() and len(word) > 2):
                    out.add(word.casefold())
        return frozenset(out)

    def add(self, text: str) -> None:
        tokens = self.tokens(text)
        self.df.update(tokens)
        self.rows.append(tokens)

    def weight(self, token: str) -> float:
        return weight(len(self.rows), self.df[token])

    def overlap(self, i: int, j: int) -> float:
        """Weighted Jaccard of rows i and j (by position added)."""
        return overlap(self.rows[i], self.rows[j], self.weight)


def weight(n_rows: int, df: int) -> float:
    return math.log(n_rows / df) ** 2


def overlap(a: frozenset[str], b: frozenset[str], weigh: Callable[[str], float]) -> float:
    """Weighted Jaccard of two token sets; two sets with no weight agree. Summed in sorted
    order, so the float is the same in every process."""
    union = sum(weigh(t) for t in sorted(a | b))
    return 1.0 if union == 0 else sum(weigh(t) for t in sorted(a & b)) / union
