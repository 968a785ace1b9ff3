"""The interchange formats, both ways: a record in a known format to a payload, and back.

Each reader returns the payload (see gristmill.example) and the record's leftover keys, which are
kept as source metadata outside the hash. `auto` tells the format from a record's keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gristmill.errors import InvalidRecord
from gristmill.example import Example, canonical_json, content_id, normalize

Parsed = tuple[dict[str, Any], dict[str, Any] | None]

# (format, the keys that identify it), in the order `auto` tries them
SIGNATURES: list[tuple[str, tuple[str, ...]]] = [
    ("gristmill", ("id", "kind", "payload")),
    ("openai", ("messages",)),
    ("sharegpt", ("conversations",)),
    ("preference", ("prompt", "chosen", "rejected")),
    ("self-instruct", ("instruction", "instances")),
    ("alpaca", ("instruction", "output")),
    ("prompt-completion", ("prompt", "completion")),
    ("text", ("text",)),
]
FORMATS = tuple(name for name, _ in SIGNATURES)
_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                   "assistant": "assistant", "tool": "tool", "observation": "tool"}


def detect(record: dict[str, Any]) -> str:
    for name, keys in SIGNATURES:
        if keys[0] in record and all(k in record for k in keys):
            return name
    found = ", ".join(sorted(record)) or "none"
    known = "; ".join(f"{name} ({', '.join(keys)})" for name, keys in SIGNATURES)
    raise InvalidRecord(f"cannot tell the format from the keys ({found}); known formats: {known}; "
                        "pass --format to say which")


def parse(record: dict[str, Any], fmt: str) -> Parsed:
    """The payload in `fmt` (or the detected format for `auto`) and the leftover keys."""
    name = detect(record) if fmt == "auto" else fmt
    keys = dict(SIGNATURES)[name]
    missing = [k for k in keys if k not in record]
    if missing:
        raise InvalidRecord(f"missing key {missing[0]!r} for the {name} format "
                            f"(found: {', '.join(sorted(record)) or 'none'})")
    return _PARSERS[name](record)


def _leftover(record: dict[str, Any], used: tuple[str, ...]) -> dict[str, Any] | None:
    rest = {k: v for k, v in record.items() if k not in used and v is not None}
    return rest or None


def _as_list(value: Any, key: str, strict: bool = True) -> Any:
    """Message lists held as JSON text (CSV, some Parquet writers) as lists. Where plain text is
    also allowed (`strict=False`), text that is not a JSON list of objects stays text."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            if strict:
                raise InvalidRecord(f"{key} is text that is not a valid JSON list") from None
            return value
        if strict or (parsed and all(isinstance(m, dict) for m in parsed)):
            return parsed
    return value


def _turns(value: Any, role: str) -> Any:
    """A bare string stands for one message of `role`."""
    return [{"role": role, "content": value}] if isinstance(value, str) else value


def _openai(r: dict) -> Parsed:
    return {"kind": "chat", "messages": _as_list(r["messages"], "messages")}, _leftover(
        r, ("messages",))


def _sharegpt(r: dict) -> Parsed:
    turns = _as_list(r["conversations"], "conversations")
    if not isinstance(turns, list):
        raise InvalidRecord("conversations must be a list of {from, value} objects")
    messages = []
    for i, t in enumerate(turns, 1):
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise InvalidRecord(f"conversations[{i}]: expected an object with 'from' and 'value'")
        role = _SHAREGPT_ROLES.get(t["from"])
        if role is None:
            raise InvalidRecord(f"conversations[{i}]: 'from' is {t['from']!r}, not one of "
                                f"{', '.join(_SHAREGPT_ROLES)}")
        messages.append({"role": role, "content": t["value"]})
    return {"kind": "chat", "messages": messages}, _leftover(r, ("conversations",))


def _alpaca(r: dict) -> Parsed:
    instruction, extra = r["instruction"], r.get("input")
    for key in ("instruction", "input", "output", "system"):
        if r.get(key) is not None and not isinstance(r[key], str):
            raise InvalidRecord(f"{key} must be a string")
    user = f"{instruction}\n\n{extra}" if extra else instruction
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}]
    if r.get("system"):
        messages.insert(0, {"role": "system", "content": r["system"]})
    return {"kind": "chat", "messages": messages}, _leftover(
        r, ("instruction", "input", "output", "system"))


def _self_instruct(r: dict) -> Parsed:
    """A Self-Instruct seed task: its first instance is the example; the instruction alone, the
    label flag and any further instances stay as metadata (generators read them)."""
    instances = _as_list(r["instances"], "instances")
    if not isinstance(r["instruction"], str):
        raise InvalidRecord("instruction must be a string")
    if not isinstance(instances, list) or not instances or not all(
            isinstance(i, dict) and isinstance(i.get("output"), str) for i in instances):
        raise InvalidRecord("instances must be a non-empty list of {input, output} objects")
    first = instances[0]
    extra = first.get("input") or ""
    if not isinstance(extra, str):
        raise InvalidRecord("instances[1].input must be a string")
    user = f"{r['instruction']}\n\n{extra}" if extra else r["instruction"]
    payload = {"kind": "chat", "messages": [{"role": "user", "content": user},
                                            {"role": "assistant", "content": first["output"]}]}
    meta = (_leftover(r, ("instruction", "instances")) or {}) | {"instruction": r["instruction"]}
    if len(instances) > 1:
        meta["more_instances"] = instances[1:]
    return payload, meta


def _preference(r: dict) -> Parsed:
    payload = {
        "kind": "preference",
        "prompt": _turns(_as_list(r["prompt"], "prompt", strict=False), "user"),
        "chosen": _turns(_as_list(r["chosen"], "chosen", strict=False), "assistant"),
        "rejected": _turns(_as_list(r["rejected"], "rejected", strict=False), "assistant"),
    }
    return payload, _leftover(r, ("prompt", "chosen", "rejected"))


def _prompt_completion(r: dict) -> Parsed:
    prompt = _turns(_as_list(r["prompt"], "prompt", strict=False), "user")
    completion = _turns(_as_list(r["completion"], "completion", strict=False), "assistant")
    if not isinstance(prompt, list) or not isinstance(completion, list):
        raise InvalidRecord("prompt and completion must be strings or lists of messages")
    return {"kind": "chat", "messages": prompt + completion}, _leftover(r, ("prompt", "completion"))


def _text(r: dict) -> Parsed:
    return {"kind": "text", "text": r["text"]}, _leftover(r, ("text",))


def _gristmill(r: dict) -> Parsed:
    payload = r["payload"]
    if isinstance(payload, str):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise InvalidRecord("payload is not valid JSON") from None
    if not isinstance(payload, dict) or payload.get("kind") != r["kind"]:
        raise InvalidRecord("payload is not an object of the record's kind")
    if content_id(canonical_json(normalize(payload))) != r["id"]:
        raise InvalidRecord("id does not match the payload (was the record edited after export?)")
    return payload, _leftover(r, ("id", "kind", "payload"))


_PARSERS: dict[str, Callable[[dict], Parsed]] = {
    "gristmill": _gristmill, "openai": _openai, "sharegpt": _sharegpt, "alpaca": _alpaca,
    "preference": _preference, "self-instruct": _self_instruct,
    "prompt-completion": _prompt_completion, "text": _text,
}


# -- writing ------------------------------------------------------------------------------------

class Unsupported(Exception):
    """The example cannot be written in the target format (e.g. multi-turn chat as alpaca)."""


def render(example: Example, fmt: str) -> dict[str, Any]:
    """The record `fmt` holds for `example`; reading it back gives the same id."""
    p, kind = example.payload, example.kind
    if fmt == "gristmill":
        return {"id": example.id, "kind": kind, "payload": p}
    if fmt == "openai" and kind == "chat":
        return {"messages": p["messages"]}
    if fmt == "preference" and kind == "preference":
        return {"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]}
    if fmt == "text" and kind == "text":
        return {"text": p["text"]}
    if fmt == "sharegpt" and kind == "chat":
        if any(set(m) != {"role", "content"} for m in p["messages"]):
            raise Unsupported("tool calls or names have no place in ShareGPT")
        back = {v: k for k, v in _SHAREGPT_ROLES.items() if k in ("system", "human", "gpt", "tool")}
        return {"conversations": [{"from": back[m["role"]], "value": m["content"]}
                                  for m in p["messages"]]}
    if fmt == "alpaca" and kind == "chat":
        return _to_alpaca(p["messages"])
    raise Unsupported(f"a {kind} example cannot be written as {fmt}")


def _to_alpaca(messages: list[dict[str, Any]]) -> dict[str, Any]:
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    rest = messages[1:] if system is not None else messages
    if len(rest) != 2 or any(set(m) != {"role", "content"} for m in rest):
        raise Unsupported("alpaca holds one user turn and one answer")
    record = {"instruction": rest[0]["content"], "input": "", "output": rest[1]["content"]}
    if system is not None:
        record["system"] = system
    return record
