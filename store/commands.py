"""Commands over the store: init, ingest, ls, log, show, diff, removed, export, verify, runs,
rejects. Each parses, calls the library and prints; nothing heavy is imported until it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("auto", "openai", "sharegpt", "alpaca", "preference", "text", "prompt-completion",
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

    p = add("ls", "list datasets and their latest versions", cmd_ls)

    p = add("log", "the versions that led to REF, newest first", cmd_log)
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")

    p = add("show", "what a version holds: kinds, turns, lengths, sources, duplicates", cmd_show)
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")

    p = add("diff", "examples added, removed (with reasons) and transformed between versions",
            cmd_diff)
    p.add_argument("a", metavar="REF_A", help="the version to compare from")
    p.add_argument("b", metavar="REF_B", help="the version to compare to")
    p.add_argument("--limit", type=int, default=10, help="ids listed per category (default 10)")

    p = add("removed", "examples removed on the way to REF, with reasons and evidence",
            cmd_removed)
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")
    p.add_argument("--step", help="only removals by this step")
    p.add_argument("--reason", help="only removals with this reason code")
    p.add_argument("--limit", type=int, default=50, help="rows listed (default 50; 0: all)")

    p = add("export", "write a version in a format trainers read", cmd_export,
            "Write REF as JSONL (openai: the chat format TRL, Axolotl and the OpenAI fine-tuning "
            "API read; sharegpt; alpaca; preference; text; gristmill), Parquet, or a "
            "datasets.save_to_disk folder (hf). A file ending .gz is compressed.")
    p.add_argument("ref", help="NAME, NAME@N or NAME@latest")
    p.add_argument("-o", "--output", type=Path, required=True, help="the file (or folder) to write")
    p.add_argument("--format", "-f", default="openai", choices=EXPORT_FORMATS,
                   help="default: openai")
    p.add_argument("--kind", choices=("chat", "preference", "text"), help="export one kind only")
    p.add_argument("--skip-unsupported", action="store_true",
                   help="leave out (and count) examples the format cannot hold")

    add("verify", "re-hash every example and check every version's members and lineage",
        cmd_verify)

    p = add("runs", "the writing commands run on this store", cmd_runs)
    p.add_argument("--limit", type=int, default=20, help="most recent N (default 20; 0: all)")

    p = add("rejects", "records an ingest with --on-error skip did not accept", cmd_rejects)
    p.add_argument("--run", type=int, help="the ingest's run id (default: the latest with rejects)")
    p.add_argument("--limit", type=int, default=50, help="rows listed (default 50; 0: all)")


def _store(args):
    from gristmill.settings import store_path
    from gristmill.store.db import Store

    return Store(store_path(args.store))


def cmd_init(args) -> int:
    from gristmill.output import summary
    from gristmill.store.runs import writing
    from gristmill.store.schema import LATEST

    store = _store(args)
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
    result = ingest(_store(args), args.paths, args.dataset, args.format, args.on_error,
                    args.max_record_bytes, tags, progress=progress(args))
    if args.json:
        emit_json(vars(result))
    summary(args, result.summary())
    return 0


def cmd_ls(args) -> int:
    from gristmill.output import emit_json, summary, table

    with _store(args).read() as con:
        rows = con.execute(
            "SELECT dataset, max(number), arg_max(n_examples, number), arg_max(step, number), "
            "max(created_at) FROM versions GROUP BY dataset ORDER BY dataset").fetchall()
    data = [{"dataset": d, "latest": f"{d}@{n}", "examples": e, "last_step": s,
             "updated": t.isoformat(timespec="seconds")} for d, n, e, s, t in rows]
    if args.json:
        emit_json(data)
    elif data:
        print(table(["DATASET", "LATEST", "EXAMPLES", "LAST STEP", "UPDATED"],
                    [[r["dataset"], r["latest"], f"{r['examples']:,}", r["last_step"],
                      r["updated"]] for r in data]))
    summary(args, f"{len(data)} dataset(s)" + ("" if data else
                                               "; add one with `gristmill ingest FILE -d NAME`"))
    return 0


def cmd_log(args) -> int:
    from gristmill.output import emit_json, summary, table
    from gristmill.store.inspect import lineage
    from gristmill.store.versions import resolve

    with _store(args).read() as con:
        chain = lineage(con, resolve(con, args.ref))
    data = [{"ref": v.ref, "step": v.step, "examples": v.n_examples, "added": v.n_added,
             "removed": v.n_removed, "transformed": v.n_transformed,
             "config_hash": v.config_hash, "code_version": v.code_version, "run": v.run_id,
             "created_at": v.created_at.isoformat(timespec="seconds"), "config": v.config,
             "stats": v.stats} for v in chain]
    if args.json:
        emit_json(data)
    else:
        print(table(["VERSION", "STEP", "EXAMPLES", "+", "-", "~", "CONFIG", "RUN", "CREATED"],
                    [[d["ref"], d["step"], f"{d['examples']:,}", d["added"], d["removed"],
                      d["transformed"], d["config_hash"][:12], d["run"], d["created_at"]]
                     for d in data]))
    summary(args, f"{len(chain)} version(s) in the lineage of {chain[0].ref}")
    return 0


def cmd_show(args) -> int:
    from gristmill.output import emit_json, summary
    from gristmill.store.inspect import describe
    from gristmill.store.versions import resolve

    with _store(args).read() as con:
        d = describe(con, resolve(con, args.ref))
    if args.json:
        emit_json(d)
    else:
        print(f"{d['ref']}  ({d['step']}, {d['created_at']})")
        for kind, k in d["kinds"].items():
            c = k["chars"]
            print(f"  {kind:<11}{k['examples']:>9,} examples   single-turn {k['single_turn']:,}, "
                  f"multi-turn {k['multi_turn']:,} (max {k['max_turns']} turns), "
                  f"system prompt {k['with_system_prompt']:.0%}")
            print(f"  {'':<11}characters p50 {c['p50']:,}  p95 {c['p95']:,}  max {c['max']:,}")
        print("  sources:")
        for s in d["sources"]:
            print(f"    {s['source']}: {s['examples']:,} examples from {s['records']:,} records")
    summary(args, f"{d['ref']}: {d['examples']:,} examples, "
            f"{d['duplicate_records']:,} duplicate records folded into them")
    return 0


def cmd_diff(args) -> int:
    from gristmill.output import emit_json, summary
    from gristmill.store.inspect import diff
    from gristmill.store.versions import resolve

    with _store(args).read() as con:
        d = diff(con, resolve(con, args.a), resolve(con, args.b), args.limit)
    if args.json:
        emit_json(d)
    else:
        for why, n in d["removed_by_reason"].items():
            print(f"removed {n:>8,}  {why}")
        for i in d["added_ids"]:
            print(f"+ {i}")
        for r in d["removed_ids"]:
            print(f"- {r['id']}  {r['reason']}")
        for t in d["transformed_ids"]:
            print(f"~ {t['from'][:16]} -> {t['to'][:16]}  {t['step']}")
    summary(args, f"{d['from']} -> {d['to']}: +{d['added']:,} added, -{d['removed']:,} removed, "
            f"~{d['transformed']:,} transformed")
    return 0


def cmd_removed(args) -> int:
    from gristmill.output import emit_json, summary, table
    from gristmill.store.inspect import removed
    from gristmill.store.versions import resolve

    with _store(args).read() as con:
        version = resolve(con, args.ref)
        rows, counts = removed(con, version, args.step, args.reason, args.limit or None)
    if args.json:
        emit_json({"ref": version.ref, "counts": counts, "removed": rows})
    elif rows:
        print(table(["VERSION", "STEP", "REASON", "ID", "MESSAGE"],
                    [[r["version"], r["step"], r["reason"], r["id"][:16], r["message"]]
                     for r in rows]))
    total = sum(counts.values())
    by = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    summary(args, f"{total:,} example(s) removed on the way to {version.ref}"
            + (f": {by}" if by else ""))
    return 0


def cmd_export(args) -> int:
    from gristmill.output import emit_json, summary
    from gristmill.store.export import export
    from gristmill.store.versions import resolve

    with _store(args).read() as con:
        version = resolve(con, args.ref)
        result = export(con, version, args.output, args.format, args.kind, args.skip_unsupported)
    if args.json:
        emit_json({"ref": version.ref, "path": str(result.path), "written": result.written,
                   "skipped": result.skipped, "format": args.format})
    summary(args, result.summary(version.ref, args.format))
    return 0


def cmd_verify(args) -> int:
    from gristmill.errors import VerifyFailed
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.verify import verify

    with _store(args).read() as con:
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
            print(p)
    if problems:
        raise VerifyFailed(f"{len(problems)} problem(s) in {checked:,} examples and their versions")
    summary(args, f"verified {checked:,} examples and every version: no problems")
    return 0


def cmd_runs(args) -> int:
    from gristmill.output import emit_json, summary, table

    with _store(args).read() as con:
        rows = con.execute(
            "SELECT run_id, command, status, started_at, ended_at, stats, error, pid, "
            "code_version, config FROM runs ORDER BY run_id DESC LIMIT ?",
            [args.limit or None]).fetchall()
    keys = ("run", "command", "status", "started_at", "ended_at", "stats", "error", "pid",
            "code_version", "config")
    data = [dict(zip(keys, r, strict=True)) for r in rows]
    if args.json:
        emit_json(data)
    else:
        print(table(["RUN", "STATUS", "STARTED", "SECONDS", "COMMAND", "STATS / ERROR"],
                    [[d["run"], d["status"], d["started_at"].isoformat(timespec="seconds"),
                      f"{(d['ended_at'] - d['started_at']).total_seconds():.1f}"
                      if d["ended_at"] else "", d["command"][:60],
                      (d["error"] or d["stats"] or "")[:80]] for d in data]))
    summary(args, f"{len(data)} run(s) shown")
    return 0


def cmd_rejects(args) -> int:
    from gristmill.output import emit_json, summary, table

    with _store(args).read() as con:
        run = args.run or (con.execute("SELECT max(run_id) FROM rejects").fetchone()[0])
        rows = con.execute(
            "SELECT source, position, reason FROM rejects WHERE run_id = ? "
            "ORDER BY source, position LIMIT ?", [run, args.limit or None]).fetchall()
        (total,) = con.execute("SELECT count(*) FROM rejects WHERE run_id = ?", [run]).fetchone()
    data = [{"source": s, "position": p, "reason": r} for s, p, r in rows]
    if args.json:
        emit_json({"run": run, "total": total, "rejects": data})
    elif data:
        print(table(["WHERE", "WHAT IS WRONG"],
                    [[f"{d['source']}:{d['position']}" if d["position"] else d["source"],
                      d["reason"]] for d in data]))
    summary(args, f"{total:,} reject(s) in run {run}" if run else "no rejects stored")
    return 0
