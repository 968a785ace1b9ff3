"""Run steps over a version: each commits a child version with its config and stats, in its own
transaction. The same step config on the same input reuses the committed child, so a re-run after
a kill continues from the last committed step; a dry run lays decisions over the input instead.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson

from gristmill.curation.rows import Context, Overlay, VersionRows
from gristmill.curation.step import Decisions, Step
from gristmill.store.db import Store
from gristmill.store.inspect import lineage
from gristmill.store.runs import Run, writing
from gristmill.store.versions import Version, by_id, commit_child, config_hash, resolve

SAMPLES = 3  # removals kept in a step's stats, to show what it did


@dataclass
class StepOutcome:
    step: str
    input: str  # a ref
    output: str | None  # the child's ref; None in a dry run
    stats: dict[str, Any]
    reused: bool = False
    samples: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        s = self.stats
        reasons = ", ".join(f"{r} {n:,}" for r, n in s["dropped"].items())
        dropped = sum(s["dropped"].values())
        arrow = f"{self.input} -> {self.output}" if self.output else f"{self.input} (dry run)"
        tail = " (reused)" if self.reused else ""
        return (f"{self.step}: {arrow}: kept {s['kept']:,}, dropped {dropped:,}"
                f"{f' ({reasons})' if reasons else ''}, transformed {s['transformed']:,}, "
                f"{s['seconds']:.1f} s{tail}")


def curate(store: Store, ref: str, steps: list[Step], *, dry_run: bool = False,
           progress: bool = False, on_step: Callable[[StepOutcome], None] | None = None,
           ) -> list[StepOutcome]:
    """Run `steps` in order from `ref`; returns one outcome per step."""
    report = on_step or (lambda outcome: None)
    if dry_run:
        return _dry_run(store, ref, steps, progress, report)
    with writing(store, "curate", {"ref": ref, "steps": [s.name for s in steps]}) as run:
        with store.read() as con:
            version = resolve(con, ref)
        version, todo, outcomes = committed(store, version, steps, report)
        run.stats["steps"] = [o.line() for o in outcomes]
        for step, config in todo:
            outcome = _commit(run, version, step, config, Context(store, version, progress))
            outcomes.append(outcome)
            run.stats["steps"] = [o.line() for o in outcomes]
            report(outcome)
            with store.read() as con:
                version = resolve(con, outcome.output)
    return outcomes


def committed(store: Store, version: Version, steps: list[Step],
              report: Callable[[StepOutcome], None],
              ) -> tuple[Version, list[tuple[Step, dict]], list[StepOutcome]]:
    """The leading steps an earlier run committed from `version` with the same configs (a
    re-run after a kill, or after it finished): the version the rest start from, the rest with
    their configs, and an outcome for each step done, reported."""
    configs = [{"step": s.name, **s.resolved_config(Context(store, version))} for s in steps]
    outcomes = done_already(store, version, configs)
    todo = list(zip(steps, configs, strict=True))[len(outcomes):]
    while todo and (outcome := reuse(store, version, todo[0][0].name, todo[0][1])):
        outcomes.append(outcome)
        todo.pop(0)
        with store.read() as con:
            version = resolve(con, outcome.output)
    for outcome in outcomes:
        report(outcome)
    return version, todo, outcomes


def done_already(store: Store, version: Version, configs: list[dict]) -> list[StepOutcome]:
    """When `version` is itself the result of the first steps of this recipe (a re-run of
    `curate NAME` after a kill, or after it finished), those steps are done: outcomes for them."""
    with store.read() as con:
        chain = lineage(con, version)[:len(configs) + 1]
    for done in range(min(len(configs), len(chain) - 1), 0, -1):
        made = chain[:done][::-1]  # oldest first
        if all(v.step == c["step"] and v.config_hash == config_hash(c)
               for v, c in zip(made, configs, strict=False)):
            parents = chain[1:done + 1][::-1]
            return [StepOutcome(v.step, p.ref, v.ref, v.stats, reused=True,
                                samples=v.stats.get("samples", [])) for v, p in
                    zip(made, parents, strict=True)]
    return []


def reuse(store: Store, parent: Version, step: str, config: dict) -> StepOutcome | None:
    with store.read() as con:
        row = con.execute(
            "SELECT max(version_id) FROM versions WHERE parent_id = ? AND step = ? AND "
            "config_hash = ?", [parent.version_id, step, config_hash(config)]).fetchone()
        if row[0] is None:
            return None
        child = by_id(con, row[0])
    return StepOutcome(step, parent.ref, child.ref, child.stats, reused=True,
                       samples=child.stats.get("samples", []))


def _commit(run: Run, parent: Version, step: Step, config: dict, ctx: Context) -> StepOutcome:
    started = time.perf_counter()
    decisions = step.run(VersionRows(run.store, parent, meta=step.needs_meta()), ctx)
    stats = _stats(parent.n_examples, decisions, time.perf_counter() - started)
    with run.commit(final=False) as con:
        child = record(con, run.id, parent, step.name, config, _removal_table(decisions),
                       [(old, r.example, r.evidence) for old, r in decisions.rewrites.items()],
                       decisions.splits, decisions.tables, stats)
    return StepOutcome(step.name, parent.ref, child.ref, stats, samples=stats["samples"])


def record(con: duckdb.DuckDBPyConnection, run_id: int, parent: Version, step: str, config: dict,
           removals, transforms: list, splits, tables: list, stats: dict[str, Any]) -> Version:
    """Commit one step's decisions as the child of `parent`, in the caller's transaction:
    removals (id, reason, message, evidence), transforms (old id, example, evidence), splits
    (id -> split, or a table of id, split), and intermediate tables."""
    child = commit_child(con, parent, step=step, config=config, run_id=run_id,
                         removals=removals, transforms=transforms, stats=stats)
    _write_splits(con, parent, child, splits)
    for table, rows in tables:
        _append(con, table, rows, child.version_id)
    return child


def _dry_run(store: Store, ref: str, steps: list[Step], progress: bool,
             report: Callable[[StepOutcome], None]) -> list[StepOutcome]:
    with store.read() as con:
        version = resolve(con, ref)
    overlay, outcomes, n = Overlay(), [], version.n_examples
    for step in steps:
        ctx = Context(store, version, progress)
        started = time.perf_counter()
        decisions = step.run(VersionRows(store, version, overlay, meta=step.needs_meta()), ctx)
        stats = _stats(n, decisions, time.perf_counter() - started)
        overlay.apply(decisions.drops, decisions.rewrites)
        n = stats["kept"]
        outcomes.append(StepOutcome(step.name, version.ref, None, stats, samples=stats["samples"]))
        report(outcomes[-1])
    return outcomes


def _stats(n_input: int, decisions: Decisions, seconds: float) -> dict[str, Any]:
    samples = [{"id": i, "reason": d.reason, "message": d.message, "evidence": d.evidence}
               for i, d in list(decisions.drops.items())[:SAMPLES]]
    return step_stats(n_input, Counter(d.reason for d in decisions.drops.values()),
                      len(decisions.rewrites), seconds, samples, decisions.stats)


def step_stats(n_input: int, reasons: Counter, transformed: int, seconds: float,
               samples: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    """What a version records of the step that made it."""
    return {"input": n_input, "kept": n_input - sum(reasons.values()),
            "dropped": dict(reasons.most_common()), "transformed": transformed,
            "seconds": round(seconds, 3), "samples": samples[:SAMPLES], **extra}


def _removal_table(decisions: Decisions):
    import pyarrow as pa

    drops = decisions.drops
    return pa.table({
        "id": pa.array(list(drops), pa.string()),
        "reason": pa.array([d.reason for d in drops.values()], pa.string()),
        "message": pa.array([d.message for d in drops.values()], pa.string()),
        "evidence": pa.array([orjson.dumps(d.evidence).decode() for d in drops.values()],
                             pa.string()),
    })


def _write_splits(con: duckdb.DuckDBPyConnection, parent: Version, child: Version,
                  splits) -> None:
    """A split step's assignment, or the parent's carried over (a rewrite keeps its split)."""
    if splits is None:
        con.execute(
            """INSERT INTO splits
               SELECT ?, s.example_key, s.split FROM splits s JOIN members m ON m.version_id = ?
                 AND m.example_key = s.example_key WHERE s.version_id = ?
               UNION ALL
               SELECT ?, t.new_key, s.split FROM transforms t JOIN splits s
                 ON s.version_id = ? AND s.example_key = t.old_key WHERE t.version_id = ?""",
            [child.version_id, child.version_id, parent.version_id,
             child.version_id, parent.version_id, child.version_id])
        return
    import pyarrow as pa

    table = splits if isinstance(splits, pa.Table) else pa.table(
        {"id": pa.array(list(splits), pa.string()),
         "split": pa.array(list(splits.values()), pa.string())})
    _append_select(con, table, f"""INSERT INTO splits SELECT {child.version_id}, m.example_key,
        t.split FROM _rows t JOIN examples e ON e.id = t.id JOIN members m
        ON m.example_key = e.key AND m.version_id = {child.version_id}""")


def _append(con: duckdb.DuckDBPyConnection, table: str, rows, version_id: int) -> None:
    """Store a step's intermediate rows; tables with a version_id column get the child's."""
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()}
    extra = f", {version_id} AS version_id" if "version_id" in columns and \
        "version_id" not in rows.column_names else ""
    _append_select(con, rows, f"INSERT INTO {table} BY NAME SELECT *{extra} FROM _rows")


def _append_select(con: duckdb.DuckDBPyConnection, rows, sql: str) -> None:
    con.register("_rows", rows)
    try:
        con.execute(sql)
    finally:
        con.unregister("_rows")
