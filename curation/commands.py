"""The curation commands: `curate` runs a recipe or one step. Heavy step libraries load only when
a step runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from gristmill.curation.recipe import STEPS

_RECIPES = Path(__file__).resolve().parent / "recipes"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "curate", parents=[common], help="run curation steps over a version, one version each",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a recipe (or one step) over REF. Each step commits a child version with "
        "its config and stats, and records every example it drops with a reason and evidence. "
        "The same step config on the same input reuses the committed result, so a re-run after "
        "a kill continues from the last committed step.",
        epilog="steps: " + ", ".join(STEPS) + "\nshipped recipes (--recipe NAME): "
        + ", ".join(sorted(p.stem for p in _RECIPES.glob("*.yaml"))),
    )
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--recipe", "-r", metavar="FILE",
                     help="a recipe YAML file, or the name of a shipped recipe (sft, preference)")
    how.add_argument("--step", "-s", metavar="NAME", choices=STEPS, help="run one step alone")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="a setting: KEY=VALUE with --step, STEP.KEY=VALUE with --recipe")
    p.add_argument("--dry-run", action="store_true",
                   help="report what each step would remove; commit nothing")
    p.set_defaults(handler=cmd_curate)


def recipe_path(name: str) -> Path:
    from gristmill.errors import UsageError

    path = Path(name)
    if path.exists():
        return path
    shipped = _RECIPES / f"{name}.yaml"
    if "/" not in name and shipped.exists():
        return shipped
    known = ", ".join(sorted(p.stem for p in _RECIPES.glob("*.yaml")))
    raise UsageError(f"no recipe file {name!r} (shipped recipes: {known})")


def cmd_curate(args) -> int:
    from gristmill.curation.recipe import load_recipe, single_step
    from gristmill.curation.runner import curate
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.views import open_store

    if args.recipe:
        steps = load_recipe(recipe_path(args.recipe), args.overrides)
    else:
        steps = [single_step(args.step, args.overrides)]

    def report(outcome) -> None:
        if not args.json:
            print(outcome.line(), flush=True)

    outcomes = curate(open_store(args), args.ref, steps, dry_run=args.dry_run,
                      progress=progress(args), on_step=report)
    if args.json:
        emit_json([{"step": o.step, "input": o.input, "output": o.output, "reused": o.reused,
                    **o.stats} for o in outcomes])
    last = outcomes[-1]
    kept = last.stats["kept"]
    dropped = outcomes[0].stats["input"] - kept
    if args.dry_run:
        summary(args, f"dry run: {len(outcomes)} step(s) would keep {kept:,} examples of "
                f"{outcomes[0].input} and drop {dropped:,}; nothing committed")
    else:
        summary(args, f"curated {outcomes[0].input} -> {last.output}: {len(outcomes)} step(s), "
                f"{kept:,} examples kept, {dropped:,} dropped")
    return 0
