"""`gristmill flywheel …`: production logs in from cron, failures out for training and review."""

from __future__ import annotations

import argparse
from pathlib import Path

_INGEST = ("Read the new lines of production logs: a JSONL file and its rotated copies "
           "(app.jsonl.1, app.jsonl.2.gz), or every log file in a folder. Each line is an OpenAI "
           "chat request and response with metadata (timestamp, request_id, user_id, session_id, "
           "model, latency_ms) and optional feedback (thumb, rating, correction, comment), a plain "
           "chat ending with the answer, or a feedback event naming a request_id. A cursor per "
           "file makes each run read only what is new; a line is stored once however often it is "
           "read; PII is scrubbed before anything is stored. Run it from cron: a run while "
           "another holds the store exits at once with code 3, and a killed run is resumed by "
           "the next one without losing or doubling a line.")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    fw = sub.add_parser("flywheel", help="production logs in, failures mined, the loop",
                        description="The data flywheel: ingest production logs from cron, mine "
                        "failures into training data and a review queue, watch drift, and run "
                        "the loop from new logs to a gated, registered candidate.")
    kinds = fw.add_subparsers(dest="action", metavar="ACTION", required=True,
                              help="what to do (each: gristmill flywheel ACTION --help)")
    p = kinds.add_parser("ingest", parents=[common], help="read new production log lines",
                         description=_INGEST)
    p.add_argument("source", metavar="SOURCE", type=Path,
                   help="a log file (its rotated copies are read too) or a folder of them")
    p.add_argument("--dataset", default="logs", metavar="NAME",
                   help="the dataset the conversations go to (default: logs)")
    p.add_argument("--pii", choices=("placeholder", "pseudonym", "off"), default="placeholder",
                   help="how PII is scrubbed before storing: typed placeholders (default), "
                   "consistent pseudonyms, or off to store the text as logged")
    p.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                   help="a bad line: record it as a reject and go on (default), or stop")
    p.add_argument("--commit-every", type=int, default=5000, metavar="N",
                   help="lines per transaction, at most (a chunk also commits after 5 s); a "
                   "killed run re-reads at most this many (default: 5000)")
    p.add_argument("--drift-against", metavar="REF",
                   help="compare the recent logs' prompts with this version's (e.g. train) and "
                   "report embedding drift")
    p.add_argument("--drift-threshold", type=float, metavar="D",
                   help="centroid cosine shift that counts as drift (default: 0.2)")
    p.set_defaults(handler=cmd_ingest, command="flywheel ingest")

    p = kinds.add_parser("mine", parents=[common], help="turn failures into training data",
                         description="Find the failing log lines (thumb down, a low rating, a low "
                         "judge score, a reviewer's bad label, a user's correction) and commit "
                         "each correction as an SFT example (DATASET-corrections) and a preference "
                         "pair, correction chosen and logged answer rejected (DATASET-pairs). "
                         "Failures with no correction wait in the review queue.")
    _mining_options(p)
    p.set_defaults(handler=cmd_mine, command="flywheel mine")

    p = kinds.add_parser("judge", parents=[common], help="grade logged answers with an LLM judge",
                         description="Grade the most recent logged answers that this judge has "
                         "not graded yet, with the eval judge's rubric (no reference): pass/fail "
                         "or 1-5. Grades are stored as feedback (scores on 0..1); `flywheel mine` "
                         "counts a score under --low-score as a failure.")
    p.add_argument("--dataset", default="logs", metavar="NAME", help="the logs (default: logs)")
    p.add_argument("--endpoint", type=Path, metavar="FILE",
                   help="the judge: an endpoint file (default: the embedded llama.cpp server)")
    p.add_argument("--limit", type=int, default=200, metavar="N",
                   help="answers graded this run (default: 200)")
    p.add_argument("--scale", choices=("pass_fail", "1-5"), default="pass_fail")
    p.add_argument("--rubric", metavar="TEXT", help="what a good answer does (default: the "
                   "eval judge's)")
    p.set_defaults(handler=cmd_judge, command="flywheel judge")

    p = kinds.add_parser("review", help="the review queue: export for annotation, import labels",
                         description="Failures nobody has corrected, out to annotators as JSONL "
                         "or CSV, and their labels (good/bad) and corrections back in.")
    actions = p.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    q = actions.add_parser("export", parents=[common], help="write the queue to annotate",
                           description="Write each failure awaiting review (no correction, no "
                           "label yet) with its prompt and answer, and empty label, correction "
                           "and note columns. The format follows the suffix: .jsonl or .csv.")
    q.add_argument("out", metavar="FILE", type=Path, help="queue.jsonl or queue.csv")
    q.add_argument("--limit", type=int, metavar="N", help="at most N rows (oldest first)")
    _mining_options(q)
    q.set_defaults(handler=cmd_review_export, command="flywheel review export")
    q = actions.add_parser("import", parents=[common], help="read labels and corrections back",
                           description="Read a filled-in review file: each row with a label "
                           "(good or bad) or a correction becomes feedback on its log line, stored "
                           "once however often the file is imported. Corrections are PII-scrubbed "
                           "and mined by the next `flywheel mine`.")
    q.add_argument("file", metavar="FILE", type=Path, help="the filled-in .jsonl or .csv")
    q.add_argument("--dataset", default="logs", metavar="NAME", help="the logs (default: logs)")
    q.add_argument("--pii", choices=("placeholder", "pseudonym", "off"), default="placeholder",
                   help="how PII in corrections and notes is scrubbed (default: placeholder)")
    q.set_defaults(handler=cmd_review_import, command="flywheel review import")

    p = kinds.add_parser("drift", parents=[common], help="embedding drift of recent prompts",
                         description="Compare the prompts of the last N log lines with a "
                         "version's (the training data): the cosine distance between the two "
                         "embedding centroids, held to the threshold, and an MMD two-sample test "
                         "with its permutation p-value. Exit code 1 when the shift is over the "
                         "threshold.")
    p.add_argument("--against", required=True, metavar="REF", help="the reference version")
    p.add_argument("--dataset", default="logs", metavar="NAME", help="the logs (default: logs)")
    p.add_argument("--window", type=int, default=500, metavar="N",
                   help="recent log lines, and the most reference examples, compared (default: 500)")
    p.add_argument("--threshold", type=float, metavar="D",
                   help="centroid cosine shift that counts as drift (default: 0.2)")
    p.set_defaults(handler=cmd_drift, command="flywheel drift")
    register_run(kinds, common)

    p = kinds.add_parser("simulate", parents=[common], help="write simulated production logs to "
                         "try the loop on", description="Write DAYS of simulated support-bot logs "
                         "(the demo shop's chats, with metadata, PII, thumbs, ratings, corrections, "
                         "retries and late feedback events) to DIR/logs/app.jsonl, rotated every "
                         "third day the way logrotate does, and, when absent, a flywheel.yaml and "
                         "suite.yaml for the demo store, to run with `gristmill flywheel run`.")
    p.add_argument("dir", metavar="DIR", type=Path, help="where the logs and configs go")
    p.add_argument("--days", type=int, default=7, metavar="N", help="days of logs (default: 7)")
    p.add_argument("--per-day", type=int, default=40, metavar="N",
                   help="requests a day (default: 40)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="another seed writes other requests: run again with --seed 1 for more "
                   "days of logs (default: 0)")
    p.set_defaults(handler=cmd_simulate, command="flywheel simulate")


_RUN = ("One turn of the data flywheel, as FLYWHEEL.yaml says: ingest new log lines → drift "
        "check → mine failures → curate → merge into the training dataset (a new version) → "
        "optional synth → train → eval suite → shadow comparison with production's logged "
        "answers → gate → register the candidate. A stage whose inputs are unchanged is not run "
        "again, and a killed turn resumes at the stage it was in. Ends with one status line and "
        "a report. Exit codes: 0 the candidate passed (or nothing was new), 1 the gate failed "
        "(the webhook, if set, is called), 2 a stage failed, 3 another turn is running.")


def register_run(kinds: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = kinds.add_parser("run", parents=[common], help="one turn of the loop: logs to a gated "
                         "candidate", description=_RUN)
    p.add_argument("config", metavar="FLYWHEEL", type=Path, help="the loop's YAML file")
    p.set_defaults(handler=cmd_run, command="flywheel run")


def register_forget(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("forget", parents=[common], help="take a source's or a user's examples "
                       "out of every future version",
                       description="Find the examples that came from a source file (or a folder "
                       "or glob of them) or from a user's log lines, and the examples mined from "
                       "them; commit a new version of every dataset that holds one, without it, "
                       "each removal recorded with the reason; keep them out of every later "
                       "version; list the models trained on them. Past versions are kept: models "
                       "were trained on them.")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--source", metavar="PATH", help="a source file, a folder or a glob")
    who.add_argument("--user", metavar="ID", help="a user id as logged")
    p.add_argument("--reason", required=True, metavar="TEXT",
                   help="why (e.g. an erasure request's reference); kept with every removal")
    p.set_defaults(handler=cmd_forget, command="forget")


def _mining_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="logs", metavar="NAME", help="the logs (default: logs)")
    p.add_argument("--low-rating", type=float, default=2.0, metavar="R",
                   help="a rating at or under R is a failure (default: 2)")
    p.add_argument("--low-score", type=float, default=0.5, metavar="S",
                   help="a judge score (0..1) under S is a failure (default: 0.5)")


def cmd_ingest(args) -> int:
    from gristmill.flywheel.ingest import ingest_logs
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.views import open_store

    result = ingest_logs(open_store(args), args.source, dataset=args.dataset, pii=args.pii,
                         on_error=args.on_error, commit_every=args.commit_every,
                         drift_against=args.drift_against, drift_threshold=args.drift_threshold,
                         progress=progress(args))
    if args.json:
        emit_json(result.__dict__)
    summary(args, result.summary())
    return 0


def cmd_mine(args) -> int:
    from gristmill.flywheel.mine import mine
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store

    result = mine(open_store(args), args.dataset, args.low_rating, args.low_score)
    if args.json:
        emit_json(result.__dict__)
    summary(args, result.summary())
    return 0


def cmd_review_export(args) -> int:
    from gristmill.flywheel.review import export
    from gristmill.output import summary
    from gristmill.store.views import open_store

    n = export(open_store(args), args.out, args.dataset, args.limit, args.low_rating,
               args.low_score)
    summary(args, f"wrote {n:,} failure(s) to review to {args.out}; fill in label (good or bad) "
            f"and correction, then: gristmill flywheel review import {args.out}")
    return 0


def cmd_review_import(args) -> int:
    from gristmill.flywheel.review import import_labels
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store

    result = import_labels(open_store(args), args.file, args.dataset, args.pii)
    if args.json:
        emit_json(result.__dict__)
    summary(args, result.summary(args.file))
    return 0


def cmd_drift(args) -> int:
    from gristmill.flywheel.drift import check_drift
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.views import open_store

    check = check_drift(open_store(args), args.dataset, args.against, args.threshold,
                        window=args.window, progress=progress(args))
    if args.json:
        emit_json(check)
    summary(args, f"drift of {check['dataset']} vs {check['reference']} ({check['n_recent']} vs "
            f"{check['n_reference']} prompts): centroid shift {check['centroid_shift']:.3f} "
            f"(threshold {check['threshold']}), MMD {check['mmd']:.4f} p={check['p_value']:.3f}: "
            + ("DRIFTED" if check["drifted"] else "no drift over the threshold"))
    return 1 if check["drifted"] else 0


def cmd_forget(args) -> int:
    from gristmill.flywheel.forget import forget
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store

    result = forget(open_store(args), source=args.source, user=args.user, reason=args.reason)
    if args.json:
        emit_json(result.__dict__)
    summary(args, result.summary())
    return 0


def cmd_run(args) -> int:
    import sys

    from gristmill.flywheel.loop import run_turn
    from gristmill.flywheel.loop_config import load_flywheel
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.views import open_store

    config = load_flywheel(args.config)
    quiet = args.json or args.quiet
    turn = run_turn(open_store(args), config, progress=progress(args),
                    say=(lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr)))
    if args.json:
        emit_json({"loop": turn.loop, "turn": turn.number, "verdict": turn.verdict,
                   "ran": turn.ran, "reused": turn.reused, "gates": turn.gates,
                   "stages": turn.out, "webhook": turn.webhook, "report": str(turn.report)})
    summary(args, turn.line())
    return turn.exit_code


def cmd_simulate(args) -> int:
    from gristmill.flywheel.simulate import write_example
    from gristmill.output import summary

    written = write_example(args.dir, args.days, args.per_day, args.seed)
    summary(args, f"wrote {written.lines:,} log lines ({len(written.requests):,} requests, "
            f"{written.events:,} late feedback events) over {args.days} day(s) to "
            f"{args.dir / 'logs'}; next: gristmill flywheel run {args.dir / 'flywheel.yaml'}")
    return 0


def cmd_judge(args) -> int:
    from gristmill.flywheel.judge_logs import judge_logs
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store

    result = judge_logs(open_store(args), args.dataset, args.endpoint, args.limit, args.scale,
                        args.rubric)
    if args.json:
        emit_json(result)
    summary(args, f"judged {result['judged']:,} logged answer(s) with {result['model']}: "
            f"{result['low']:,} scored low, {result['unreadable']:,} unreadable verdict(s), "
            f"{result['skipped']:,} graded before")
    return 0
