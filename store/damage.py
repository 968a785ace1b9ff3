"""Telling a damaged store or a full disk from DuckDB's other errors, one message for each.

DuckDB checks a block's checksum only when it reads the block, so damage shows at connect (the
headers, the catalog) or at whichever later query first reads a bad block; `unreadable` reads
every block of every table, so that `verify` and each writing run find it before trusting the
store.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from gristmill.errors import GristmillError, StoreDamaged

# what DuckDB 2.0 says, lower-cased, when a file's bytes are not what it wrote (tried on
# overwritten and truncated stores and WAL files: tests/test_damaged_store.py)
DAMAGE_SIGNS = (
    "corrupt database file",  # a block's checksum does not match: `_duckdb.Error`
    "corrupt wal file",  # a WAL entry's checksum (inside "Failure while replaying WAL file")
    "could not read enough bytes",  # the file is shorter than its blocks: IOException
    "not a valid duckdb database file",  # the magic bytes are gone: IOException
)
FULL_SIGNS = {"no space left on device": "No space left on device",  # ENOSPC
              "file too large": "File too large"}  # EFBIG: a file-size limit (ulimit -f)
_NAMED_FILE = re.compile(r'file "([^"]+)"')


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def is_damage(e: BaseException, path: Path | None = None) -> bool:
    """Whether `e` says a DuckDB file (the store at `path`, when given) is damaged."""
    if not any(sign in str(e).lower() for sign in DAMAGE_SIGNS):
        return False
    named = _NAMED_FILE.search(str(e))
    # subtle: DuckDB also reads Parquet, JSON and CSV; a short read of one of those is not the store's
    return not (named and path and Path(named.group(1)).name not in (path.name, f"{path.name}.wal"))


def damaged(path: Path, e: BaseException) -> StoreDamaged | None:
    """The error to raise when `e` says the store at `path` is damaged, else None."""
    if not is_damage(e, path):
        return None
    return StoreDamaged(f"the store {path} is damaged: {first_line(e)}; restore it from a copy")


def disk_full(path: Path, e: BaseException) -> GristmillError | None:
    """The error to raise when a write to the store at `path` failed for want of space."""
    text = str(e).lower()
    reason = next((why for sign, why in FULL_SIGNS.items() if sign in text), None)
    if reason is None:
        return None
    # subtle: DuckDB rolls back a transaction whose commit fails; earlier commits of a run stay
    return GristmillError(f"the disk holding the store {path} is full ({reason}): nothing was "
                          "committed by the write that failed; free some space and run again")


def unreadable(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(table, DuckDB's first line) for each table a full scan cannot read.

    `count(*)` alone answers from metadata, and zone maps let filtered queries skip blocks:
    hashing every column of every row is what makes DuckDB load, and checksum, each block."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary ORDER BY ALL").fetchall()
    bad = []
    for schema, table in tables:
        name = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table))
        try:
            con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {name}").fetchall()
        except duckdb.Error as e:
            if not is_damage(e):
                raise
            bad.append((table, first_line(e)))
    return bad


def check_readable(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse to write on a store some of whose blocks cannot be read."""
    bad = unreadable(con)
    if bad:
        table, why = bad[0]
        also = f" (and {len(bad) - 1} more table(s))" if len(bad) > 1 else ""
        raise StoreDamaged(f"the store {path} is damaged: {why} (reading table {table}{also}); "
                           "restore it from a copy")

