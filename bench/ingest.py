"""Ingest throughput against DuckDB's own JSON reader, on the same file, in the same run.

    .venv/bin/python bench/ingest.py            # 1,000,000 chats (~0.6 GB), a few minutes
    .venv/bin/python bench/ingest.py --n 100000 --repeat 1

Baseline: `CREATE TABLE raw AS SELECT * FROM read_json(FILE)` in a fresh DuckDB file — the raw
load with no validation, canonical form or hashing. Target: ratio >= 0.5, peak RSS < 2 GiB.
The two alternate `--repeat` times (a shared machine is noisy); medians are compared.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args()
    data = write_chats(HERE / "data" / f"chats_{args.n}.jsonl", args.n)
    size = data.stat().st_size
    base_runs, ours_runs = [], []
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="gristmill-bench-"))
        try:
            seconds, rss, base = run_measured(
                [sys.executable, "-c", DUCKDB_BASELINE, str(work / "raw.duckdb"), str(data)])
            assert base.returncode == 0 and int(base.stdout) == args.n, base.stderr
            base_runs.append((seconds, rss))
            seconds, rss, ours = run_measured(
                [sys.executable, "-m", "gristmill", "ingest", str(data), "-d", "bench",
                 "--store", str(work / "store.duckdb")])
            assert ours.returncode == 0, ours.stderr
            ours_runs.append((seconds, rss))
            store_size = (work / "store.duckdb").stat().st_size
        finally:
            shutil.rmtree(work, ignore_errors=True)
    base_s = statistics.median(s for s, _ in base_runs)
    ours_s = statistics.median(s for s, _ in ours_runs)
    ours_rss = max(r for _, r in ours_runs)
    print(f"input: {args.n:,} chat records, {size / 1e9:.2f} GB JSONL; {args.repeat} runs each")
    print(f"duckdb read_json : median {base_s:5.1f} s  {args.n / base_s:>9,.0f} rows/s  "
          f"(runs {', '.join(f'{s:.1f}' for s, _ in base_runs)})  peak {gib(max(r for _, r in base_runs))}")
    print(f"gristmill ingest : median {ours_s:5.1f} s  {args.n / ours_s:>9,.0f} rows/s  "
          f"(runs {', '.join(f'{s:.1f}' for s, _ in ours_runs)})  peak {gib(ours_rss)}  "
          f"store {store_size / 1e6:,.0f} MB")
    print(f"ratio (gristmill rows/s / duckdb rows/s, medians): {base_s / ours_s:.2f}  (target >= 0.5)")
    print(f"peak RSS of the ingest and its workers: {gib(ours_rss)}  (target < 2 GiB)")


if __name__ == "__main__":
    main()
