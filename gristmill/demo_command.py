"""`gristmill demo`: as much of the loop as exists, on generated customer-support data."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="generate the demo data and run the loop on it",
        description="Generate a seeded customer-support dataset with planted, labelled problems "
        "(PII, duplicates, near duplicates, golden-set leaks, malformed lines, empty and overlong "
        "answers), ingest it, show it and export it. Safe to run again.",
    )
    p.add_argument(
        "--dir",
        type=Path,
        default=Path("gristmill-demo"),
        help="where the demo data, store and exports go (default: ./gristmill-demo)",
    )
    p.add_argument("--seed", type=int, default=0, help="the data generator's seed (default 0)")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args) -> int:
    from gristmill.demo_data import generate
    from gristmill.output import summary
    from gristmill.store.db import Store
    from gristmill.store.export import export
    from gristmill.store.ingest import ingest
    from gristmill.store.inspect import describe
    from gristmill.store.verify import verify
    from gristmill.store.versions import resolve

    store = Store(args.store or args.dir / "gristmill.duckdb")
    files = generate(args.dir / "data", seed=args.seed)
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
        result = ingest(store, [path], dataset, on_error=on_error, progress=False)
        print(f"   {result.summary()}")
    print("3. show")
    with store.read() as con:
        for dataset, _, _ in steps:
            d = describe(con, resolve(con, dataset))
            for kind, k in d["kinds"].items():
                print(
                    f"   {d['ref']}: {k['examples']:,} {kind} examples, {k['multi_turn']:,} "
                    f"multi-turn, {k['with_system_prompt']:.0%} with a system prompt, "
                    f"characters p50 {k['chars']['p50']:,} / p95 {k['chars']['p95']:,} / "
                    f"max {k['chars']['max']:,}; {d['duplicate_records']} duplicate records"
                )
        exports = args.dir / "exports"
        print("4. export")
        for dataset, fmt, name in (
            ("support", "openai", "support.openai.jsonl"),
            ("preferences", "preference", "preferences.jsonl"),
        ):
            r = export(con, resolve(con, dataset), exports / name, fmt)
            print(f"   {r.summary(dataset, fmt)}")
        checked, problems = verify(con)
        print(f"5. verify: {checked:,} examples re-hashed, {len(problems)} problem(s)")
        (leaked,) = con.execute(
            "SELECT count(*) FROM members g JOIN members s USING (example_key) "
            "WHERE g.version_id = ? AND s.version_id = ?",
            [resolve(con, "golden").version_id, resolve(con, "support").version_id]).fetchone()
    print(f"   note: {leaked} golden examples are also in support word for word (planted leaks; "
          "paraphrased ones need the curation leakage check)")
    s = f" --store {store.path}" if args.store is None else ""
    hints = [
        (f"gristmill rejects{s}", "the malformed lines, each with FILE:LINE and why"),
        (f"gristmill show support{s} --json", "the full statistics"),
        (f"gristmill log support{s}", "the version history"),
        (f"gristmill runs{s}", "every writing command, with its config and stats"),
        (str(files.labels), "what was planted, to score curation against"),
        (str(store.path), "plain SQL tables: open it with any DuckDB client"),
    ]
    width = max(len(h) for h, _ in hints)
    print("\nLook next at:")
    for hint, why in hints:
        print(f"  {hint.ljust(width)}  {why}")
    summary(args, f"demo done: store {store.path}, exports in {args.dir / 'exports'}")
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())
