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
from pathlib import Path

import orjson
import pyarrow as pa
import ray

from gristmill.curation.rows import Context
from gristmill.curation.runner import StepOutcome, committed, record, step_stats
from gristmill.curation.step import Step
from gristmill.errors import GristmillError
from gristmill.redact import redacted
from gristmill.scale.carry import Keys, Planned, advance, settle
from gristmill.scale.dedup import run_exact, run_minhash
from gristmill.scale.io import Folder, export
from gristmill.scale.leakage import run_leakage
from gristmill.scale.local import run_local
from gristmill.scale.parts import SCHEMA, row_count
from gristmill.scale.result import Result
from gristmill.scale.semantic import run_semantic
from gristmill.scale.split import run_split
from gristmill.scale.tasks import call, size
from gristmill.store.db import Store
from gristmill.store.runs import writing
from gristmill.store.versions import Version, resolve

ENGINES: dict[str, Callable[..., Result]] = {
    "pii": run_local, "structure": run_local, "length": run_local, "repetition": run_local,
    "refusals": run_local, "json_valid": run_local,
    "exact_dedup": run_exact, "minhash_dedup": run_minhash, "semantic_dedup": run_semantic,
    "leakage": run_leakage, "split": run_split,
}


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
    with writing(store, "curate", {"ref": ref, "steps": [s.name for s in steps],
                                   "engine": "ray"}) as run:
        with store.read() as con:
            version = resolve(con, ref)
        version, todo, outcomes = committed(store, version, steps, report)
        run.stats["steps"] = [o.line() for o in outcomes]
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
    keys = Keys(store)
    planned, n_rows = [], version.n_examples
    for step, config in todo:
        started = time.perf_counter()
        result = ENGINES[step.name](step, parts, n, Context(store, version, progress))
        plan = settle(step, config, result, keys)
        parts = advance(parts, plan, n)
        reasons = Counter(plan.removals.column("reason").to_pylist())
        samples = [{"id": r["id"], "reason": r["reason"], "message": r["message"],
                    "evidence": orjson.loads(r["evidence"])}
                   for r in plan.removals.slice(0, 3).to_pylist()]
        plan.stats = step_stats(n_rows, reasons, size(plan.rewrites),
                                time.perf_counter() - started, samples,
                                result.stats | {"engine": "ray", "partitions": n})
        plan.n_rows = sum(ray.get([call(row_count, p) for p in parts]))
        n_rows = plan.n_rows
        planned.append(plan)
        say(f"{step.name}: done on the cluster ({n} partitions), {n_rows:,} rows left, "
            f"{plan.stats['seconds']:.1f} s")
    ray.get([call(_save, part, folder, i) for i, part in enumerate(parts)])
    return planned


def _load(folder: Folder, i: int) -> pa.Table:
    return folder.read("input", i).cast(SCHEMA)


def _save(part: pa.Table, folder: Folder, i: int) -> str:
    return folder.write("output", i, part)


def _check(con, child: Version, plan: Planned) -> None:
    """The commit must have made what the cluster's later steps assumed."""
    got = dict(con.execute("SELECT old_key, new_key FROM transforms WHERE version_id = ?",
                           [child.version_id]).fetchall())
    if got != plan.new_keys or child.n_examples != plan.n_rows:
        raise GristmillError(
            f"{plan.step.name}: the store committed {child.n_examples:,} members and "
            f"{len(got):,} rewrites, the cluster carried {plan.n_rows:,} rows and "
            f"{len(plan.new_keys):,} rewrites; nothing was committed")
