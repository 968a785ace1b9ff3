"""The store's commands: all of them are registered here, and those that write or export run
here (init, ingest, export, verify); those that only look live in views. Each parses, calls the
library and prints; nothing heavy is imported until a command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from gristmill.store import views

FORMATS = ("auto", "openai", "sharegpt", "alpaca", "self-instruct", "preference", "text", "prompt-completion",
           "gristmill")
EXPORT_FORMATS = ("openai", "sharegpt", "alpaca", "preference", "text", "gristmill", "parquet",
                  "hf")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    def add(name: str, summary: str, run, description: str = "") -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=description or summary,
                           parents=[common])
        p.set_defaults(handler=run)
        return p

    add("init", "create the store (or upgrade its schema)", cmd_init)

    p = add("ingest", "read files into a new version of a dataset", cmd_ingest,
            "Read JSONL (plain or .gz), JSON arrays, CSV, Parquet or a save_to_disk folder into "
            "a new version of DATASET. Every record is validated; the first bad one stops the "
            "ingest (FILE:LINE: what is wrong) and nothing is committed, unless --on-error skip "
            "stores bad records as rejects. Content already stored is not stored twice.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument("--dataset", "-d", required=True, help="the dataset to add a version to")
    p.add_argument("--format", "-f", default="auto", choices=FORMATS,
                   help="record format (default: auto, told from each record's keys)")
    p.add_argument("--on-error", default="fail", choices=("fail", "skip"),
                   help="stop at the first bad record (default) or store it as a reject")
    p.add_argument("--max-record-bytes", type=int, default=1 << 20, metavar="N",
                   help="largest record accepted, in bytes (default: 1 MiB)")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="a tag stored with each record's source (repeatable)")

    add("ls", "list datasets and their latest versions", views.cmd_ls)

    p = add("log", "the versions that led to REF, newest first", views.cmd_log)
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")

    p = add("show", "what a version holds: kinds, turns, lengths, sources, duplicates", views.cmd_show)
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")

    p = add("diff", "examples added, removed (with reasons) and transformed between versions",
            views.cmd_diff)
    p.add_argument("a", metavar="REF_A", help="the version to compare from")
    p.add_argument("b", metavar="REF_B", help="the version to compare to")
    p.add_argument("--limit", type=int, default=10, help="ids listed per category (default 10)")

    p = add("removed", "examples removed on the way to REF, with reasons and evidence",
            views.cmd_removed)
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")
    p.add_argument("--step", help="only removals by this step")
    p.add_argument("--reason", help="only removals with this reason code")
    p.add_argument("--limit", type=int, default=50, help="rows listed (default 50; 0: all)")

    p = add("export", "write a version in a format trainers read", cmd_export,
            "Write REF as JSONL (openai: the chat format TRL, Axolotl and the OpenAI fine-tuning "
            "API read; sharegpt; alpaca; preference; text; gristmill), Parquet, or a "
            "datasets.save_to_disk folder (hf). A file ending .gz is compressed.")
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")
    p.add_argument("-o", "--output", required=True,
                   help="the file (or folder) to write, never over an existing file that "
                   "export did not write (see --force); `-` writes JSON Lines to standard "
                   "output; with --format parquet, a path not ending .parquet (or an s3:// URI) "
                   "is a partitioned dataset folder")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file that export did not write (never the store "
                   "itself, a device, a FIFO or a link)")
    p.add_argument("--format", "-f", default="openai", choices=EXPORT_FORMATS,
                   help="default: openai")
    p.add_argument("--kind", choices=("chat", "preference", "text"), help="export one kind only")
    p.add_argument("--split", help="export one split only (train, val or test; set by the "
                   "curation step `split`)")
    p.add_argument("--skip-unsupported", action="store_true",
                   help="leave out (and count) examples the format cannot hold")
    p.add_argument("--partition-by", choices=("split", "kind", "none"),
                   help="a Parquet dataset's Hive partitions (default: split when the version "
                   "has splits, else none)")
    p.add_argument("--rows-per-file", type=int, default=1_000_000, metavar="N",
                   help="a Parquet dataset's most rows per file (default 1,000,000)")

    add("verify", "read every block, re-hash every example and check every version's members "
        "and lineage",
        cmd_verify)

    p = add("runs", "the writing commands run on this store", views.cmd_runs)
    p.add_argument("--limit", type=int, default=20, help="most recent N (default 20; 0: all)")

    p = add("rejects", "records an ingest with --on-error skip did not accept", views.cmd_rejects)
    p.add_argument("--run", type=int, help="the ingest's run id (default: the latest with rejects)")
    p.add_argument("--limit", type=int, default=50, help="rows listed (default 50; 0: all)")


def cmd_init(args) -> int:
    from gristmill.output import summary
    from gristmill.store.runs import writing
    from gristmill.store.schema import LATEST

    store = views.open_store(args)
    with writing(store, "init", {}):
        pass
    summary(args, f"store {store.path} ready (schema {LATEST})")
    return 0


def cmd_ingest(args) -> int:
    from gristmill.errors import UsageError
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.ingest import ingest

    tags = {}
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag takes KEY=VALUE, not {tag!r}")
        tags[key] = value
    result = ingest(views.open_store(args), args.paths, args.dataset, args.format, args.on_error,
                    args.max_record_bytes, tags, progress=progress(args))
    if args.json:
        emit_json(vars(result))
    summary(args, result.summary())
    return 0


def cmd_export(args) -> int:
    from gristmill.errors import UsageError
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.export import export, export_dataset
    from gristmill.store.versions import resolve

    to_stdout = args.output == "-"
    if to_stdout and args.json:
        raise UsageError("`-o -` writes the examples to standard output, where --json would "
                         "write too: leave one out")
    dataset = args.format == "parquet" and not to_stdout and (
        "://" in args.output or not args.output.endswith(".parquet"))
    if not dataset and (args.partition_by or args.rows_per_file != 1_000_000):
        raise UsageError("--partition-by and --rows-per-file go with a Parquet dataset "
                         "(--format parquet to a folder or URI)")
    if "://" in args.output and not dataset:
        raise UsageError("only --format parquet writes to a URI")
    store = views.open_store(args)
    with store.read() as con:
        version = resolve(con, args.ref)
        if dataset:
            result = export_dataset(con, version, args.output, args.kind, args.split,
                                    args.partition_by, args.rows_per_file)
        else:
            result = export(con, version, Path(args.output), args.format, args.kind,
                            args.skip_unsupported, progress=progress(args) and not to_stdout,
                            split=args.split, store=store.path, force=args.force)
    if args.json:
        emit_json({"ref": version.ref, "path": str(result.path), "written": result.written,
                   "skipped": result.skipped, "format": args.format, "split": args.split})
    summary(args, result.summary(version.ref, args.format), to_stderr=to_stdout)
    return 0


def cmd_verify(args) -> int:
    from gristmill.output import echo, emit_json, progress, summary
    from gristmill.store.verify import failure, verify

    store = views.open_store(args)
    with store.read() as con:
        bar = None
        if progress(args):
            from tqdm import tqdm

            (total,) = con.execute("SELECT count(*) FROM examples").fetchone()
            bar = tqdm(total=total, desc="verify", unit=" examples", leave=False)
        checked, problems = verify(con, on_batch=bar.update if bar else None)
        if bar:
            bar.close()
    if args.json:
        emit_json({"examples": checked, "problems": problems})
    else:
        for p in problems:
            echo(p)
    if problems:
        raise failure(store.path, checked, problems)
    summary(args, f"verified {checked:,} examples and every version: no problems")
    return 0
