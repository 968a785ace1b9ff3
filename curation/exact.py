"""Exact dedup: examples whose normalized text (in a scope) is the same are one; one survives.

Identical payloads are already one example in the store (same content, same id), so this step
finds what identity misses: copies that differ in case, spacing, Unicode form or punctuation, or
that share only a prompt or only a response.
"""

from __future__ import annotations

import hashlib

from gristmill.curation import keep as keeping
from gristmill.curation.step import Decisions, Row, Rows, Step, StepConfig
from gristmill.curation.text import Normalization, Scope, normalize, render


class ExactDedup(Step):
    name = "exact_dedup"
    summary = "drop copies whose normalized text is identical (evidence: the kept id)"

    class Config(StepConfig):
        normalize: tuple[Normalization, ...] = ("nfkc", "case", "whitespace")
        scope: Scope = "conversation"
        keep: keeping.Keep = "first"

    def needs_meta(self) -> bool:
        return keeping.needs_meta(self.config.keep)

    def key(self, row: Row) -> bytes:
        text = normalize(render(row.example, self.config.scope), self.config.normalize)
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    def run(self, rows: Rows, ctx) -> Decisions:
        policy = self.config.keep
        best: dict[bytes, tuple[tuple, Row]] = {}
        losers: list[tuple[bytes, Row]] = []
        for row in rows:
            k, r = self.key(row), keeping.rank(row, policy)
            held = best.get(k)
            if held is None:
                best[k] = (r, row)
            elif r < held[0]:
                losers.append((k, held[1]))
                best[k] = (r, row)
            else:
                losers.append((k, row))
        decisions = Decisions()
        clusters = []
        for k, row in losers:
            kept = best[k][1]
            reason, message, evidence = removal(kept.example.id, self.config.scope)
            decisions.drop(row.example.id, reason, message, **evidence)
            clusters.append((row.key, kept.key))
        decisions.stats["clusters"] = len({kept for _, kept in clusters})
        if clusters and all(a is not None and b is not None for a, b in clusters):
            decisions.tables.append(("clusters", cluster_table(self.name, clusters)))
        return decisions


def cluster_table(step: str, pairs: list[tuple[int, int]], scores: list[float] | None = None):
    """Rows for the `clusters` table: each removed key with its survivor and similarity; the
    survivors appear as their own members with score 1."""
    import pyarrow as pa

    survivors = sorted({kept for _, kept in pairs})
    keys = [k for k, _ in pairs] + survivors
    kept = [k for _, k in pairs] + survivors
    score = list(scores if scores is not None else [1.0] * len(pairs)) + [1.0] * len(survivors)
    return pa.table({"step": pa.array([step] * len(keys), pa.string()),
                     "example_key": pa.array(keys, pa.int64()),
                     "kept_key": pa.array(kept, pa.int64()),
                     "score": pa.array(score, pa.float64())})


def removal(kept_id: str, scope: str) -> tuple[str, str, dict]:
    """The removal record of an exact duplicate (reason, message, evidence), which both engines
    write."""
    return ("exact_duplicate", f"same normalized {scope} as {kept_id[:12]}",
            {"kept_id": kept_id, "scope": scope})
