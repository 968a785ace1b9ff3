"""The text a step looks at: an example rendered for a scope, and normalized for comparison."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from gristmill.example import Example

Scope = Literal["conversation", "prompt", "response"]
Normalization = Literal["nfkc", "case", "whitespace", "punctuation"]
_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")


def messages(example: Example, scope: Scope = "conversation") -> list[dict]:
    """The messages in scope: the whole conversation, the prompt (all but the answer) or the
    response (the final answer; a preference's chosen one). Text examples are one user turn."""
    p = example.payload
    if example.kind == "text":
        return [{"role": "user", "content": p["text"]}]
    if example.kind == "preference":
        prompt, answer = p["prompt"], p["chosen"]
    else:
        prompt, answer = p["messages"][:-1], p["messages"][-1:]
    if scope == "prompt":
        return prompt
    if scope == "response":
        return answer
    return prompt + answer


def render(example: Example, scope: Scope = "conversation") -> str:
    """One string per example: each message's content on its own line, prefixed by its role."""
    return "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in messages(example, scope))


def content(example: Example, scope: Scope = "conversation") -> str:
    """Like `render`, without roles: what embeddings and n-grams compare."""
    return "\n".join(m.get("content") or "" for m in messages(example, scope))


def first_user(example: Example) -> str:
    for m in messages(example, "prompt"):
        if m["role"] == "user":
            return m.get("content") or ""
    return content(example)


def normalize(text: str, how: tuple[Normalization, ...] | list[Normalization]) -> str:
    if "nfkc" in how:
        text = unicodedata.normalize("NFKC", text)
    if "case" in how:
        text = text.casefold()
    if "punctuation" in how:
        text = _PUNCT.sub(" " if "whitespace" in how else "", text)
    if "whitespace" in how:
        text = _SPACE.sub(" ", text).strip()
    return text
