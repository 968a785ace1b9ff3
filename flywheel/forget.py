"""`gristmill forget`: take a source's or a user's examples out of every future version.

The examples are found by where they came from: `--source` matches the file (or a folder, or a
glob) recorded in their sources, which covers log lines and the examples mined from them; `--user`
matches log lines by the hash of the user id (the id itself is never stored) and the examples
mined from those lines. Every dataset whose latest version holds one gets a new version without
it, each removal recorded with the reason; the `forgotten` table keeps any later version from
taking it back in (see `versions.create_version`). Past versions stay as they were, since models
were trained on them: the models that saw the examples are listed, to be retrained or retired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gristmill.errors import GristmillError, UsageError
from gristmill.flywheel.log_store import user_hash
from gristmill.store import versions
from gristmill.store.db import Store
from gristmill.store.runs import writing


@dataclass
class ForgetResult:
    selector: str
    examples: int = 0
    versions: list[str] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        made = ", ".join(self.versions) or "no dataset held them"
        models = ", ".join(m["model"] for m in self.models) or "none"
        return (f"forgot {self.examples:,} example(s) matching {self.selector}: {made}; "
                f"models trained on them: {models}")


def forget(store: Store, *, source: str | None = None, user: str | None = None,
           reason: str) -> ForgetResult:
    if (source is None) == (user is None):
        raise UsageError("name a --source or a --user (one of the two)")
    if not reason.strip():
        raise UsageError("--reason must say why (it is kept with every removal)")
    selector = f"source={_absolute(source)}" if source else f"user=sha256:{user_hash(user)[:16]}"
    result = ForgetResult(selector)
    with writing(store, f"forget {selector}", {"selector": selector, "reason": reason}) as run:
        with run.commit() as con:
            keys = _by_source(con, source) if source else _by_user(con, user)
            if not keys:
                raise GristmillError(f"no stored example matches {selector}")
            con.execute("CREATE OR REPLACE TEMP TABLE _forget AS SELECT unnest(?::BIGINT[]) "
                        "AS example_key", [sorted(keys)])
            con.execute("INSERT INTO forgotten SELECT example_key, ?, ?, ?, "
                        "current_localtimestamp() FROM _forget", [selector, reason, run.id])
            result.examples = len(keys)
            for dataset in _datasets_holding(con):
                version = _without(con, dataset, run.id, selector, reason)
                result.versions.append(version.ref)
            result.models = trained_on(con)
            run.stats = {"examples": result.examples, "versions": result.versions,
                         "models": [m["model"] for m in result.models]}
    return result


def trained_on(con) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT m.name, m.stage, count(*) FROM model_examples x JOIN models m USING (model_id) "
        "WHERE x.split IN ('train', 'val') AND x.example_key IN (SELECT example_key FROM "
        "_forget) GROUP BY m.model_id, m.name, m.stage ORDER BY m.model_id").fetchall()
    return [{"model": n, "stage": s, "examples": c} for n, s, c in rows]


def _absolute(source: str) -> str:
    return source if any(c in source for c in "*?[") else str(Path(source).resolve())


def _by_source(con, source: str) -> set[int]:
    pattern = _absolute(source)
    rows = con.execute("SELECT DISTINCT example_key FROM sources WHERE source = $p OR "
                       "starts_with(source, rtrim($p, '/') || '/') OR source GLOB $p",
                       {"p": pattern}).fetchall()
    return {k for (k,) in rows}


def _by_user(con, user: str) -> set[int]:
    rows = con.execute(
        """SELECT example_key FROM log_lines WHERE user_hash = $h
           UNION SELECT s.example_key FROM sources s JOIN log_lines l
             ON json_extract_string(s.meta, '$.line_key') = l.line_key WHERE l.user_hash = $h""",
        {"h": user_hash(user)}).fetchall()
    return {k for (k,) in rows}


def _datasets_holding(con) -> list[str]:
    rows = con.execute(
        """SELECT v.dataset FROM versions v
           WHERE v.number = (SELECT max(number) FROM versions w WHERE w.dataset = v.dataset)
           AND EXISTS (SELECT 1 FROM members m JOIN _forget f USING (example_key)
                       WHERE m.version_id = v.version_id) ORDER BY v.dataset""").fetchall()
    return [d for (d,) in rows]


def _without(con, dataset: str, run_id: int, selector: str, reason: str) -> versions.Version:
    import pyarrow as pa

    latest = versions.resolve(con, dataset)
    ids = [i for (i,) in con.execute(
        "SELECT e.id FROM members m JOIN _forget f USING (example_key) JOIN examples e "
        "ON e.key = m.example_key WHERE m.version_id = ?", [latest.version_id]).fetchall()]
    evidence = orjson.dumps({"selector": selector}).decode()
    removals = pa.table({"id": ids, "reason": ["forgotten"] * len(ids),
                         "message": [reason] * len(ids), "evidence": [evidence] * len(ids)})
    return versions.commit_child(con, latest, step="forget", config={"selector": selector,
                                 "reason": reason}, run_id=run_id, removals=removals)
