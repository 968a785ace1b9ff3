"""`gristmill eval run|history|show`: the ship decision from the command line.

`eval run` exits 0 when the candidate passes (warnings included), 1 when a gate fails and 2 when
the eval itself could not be run, so CI and cron can act on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_RUN = ("Answer every task of SUITE (a YAML file) with the candidate and, with --baseline, the "
        "baseline; score each answer (string, classification, extraction, JSON, LLM-judge and "
        "pairwise metrics), compute bootstrap 95% intervals and paired tests, check the golden "
        "sets against the candidate's training data, apply the gates, store everything and "
        "write report.html, report.md and report.json. Answers and judge calls are cached: a "
        "re-run, or a killed run started again, pays only for what is missing. Candidates: a "
        "registry model (NAME), `base` (the candidate's own base), base:SPEC (smollm2, a GGUF "
        "or a model folder), `local` (the embedded llama.cpp server) or an endpoint file "
        "(*.yaml). Exit codes: 0 pass (warnings included), 1 a gate failed, 2 error.")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ev = sub.add_parser("eval", help="evaluate a model against a suite, gate it, report",
                        description="Eval suites: golden sets, metrics, judges, gates, reports.")
    kinds = ev.add_subparsers(dest="action", metavar="ACTION", required=True,
                              help="what to do (each: gristmill eval ACTION --help)")
    p = kinds.add_parser("run", parents=[common], help="run a suite: score, judge, gate, report",
                         description=_RUN)
    p.add_argument("suite", metavar="SUITE", type=Path, help="the suite's YAML file")
    p.add_argument("--candidate", required=True, metavar="M", help="the model to judge")
    p.add_argument("--baseline", metavar="B", help="what it must not fall behind (e.g. `base`)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where the reports go (default: ./eval-reports/SUITE-ID)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a suite setting, e.g. gates.fail=0.1 or judge.repeats=3")
    p.add_argument("--repeats", type=int, metavar="N", help="ask each judgement N times "
                   "(distinct seeds) and report per-item agreement")
    p.add_argument("--allow-contamination", metavar="REASON",
                   help="pass despite golden items found in the training data; the reason is "
                   "recorded with the run")
    p.set_defaults(handler=cmd_run, command="eval run")

    p = kinds.add_parser("history", parents=[common], help="eval runs over time",
                         description="Every stored eval run, oldest first: suite, candidate, "
                         "baseline, verdict and each metric's candidate mean, so a suite's "
                         "numbers can be followed from model to model.")
    p.add_argument("--suite", metavar="NAME", help="only runs of this suite")
    p.add_argument("--candidate", metavar="M", help="only runs of this candidate")
    p.set_defaults(handler=cmd_history, command="eval history")

    p = kinds.add_parser("show", parents=[common], help="one eval run's report (Markdown)",
                         description="Print a stored eval run's Markdown report (or its JSON).")
    p.add_argument("eval_id", metavar="ID", type=int, help="the run's number (eval history)")
    p.set_defaults(handler=cmd_show, command="eval show")


def cmd_run(args) -> int:
    from gristmill.errors import GristmillError
    from gristmill.output import echo, emit_json, error, progress, summary

    try:
        from gristmill.evals.run import run_eval
        from gristmill.evals.suite import load_suite
        from gristmill.store.views import open_store

        overrides = list(args.set) + ([f"judge.repeats={args.repeats}"] if args.repeats else [])
        suite = load_suite(args.suite, overrides)
        outcome = run_eval(open_store(args), suite, args.candidate, args.baseline, out_dir=args.out,
                           override=args.allow_contamination, progress=progress(args),
                           say=(lambda s: print(s, file=sys.stderr)) if args.json else print)
    except GristmillError as e:
        error("eval run", str(e))
        return 2
    if args.json:
        emit_json(outcome.report)
    else:
        for g in outcome.report["gates"]:
            if g["status"] != "ok":
                echo(f"  {g['status'].upper():4} {g['name']}: {g['message']}")
    summary(args, outcome.line())
    return 1 if outcome.verdict == "fail" else 0


def cmd_history(args) -> int:
    from gristmill.evals.history import history
    from gristmill.output import emit_json, summary, table
    from gristmill.store.views import open_store

    with open_store(args).read() as con:
        runs = history(con, args.suite, args.candidate)
    if args.json:
        emit_json(runs)
    elif runs:
        names = list(dict.fromkeys(k for r in runs for k in r["metrics"]))
        print(table(["id", "when", "suite", "candidate", "baseline", "verdict", *names],
                    [[r["eval_id"], r["created_at"][:16], r["suite"], r["candidate"],
                      r["baseline"] or "", r["verdict"],
                      *(_num(r["metrics"].get(n)) for n in names)] for r in runs]))
    summary(args, f"{len(runs)} eval run(s)")
    return 0


def cmd_show(args) -> int:
    from gristmill.evals.history import report
    from gristmill.evals.report_md import markdown
    from gristmill.output import emit_json
    from gristmill.store.views import open_store

    with open_store(args).read() as con:
        data = report(con, args.eval_id)
    if args.json:
        emit_json(data)
    else:
        print(markdown(data))
    return 0


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
