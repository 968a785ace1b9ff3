"""Log ingest throughput: `flywheel ingest` against `gristmill ingest` of the same conversations.

    .venv/bin/python bench/flywheel.py              # 50,000 log lines; PII on a 2,000-line slice
    .venv/bin/python bench/flywheel.py --n 10000 --pii-n 500

Baseline: plain `gristmill ingest` of the same conversations as chat JSONL, in the same run:
one bulk commit, no cursor, no per-line identity, no feedback. `flywheel ingest --pii off`
commits every 500 lines with its cursor and stores each line once by request id; the ratio is
what exactly-once from cron costs. Then the PII-scrubbed ingest (the default) on a slice, whose
lines/s are Presidio's. Then a no-change re-run (cron finding nothing new).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import orjson
from measure import gib, run_measured

HERE = Path(__file__).resolve().parent


def write_logs(folder: Path, n: int) -> tuple[Path, Path]:
    """N OpenAI-shaped log lines (the simulator's) and the same conversations as chat JSONL."""
    sys.path.insert(0, str(HERE.parent))
    from gristmill.flywheel.records import parse_entry
    from gristmill.flywheel.simulate import Logger

    logs = folder / f"logs_{n}"
    if not (logs / "app.jsonl").exists():
        Logger(logs, seed=11, per_day=n).day(0)
    chats = folder / f"log_chats_{n}.jsonl"
    if not chats.exists():
        with open(chats, "wb") as out:
            for line in (logs / "app.jsonl").read_bytes().splitlines():
                try:
                    entry = parse_entry(orjson.loads(line))
                except ValueError:
                    continue  # the simulated day's cut-off last line
                if entry.example is not None:
                    out.write(orjson.dumps({"messages": entry.example.payload["messages"]}) + b"\n")
    return logs / "app.jsonl", chats


def gristmill(*args: str) -> tuple[float, int, str]:
    seconds, rss, done = run_measured([sys.executable, "-m", "gristmill", *args])
    assert done.returncode == 0, done.stderr
    return seconds, rss, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="log lines (default 50,000)")
    parser.add_argument("--pii-n", type=int, default=2_000, help="lines scrubbed (default 2,000)")
    args = parser.parse_args()
    log, chats = write_logs(HERE / "data", args.n)
    lines = sum(1 for _ in open(log, "rb"))
    work = Path(tempfile.mkdtemp(prefix="gristmill-bench-"))
    try:
        base_s, base_rss, base_line = gristmill("ingest", str(chats), "-d", "chats", "--store",
                                                str(work / "base.duckdb"))
        fw_s, fw_rss, fw_line = gristmill("flywheel", "ingest", str(log), "--pii", "off",
                                          "--store", str(work / "fw.duckdb"))
        again_s, _, again_line = gristmill("flywheel", "ingest", str(log), "--pii", "off",
                                           "--store", str(work / "fw.duckdb"))
        slice_log, _ = write_logs(HERE / "data", args.pii_n)
        pii_s, pii_rss, pii_line = gristmill("flywheel", "ingest", str(slice_log), "--store",
                                             str(work / "pii.duckdb"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"input: {lines:,} log lines ({log.stat().st_size / 1e6:.0f} MB)")
    print(f"baseline  gristmill ingest (chat JSONL): {base_s:6.1f} s  {lines / base_s:8,.0f} "
          f"lines/s  peak {gib(base_rss)}   | {base_line}")
    print(f"flywheel  ingest --pii off:              {fw_s:6.1f} s  {lines / fw_s:8,.0f} "
          f"lines/s  peak {gib(fw_rss)}   | {fw_line}")
    print(f"ratio (flywheel / baseline throughput): {base_s / fw_s:.2f}")
    print(f"re-run, nothing new: {again_s:.2f} s | {again_line}")
    print(f"PII scrubbed (default), {args.pii_n:,} lines: {pii_s:.1f} s, "
          f"{args.pii_n / pii_s:,.0f} lines/s including the engine's start, peak {gib(pii_rss)} "
          f"| {pii_line}")


if __name__ == "__main__":
    main()
