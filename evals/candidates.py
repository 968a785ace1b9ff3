"""Who answers a suite: a registry model (its base and adapter, generated in-process), a base model
alone, or any OpenAI-compatible endpoint; and the store's cache of their answers.

An answer is cached by (who answered, the prompt, the pinned generation parameters): a re-run, or
a run killed half-way and started again, generates only what is missing. An endpoint's answers go
through the call layer as well, so each is also an `llm_calls` row.

Specs: `NAME` (a registry model), `base` (the candidate's own base: the baseline a fine-tune must
beat), `base:SPEC` (`smollm2`, a GGUF file or a model folder), `local` (the embedded llama.cpp
server) or an endpoint file (`*.yaml`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gristmill.errors import UsageError
from gristmill.store.db import Store


@dataclass
class Candidate:
    spec: str
    identity: str  # the cache key's "who": a registry name, base:DIGEST, endpoint:URL:MODEL
    kind: str  # model | base | endpoint
    detail: str
    model: str | None = None  # the registry model, whose lineage the contamination guard reads
    base_folder: Path | None = None
    adapter: Path | None = None
    endpoint: Any = None  # an Endpoint, or None for the embedded server when kind is endpoint
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"name": self.spec, "kind": self.kind, "detail": self.detail,
                "identity": self.identity}


def resolve_candidate(store: Store, spec: str, of: Candidate | None = None) -> Candidate:
    """A spec as a candidate; `base` needs `of`, the candidate whose base it names."""
    from gristmill.train import registry

    if spec == "base":
        if of is None or of.base_folder is None:
            raise UsageError("--baseline base means the candidate's own base model, so the "
                             "candidate must be a registry model")
        return Candidate("base", f"base:{of.info['base_digest']}", "base",
                         f"{of.info['base_source']} (the base of {of.spec}, no adapter)",
                         base_folder=of.base_folder, info={"base_digest": of.info["base_digest"]})
    if spec.startswith("base:"):
        from gristmill.train.base_model import resolve_base

        base = resolve_base(spec.removeprefix("base:"))
        return Candidate(spec, f"base:{base.digest}", "base", str(base.source),
                         base_folder=base.folder, info={"base_digest": base.digest})
    if spec == "local":
        from gristmill.local_models import smollm2_gguf
        from gristmill.synth.server import model_name

        gguf = smollm2_gguf()
        return Candidate(spec, f"endpoint:local:{model_name(gguf)}", "endpoint",
                         f"the embedded llama.cpp server ({gguf.name})")
    if spec.endswith((".yaml", ".yml")):
        from gristmill.synth.endpoint import load_endpoint

        endpoint = load_endpoint(Path(spec))
        return Candidate(spec, f"endpoint:{endpoint.public_url}:{endpoint.model}", "endpoint",
                         f"{endpoint.model} at {endpoint.public_url}", endpoint=endpoint)
    with store.read() as con:
        m = registry.get(con, spec)
    if m["status"] != "ok" or not m["adapter_path"]:
        raise UsageError(f"model {spec} is {m['status']}: only a finished training run can be "
                         "evaluated")
    return Candidate(spec, f"model:{spec}:{m['base_digest']}", "model",
                     f"{m['base_source']} + adapter {m['adapter_path']}", model=spec,
                     base_folder=Path(m["base_path"]), adapter=Path(m["adapter_path"]),
                     info={"base_digest": m["base_digest"], "base_source": m["base_source"]})


def output_key(identity: str, prompt: list[dict[str, Any]], params: dict[str, Any]) -> str:
    body = {"model": identity, "prompt": prompt, "params": params}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cached_outputs(store: Store, keys: list[str]) -> dict[str, tuple[str, int | None]]:
    """Answers already stored, by key: (output, tokens)."""
    if not keys:
        return {}
    import pyarrow as pa

    with store.read() as con:
        con = con.cursor()
        con.register("_keys", pa.table({"k": pa.array(sorted(set(keys)), pa.string())}))
        rows = con.execute("SELECT output_key, any_value(output), any_value(tokens) FROM "
                           "eval_outputs o SEMI JOIN _keys k ON k.k = o.output_key "
                           "WHERE output IS NOT NULL GROUP BY output_key").fetchall()
    return {k: (out, tokens) for k, out, tokens in rows}


def output_row(key: str, who: str, prompt: list, params: dict, output: str | None,
               error: str | None, tokens: int | None, call_id: int | None, run_id: int) -> tuple:
    return (key, who, _dumps(prompt), _dumps(params), output, error, tokens, call_id, run_id)


def write_outputs(con, rows: list[tuple]) -> None:
    if rows:
        con.executemany("INSERT INTO eval_outputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                        "current_localtimestamp())", rows)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
