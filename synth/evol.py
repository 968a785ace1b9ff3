"""Evol-Instruct (WizardLM, Xu et al. 2023): prompts rewritten harder (in depth) or into new
ones (in breadth) for N rounds, each evolution answered and checked by the elimination rules.

An evolution is eliminated when it adds no information (no new content word, or ROUGE-L against
its parent at or above `same_rouge`), when it copies the rewriting prompt's own words ("given
prompt", "#Rewritten Prompt#"), or when its answer failed (an apology under 80 words, or nothing
but punctuation and stop words). An eliminated lineage keeps its parent and tries again next
round, as in the paper; every survivor becomes an example.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from gristmill.bounds import MaxTokens, Temperature
from gristmill.example import Example
from gristmill.synth.calls import Request
from gristmill.synth.config import GeneratorConfig
from gristmill.synth.inputs import instruction_of, rows
from gristmill.synth.rouge import rouge_l, tokens
from gristmill.synth.session import Outcome, Produced, Session, commit_output

STEP = "synth:evol"
Mutation = Literal["constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth"]
DEPTH = {
    "constraints": "Add one more constraint or requirement to the prompt.",
    "deepen": "If the prompt asks about a specific issue, increase the depth and breadth of the inquiry.",
    "concretize": "Replace general concepts in the prompt with more specific ones.",
    "reasoning": "If the prompt can be solved with a few simple thinking steps, rewrite it to ask "
                 "explicitly for reasoning in several steps.",
    "complicate_input": "Add input data the answer must use, such as a small table, a code snippet "
                        "or a short formatted data sample.",
}
COPIED = ("given prompt", "rewritten prompt", "created prompt", "#rewritten prompt#", "#given prompt#",
          "#created prompt#")
RULES = ("call_failed", "no_new_information", "copied_prompt_words", "failed_response")
STOP_WORDS = frozenset(
    "a an the and or but if then of to in on at by for with about as into from is are was were be "
    "been being this that these those it its i you he she we they me him her us them my your our "
    "their what which who whom how why when where do does did can could should would will shall "
    "may might must not no so than too very just also please".split())


class EvolConfig(GeneratorConfig):
    rounds: int = Field(2, ge=1)
    mutations: tuple[Mutation, ...] = ("constraints", "deepen", "concretize", "reasoning",
                                       "complicate_input", "breadth")
    same_rouge: float = Field(0.95, gt=0, le=1)  # ROUGE-L to the parent at or above which nothing is new
    temperature: Temperature = 0.7
    max_tokens: MaxTokens = 256  # for the rewritten prompt
    response_temperature: Temperature = 0.7
    response_max_tokens: MaxTokens = 512


@dataclass
class Lineage:
    root: str  # the input example's id
    instruction: str
    depth: int = 0


def evol(s: Session, ref: str, c: EvolConfig) -> Outcome:
    from gristmill.store.versions import resolve

    with s.store.read() as con:
        source = resolve(con, ref)
    lineages = [Lineage(r.example.id, text) for r in rows(s.store, source) if (text := instruction_of(r))]
    rng = random.Random(c.seed)
    counts: dict[str, Any] = {"prompts": len(lineages), "evolutions": 0, "survived": 0,
                              "eliminated": dict.fromkeys(RULES, 0),
                              "by_mutation": {m: {"tried": 0, "survived": 0} for m in c.mutations}}
    produced: list[Produced] = []
    stopped = None
    asked = 0
    for round_no in range(1, c.rounds + 1):
        for start in range(0, len(lineages), c.batch):
            chunk = lineages[start:start + c.batch]
            mutations = [rng.choice(c.mutations) for _ in chunk]
            stopped = _evolve(s, c, chunk, mutations, round_no, asked, counts, produced)
            asked += len(chunk)
            s.checkpoint()
            if stopped:
                break
        if stopped:
            break
    stats = counts | ({"stopped": stopped} if stopped else {})
    config = c.model_dump(mode="json") | {"input": source.ref}
    return commit_output(s, dataset=c.into or f"{source.dataset}-evol", step=STEP, config=config,
                         produced=produced, stats=stats)


def _evolve(s: Session, c: EvolConfig, chunk: list[Lineage], mutations: list[str], round_no: int,
            asked: int, counts: dict[str, Any], produced: list[Produced]) -> str | None:
    """One evolution of each lineage in `chunk`; survivors replace their parents."""
    depth, breadth = s.options.templates.get("evol_depth"), s.options.templates.get("evol_breadth")
    requests = []
    for i, (lineage, mutation) in enumerate(zip(chunk, mutations, strict=True)):
        text = (breadth.render(prompt=lineage.instruction) if mutation == "breadth"
                else depth.render(prompt=lineage.instruction, method=DEPTH[mutation]))
        requests.append(Request([{"role": "user", "content": text}],
                                {"temperature": c.temperature, "max_tokens": c.max_tokens,
                                 "seed": c.seed + asked + i}))
    evolved = s.calls.ask(requests)
    if any(r.status == "skipped" for r in evolved):
        return "budget"
    candidates = []
    for lineage, mutation, reply in zip(chunk, mutations, evolved, strict=True):
        counts["evolutions"] += 1
        counts["by_mutation"][mutation]["tried"] += 1
        text = (reply.content or "").strip()
        rule = "call_failed" if not reply.ok or not text else _prompt_rule(lineage.instruction, text, c)
        if rule:
            counts["eliminated"][rule] += 1
        else:
            candidates.append((lineage, mutation, reply, text))
    system = s.options.templates.get("respond").render()
    answers = s.calls.ask([
        Request([{"role": "system", "content": system}, {"role": "user", "content": text}],
                {"temperature": c.response_temperature, "max_tokens": c.response_max_tokens,
                 "seed": c.seed}) for _, _, _, text in candidates])
    for (lineage, mutation, reply, text), answer in zip(candidates, answers, strict=True):
        if answer.status == "skipped":
            return "budget"
        response = (answer.content or "").strip()
        rule = "call_failed" if not answer.ok else _response_rule(response)
        if rule:
            counts["eliminated"][rule] += 1
            continue
        counts["survived"] += 1
        counts["by_mutation"][mutation]["survived"] += 1
        produced.append(Produced(
            Example.chat([{"role": "user", "content": text}, {"role": "assistant", "content": response}]),
            s.provenance(["evol_breadth" if mutation == "breadth" else "evol_depth", "respond"],
                         [reply.call_id, answer.call_id], generator="evol", mutation=mutation,
                         round=round_no, depth=lineage.depth + 1, source_example=lineage.root,
                         evolved_from=lineage.instruction)))
        lineage.instruction, lineage.depth = text, lineage.depth + 1
    return None


def _prompt_rule(parent: str, evolved: str, c: EvolConfig) -> str | None:
    lowered = evolved.lower()
    if any(words in lowered for words in COPIED):
        return "copied_prompt_words"
    before, after = tokens(parent), tokens(evolved)
    if not set(after) - set(before) - STOP_WORDS or rouge_l(before, after) >= c.same_rouge:
        return "no_new_information"
    return None


def _response_rule(response: str) -> str | None:
    words = tokens(response)
    if not words or all(w in STOP_WORDS for w in words):
        return "failed_response"
    if "sorry" in response.lower() and len(response.split()) < 80:
        return "failed_response"
    return None


