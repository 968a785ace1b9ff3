"""The one way Gristmill calls an LLM: recorded, cached, concurrent and patient.

Every call is a row of `llm_calls` (request, response, usage, latency, status, retries), written
in the caller's transaction together with what the call produced. Identical requests — the model
and the whole request body, parameters included — are answered from the store, so a re-run pays
only for what is missing; ask for several samples of one prompt with distinct `seed`s. Retries
back off exponentially with jitter and honour `Retry-After`. A budget stops new calls cleanly.
The API key and a URL's `user:password` live only in the client: the URL is recorded without them
and every error this layer records or logs is `redacted`.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import itertools
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from gristmill.redact import redacted
from gristmill.store.db import Store
from gristmill.synth.endpoint import Endpoint
from gristmill.synth.parse import parse_json
from gristmill.synth.retries import describe, retryable, wait_before

log = logging.getLogger("gristmill.synth")

CACHED_STATUSES = ("ok", "unparsed")  # a failed call is asked again; an unreadable answer is not


@dataclass(frozen=True)
class Request:
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)  # over the endpoint's defaults
    schema: dict[str, Any] | None = None  # structured output: a JSON schema for the answer


@dataclass(frozen=True)
class Reply:
    call_id: int | None  # the recorded call that answered (the first one, for a cached answer)
    status: str  # ok | unparsed | failed | skipped (the budget ran out before it was sent)
    content: str | None = None
    parsed: Any = None
    error: str | None = None
    cached: bool = False
    tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Budget:
    """Caps on what a run may spend; cached answers cost nothing."""

    max_requests: int | None = None
    max_tokens: int | None = None
    requests: int = 0
    tokens: int = 0

    @property
    def exhausted(self) -> bool:
        return ((self.max_requests is not None and self.requests >= self.max_requests)
                or (self.max_tokens is not None and self.tokens >= self.max_tokens))


@dataclass
class CallStats:
    sent: int = 0
    cached: int = 0
    failed: int = 0
    unparsed: int = 0
    skipped: int = 0
    retries: int = 0
    tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Calls:
    """The call layer for one run. `ask` answers a batch; `flush` writes the calls made since
    the last flush into the caller's transaction."""

    def __init__(self, store: Store, run_id: int, endpoint: Endpoint, *, cache: bool = True,
                 budget: Budget | None = None, seed: int = 0, ids: Iterator[int] | None = None):
        self.store, self.run_id, self.endpoint, self.cache = store, run_id, endpoint, cache
        self.budget = budget or Budget()
        self.stats = CallStats()
        self._key = endpoint.api_key()
        self._secrets = endpoint.secrets()
        self._url = endpoint.public_url  # as recorded
        self._pending: list[tuple] = []
        self._answered: dict[str, Reply] = {}  # this run's answers, flushed or not
        self._rng = random.Random(seed)
        self.bar: Any = None  # a progress bar the run shows on a TTY, advanced once per answer
        self.ids = ids if ids is not None else call_ids(store)

    # -- asking ---------------------------------------------------------------------------------

    def ask(self, requests: list[Request]) -> list[Reply]:
        """Answers in the order asked: from this run, from the store, or from the endpoint with
        up to `concurrency` requests in flight. Never raises for a bad answer."""
        bodies = [self.body(r) for r in requests]
        hashes = [request_hash(b) for b in bodies]
        wanted = set(hashes)
        known = {h: self._answered[h] for h in wanted & self._answered.keys()}
        if self.cache:
            known |= self._stored(wanted - known.keys())
        todo: dict[str, tuple[Request, dict]] = {}
        for h, r, b in zip(hashes, requests, bodies, strict=True):
            if h not in known:
                todo.setdefault(h, (r, b))  # the same request twice in a batch is sent once
        if todo:
            fresh = asyncio.run(self._send_all(todo))
            known |= fresh
        replies = []
        for h, r in zip(hashes, requests, strict=True):
            reply = known[h]
            if h not in todo:  # answered before: by this run or one before it
                reply = replace(_reparse(reply, r.schema), cached=True)
                self.stats.cached += 1
            replies.append(reply)
        if self.bar is not None:
            self.bar.update(len(requests) - len(todo))  # the sent ones advanced it as they came
        return replies

    def body(self, request: Request) -> dict[str, Any]:
        """The request as sent (and hashed): model, messages, parameters, response_format."""
        body = {"model": self.endpoint.model, "messages": request.messages,
                **self.endpoint.params, **request.params}
        if request.schema is not None and self.endpoint.json_schema:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": request.schema}}
        return body

    def _stored(self, hashes: set[str]) -> dict[str, Reply]:
        if not hashes:
            return {}
        import pyarrow as pa

        with self.store.read() as con:
            con = con.cursor()  # subtle: a fresh cursor, as registering needs no result pending
            con.register("_wanted", pa.table({"h": pa.array(sorted(hashes), pa.string())}))
            rows = con.execute(
                "SELECT request_hash, call_id, status, content, parsed, "
                "coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) "
                "FROM llm_calls c SEMI JOIN _wanted w ON w.h = c.request_hash "
                f"WHERE status IN {CACHED_STATUSES} "
                "QUALIFY row_number() OVER (PARTITION BY request_hash ORDER BY call_id) = 1"
            ).fetchall()
        return {h: Reply(cid, status, content, orjson.loads(parsed) if parsed else None,
                         cached=True, tokens=int(tokens))
                for h, cid, status, content, parsed, tokens in rows}

    async def _send_all(self, todo: dict[str, tuple[Request, dict]]) -> dict[str, Reply]:
        import httpx
        import openai

        limit = self.endpoint.concurrency
        url, userinfo = self.endpoint.client_url()
        client = openai.AsyncOpenAI(
            base_url=url, api_key=self._key, max_retries=0, timeout=self.endpoint.timeout,
            http_client=httpx.AsyncClient(
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                auth=httpx.BasicAuth(*userinfo) if userinfo else None),
        )
        gate = asyncio.Semaphore(limit)
        async with client:
            hashes = list(todo)
            replies = await asyncio.gather(*(self._send(client, gate, h, *todo[h]) for h in hashes))
        return dict(zip(hashes, replies, strict=True))

    async def _send(self, client, gate: asyncio.Semaphore, h: str, request: Request,
                    body: dict) -> Reply:
        async with gate:
            if self.budget.exhausted:
                self.stats.skipped += 1
                return Reply(None, "skipped", error="the budget ran out before this call")
            self.budget.requests += 1
            self.stats.sent += 1
            known, extra = _split_params(body)
            retries: list[dict[str, Any]] = []
            for attempt in range(1, self.endpoint.max_attempts + 1):
                started = time.perf_counter()
                try:
                    response = await client.chat.completions.create(**known, extra_body=extra or None)
                except Exception as e:  # noqa: BLE001 - every failure is recorded, none escapes
                    error = self.redact(describe(e))
                    if attempt == self.endpoint.max_attempts or not retryable(e):
                        self.stats.failed += 1
                        log.warning("call failed after %d attempt(s): %s", attempt, error)
                        return self._record(h, body, None, "failed", error, None, attempt, retries,
                                            request)
                    wait = wait_before(attempt, e, self._rng)
                    retries.append({"attempt": attempt, "error": error, "wait": round(wait, 3)})
                    self.stats.retries += 1
                    log.info("retrying in %.2f s: %s", wait, error)
                    await asyncio.sleep(wait)
                    continue
                latency = (time.perf_counter() - started) * 1000
                if self.bar is not None:
                    self.bar.update(1)
                return self._record(h, body, response, None, None, latency, attempt, retries, request)
        raise AssertionError("unreachable")

    def _record(self, h: str, body: dict, response: Any, status: str | None, error: str | None,
                latency: float | None, attempts: int, retries: list, request: Request) -> Reply:
        content = parsed = usage = None
        if response is not None:
            message = response.choices[0].message if response.choices else None
            content = message.content if message else None
            usage = response.usage
            parsed, problem = parse_json(content, request.schema) if request.schema else (None, None)
            status, error = ("unparsed", problem) if problem else ("ok", None)
            if status == "unparsed":
                self.stats.unparsed += 1
        prompt_tokens = usage.prompt_tokens if usage else None
        completion_tokens = usage.completion_tokens if usage else None
        tokens = (prompt_tokens or 0) + (completion_tokens or 0)
        self.budget.tokens += tokens
        self.stats.tokens += tokens
        call_id = next(self.ids)
        self._pending.append((
            call_id, h, self.run_id, self.endpoint.name, self._url, self.endpoint.model,
            _dumps(body), _dumps(response.model_dump(mode="json", exclude_unset=True))
            if response is not None else None, content,
            _dumps(parsed) if parsed is not None else None, status, error, prompt_tokens,
            completion_tokens, latency, attempts, _dumps(retries) if retries else None,
        ))
        reply = Reply(call_id, status, content, parsed, error, tokens=tokens)
        if status in CACHED_STATUSES:
            self._answered[h] = reply
        return reply

    # -- recording ------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Calls made and not yet written."""
        return len(self._pending)

    def flush(self, con) -> int:
        """Write the calls made since the last flush, inside the caller's transaction."""
        if not self._pending:
            return 0
        rows, self._pending = self._pending, []
        con.executemany(
            "INSERT INTO llm_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "current_localtimestamp())", rows)
        return len(rows)

    def redact(self, text: str) -> str:
        """`text` without the endpoint's secrets or anything shaped like a credential."""
        return redacted(text, self._secrets)


def call_ids(store: Store) -> Iterator[int]:
    """Ids for new calls; one counter serves every call layer of a run (the run holds the lock)."""
    with store.read() as con:
        (last,) = con.execute("SELECT coalesce(max(call_id), 0) FROM llm_calls").fetchone()
    return itertools.count(int(last) + 1)


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _reparse(reply: Reply, schema: dict | None) -> Reply:
    """A cached answer read for a (possibly different) schema: parse it again."""
    if schema is None:
        return replace(reply, status="ok", parsed=None, error=None)
    parsed, problem = parse_json(reply.content, schema)
    return replace(reply, status="unparsed" if problem else "ok", parsed=parsed, error=problem)


def _split_params(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the SDK takes as arguments, and the rest (top_k, min_p, ...) for `extra_body`."""
    known = _sdk_params()
    return ({k: v for k, v in body.items() if k in known},
            {k: v for k, v in body.items() if k not in known})


_SDK: set[str] = set()


def _sdk_params() -> set[str]:
    if not _SDK:
        from openai.resources.chat.completions import AsyncCompletions

        _SDK.update(p for p in inspect.signature(AsyncCompletions.create).parameters
                    if p not in ("self", "extra_body", "extra_headers", "extra_query", "timeout"))
    return _SDK


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
