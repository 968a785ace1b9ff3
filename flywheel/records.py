"""What one production log line says: the conversation, who and when, and any feedback.

Two shapes are read, and a third for feedback that arrives later:
- an OpenAI chat request and its response, with metadata beside them:
  `{"request": {"model", "messages", "user"?}, "response": {"id", "model", "choices": [{"message"}]},
  "metadata": {"timestamp", "request_id", "user_id", "session_id", "latency_ms"}, "feedback": {...}}`
  (metadata keys may also sit at the top level);
- a plain chat: `{"messages": [..., {"role": "assistant", ...}]}` with the same optional keys;
- a feedback event: `{"request_id": ..., "feedback": {...}}`, about a line logged before or after.

Feedback is `thumb` (up/down, also `thumbs`, true/false, 1/-1), `rating` (a number),
`correction` (the answer the user wanted) and `comment`. A line is known by its request id, else by
the hash of its canonical JSON, so the same line read twice (a copy, an overlap after rotation) is
stored once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gristmill.errors import InvalidRecord
from gristmill.example import Example

_META_KEYS = {
    "request_id": ("request_id", "requestId", "id"),
    "session_id": ("session_id", "sessionId", "conversation_id"),
    "user": ("user_id", "userId", "user"),
    "timestamp": ("timestamp", "ts", "time", "created_at", "created"),
    "latency_ms": ("latency_ms", "latencyMs", "duration_ms"),
    "model": ("model",),
}
_THUMBS = {"up": "up", "down": "down", "true": "up", "false": "down", "1": "up", "-1": "down",
           "+1": "up", "positive": "up", "negative": "down"}


@dataclass(frozen=True)
class Feedback:
    thumb: str | None = None  # up | down
    rating: float | None = None
    score: float | None = None  # an online judge's grade, when the log carries one
    correction: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class LogEntry:
    key: str  # the line's identity: its request id, else sha256 of its canonical JSON
    example: Example | None  # the conversation, prompt and answer; None for a feedback event
    about: str  # the line the feedback is about (its own key, or the event's request id)
    request_id: str | None = None
    session_id: str | None = None
    user: str | None = None
    model: str | None = None
    logged_at: datetime | None = None
    latency_ms: float | None = None
    feedback: Feedback | None = None


def parse_entry(record: dict[str, Any]) -> LogEntry:
    """The entry one log record holds; InvalidRecord names what is wrong with it."""
    request, response = record.get("request"), record.get("response")
    meta = {**_dict(record.get("metadata"), "metadata"), **record}
    if isinstance(request, dict):
        meta = {**_dict(response, "response"), **_dict(request, "request"), **meta}
    found = {name: _first(meta, keys) for name, keys in _META_KEYS.items()}
    if isinstance(response, dict) and found["request_id"] is None:
        found["request_id"] = response.get("id")
    feedback = _feedback(record.get("feedback"))
    example = _conversation(record, request, response)
    request_id = _text(found["request_id"], "request_id")
    if example is None:
        if feedback is None or request_id is None:
            raise InvalidRecord(
                "not a log record: expected `request` and `response` (an OpenAI chat request and "
                "its response), `messages` (a chat ending with the answer), or `request_id` with "
                f"`feedback` (found keys: {', '.join(sorted(record)) or 'none'})")
        key = "feedback:" + _digest(record)
        return LogEntry(key, None, request_id, request_id=request_id, feedback=feedback)
    key = request_id or "sha256:" + _digest(record)
    return LogEntry(
        key, example, key, request_id=request_id,
        session_id=_text(found["session_id"], "session_id"),
        user=_text(found["user"], "user"), model=_text(found["model"], "model"),
        logged_at=_timestamp(found["timestamp"]), latency_ms=_number(found["latency_ms"], "latency_ms"),
        feedback=feedback)


def _conversation(record: dict, request: Any, response: Any) -> Example | None:
    if request is not None or response is not None:
        if not isinstance(request, dict) or not isinstance(response, dict):
            raise InvalidRecord("`request` and `response` must both be objects")
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRecord("request.messages must be a non-empty list of messages")
        choices = response.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict) \
                or not isinstance(choices[0].get("message"), dict):
            raise InvalidRecord("response.choices[0].message is missing: log the response whole")
        answer = choices[0]["message"]
        messages = [*messages, {"role": answer.get("role") or "assistant",
                                "content": answer.get("content")}]
    elif "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise InvalidRecord("messages must be a non-empty list")
    else:
        return None
    if not isinstance(messages[-1], dict) or messages[-1].get("role") != "assistant":
        raise InvalidRecord("the conversation must end with the assistant's answer")
    return Example.chat(messages)


def _feedback(value: Any) -> Feedback | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRecord("feedback must be an object: thumb, rating, correction, comment")
    thumb = value.get("thumb", value.get("thumbs"))
    if thumb is not None:
        shown = str(thumb).lower()
        if shown not in _THUMBS:
            raise InvalidRecord(f"feedback.thumb is {thumb!r}: use up or down")
        thumb = _THUMBS[shown]
    correction = value.get("correction")
    if correction is not None and (not isinstance(correction, str) or not correction.strip()):
        raise InvalidRecord("feedback.correction must be the corrected answer's text")
    out = Feedback(thumb=thumb, rating=_number(value.get("rating"), "feedback.rating"),
                   score=_number(value.get("score"), "feedback.score"), correction=correction,
                   note=_text(value.get("comment", value.get("note")), "feedback.comment"))
    return None if out == Feedback() else out


def _dict(value: Any, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord(f"{name} must be an object")
    return value


def _first(meta: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if meta.get(key) is not None and not isinstance(meta[key], dict | list):
            return meta[key]
    return None


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRecord(f"{name} must be a string")
    return str(value)


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidRecord(f"{name} must be a number, not {value!r}") from None
    return float(value)


def _timestamp(value: Any) -> datetime | None:
    """ISO 8601 text, or seconds (milliseconds past 1e12) since the epoch; stored as UTC."""
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e12 else value
            return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
        when = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        raise InvalidRecord(f"timestamp {value!r} is neither ISO 8601 nor epoch seconds") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def _digest(record: dict) -> str:
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
