"""The one-writer lock, readers during a write, and kill -9 at random moments."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from gristmill.errors import GristmillError
from gristmill.store.db import Store
from gristmill.store.ingest import ingest
from gristmill.store.lock import WriterLock
from gristmill.store.verify import verify

from .conftest import chat, run_gristmill, write_jsonl


def _run_seen_while_alive(store: Store, proc: subprocess.Popen) -> bool:
    """Wait until the process's run is recorded; False if the process ended first."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with store.read() as con:
                if con.execute("SELECT count(*) FROM runs").fetchone()[0]:
                    return proc.poll() is None
        except GristmillError:  # not created yet, being migrated, or busy
            pass
        time.sleep(0.05)
    return False


def big_file(tmp_path, n=20_000, name="big.jsonl"):
    return write_jsonl(tmp_path / name, [chat(f"question {i} " * 20, f"answer {i} " * 30)
                                         for i in range(n)])


def test_two_writers_start_together_one_wins_one_fails_at_once(tmp_path):
    path = big_file(tmp_path, n=40_000)
    store = tmp_path / "s.duckdb"
    procs = [subprocess.Popen([sys.executable, "-m", "gristmill", "ingest", str(path), "-d", d,
                               "--store", str(store)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for d in ("a", "b")]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    (_, _, err), = [r for r in results if r[0] == 3]
    winner = [p for p, r in zip(procs, results, strict=True) if r[0] == 0][0]
    assert err.startswith(f"gristmill ingest: another run holds the store {store}: "
                          f"pid {winner.pid} (gristmill ingest {path} -d ")
    assert err.rstrip().endswith("try again when it has finished")


def test_readers_work_while_a_writer_holds_the_lock_and_wait_while_it_commits(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    ingest(store, [write_jsonl(tmp_path / "a.jsonl", [chat("q", "a")])], "x")
    with WriterLock(store.path, "gristmill ingest (test)"):
        assert run_gristmill("ls", "--store", store.path).returncode == 0
        with store.write():  # a commit in flight holds DuckDB's own write lock
            env = {**os.environ, "GRISTMILL_BUSY_TIMEOUT": "1"}
            started = time.monotonic()
            busy = run_gristmill("ls", "--store", store.path, env=env)
            assert busy.returncode == 4 and time.monotonic() - started < 10
            assert busy.stderr.startswith(f"gristmill ls: the store {store.path} is busy: pid ")
            assert "(gristmill ingest (test))" in busy.stderr


def test_kill_9_at_random_moments_leaves_the_last_committed_version(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    ingest(store, [write_jsonl(tmp_path / "base.jsonl", [chat("base", "v1")])], "base")
    path = big_file(tmp_path, n=15_000)
    started = time.monotonic()
    timing = run_gristmill("ingest", path, "-d", "timing", "--store", store.path)
    full = time.monotonic() - started
    assert timing.returncode == 0
    rng = random.Random(20)
    outcomes = {"killed before commit": 0, "committed": 0}
    for i in range(20):
        proc = subprocess.Popen([sys.executable, "-m", "gristmill", "ingest", str(path), "-d",
                                 f"d{i}", "--store", str(store.path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with store.read() as con:
            checked, problems = verify(con)
            assert problems == [], (i, problems)
            versions = con.execute(
                "SELECT number, n_examples FROM versions WHERE dataset = ?", [f"d{i}"]).fetchall()
            assert con.execute("SELECT n_examples FROM versions WHERE dataset = 'base'")\
                .fetchall() == [(1,)]
        assert versions in ([], [(1, 15_000)]), (i, versions)
        outcomes["committed" if versions else "killed before commit"] += 1
    assert outcomes["killed before commit"] >= 5, outcomes
    # the next writer finds the killed runs and marks them; the store takes new work
    assert run_gristmill("ingest", path, "-d", "after", "--store", store.path).returncode == 0
    with store.read() as con:
        statuses = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY 1").fetchall())
    assert statuses.get("running", 0) == 0 and statuses.get("interrupted", 0) >= 5
    assert not list(tmp_path.glob(".s.duckdb.stage-*"))


@pytest.mark.parametrize("signal_name", ["SIGINT"])
def test_an_interrupted_ingest_is_recorded_as_failed(tmp_path, signal_name):
    path = big_file(tmp_path, n=60_000)
    for attempt in range(3):  # subtle: on a busy machine the ingest may finish before we look
        store = Store(tmp_path / f"s{attempt}.duckdb")
        store.busy_seconds = 0.05  # poll, never wait out the writer's commit
        proc = subprocess.Popen([sys.executable, "-m", "gristmill", "ingest", str(path), "-d",
                                 "x", "--store", str(store.path)], stderr=subprocess.PIPE, text=True)
        if _run_seen_while_alive(store, proc):
            break
        proc.wait(timeout=60)
    else:
        pytest.fail("the ingest finished three times before its run could be seen")
    proc.send_signal(getattr(signal, signal_name))
    assert proc.wait(timeout=60) == 130
    assert proc.stderr.read() == "gristmill ingest: interrupted\n"
    with store.read() as con:
        assert con.execute("SELECT status, error FROM runs").fetchall() == [("failed", "KeyboardInterrupt")]
        assert con.execute("SELECT count(*) FROM versions").fetchone() == (0,)
