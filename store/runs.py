"""Every writing command is a run: recorded when it starts, ended in the transaction of its data.

The library records runs, not the CLI, so a script using the API leaves the same trail. A run
still marked `running` when the next writer takes the lock died without finishing (the lock is
free only once its holder is gone): it is marked `interrupted`.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import orjson

import gristmill
from gristmill.errors import GristmillError
from gristmill.interrupts import check
from gristmill.redact import redacted
from gristmill.store.damage import check_readable
from gristmill.store.db import Store, transaction
from gristmill.store.lock import WriterLock


@functools.cache
def code_version() -> str:
    """The package version, plus the git commit (and `.dirty`) when run from a checkout."""
    here = Path(gristmill.__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return gristmill.__version__
    return f"{gristmill.__version__}+g{sha}{'.dirty' if dirty else ''}"


def invocation(label: str) -> str:
    """The command line when run as `gristmill`, else the library caller's label; credentials
    on it (a URL's user:password, a key) are redacted, as it is stored and shown."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if program in ("gristmill", "__main__.py"):
        return redacted(shlex.join(["gristmill", *sys.argv[1:]]))
    return redacted(label)


class Run:
    """A handle on the running command: its id, its stats, and its commits."""

    def __init__(self, store: Store, run_id: int):
        self.store = store
        self.id = run_id
        self.stats: dict[str, Any] = {}
        self.finished = False

    @contextmanager
    def commit(self, final: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction for the data and the run's record; `final` marks the run finished."""
        check()
        with self.store.write() as con, transaction(con):
            yield con
            check()  # subtle: an interrupt a library swallowed still rolls this back
            con.execute(
                "UPDATE runs SET stats = ?, status = ?, ended_at = "
                "CASE WHEN ? THEN current_localtimestamp() END WHERE run_id = ?",
                [_json(self.stats), "ok" if final else "running", final, self.id],
            )
        self.finished = final


_READ_WHOLE: set[Path] = set()  # stores this process has read every block of, once


@contextmanager
def writing(store: Store, command: str, config: dict[str, Any]) -> Iterator[Run]:
    """Take the writer lock, record the run, and end it as ok or failed however the body ends.

    A store with a block DuckDB cannot read is refused first: a run would otherwise commit on top
    of the damage whenever its own queries miss the bad block, and report success. The scan
    (about 0.3 s per 200,000 examples) is paid once per process, not by every step of a recipe."""
    command = invocation(command)
    with WriterLock(store.path, command):
        with store.write() as con:
            if store.path.resolve() not in _READ_WHOLE:
                # subtle: outside the transaction, which a failed scan would abort
                check_readable(con, store.path)
                _READ_WHOLE.add(store.path.resolve())
            with transaction(con):
                con.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = current_localtimestamp(), "
                    "error = 'the process ended before the run finished' WHERE status = 'running'"
                )
                (run_id,) = con.execute(
                    "SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchone()
                con.execute(
                    "INSERT INTO runs (run_id, command, config, pid, code_version, started_at, "
                    "status) VALUES (?, ?, ?, ?, ?, current_localtimestamp(), 'running')",
                    [run_id, command, redacted(_json(config)), os.getpid(), code_version()],
                )
        run = Run(store, run_id)
        try:
            yield run
        except BaseException as e:
            if run.finished:  # interrupted after its last commit: the run's work is done
                raise
            error = redacted(str(e) or type(e).__name__)
            try:
                with store.write() as con:
                    con.execute(
                        "UPDATE runs SET status = 'failed', ended_at = current_localtimestamp(), "
                        "error = ?, stats = ? WHERE run_id = ?",
                        [error[:4000], _json(run.stats), run_id],
                    )
            except GristmillError:
                pass  # the next writer marks the run interrupted; the first error is the one to see
            raise
        if run.finished:
            return
        with store.write() as con:
            con.execute(
                "UPDATE runs SET status = 'ok', ended_at = coalesce(ended_at, "
                "current_localtimestamp()), stats = ? WHERE run_id = ?",
                [_json(run.stats), run_id],
            )


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
