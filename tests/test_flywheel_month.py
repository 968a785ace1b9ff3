"""A simulated month of production logs, 30 daily files rotated by rename or copytruncate and
gzipped, ingested by 30 cron-like runs, some killed at random moments: every line is stored
exactly once, whatever the rotations and the kills."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from gristmill.flywheel.simulate import Logger

pytestmark = pytest.mark.e2e
DAYS = 30


def _ingest(store: Path, logs: Path) -> list[str]:
    return [sys.executable, "-m", "gristmill", "flywheel", "ingest", str(logs / "app.jsonl"),
            "--store", str(store), "--pii", "off", "--commit-every", "6", "--quiet"]


def _lock_holder(store: Path, proc: subprocess.Popen, timeout: float = 30) -> bool:
    """Wait until `proc` holds the writer lock (its pid in the lock file)."""
    lock = Path(f"{store}.lock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if lock.exists() and f'"pid": {proc.pid}' in lock.read_text():
            return True
        time.sleep(0.02)
    return False


def test_a_month_of_rotated_logs_is_ingested_exactly_once_despite_kills(tmp_path):
    rng = random.Random(7)
    logs, store = tmp_path / "logs", tmp_path / "store.duckdb"
    logger = Logger(logs, seed=3, per_day=36, keep=DAYS + 1)
    killed, rotations = 0, {"rename": 0, "copytruncate": 0}
    for day in range(DAYS):
        if day:  # logrotate at midnight: daily files, renamed or copied and truncated, gzipped
            mode = "copytruncate" if day % 3 == 0 else "rename"
            logger.rotate(mode)
            rotations[mode] += 1
        logger.day(day)  # the day's lines, the last one sometimes still being written
        proc = subprocess.Popen(_ingest(store, logs), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        if day == 10:  # a second run while one holds the store exits at once, with code 3
            assert _lock_holder(store, proc)
            started = time.monotonic()
            second = subprocess.run(_ingest(store, logs), capture_output=True, text=True)
            assert second.returncode == 3, second.stderr
            assert "another run holds the store" in second.stderr
            assert time.monotonic() - started < 20
        if rng.random() < 0.4 and _lock_holder(store, proc):
            time.sleep(rng.uniform(0.0, 1.2))  # anywhere: reading, between commits, committing
            proc.send_signal(signal.SIGKILL)
            killed += proc.wait() == -signal.SIGKILL
        else:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    logger.flush()  # the last line written whole, then a last run
    final = subprocess.run(_ingest(store, logs), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert killed >= 5, killed  # the kills landed on live runs
    assert rotations["copytruncate"] and rotations["rename"]
    files = sorted(p.name for p in logs.iterdir())
    assert len(files) == DAYS and sum(f.endswith(".gz") for f in files) == DAYS - 2

    con = duckdb.connect(str(store), read_only=True)
    keys = [k for (k,) in con.execute("SELECT line_key FROM log_lines").fetchall()]
    assert len(keys) == len(set(keys)), "a line was stored twice"
    assert set(keys) == logger.written.requests, "a line was lost or invented"
    events = con.execute("SELECT count(*), count(DISTINCT feedback_key) FROM log_feedback WHERE "
                         "starts_with(feedback_key, 'feedback:')").fetchone()
    assert events == (logger.written.events, logger.written.events)
    inline = {k for (k,) in con.execute("SELECT line_key FROM log_feedback WHERE "
                                        "ends_with(feedback_key, '#feedback')").fetchall()}
    assert inline == logger.written.with_feedback
    # every stored line is in the latest version, and the version took in nothing else
    members = con.execute(
        "SELECT count(*) FROM members WHERE version_id = (SELECT max(version_id) FROM versions "
        "WHERE dataset = 'logs')").fetchone()[0]
    distinct = con.execute("SELECT count(DISTINCT example_key) FROM log_lines").fetchone()[0]
    assert members == distinct
    assert con.execute("SELECT count(*) FROM log_lines WHERE version_id IS NULL").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (0,)
    statuses = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY ALL").fetchall())
    assert statuses.get("interrupted", 0) >= 5 and statuses["ok"] >= DAYS - killed
    # some kills landed after a run had committed part of its lines: those resumed mid-file
    (partial,) = con.execute("SELECT count(*) FROM runs WHERE status = 'interrupted' AND "
                             "CAST(json_extract(stats, '$.read') AS INT) > 0").fetchone()
    assert partial >= 2, partial
