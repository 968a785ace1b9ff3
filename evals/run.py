"""`gristmill eval run`: answer every task with the candidate (and the baseline), score, judge,
check the golden sets against the candidate's training data, gate, and store it all in one commit.

The run holds the writer lock. Answers and judge calls are committed at checkpoints as they come,
so a killed run started again pays only for what it never committed. In-process generation and the
embedded judge server never run at once: on two cores they would only slow each other down.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gristmill.evals import builtin, judge
from gristmill.evals.answer import Checkpoints, answer
from gristmill.evals.candidates import resolve_candidate
from gristmill.evals.items import load_items
from gristmill.evals.record import store_run, write_reports
from gristmill.evals.scoring import item_score
from gristmill.evals.servers import Servers
from gristmill.evals.servers import templates as servers_templates
from gristmill.evals.suite import Suite
from gristmill.evals.verdict import Scores, pairwise_summary, slices, summarize, verdict, worst
from gristmill.store.db import Store
from gristmill.store.runs import writing

JUDGE_CHUNK = 16  # items judged between checkpoints


@dataclass
class Outcome:
    eval_id: int
    verdict: str
    report: dict[str, Any]
    report_dir: Path | None

    def line(self) -> str:
        where = f"; report in {self.report_dir}" if self.report_dir else ""
        gates = self.report["gates"]
        failing = [g["name"] for g in gates if g["status"] != "ok"]
        shown = f" ({', '.join(failing[:4])}{'…' if len(failing) > 4 else ''})" if failing else ""
        return (f"eval {self.report['suite']} #{self.eval_id}: {self.verdict.upper()}{shown} — "
                f"{self.report['candidate']['name']} vs "
                f"{(self.report['baseline'] or {}).get('name', 'no baseline')}, "
                f"{len(gates)} gates{where}")


def run_eval(store: Store, suite: Suite, candidate: str, baseline: str | None = None, *,
             out_dir: Path | None = None, override: str | None = None, progress: bool = False,
             say: Callable[[str], None] = print) -> Outcome:
    sides = {"candidate": resolve_candidate(store, candidate)}
    if baseline is not None:
        sides["baseline"] = resolve_candidate(store, baseline, of=sides["candidate"])
    tasks = {t.name: (t, *load_items(store, t)) for t in suite.tasks}
    params = suite.generation.model_dump(exclude={"batch_size"})
    per_prompt = [_params(params, task) for task, items, _ in tasks.values() for _ in items]
    config = {"suite": suite.model_dump(mode="json", by_alias=True), "params": params,
              "candidate": sides["candidate"].describe(), "override": override,
              "baseline": sides["baseline"].describe() if baseline else None}
    warnings: list[str] = []
    with writing(store, "eval run", config) as run, Servers(store, run, suite) as servers:
        cp = Checkpoints(run)
        answers: dict[str, dict[str, list[str | None]]] = {}
        for side, who in sides.items():
            prompts = [_prompt(i.prompt, suite.generation.system) for _, (_, items, _) in
                       tasks.items() for i in items]
            say(f"  {side} {who.spec}: answering {len(prompts):,} prompts ({who.detail})")
            with _bar(progress, len(prompts), f"{side} answers") as bar:
                got = answer(store, who, prompts, per_prompt, cp,
                             lambda w=who: servers.calls_for(w, cp), suite.generation.batch_size, bar)
            failed = sum(a is None for a in got)
            if failed:
                warnings.append(f"{side}: {failed} of {len(got)} prompts got no answer (scored 0)")
            answers[side] = _by_task(tasks, got)
            cp.maybe(force=True)
        scores = {name: _score(task, items, {s: answers[s][name] for s in answers})
                  for name, (task, items, _) in tasks.items()}
        judged_report = _judge(suite, tasks, scores, servers, cp, store, progress, say, warnings)
        golden = [origin for _, (t, _, origin) in tasks.items() if t.data]
        from gristmill.evals.contamination import check

        say("  contamination: golden sets against the candidate's training data")
        contamination = check(store, sides["candidate"], golden, override, progress)
        report = _report(suite, sides, tasks, scores, judged_report, contamination, params, warnings)
        run.stats = {"calls": servers.stats(), "verdict": report["verdict"],
                     "answers": {s: sum(map(len, a.values())) for s, a in answers.items()}}
        with run.commit() as con:
            cp.flush(con)
            eval_id = store_run(con, run.id, suite, config, report, out_dir, override, scores)
    report["run_id"] = eval_id
    report_dir = write_reports(report, out_dir, suite.name, eval_id)
    return Outcome(eval_id, report["verdict"], report, report_dir)


def _params(params: dict[str, Any], task) -> dict[str, Any]:
    """The suite's generation parameters, with the task's own answer length."""
    if task.max_tokens:
        return params | {"max_tokens": task.max_tokens}
    if task.builtin:
        return params | {"max_tokens": min(builtin.MAX_TOKENS[task.builtin], params["max_tokens"])}
    return params


def _prompt(prompt: list[dict], system: str | None) -> list[dict]:
    if system and prompt[0]["role"] != "system":
        return [{"role": "system", "content": system}, *prompt]
    return prompt


def _by_task(tasks: dict, flat: list[str | None]) -> dict[str, list[str | None]]:
    out, at = {}, 0
    for name, (_, items, _) in tasks.items():
        out[name], at = flat[at:at + len(items)], at + len(items)
    return out


def _score(task, items, answers: dict[str, list[str | None]]) -> Scores:
    s = Scores(items, outputs=answers)
    for side, outs in answers.items():
        if task.builtin:
            for i, (item, out) in enumerate(zip(items, outs, strict=True)):
                for metric, value in builtin.score(task.builtin, item, out or "").items():
                    s.values.setdefault((metric, side), [None] * len(items))[i] = value
            continue
        for metric in task.metrics:
            if metric.uses_judge:
                continue
            pairs = [item_score(metric, item, out) for item, out in zip(items, outs, strict=True)]
            s.values[(metric.label, side)] = [v for v, _ in pairs]
            s.details[(metric.label, side)] = [d for _, d in pairs]
            s.gated[metric.label] = metric.gate
            if metric.is_format:
                s.formats.add(metric.label)
    return s


def _judge(suite: Suite, tasks, scores: dict[str, Scores], servers, cp: Checkpoints, store: Store,
           progress: bool, say, warnings: list[str]) -> dict[str, Any] | None:
    """Rubric and pairwise judgements, in chunks with a checkpoint after each."""
    from gristmill.evals.stats import per_item_agreement

    if not suite.judged:
        return None
    calls = servers.judge_calls(cp)
    out: dict[str, Any] = {"pairwise": [], "rubric": [], "calibration": None, "repeats": None,
                           "warnings": [], "model": calls.endpoint.model}
    gates: list[dict] = []
    labels_by_task: dict[str, dict[str, str]] = {}
    agreement: list[float] = []
    for name, (task, items, _) in tasks.items():
        s = scores[name]
        for metric in (m for m in task.metrics if m.uses_judge):
            sides = ["candidate"] if metric.metric == "pairwise" else list(s.outputs)
            if metric.metric == "pairwise" and "baseline" not in s.outputs:
                warnings.append(f"{name}: pairwise needs --baseline; not judged")
                continue
            for side in sides:
                say(f"  judge {name}/{metric.label}{'' if metric.metric == 'pairwise' else ' ' + side}:"
                    f" {len(items)} items x {suite.judge.repeats} repeat(s)")
                j = _judge_chunks(suite, metric, items, s, side, calls, cp, progress)
                s.values[(metric.label, side)] = j.values
                s.details[(metric.label, side)] = j.details
                s.gated[metric.label] = metric.gate
                if suite.judge.repeats > 1:
                    agreement.append(per_item_agreement(j.labels))
                if side == "candidate":
                    labels_by_task.setdefault(name, {}).update(
                        {items[i].id: lab for i, lab in enumerate(j.labels[0]) if lab is not None})
                if metric.metric == "pairwise":
                    if summary := pairwise_summary(name, s, j, suite, gates):
                        out["pairwise"].append(summary)
                else:
                    from gristmill.evals.stats import bootstrap_mean

                    known = [v for v in j.values if v is not None]
                    out["rubric"].append({"task": name, "side": side, "scale": metric.scale} |
                                         bootstrap_mean(known, n_resamples=suite.bootstrap).as_dict())
    if agreement:
        out["repeats"] = {"n": suite.judge.repeats, "per_item_agreement": min(agreement)}
    if suite.judge.calibration:
        out["calibration"] = _calibrate(store, suite, labels_by_task, gates)
    out["gates"] = gates
    out["warnings"] = [g["message"] for g in gates if g["status"] == "warn"]
    return out


def _judge_chunks(suite, metric, items, s: Scores, side: str, calls, cp, progress) -> judge.Judged:
    whole = judge.Judged([], [], [[] for _ in range(suite.judge.repeats)])
    templates = servers_templates()
    with _bar(progress, len(items), f"judge {metric.label}") as bar:
        for start in range(0, len(items), JUDGE_CHUNK):
            part = slice(start, start + JUDGE_CHUNK)
            if metric.metric == "pairwise":
                j = judge.pairwise(calls, templates, suite.judge, items[part],
                                   s.outputs["candidate"][part], s.outputs["baseline"][part])
            else:
                j = judge.rubric(calls, templates, suite.judge, metric, items[part],
                                 s.outputs[side][part])
            whole.values += j.values
            whole.details += j.details
            for r, labels in enumerate(j.labels):
                whole.labels[r] += labels
            whole.swap_consistent += j.swap_consistent
            whole.swap_judged += j.swap_judged
            bar.update(len(items[part]))
            cp.maybe()
    return whole


def _calibrate(store, suite: Suite, labels_by_task, gates: list[dict]) -> dict | None:
    from gristmill.evals.calibration import calibrate, read_labels

    source = suite.judge.calibration
    result = calibrate(read_labels(store, source), labels_by_task, source)
    if result is None:
        gates.append({"name": "judge calibration", "status": "warn",
                      "message": f"no human label in {source} matches a judged item"})
    elif result["agreement"] < suite.gates.min_agreement:
        kappa = "undefined" if result["kappa"] is None else f"{result['kappa']:.2f}"
        gates.append({"name": "judge calibration", "status": "warn",
                      "message": f"the judge agrees with the human labels on "
                                 f"{result['agreement']:.0%} of {result['n']} items (under "
                                 f"{suite.gates.min_agreement:.0%}; kappa {kappa})"})
    return result


def _report(suite: Suite, sides, tasks, scores, judged, contamination, params, warnings) -> dict:
    from gristmill.evals.metrics import classification_summary

    summary = summarize(suite, scores, "baseline" in sides)
    gates = summary["gates"] + (judged or {}).get("gates", [])
    if contamination["status"] in ("hit", "overridden") and suite.gates.contamination:
        gates.append({"name": "contamination", "message": contamination["message"],
                      "status": "fail" if contamination["status"] == "hit" else "warn"})
    classification = []
    for name, (task, _, _) in tasks.items():
        for metric in (m for m in task.metrics if m.metric == "accuracy"):
            for side in scores[name].outputs:
                details = scores[name].details.get((metric.label, side)) or []
                got = [d for d in details if d and "expected" in d]
                if got:
                    classification.append({"task": name, "side": side} | classification_summary(
                        [d["predicted"] for d in got], [d["expected"] for d in got], metric.labels))
    return {"suite": suite.name, "run_id": None, "created_at": datetime.now().isoformat(timespec="seconds"),
            "candidate": sides["candidate"].describe(),
            "baseline": sides["baseline"].describe() if "baseline" in sides else None,
            "verdict": verdict(gates), "gates": gates, "metrics": summary["metrics"],
            "slices": slices(suite, scores),
            "judge": {k: v for k, v in judged.items() if k != "gates"} if judged else None,
            "classification": classification, "contamination": contamination,
            "worst": worst(scores) if "baseline" in sides else [], "warnings": warnings,
            "params": params, "data": {name: origin for name, (_, _, origin) in tasks.items()}}


def _bar(show: bool, total: int, desc: str):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" items", leave=False, mininterval=0.5)


class _NoBar(nullcontext):
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self):
        return self



