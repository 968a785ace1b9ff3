"""Opening the DuckDB file: read-only for readers, read-write for the one writer, migrated on open.

DuckDB lets many processes read a file or one process write it, never both. Writers keep the file
open only while they commit, so readers work during the long parts of a run and wait a bounded
time while a commit is in flight.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from gristmill.errors import GristmillError, SchemaTooNew, StoreBusy, StoreLocked
from gristmill.store.damage import damaged, disk_full, first_line
from gristmill.store.lock import WriterLock, describe_holder
from gristmill.store.schema import LATEST, MIGRATIONS

DEFAULT_BUSY_SECONDS = 15.0


class Store:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        busy = os.environ.get("GRISTMILL_BUSY_TIMEOUT", str(DEFAULT_BUSY_SECONDS))
        try:
            self.busy_seconds = float(busy)
        except ValueError:
            raise GristmillError(f"GRISTMILL_BUSY_TIMEOUT is seconds, not {busy!r}") from None

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to a store at the latest schema."""
        if not self.path.exists():
            raise GristmillError(
                f"no store at {self.path}: create one with "
                "`gristmill ingest FILE --dataset NAME` (or pass --store PATH)"
            )
        con = self._connect(read_only=True)
        try:
            if schema_version(con) < LATEST:
                con.close()
                self._upgrade()
                con = self._connect(read_only=True)
            yield con
        except duckdb.Error as e:
            # subtle: a bad block shows at whichever query first reads it, here or in the caller
            if (known := damaged(self.path, e)) is None:
                raise
            raise known from None
        finally:
            con.close()

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection; the caller must hold the WriterLock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=False)
        try:
            migrate(con)
            yield con
        except duckdb.Error as e:
            if (known := damaged(self.path, e) or disk_full(self.path, e)) is None:
                raise
            raise known from None
        finally:
            con.close()

    def _upgrade(self) -> None:
        try:
            with WriterLock(self.path, "gristmill (schema upgrade)"), self.write():
                pass
        except StoreLocked:
            # subtle: the writer holding the lock migrates the store when it opens it
            raise StoreBusy(f"the store {self.path} is being upgraded by a writer; try again") from None

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.busy_seconds
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                con.execute("SET enable_progress_bar = false")  # our own bars, on a TTY only
                return con
            except duckdb.IOException as e:
                if "lock" not in str(e).lower():
                    raise self._cannot_open(e, read_only) from None
                if time.monotonic() >= deadline:
                    holder = describe_holder(Path(f"{self.path}.lock"))
                    raise StoreBusy(
                        f"the store {self.path} is busy: {holder} is committing; waited "
                        f"{self.busy_seconds:.0f} s (GRISTMILL_BUSY_TIMEOUT), try again"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
            except duckdb.Error as e:
                raise self._cannot_open(e, read_only) from None

    def _cannot_open(self, e: duckdb.Error, read_only: bool) -> GristmillError:
        full = None if read_only else disk_full(self.path, e)  # replaying the WAL writes
        return damaged(self.path, e) or full or GristmillError(
            f"cannot open the store {self.path}: {first_line(e)}")


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied; 0 for a new file. Refuses a store from a newer release."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "schema_migrations" not in tables:
        if tables:
            raise GristmillError("this DuckDB file is not a Gristmill store (no schema_migrations)")
        return 0
    (version,) = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    if version > LATEST:
        raise SchemaTooNew(
            f"the store was written by a newer Gristmill (schema {version}; this release knows up "
            f"to {LATEST}): upgrade gristmill to open it"
        )
    return version


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    current = schema_version(con)
    for number, name, sql in MIGRATIONS:
        if number <= current:
            continue
        with transaction(con):
            if number == 1:
                con.execute("CREATE TABLE schema_migrations (version INTEGER NOT NULL, "
                            "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, current_localtimestamp())",
                        [number, name])


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()
