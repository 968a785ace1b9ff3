"""Responses (distillation): a teacher endpoint fills the assistant turn of each prompt in a
version. The originals stay; each answer is a new example marked synthetic, with its source."""

from __future__ import annotations

from typing import Any

from gristmill.bounds import MaxTokens, Temperature
from gristmill.example import Example
from gristmill.synth.calls import Request
from gristmill.synth.config import GeneratorConfig
from gristmill.synth.inputs import prompt_of, rows
from gristmill.synth.session import Outcome, Produced, Session, commit_output

STEP = "synth:respond"


class RespondConfig(GeneratorConfig):
    temperature: Temperature = 0.7
    max_tokens: MaxTokens = 512
    system: bool = True  # add the `respond` template as a system turn where a prompt has none
    keep_originals: bool = True  # the new version holds the input's examples too


def respond(s: Session, ref: str, c: RespondConfig) -> Outcome:
    from gristmill.store.versions import resolve

    with s.store.read() as con:
        source = resolve(con, ref)
    system = s.options.templates.get("respond").render() if c.system else ""
    todo: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = []  # (id, prompt, as sent)
    skipped_kinds = 0
    for row in rows(s.store, source):
        prompt = prompt_of(row)
        if prompt is None:
            skipped_kinds += 1
            continue
        own_system = prompt[0]["role"] == "system"
        sent = prompt if own_system or not system else [{"role": "system", "content": system}, *prompt]
        todo.append((row.example.id, prompt, sent))
    counts = {"prompts": len(todo), "answered": 0, "failed": 0, "empty": 0, "not_asked": 0,
              "no_prompt": skipped_kinds}
    produced: list[Produced] = []
    params = {"temperature": c.temperature, "max_tokens": c.max_tokens, "seed": c.seed}
    stopped = None
    for start in range(0, len(todo), c.batch):
        chunk = todo[start:start + c.batch]
        replies = s.calls.ask([Request(sent, params) for _, _, sent in chunk])
        for (source_id, prompt, _), reply in zip(chunk, replies, strict=True):
            if reply.status == "skipped":
                counts["not_asked"] += 1
                stopped = "budget"
            elif reply.status != "ok":
                counts["failed"] += 1
            elif not (reply.content or "").strip():
                counts["empty"] += 1
            else:
                counts["answered"] += 1
                # the answer, not the instruction we added, is the data
                answer = Example.chat([*prompt, {"role": "assistant", "content": reply.content.strip()}])
                produced.append(Produced(answer, s.provenance(
                    "respond", [reply.call_id], generator="respond", source_example=source_id)))
        s.checkpoint()
        if stopped:
            break
    stats = counts | ({"stopped": stopped} if stopped else {})
    config = c.model_dump(mode="json") | {"input": source.ref}
    return commit_output(s, dataset=c.into or source.dataset, step=STEP, config=config,
                         produced=produced, stats=stats,
                         keep=source if c.keep_originals else None, parent=source)
