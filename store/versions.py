"""Datasets and their versions: refs, lookups, and the one way a new version is committed.

A version is its parent plus its members (rows of two integers); creating one never copies a
payload. Every example a child leaves out is a `removals` row with its reason and evidence, and
every rewritten example a `transforms` row linking the new id to the old.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from gristmill.errors import GristmillError, UsageError
from gristmill.example import Example, stats
from gristmill.store.runs import code_version

if TYPE_CHECKING:
    import pyarrow as pa

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_COLUMNS = (
    "version_id, dataset, number, parent_id, step, config, config_hash, code_version, "
    "created_at, run_id, n_examples, n_added, n_removed, n_transformed, stats"
)


@dataclass(frozen=True)
class Version:
    version_id: int
    dataset: str
    number: int
    parent_id: int | None
    step: str
    config: dict[str, Any]
    config_hash: str
    code_version: str
    created_at: datetime
    run_id: int
    n_examples: int
    n_added: int
    n_removed: int
    n_transformed: int
    stats: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.number}"

    @classmethod
    def _from_row(cls, row: tuple) -> Version:
        values = list(row)
        values[5] = orjson.loads(values[5])
        values[14] = orjson.loads(values[14])
        return cls(*values)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid dataset name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`NAME`, `NAME@latest` -> (NAME, None); `NAME@3` -> (NAME, 3)."""
    name, _, number = ref.partition("@")
    check_name(name)
    if number in ("", "latest"):
        return name, None
    if not number.isdigit() or int(number) < 1:
        raise UsageError(f"invalid ref {ref!r}: expected NAME, NAME@latest or NAME@N (N >= 1)")
    return name, int(number)


def resolve(con: duckdb.DuckDBPyConnection, ref: str) -> Version:
    name, number = parse_ref(ref)
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM versions WHERE dataset = ? "
        "AND (number = ? OR ? IS NULL) ORDER BY number DESC LIMIT 1",
        [name, number, number],
    ).fetchall()
    if rows:
        return Version._from_row(rows[0])
    known = [r[0] for r in con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]
    if name not in known:
        listing = ", ".join(known) if known else "none yet"
        raise GristmillError(f"no dataset named {name!r} (datasets: {listing})")
    (last,) = con.execute("SELECT max(number) FROM versions WHERE dataset = ?", [name]).fetchone()
    raise GristmillError(f"{name} has no version {number} (versions 1 to {last})")


def latest(con: duckdb.DuckDBPyConnection, dataset: str) -> Version | None:
    """The dataset's latest version; None while it has none."""
    try:
        return resolve(con, dataset)
    except GristmillError:
        return None


def by_id(con: duckdb.DuckDBPyConnection, version_id: int) -> Version:
    row = con.execute(f"SELECT {_COLUMNS} FROM versions WHERE version_id = ?", [version_id])
    return Version._from_row(row.fetchone())


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)).hexdigest()


def insert_new_examples(con: duckdb.DuckDBPyConnection, relation: str,
                        run_id: int) -> tuple[int, int]:
    """Store the examples of `relation` (ordinal, id, kind, payload, n_chars, n_turns,
    has_system) whose ids are not stored yet, the first of each id only; `ordinal` is unique and
    increasing. A new example's key is base + its ordinal. Returns (how many were new, base);
    the temp table `_skip` (ordinal, repeat) names the rows that were not new."""
    (base,) = con.execute("SELECT coalesce(max(key), 0) FROM examples").fetchone()
    # subtle: the few rows to leave out (repeats, content already stored) are found on (id,
    # ordinal) alone, so payloads stream once through an anti join with that small set
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _skip AS
            SELECT ordinal, true AS repeat FROM (SELECT ordinal, row_number() OVER (PARTITION BY
                id ORDER BY ordinal) AS n FROM {relation}) WHERE n > 1
            UNION ALL
            SELECT r.ordinal, false FROM {relation} r SEMI JOIN examples e ON e.id = r.id"""
    )
    (count,) = con.execute(
        f"""INSERT INTO examples
            SELECT {int(base)} + r.ordinal, r.id, r.kind, r.payload, r.n_chars, r.n_turns,
                   r.has_system, {int(run_id)}
            FROM {relation} r ANTI JOIN _skip k ON k.ordinal = r.ordinal"""
    ).fetchone()
    return count, int(base)


def create_version(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset: str,
    parent: Version | None,
    step: str,
    config: dict[str, Any],
    run_id: int,
    members: str,
    stats: dict[str, Any] | None = None,
    n_added: int,
    n_removed: int = 0,
    n_transformed: int = 0,
) -> Version:
    """Commit a version whose members are the example keys `members` (a SQL query) selects;
    the caller knows the counts from its own decisions. Runs inside the caller's transaction."""
    check_name(dataset)
    if parent is None and not con.execute(
        "SELECT 1 FROM datasets WHERE name = ?", [dataset]
    ).fetchone():
        con.execute("INSERT INTO datasets VALUES (?, current_localtimestamp())", [dataset])
    (version_id,) = con.execute("SELECT coalesce(max(version_id), 0) + 1 FROM versions").fetchone()
    (number,) = con.execute(
        "SELECT coalesce(max(number), 0) + 1 FROM versions WHERE dataset = ?", [dataset]
    ).fetchone()
    (n_examples,) = con.execute(
        f"INSERT INTO members SELECT {version_id}, example_key "
        f"FROM (SELECT DISTINCT example_key FROM ({members}) {_NOT_FORGOTTEN}) "
        "ORDER BY example_key"
    ).fetchone()
    kept_out = _kept_out(con, version_id, members)
    n_removed, n_added = n_removed + kept_out, max(n_added - kept_out, 0)
    con.execute(
        f"INSERT INTO versions ({_COLUMNS}) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, current_localtimestamp(), ?, ?, ?, ?, ?, ?)",
        [
            version_id, dataset, number, parent.version_id if parent else None, step,
            orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode(), config_hash(config),
            code_version(), run_id, n_examples, n_added, n_removed, n_transformed,
            orjson.dumps(stats or {}, option=orjson.OPT_SORT_KEYS).decode(),
        ],
    )
    return by_id(con, version_id)


def commit_child(
    con: duckdb.DuckDBPyConnection,
    parent: Version,
    *,
    step: str,
    config: dict[str, Any],
    run_id: int,
    removals: pa.Table | None = None,
    transforms: list[tuple[str, Example, dict[str, Any]]] = (),
    stats: dict[str, Any] | None = None,
) -> Version:
    """The version a step makes from `parent`: without the removed examples (a table of id,
    reason, message, evidence), with each transformed example (old id, new example, evidence)
    in place of the old one. Runs inside the caller's transaction."""
    import pyarrow as pa

    empty = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                      "message": pa.array([], pa.string()), "evidence": pa.array([], pa.string())})
    con.register("_removed_in", removals if removals is not None else empty)
    con.register("_transforms_in", _transform_table(transforms))
    try:
        insert_new_examples(con, "_transforms_in", run_id)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _removed AS SELECT e.key, r.reason, r.message, "
            "r.evidence FROM _removed_in r JOIN examples e ON e.id = r.id"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _transformed AS SELECT o.key AS old_key, n.key AS "
            "new_key, t.evidence FROM _transforms_in t JOIN examples o ON o.id = t.old_id "
            "JOIN examples n ON n.id = t.id"
        )
        _check_in_parent(con, parent, len(removals or []), len(transforms))
        (n_added,) = con.execute(
            "SELECT count(DISTINCT new_key) FROM _transformed WHERE new_key NOT IN "
            "(SELECT example_key FROM members WHERE version_id = ?)", [parent.version_id]
        ).fetchone()
        kept = (
            f"SELECT example_key FROM members WHERE version_id = {parent.version_id} "
            "AND example_key NOT IN (SELECT key FROM _removed) "
            "AND example_key NOT IN (SELECT old_key FROM _transformed) "
            "UNION ALL SELECT new_key FROM _transformed"
        )
        version = create_version(
            con, dataset=parent.dataset, parent=parent, step=step, config=config,
            run_id=run_id, members=kept, stats=stats,
            n_removed=len(removals or []), n_transformed=len(transforms), n_added=n_added,
        )
        con.execute(
            "INSERT INTO removals SELECT ?, key, ?, reason, message, evidence FROM _removed",
            [version.version_id, step],
        )
        con.execute(
            "INSERT INTO transforms SELECT ?, old_key, new_key, ?, evidence FROM _transformed",
            [version.version_id, step],
        )
        return version
    finally:
        con.abort()  # subtle: drop any half-read result, or unregistering is refused
        con.unregister("_removed_in")
        con.unregister("_transforms_in")


# subtle: a forgotten example (gristmill forget) never enters a new version, however it comes
# back (the same content ingested again, a generator writing it anew)
_NOT_FORGOTTEN = "WHERE example_key NOT IN (SELECT example_key FROM forgotten)"


def _kept_out(con: duckdb.DuckDBPyConnection, version_id: int, members: str) -> int:
    """Record each forgotten example the members named as a removal of the new version, so
    nothing disappears silently; returns how many."""
    if not con.execute("SELECT 1 FROM forgotten LIMIT 1").fetchone():
        return 0
    (count,) = con.execute(
        f"""INSERT INTO removals SELECT DISTINCT {version_id}, example_key, 'forget', 'forgotten',
            'forgotten earlier (gristmill forget): kept out of every new version', NULL
            FROM ({members}) WHERE example_key IN (SELECT example_key FROM forgotten)""").fetchone()
    return count


def _transform_table(transforms: list[tuple[str, Example, dict[str, Any]]]) -> pa.Table:
    import pyarrow as pa

    columns = example_columns([ex for _, ex, _ in transforms])
    return pa.table(columns | {
        "old_id": pa.array([old for old, _, _ in transforms], pa.string()),
        "evidence": pa.array([orjson.dumps(ev).decode() for _, _, ev in transforms], pa.string()),
    })


def example_columns(examples: list[Example]) -> dict[str, Any]:
    """The columns `insert_new_examples` reads, as Arrow arrays, ordinals from 1."""
    import pyarrow as pa

    counts = [stats(ex.payload) for ex in examples]
    return {
        "ordinal": pa.array(range(1, len(examples) + 1), pa.int64()),
        "id": pa.array([ex.id for ex in examples], pa.string()),
        "kind": pa.array([ex.kind for ex in examples], pa.string()),
        "payload": pa.array([ex.canonical.decode() for ex in examples], pa.string()),
        "n_chars": pa.array([c[0] for c in counts], pa.int32()),
        "n_turns": pa.array([c[1] for c in counts], pa.int32()),
        "has_system": pa.array([c[2] for c in counts], pa.bool_()),
    }


def _check_in_parent(con: duckdb.DuckDBPyConnection, parent: Version, n_rm: int, n_tf: int) -> None:
    """A step may only remove or rewrite examples its input version holds, each once."""
    (found_rm, found_tf) = con.execute(
        f"""SELECT
          (SELECT count(DISTINCT r.key) FROM _removed r JOIN members m
             ON m.example_key = r.key AND m.version_id = {parent.version_id}),
          (SELECT count(DISTINCT t.old_key) FROM _transformed t JOIN members m
             ON m.example_key = t.old_key AND m.version_id = {parent.version_id})"""
    ).fetchone()
    if found_rm != n_rm or found_tf != n_tf:
        raise GristmillError(
            f"a step's decisions do not match {parent.ref}: {n_rm - found_rm} removals and "
            f"{n_tf - found_tf} transforms name examples that are not members (or name one twice)"
        )
