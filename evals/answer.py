"""Answering a suite's prompts, resumably: cached answers are read, the rest generated in chunks,
and each chunk's answers (and calls) are committed at the next checkpoint, so a killed run loses
at most the chunk in flight."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson

from gristmill.evals.candidates import Candidate, cached_outputs, output_key, output_row, write_outputs
from gristmill.store.db import Store
from gristmill.store.runs import Run
from gristmill.synth.calls import Calls, Request


class Checkpoints:
    """What the run has produced and not committed: answers and call-layer records."""

    def __init__(self, run: Run):
        self.run = run
        self.rows: list[tuple] = []
        self.layers: list[Calls] = []
        self.every = float(os.environ.get("GRISTMILL_CHECKPOINT_SECONDS", "2"))
        self._last = time.monotonic()

    def flush(self, con) -> None:
        rows, self.rows = self.rows, []
        write_outputs(con, rows)
        for layer in self.layers:
            layer.flush(con)

    def maybe(self, force: bool = False) -> None:
        if not self.rows and not any(layer.pending for layer in self.layers):
            return
        if force or time.monotonic() - self._last >= self.every:
            with self.run.commit(final=False) as con:
                self.flush(con)
            self._last = time.monotonic()


def answer(store: Store, who: Candidate, prompts: list[list[dict[str, Any]]],
           params: list[dict[str, Any]], checkpoints: Checkpoints, calls: Callable[[], Calls] | None,
           batch_size: int, bar: AbstractContextManager | None = None) -> list[str | None]:
    """Each prompt's answer, generated with its own parameters, from the cache or from `who`;
    None where generation failed."""
    keys = [output_key(who.identity, p, q) for p, q in zip(prompts, params, strict=True)]
    known = cached_outputs(store, keys)
    out: list[str | None] = [known[k][0] if k in known else None for k in keys]
    # prompts sharing parameters are generated together
    todo = sorted((i for i, k in enumerate(keys) if k not in known), key=lambda i: _dumps(params[i]))
    if bar is not None:
        bar.update(len(prompts) - len(todo))
    model = None
    if todo and who.kind != "endpoint":
        from gristmill.evals.generate import LocalModel

        model = LocalModel(who.base_folder, who.adapter)
    chunk = batch_size * 4 if model is not None else 32
    for part in _chunks(todo, params, chunk):
        if model is not None:
            got = model.generate([prompts[i] for i in part], params[part[0]], batch_size,
                                 done=bar.update if bar is not None else None)
            for i, (text, tokens) in zip(part, got, strict=True):
                out[i] = text
                checkpoints.rows.append(output_row(keys[i], who.identity, prompts[i], params[i],
                                                   text, None, tokens, None, checkpoints.run.id))
        else:
            layer = calls()
            replies = layer.ask([Request(prompts[i], _request_params(params[i])) for i in part])
            for i, reply in zip(part, replies, strict=True):
                out[i] = reply.content if reply.ok else None
                checkpoints.rows.append(output_row(
                    keys[i], who.identity, prompts[i], params[i], out[i], reply.error,
                    reply.tokens or None, reply.call_id, checkpoints.run.id))
            if bar is not None:
                bar.update(len(part))
        checkpoints.maybe()
    if model is not None:
        model.close()
    return out


def _chunks(todo: list[int], params: list[dict[str, Any]], size: int) -> list[list[int]]:
    """Runs of at most `size` prompts with the same parameters."""
    out: list[list[int]] = []
    for i in todo:
        if out and len(out[-1]) < size and params[out[-1][0]] == params[i]:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _request_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in ("max_tokens", "temperature", "top_p", "seed")}
