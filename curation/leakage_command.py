"""`gristmill leakage`: which training examples match an evaluation item, and how. It only reads:
removing them is the `leakage` curation step."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Check TRAIN_REF against one or more evaluation sets for leakage: a training example leaks "
    "when its first user message is the same as an eval item's question once normalized "
    "(exact), contains at least half of the eval question's 13-word runs anywhere in its text "
    "(ngram), has close word shingles (minhash), or means the same "
    "(embedding: a cosine on all-MiniLM-L6-v2 vectors plus the same names and numbers). Eval "
    "answers are not compared: they are what a model should produce. The store is opened "
    "read-only and nothing is changed; vectors cached by earlier steps are reused, new ones "
    "are not stored. To remove what this finds from training (never from the eval set), run "
    "the `leakage` step: gristmill curate TRAIN_REF --step leakage --set 'against=[EVAL_REF]'."
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("leakage", parents=[common], help="find training examples that match eval items",
                       description=DESCRIPTION)
    p.add_argument("ref", metavar="TRAIN_REF", help="the training set: NAME, NAME@N or NAME@latest")
    p.add_argument("--against", "-a", nargs="+", required=True, metavar="EVAL_REF",
                   help="the evaluation set(s) to check against")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="a setting of the leakage step, e.g. methods=[exact,ngram] or cosine=0.7")
    p.set_defaults(handler=cmd_leakage)


def cmd_leakage(args) -> int:
    import orjson

    from gristmill.curation.leakage import find_leaks
    from gristmill.curation.recipe import single_step
    from gristmill.output import emit_json, progress, summary, table
    from gristmill.store.views import open_store

    against = f"against={orjson.dumps(args.against).decode()}"  # JSON is YAML: a list of refs
    settings = single_step("leakage", [*args.overrides, against]).config
    found = find_leaks(open_store(args), args.ref, args.against,
                       settings.model_dump(exclude={"against"}), progress=progress(args))
    if args.json:
        emit_json([{"train_id": x.train_id, "eval_id": x.eval_id, "eval_ref": x.eval_ref,
                    "method": x.method, "score": x.score, "train_text": x.train_text,
                    "eval_text": x.eval_text} for x in found.leaks])
    elif found.leaks:
        print(table(["TRAIN ID", "EVAL ID", "METHOD", "SCORE", "TRAINING QUESTION"],
                    [[x.train_id[:12], x.eval_id[:12], x.method, f"{x.score:.3f}",
                      _one_line(x.train_text, 60)] for x in found.leaks]))
    by_method = ", ".join(f"{m} {n:,}" for m, n in found.stats["leaks"].items() if n)
    items = len({x.eval_id for x in found.leaks})
    summary(args, f"{len(found.leaks):,} of {found.n_train:,} training examples in {args.ref} match "
            f"{items:,} of {found.n_eval:,} eval items"
            + (f" ({by_method})" if by_method else ""))
    return 0


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"
