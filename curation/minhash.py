"""MinHash near dedup: examples whose shingle sets overlap by at least a Jaccard threshold are one
cluster; one survives by the keep policy, the rest are dropped with the survivor's id and their
Jaccard to it.

Stages, each inspectable: signatures (stored in the `signatures` table by example and shingling
config, so another threshold or a child version reuses them), LSH bands to candidate pairs,
pairs verified by the true Jaccard of their shingle sets, union-find clusters (stored in the
`clusters` table with the Jaccard to the survivor as score).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from gristmill.bounds import Seed, Workers
from gristmill.curation import keep as keeping
from gristmill.curation.clusters import (
    candidate_pairs,
    components,
    estimated_jaccard,
    jaccard,
    lsh_params,
    shingle_sets,
)
from gristmill.curation.exact import cluster_table
from gristmill.curation.rows import Context
from gristmill.curation.signatures import SCHEME, Shingle, Shingling, sign_all
from gristmill.curation.step import Decisions, Rows, Step, StepConfig
from gristmill.curation.text import Normalization, Scope, normalize, render
from gristmill.store.versions import config_hash

PARALLEL_MIN = 20_000  # fewer signatures to compute than this are not worth forking for


class MinHashDedup(Step):
    name = "minhash_dedup"
    summary = "drop near duplicates by MinHash LSH and Jaccard (evidence: the kept id, the Jaccard)"

    class Config(StepConfig):
        threshold: float = Field(0.7, gt=0.0, le=1.0)
        shingle: Shingle = "word"
        size: int = Field(3, ge=1, le=64)  # 3 words: a typo in a short chat moves 5-grams too far
        num_perm: int = Field(128, ge=2, le=1024)
        seed: Seed = 1
        bands: int | None = Field(None, ge=1, le=1024)  # with rows: instead of datasketch's optimum
        rows: int | None = Field(None, ge=1, le=1024)
        verify: bool = True  # candidate pairs must reach the threshold by true Jaccard
        # how much a missed pair weighs against a false candidate when choosing bands and rows;
        # by default 0.99 with verify (which removes the false candidates it lets in), else 0.5
        recall_weight: float | None = Field(None, ge=0.0, le=1.0)
        normalize: tuple[Normalization, ...] = ("nfkc", "case", "punctuation", "whitespace")
        scope: Scope = "conversation"
        keep: keeping.Keep = "first"
        workers: Workers = Field(default_factory=lambda: os.cpu_count() or 1)

        @model_validator(mode="after")
        def _banding(self):
            if (self.bands is None) != (self.rows is None):
                raise ValueError("set both bands and rows, or neither")
            if self.bands is not None and self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands x rows ({self.bands} x {self.rows}) exceeds num_perm "
                                 f"({self.num_perm})")
            return self

    def needs_meta(self) -> bool:
        return keeping.needs_meta(self.config.keep)

    def resolved_config(self, ctx: Context) -> dict[str, Any]:
        # subtle: workers change the speed, never the result, so a re-run with other workers
        # reuses the committed version
        return self.config.model_dump(mode="json", exclude={"workers"})

    def prepare(self, text: str) -> str:
        return normalize(text, self.config.normalize)

    @property
    def shingling(self) -> Shingling:
        c = self.config
        return Shingling(c.shingle, c.size, c.num_perm, c.seed)

    def banding(self) -> tuple[int, int]:
        """(bands, rows per band): as configured, or the LSH parameters for the threshold,
        weighted to recall when pairs are verified afterwards."""
        c = self.config
        if c.bands:
            return c.bands, c.rows
        return lsh_params(c.threshold, c.num_perm, c.recall_weight if c.recall_weight is not None
                          else 0.99 if c.verify else 0.5)

    def signature_hash(self) -> str:
        """What a stored signature depends on: the text it was computed from and how."""
        c = self.config
        return config_hash({"scheme": SCHEME, "scope": c.scope, "normalize": list(c.normalize),
                            "shingle": c.shingle, "size": c.size, "num_perm": c.num_perm,
                            "seed": c.seed})

    def run(self, rows: Rows, ctx: Context | None) -> Decisions:
        c = self.config
        ctx = ctx or Context()  # rows held in memory need no store
        keys, ids, ranks, texts = [], [], [], []  # texts stay in memory for verification
        for batch in rows.batches():
            for row in batch:
                keys.append(-1 if row.key is None else row.key)
                ids.append(row.example.id)
                ranks.append(keeping.rank(row, c.keep))
                texts.append(render(row.example, c.scope))
        keys_array = np.array(keys, np.int64)
        sigs, todo = self._signatures(ctx, keys_array, texts)
        bands, band_rows = self.banding()
        pairs = candidate_pairs(sigs, bands, band_rows)
        edges, similarity = self._verify(pairs, sigs, texts)
        decisions, clustered, scores = Decisions(), [], []
        groups = components(edges)
        for group in groups.values():
            kept = min(group, key=ranks.__getitem__)
            for i in (i for i in group if i != kept):
                s = round(similarity(i, kept), 4)
                reason, message, evidence = removal(ids[kept], s)
                decisions.drop(ids[i], reason, message, **evidence)
                clustered.append((keys[i], keys[kept]))
                scores.append(s)
        stored = todo[keys_array[todo] >= 0]  # subtle: a dry run's rewritten rows are not cached
        if len(stored):
            decisions.tables.append(("signatures", self._signature_table(
                keys_array[stored], sigs[stored])))
        if clustered and all(a >= 0 and b >= 0 for a, b in clustered):
            decisions.tables.append(("clusters", cluster_table(self.name, clustered, scores)))
        decisions.stats.update(
            signatures_computed=len(todo), signatures_reused=len(keys) - len(todo), bands=bands,
            rows=band_rows, candidate_pairs=len(pairs), edges=len(edges), clusters=len(groups))
        return decisions

    def _signatures(self, ctx: Context, keys: np.ndarray, texts: list[str],
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Every row's signature, stored or computed, and the rows computed now."""
        sigs, found = self._stored(ctx, keys)
        todo = np.flatnonzero(~found)
        workers = self.config.workers if len(todo) >= PARALLEL_MIN else 1
        with ctx.progress(len(todo), "minhash signatures") as bar:
            sigs[todo] = sign_all([texts[i] for i in todo], self.shingling, self.prepare,
                                  workers, on_batch=bar.update)
        return sigs, todo

    def _verify(self, pairs: np.ndarray, sigs: np.ndarray, texts: list[str],
                ) -> tuple[np.ndarray, Callable[[int, int], float]]:
        """The pairs that are edges of a cluster, and how similar two rows are: the true Jaccard
        of their shingle sets, or the signatures' estimate when verification is off."""
        if not self.config.verify:
            return pairs, lambda i, j: float(estimated_jaccard(sigs, np.array([[i, j]]))[0])
        members = np.unique(pairs).tolist()
        texts = [self.prepare(texts[i]) for i in members]
        sets = dict(zip(members, shingle_sets(texts, self.shingling), strict=True))
        score = np.array([jaccard(sets[i], sets[j]) for i, j in pairs.tolist()])
        edges = pairs[score >= self.config.threshold] if len(pairs) else pairs
        return edges, lambda i, j: jaccard(sets[i], sets[j])

    def _stored(self, ctx: Context, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signatures stored for these keys under this config, and which rows have one."""
        sigs = np.empty((len(keys), self.config.num_perm), np.uint32)
        found = np.zeros(len(keys), bool)
        if ctx.store is None or ctx.version is None or not len(keys):
            return sigs, found
        with ctx.read() as con:
            table = con.cursor().sql(
                "SELECT example_key, signature FROM signatures WHERE config_hash = ? AND "
                "example_key IN (SELECT example_key FROM members WHERE version_id = ?) "
                "ORDER BY example_key",
                params=[self.signature_hash(), ctx.version.version_id]).to_arrow_table()
        if not table.num_rows:
            return sigs, found
        stored_keys = table.column("example_key").to_numpy()
        values = table.column("signature").combine_chunks().flatten().to_numpy()
        stored = values.reshape(len(stored_keys), self.config.num_perm)
        at = np.minimum(np.searchsorted(stored_keys, keys), len(stored_keys) - 1)
        found = (stored_keys[at] == keys) & (keys >= 0)
        sigs[found] = stored[at[found]]
        return sigs, found

    def _signature_table(self, keys: np.ndarray, sigs: np.ndarray):
        import pyarrow as pa

        n, width = sigs.shape
        offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int64))
        lists = pa.LargeListArray.from_arrays(offsets, pa.array(sigs.ravel(), pa.uint32()))
        return pa.table({"example_key": pa.array(keys, pa.int64()),
                         "config_hash": pa.array([self.signature_hash()] * n, pa.string()),
                         "signature": lists})


def removal(kept_id: str, jaccard: float) -> tuple[str, str, dict]:
    """The removal record of a near duplicate (reason, message, evidence), which both engines
    write; `jaccard` rounded to 4 places."""
    return ("near_duplicate", f"near duplicate of {kept_id[:12]} (Jaccard {jaccard:.2f})",
            {"kept_id": kept_id, "jaccard": jaccard})
