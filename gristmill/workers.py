"""Worker processes that never outlive the run that started them.

A worker blocked on its task queue never sees its parent die: every worker holds the queue's
write end too, so the read never ends. A `kill -9` of the parent (the OOM killer, `timeout`, a
user) would leave them running, holding hundreds of MB each. Every pool here asks the kernel to
kill its workers when the parent dies (Linux's parent-death signal), or watches the parent from a
thread where that signal does not exist.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.pool import Pool
from typing import Any

_PR_SET_PDEATHSIG = 1


def executor(workers: int, method: str, initializer: Callable[..., Any] | None = None,
             initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor whose workers die with this process."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=_start, initargs=(os.getpid(), initializer, initargs))


def pool(workers: int, method: str = "fork") -> Pool:
    """A multiprocessing Pool whose workers die with this process."""
    return multiprocessing.get_context(method).Pool(
        workers, initializer=_start, initargs=(os.getpid(), None, ()))


def _start(parent: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    die_with(parent)
    if initializer is not None:
        initializer(*initargs)


def die_with(parent: int) -> None:
    """End this process when `parent` ends. subtle: the parent-death signal is tied to the
    thread that started the worker, so pools are started from the thread that drives them."""
    if not _parent_death_signal():
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)


def _parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.25)
    os._exit(1)
