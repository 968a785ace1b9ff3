"""`gristmill models merge`: a registered model as a merged folder plus its adapter."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(kinds: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    summary = "write the base with the adapter merged in, and the adapter beside it"
    p = kinds.add_parser("merge", parents=[common], help=summary, description=summary + ": DIR "
                         "holds a full-precision model with its tokenizer that transformers or "
                         "vLLM load as is; DIR/lora holds the adapter for PEFT or vLLM's "
                         "--enable-lora.")
    p.add_argument("model", help="the model's name (gristmill models ls)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="a new folder for the merged model (the adapter goes to DIR/lora)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="weights of the merged model (default: float32)")
    p.set_defaults(handler=cmd_merge, command="models merge")


def cmd_merge(args) -> int:
    from gristmill.output import emit_json, summary
    from gristmill.store.views import open_store
    from gristmill.train import registry
    from gristmill.train.merge import merge

    with open_store(args).read() as con:
        row = registry.get(con, args.model)
    merged, lora = merge(row, args.output, args.dtype)
    if args.json:
        emit_json({"model": row["name"], "merged": str(merged), "adapter": str(lora)})
    summary(args, f"merged {row['name']} → {merged} (adapter: {lora})")
    return 0
