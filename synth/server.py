"""The embedded default: SmolLM2 served by llama.cpp (xllamacpp) on a free loopback port.

It exists so that every generator and judge runs with no endpoint configured and no network; any
OpenAI-compatible endpoint replaces it. Its logs stay quiet unless asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gristmill.errors import GristmillError
from gristmill.local_models import smollm2_gguf
from gristmill.synth.endpoint import Endpoint

LOCAL_NAME = "local"


def model_name(gguf: Path) -> str:
    """The name requests carry and the cache keys on: the file's stem, lower case."""
    return gguf.stem.lower()


class LocalServer:
    """A running llama.cpp server; `endpoint` is how to reach it."""

    def __init__(self, gguf: Path | None = None, *, slots: int = 4, context: int = 8192,
                 threads: int | None = None, port: int = 0, verbose: bool = False):
        import os

        import xllamacpp as xlc

        self.gguf = Path(gguf) if gguf else smollm2_gguf()
        if not self.gguf.is_file():
            raise GristmillError(f"no model file {self.gguf}")
        p = xlc.CommonParams()
        p.model.path = str(self.gguf)
        p.n_parallel = slots
        p.n_ctx = context  # shared by the slots
        n = threads or max(1, min(os.cpu_count() or 1, 8))
        p.cpuparams.n_threads = n
        p.cpuparams_batch.n_threads = n
        p.verbosity = 3 if verbose else -1
        p.model_alias = {model_name(self.gguf)}
        if port:
            p.port = port  # subtle: left unset, the server picks a free port
        self._server = xlc.Server(p)
        self.url = self._server.listening_address
        self.endpoint = Endpoint(name=LOCAL_NAME, base_url=self.url + "/v1",
                                 model=model_name(self.gguf), concurrency=slots,
                                 timeout=600.0)  # a small CPU server is slow, not gone

    def stop(self) -> None:
        self._server = None  # the server shuts down when the object goes


@contextmanager
def local_server(**kwargs) -> Iterator[LocalServer]:
    server = LocalServer(**kwargs)
    try:
        yield server
    finally:
        server.stop()
