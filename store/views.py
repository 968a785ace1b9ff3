"""The commands that only look: ls, log, show, diff, removed, runs, rejects. Each opens the
store read-only, calls the library and prints a table or JSON and one summary line, names and
messages with their control characters escaped (`gristmill.output`)."""

from __future__ import annotations


def open_store(args):
    """The store the command names (--store, $GRISTMILL_STORE, or the default)."""
    from gristmill.settings import store_path
    from gristmill.store.db import Store

    return Store(store_path(args.store))


def cmd_ls(args) -> int:
    from gristmill.output import emit_json, summary, table

    with open_store(args).read() as con:
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

    with open_store(args).read() as con:
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
    from gristmill.output import echo, emit_json, summary
    from gristmill.store.inspect import describe
    from gristmill.store.versions import resolve

    with open_store(args).read() as con:
        d = describe(con, resolve(con, args.ref))
    if args.json:
        emit_json(d)
    else:
        echo(f"{d['ref']}  ({d['step']}, {d['created_at']})")
        for kind, k in d["kinds"].items():
            c = k["chars"]
            echo(f"  {kind:<11}{k['examples']:>9,} examples   single-turn {k['single_turn']:,}, "
                 f"multi-turn {k['multi_turn']:,} (max {k['max_turns']} turns), "
                 f"system prompt {k['with_system_prompt']:.0%}")
            echo(f"  {'':<11}characters p50 {c['p50']:,}  p95 {c['p95']:,}  max {c['max']:,}")
        if d["splits"]:
            echo("  splits:   " + ", ".join(f"{k} {n:,}" for k, n in d["splits"].items()))
        echo("  sources:")
        for s in d["sources"]:
            echo(f"    {s['source']}: {s['examples']:,} examples from {s['records']:,} records")
    summary(args, f"{d['ref']}: {d['examples']:,} examples, "
            f"{d['duplicate_records']:,} duplicate records folded into them")
    return 0


def cmd_diff(args) -> int:
    from gristmill.output import echo, emit_json, summary
    from gristmill.store.inspect import diff
    from gristmill.store.versions import resolve

    with open_store(args).read() as con:
        d = diff(con, resolve(con, args.a), resolve(con, args.b), args.limit)
    if args.json:
        emit_json(d)
    else:
        for why, n in d["removed_by_reason"].items():
            echo(f"removed {n:>8,}  {why}")
        for i in d["added_ids"]:
            echo(f"+ {i}")
        for r in d["removed_ids"]:
            echo(f"- {r['id']}  {r['reason']}")
        for t in d["transformed_ids"]:
            echo(f"~ {t['from'][:16]} -> {t['to'][:16]}  {t['step']}")
    summary(args, f"{d['from']} -> {d['to']}: +{d['added']:,} added, -{d['removed']:,} removed, "
            f"~{d['transformed']:,} transformed")
    return 0


def cmd_removed(args) -> int:
    from gristmill.output import emit_json, summary, table
    from gristmill.store.inspect import removed
    from gristmill.store.versions import resolve

    with open_store(args).read() as con:
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


def cmd_runs(args) -> int:
    from gristmill.output import emit_json, summary, table

    with open_store(args).read() as con:
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

    with open_store(args).read() as con:
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
