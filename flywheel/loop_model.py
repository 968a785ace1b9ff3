"""The model stages of one turn of the loop: train, eval, shadow, register. Training resumes
from the newest complete checkpoint of a run a kill interrupted; the eval and the shadow resume
from their cached answers and calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gristmill.errors import GristmillError
from gristmill.flywheel.loop_stages import State, digest


def _train_config(s: State):
    from gristmill.settings import load_config
    from gristmill.train.config import DPOConfig, SFTConfig

    t = s.config.train
    overrides = [f"{k}={json.dumps(v)}" for k, v in t.set.items()]  # JSON is YAML
    return load_config({"sft": SFTConfig, "dpo": DPOConfig}[t.kind], t.config, overrides,
                       base=t.base)


def _training_ref(s: State) -> str:
    return (s.out.get("synth") or s.out["merge"])["version"]


def train_inputs(s: State) -> dict[str, Any]:
    return {"version": _training_ref(s), "kind": s.config.train.kind,
            "config": _train_config(s).model_dump(mode="json")}


def train(s: State) -> dict[str, Any]:
    from gristmill.train.run import train as run_training

    ref, kind, config = _training_ref(s), s.config.train.kind, _train_config(s)
    resume = _interrupted(s, ref, kind, config.model_dump(mode="json"))
    if resume:
        s.say(f"    resuming {resume} from its last checkpoint")
    outcome = run_training(s.store.path, ref, kind, config, quiet=not s.progress, resume=resume,
                           say=s.say)
    if outcome.status != "ok":
        raise GristmillError(f"training {outcome.name} ended {outcome.status}")
    return {"model": outcome.name, "resumed": resume is not None,
            "metrics": {k: v for k, v in outcome.metrics.items() if isinstance(v, int | float)}}


def _interrupted(s: State, ref: str, kind: str, config: dict[str, Any]) -> str | None:
    """A run of this very training that a kill interrupted, with a checkpoint to go on from."""
    from gristmill.train import registry
    from gristmill.train.run import last_checkpoint

    with s.store.read() as con:
        models = registry.listing(con)
    for m in reversed(models):
        if m["kind"] != kind or m["config"] != config or m["versions"][0]["ref"] != ref:
            continue
        if m["status"] in ("interrupted", "stopped") and last_checkpoint(Path(m["output_dir"])):
            return m["name"]
    return None


def _baseline(s: State, model: str) -> str:
    from gristmill.train import registry

    if s.config.eval.baseline:
        return s.config.eval.baseline
    with s.store.read() as con:
        line = registry.get(con, model)["line"]
        live = [m["name"] for m in registry.listing(con, "production") if m["line"] == line]
    return live[-1] if live else "base"


def eval_inputs(s: State) -> dict[str, Any]:
    model = s.out["train"]["model"]
    return {"model": model, "suite": digest(s.config.eval.suite), "set": s.config.eval.set,
            "baseline": _baseline(s, model)}


def evaluate(s: State) -> dict[str, Any]:
    from gristmill.evals.run import run_eval
    from gristmill.evals.suite import load_suite

    model = s.out["train"]["model"]
    suite = load_suite(s.config.eval.suite, s.config.eval.set)
    outcome = run_eval(s.store, suite, model, _baseline(s, model), progress=s.progress,
                       say=s.say, out_dir=s.config.reports / f"{s.config.name}-eval-{model}")
    gates = [{k: g.get(k) for k in ("name", "status", "detail")}
             for g in outcome.report["gates"]]
    return {"eval_id": outcome.eval_id, "verdict": outcome.verdict, "gates": gates,
            "report": str(outcome.report_dir / "report.html") if outcome.report_dir else None}


def shadow_inputs(s: State) -> dict[str, Any]:
    c = s.config
    return {"model": s.out["train"]["model"], "logs": s.ingested(c.logs.dataset),
            "sample": c.shadow.sample, "suite": digest(c.eval.suite)}


def shadow(s: State) -> dict[str, Any]:
    from gristmill.evals.suite import load_suite
    from gristmill.flywheel.shadow import shadow as compare

    c = s.config
    return compare(s.store, load_suite(c.eval.suite, c.eval.set), s.out["train"]["model"],
                   c.logs.dataset, c.shadow.sample, s.progress)


def register(s: State, verdict: str) -> dict[str, Any]:
    """A candidate that passed (warnings included) enters the configured stage."""
    from gristmill.store.runs import writing
    from gristmill.train import registry
    from gristmill.train.stages import promote

    model, to = s.out["train"]["model"], s.config.promote
    with s.store.read() as con:
        stage = registry.get(con, model)["stage"]
    if verdict == "fail" or to == "candidate" or stage != "candidate":
        return {"model": model, "stage": stage}
    reason = f"flywheel {s.config.name}: gate {verdict}, eval #{s.out['eval']['eval_id']}"
    with writing(s.store, f"models promote {model}", {"to": to}) as run, run.commit() as con:
        promote(con, model, to, reason)
    return {"model": model, "stage": to}
