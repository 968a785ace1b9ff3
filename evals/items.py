"""What a task asks: each golden item's prompt, its reference answer and its metadata.

A chat item's prompt is the conversation up to its last user turn and its reference the assistant
turn after it; a preference item's reference is its chosen answer. Items come in id order, so a
`limit` takes the same stable subset on every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gristmill.errors import UsageError
from gristmill.evals.suite import Task
from gristmill.store.db import Store


@dataclass(frozen=True)
class Item:
    id: str  # the golden example's content id
    prompt: list[dict[str, Any]]
    reference: Any = None  # the expected answer (text, a label, a JSON object) or None
    meta: dict[str, Any] = field(default_factory=dict)


def load_items(store: Store, task: Task) -> tuple[list[Item], str]:
    """The task's items and where they came from (a pinned ref, or a built-in's data digest)."""
    if task.builtin is not None:
        from gristmill.evals import builtin

        items, origin = builtin.items(task.builtin)
    else:
        items, origin = _golden(store, task.data), task.data
    items.sort(key=lambda i: i.id)
    return items[:task.limit] if task.limit else items, origin


def _golden(store: Store, ref: str) -> list[Item]:
    from gristmill.store.versions import resolve
    from gristmill.synth.inputs import prompt_of, rows

    with store.read() as con:
        version = resolve(con, ref)
    items = []
    for row in rows(store, version):
        prompt = prompt_of(row)
        if prompt is None:
            raise UsageError(f"{ref}: item {row.example.id[:12]} is a text example; a golden set "
                             "holds chats or preference pairs")
        items.append(Item(row.example.id, prompt, _reference(row.example, len(prompt)),
                          {k: v for k, v in row.meta.items() if not k.startswith("_")}))
    if not items:
        raise UsageError(f"{ref} has no items")
    return items


def _reference(example, n_prompt: int) -> Any:
    from gristmill.evals.metrics import parse_json

    if example.kind == "preference":
        answer = example.payload["chosen"]
    else:
        answer = example.payload["messages"][n_prompt:]
    text = next((m["content"] for m in answer if m["role"] == "assistant"), None)
    if text is None:
        return None
    value, problem = parse_json(text)
    return value if problem is None and isinstance(value, dict) else text
