"""Ctrl-C that a C extension cannot swallow.

A library that polls for signals inside its own calls (DuckDB does, while a query runs) may clear
the KeyboardInterrupt our handler raised and carry on, so an interrupted run would commit as if
nothing happened. The handler also records that the signal came; `check` raises it again at the
points that must not pass after an interrupt: before a run's commit ends.
"""

from __future__ import annotations

import signal

_interrupted = False


def install() -> None:
    """Handle SIGINT in this process (the CLI's main thread)."""

    def handler(signum: int, frame: object) -> None:
        global _interrupted
        _interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def interrupted() -> bool:
    return _interrupted


def check() -> None:
    """Raise KeyboardInterrupt if SIGINT came, whether or not the first one got through."""
    if _interrupted:
        raise KeyboardInterrupt
