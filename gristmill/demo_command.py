"""`gristmill demo`: as much of the loop as exists, on generated customer-support data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="generate the demo data and run the loop on it",
        description="Generate a seeded customer-support dataset with planted, labelled problems "
        "(PII, duplicates, near duplicates, paraphrases, golden-set leaks, malformed lines, empty "
        "and overlong answers), ingest it, curate it with the shipped recipes, score what each "
        "step removed against the planted labels, and export the training split. Safe to run "
        "again: finished steps are reused.",
    )
    p.add_argument(
        "--dir",
        type=Path,
        default=Path("gristmill-demo"),
        help="where the demo data, store and exports go (default: ./gristmill-demo)",
    )
    p.add_argument("--seed", type=int, default=0, help="the data generator's seed (default 0)")
    p.add_argument(
        "--chats",
        type=int,
        default=2000,
        help="support chats to generate (default 2,000, a few minutes on 2 cores; 300 takes "
        "about one); problems are planted in proportion",
    )
    p.add_argument("--train-steps", type=int, default=6, metavar="N",
                   help="steps of the demo's LoRA SFT run of SmolLM2 on CPU (default 6, about "
                   "two minutes; 0 skips training)")
    p.add_argument("--eval-items", type=int, default=24, metavar="N",
                   help="golden items the closing eval answers with the trained model and its "
                   "base; the safety and MMLU checks take up to 2N and N (default 24, about four "
                   "minutes on 2 cores; 0 skips the eval)")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args) -> int:
    from gristmill.demo_data import generate
    from gristmill.demo_score import load_labels, score
    from gristmill.errors import UsageError
    from gristmill.output import progress, summary
    from gristmill.store.db import Store
    from gristmill.store.export import export
    from gristmill.store.ingest import ingest
    from gristmill.store.inspect import describe
    from gristmill.store.verify import verify
    from gristmill.store.versions import resolve

    if args.chats < 100:
        raise UsageError(f"--chats must be at least 100 (to plant every problem), not {args.chats}")
    store = Store(args.store or args.dir / "gristmill.duckdb")
    files = generate(args.dir / "data", seed=args.seed, n_chats=args.chats)
    print(
        f"1. generated demo data in {files.directory} (planted problems listed in "
        f"{files.labels.name}: {_counts(files.counts)})"
    )
    steps = [
        ("support", files.chats, "skip"),
        ("preferences", files.preferences, "fail"),
        ("golden", files.golden, "fail"),
    ]
    print("2. ingest")
    for dataset, path, on_error in steps:
        if store.path.exists():
            with store.read() as con:
                if con.execute("SELECT 1 FROM datasets WHERE name = ?", [dataset]).fetchone():
                    print(f"   {dataset}: already ingested ({resolve(con, f'{dataset}@1').ref})")
                    continue
        result = ingest(store, [path], dataset, on_error=on_error, progress=False)
        print(f"   {result.summary()}")
    print("3. show")
    with store.read() as con:
        for dataset, _, _ in steps:
            d = describe(con, resolve(con, f"{dataset}@1"))
            for kind, k in d["kinds"].items():
                print(
                    f"   {d['ref']}: {k['examples']:,} {kind} examples, {k['multi_turn']:,} "
                    f"multi-turn, {k['with_system_prompt']:.0%} with a system prompt, "
                    f"characters p50 {k['chars']['p50']:,} / p95 {k['chars']['p95']:,} / "
                    f"max {k['chars']['max']:,}; {d['duplicate_records']} duplicate records"
                )
    if missing := _missing_ml():
        # subtle: a core-only install (no ml extra) still runs the rest of the demo
        print(f"4-5. curate: skipped, the curation steps need {', '.join(missing)}: install "
              "the ml extra (pip install 'gristmill[ml]')")
        with store.read() as con:
            final = {d: resolve(con, f"{d}@1") for d in ("support", "preferences")}
        split = None
    else:
        print("4. curate support with the default recipe (sft), checking leakage against golden")
        final = {"support": _curate(store, "support", "sft", progress(args))}
        with store.read() as con:
            _report(score(con, final["support"], load_labels(files.labels)))
        print("5. curate preferences with the preference recipe")
        final["preferences"] = _curate(store, "preferences", "preference", progress(args),
                                       samples=False)
        split = "train"
    with store.read() as con:
        exports = args.dir / "exports"
        print(f"6. export {'the curated training split' if split else 'the ingested versions'}")
        for dataset, fmt, name in (
            ("support", "openai", f"support.{split or 'all'}.jsonl"),
            ("preferences", "preference", f"preferences.{split or 'all'}.jsonl"),
        ):
            # subtle: the demo owns its folder, so it replaces a file there on any file system,
            # also one that keeps no attribute marking an export's output
            r = export(con, final[dataset], exports / name, fmt, split=split, store=store.path,
                       force=True)
            print(f"   {r.summary(final[dataset].ref, fmt)}{f' ({split} split)' if split else ''}")
        checked, problems = verify(con)
        print(f"7. verify: {checked:,} examples re-hashed, {len(problems)} problem(s)")
    if split and args.train_steps > 0:
        print(f"8. train: {args.train_steps} steps of LoRA SFT of SmolLM2 on the curated "
              f"{final['support'].ref} train split (CPU; eval loss on its val split)")
        model = _train(store, final["support"].ref, args.train_steps, not progress(args))
        if args.eval_items > 0:
            print(f"9. eval: {model} against its base on golden@1 (ROUGE-L, token F1, a pairwise "
                  "judge with swapped orders), the safety prompts and an MMLU subset")
            report = _eval(store, model, args.dir / "eval-reports", args.eval_items, progress(args))
    s = f" --store {store.path}" if args.store is None else ""
    hints = [
        (f"gristmill removed support{s}", "every removal, with its step, reason and evidence"),
        (f"gristmill audit support{s}", "the pre-training checks, and an HTML page"),
        (f"gristmill rejects{s}", "the malformed lines, each with FILE:LINE and why"),
        (f"gristmill show support{s} --json", "the full statistics"),
        (f"gristmill log support{s}", "the version history"),
        (f"gristmill runs{s}", "every writing command, with its config and stats"),
        *([(f"gristmill models show {model}{s}", "the trained model: data, config, loss "
            "curves, lineage")] if split and args.train_steps > 0 else []),
        *([(str(report / "report.html"), "the eval report: verdict, intervals, judge, worst "
            "cases"), (f"gristmill eval history{s}", "every eval run, over time")]
          if split and args.train_steps > 0 and args.eval_items > 0 else []),
        *([(f"gristmill flywheel simulate {args.dir / 'flywheel'}", "production logs and a "
            "loop config: then `gristmill flywheel run` on this store")] if split else []),
        (str(files.labels), "what was planted, to score curation against"),
        (str(store.path), "plain SQL tables: open it with any DuckDB client"),
    ]
    width = max(len(h) for h, _ in hints)
    print("\nLook next at:")
    for hint, why in hints:
        print(f"  {hint.ljust(width)}  {why}")
    summary(args, f"demo done: store {store.path}, exports in {args.dir / 'exports'}")
    return 0


def demo_overrides() -> list[str]:
    """What the demo sets on the shipped recipes: its eval set, and its shop's own names on
    the PII allow-list."""
    from gristmill.demo_texts import shop_terms

    return ["leakage.against=[golden]", f"pii.allow={json.dumps(shop_terms())}"]


def _train(store, ref: str, steps: int, quiet: bool) -> str:
    """A short SFT run, registered; reused when the same version and config already trained."""
    from gristmill.train import registry
    from gristmill.train.config import SFTConfig
    from gristmill.train.run import train

    config = SFTConfig(max_steps=steps, batch_size=1, max_length=512, eval_steps=max(1, steps // 2),
                       max_examples=48, patience=None)
    wanted = config.model_dump(mode="json")
    with store.read() as con:
        for m in reversed(registry.listing(con)):
            if (m["kind"], m["status"], m["versions"][0]["ref"], m["config"]) == (
                    "sft", "ok", ref, wanted):
                print(f"   already trained: {m['name']}")
                return m["name"]
    outcome = train(store.path, ref, "sft", config, quiet=quiet)
    print(f"   {outcome.line()}")
    return outcome.name


def _eval(store, model: str, out: Path, items: int, bars: bool) -> Path:
    """The shipped demo suite, the candidate against its own base; answers are cached, so a
    second demo run only re-scores."""
    from gristmill import evals
    from gristmill.evals.run import run_eval
    from gristmill.evals.suite import load_suite

    suite = load_suite(Path(evals.__file__).resolve().parent / "suites" / "demo.yaml")
    suite.tasks[0].limit = items
    for task in suite.tasks[1:]:  # the safety and MMLU checks scale with it: 2N and N prompts
        task.limit = min(task.limit or 2 * items, 2 * items if task.builtin == "safety" else items)
    outcome = run_eval(store, suite, model, "base", out_dir=out / model, progress=bars,
                       say=lambda line: print(f" {line}", flush=True))
    for gate in outcome.report["gates"]:
        if gate["status"] != "ok":
            print(f"   {gate['status'].upper()} {gate['name']}: {gate['message']}")
    print(f"   {outcome.line()}")
    return outcome.report_dir


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _missing_ml() -> list[str]:
    from importlib.util import find_spec

    needed = ("presidio_analyzer", "datasketch", "sentence_transformers", "faiss", "transformers")
    return [name for name in needed if find_spec(name) is None]


def _curate(store, dataset: str, recipe: str, bars: bool, samples: bool = True):
    from gristmill.curation.commands import recipe_path
    from gristmill.curation.recipe import load_recipe
    from gristmill.curation.runner import curate
    from gristmill.store.versions import resolve

    def show(outcome) -> None:
        print(f"   {outcome.line()}", flush=True)
        for sample in outcome.samples[:2] if samples else ():
            print(f"      e.g. {sample['id'][:12]} {sample['reason']}: {sample['message'][:90]}")

    steps = load_recipe(recipe_path(recipe), demo_overrides())
    with store.read() as con:
        start = resolve(con, f"{dataset}@1")
    outcomes = curate(store, start.ref, steps, progress=bars, on_step=show)
    with store.read() as con:
        return resolve(con, outcomes[-1].output)


def _report(scored: dict) -> None:
    """What was planted against what the steps caught, then each step's removals."""
    print("   planted problem      planted  caught  by")
    for problem, e in scored["planted"].items():
        if problem == "pii":
            continue
        by = ", ".join(f"{step} {n}" for step, n in e["by"].most_common())
        print(f"   {problem:<20} {e['planted']:>7}  {e['caught']:>6}  {by}")
    for step, c in scored["steps"].items():
        print(f"   {step}: removed {c['removed']}, of which {c.get('planted', 0)} planted")
