"""The curation commands: `curate` runs a recipe or one step. Heavy step libraries load only when
a step runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gristmill.curation.registry import STEPS
from gristmill.errors import UsageError

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
    scale = p.add_argument_group("distributed runs")
    scale.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this process (default); ray: every step as tasks on a Ray "
                       "cluster, the same result, committed once when the run finishes")
    scale.add_argument("--address", metavar="ADDR",
                       help="with --engine ray: the cluster (host:port, or auto for the one "
                       "`ray start` runs here); default: a local cluster for this run")
    scale.add_argument("--work", metavar="URI",
                       help="with --engine ray: where the run's Parquet goes (input/ and "
                       "output/), a folder or an s3:// URI every node reaches; default: a "
                       "temporary folder beside the store, removed after the run")
    scale.add_argument("--partitions", type=int, metavar="N",
                       help="with --engine ray: partitions of the data (default: twice the "
                       "cluster's CPUs)")
    p.set_defaults(handler=cmd_curate)

    p = sub.add_parser(
        "audit", parents=[common], help="the pre-training checks of a version, and an HTML page",
        description="Check REF before training on it: format validation, length distribution, "
        "label balance, duplicates, split overlap and tokenization. Prints one line per check "
        "(ok, warn, fail, skipped) and writes an HTML page with histograms.")
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="where the page goes (default: audit-NAME-N.html)")
    p.add_argument("--label", metavar="KEY", help="a metadata key holding a label, for balance")
    p.add_argument("--tokenizer", metavar="NAME",
                   help="count tokens: a local tokenizer folder, a .gguf file, or smollm2")
    p.add_argument("--max-tokens", type=int, metavar="N", help="the training max length")
    p.add_argument("--strict", action="store_true", help="exit 1 when any check fails")
    p.set_defaults(handler=cmd_audit)


def recipe_path(name: str) -> Path:
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

    if args.engine == "ray":
        outcomes = _on_ray(args, steps, report)
    else:
        if args.address or args.work or args.partitions:
            raise UsageError("--address, --work and --partitions go with --engine ray")
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


def _on_ray(args, steps, report):
    from gristmill.output import progress
    from gristmill.scale.engine import curate_on_ray
    from gristmill.store.views import open_store

    if args.dry_run:
        raise UsageError("--dry-run runs in this process: leave out --engine ray")
    if args.partitions is not None and args.partitions < 1:
        raise UsageError("--partitions is a positive number")
    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    return curate_on_ray(open_store(args), args.ref, steps, address=args.address, work=args.work,
                         partitions=args.partitions, progress=progress(args), on_step=report,
                         say=say)


def cmd_audit(args) -> int:
    from dataclasses import asdict

    from gristmill.curation.audit import audit
    from gristmill.curation.audit_html import page
    from gristmill.output import emit_json, summary, table
    from gristmill.store.versions import resolve
    from gristmill.store.views import open_store

    store = open_store(args)
    with store.read() as con:
        version = resolve(con, args.ref)
    checks = audit(store, version, args.label, args.tokenizer, args.max_tokens)
    html = args.html or Path(f"audit-{version.dataset}-{version.number}.html")
    html.write_text(page(version.ref, checks), encoding="utf-8")
    if args.json:
        emit_json({"ref": version.ref, "html": str(html), "checks": [asdict(c) for c in checks]})
    else:
        print(table(["CHECK", "STATUS", "RESULT"], [[c.name, c.status, c.summary] for c in checks]))
    failed = [c.name for c in checks if c.status == "fail"]
    warned = [c.name for c in checks if c.status == "warn"]
    summary(args, f"audit of {version.ref}: {len(failed)} failed"
            f"{' (' + ', '.join(failed) + ')' if failed else ''}, {len(warned)} warned; {html}")
    return 1 if failed and args.strict else 0
