"""The one record type that flows everywhere: an `Example` and its content-hash id.

A payload is one of three kinds:

- ``{"kind": "chat", "messages": [...]}``: a conversation that ends with an assistant turn;
- ``{"kind": "preference", "prompt": [...], "chosen": [...], "rejected": [...]}``: prompt messages
  ending with a user turn, and two competing continuations (assistant messages);
- ``{"kind": "text", "text": "..."}``: raw text for continued pre-training.

A message is ``{"role", "content"}`` plus, only when set, ``name``, ``tool_calls`` and
``tool_call_id``; keys holding null are dropped.

Canonical JSON, the bytes the id is the sha256 of (hex, lower case): UTF-8; object keys sorted by
code point; no whitespace between tokens; non-ASCII characters written as themselves; the escapes
``\\"`` ``\\\\`` ``\\b`` ``\\f`` ``\\n`` ``\\r`` ``\\t`` and ``\\u00xx`` (lower-case hex) for other control
characters. That is exactly what ``orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)`` writes.
Metadata (where an example came from, tags) lives beside the example, never in the hash, so the
same content from two files is one example with two sources.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from gristmill.errors import InvalidRecord

KINDS = ("chat", "preference", "text")
ROLES = ("system", "user", "assistant", "tool")
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")
_OPTIONAL_KEYS = _MESSAGE_KEYS[2:]
_PLAIN_ROLES = frozenset(("system", "user", "assistant"))


def canonical_json(payload: dict[str, Any]) -> bytes:
    """The documented canonical form (see the module docstring)."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def content_id(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class Example:
    """A validated payload with its id; build one with `from_payload` or the kind helpers."""

    id: str
    kind: str
    payload: dict[str, Any]
    canonical: bytes

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Example:
        normal = normalize(payload)
        canonical = canonical_json(normal)
        return cls(content_id(canonical), normal["kind"], normal, canonical)

    @classmethod
    def chat(cls, messages: list[dict[str, Any]]) -> Example:
        return cls.from_payload({"kind": "chat", "messages": messages})

    @classmethod
    def preference(cls, prompt: list[dict], chosen: list[dict], rejected: list[dict]) -> Example:
        payload = {"kind": "preference", "prompt": prompt, "chosen": chosen, "rejected": rejected}
        return cls.from_payload(payload)

    @classmethod
    def text(cls, text: str) -> Example:
        return cls.from_payload({"kind": "text", "text": text})


def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    """Check a payload and return it in normal form; raises `InvalidRecord` naming the problem."""
    kind = payload.get("kind")
    if kind == "chat":
        _expect_keys(payload, ("kind", "messages"))
        messages = _messages(payload.get("messages"), "messages")
        check_order(messages, ends_with="assistant")
        return {"kind": "chat", "messages": messages}
    if kind == "preference":
        _expect_keys(payload, ("kind", "prompt", "chosen", "rejected"))
        prompt = _messages(payload.get("prompt"), "prompt")
        check_order(prompt, ends_with="user")
        chosen = _messages(payload.get("chosen"), "chosen")
        rejected = _messages(payload.get("rejected"), "rejected")
        for name, reply in (("chosen", chosen), ("rejected", rejected)):
            try:
                check_order(prompt + reply, ends_with="assistant")
            except InvalidRecord as e:
                raise InvalidRecord(f"{name}: {e.message}") from None
        if chosen == rejected:
            raise InvalidRecord("chosen and rejected are the same")
        return {"kind": "preference", "prompt": prompt, "chosen": chosen, "rejected": rejected}
    if kind == "text":
        _expect_keys(payload, ("kind", "text"))
        return {"kind": "text", "text": _content(payload.get("text"), "text")}
    raise InvalidRecord(f"kind {kind!r} is not one of {', '.join(KINDS)}")


def _expect_keys(payload: dict, known: tuple[str, ...]) -> None:
    if len(payload) == len(known) and all(k in payload for k in known):
        return
    unknown = sorted(payload.keys() - set(known))
    if unknown:
        raise InvalidRecord(f"unknown key {unknown[0]!r} in a {payload['kind']} payload")


def _content(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRecord(f"{where}: content must be a string, found {_json_type(value)}")
    if not value or value.isspace():
        raise InvalidRecord(f"{where}: content is empty")
    return value


def _messages(value: Any, field: str) -> list[dict[str, Any]]:
    if type(value) is not list:
        raise InvalidRecord(f"{field} must be a list of messages, found {_json_type(value)}")
    if not value:
        raise InvalidRecord(f"{field} is empty")
    for m in value:
        # subtle: the common case, {role, content} with text, is already in normal form; it is
        # kept as it is, which is most of ingest's speed. Anything else takes the checked path.
        if (type(m) is not dict or len(m) != 2 or m.get("role") not in _PLAIN_ROLES
                or type(c := m.get("content")) is not str or not c or c.isspace()):
            return [_message(m, f"{field}[{i}]") for i, m in enumerate(value, 1)]
    return value


def _message(m: Any, where: str) -> dict[str, Any]:
    if not isinstance(m, dict):
        raise InvalidRecord(f"{where}: a message must be an object, found {_json_type(m)}")
    for key in m:
        if key not in _MESSAGE_KEYS:
            raise InvalidRecord(
                f"{where}: unknown key {key!r}; a message has {', '.join(_MESSAGE_KEYS)}"
            )
    role = m.get("role")
    if role not in ROLES:
        raise InvalidRecord(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    content = m.get("content")
    out: dict[str, Any] = {"role": role}
    if role == "assistant" and m.get("tool_calls") and not content:
        out["content"] = ""  # subtle: a pure tool-call turn has no text, and that is valid
    else:
        out["content"] = _content(content, f"{where} ({role})")
    for key in _OPTIONAL_KEYS:
        if m.get(key) is not None:
            out[key] = m[key]
    return out


def check_order(messages: list[dict[str, Any]], ends_with: str) -> None:
    """Roles in a sensible order: system first if at all, a user opens, turns alternate, tool
    results answer an assistant's tool calls and are answered in turn."""
    before = None
    for i, m in enumerate(messages, 1):
        role = m["role"]
        if role == "user":
            if before == "user":
                raise InvalidRecord(f"message {i}: two user messages in a row")
            if before == "tool":
                raise InvalidRecord(f"message {i}: a user message follows a tool result")
        elif role == "assistant":
            if before is None or before == "system":
                raise InvalidRecord(f"message {i}: the conversation must open with a user message")
            if before == "assistant":
                raise InvalidRecord(f"message {i}: two assistant messages in a row")
        elif role == "system":
            if i != 1:
                raise InvalidRecord(f"message {i}: a system message may only come first")
        elif not (i > 1 and (before == "tool" or messages[i - 2].get("tool_calls"))):
            raise InvalidRecord(
                f"message {i}: a tool message must follow an assistant message with tool_calls"
            )
        before = role
    last = messages[-1]
    if last["role"] != ends_with:
        raise InvalidRecord(f"the last message must be from the {ends_with}, not {last['role']}")
    if ends_with == "assistant" and not last["content"]:
        raise InvalidRecord("the last assistant message has no content")


def stats(payload: dict[str, Any]) -> tuple[int, int, bool]:
    """(characters of content, user turns, has a system prompt) — for `show` without re-parsing."""
    if payload["kind"] == "text":
        return len(payload["text"]), 0, False
    if payload["kind"] == "chat":
        messages = payload["messages"]
    else:
        messages = payload["prompt"] + payload["chosen"] + payload["rejected"]
    chars = turns = 0
    for m in messages:
        chars += len(m["content"])
        turns += m["role"] == "user"
    return chars, turns, messages[0]["role"] == "system"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
