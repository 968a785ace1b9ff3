"""`gristmill synth …` (generators) and `gristmill serve` (the embedded llama.cpp server)."""

from __future__ import annotations

import argparse
from pathlib import Path

GENERATORS = {
    "self-instruct": "new instructions from seed tasks, filtered by ROUGE-L, then instances",
    "evol": "Evol-Instruct: rewrite prompts deeper (constraints, reasoning...) or broader, N rounds",
    "respond": "fill the assistant turn of each prompt from a teacher endpoint (distillation)",
    "pairs": "sample responses, judge them pairwise in both orders, keep clear winners as pairs",
}

_EPILOG = """The calls are recorded in the store's llm_calls table and answered from it when asked
again, so a killed run, run again, pays only for what is missing. With no --endpoint, the
embedded SmolLM2 server starts on a free loopback port for the run.

An endpoint file (YAML):
  base_url: https://api.openai.com/v1
  model: gpt-4o-mini
  api_key_env: OPENAI_API_KEY      # the variable's NAME; the key itself never goes in a file
  params: {temperature: 0.7}
  concurrency: 16"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    synth = sub.add_parser("synth", help="generate data with an LLM: self-instruct, evol, respond, pairs",
                           description="Generate synthetic examples into a new version.",
                           epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = synth.add_subparsers(dest="generator", metavar="GENERATOR", required=True,
                                 help="what to generate (each: gristmill synth GENERATOR --help)")
    for name, summary in GENERATORS.items():
        p = kinds.add_parser(name, parents=[common], help=summary, description=summary + ".",
                             epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("ref", help="the input version: NAME, NAME@N or NAME@latest"
                       + (" (seed tasks)" if name == "self-instruct" else ""))
        _options(p)
        p.set_defaults(handler=cmd_synth, command=f"synth {name}")

    p = sub.add_parser("serve", parents=[common], help="serve the embedded model (OpenAI API) until Ctrl-C",
                       description="Start the embedded llama.cpp server (SmolLM2-135M-Instruct unless "
                       "--model names another GGUF) for other tools. It speaks the OpenAI API at "
                       "the printed base URL.")
    p.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    p.add_argument("--model", type=Path, metavar="GGUF", help="a GGUF file (default: SmolLM2)")
    p.add_argument("--slots", type=int, default=4, help="requests served at once (default: 4)")
    p.add_argument("--context", type=int, default=8192, help="context tokens, shared by the slots")
    p.add_argument("--verbose", action="store_true", help="show the server's own log")
    p.set_defaults(handler=cmd_serve)


def _options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation")
    g.add_argument("--into", metavar="DATASET", help="the dataset to write (default: per generator)")
    g.add_argument("--config", type=Path, metavar="FILE", help="generator settings (YAML)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="one generator setting (repeatable)")
    g.add_argument("--template", action="append", default=[], metavar="NAME=FILE",
                   help="use FILE (Jinja2) instead of the shipped template NAME (repeatable)")
    g.add_argument("--against", action="append", default=[], metavar="REF",
                   help="an eval version the output is checked against before commit (repeatable)")
    g.add_argument("--seed", type=int, help="seed for every random choice (default: 0)")
    c = p.add_argument_group("calls")
    c.add_argument("--endpoint", type=Path, metavar="FILE",
                   help="an OpenAI-compatible endpoint (YAML); default: the embedded server")
    c.add_argument("--judge-endpoint", type=Path, metavar="FILE",
                   help="pairs: a separate endpoint for the judge (default: --endpoint)")
    c.add_argument("--concurrency", type=int, metavar="N", help="requests in flight")
    c.add_argument("--no-cache", action="store_true", help="ask again even when the store has the answer")
    c.add_argument("--max-requests", type=int, metavar="N", help="stop cleanly after N requests")
    c.add_argument("--max-total-tokens", type=int, metavar="N",
                   help="stop cleanly once the calls have used N tokens")


def cmd_synth(args) -> int:
    from gristmill.output import emit_json, progress, summary
    from gristmill.store.views import open_store
    from gristmill.synth import generators
    from gristmill.synth.calls import Budget
    from gristmill.synth.endpoint import load_endpoint
    from gristmill.synth.session import Options, session
    from gristmill.synth.templates import Templates, parse_overrides

    name = args.command.split()[1]
    spec = generators.SPECS[name]
    config = generators.load(name, args.config, args.overrides, into=args.into, seed=args.seed)
    over = {"concurrency": args.concurrency} if args.concurrency else {}
    endpoint = load_endpoint(args.endpoint, over) if args.endpoint else None
    judge = load_endpoint(args.judge_endpoint, over) if args.judge_endpoint else None
    options = Options(
        endpoint=endpoint, judge=judge, cache=not args.no_cache,
        budget=Budget(args.max_requests, args.max_total_tokens), against=tuple(args.against),
        templates=Templates(parse_overrides(args.template)), progress=progress(args),
        seed=config.seed, concurrency=args.concurrency)
    store = open_store(args)
    with session(store, args.command, config.model_dump(mode="json"), options) as s:
        outcome = spec.run(s, args.ref, config)
    if args.json:
        emit_json({"version": outcome.version.ref if outcome.version else None,
                   "produced": outcome.produced, "leaked": outcome.leaked, "stats": outcome.stats})
    summary(args, outcome.line(name))
    return 0


def cmd_serve(args) -> int:
    import signal
    import time

    from gristmill.synth.server import local_server

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # a service manager stops it like Ctrl-C
    with local_server(gguf=args.model, slots=args.slots, context=args.context, port=args.port,
                      verbose=args.verbose) as server:
        print(f"serving {server.endpoint.model} at {server.endpoint.base_url} "
              "(OpenAI API; any API key; Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    print("stopped", flush=True)
    return 0
