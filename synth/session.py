"""A generator run: the writer lock and run record, the endpoint (or the embedded server), the
call layer, checkpoints, and the one commit that makes the new version.

Checkpoints commit the calls made so far, so a killed run, run again with the same arguments,
finds them in the store and pays only for the calls it never committed. Generators draw every
random choice from a seeded generator and read answers in the order asked, never in the order
they arrive, so the re-run asks exactly the same requests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gristmill.example import Example
from gristmill.store.db import Store
from gristmill.store.runs import Run, writing
from gristmill.store.versions import (
    Version,
    create_version,
    example_columns,
    insert_new_examples,
    resolve,
)
from gristmill.synth.calls import Budget, Calls, call_ids
from gristmill.synth.endpoint import Endpoint
from gristmill.synth.templates import Templates


@dataclass
class Produced:
    """One generated example and where it came from (stored as its source's metadata)."""

    example: Example
    provenance: dict[str, Any]


@dataclass
class Options:
    endpoint: Endpoint | None = None  # None: start the embedded llama.cpp server
    judge: Endpoint | None = None  # a separate endpoint for judging (default: `endpoint`)
    concurrency: int | None = None  # requests in flight (default: the endpoint's)
    cache: bool = True
    budget: Budget = field(default_factory=Budget)
    against: tuple[str, ...] = ()  # eval versions the output must not leak
    templates: Templates = field(default_factory=Templates)
    checkpoint_seconds: float = field(default_factory=lambda: float(
        os.environ.get("GRISTMILL_CHECKPOINT_SECONDS", "2")))
    progress: bool = False
    seed: int = 0


class Session:
    def __init__(self, store: Store, run: Run, calls: Calls, judge: Calls, options: Options):
        self.store, self.run, self.calls, self.judge, self.options = store, run, calls, judge, options
        self._more: dict[str, Calls] = {}  # endpoints a generator's config names, by file
        self._last = time.monotonic()

    @property
    def endpoint(self) -> Endpoint:
        return self.calls.endpoint

    def checkpoint(self, force: bool = False) -> None:
        """Commit the calls made since the last checkpoint, at most every `checkpoint_seconds`
        ($GRISTMILL_CHECKPOINT_SECONDS) unless forced."""
        if not any(layer.pending for layer in self._layers()):
            return
        if not force and time.monotonic() - self._last < self.options.checkpoint_seconds:
            return
        self.run.stats = self.call_stats()
        with self.run.commit(final=False) as con:
            self.flush(con)
        self._last = time.monotonic()

    def calls_for(self, endpoint_file: Path | None) -> Calls:
        """The call layer of another endpoint (from its file), sharing the run's ids and budget."""
        if endpoint_file is None:
            return self.calls
        key = str(endpoint_file)
        if key not in self._more:
            from gristmill.synth.endpoint import load_endpoint

            endpoint = load_endpoint(endpoint_file)
            self._more[key] = Calls(self.store, self.run.id, endpoint, cache=self.options.cache,
                                    budget=self.options.budget, seed=self.options.seed, ids=self.calls.ids)
            self._more[key].bar = self.calls.bar
        return self._more[key]

    def _layers(self) -> list[Calls]:
        layers = [self.calls, *self._more.values()]
        return layers + ([self.judge] if self.judge is not self.calls else [])

    def flush(self, con) -> None:
        for layer in self._layers():
            layer.flush(con)

    def call_stats(self) -> dict[str, Any]:
        stats = {"calls": self.calls.stats.as_dict()}
        for name, layer in self._more.items():
            stats[f"calls:{name}"] = layer.stats.as_dict()
        return stats | ({"judge_calls": self.judge.stats.as_dict()} if self.judge is not self.calls else {})

    def provenance(self, templates: str | list[str], call_ids: list[int | None],
                   **more: Any) -> dict[str, Any]:
        """What a produced example records about where it came from."""
        names = [templates] if isinstance(templates, str) else templates
        return {"synthetic": True, "endpoint": self.endpoint.name, "model": self.endpoint.model,
                "templates": {n: self.options.templates.get(n).digest for n in names},
                "calls": [c for c in call_ids if c is not None], **more}


@contextmanager
def session(store: Store, command: str, config: dict[str, Any], options: Options) -> Iterator[Session]:
    from gristmill.synth.server import local_server

    recorded = config | {"endpoint": _endpoint_record(options.endpoint),
                         "judge": _endpoint_record(options.judge) if options.judge else None,
                         "cache": options.cache, "against": list(options.against)}
    with writing(store, command, recorded) as run:
        slots = options.concurrency or 4
        starting = nullcontext() if options.endpoint else local_server(slots=slots)
        with starting as server:
            endpoint = options.endpoint or server.endpoint
            if options.concurrency:
                endpoint = endpoint.model_copy(update={"concurrency": options.concurrency})
            ids = call_ids(store)
            calls = Calls(store, run.id, endpoint, cache=options.cache, budget=options.budget,
                          seed=options.seed, ids=ids)
            judge = calls if options.judge is None else Calls(
                store, run.id, options.judge, cache=options.cache, budget=options.budget,
                seed=options.seed, ids=ids)
            with _bar(options.progress, command) as bar:
                calls.bar = judge.bar = bar
                yield Session(store, run, calls, judge, options)


def _bar(show: bool, command: str):
    if not show:
        return nullcontext()
    from tqdm import tqdm

    return tqdm(desc=command.removeprefix("gristmill "), unit=" calls", leave=False, mininterval=0.5)


def _endpoint_record(endpoint: Endpoint | None) -> dict[str, Any]:
    if endpoint is None:
        return {"name": "local", "embedded": True}
    return endpoint.model_dump(include={"name", "model", "api_key_env", "params"}) | {
        "base_url": endpoint.public_url}


@dataclass
class Outcome:
    version: Version | None
    produced: int
    leaked: int
    stats: dict[str, Any]

    def line(self, generator: str) -> str:
        calls = self.stats.get("calls", {})
        spent = (f"{calls.get('sent', 0)} calls sent, {calls.get('cached', 0)} answered from the store, "
                 f"{calls.get('retries', 0)} retries, {calls.get('failed', 0)} failed")
        stopped = f"; stopped early: {self.stats['stopped']}" if self.stats.get("stopped") else ""
        leaked = f"; {self.leaked} dropped as eval leaks" if self.leaked else ""
        if not self.stats.get("against"):
            leaked = "; not checked against eval sets (--against REF)"
        where = f"-> {self.version.ref}" if self.version else "-> nothing to commit"
        if self.stats.get("unchanged"):
            where = f"already in {self.version.ref}: no new version"
        return f"synth {generator}: {self.produced} examples {where} ({spent}{leaked}{stopped})"


def commit_output(s: Session, *, dataset: str, step: str, config: dict[str, Any],
                  produced: list[Produced], stats: dict[str, Any], keep: Version | None = None,
                  parent: Version | None = None) -> Outcome:
    """Check the output against the eval sets, then commit it with the run's remaining calls as
    one new version of `dataset`: the produced examples, plus the members of `keep` (the input
    a generator adds to). Leaked examples are stored as removals with their evidence."""
    config = config | {"endpoint": s.endpoint.name, "model": s.endpoint.model,
                       "templates": _digests(s), "against": list(s.options.against)}
    leaks = _leaks(s, produced) if s.options.against else {}
    stats = stats | s.call_stats() | {"produced": len(produced),
                     "leaked": len(leaks), "against": list(s.options.against)}
    s.run.stats = stats
    kept = [p for p in produced if p.example.id not in leaks]
    with s.run.commit() as con:
        s.flush(con)
        if not kept and keep is None:
            return Outcome(None, 0, len(leaks), stats)
        if s.options.cache and (same := _same_config(con, dataset, step, config)) is not None:
            return Outcome(same, len(kept), len(leaks), stats | {"unchanged": True})
        keys = _store_examples(con, s.run.id, dataset, step, produced)
        if keep is not None and not leaks and _all_members(con, keep, [keys[p.example.id] for p in kept]):
            return Outcome(keep, len(kept), 0, stats | {"unchanged": True})
        parts = [f"SELECT example_key FROM members WHERE version_id = {keep.version_id}"] if keep else []
        if kept:
            values = ", ".join(f"({keys[p.example.id]})" for p in kept)
            parts.append(f"SELECT * FROM (VALUES {values}) v(example_key)")
        members = " UNION ALL ".join(parts)
        before = keep.n_examples if keep else 0
        version = create_version(con, dataset=dataset, parent=parent or keep, step=step, config=config,
                                 run_id=s.run.id, members=members, stats=stats, n_added=0,
                                 n_removed=len(leaks))
        con.execute("UPDATE versions SET n_added = ? WHERE version_id = ?",
                    [version.n_examples - before, version.version_id])
        for example_id, leak in leaks.items():
            con.execute(
                "INSERT INTO removals VALUES (?, ?, ?, 'eval_leak', ?, ?)",
                [version.version_id, keys[example_id], step,
                 f"{leak.method} match ({leak.score:.3f}) to {leak.eval_ref} item {leak.eval_id[:12]}",
                 orjson.dumps({"eval_id": leak.eval_id, "eval_ref": leak.eval_ref,
                               "method": leak.method, "score": leak.score}).decode()])
        version = resolve(con, version.ref)
    return Outcome(version, len(kept), len(leaks), stats)


def _digests(s: Session) -> dict[str, str]:
    """Which wording of each template the run could use: an edited template is a new config."""
    from gristmill.synth.templates import shipped_names

    return {name: s.options.templates.get(name).digest for name in shipped_names()}


def _same_config(con, dataset: str, step: str, config: dict[str, Any]) -> Version | None:
    """The version an earlier run made with this very config, if any: answered from the same
    calls, it holds the same examples."""
    from gristmill.store.versions import by_id, config_hash

    row = con.execute("SELECT max(version_id) FROM versions WHERE dataset = ? AND step = ? AND "
                      "config_hash = ?", [dataset, step, config_hash(config)]).fetchall()[0]
    return by_id(con, row[0]) if row[0] is not None else None


def _all_members(con, version: Version, keys: list[int]) -> bool:
    if not keys:
        return True
    (n,) = con.execute("SELECT count(DISTINCT example_key) FROM members WHERE version_id = ? "
                       f"AND example_key IN ({', '.join(map(str, keys))})",
                       [version.version_id]).fetchall()[0]
    return n == len(set(keys))


def _store_examples(con, run_id: int, dataset: str, step: str, produced: list[Produced]) -> dict[str, int]:
    """Store the examples not stored yet and a source row for each (its provenance as metadata);
    returns each id's key."""
    import pyarrow as pa

    columns = example_columns([p.example for p in produced])
    con.register("_produced", pa.table(columns | {
        "meta": pa.array([orjson.dumps(p.provenance).decode() for p in produced], pa.string())}))
    try:
        insert_new_examples(con, "_produced", run_id)
        con.execute(
            "INSERT INTO sources SELECT e.key, ?, ?, ?, p.ordinal, p.meta FROM _produced p "
            "JOIN examples e ON e.id = p.id", [dataset, run_id, step])
        return dict(con.execute("SELECT e.id, e.key FROM examples e SEMI JOIN _produced p "
                                "ON p.id = e.id").fetchall())
    finally:
        con.abort()
        con.unregister("_produced")


def _leaks(s: Session, produced: list[Produced]) -> dict[str, Any]:
    """The produced examples that match an eval item, by the curation leakage step's methods."""
    from gristmill.curation.leakage import LeakageStep, scan_rows
    from gristmill.curation.rows import Context
    from gristmill.curation.step import ListRows

    if not produced:
        return {}
    ctx = Context(s.store, show_progress=s.options.progress)
    evals = [ctx.resolve(ref) for ref in s.options.against]
    config = LeakageStep.Config(against=tuple(v.ref for v in evals))
    rows = ListRows({p.example.id: p.example for p in produced}.values())
    scan = scan_rows(rows, ctx, config, evals)
    return {leak.train_id: leak for leak in scan.leaks}
