"""Eval pipeline: pairwise-judge throughput sequential vs concurrent, and a killed `eval run`
started again.

    .venv/bin/python bench/eval.py                        # 24 judged items, 1,000 golden items
    .venv/bin/python bench/eval.py --judge-items 8 --golden 200 --skip-judge

1. Judge throughput. `--judge-items` pairwise judgements (each asked in both orders: two calls
   per item) over two fixed short answers per item, so nothing is generated first, through the
   library's judge (`evals.judge.pairwise` over the call layer) against one embedded llama.cpp
   server with `--slots` slots. Baseline: the same judgements at endpoint concurrency 1,
   measured in the same run; then at concurrency `--concurrency` (`--repeat N` alternates the
   arms N times each and compares medians). Each arm writes a fresh store,
   so no call is answered from a cache, and llama.cpp's prompt cache is off (`cache_prompt`),
   so the second arm does not profit from the prompts the first one sent.
2. Resume. A golden set of `--golden` short arithmetic chats is ingested and pinned; a suite
   (max_tokens 8, metrics exact + normalized, no judge) is run with `gristmill eval run
   --candidate local` in its own process group, which is killed with SIGKILL once about
   `--kill-at` of the answers are committed (polled read-only). The same command then runs to
   completion. Checked: the second run sends exactly the calls for the answers the first never
   committed, and no answer or call is stored twice (rows per `eval_outputs.output_key`, per
   `llm_calls.request_hash`). Reported: the wall time of the uninterrupted part (start to kill)
   against the resumed part (the second run, start to exit), per answer.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson

HERE = Path(__file__).resolve().parent


# -- 1. judge throughput ---------------------------------------------------------------------------

def judge_items(n: int) -> tuple[list, list[str], list[str]]:
    """n items with a reference, a right short answer and a wrong one (the order alternates)."""
    from gristmill.evals.items import Item

    items, cand, base = [], [], []
    for i in range(n):
        a, b = 10 + i, 7 + 3 * i
        right, wrong = str(a + b), f"I think it is {a + b + 1 + i % 3}."
        items.append(Item(f"judge-{i:04d}", [{"role": "user", "content": f"What is {a} plus {b}?"}],
                          right))
        cand.append(right if i % 2 else wrong)
        base.append(wrong if i % 2 else right)
    return items, cand, base


def judge_arm(store_path: Path, endpoint, settings, n: int) -> tuple[float, dict, list]:
    """Seconds, call stats and per-item values for one arm, committed like an eval run's."""
    import gristmill.evals
    from gristmill.evals import judge
    from gristmill.store.db import Store
    from gristmill.store.runs import writing
    from gristmill.synth.calls import Calls
    from gristmill.synth.templates import Templates

    templates = Templates(shipped=Path(gristmill.evals.__file__).resolve().parent / "templates")
    store = Store(store_path)
    items, cand, base = judge_items(n)
    start = time.perf_counter()
    with writing(store, "bench eval judge", {}) as run:
        calls = Calls(store, run.id, endpoint)
        judged = judge.pairwise(calls, templates, settings, items, cand, base)
        with run.commit() as con:
            calls.flush(con)
    return time.perf_counter() - start, calls.stats.as_dict(), judged.values


def bench_judge(args, tmp: Path) -> None:
    from gristmill.evals.suite import Judge
    from gristmill.synth.server import LocalServer

    server = LocalServer(slots=args.slots, context=2048 * args.slots)
    settings = Judge(max_tokens=args.judge_max_tokens)
    print(f"== judge throughput: {args.judge_items} pairwise items = {2 * args.judge_items} calls "
          f"(max_tokens {settings.max_tokens}), server {server.endpoint.model} with {args.slots} "
          "slots")
    print(f"{'concurrency':>11} {'seconds':>8} {'calls/s':>8} {'tokens/s':>9} {'sent':>5} "
          f"{'cached':>6} {'unparsed':>8} {'failed':>6} {'judged':>6}")
    rates: dict[int, list[float]] = {1: [], args.concurrency: []}
    for r in range(args.repeat):
        # the arms alternate (1, c, c, 1, ...): a load that drifts weighs on both alike
        for level in (1, args.concurrency) if r % 2 == 0 else (args.concurrency, 1):
            endpoint = server.endpoint.model_copy(update={
                "concurrency": level, "params": {"cache_prompt": False}})
            seconds, stats, values = judge_arm(tmp / f"judge-c{level}-{r}.duckdb", endpoint,
                                               settings, args.judge_items)
            assert stats["cached"] == 0, "a fresh store answers nothing from a cache"
            rates[level].append(stats["sent"] / seconds)
            print(f"{level:>11} {seconds:>8.2f} {rates[level][-1]:>8.2f} "
                  f"{stats['tokens'] / seconds:>9.1f} {stats['sent']:>5} {stats['cached']:>6} "
                  f"{stats['unparsed']:>8} {stats['failed']:>6} "
                  f"{sum(v is not None for v in values):>6}")
    seq, conc = (statistics.median(rates[k]) for k in (1, args.concurrency))
    print(f"ratio concurrent/sequential (median calls/s, c={args.concurrency} vs c=1): "
          f"{conc / seq:.2f}  ({conc:.2f} vs {seq:.2f} calls/s)")
    server.stop()


# -- 2. resume after kill -9 -----------------------------------------------------------------------

def write_golden(path: Path, n: int, seed: int = 0) -> Path:
    """n distinct "What is A plus B?" chats with the sum as the answer, written once."""
    if path.exists() and path.with_suffix(".done").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng, seen = random.Random(seed), set()
    with open(path, "wb") as f:
        while len(seen) < n:
            a, b = rng.randint(1, 999), rng.randint(1, 999)
            if (a, b) in seen:
                continue
            seen.add((a, b))
            f.write(orjson.dumps({"messages": [
                {"role": "user", "content": f"What is {a} plus {b}? Answer with the number only."},
                {"role": "assistant", "content": str(a + b)}]}) + b"\n")
    path.with_suffix(".done").write_text(str(n))
    return path


SUITE = """\
# gristmill eval run {path} --candidate local --store STORE
name: bench-resume
generation:
  max_tokens: 8
tasks:
  - name: sums
    data: golden@1
    metrics: [exact, normalized]
"""


def query(store: Path, sql: str, wait: float = 30.0) -> list[tuple]:
    """A read-only query; the writer holds the file only while it commits, so retry on its lock."""
    deadline = time.monotonic() + wait
    while True:
        try:
            con = duckdb.connect(str(store), read_only=True)
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


def eval_command(suite: Path, store: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "gristmill", "eval", "run", str(suite), "--candidate", "local",
            "--store", str(store), "--out", str(out), "--quiet"]


def bench_resume(args, tmp: Path) -> None:
    n = args.golden
    data = write_golden(HERE / "data" / f"eval_golden_{n}.jsonl", n)
    store = tmp / "resume.duckdb"
    suite = tmp / "suite.yaml"
    suite.write_text(SUITE.format(path=suite))
    ingest = subprocess.run([sys.executable, "-m", "gristmill", "ingest", str(data), "--dataset",
                             "golden", "--store", str(store), "--quiet"],
                            capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr
    command = eval_command(suite, store, tmp / "reports")
    target = int(n * args.kill_at)
    print(f"\n== resume: {n:,} golden chats, max_tokens 8, candidate local; kill -9 at "
          f">= {target:,} committed answers")

    # the first run, killed with its whole process group (the llama.cpp server is in-process)
    started = time.perf_counter()
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    seen = 0
    while first.poll() is None:
        time.sleep(args.poll)
        seen = query(store, "SELECT count(*) FROM eval_outputs")[0][0]
        if seen >= target:
            break
    if first.poll() is not None:
        raise SystemExit(f"the first run ended (exit {first.returncode}) before {target} answers "
                         f"were committed: {first.stdout.read().decode()[-2000:]}")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    first_s = time.perf_counter() - started

    started = time.perf_counter()
    second = subprocess.run(command, capture_output=True, text=True, start_new_session=True)
    second_s = time.perf_counter() - started
    assert second.returncode in (0, 1), second.stdout + second.stderr  # 1: a gate failed

    runs = query(store, "SELECT run_id, status, stats FROM runs WHERE command LIKE '%eval run%' "
                        "ORDER BY run_id")
    (killed_id, killed_status, _), (last_id, last_status, last_stats) = runs[-2], runs[-1]
    calls = orjson.loads(last_stats)["calls"]
    sent = sum(c["sent"] for c in calls.values())
    cached = sum(c["cached"] for c in calls.values())
    failed = sum(c["failed"] for c in calls.values())
    by_run = dict(query(store, "SELECT run_id, count(*) FROM eval_outputs GROUP BY run_id"))
    committed, resumed = by_run.get(killed_id, 0), by_run.get(last_id, 0)
    (keys, rows, dup_keys, null_outputs), = query(store, """
        SELECT count(DISTINCT output_key), count(*),
               (SELECT count(*) FROM (SELECT output_key FROM eval_outputs GROUP BY output_key
                                      HAVING count(*) > 1)),
               count(*) FILTER (WHERE output IS NULL)
        FROM eval_outputs""")
    (hashes, call_rows, dup_hashes), = query(store, """
        SELECT count(DISTINCT request_hash), count(*),
               (SELECT count(*) FROM (SELECT request_hash FROM llm_calls GROUP BY request_hash
                                      HAVING count(*) > 1))
        FROM llm_calls""")
    calls_by_run = dict(query(store, "SELECT run_id, count(*) FROM llm_calls GROUP BY run_id"))

    print(f"first run (#{killed_id}, now {killed_status}): killed after {first_s:.1f} s; "
          f"{seen:,} answers seen at the last poll, {committed:,} committed by it "
          f"({calls_by_run.get(killed_id, 0):,} llm_calls rows)")
    print(f"second run (#{last_id}, {last_status}): {second_s:.1f} s; sent {sent:,} calls, "
          f"{cached} answered by the call cache, {failed} failed; stored {resumed:,} answers "
          f"({calls_by_run.get(last_id, 0):,} llm_calls rows)")
    print(f"answers the second run found in the store: {n - sent:,} (= {n:,} - sent); committed "
          f"by the killed run: {committed:,}; to do after the kill: {n - committed:,}")
    print(f"eval_outputs: {rows:,} rows, {keys:,} keys, {dup_keys} keys stored twice, "
          f"{null_outputs} failed answers; llm_calls: {call_rows:,} rows, {hashes:,} request "
          f"hashes, {dup_hashes} sent twice")
    checks = {
        "every prompt answered once": keys == n and rows == n,
        "no committed answer stored again (rows per output_key)": dup_keys == 0,
        "no finished call repeated (rows per request_hash)": dup_hashes == 0,
        "the second run sent only what was never committed (sent == n - committed)":
            sent == n - committed,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'} {name}")
    per_first = first_s / max(committed, 1)
    per_second = second_s / max(resumed, 1)
    print(f"wall time: uninterrupted part {first_s:.1f} s for {committed:,} answers "
          f"({per_first * 1000:.0f} ms/answer), resumed part {second_s:.1f} s for {resumed:,} "
          f"answers ({per_second * 1000:.0f} ms/answer); resumed/uninterrupted per answer "
          f"{per_second / per_first:.2f}; both {first_s + second_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge-items", type=int, default=24, help="pairwise items (2 calls each)")
    parser.add_argument("--judge-max-tokens", type=int, default=256, help="the judge's max_tokens "
                        "(the suite default)")
    parser.add_argument("--slots", type=int, default=4, help="server slots for the judge arms")
    parser.add_argument("--concurrency", type=int, default=4, help="the concurrent arm's level")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each judge arm, "
                        "alternating (medians compared)")
    parser.add_argument("--golden", type=int, default=1000, help="golden items for the resume")
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="share of answers committed when the first run is killed")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between store polls")
    parser.add_argument("--skip-judge", action="store_true")
    parser.add_argument("--skip-resume", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(the server's threads spin: a busy machine skews every number)")
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as tmp:
        if not args.skip_judge:
            bench_judge(args, Path(tmp))
        if not args.skip_resume:
            bench_resume(args, Path(tmp))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
