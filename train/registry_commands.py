"""`gristmill models …` (list, show, promote, roll back) and `gristmill lineage`: the registry
from the command line. Only the registry and the store load here; no model library does."""

from __future__ import annotations

import argparse
import importlib.util

from gristmill.output import echo

_STAGES_HELP = ("Stages belong to a line (by default the training dataset's name): candidate → "
                "staging → production, and archived. A line has one production model; promoting "
                "another archives it, and rollback restores the one before. Only runs that "
                "finished ok can be promoted.")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    models = sub.add_parser("models", help="trained models: list, show, promote, roll back",
                            description="The model registry: every training run, the data it "
                            "saw, its loss curves and its stage. " + _STAGES_HELP)
    kinds = models.add_subparsers(dest="action", metavar="ACTION", required=True,
                                  help="what to do (each: gristmill models ACTION --help)")

    def add(name: str, summary: str, run, description: str = "") -> argparse.ArgumentParser:
        p = kinds.add_parser(name, parents=[common], help=summary,
                             description=description or summary + ".")
        p.set_defaults(handler=run, command=f"models {name}")
        return p

    p = add("ls", "list models: kind, stage, status, data, final eval loss", cmd_ls)
    p.add_argument("--stage", choices=("candidate", "staging", "production", "archived"),
                   help="only models in this stage")

    p = add("show", "everything recorded about a model", cmd_show,
            "Show a model: its base, the dataset versions and how many examples it trained on, "
            "validated on and dropped (with reasons), its loss curves (first, last, best), "
            "metrics, config, code and package versions, hardware and stage history.")
    p.add_argument("model", metavar="MODEL", help="the model's name, e.g. support-sft-1")

    p = add("promote", "move a model to its next stage, or to --to STAGE", cmd_promote,
            "Move MODEL one stage on (candidate → staging → production), or to --to STAGE. "
            + _STAGES_HELP)
    p.add_argument("model", metavar="MODEL", help="the model's name")
    p.add_argument("--to", choices=("staging", "production", "archived"),
                   help="the stage to enter (default: the next one)")
    p.add_argument("--reason", metavar="TEXT", help="why, kept in the stage history")

    p = add("rollback", "restore a line's previous production model", cmd_rollback,
            "Archive the production model of LINE (or of MODEL's line) and restore the model "
            "that was production before it. Like an undo, running it again swaps them back.")
    p.add_argument("target", metavar="LINE_OR_MODEL", help="a line, or any model of the line")
    p.add_argument("--reason", metavar="TEXT", help="why, kept in the stage history")
    _add_merge(kinds, common)

    p = sub.add_parser("lineage", parents=[common], help="the data behind a model, or the models "
                       "behind an example",
                       description="With MODEL: the dataset versions it was trained on, with "
                       "counts of train, val and dropped examples, and the same for the model it "
                       "continued, back to the base. With --example ID: every model that trained "
                       "or validated on that example (a full id or a unique prefix of 8+ "
                       "characters). With --log KEY: a production log line (its request id, or "
                       "PATH:LINE) and the examples, versions and models made of it.")
    p.add_argument("model", metavar="MODEL", nargs="?", help="the model's name")
    p.add_argument("--example", metavar="ID", help="an example id or a unique prefix of it")
    p.add_argument("--log", metavar="KEY", help="a log line's request id, or PATH:LINE")
    p.set_defaults(handler=cmd_lineage)


def _add_merge(kinds: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`models merge` lives in its own module; wire it when it is there."""
    if importlib.util.find_spec("gristmill.train.merge_command") is not None:
        from gristmill.train import merge_command

        merge_command.register(kinds, common)


def cmd_ls(args) -> int:
    from gristmill.output import emit_json, summary, table
    from gristmill.store.views import open_store
    from gristmill.train.registry import listing

    with open_store(args).read() as con:
        models = listing(con, args.stage)
    if args.json:
        emit_json(models)
    elif models:
        print(table(["NAME", "KIND", "LINE", "STAGE", "STATUS", "DATA", "EVAL LOSS", "CREATED"],
                    [[m["name"], m["kind"], m["line"], m["stage"], m["status"],
                      ", ".join(v["ref"] for v in m["versions"]), _loss(final_eval_loss(m)),
                      m["created_at"].isoformat(timespec="seconds")] for m in models]))
    where = f" in {args.stage}" if args.stage else ""
    summary(args, f"{len(models)} model(s){where}" + ("" if models or args.stage else
                                                      "; train one with `gristmill train sft REF`"))
    return 0


def cmd_show(args) -> int:
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store
    from gristmill.train.registry import get, history, lineage

    with open_store(args).read() as con:
        m = get(con, args.model)
        stages = history(con, args.model)
        seen = lineage(con, args.model)
    if args.json:
        emit_json({**m, "examples": seen["examples"], "dropped_reasons": seen["dropped_reasons"],
                   "stages": stages})
    else:
        _print_model(m, seen, stages)
    summary(args, f"{m['name']}: {m['kind']}, {m['stage']}, {m['status']}")
    return 0


def cmd_promote(args) -> int:
    from gristmill.output import emit_json, summary
    from gristmill.store.runs import writing
    from gristmill.store.views import open_store
    from gristmill.train.stages import promote

    config = {"model": args.model, "to": args.to, "reason": args.reason}
    with writing(open_store(args), "models promote", config) as run, run.commit() as con:
        done = promote(con, args.model, args.to, args.reason)
    if args.json:
        emit_json(done)
    replaced = f"; {', '.join(done['archived'])} archived" if done["archived"] else ""
    summary(args, f"{done['model']}: {done['from']} -> {done['to']} (line {done['line']}){replaced}")
    return 0


def cmd_rollback(args) -> int:
    from gristmill.output import emit_json, summary
    from gristmill.store.runs import writing
    from gristmill.store.views import open_store
    from gristmill.train.stages import rollback

    config = {"target": args.target, "reason": args.reason}
    with writing(open_store(args), "models rollback", config) as run, run.commit() as con:
        done = rollback(con, args.target, args.reason)
    if args.json:
        emit_json(done)
    summary(args, f"line {done['line']}: {done['to']} is production again; {done['from']} archived")
    return 0


def cmd_lineage(args) -> int:
    from gristmill.errors import UsageError
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store
    from gristmill.train.registry import lineage

    if sum(x is not None for x in (args.model, args.example, args.log)) != 1:
        raise UsageError("name a MODEL, or give --example ID or --log KEY (one of the three)")
    if args.example:
        return _example_lineage(args)
    if args.log:
        return _log_lineage(args)
    with open_store(args).read() as con:
        tree = lineage(con, args.model)
    if args.json:
        emit_json(tree)
    else:
        _print_lineage(tree, "")
    depth, node = 0, tree
    while node.get("parent"):
        depth, node = depth + 1, node["parent"]
    summary(args, f"{tree['name']}: {len(tree['versions'])} dataset version(s), "
            f"{depth} parent model(s)")
    return 0


def _example_lineage(args) -> int:
    from gristmill.output import emit_json, summary, table
    from gristmill.store.views import open_store
    from gristmill.train.registry import models_for_example

    with open_store(args).read() as con:
        found = models_for_example(con, args.example)
    if args.json:
        emit_json(found)
    elif found:
        print(table(["MODEL", "KIND", "LINE", "STAGE", "STATUS", "SPLIT", "CREATED"],
                    [[f["model"], f["kind"], f["line"], f["stage"], f["status"], f["split"],
                      f["created_at"].isoformat(timespec="seconds")] for f in found]))
    summary(args, f"{len(found)} model(s) trained or validated on example {args.example}")
    return 0


def _log_lineage(args) -> int:
    from gristmill.flywheel.lineage import log_lineage
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store

    with open_store(args).read() as con:
        found = log_lineage(con, args.log)
    if args.json:
        emit_json(found)
    else:
        echo(f"log line {found['line_key']} ({found['path']}:{found['line']}, "
              f"{found['dataset']}, logged {found['logged_at'] or 'at an unknown time'})")
        for f in found["feedback"]:
            echo("  feedback: " + ", ".join(f"{k} {v}" for k, v in f.items()))
        for e in found["examples"]:
            gone = f"  FORGOTTEN: {e['forgotten']}" if e["forgotten"] else ""
            echo(f"  {e['kind']} {e['id'][:16]} ({e['made_by']}){gone}")
            echo(f"    versions: {', '.join(e['versions']) or 'none'}")
            models = ", ".join(f"{m['model']} ({m['split']})" for m in e["models"])
            echo(f"    models: {models or 'none'}")
    n_models = len({m["model"] for e in found["examples"] for m in e["models"]})
    summary(args, f"log line {found['line_key']}: {len(found['examples'])} example(s), "
            f"{n_models} model(s)")
    return 0


def final_eval_loss(m: dict) -> float | None:
    """The last point of the eval curve, else an `eval_loss` metric."""
    points = (m.get("curves") or {}).get("eval") or []
    if points:
        return points[-1][1]
    return (m.get("metrics") or {}).get("eval_loss")


def curve_summary(points: list) -> str:
    if not points:
        return "-"
    best = min(points, key=lambda p: p[1])
    return (f"first {_loss(points[0][1])} @{points[0][0]}, last {_loss(points[-1][1])} "
            f"@{points[-1][0]}, best {_loss(best[1])} @{best[0]} ({len(points)} point"
            f"{'s' if len(points) > 1 else ''})")


def _print_model(m: dict, seen: dict, stages: list[dict]) -> None:
    import json

    def row(label: str, value) -> None:
        echo(f"  {label:<12}{value}")

    echo(f"{m['name']}  ({m['kind']}, line {m['line']})")
    row("stage", f"{m['stage']}  (status {m['status']})")
    row("parent", m["parent"] or "- (from the base model)")
    row("base", f"{m['base_path']}  ({m['base_source']}, {m['base_digest'][:16]})")
    for v in seen["versions"]:
        source = v.get("split_source")
        split = f", splits from {source}" if source and source != v["ref"] else ""
        row("data", f"{v['ref']}{split}: train {v['train']:,}, val {v['val']:,}, "
            f"dropped {v['dropped']:,}")
    if seen["dropped_reasons"]:
        row("dropped", ", ".join(f"{r} {n:,}" for r, n in seen["dropped_reasons"].items()))
    row("adapter", m["adapter_path"] or "-")
    row("output", m["output_dir"])
    curves = m["curves"] or {}
    row("train loss", curve_summary(curves.get("train") or []))
    row("eval loss", curve_summary(curves.get("eval") or []))
    if m["metrics"]:
        shown = {k: v for k, v in m["metrics"].items() if k != "tuning"}
        row("metrics", ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in shown.items()))
        if m["metrics"].get("tuning"):
            row("tuning", "; ".join(_trial(t) for t in m["metrics"]["tuning"]))
    row("config", json.dumps(m["config"], sort_keys=True))
    row("code", m["code_version"])
    row("packages", ", ".join(f"{k} {v}" for k, v in sorted((m["packages"] or {}).items())) or "-")
    row("hardware", json.dumps(m["hardware"], sort_keys=True))
    ended = m["ended_at"]
    if ended:
        took = (f"  ended {ended.isoformat(timespec='seconds')} "
                f"({(ended - m['created_at']).total_seconds():,.0f} s)")
    else:
        took = f"  (pid {m['pid']})"
    row("created", m["created_at"].isoformat(timespec="seconds") + took)
    if m["error"]:
        row("error", m["error"])
    echo("  stages:")
    for s in stages:
        came = f" (from {s['previous']})" if s["previous"] else ""
        echo(f"    {s['entered_at'].isoformat(timespec='seconds')}  {s['stage']}{came}"
              + (f": {s['reason']}" if s["reason"] else ""))


def _print_lineage(node: dict, indent: str) -> None:
    if node.get("missing"):
        echo(f"{indent}{node['name']}  (no longer in the registry)")
        return
    echo(f"{indent}{node['name']}  ({node['kind']}, {node['stage']}, {node['status']})")
    base = node["base"]
    echo(f"{indent}  base    {base['path']} ({base['digest'][:16]})")
    for v in node["versions"]:
        echo(f"{indent}  data    {v['ref']}: train {v['train']:,}, val {v['val']:,}, "
              f"dropped {v['dropped']:,}")
    if node["parent"]:
        echo(f"{indent}  continued from:")
        _print_lineage(node["parent"], indent + "    ")


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _trial(t: dict) -> str:
    what = f"batch {t['batch_size']}{' + checkpointing' if t['gradient_checkpointing'] else ''}"
    got = t["error"] or f"{t['tokens_per_s']:,.0f} tokens/s, {t['peak_gib']:.2f} GiB"
    return f"{what}: {got}{'' if t['fits'] else ' (over budget)'}"
