"""The common case at C speed: a JSON line that is a plain chat ({"messages": [{"role",
"content"}, ...]}, system/user/assistant, text content), decoded and type-checked by msgspec and
re-encoded in canonical form without building Python dicts.

It only ever accepts: anything it does not accept goes the general way (orjson, the format
readers, `normalize`), which also gives the error message. Both ways give the same bytes — a
test holds them to it, and msgspec writes strings exactly as orjson does.
"""

from __future__ import annotations

import hashlib

import msgspec


class _Message(msgspec.Struct, forbid_unknown_fields=True):
    content: str  # fields in canonical (sorted) order
    role: str


class _Chat(msgspec.Struct, forbid_unknown_fields=True):
    messages: list[_Message]


class _Payload(msgspec.Struct):
    kind: str
    messages: list[_Message]


_decode = msgspec.json.Decoder(_Chat).decode
_encode = msgspec.json.Encoder().encode


def plain_chat(line: bytes, max_bytes: int) -> tuple | None:
    """(id, kind, canonical, chars, user turns, has system) of a valid plain chat, else None."""
    try:
        messages = _decode(line).messages
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    chars = turns = 0
    before = None
    for m in messages:  # the rules of gristmill.example.check_order, for these three roles
        role, content = m.role, m.content
        if not content or content.isspace():
            return None
        if role == "user":
            if before == "user":
                return None
            turns += 1
        elif role == "assistant":
            if before is None or before == "system" or before == "assistant":
                return None
        elif role != "system" or before is not None:
            return None
        chars += len(content)
        before = role
    if before != "assistant":
        return None
    canonical = _encode(_Payload("chat", messages))
    if len(canonical) > max_bytes:
        return None
    return hashlib.sha256(canonical).hexdigest(), "chat", canonical, chars, turns, \
        messages[0].role == "system"
