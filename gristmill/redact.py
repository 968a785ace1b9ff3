"""Credentials out of everything Gristmill stores or prints: one function, `redacted`.

A secret reaches text by many roads: a `user:password@` endpoint URL, a server echoing the
Authorization header in its error, a key pasted in a query string or a command line. Whatever a
column, log line or message may carry passes through `redacted` first. The rules look for the
*shape* of a credential (a header value, a known key prefix, a value named like a secret), so
ordinary prose and the hex hashes of examples pass unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

MARK = "[redacted]"
_TOKEN = r"[A-Za-z0-9+/=._~-]"  # what a header credential is made of (base64, JWT, key)
_VALUE = r"[^\s&\"',;}<>\\]"  # a query or config value; subtle: never `"` or `\`, so JSON stays JSON

_USERINFO = re.compile(r"(?<=://)[^\s/?#\"'<>\\]+@")  # greedy: a password may hold a raw '@'
_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
                     rf"(?:(Basic|Bearer|Token|Digest)\s+)?{_VALUE}+")
_SCHEME = re.compile(rf"\b(Basic|Bearer|Token)\s+({_TOKEN}{{8,}})")
_KEY = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-[A-Za-z0-9_-]{16,}"  # OpenAI, Anthropic and their look-alikes
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|hf_[A-Za-z0-9]{30,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9])")
# names whose value is a secret whatever it looks like; a bare `key` or `token` only when the
# value looks like one (`example_key=12` and `key=train` are not secrets)
_NAMED = re.compile(
    r"(?i)(?<![A-Za-z0-9])((?:aws_)?(?:api[_-]?key|access[_-]?key(?:[_-]id)?|secret(?:[_-]access)?"
    r"(?:[_-]key)?|session[_-]?token|access[_-]?token|auth[_-]?token|refresh[_-]?token|"
    r"client[_-]?secret|password|passwd|key|token)[\"']?\s*[=:]\s*[\"']?)"
    rf"({_VALUE}+)")
_LITERALS = ("true", "false", "null", "none", "None", "True", "False")


def redacted(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every credential replaced by `[redacted]` (or dropped, for a URL's
    `user:password@`); `secrets` are values known to be secret (an API key from the
    environment), replaced wherever they appear, however they look."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MARK)
    text = _USERINFO.sub("", text)
    text = _HEADER.sub(_header, text)
    text = _SCHEME.sub(_scheme, text)
    text = _KEY.sub(MARK, text)
    return _NAMED.sub(_named, text)


def _header(m: re.Match[str]) -> str:
    return f"{m[1]}{m[2] + ' ' if m[2] else ''}{MARK}"


def _scheme(m: re.Match[str]) -> str:
    scheme, value = m[1], m[2]
    secret = _tokenish(value) or (scheme == "Basic" and _basic_pair(value))
    return f"{scheme} {MARK}" if secret else m[0]


def _named(m: re.Match[str]) -> str:
    name, value = m[1], m[2]
    if value.startswith("[") or value in _LITERALS or value.replace(".", "").isdigit():
        return m[0]  # already redacted, or a setting (`"use_token": true`) that must stay JSON
    bare = name.strip("\"' \t:=").lower() in ("key", "token")
    return m[0] if bare and not (len(value) >= 16 and _tokenish(value)) else name + MARK


def _tokenish(value: str) -> bool:
    """Looks machine-made: has a digit or a symbol, or mixes case past its first letter — which
    `Bearer instruments` or `Basic questions` do not."""
    return len(value) >= 8 and (any(not c.isalpha() for c in value)
                                or (len(value) >= 12 and value[1:] != value[1:].lower()))


def _basic_pair(value: str) -> bool:
    """A Basic credential decodes to `user:password`."""
    try:
        return b":" in base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
