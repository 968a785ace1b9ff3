"""`verify`: read every block, re-derive everything the store promises and report each place it
does not hold.

Payloads are re-hashed and re-canonicalized in Python (the same code that wrote them), and the
version graph is checked with SQL: counts, parents, members, removals and transforms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import orjson

from gristmill.errors import InvalidRecord, VerifyFailed
from gristmill.example import canonical_json, content_id, normalize
from gristmill.store.damage import unreadable
from gristmill.store.versions import config_hash

UNREADABLE = "the store is damaged: DuckDB cannot read the table"

# (what must hold, a query returning the rows where it does not)
_GRAPH_CHECKS: list[tuple[str, str]] = [
    ("example ids are unique",
     "SELECT id, count(*) FROM examples GROUP BY id HAVING count(*) > 1"),
    ("example keys are unique",
     "SELECT key, count(*) FROM examples GROUP BY key HAVING count(*) > 1"),
    ("every member is a stored example",
     "SELECT m.version_id, m.example_key FROM members m ANTI JOIN examples e "
     "ON e.key = m.example_key"),
    ("a version's example count matches its members",
     "SELECT v.dataset || '@' || v.number, v.n_examples, count(m.example_key) FROM versions v "
     "LEFT JOIN members m USING (version_id) GROUP BY ALL HAVING v.n_examples <> count(m.example_key)"),
    ("a version holds each example once",
     "SELECT version_id, example_key FROM members GROUP BY ALL HAVING count(*) > 1"),
    ("a parent is an earlier version of the same dataset",
     "SELECT v.dataset || '@' || v.number FROM versions v LEFT JOIN versions p "
     "ON p.version_id = v.parent_id WHERE v.parent_id IS NOT NULL AND "
     "(p.version_id IS NULL OR p.dataset <> v.dataset OR p.number >= v.number)"),
    ("version numbers run 1, 2, 3, ... in each dataset",
     "SELECT dataset FROM versions GROUP BY dataset "
     "HAVING count(DISTINCT number) <> max(number) OR count(*) <> max(number)"),
    ("every version's dataset is listed",
     "SELECT DISTINCT v.dataset FROM versions v ANTI JOIN datasets d ON d.name = v.dataset"),
    ("a removed example was in the parent and is not in the version",
     "SELECT v.dataset || '@' || v.number, r.example_key FROM removals r "
     "JOIN versions v USING (version_id) WHERE r.example_key NOT IN (SELECT example_key FROM "
     "members m WHERE m.version_id = v.parent_id) OR r.example_key IN (SELECT example_key FROM "
     "members m WHERE m.version_id = v.version_id)"),
    ("a transform links a parent member to a member of the version",
     "SELECT v.dataset || '@' || v.number, t.old_key, t.new_key FROM transforms t "
     "JOIN versions v USING (version_id) WHERE t.old_key NOT IN (SELECT example_key FROM "
     "members m WHERE m.version_id = v.parent_id) OR t.new_key NOT IN (SELECT example_key "
     "FROM members m WHERE m.version_id = v.version_id)"),
    ("every source names a stored example",
     "SELECT s.example_key, s.source FROM sources s ANTI JOIN examples e "
     "ON e.key = s.example_key"),
]


def verify(
    con: duckdb.DuckDBPyConnection, on_batch: Callable[[int], None] | None = None,
) -> tuple[int, list[str]]:
    """(examples checked, problems found). A table DuckDB cannot read is a problem that names it
    and ends the checks, which would only trip over the same bad blocks."""
    (checked,) = con.execute("SELECT count(*) FROM examples").fetchone()  # from metadata
    problems = [f"{UNREADABLE} {table}: {why}" for table, why in unreadable(con)]
    if problems:
        return checked, problems
    problems = list(_payload_problems(con, on_batch))
    for rule, sql in _GRAPH_CHECKS:
        rows = con.execute(sql).fetchall()
        problems += [f"{rule}: not so for {', '.join(map(str, row))}" for row in rows[:20]]
        if len(rows) > 20:
            problems.append(f"{rule}: ... and {len(rows) - 20} more")
    for ref, config, stored in con.execute(
        "SELECT dataset || '@' || number, config, config_hash FROM versions"
    ).fetchall():
        if config_hash(orjson.loads(config)) != stored:
            problems.append(f"{ref}: its config does not match its config hash")
    return checked, problems


def failure(path: Path, checked: int, problems: list[str]) -> VerifyFailed:
    """The error `verify` ends with; it names the store and its unreadable tables, if any."""
    tables = [p.removeprefix(UNREADABLE).partition(":")[0].strip() for p in problems
              if p.startswith(UNREADABLE)]
    if tables:
        return VerifyFailed(f"the store {path} is damaged: DuckDB cannot read the table(s) "
                            f"{', '.join(tables)}; restore it from a copy")
    return VerifyFailed(f"{len(problems)} problem(s) in {checked:,} examples and their versions")


def _payload_problems(con, on_batch) -> Iterator[str]:
    reader = con.cursor().sql("SELECT key, id, kind, payload FROM examples ORDER BY key") \
        .to_arrow_reader(20_000)
    for batch in reader:
        for key, ex_id, kind, payload in zip(*(c.to_pylist() for c in batch.columns), strict=True):
            raw = payload.encode()
            if content_id(raw) != ex_id:
                yield f"example {key} ({ex_id[:12]}): its payload does not hash to its id"
                continue
            try:
                normal = normalize(orjson.loads(raw))
            except (orjson.JSONDecodeError, InvalidRecord) as e:
                yield f"example {key} ({ex_id[:12]}): its payload is not a valid example: {e}"
                continue
            if canonical_json(normal) != raw:
                yield f"example {key} ({ex_id[:12]}): its payload is not in canonical form"
            elif normal["kind"] != kind:
                yield f"example {key} ({ex_id[:12]}): kind column says {kind}, payload {normal['kind']}"
        if on_batch:
            on_batch(batch.num_rows)
