"""The data stages of one turn of the loop (ingest to synth): for each, what it reads (hashed
to tell whether it must run) and how it runs. Every stage calls the library the matching command
calls, and each is resumable on its own: ingest by cursors, curation by committed steps, merges
by content. The model stages are in loop_model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gristmill.errors import GristmillError
from gristmill.flywheel.loop_config import Flywheel
from gristmill.store import versions
from gristmill.store.db import Store


@dataclass
class State:
    """What the turn knows so far: each finished stage's output, by stage."""

    store: Store
    config: Flywheel
    progress: bool = False
    say: Callable[[str], None] = print
    out: dict[str, dict[str, Any]] = field(default_factory=dict)

    def latest(self, dataset: str) -> versions.Version | None:
        with self.store.read() as con:
            return versions.latest(con, dataset)

    def ingested(self, dataset: str) -> int | None:
        """The logs' latest version with new lines in it: curation adds versions of the logs
        too, and those must not make the next turn's inputs look changed."""
        with self.store.read() as con:
            (found,) = con.execute("SELECT max(version_id) FROM versions WHERE dataset = ? AND "
                                   "step = 'flywheel-ingest'", [dataset]).fetchone()
        return found

    def outside_version(self, dataset: str) -> int | None:
        """The latest version of `dataset` that the loop did not make itself: a turn's own merge
        must not make the next turn's inputs look changed."""
        v = self.latest(dataset)
        with self.store.read() as con:
            while v is not None and v.step in LOOP_STEPS and v.parent_id is not None:
                v = versions.by_id(con, v.parent_id)
        return None if v is None or v.step in LOOP_STEPS else v.version_id


LOOP_STEPS = ("flywheel-merge", "flywheel-synth")


def digest(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path and path.is_file() else None


# -- ingest, drift, mine -------------------------------------------------------------------

def ingest_inputs(s: State) -> dict[str, Any]:
    from gristmill.flywheel.tail import discover

    logs = s.config.logs
    return {"files": sorted((f.fingerprint or "", f.size) for f in discover(logs.source)),
            "dataset": logs.dataset, "pii": logs.pii}


def ingest(s: State) -> dict[str, Any]:
    from gristmill.flywheel.ingest import ingest_logs

    logs = s.config.logs
    r = ingest_logs(s.store, logs.source, logs.dataset, pii=logs.pii,
                    commit_every=logs.commit_every, progress=s.progress)
    latest = s.latest(logs.dataset)
    return {"read": r.read, "stored": r.stored, "rejected": r.rejected,
            "version": latest.ref if latest else None}


def drift_inputs(s: State) -> dict[str, Any]:
    c = s.config
    return {"logs": s.ingested(c.logs.dataset), "against": s.outside_version(c.merge.into),
            "threshold": c.drift.threshold, "window": c.drift.window}


def drift(s: State) -> dict[str, Any]:
    from gristmill.flywheel.drift import check_drift

    c = s.config
    if s.latest(c.merge.into) is None:
        return {"status": "skipped", "reason": f"no {c.merge.into} yet to compare with"}
    return check_drift(s.store, c.logs.dataset, c.merge.into, c.drift.threshold,
                       window=c.drift.window, progress=s.progress)


def judge_inputs(s: State) -> dict[str, Any]:
    j = s.config.judge
    return {"logs": s.ingested(s.config.logs.dataset), **j.model_dump(mode="json"),
            "endpoint": digest(j.endpoint)}


def judge(s: State) -> dict[str, Any]:
    from gristmill.flywheel.judge_logs import judge_logs

    j = s.config.judge
    return judge_logs(s.store, s.config.logs.dataset, j.endpoint, j.limit, j.scale, j.rubric)


def mine_inputs(s: State) -> dict[str, Any]:
    c = s.config
    with s.store.read() as con:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM log_lines WHERE dataset = ?), "
            "(SELECT count(*) FROM log_feedback), (SELECT count(*) FROM forgotten)",
            [c.logs.dataset]).fetchone()
    return {"counts": list(counts), **c.mine.model_dump()}


def mine(s: State) -> dict[str, Any]:
    from gristmill.flywheel.mine import mine as mine_logs

    c = s.config
    r = mine_logs(s.store, c.logs.dataset, c.mine.low_rating, c.mine.low_score)
    corrections = s.latest(f"{c.logs.dataset}-corrections")
    return {"failures": r.failures, "corrections": r.corrections, "queued": r.queued,
            "signals": r.signals, "corrections_version": corrections.ref if corrections else None}


# -- curate, merge, synth ------------------------------------------------------------------

def _recipe(s: State) -> tuple[Path, list[str]]:
    """The recipe, with its leakage check pointed at the suite's golden sets unless set."""
    from gristmill.curation.commands import recipe_path
    from gristmill.evals.suite import load_suite

    c = s.config
    path = Path(c.curate) if Path(c.curate).is_file() else recipe_path(c.curate)
    overrides = list(c.curate_set)
    if "leakage:" in path.read_text() and \
            not any(o.startswith("leakage.against") for o in overrides):
        golden = [t.data for t in load_suite(c.eval.suite, c.eval.set).tasks if t.data]
        if golden:
            overrides.append(f"leakage.against=[{', '.join(golden)}]")
    return path, overrides


def curate_inputs(s: State) -> dict[str, Any]:
    c = s.config
    inputs: dict[str, Any] = {"logs": s.ingested(c.logs.dataset), "recipe": None}
    if c.curate is not None:
        path, overrides = _recipe(s)
        inputs |= {"recipe": digest(path), "set": overrides}
    return inputs


def curate(s: State) -> dict[str, Any]:
    from gristmill.curation.recipe import load_recipe
    from gristmill.curation.runner import curate as run_recipe

    c = s.config
    logs = s.latest(c.logs.dataset)
    if logs is None:
        raise GristmillError(f"no log lines in {c.logs.dataset} yet: nothing to curate")
    if c.curate is None:
        return {"version": logs.ref}
    path, overrides = _recipe(s)
    outcomes = run_recipe(s.store, logs.ref, load_recipe(path, overrides), progress=s.progress,
                          on_step=lambda o: s.say(f"    {o.line()}"))
    return {"version": outcomes[-1].output if outcomes else logs.ref,
            "steps": [o.line() for o in outcomes]}


def merge_inputs(s: State) -> dict[str, Any]:
    c = s.config
    return {"curated": s.out["curate"]["version"],
            "corrections": s.out["mine"]["corrections_version"],
            "into": s.outside_version(c.merge.into), "include": c.merge.include,
            **c.mine.model_dump()}


def merge(s: State) -> dict[str, Any]:
    from gristmill.flywheel.merge import merge as merge_into

    c = s.config
    v = merge_into(s.store, c.merge.into, s.out["curate"]["version"],
                   s.out["mine"]["corrections_version"], c.merge.include, c.mine.low_rating,
                   c.mine.low_score)
    return {"version": v.ref, "examples": v.n_examples, "added": v.n_added}


def synth_inputs(s: State) -> dict[str, Any]:
    sy = s.config.synth
    return {"merged": s.out["merge"]["version"], "generator": sy.generator,
            "config": digest(sy.config), "set": sy.set, "endpoint": digest(sy.endpoint)}


def synth(s: State) -> dict[str, Any]:
    from gristmill.flywheel.log_store import extend
    from gristmill.store.runs import writing
    from gristmill.synth import generators
    from gristmill.synth.endpoint import load_endpoint
    from gristmill.synth.session import Options, session
    from gristmill.synth.templates import Templates

    c, sy = s.config, s.config.synth
    spec = generators.SPECS[sy.generator]
    config = generators.load(sy.generator, sy.config, sy.set,
                             into=f"{c.merge.into}-{sy.generator}")
    options = Options(endpoint=load_endpoint(sy.endpoint) if sy.endpoint else None,
                      templates=Templates(), progress=s.progress, seed=config.seed)
    merged = s.out["merge"]["version"]
    with session(s.store, f"synth {sy.generator}", config.model_dump(mode="json"), options) as ss:
        outcome = spec.run(ss, merged, config)
    if outcome.version is None:
        return {"version": merged, "produced": 0}
    with writing(s.store, f"flywheel merge {c.merge.into}", {"synth": outcome.version.ref}) as run, \
            run.commit() as con:
        v, _ = extend(con, c.merge.into, "SELECT example_key FROM members WHERE version_id = "
                      f"{outcome.version.version_id}", run.id, "flywheel-synth",
                      {"synth": outcome.version.ref})
    return {"version": v.ref, "produced": outcome.produced, "synth_version": outcome.version.ref}
