"""Calls/s of the call layer against the embedded llama.cpp server at several concurrencies, and
a cached re-run.

    .venv/bin/python bench/llm_calls.py                   # 32 calls at concurrency 1, 4, 16
    .venv/bin/python bench/llm_calls.py --n 16 --levels 1 4

Each level asks `--n` distinct requests (`--max-tokens` each, temperature 0.7, a seed per request)
through `Calls` into a fresh store, so every call reaches the server; its calls/s is compared with
concurrency 1 (the ratio shows where the server saturates: it has `--slots` slots on this
machine's cores). Baseline: the first level's requests sent again one by one with the plain
`openai` client (same seeds, same answers), measured in the same run: what the layer costs. Then
the first level's requests are asked again in a new run of the same store: all of them are
answered from it (target: >= 50x faster than the first).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from gristmill.store.db import Store
from gristmill.store.runs import writing
from gristmill.synth.calls import Calls, Request
from gristmill.synth.server import LocalServer


def requests(n: int, tag: str, max_tokens: int) -> list[Request]:
    return [Request([{"role": "user", "content": f"Tell me one short fact about the number {i} ({tag})."}],
                    # cache_prompt off (llama.cpp): no run profits from the prompts an earlier one sent
                    {"max_tokens": max_tokens, "temperature": 0.7, "seed": i, "cache_prompt": False})
            for i in range(n)]


def through_layer(store: Store, endpoint, reqs: list[Request]) -> tuple[float, int, int]:
    """Seconds, calls sent and tokens for one run of `reqs`, committed like a generator's."""
    start = time.perf_counter()
    with writing(store, "bench llm_calls", {}) as run:
        calls = Calls(store, run.id, endpoint)
        replies = calls.ask(reqs)
        with run.commit() as con:
            calls.flush(con)
    assert all(r.status == "ok" for r in replies), [r.error for r in replies if r.status != "ok"]
    return time.perf_counter() - start, calls.stats.sent, calls.stats.tokens


def plain_client(endpoint, reqs: list[Request]) -> float:
    from openai import OpenAI

    client = OpenAI(base_url=endpoint.base_url, api_key="none", max_retries=0, timeout=600)
    start = time.perf_counter()
    for r in reqs:
        params = dict(r.params)
        extra = {"cache_prompt": params.pop("cache_prompt")}
        client.chat.completions.create(model=endpoint.model, messages=r.messages, extra_body=extra, **params)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=32, help="requests per level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--slots", type=int, default=16, help="server slots (requests served at once)")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    server = LocalServer(slots=args.slots, context=512 * args.slots)
    print(f"server: {server.endpoint.model}, {args.slots} slots; {args.n} requests of up to "
          f"{args.max_tokens} tokens per level")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'concurrency':>11} {'seconds':>8} {'calls/s':>8} {'tokens/s':>9} {'vs c=1':>7}")
        first_rate = None
        for level in args.levels:
            store = Store(Path(tmp) / f"c{level}.duckdb")
            endpoint = server.endpoint.model_copy(update={"concurrency": level})
            asked = requests(args.n, f"c{level}", args.max_tokens)
            seconds, sent, tokens = through_layer(store, endpoint, asked)
            rate = sent / seconds
            first_rate = first_rate or rate
            print(f"{level:>11} {seconds:>8.2f} {rate:>8.2f} {tokens / seconds:>9.1f} "
                  f"{rate / first_rate:>7.2f}")
            if level == args.levels[0]:
                layer_one = seconds
                cached_store, cached_endpoint, first_seconds = store, endpoint, seconds
        # the baseline asks the first level's requests (same seeds, so the same answers) one by one
        baseline = plain_client(server.endpoint, requests(args.n, f"c{args.levels[0]}", args.max_tokens))
        print(f"baseline, the plain openai client one by one: {baseline:.2f} s, "
              f"{args.n / baseline:.2f} calls/s; the layer at concurrency {args.levels[0]} took "
              f"{layer_one / baseline:.2f}x its time")
        cached, sent, _ = through_layer(cached_store, cached_endpoint,
                                        requests(args.n, f"c{args.levels[0]}", args.max_tokens))
        assert sent == 0, "the re-run should be answered from the store"
        print(f"cached re-run: {cached:.3f} s for {args.n} calls, {first_seconds / cached:.0f}x faster "
              "than the first (target >= 50x)")
    server.stop()


if __name__ == "__main__":
    main()
