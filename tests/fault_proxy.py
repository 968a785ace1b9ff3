"""A fault-injecting HTTP reverse proxy on loopback, for testing clients of an OpenAI-compatible server.

It sits between a client (the `openai` package: httpx, HTTP/1.1, keep-alive) and a real upstream, and
answers a seeded fraction of requests with a fault instead: 429 with Retry-After, 500, a stall that
outlasts the client's timeout, a truncated body, or a 401 that echoes the caller's Authorization header
(to test that secrets never reach our logs or store). Stdlib only, so any test can use it.

    with FaultProxy("http://127.0.0.1:8080", Faults(rate_429=0.3, seed=1)) as proxy:
        client = OpenAI(base_url=proxy.url + "/v1", api_key="sk-test")
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Per RFC 9110 these describe one connection, not the message, so a proxy must not forward them.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade",
})
# Long enough for a slow local model to answer; the faults, not the upstream, are what tests time.
UPSTREAM_TIMEOUT = 600.0
OUTCOMES = ("429", "500", "stall", "truncate", "echo_auth")


@dataclass
class Faults:
    """Probability of each fault per request; the rest (1 - sum) is forwarded untouched."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_stall: float = 0.0
    rate_truncate: float = 0.0
    rate_echo_auth: float = 0.0
    stall_seconds: float = 5.0
    retry_after: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        rates = self.rates()
        if any(r < 0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"fault rates must be >= 0 and sum to at most 1, got {rates}")

    def rates(self) -> tuple[float, ...]:
        """Rates in the fixed order the cumulative draw walks (same order as OUTCOMES)."""
        return (self.rate_429, self.rate_500, self.rate_stall, self.rate_truncate, self.rate_echo_auth)

    def pick(self, u: float) -> str:
        """Map one uniform draw in [0, 1) to an outcome by cumulative rates."""
        edge = 0.0
        for outcome, rate in zip(OUTCOMES, self.rates(), strict=True):
            edge += rate
            if u < edge:
                return outcome
        return "ok"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must never keep the process (or stop()) waiting
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.proxy._track(self.connection, add=False)

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: one stderr line per request would drown pytest output."""

    def _handle(self) -> None:
        proxy = self.server.proxy
        # Always consume the body first so the connection stays framed for the next keep-alive request.
        body = self._read_body()
        outcome = proxy._draw(self.path)
        proxy.auth.append(self.headers.get("Authorization", ""))
        faults = proxy.faults
        if outcome == "429":
            self._send_json(429, "rate limited by fault proxy", "rate_limit_exceeded",
                            extra={"Retry-After": f"{faults.retry_after:g}"})
        elif outcome == "500":
            self._send_json(500, "internal error injected by fault proxy", "server_error")
        elif outcome == "echo_auth":
            auth = self.headers.get("Authorization", "")
            self._send_json(401, f"Incorrect API key provided: {auth}", "invalid_api_key")
        elif outcome == "stall":
            proxy._stopping.wait(faults.stall_seconds)  # wakes at once on stop()
            self._abort()
        else:
            self._forward(body, truncate=outcome == "truncate")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, body: bytes, truncate: bool) -> None:
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in ("host", "content-length")}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(proxy._host, proxy._port, timeout=UPSTREAM_TIMEOUT)
        proxy._flight(+1)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            proxy._count_forwarded()
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self._send_json(502, f"fault proxy could not reach upstream: {e!r}", "bad_gateway")
            return
        finally:
            proxy._flight(-1)
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        # The body is re-framed with Content-Length, so chunked / SSE upstream answers arrive whole.
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._abort()
        else:
            self.wfile.write(data)

    def _send_json(self, status: int, message: str, code: str, extra: dict[str, str] | None = None) -> None:
        payload = json.dumps({"error": {"message": message, "type": code, "code": code}}).encode()
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _abort(self) -> None:
        """Drop the connection mid-exchange; the client sees EOF, not a response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client may already have gone (it timed out first)


class FaultProxy:
    """A loopback reverse proxy to `upstream` that injects `faults`; use as a context manager.

    `requests` counts arrivals, `forwarded` those sent upstream, and `log` holds (path, outcome) in arrival
    order, outcome one of ok|429|500|stall|truncate|echo_auth. An unreachable upstream answers 502 but
    is still logged as the drawn outcome ("ok" or "truncate").
    """

    def __init__(self, upstream: str, faults: Faults) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
        self.upstream = upstream
        self.faults = faults
        self._host, self._port = parts.hostname, parts.port or 80
        self.url = ""
        self.requests = 0
        self.forwarded = 0
        self.in_flight = 0  # requests at the upstream now
        self.max_in_flight = 0
        self.log: list[tuple[str, str]] = []
        self.auth: list[str] = []  # each request's Authorization header, in arrival order
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FaultProxy:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections; returns promptly even mid-stall."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive handlers would otherwise block in readline forever
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._server = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _draw(self, path: str) -> str:
        # subtle: one draw per request under the lock, so the outcome sequence depends only on the seed
        # and arrival order, never on thread scheduling inside the handler.
        with self._lock:
            self.requests += 1
            outcome = self.faults.pick(self._rng.random())
            self.log.append((path, outcome))
        return outcome

    def _flight(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _count_forwarded(self) -> None:
        with self._lock:
            self.forwarded += 1

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)
