"""One writer per store: an advisory file lock beside the DuckDB file, holding who has it.

The kernel drops the lock when its holder dies, so a `kill -9` never leaves the store locked;
the pid and command written into the lock file are only there to name the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from gristmill.errors import StoreLocked


class WriterLock:
    def __init__(self, store_path: Path, command: str, wait: float = 0.0):
        self.path = Path(f"{store_path}.lock")
        self.command = command
        self.wait = wait  # seconds to wait for the holder to finish; 0: fail at once
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a new store in a new folder
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while not _locked(fd):
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            os.close(fd)
            raise StoreLocked(
                f"another run holds the store {self.path.with_suffix('')}: {describe_holder(self.path)}; "
                "try again when it has finished"
            ) from None
        holder = {"pid": os.getpid(), "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _locked(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def describe_holder(lock_path: Path) -> str:
    """'pid 123 (gristmill ingest …) since 07:02:11', or what is known of it."""
    holder: dict = {}
    for _ in range(25):  # subtle: a writer names itself just after it takes the lock
        try:
            holder = json.loads(lock_path.read_text() or "{}")
        except (OSError, ValueError):
            holder = {}
        if holder:
            break
        time.sleep(0.02)
    if not holder:
        return "a writer that has not yet named itself"
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid')} ({holder.get('command')}) since {since}"
