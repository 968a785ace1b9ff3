"""What generators read from a version: the prompt of each example, in key order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gristmill.curation.rows import VersionRows
from gristmill.curation.step import Row
from gristmill.store.db import Store
from gristmill.store.versions import Version


def prompt_of(row: Row) -> list[dict[str, Any]] | None:
    """The messages up to and including the last user turn; None for a text example."""
    payload = row.example.payload
    if row.example.kind == "preference":
        return payload["prompt"]
    if row.example.kind != "chat":
        return None
    messages = payload["messages"]
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    return None if last_user is None else messages[:last_user + 1]


def instruction_of(row: Row) -> str | None:
    """A task's instruction: the ingested Self-Instruct field when there is one, else the first
    user turn."""
    if isinstance(row.meta.get("instruction"), str):
        return row.meta["instruction"]
    prompt = prompt_of(row)
    users = [m["content"] for m in prompt or () if m["role"] == "user"]
    return users[0] if users else None


def rows(store: Store, version: Version) -> Iterator[Row]:
    for batch in VersionRows(store, version, meta=True).batches():
        yield from batch
