"""Read-only questions about versions: what is in one, how it came to be, how two differ, and
where every missing example went."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson

from gristmill.store.versions import Version, by_id


def lineage(con: duckdb.DuckDBPyConnection, version: Version) -> list[Version]:
    """The version and its ancestors, newest first."""
    chain = [version]
    while chain[-1].parent_id is not None:
        chain.append(by_id(con, chain[-1].parent_id))
    return chain


def _ids(chain: list[Version]) -> str:
    return ", ".join(str(v.version_id) for v in chain)


def describe(con: duckdb.DuckDBPyConnection, version: Version) -> dict[str, Any]:
    """Counts by kind, turns, system-prompt share, lengths (characters) and sources."""
    vid = version.version_id
    member_rows = (f"FROM members m JOIN examples e ON e.key = m.example_key "
                   f"WHERE m.version_id = {vid}")
    by_kind = con.execute(
        f"""SELECT kind, count(*), count(*) FILTER (WHERE n_turns = 1),
                   count(*) FILTER (WHERE n_turns > 1), avg(has_system::INTEGER),
                   quantile_disc(n_chars, 0.5), quantile_disc(n_chars, 0.95), max(n_chars),
                   max(n_turns)
            {member_rows} GROUP BY kind ORDER BY kind"""
    ).fetchall()
    kinds = {
        k: {"examples": n, "single_turn": single, "multi_turn": multi,
            "max_turns": max_turns, "with_system_prompt": round(float(sys_share or 0), 4),
            "chars": {"p50": p50, "p95": p95, "max": mx}}
        for k, n, single, multi, sys_share, p50, p95, mx, max_turns in by_kind
    }
    sources = con.execute(
        f"""SELECT s.source, count(DISTINCT s.example_key), count(*)
            FROM sources s JOIN members m ON m.example_key = s.example_key
            WHERE m.version_id = {vid} AND s.dataset = ? GROUP BY s.source ORDER BY 2 DESC""",
        [version.dataset],
    ).fetchall()
    records = sum(r[2] for r in sources)
    splits = dict(con.execute(f"SELECT split, count(*) FROM splits WHERE version_id = {vid} "
                              "GROUP BY split ORDER BY split").fetchall())
    return {
        "ref": version.ref, "examples": version.n_examples, "kinds": kinds,
        "sources": [{"source": s, "examples": n, "records": r} for s, n, r in sources],
        "duplicate_records": max(records - version.n_examples, 0), "splits": splits,
        "step": version.step, "created_at": version.created_at.isoformat(timespec="seconds"),
    }


def removed(
    con: duckdb.DuckDBPyConnection, version: Version, step: str | None = None,
    reason: str | None = None, limit: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Removals along the version's lineage: the rows (up to `limit`) and counts by step/reason."""
    chain = lineage(con, version)
    where = (f"r.version_id IN ({_ids(chain)}) AND (r.step = $step OR $step IS NULL) "
             "AND (r.reason = $reason OR $reason IS NULL)")
    params = {"step": step, "reason": reason}
    counts = con.execute(
        f"SELECT r.step || ':' || r.reason, count(*) FROM removals r WHERE {where} "
        "GROUP BY 1 ORDER BY 2 DESC", params).fetchall()
    rows = con.execute(
        f"""SELECT v.dataset || '@' || v.number, r.step, r.reason, e.id, r.message, r.evidence
            FROM removals r JOIN versions v USING (version_id) JOIN examples e
              ON e.key = r.example_key
            WHERE {where} ORDER BY v.number, r.reason, e.key
            {'LIMIT ' + str(int(limit)) if limit else ''}""", params).fetchall()
    return [
        {"version": ver, "step": st, "reason": rs, "id": i, "message": msg,
         "evidence": orjson.loads(ev) if ev else None}
        for ver, st, rs, i, msg, ev in rows
    ], dict(counts)


def diff(con: duckdb.DuckDBPyConnection, a: Version, b: Version, limit: int = 20) -> dict[str, Any]:
    """What B has that A has not, what A has that B has not (with the recorded reasons), and
    which examples B holds rewritten."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _diff AS
            SELECT coalesce(x.example_key, y.example_key) AS key, x.example_key IS NOT NULL AS in_a
            FROM (SELECT example_key FROM members WHERE version_id = {a.version_id}) x
            FULL JOIN (SELECT example_key FROM members WHERE version_id = {b.version_id}) y
              USING (example_key)
            WHERE x.example_key IS NULL OR y.example_key IS NULL"""
    )
    chain_b = _ids(lineage(con, b))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tf AS SELECT t.old_key, t.new_key, t.step
            FROM transforms t
            JOIN _diff d1 ON d1.key = t.old_key AND d1.in_a
            JOIN _diff d2 ON d2.key = t.new_key AND NOT d2.in_a
            WHERE t.version_id IN ({chain_b})"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gone AS
            SELECT d.key, coalesce(any_value(r.step || ':' || r.reason),
                                   'not recorded in the lineage of {b.ref}') AS why
            FROM _diff d LEFT JOIN removals r
              ON r.example_key = d.key AND r.version_id IN ({chain_b})
            WHERE d.in_a AND d.key NOT IN (SELECT old_key FROM _tf) GROUP BY d.key"""
    )
    count = "SELECT count(*) FROM "
    (n_added,) = con.execute(
        count + "_diff WHERE NOT in_a AND key NOT IN (SELECT new_key FROM _tf)").fetchone()
    (n_removed,) = con.execute(count + "_gone").fetchone()
    (n_transformed,) = con.execute(count + "_tf").fetchone()
    reasons = dict(con.execute("SELECT why, count(*) FROM _gone GROUP BY why ORDER BY 2 DESC")
                   .fetchall())
    added = con.execute(
        f"""SELECT e.id FROM _diff d JOIN examples e ON e.key = d.key WHERE NOT d.in_a
            AND d.key NOT IN (SELECT new_key FROM _tf) ORDER BY e.key LIMIT {int(limit)}"""
    ).fetchall()
    gone = con.execute(
        f"SELECT e.id, g.why FROM _gone g JOIN examples e ON e.key = g.key ORDER BY e.key "
        f"LIMIT {int(limit)}"
    ).fetchall()
    transformed = con.execute(
        f"""SELECT o.id, n.id, t.step FROM _tf t JOIN examples o ON o.key = t.old_key
            JOIN examples n ON n.key = t.new_key ORDER BY o.key LIMIT {int(limit)}"""
    ).fetchall()
    return {
        "from": a.ref, "to": b.ref,
        "added": n_added, "removed": n_removed, "transformed": n_transformed,
        "removed_by_reason": reasons,
        "added_ids": [r[0] for r in added],
        "removed_ids": [{"id": i, "reason": why} for i, why in gone],
        "transformed_ids": [{"from": o, "to": n, "step": st} for o, n, st in transformed],
    }
