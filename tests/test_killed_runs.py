"""A killed writer leaves nothing behind: `kill -9` at random moments of `ingest`, `curate` and
`flywheel ingest` (each with its worker processes), then within 2 s no process it started remains
and the next writer takes the lock at once. A lock still held by strays of a dead holder (as an
older release left them) is taken over, never waited on."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from gristmill.errors import StoreLocked
from gristmill.store.lock import WriterLock, describe_holder

from .conftest import chat, run_gristmill, write_jsonl

NAMES = ["Maria Gonzalez", "John Smith", "Wei Chen", "Aisha Khan"]
KILLS = 10


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of the session `sid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _kill_at_random_moments(args: list, store: Path, seed: int, upto: float) -> int:
    """Run `gristmill ARGS` KILLS times, each killed at a random moment; returns how many kills
    found worker processes running beside the command."""
    rng, with_workers = random.Random(seed), 0
    for i in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-m", "gristmill", *map(str, args), "--store",
                                 str(store)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        moment, most = time.monotonic() + rng.uniform(0.3, upto), 1
        while time.monotonic() < moment and proc.poll() is None:
            most = max(most, len(_session(proc.pid)))
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with_workers += most > 1
        deadline = time.monotonic() + 2
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _session(proc.pid) == [], (args[0], i, "a process outlived its killed parent")
        with WriterLock(store, "the next writer"):  # at once: wait=0 fails if still held
            pass
    return with_workers


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("killed")
    # past ingest's 64 MB, where it stages pieces in worker processes
    with open(root / "big.jsonl", "wb") as f:
        for i in range(70_000):
            f.write(orjson.dumps(chat(f"question {i} " * 40, f"answer {i} " * 50)) + b"\n")
    rng = random.Random(1)
    write_jsonl(root / "pii.jsonl", [chat(
        f"Hi, I am {rng.choice(NAMES)}, my email is user{i}@example.com. Where is order {i}?",
        f"Order {i} ships tomorrow from Seattle.") for i in range(1_500)])
    write_jsonl(root / "app.jsonl", [{
        "request": {"model": "bot-v1", "messages": [{"role": "user", "content":
                    f"Hi, I'm {rng.choice(NAMES)}, email user{n}@example.com. Where is my "
                    f"order {n}? I ordered it last week and it has not come yet."}]},
        "response": {"id": f"cmpl-{n}", "model": "bot-v1", "choices": [
            {"message": {"role": "assistant", "content": f"Order {n} ships tomorrow."}}]},
        "metadata": {"request_id": f"req-{n}", "user_id": f"u-{n % 7}"}} for n in range(2_500)])
    return root


def test_killed_writers_leave_no_worker_and_no_lock(inputs, tmp_path):
    stores = {name: tmp_path / f"{name}.duckdb" for name in ("ingest", "curate", "flywheel")}
    assert run_gristmill("ingest", inputs / "pii.jsonl", "-d", "pii", "--store",
                         stores["curate"]).returncode == 0
    runs = {"ingest": (["ingest", inputs / "big.jsonl", "-d", "big"], 3.0),
            "curate": (["curate", "pii", "--step", "pii"], 5.0),
            "flywheel": (["flywheel", "ingest", inputs / "app.jsonl"], 4.0)}
    # subtle: side by side, so the suite pays for the slowest alone
    with ThreadPoolExecutor(len(runs)) as pool:
        seen = {name: pool.submit(_kill_at_random_moments, args, stores[name], seed, upto)
                for seed, (name, (args, upto)) in enumerate(runs.items())}
        seen = {name: future.result() for name, future in seen.items()}
    print(f"kills of {KILLS} that came while workers ran: {seen}")
    assert all(n >= 3 for n in seen.values()), f"kills that came while workers ran: {seen}"


HOLDER = """
import os, subprocess, sys, time
from gristmill.store.lock import WriterLock
lock = WriterLock(sys.argv[1], "gristmill ingest (old release)")
lock.acquire()
child = os.fork()
if child == 0:  # a forked child never keeps the lock
    time.sleep(60)
    os._exit(0)
# a process handed the descriptor, as a worker forked by an older release had it
stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         pass_fds=(lock._fd,))
print(stray.pid, child, flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_strays_of_a_dead_holder_is_taken_over_at_once(tmp_path, caplog):
    store = tmp_path / "s.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    stray, child = map(int, holder.stdout.readline().split())
    # a process that only has the lock file open (as one naming the holder does) holds no lock
    reader = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); "
                               "print(1, flush=True); time.sleep(60)", f"{store}.lock"],
                              stdout=subprocess.PIPE, text=True)
    reader.stdout.readline()
    try:
        with pytest.raises(StoreLocked, match=f"pid {holder.pid} \\(gristmill ingest"):
            WriterLock(store, "a second writer").acquire()  # the holder lives: refused at once
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert "which has died" in describe_holder(Path(f"{store}.lock"))
        started = time.monotonic()
        with WriterLock(store, "the next writer"):
            assert time.monotonic() - started < 3
        assert f"pid {holder.pid}" in caplog.text and str(stray) in caplog.text
        time.sleep(0.2)
        assert stray not in _session(holder.pid)  # stopped
        assert child in _session(holder.pid)  # never held the lock, so left alone
        assert reader.poll() is None
    finally:
        reader.kill()
        for pid in _session(holder.pid):
            os.kill(pid, signal.SIGKILL)
