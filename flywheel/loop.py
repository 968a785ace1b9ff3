"""`flywheel run`: one turn of the loop, from new log lines to a gated, registered candidate.

ingest → drift → judge (optional) → mine → curate → merge → synth (optional) → train → eval → shadow → gate →
register. A stage whose inputs hash the same as when it last finished is not run again: its
recorded output is used, so a turn with no new logs costs a few queries, and a turn killed
midway resumes at the stage it was in (which itself resumes from its own last commit). One turn
at a time per loop: a second exits at once with code 3. The turn ends with one status line, a
report (JSON and Markdown), an exit code (0 passed or nothing to do, 1 the gate failed) and, on
a newly failed gate, a POST to the configured webhook.
"""

from __future__ import annotations

import functools
import hashlib
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gristmill.errors import GristmillError, StoreLocked
from gristmill.flywheel import loop_model as lm
from gristmill.flywheel import loop_stages as st
from gristmill.flywheel.loop_config import Flywheel
from gristmill.store.db import Store
from gristmill.store.lock import WriterLock
from gristmill.store.runs import writing

STAGES: list[tuple[str, Callable, Callable]] = [
    ("ingest", st.ingest_inputs, st.ingest), ("drift", st.drift_inputs, st.drift),
    ("judge", st.judge_inputs, st.judge), ("mine", st.mine_inputs, st.mine),
    ("curate", st.curate_inputs, st.curate),
    ("merge", st.merge_inputs, st.merge), ("synth", st.synth_inputs, st.synth),
    ("train", lm.train_inputs, lm.train), ("eval", lm.eval_inputs, lm.evaluate),
    ("shadow", lm.shadow_inputs, lm.shadow)]


class StageFailed(GristmillError):
    """A stage raised: the turn stops there, and the next turn starts again at that stage."""

    exit_code = 2

    def __init__(self, loop: str, turn: int, stage: str, error: BaseException):
        what = str(error) if isinstance(error, GristmillError) else \
            f"{type(error).__name__}: {error}"
        super().__init__(f"flywheel {loop} turn {turn}: ERROR in {stage}: {what}")

LOCK_WAIT = 600.0  # seconds a stage waits for another writer of the store to finish
LOCK_POLL = 5.0
OPTIONAL = ("drift", "judge", "synth", "shadow")  # stages a config may leave out (null)


@dataclass
class Turn:
    loop: str
    number: int
    verdict: str = "pass"  # pass | warn | fail
    ran: list[str] = field(default_factory=list)  # stages run this turn
    reused: list[str] = field(default_factory=list)  # stages whose inputs had not changed
    gates: list[dict[str, Any]] = field(default_factory=list)
    out: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhook: str | None = None  # sent | failed: REASON
    report: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict == "fail" else 0

    def line(self) -> str:
        o = self.out
        parts = []
        if "ingest" in self.ran:
            parts.append(f"ingest +{o['ingest']['stored']:,} lines")
        if (o.get("drift") or {}).get("drifted"):
            parts.append(f"DRIFT {o['drift']['centroid_shift']:.2f}")
        if "mine" in self.ran:
            parts.append(f"mine {o['mine']['corrections']} corrections, "
                         f"{o['mine']['queued']} to review")
        if "merge" in o:
            parts.append(f"merge {o['merge']['version']} (+{o['merge']['added']:,})")
        if "train" in o:
            parts.append(f"train {o['train']['model']}" + ("" if "train" in self.ran else " (kept)"))
        if "eval" in o:
            failing = [g["name"] for g in o["eval"]["gates"] if g["status"] != "ok"]
            parts.append(f"eval #{o['eval']['eval_id']} {o['eval']['verdict'].upper()}"
                         + (f" ({', '.join(failing[:3])})" if failing else ""))
        if o.get("shadow", {}).get("status") == "ok":
            w = o["shadow"]["win_rate"]
            parts.append(f"shadow win {w['mean']:.2f} [{w['low']:.2f}, {w['high']:.2f}]")
        if "register" in o:
            parts.append(f"{o['register']['model']} {o['register']['stage']}")
        if self.webhook:
            parts.append(f"webhook {self.webhook}")
        head = f"flywheel {self.loop} turn {self.number}: {self.verdict.upper()}"
        if not self.ran:
            head += " (nothing new: every stage's inputs are unchanged)"
        tail = f"; report {self.report}" if self.report else ""
        return head + " — " + " · ".join(parts) + tail


def run_turn(store: Store, config: Flywheel, progress: bool = False,
             say: Callable[[str], None] = print) -> Turn:
    lock = WriterLock(Path(f"{store.path}.flywheel-{config.name}"), f"flywheel run {config.name}")
    try:
        lock.acquire()
    except StoreLocked:
        from gristmill.store.lock import describe_holder

        raise StoreLocked(f"another turn of the flywheel {config.name} is running: "
                          f"{describe_holder(lock.path)}") from None
    try:
        return _turn(store, config, progress, say)
    except StageFailed as e:
        if config.webhook:  # a turn that cannot finish is news too
            body = {"loop": config.name, "verdict": "error", "error": str(e)}
            say(f"  webhook {_post(config.webhook, body)}")
        raise
    finally:
        lock.release()


def _turn(store: Store, config: Flywheel, progress: bool, say: Callable[[str], None]) -> Turn:
    state = st.State(store, config, progress, say)
    turn = Turn(config.name, _next_turn(store, config.name), out=state.out)
    for name, inputs_of, run in STAGES:
        if name in OPTIONAL and getattr(config, name) is None:
            continue
        try:
            _patiently(functools.partial(_stage, state, turn, name, inputs_of, run), say)
        except Exception as e:  # noqa: BLE001 - any failure is reported as the stage's, for cron
            raise StageFailed(config.name, turn.number, name, e) from e
    turn.gates = _gates(config, state.out)
    turn.verdict = max((g["status"] for g in turn.gates), key=("ok", "warn", "fail").index,
                       default="ok").replace("ok", "pass")
    state.out["register"] = lm.register(state, turn.verdict)
    fresh = bool({"eval", "shadow"} & set(turn.ran))
    if turn.verdict == "fail" and config.webhook and fresh:
        turn.webhook = _post(config.webhook, _summary(turn))
    turn.report = _write_report(config, turn)
    return turn


def _patiently(step: Callable[[], None], say: Callable[[str], None]) -> None:
    """Run `step`, again while another writer (a cron ingest) holds the store, for up to
    LOCK_WAIT seconds; stages resume from their last commit, so running one again is safe."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            return step()
        except StoreLocked as e:
            if time.monotonic() > deadline:
                raise
            say(f"    waiting: {e}")
            time.sleep(LOCK_POLL)


def _stage(state: st.State, turn: Turn, name: str, inputs_of: Callable, run: Callable) -> None:
    """Run one stage, or reuse its output when its inputs hash as they did when it finished."""
    inputs = inputs_of(state)
    key = _hash(inputs)
    done = _finished(state.store, turn.loop, name, key)
    if done is not None:
        state.out[name] = done
        turn.reused.append(name)
        return
    state.say(f"  {name}…")
    started = time.perf_counter()
    state.out[name] = run(state)
    seconds = time.perf_counter() - started
    _record(state.store, turn, name, key, inputs, state.out[name], seconds)
    turn.ran.append(name)
    state.say(f"  {name} done in {seconds:.1f} s")


def _gates(config: Flywheel, out: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    from gristmill.flywheel.shadow import gate

    gates = [{"name": f"eval #{out['eval']['eval_id']}", "status": {"pass": "ok"}.get(
        out["eval"]["verdict"], out["eval"]["verdict"]), "detail": out["eval"]["report"]}]
    if "shadow" in out and config.shadow and config.shadow.gate:
        gates.append(gate(out["shadow"]))
    return gates


def _next_turn(store: Store, loop: str) -> int:
    if not store.path.exists():
        return 1
    with store.read() as con:
        (last,) = con.execute("SELECT max(turn) FROM flywheel_stages WHERE loop = ?",
                              [loop]).fetchone()
    return (last or 0) + 1


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)


def _hash(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(_dumps(inputs)).hexdigest()


def _finished(store: Store, loop: str, stage: str, key: str) -> dict[str, Any] | None:
    if not store.path.exists():
        return None
    with store.read() as con:
        row = con.execute("SELECT output FROM flywheel_stages WHERE loop = ? AND stage = ? AND "
                          "input_hash = ? ORDER BY turn DESC LIMIT 1", [loop, stage, key]).fetchone()
    return orjson.loads(row[0]) if row else None


def _record(store: Store, turn: Turn, stage: str, key: str, inputs: dict[str, Any],
            output: dict[str, Any], seconds: float) -> None:
    with writing(store, f"flywheel {turn.loop} {stage}", {"turn": turn.number}) as run, \
            run.commit() as con:
        con.execute("INSERT INTO flywheel_stages VALUES (?, ?, ?, ?, ?, ?, ?, "
                    "current_localtimestamp())",
                    [turn.loop, turn.number, stage, key, _dumps(inputs).decode(),
                     _dumps(output).decode(), seconds])


def _summary(turn: Turn) -> dict[str, Any]:
    return {"loop": turn.loop, "turn": turn.number, "verdict": turn.verdict,
            "model": turn.out.get("train", {}).get("model"), "gates": turn.gates,
            "line": turn.line()}


def _post(url: str, body: dict[str, Any]) -> str:
    request = urllib.request.Request(url, data=orjson.dumps(body, default=str), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return f"sent ({response.status})"
    except OSError as e:  # the turn's verdict stands; the status line says the alert failed
        return f"failed: {e}"


def _write_report(config: Flywheel, turn: Turn) -> Path:
    folder = config.reports / f"{config.name}-turn-{turn.number}"
    folder.mkdir(parents=True, exist_ok=True)
    data = {**_summary(turn), "ran": turn.ran, "reused": turn.reused, "stages": turn.out}
    (folder / "report.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2,
                                                      default=str))
    lines = [f"# Flywheel {turn.loop}, turn {turn.number}: {turn.verdict.upper()}", "",
             turn.line(), "", "## Gates", ""]
    lines += [f"- **{g['status'].upper()}** {g['name']}: {g['detail']}" for g in turn.gates]
    lines += ["", "## Stages", ""]
    for name, out in turn.out.items():
        how = "ran" if name in turn.ran else "reused (inputs unchanged)" if name in turn.reused \
            else "done"
        shown = ", ".join(f"{k}: {v}" for k, v in out.items()
                          if not isinstance(v, list | dict) or k in ("win_rate", "signals"))
        lines.append(f"- **{name}** ({how}): {shown}")
    (folder / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "report.md"
