"""The driver of a distributed curation run: export the input version as Parquet partitions,
run each step on the cluster, carry the surviving rows from step to step, and commit every
step's version in one transaction at the end, so a failed run leaves the store as it was.

Keys of rewritten examples are the store's to give; the driver predicts them exactly as the
commit will assign them (the writer lock keeps anyone else from inserting), so later steps rank
rows as the single-process runner does, and the commit checks the prediction.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import ray

from gristmill.curation.rows import Context
from gristmill.curation.runner import StepOutcome, done_already, record, reuse, step_stats
from gristmill.curation.step import Step
from gristmill.errors import GristmillError
from gristmill.example import Example
from gristmill.scale.dedup import run_exact, run_minhash
from gristmill.scale.io import Folder, export
from gristmill.scale.leakage import run_leakage
from gristmill.scale.local import run_local
from gristmill.scale.parts import DROPS, REWRITES, SCHEMA, empty, home, removal_table
from gristmill.scale.result import Result
from gristmill.scale.semantic import run_semantic
from gristmill.scale.split import run_split
from gristmill.scale.tasks import Frame, call, concat, size
from gristmill.store.datasets import redacted
from gristmill.store.db import Store
from gristmill.store.runs import writing
from gristmill.store.versions import Version, resolve

ENGINES: dict[str, Callable[..., Result]] = {
    "pii": run_local, "structure": run_local, "length": run_local, "repetition": run_local,
    "refusals": run_local, "json_valid": run_local,
    "exact_dedup": run_exact, "minhash_dedup": run_minhash, "semantic_dedup": run_semantic,
    "leakage": run_leakage, "split": run_split,
}


@dataclass
class Planned:
    """One step's decisions, ready to commit, and what the cluster's rows became."""

    step: Step
    config: dict
    removals: pa.Table  # id, reason, message, evidence, in key order
    removed: np.ndarray  # their keys
    rewrites: Frame  # in old key order
    new_keys: dict[int, int]  # old key -> the key its rewrite gets
    stored: dict[str, tuple[str | None, str | None]]  # rewritten ids already stored: meta, source
    splits: pa.Table | None
    tables: list[tuple[str, pa.Table]]
    stats: dict[str, Any] = field(default_factory=dict)
    n_rows: int = 0  # members after the step

    @property
    def transforms(self) -> list[tuple[str, Example, dict]]:
        f = self.rewrites
        return [(old, Example(i, kind, orjson.loads(p), p.encode()), orjson.loads(ev))
                for old, i, kind, p, ev in zip(f["old_id"], f["id"], f["kind"], f["payload"],
                                               f["evidence"], strict=True)]


def curate_on_ray(store: Store, ref: str, steps: list[Step], *, address: str | None = None,
                  work: str | None = None, partitions: int | None = None,
                  progress: bool = False, on_step: Callable[[StepOutcome], None] | None = None,
                  say: Callable[[str], None] | None = None) -> list[StepOutcome]:
    """Run `steps` from `ref` on the Ray cluster at `address` (default: a local one); the
    versions are committed together when the last step is done. `say` hears a line as each
    step finishes on the cluster."""
    from gristmill.scale.cluster import connect

    report = on_step or (lambda outcome: None)
    unknown = [s.name for s in steps if s.name not in ENGINES]
    if unknown:
        raise GristmillError(f"no distributed engine for step {', '.join(unknown)}")
    outcomes: list[StepOutcome] = []
    with writing(store, "curate", {"ref": ref, "steps": [s.name for s in steps],
                                   "engine": "ray"}) as run:
        with store.read() as con:
            version = resolve(con, ref)
        version, todo = _committed(store, version, steps, outcomes, report)
        if not todo:
            return outcomes
        # subtle: a session this call opened is closed, or a library caller's process would
        # keep a driver that dies with the cluster (Ray exits the process when it loses it)
        attached = connect(address)
        try:
            with _folder(work, store) as folder:
                planned = _on_cluster(store, version, todo, partitions, folder, progress, say)
        finally:
            if attached:
                ray.shutdown()
        with run.commit() as con:
            parent = version
            for plan in planned:
                child = record(con, run.id, parent, plan.step.name, plan.config,
                               plan.removals, plan.transforms, plan.splits, plan.tables,
                               plan.stats)
                _check(con, child, plan)
                outcomes.append(StepOutcome(plan.step.name, parent.ref, child.ref,
                                            plan.stats, samples=plan.stats["samples"]))
                parent = child
            run.stats["steps"] = [o.line() for o in outcomes]
    for outcome in outcomes[len(outcomes) - len(planned):]:
        report(outcome)
    return outcomes


def _on_cluster(store: Store, version: Version, todo: list, partitions: int | None,
                folder: Folder, progress: bool, say: Callable[[str], None] | None) -> list[Planned]:
    n = partitions or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    try:
        return _run_steps(store, version, todo, n, folder, progress, say or (lambda line: None))
    except ray.exceptions.RayTaskError as e:
        raise GristmillError(f"a task failed on the cluster, nothing was committed: "
                             f"{_cause(e)}") from None


def _committed(store: Store, version: Version, steps: list[Step], outcomes: list,
               report: Callable) -> tuple[Version, list]:
    """Outcomes for the leading steps an earlier run committed (as the single-process runner
    reuses them), the version the rest start from, and the rest with their configs."""
    configs = [{"step": s.name, **s.resolved_config(Context(store, version))} for s in steps]
    todo = list(zip(steps, configs, strict=True))
    outcomes += done_already(store, version, configs)
    for outcome in outcomes:
        report(outcome)
    todo = todo[len(outcomes):]
    while todo and (outcome := reuse(store, version, todo[0][0].name, todo[0][1])):
        outcomes.append(outcome)
        report(outcome)
        todo.pop(0)
        with store.read() as con:
            version = resolve(con, outcome.output)
    return version, todo


def _cause(error: Exception) -> str:
    cause = getattr(error, "cause", None) or error
    text = f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
    if isinstance(cause, FileNotFoundError):
        text += " (do all nodes reach the run's folder? pass --work with a shared path or URI)"
    return text


class _folder:
    """The run's Parquet folder: the one given (kept), or a temporary one beside the store."""

    def __init__(self, work: str | None, store: Store):
        self.given, self.store = work, store

    def __enter__(self) -> Folder:
        self.temp = None if self.given else tempfile.mkdtemp(
            prefix=".gristmill-ray-", dir=Path(self.store.path).resolve().parent)
        return Folder.at(self.given or self.temp)

    def __exit__(self, *exc) -> None:
        if self.temp:
            shutil.rmtree(self.temp, ignore_errors=True)


def _run_steps(store: Store, version: Version, todo: list, n: int, folder: Folder,
               progress: bool, say: Callable[[str], None]) -> list[Planned]:
    say(f"{version.ref}: {version.n_examples:,} rows to {redacted(folder.uri)} (input/) as {n} "
        "Parquet partitions")
    export(store, version, n, folder)
    parts = [call(_load, folder, i) for i in range(n)]
    keys = _Keys(store)
    planned, n_rows = [], version.n_examples
    for step, config in todo:
        started = time.perf_counter()
        result = ENGINES[step.name](step, parts, n, Context(store, version, progress))
        plan = _settle(step, config, result, keys)
        parts = _advance(parts, plan, n)
        reasons = Counter(plan.removals.column("reason").to_pylist())
        samples = [{"id": r["id"], "reason": r["reason"], "message": r["message"],
                    "evidence": orjson.loads(r["evidence"])}
                   for r in plan.removals.slice(0, 3).to_pylist()]
        plan.stats = step_stats(n_rows, reasons, size(plan.rewrites),
                                time.perf_counter() - started, samples,
                                result.stats | {"engine": "ray", "partitions": n})
        plan.n_rows = sum(ray.get([call(_count, p) for p in parts]))
        n_rows = plan.n_rows
        planned.append(plan)
        say(f"{step.name}: done on the cluster ({n} partitions), {n_rows:,} rows left, "
            f"{plan.stats['seconds']:.1f} s")
    for i, part in enumerate(parts):
        ray.get(call(_save, part, folder, i))
    return planned


def _load(folder: Folder, i: int) -> pa.Table:
    return folder.read("input", i).cast(SCHEMA)


def _save(part: pa.Table, folder: Folder, i: int) -> str:
    return folder.write("output", i, part)


def _count(part: pa.Table) -> int:
    return part.num_rows


class _Keys:
    """The keys the store will give new examples: an id it holds keeps its key, a new one gets
    the highest key so far plus its place among the step's transforms."""

    def __init__(self, store: Store):
        self.store = store
        with store.read() as con:
            (self.base,) = con.execute("SELECT coalesce(max(key), 0) FROM examples").fetchone()
        self.made: dict[str, int] = {}  # ids this run will insert

    def assign(self, ids: list[str]) -> tuple[list[int], dict[str, tuple[str | None, str | None]]]:
        """Each id's key, and the stored metadata (meta, source) of the ids already stored."""
        with self.store.read() as con:
            con = con.cursor()
            con.register("_ids", pa.table({"id": pa.array(ids, pa.string())}))
            held = con.execute(
                "SELECT e.id, e.key, s.meta, s.source FROM (SELECT DISTINCT id FROM _ids) i "
                "JOIN examples e ON e.id = i.id LEFT JOIN (SELECT example_key, arg_min(meta, "
                "run_id) AS meta, arg_min(source, run_id) AS source FROM sources GROUP BY "
                "example_key) s ON s.example_key = e.key").fetchall()
        stored = {i: k for i, k, _, _ in held}
        meta = {i: (m, s) for i, _, m, s in held}
        out, top = [], self.base
        for ordinal, ex_id in enumerate(ids, 1):
            key = stored.get(ex_id) or self.made.get(ex_id)
            if key is None:
                key = self.made[ex_id] = self.base + ordinal
                top = max(top, key)
            out.append(key)
        self.base = top
        return out, meta


def _settle(step: Step, config: dict, result: Result, keys: _Keys) -> Planned:
    """Fetch a step's decisions to the driver, in key order, with the keys of its rewrites."""
    rewrites = concat(ray.get(result.rewrites), empty(REWRITES))
    order = np.argsort(rewrites["old_key"], kind="stable")
    rewrites = {k: v[order] for k, v in rewrites.items()}
    assigned, stored = keys.assign(rewrites["id"].tolist())
    drops = concat(ray.get(result.drops), empty(DROPS))
    splits = None
    if result.splits is not None:
        f = concat(ray.get(result.splits))
        splits = pa.table({"id": pa.array(f["id"].tolist(), pa.string()),
                           "split": pa.array(f["split"].tolist(), pa.string())})
    tables = [(name, pa.concat_tables(ray.get(refs))) for name, refs in result.tables]
    return Planned(step, config, removal_table([drops]), np.sort(drops["key"]), rewrites,
                   dict(zip(rewrites["old_key"].tolist(), assigned, strict=True)), stored,
                   splits, [(name, t) for name, t in tables if t.num_rows])


def _advance(parts: list, plan: Planned, n: int) -> list:
    """The rows after a step: without its drops and rewritten rows, with the new content at its
    home, one copy of each key."""
    gone = np.union1d(plan.removed, np.array(list(plan.new_keys), np.int64))
    new = _new_rows(plan)
    where_gone = home(gone, n)
    where_new = home(new.column("key").to_numpy(), n)
    return [call(_next_part, part, gone[where_gone == i], new.filter(pa.array(where_new == i)))
            for i, part in enumerate(parts)]


def _new_rows(plan: Planned) -> pa.Table:
    f = plan.rewrites
    keys = [plan.new_keys[k] for k in f["old_key"].tolist()]
    meta = [plan.stored.get(i, (None, None)) for i in f["id"].tolist()]
    return pa.table({"key": pa.array(keys, pa.int64()), "id": pa.array(f["id"].tolist()),
                     "kind": pa.array(f["kind"].tolist()),
                     "payload": pa.array(f["payload"].tolist()),
                     "meta": pa.array([m for m, _ in meta], pa.string()),
                     "source": pa.array([s for _, s in meta], pa.string())}, schema=SCHEMA)


def _next_part(part: pa.Table, gone: np.ndarray, new: pa.Table) -> pa.Table:
    keys = part.column("key").to_numpy()
    kept = part.filter(pa.array(~np.isin(keys, gone)))
    if new.num_rows:
        new_keys = new.column("key").to_numpy()
        _, first = np.unique(new_keys, return_index=True)
        first = np.sort(first)
        fresh = first[~np.isin(new_keys[first], kept.column("key").to_numpy())]
        kept = pa.concat_tables([kept, new.take(pa.array(fresh))])
    return kept.sort_by("key")


def _check(con, child: Version, plan: Planned) -> None:
    """The commit must have made what the cluster's later steps assumed."""
    got = dict(con.execute("SELECT old_key, new_key FROM transforms WHERE version_id = ?",
                           [child.version_id]).fetchall())
    if got != plan.new_keys or child.n_examples != plan.n_rows:
        raise GristmillError(
            f"{plan.step.name}: the store committed {child.n_examples:,} members and "
            f"{len(got):,} rewrites, the cluster carried {plan.n_rows:,} rows and "
            f"{len(plan.new_keys):,} rewrites; nothing was committed")
