"""`gristmill train sft|dpo`: parse, load the config, run, print one line."""

from __future__ import annotations

import argparse
from pathlib import Path

KINDS = {
    "sft": "supervised fine-tuning (LoRA; QLoRA on CUDA) on a version's chats",
    "dpo": "direct preference optimization on a version's preference pairs",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    train = sub.add_parser("train", help="fine-tune a base model on a version (SFT, DPO)",
                           description="Fine-tune a local base model on a dataset version and "
                           "register the result (`gristmill models ls`).")
    kinds = train.add_subparsers(dest="kind", metavar="KIND", required=True,
                                 help="sft or dpo")
    for kind, summary in KINDS.items():
        p = kinds.add_parser(kind, parents=[common], help=summary, description=summary + ". "
                             "Trains on the version's train split and evaluates on its val split "
                             "(a version without splits is split by a seeded hash, recorded). "
                             "Examples that do not fit max_length are dropped with their reason "
                             "or fail the run; none is truncated.")
        p.add_argument("ref", help="the version: NAME, NAME@N or NAME@latest")
        p.add_argument("--config", type=Path, metavar="FILE", help="settings (YAML)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       dest="overrides", help="override one setting (repeatable)")
        p.add_argument("--base", help="base model: a model folder, a .gguf file or smollm2 "
                       "(default: smollm2)")
        p.add_argument("--resume", metavar="MODEL",
                       help="continue a stopped or interrupted run from its last checkpoint")
        many = p.add_argument_group("past one device")
        many.add_argument("--launcher", choices=("torchrun", "accelerate"),
                          help="train in processes this launcher starts (DDP or FSDP), "
                          "one per GPU (gloo between CPU processes without one)")
        many.add_argument("--nproc", type=int, default=1, metavar="N",
                          help="processes on this node (default 1)")
        many.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp",
                          help="ddp: a whole model per process (default); fsdp: sharded")
        many.add_argument("--nnodes", type=int, default=1, metavar="N",
                          help="machines in the run (default 1); this one is node 0, the others "
                          "run `torchrun ... -m gristmill.train.launch JOB` (see the README)")
        many.add_argument("--master", default="127.0.0.1:29500", metavar="HOST:PORT",
                          help="node 0's rendezvous address (default 127.0.0.1:29500)")
        p.set_defaults(handler=cmd_train, command=f"train {kind}")


def cmd_train(args) -> int:
    from gristmill.output import emit_json, progress, summary
    from gristmill.settings import load_config, store_path
    from gristmill.train.run import CONFIGS, train

    config = load_config(CONFIGS[args.kind], args.config, args.overrides, base=args.base)
    launch = None
    if args.launcher:
        from gristmill.train.launch import Launch

        launch = Launch(args.launcher, args.nproc, args.strategy, args.nnodes, master=args.master)
    elif args.nproc != 1 or args.nnodes != 1:
        from gristmill.errors import UsageError

        raise UsageError("--nproc and --nnodes go with --launcher torchrun|accelerate")
    outcome = train(store_path(args.store), args.ref, args.kind, config,
                    quiet=not progress(args), resume=args.resume,
                    say=None if args.json or args.quiet else print, launch=launch)
    if args.json:
        emit_json({"model": outcome.name, "status": outcome.status,
                   "adapter": str(outcome.adapter) if outcome.adapter else None,
                   "metrics": outcome.metrics})
    summary(args, outcome.line())
    return 0 if outcome.status == "ok" else 1
