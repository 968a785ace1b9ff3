"""The call layer against the real embedded server: recorded, cached, concurrent, patient with
faults, within budget, and never holding a key."""

from __future__ import annotations

import base64
import logging
import secrets

import orjson
import pytest

from gristmill.store.runs import writing
from gristmill.synth.calls import Budget, Calls, Request
from gristmill.synth.endpoint import Endpoint
from gristmill.synth.parse import parse_json
from tests.conftest import chat, endpoint_file, write_jsonl
from tests.fault_proxy import FaultProxy, Faults

SHORT = {"max_tokens": 12, "temperature": 0.7}


def _requests(n: int, tag: str = "") -> list[Request]:
    return [Request([{"role": "user", "content": f"Say one word about the number {i}{tag}."}],
                    SHORT | {"seed": i}) for i in range(n)]


def _endpoint(url: str, model: str, **settings) -> Endpoint:
    return Endpoint(base_url=url + "/v1", model=model, **settings)


def _ask(store, endpoint, requests, **kwargs):
    with writing(store, "test", {}) as run:
        calls = Calls(store, run.id, endpoint, **kwargs)
        replies = calls.ask(requests)
        with run.commit() as con:
            calls.flush(con)
    return replies, calls


def test_calls_are_recorded_and_identical_requests_answered_from_the_store(store, llm_server):
    model = llm_server.endpoint.model
    with FaultProxy(llm_server.url, Faults()) as proxy:
        endpoint = _endpoint(proxy.url, model, concurrency=3)
        first, calls = _ask(store, endpoint, _requests(6))
        assert proxy.requests == 6 and calls.stats.sent == 6 and calls.stats.cached == 0
        assert 2 <= proxy.max_in_flight <= 3  # the configured number in flight, no more
        again, calls = _ask(store, endpoint, _requests(6))
        assert proxy.requests == 6 and calls.stats.cached == 6
        assert [r.content for r in again] == [r.content for r in first]
        assert [r.call_id for r in again] == [r.call_id for r in first]
        changed = _requests(6)[:1]
        _ask(store, endpoint, [Request(changed[0].messages, SHORT | {"seed": 99})])
        assert proxy.requests == 7  # another parameter value is another request
        _ask(store, endpoint, _requests(2), cache=False)
        assert proxy.requests == 9
    with store.read() as con:
        rows = con.execute("SELECT request, status, model, prompt_tokens, completion_tokens, "
                           "latency_ms, attempts, run_id FROM llm_calls ORDER BY call_id").fetchall()
    assert len(rows) == 9 and {r[1] for r in rows} == {"ok"} and {r[2] for r in rows} == {model}
    assert all(r[3] > 0 and r[4] > 0 and r[5] > 0 and r[6] == 1 for r in rows)
    requests = [orjson.loads(r[0]) for r in rows]
    assert sorted(r["seed"] for r in requests) == [0, 0, 1, 1, 2, 3, 4, 5, 99]
    assert all(r["max_tokens"] == 12 and r["messages"] for r in requests)


def test_a_budget_stops_new_calls_and_keeps_the_answers(store, llm_server):
    endpoint = _endpoint(llm_server.url, llm_server.endpoint.model, concurrency=1)
    replies, calls = _ask(store, endpoint, _requests(5, " budget"), budget=Budget(max_requests=3))
    assert [r.status for r in replies] == ["ok"] * 3 + ["skipped"] * 2
    assert calls.stats.sent == 3 and calls.stats.skipped == 2
    replies, _ = _ask(store, endpoint, _requests(5, " tokens"), budget=Budget(max_tokens=1))
    assert [r.status for r in replies] == ["ok"] + ["skipped"] * 4  # the first call spends it
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM llm_calls").fetchone() == (4,)


def test_structured_output_and_output_that_does_not_parse(store, llm_server):
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    ask = [Request([{"role": "user", "content": "Name a colour. Answer in JSON."}],
                   {"max_tokens": 40, "temperature": 0}, schema=schema)]
    (reply,), _ = _ask(store, llm_server.endpoint, ask)
    assert reply.status == "ok" and isinstance(reply.parsed["colour"], str)
    plain = llm_server.endpoint.model_copy(update={"json_schema": False})
    prose = [Request([{"role": "user", "content": "Write one short sentence about rain."}],
                     {"max_tokens": 30, "temperature": 0}, schema=schema)]
    (reply,), calls = _ask(store, plain, prose)
    assert reply.status == "unparsed" and reply.content and calls.stats.unparsed == 1
    with store.read() as con:
        row = con.execute("SELECT status, content, error, request FROM llm_calls "
                          "WHERE status = 'unparsed'").fetchone()
    assert row[1] == reply.content and row[2] and "response_format" not in orjson.loads(row[3])


def test_lenient_parsing_reads_json_in_prose_and_fences():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert parse_json('{"a": 1}', schema) == ({"a": 1}, None)
    assert parse_json('Sure! ```json\n{"a": 2}\n``` hope it helps', schema) == ({"a": 2}, None)
    assert parse_json('The answer is {"a": 3, "b": "}"} and more {', schema) == ({"a": 3, "b": "}"}, None)
    assert parse_json('{"b": 1}', schema) == (None, "missing key 'a'")
    assert parse_json('{"a": "x"}', schema) == (None, "'a' is not a JSON integer")
    assert parse_json("no json here", schema)[1] == "no JSON found in the output"
    assert parse_json("", schema)[1] == "empty output"


def test_faults_are_retried_until_every_call_is_answered_once(store, llm_server):
    faults = Faults(rate_429=0.2, rate_500=0.1, rate_stall=0.05, rate_truncate=0.05,
                    stall_seconds=3.0, retry_after=0.1, seed=7)
    with FaultProxy(llm_server.url, faults) as proxy:
        endpoint = _endpoint(proxy.url, llm_server.endpoint.model, concurrency=4, timeout=1.5,
                             max_attempts=12)
        replies, calls = _ask(store, endpoint, _requests(30, " faults"))
    assert all(r.status == "ok" for r in replies)
    outcomes = [o for _, o in proxy.log]
    assert {"429", "500", "stall", "truncate"} <= set(outcomes)
    with store.read() as con:
        rows = con.execute("SELECT request_hash, attempts, retries FROM llm_calls").fetchall()
    assert len(rows) == 30 and len({r[0] for r in rows}) == 30  # each produced exactly once
    retried = [orjson.loads(r[2]) for r in rows if r[2]]
    assert sum(r[1] - 1 for r in rows) == sum(map(len, retried)) == calls.stats.retries
    assert calls.stats.retries == len(outcomes) - 30  # every injected fault was retried
    errors = " ".join(e["error"] for attempts in retried for e in attempts)
    for seen in ("429", "500", "APITimeoutError", "APIConnectionError"):
        assert seen in errors
    honoured = [e["wait"] for attempts in retried for e in attempts if e["error"].startswith("429")]
    assert min(honoured) >= 0.1  # Retry-After is the least a 429 waits


def test_the_api_key_never_reaches_the_store_or_the_logs(store, llm_server, monkeypatch, caplog, tmp_path):
    key = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("GRISTMILL_TEST_KEY", key)
    caplog.set_level(logging.DEBUG)  # every logger, the HTTP and SDK ones included
    faults = Faults(rate_echo_auth=0.5, rate_429=0.2, retry_after=0.05, seed=3)
    with FaultProxy(llm_server.url, faults) as proxy:
        endpoint = _endpoint(proxy.url, llm_server.endpoint.model, api_key_env="GRISTMILL_TEST_KEY",
                             max_attempts=3)
        replies, _ = _ask(store, endpoint, _requests(8, " key"))
    assert any(r.status == "failed" for r in replies)  # the server echoed the key in its error
    failed = [r.error for r in replies if r.status == "failed"]
    assert all("Bearer [redacted]" in e and key not in e for e in failed)
    assert key not in caplog.text
    _assert_nowhere_in_the_store(store, key, key[-12:])


def _assert_nowhere_in_the_store(store, *secrets: str) -> None:
    """Not in any text column of any table, nor in the file's bytes."""
    with store.write() as con:
        con.execute("CHECKPOINT")
        tables = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                             "WHERE data_type = 'VARCHAR'").fetchall()
        for secret in secrets:
            for table, column in tables:
                (hits,) = con.execute(f'SELECT count(*) FROM "{table}" WHERE contains("{column}", ?)',
                                      [secret]).fetchone()
                assert hits == 0, (table, column, secret)
    data = store.path.read_bytes()
    assert not [s for s in secrets if s.encode() in data]


def test_url_credentials_and_echoed_headers_never_reach_the_store_or_the_output(
        cli, store, llm_server, monkeypatch, caplog, tmp_path):
    key, password = "sk-test-" + secrets.token_hex(16), secrets.token_urlsafe(18)
    basic = base64.b64encode(f"gristmill:{password}".encode()).decode()
    monkeypatch.setenv("GRISTMILL_TEST_KEY", key)
    caplog.set_level(logging.DEBUG)
    prompts = [chat(f"Name a colour ({i}).", "red") for i in range(8)]
    assert cli("ingest", write_jsonl(tmp_path / "p.jsonl", prompts), "-d", "colours")[0] == 0
    model, said = llm_server.endpoint.model, []
    with FaultProxy(llm_server.url, Faults(rate_echo_auth=0.5, retry_after=0.05, seed=3)) as proxy:
        userinfo = proxy.url.replace("http://", f"http://gristmill:{password}@") + "/v1"
        for name, url, tokens in (("basic", userinfo, 8), ("bearer", proxy.url + "/v1", 9)):
            ep = endpoint_file(tmp_path / f"{name}.yaml", url, model, max_attempts=2,
                               api_key_env="GRISTMILL_TEST_KEY")
            said.append(cli("synth", "respond", "colours", "--endpoint", ep, "--set",
                            f"max_tokens={tokens}"))
    assert f"Basic {basic}" in proxy.auth and f"Bearer {key}" in proxy.auth  # both authenticate
    with store.read() as con:
        urls = {u for (u,) in con.execute("SELECT DISTINCT base_url FROM llm_calls").fetchall()}
        errors = [e for (e,) in con.execute(
            "SELECT error FROM llm_calls WHERE error IS NOT NULL").fetchall()]
        (config,) = con.execute("SELECT config FROM runs WHERE config LIKE '%basic%'").fetchone()
    assert urls == {proxy.url + "/v1"}  # stored without its user:password
    assert orjson.loads(config)["endpoint"]["base_url"] == proxy.url + "/v1"
    assert any("Basic [redacted]" in e for e in errors) and any("Bearer [redacted]" in e for e in errors)
    printed = "".join(out + err for _, out, err in said) + caplog.text
    for secret in (key, password, basic, key[-12:]):
        assert secret not in printed
    _assert_nowhere_in_the_store(store, key, password, basic, key[-12:])


def test_endpoint_configs_name_the_variable_never_the_key(tmp_path, monkeypatch):
    from gristmill.errors import GristmillError, UsageError
    from gristmill.synth.endpoint import load_endpoint

    with pytest.raises(ValueError, match="name of an environment variable") as e:
        Endpoint(base_url="http://x/v1", model="m", api_key_env="sk-abc123-secret")
    assert "sk-abc123-secret" not in str(e.value)
    path = tmp_path / "ep.yaml"
    path.write_text("base_url: http://x/v1\nmodel: m\ntemprature: 0.3\n")
    with pytest.raises(UsageError, match="temprature"):
        load_endpoint(path)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(GristmillError, match="NOT_SET_ANYWHERE is not set"):
        Endpoint(base_url="http://x/v1", model="m", api_key_env="NOT_SET_ANYWHERE").api_key()
