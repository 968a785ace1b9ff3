"""A child version that removes 1% of a 1M-example version: commit time against the parent's
ingest time, and store growth, measured in the same run.

    .venv/bin/python bench/child_version.py            # 1,000,000 chats, about a minute
    .venv/bin/python bench/child_version.py --n 100000

Targets: commit <= 5% of the parent's ingest time; store growth <= 2% of the store's size.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa
from synthetic import write_chats

from gristmill.store import versions
from gristmill.store.db import Store
from gristmill.store.ingest import ingest
from gristmill.store.runs import writing

HERE = Path(__file__).resolve().parent


def removals_of(store: Store, share: float, seed: int = 0) -> pa.Table:
    """`share` of the parent's examples, each marked as a duplicate of another, with evidence."""
    with store.read() as con:
        ids = [r[0] for r in con.execute("SELECT id FROM examples ORDER BY key").fetchall()]
    rng = random.Random(seed)
    chosen = rng.sample(range(len(ids)), int(len(ids) * share))
    return pa.table({
        "id": [ids[i] for i in chosen],
        "reason": ["near_duplicate"] * len(chosen),
        "message": ["MinHash Jaccard over the threshold"] * len(chosen),
        "evidence": [orjson.dumps({"of": ids[i - 1], "jaccard": 0.83}).decode() for i in chosen],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records (default 1,000,000)")
    args = parser.parse_args()
    data = write_chats(HERE / "data" / f"chats_{args.n}.jsonl", args.n)
    work = Path(tempfile.mkdtemp(prefix="gristmill-bench-"))
    try:
        store = Store(work / "store.duckdb")
        started = time.perf_counter()
        ingest(store, [data], "bench")
        ingest_s = time.perf_counter() - started
        size_before = store.path.stat().st_size
        table = removals_of(store, 0.01)
        started = time.perf_counter()
        with writing(store, "bench: remove 1%", {}) as run, run.commit() as con:
            child = versions.commit_child(con, versions.resolve(con, "bench"), step="dedup",
                                          config={"threshold": 0.7}, run_id=run.id,
                                          removals=table)
        commit_s = time.perf_counter() - started
        size_after = store.path.stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    growth = size_after - size_before
    print(f"parent: {args.n:,} examples ingested in {ingest_s:.1f} s; store {size_before / 1e6:,.1f} MB")
    print(f"child {child.ref}: -{child.n_removed:,} examples committed in {commit_s:.2f} s "
          f"(writer lock, run record, members, removals with evidence)")
    print(f"commit time / parent ingest time: {commit_s / ingest_s:.1%}  (target <= 5%)")
    print(f"store growth: {growth / 1e6:,.2f} MB = {growth / size_before:.2%} of the store  "
          "(target <= 2%)")


if __name__ == "__main__":
    main()
