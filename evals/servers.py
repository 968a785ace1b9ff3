"""Where an eval run's LLM calls go: call layers per endpoint sharing the run's call ids, the
embedded llama.cpp server started only when something first needs it, and the judges' templates
(shipped in evals/templates, overridable like the generators')."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gristmill.evals.answer import Checkpoints
from gristmill.evals.candidates import Candidate
from gristmill.evals.suite import Suite
from gristmill.store.db import Store


def templates():
    from gristmill.synth.templates import Templates

    return Templates(shipped=Path(__file__).resolve().parent / "templates")


class Servers:
    """Call layers for endpoints, the embedded llama.cpp server started only when first needed."""

    def __init__(self, store: Store, run, suite: Suite):
        self.store, self.run, self.suite = store, run, suite
        self._stack = ExitStack()
        self._local = None
        self._layers: dict[str, Any] = {}
        self._ids = None

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _layer(self, endpoint, cp: Checkpoints):
        from gristmill.synth.calls import Calls, call_ids

        key = f"{endpoint.base_url}|{endpoint.model}"
        if key not in self._layers:
            self._ids = self._ids or call_ids(self.store)
            self._layers[key] = Calls(self.store, self.run.id, endpoint, ids=self._ids)
            cp.layers.append(self._layers[key])
        return self._layers[key]

    def stats(self) -> dict[str, dict[str, int]]:
        """Calls sent, answered from the store, failed, ... per endpoint."""
        return {key: layer.stats.as_dict() for key, layer in self._layers.items()}

    def local(self):
        if self._local is None:
            from gristmill.synth.server import local_server

            slots = self.suite.judge.concurrency or 4
            self._local = self._stack.enter_context(local_server(slots=slots)).endpoint
        return self._local

    def calls_for(self, who: Candidate, cp: Checkpoints):
        return self._layer(who.endpoint or self.local(), cp)

    def judge_calls(self, cp: Checkpoints):
        from gristmill.synth.endpoint import load_endpoint

        j = self.suite.judge
        endpoint = load_endpoint(j.endpoint) if j.endpoint else self.local()
        if j.concurrency:
            endpoint = endpoint.model_copy(update={"concurrency": j.concurrency})
        return self._layer(endpoint, cp)
