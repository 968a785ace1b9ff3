"""One writer per store: an advisory file lock beside the DuckDB file, holding who has it.

The kernel drops the lock when the last descriptor of it closes, so a `kill -9` never leaves the
store locked as long as no other process holds a copy: a forked child closes its copy at once.
The pid and command written into the lock file name the holder; a lock still held after that
holder has died is held by strays (processes forked by an older release), which are stopped and
the lock taken over, never waited on.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import time
from pathlib import Path

from gristmill.errors import StoreLocked

log = logging.getLogger(__name__)
_HELD: set[int] = set()  # lock descriptors of this process, closed in every forked child


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
            if _take_over(self.path, fd):
                break
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            os.close(fd)
            raise StoreLocked(
                f"another run holds the store {self.path.with_suffix('')}: {describe_holder(self.path)}; "
                "try again when it has finished"
            ) from None
        holder = {"pid": os.getpid(), "started": _start_time(os.getpid()),
                  "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd
        _HELD.add(fd)

    def release(self) -> None:
        if self._fd is not None:
            _HELD.discard(self._fd)
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


def _close_held() -> None:
    # subtle: a forked child shares the lock; were it to outlive us, it would hold the store
    for fd in _HELD:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held)


def _take_over(lock_path: Path, fd: int) -> bool:
    """Take the lock when its recorded holder is dead: the processes still holding it are
    strays that inherited it, which are stopped. False while the holder lives or is unknown."""
    holder = _read_holder(lock_path)
    if not holder.get("pid") or _alive(holder["pid"], holder.get("started")):
        return False
    strays = _holding(lock_path)
    for pid in strays:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    log.warning("the store's writer pid %s (%s) has died; stopped the processes still holding "
                "its lock (pid %s) and took the lock over", holder["pid"], holder.get("command"),
                ", ".join(map(str, strays)) or "none")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if _locked(fd):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int, started: int | None) -> bool:
    """Whether `pid` is still the process that wrote the lock (a reused pid is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started is None or _start_time(pid) in (None, started)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def _holding(lock_path: Path) -> list[int]:
    """Processes other than this one holding the lock (Linux's /proc: a descriptor of the lock
    file whose fdinfo lists the flock; a reader that merely has the file open is not one)."""
    target, found = os.stat(lock_path), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for link in (entry / "fd").iterdir():
                st = os.stat(link)
                if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino) and \
                        "FLOCK" in (entry / "fdinfo" / link.name).read_text():
                    found.append(int(entry.name))
                    break
        except OSError:  # gone, or not ours to read
            continue
    return found


def _read_holder(lock_path: Path) -> dict:
    try:
        holder = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(lock_path: Path) -> str:
    """'pid 123 (gristmill ingest …) since 07:02:11', or what is known of it."""
    holder: dict = {}
    for _ in range(25):  # subtle: a writer names itself just after it takes the lock
        holder = _read_holder(lock_path)
        if holder:
            break
        time.sleep(0.02)
    if not holder:
        return "a writer that has not yet named itself"
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
    described = f"pid {holder.get('pid')} ({holder.get('command')}) since {since}"
    if isinstance(holder.get("pid"), int) and not _alive(holder["pid"], holder.get("started")):
        described += ", which has died (processes it started still hold the lock)"
    return described
