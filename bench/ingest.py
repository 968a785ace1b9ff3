"""Ingest throughput against DuckDB's own JSON reader, on the same file, in the same run.

    .venv/bin/python bench/ingest.py            # 1,000,000 chats (~0.6 GB), about a minute
    .venv/bin/python bench/ingest.py --n 100000

Baseline: `CREATE TABLE raw AS SELECT * FROM read_json(FILE)` in a fresh DuckDB file — the raw
load with no validation, canonical form or hashing. Target: ratio >= 0.5, peak RSS < 2 GiB.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from measure import gib, run_measured
from synthetic import write_chats

HERE = Path(__file__).resolve().parent
DUCKDB_BASELINE = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE raw AS SELECT * FROM read_json(?, format='newline_delimited')",
            [sys.argv[2]])
print(con.execute("SELECT count(*) FROM raw").fetchone()[0])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records (default 1,000,000)")
    args = parser.parse_args()
    data = write_chats(HERE / "data" / f"chats_{args.n}.jsonl", args.n)
    size = data.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="gristmill-bench-"))
    try:
        base_s, base_rss, base = run_measured(
            [sys.executable, "-c", DUCKDB_BASELINE, str(work / "raw.duckdb"), str(data)])
        assert base.returncode == 0 and int(base.stdout) == args.n, base.stderr
        ours_s, ours_rss, ours = run_measured(
            [sys.executable, "-m", "gristmill", "ingest", str(data), "-d", "bench",
             "--store", str(work / "store.duckdb")])
        assert ours.returncode == 0, ours.stderr
        store_size = (work / "store.duckdb").stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"input: {args.n:,} chat records, {size / 1e9:.2f} GB JSONL")
    print(f"duckdb read_json : {base_s:6.1f} s  {args.n / base_s:>10,.0f} rows/s  peak {gib(base_rss)}")
    print(f"gristmill ingest : {ours_s:6.1f} s  {args.n / ours_s:>10,.0f} rows/s  peak {gib(ours_rss)}"
          f"  store {store_size / 1e6:,.0f} MB")
    print(f"ratio (gristmill rows/s / duckdb rows/s): {base_s / ours_s:.2f}  (target >= 0.5)")
    print(f"peak RSS of the ingest and its workers: {gib(ours_rss)}  (target < 2 GiB)")


if __name__ == "__main__":
    main()
