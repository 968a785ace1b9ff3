"""Score a curated demo version against the planted labels (written by the generator, never by a
step): for each planted problem, how many the steps caught and which step caught them, and for
each step, how many of its removals match a planted problem.

A planted copy (near duplicate, paraphrase, golden leak) counts as caught when it is removed, or
when its original is removed in its favour (the evidence's kept id is the copy): either way one of
the two is gone, which is what dedup is for.

Labels name examples by the id of their raw content; a step that rewrites an example (PII
scrubbing) gives it a new id, so ids are followed through the version chain's transforms first.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb
import orjson

from gristmill.store.inspect import lineage
from gristmill.store.versions import Version

COPIES = ("exact_duplicate", "near_duplicate", "paraphrase", "golden_leak")


def load_labels(path: Path, file: str = "support_chats.jsonl") -> list[dict[str, Any]]:
    return [x for x in map(orjson.loads, path.read_bytes().splitlines()) if x["file"] == file]


def _chain(con: duckdb.DuckDBPyConnection, final: Version) -> str:
    return ", ".join(str(v.version_id) for v in lineage(con, final))


def renamed(con: duckdb.DuckDBPyConnection, final: Version) -> dict[str, str]:
    """Original id -> the id its rewritten content has on the way to `final`."""
    rows = con.execute(
        f"SELECT o.id, n.id FROM transforms t JOIN examples o ON o.key = t.old_key "
        f"JOIN examples n ON n.key = t.new_key WHERE t.version_id IN ({_chain(con, final)}) "
        f"ORDER BY t.version_id").fetchall()
    origin: dict[str, str] = {}  # current id -> original id
    for old, now in rows:  # oldest first, so a chain of rewrites ends at its last id
        origin[now] = origin.pop(old, old)
    return {start: now for now, start in origin.items()}


def removals(con: duckdb.DuckDBPyConnection, final: Version) -> dict[str, tuple[str, str, dict]]:
    """Every example removed on the way to `final`: id -> (step, reason, evidence)."""
    chain = _chain(con, final)
    rows = con.execute(
        f"SELECT e.id, r.step, r.reason, r.evidence FROM removals r JOIN examples e "
        f"ON e.key = r.example_key WHERE r.version_id IN ({chain})").fetchall()
    return {i: (step, reason, orjson.loads(ev or "{}")) for i, step, reason, ev in rows}


def score(con: duckdb.DuckDBPyConnection, final: Version, labels: list[dict]) -> dict[str, Any]:
    gone = removals(con, final)
    now = renamed(con, final)
    kept_for = {ev.get("kept_id"): i for i, (_, _, ev) in gone.items() if ev.get("kept_id")}
    planted: dict[str, dict[str, Any]] = {}
    explained: set[str] = set()
    for label in labels:
        problem, ex_id = label["problem"], now.get(label.get("id"), label.get("id"))
        if label.get("variant") and problem == "golden_leak":
            problem = f"golden_leak/{label['variant']}"
        if ex_id is None:  # malformed and empty lines never reach the store: ingest rejects them
            continue
        entry = planted.setdefault(problem, {"planted": 0, "caught": 0, "by": Counter()})
        entry["planted"] += 1
        partner = now.get(label.get("of_id"), label.get("of_id")) or label.get("golden_id")
        hit = gone.get(ex_id)
        if hit is None and label["problem"] in COPIES and partner and kept_for.get(ex_id) == partner:
            hit = gone[partner]  # the original went, the copy stayed
            explained.add(partner)
        if problem == "exact_duplicate":
            hit = hit or ("ingest", "same content, stored once", {})
        if problem == "pii":
            continue  # PII is rewritten, not removed: scored by the PII bench and tests
        if hit is not None:
            entry["caught"] += 1
            entry["by"][hit[0]] += 1
            explained.add(ex_id)
    by_step: dict[str, Counter] = defaultdict(Counter)
    for ex_id, (step, _, _) in gone.items():
        by_step[step]["removed"] += 1
        by_step[step]["planted"] += ex_id in explained
    return {"planted": planted, "steps": {s: dict(c) for s, c in by_step.items()}}
