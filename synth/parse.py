"""Lenient reading of structured output: endpoints without `response_format` wrap JSON in prose
or code fences, and small models close it early. What cannot be read is reported, never raised."""

from __future__ import annotations

import re
from typing import Any

import orjson

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_json(text: str | None, schema: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    """(value, None) when `text` holds JSON that has the schema's required keys and types at the
    top level; (None, why) otherwise."""
    if not text or not text.strip():
        return None, "empty output"
    value = _first_json(text)
    if value is _MISSING:
        return None, "no JSON found in the output"
    problem = _shape_problem(value, schema) if schema else None
    return (None, problem) if problem else (value, None)


_MISSING = object()


def _first_json(text: str) -> Any:
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return orjson.loads(candidate)
        except orjson.JSONDecodeError:
            pass
    for start, ch in enumerate(text):
        if ch in "{[":
            end = _balanced_end(text, start)
            if end is not None:
                try:
                    return orjson.loads(text[start:end])
                except orjson.JSONDecodeError:
                    continue
    return _MISSING


def _balanced_end(text: str, start: int) -> int | None:
    """Where the bracket opened at `start` closes, skipping strings."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int,
          "number": (int, float)}


def _shape_problem(value: Any, schema: dict[str, Any]) -> str | None:
    want = schema.get("type")
    if want in _TYPES and not isinstance(value, _TYPES[want]):
        return f"expected a JSON {want}"
    if isinstance(value, dict):
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            return f"missing key {missing[0]!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value and sub.get("type") in _TYPES and not isinstance(value[key], _TYPES[sub["type"]]):
                return f"{key!r} is not a JSON {sub['type']}"
            if key in value and "enum" in sub and value[key] not in sub["enum"]:
                return f"{key!r} is not one of {sub['enum']}"
    return None
