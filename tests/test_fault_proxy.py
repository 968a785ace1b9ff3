"""The fault proxy against a tiny stdlib upstream: pass-through, each fault, determinism, openai client."""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.fault_proxy import FaultProxy, Faults

COMPLETION = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 3}}


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Silenced."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/echo":
            payload = {"echo": body.decode(), "x_test": self.headers.get("X-Test"),
                       "host": self.headers.get("Host"), "pad": "p" * 200}
            status = 200
        elif self.path == "/v1/chat/completions":
            payload, status = COMPLETION, 200
        else:
            payload, status = {"error": {"message": "no such path"}}, 404
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


_open: list[http.client.HTTPConnection] = []


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    """Close every client connection a test opened, so none leaks as a ResourceWarning."""
    yield
    while _open:
        _open.pop().close()


def _conn(url: str, timeout: float = 5.0) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    _open.append(conn := http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout))
    return conn


def _post(conn: http.client.HTTPConnection, body: bytes = b'{"q": 1}',
          headers: dict[str, str] | None = None, path: str = "/v1/echo") -> http.client.HTTPResponse:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    return conn.getresponse()


def test_passes_through_unchanged_over_keep_alive(upstream: str) -> None:
    direct = _post(_conn(upstream), headers={"X-Test": "t"})
    expected = direct.read()
    with FaultProxy(upstream, Faults()) as proxy:
        conn = _conn(proxy.url)
        for _ in range(3):  # one connection, three requests: keep-alive framing holds
            resp = _post(conn, headers={"X-Test": "t"})
            assert resp.status == 200
            assert resp.getheader("X-Upstream") == "yes"
            assert resp.getheader("Content-Type") == "application/json"
            body = resp.read()
            assert body == expected  # Host was rewritten to the upstream's, so even it matches
        missing = _post(conn, path="/v1/nope")
        assert missing.status == 404
        missing.read()
        conn.close()
        assert (proxy.requests, proxy.forwarded) == (4, 4)
        assert proxy.log == [("/v1/echo", "ok")] * 3 + [("/v1/nope", "ok")]
    assert json.loads(expected)["echo"] == '{"q": 1}'


def test_429_has_retry_after_and_keeps_connection(upstream: str) -> None:
    with FaultProxy(upstream, Faults(rate_429=1.0, retry_after=0.5)) as proxy:
        conn = _conn(proxy.url)
        for _ in range(2):
            resp = _post(conn)
            assert resp.status == 429
            assert resp.getheader("Retry-After") == "0.5"
            assert "error" in json.loads(resp.read())
        assert (proxy.requests, proxy.forwarded) == (2, 0)
        assert [o for _, o in proxy.log] == ["429", "429"]


def test_500(upstream: str) -> None:
    with FaultProxy(upstream, Faults(rate_500=1.0)) as proxy:
        resp = _post(_conn(proxy.url))
        assert resp.status == 500
        assert json.loads(resp.read())["error"]["message"]
        assert proxy.log == [("/v1/echo", "500")]
        assert proxy.forwarded == 0


def test_truncate_sends_half_the_body_then_closes(upstream: str) -> None:
    with FaultProxy(upstream, Faults(rate_truncate=1.0)) as proxy:
        resp = _post(_conn(proxy.url))
        assert resp.status == 200
        full = int(resp.getheader("Content-Length"))
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
        assert len(info.value.partial) == full // 2
        assert (proxy.requests, proxy.forwarded) == (1, 1)
        assert proxy.log == [("/v1/echo", "truncate")]


def test_stall_times_out_client_and_stop_is_prompt(upstream: str) -> None:
    proxy = FaultProxy(upstream, Faults(rate_stall=1.0, stall_seconds=1.0)).start()
    try:
        with pytest.raises((TimeoutError, socket.timeout)):
            _post(_conn(proxy.url, timeout=0.3))
        assert proxy.log == [("/v1/echo", "stall")]
        _conn(proxy.url, timeout=5).request("POST", "/v1/echo", body=b"{}")  # a second stall in flight
        time.sleep(0.1)
    finally:
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 2.0
    assert proxy.forwarded == 0


def test_stall_does_not_block_other_requests(upstream: str) -> None:
    # Pick a seed whose first draw stalls and second forwards, from the documented one-draw rule.
    seed = next(s for s in range(1000) if (r := random.Random(s)).random() < 0.5 <= r.random())
    with FaultProxy(upstream, Faults(rate_stall=0.5, stall_seconds=3.0, seed=seed)) as proxy:
        stalled = _conn(proxy.url, timeout=5)
        stalled.request("POST", "/v1/echo", body=b"{}")
        time.sleep(0.1)  # let the stall arrive first
        started = time.monotonic()
        resp = _post(_conn(proxy.url))
        assert resp.status == 200 and resp.read()
        assert time.monotonic() - started < 1.0
        assert [o for _, o in proxy.log] == ["stall", "ok"]


def test_echo_auth_leaks_authorization(upstream: str) -> None:
    with FaultProxy(upstream, Faults(rate_echo_auth=1.0)) as proxy:
        resp = _post(_conn(proxy.url), headers={"Authorization": "Bearer sk-secret-123"})
        assert resp.status == 401
        assert "Bearer sk-secret-123" in resp.read().decode()
        assert proxy.log == [("/v1/echo", "echo_auth")]


def test_same_seed_same_outcomes(upstream: str) -> None:
    faults = dict(rate_429=0.2, rate_500=0.2, rate_truncate=0.2, rate_echo_auth=0.2, seed=7)
    runs = []
    for _ in range(2):
        with FaultProxy(upstream, Faults(**faults)) as proxy:
            for _ in range(20):
                conn = _conn(proxy.url)  # a fresh connection: truncate closes the old one
                resp = _post(conn)
                try:
                    resp.read()
                except http.client.IncompleteRead:
                    pass
                conn.close()
            runs.append([o for _, o in proxy.log])
            assert proxy.forwarded == runs[-1].count("ok") + runs[-1].count("truncate")
    assert runs[0] == runs[1]
    assert len(set(runs[0])) >= 4  # mixed, not degenerate


def test_rates_are_validated() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        Faults(rate_429=0.6, rate_500=0.6)


def test_openai_client_through_proxy(upstream: str) -> None:
    import openai

    with FaultProxy(upstream, Faults()) as proxy:
        client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0, timeout=5)
        out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
        assert out.choices[0].message.content == "hi"
        assert proxy.log == [("/v1/chat/completions", "ok")]
    with FaultProxy(upstream, Faults(rate_429=1.0)) as proxy:
        client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0, timeout=5)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
        assert proxy.forwarded == 0
