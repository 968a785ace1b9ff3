"""Preference pairs: several sampled answers per prompt (one per sampler: a temperature, and
optionally an endpoint of its own), judged pairwise in both orders.

A win counts only when it survives the swap (A wins as A and again as B); anything else is a tie.
The pair is the sample with the most surviving wins (chosen) and, among those it beat, the one
with the fewest (rejected); a prompt with no surviving win yields no pair. The verdicts, with
their call ids, are the pair's evidence.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gristmill.bounds import MaxTokens, Temperature
from gristmill.example import Example
from gristmill.synth.calls import Request
from gristmill.synth.config import GeneratorConfig
from gristmill.synth.inputs import prompt_of, rows
from gristmill.synth.session import Outcome, Produced, Session, commit_output

STEP = "synth:pairs"
VERDICT = {"type": "object", "properties": {"reason": {"type": "string"},
                                            "winner": {"type": "string", "enum": ["A", "B", "tie"]}},
           "required": ["reason", "winner"]}


class Sampler(BaseModel):
    """Where one of a prompt's answers comes from: a temperature, and an endpoint file (default:
    the run's endpoint)."""

    model_config = ConfigDict(extra="forbid")

    temperature: Temperature = 0.7
    endpoint: Path | None = None


class PairsConfig(GeneratorConfig):
    samplers: tuple[Sampler, ...] = Field(
        (Sampler(temperature=0.3), Sampler(temperature=1.0)), min_length=2)  # one answer each
    max_tokens: MaxTokens = 384
    judge_max_tokens: MaxTokens = 256


def pairs(s: Session, ref: str, c: PairsConfig) -> Outcome:
    from gristmill.store.versions import resolve

    with s.store.read() as con:
        source = resolve(con, ref)
    prompts = [(r.example.id, p) for r in rows(s.store, source) if (p := prompt_of(r))]
    prompts = list({_key(p): (i, p) for i, p in prompts}.values())  # one pair per distinct prompt
    counts: dict[str, Any] = {"prompts": len(prompts), "pairs": 0, "no_clear_winner": 0,
                              "failed": 0, "judgements": 0, "swap_consistent": 0}
    produced: list[Produced] = []
    stopped = None
    for start in range(0, len(prompts), c.batch):
        chunk = prompts[start:start + c.batch]
        stopped = _judge_chunk(s, c, chunk, counts, produced)
        s.checkpoint()
        if stopped:
            break
    judged = counts["judgements"]
    counts["swap_consistency"] = round(counts["swap_consistent"] / judged, 4) if judged else None
    stats = counts | ({"stopped": stopped} if stopped else {})
    config = c.model_dump(mode="json") | {"input": source.ref}
    return commit_output(s, dataset=c.into or f"{source.dataset}-pairs", step=STEP, config=config,
                         produced=produced, stats=stats)


def _judge_chunk(s: Session, c: PairsConfig, chunk: list[tuple[str, list[dict]]],
                 counts: dict[str, Any], produced: list[Produced]) -> str | None:
    system = s.options.templates.get("respond").render()
    judge = s.options.templates.get("pairs_judge")
    n = len(c.samplers)
    samples: list = [None] * (len(chunk) * n)
    for k, sampler in enumerate(c.samplers):  # each sampler's answers in one concurrent batch
        asked = s.calls_for(sampler.endpoint).ask([
            Request([{"role": "system", "content": system}, *p] if p[0]["role"] != "system" else p,
                    {"temperature": sampler.temperature, "max_tokens": c.max_tokens, "seed": c.seed + k})
            for _, p in chunk])
        samples[k::n] = asked
    if any(r.status == "skipped" for r in samples):
        return "budget"
    plans = []  # (prompt index, i, j, order) for each judge request
    requests = []
    for pi, (_, prompt) in enumerate(chunk):
        answers = samples[pi * n:(pi + 1) * n]
        for i, j in itertools.combinations(range(n), 2):
            a, b = answers[i], answers[j]
            if not (a.ok and b.ok and (a.content or "").strip() and (b.content or "").strip()):
                continue
            if a.content.strip() == b.content.strip():
                continue
            for first, second in ((i, j), (j, i)):
                plans.append((pi, i, j, first))
                requests.append(Request([{"role": "user", "content": judge.render(
                    prompt=show_prompt(prompt), a=answers[first].content.strip(),
                    b=answers[second].content.strip())}],
                    {"temperature": 0.0, "max_tokens": c.judge_max_tokens, "seed": c.seed},
                    schema=VERDICT))
    verdicts = s.judge.ask(requests)
    if any(v.status == "skipped" for v in verdicts):
        return "budget"
    by_prompt: dict[int, dict[tuple[int, int], list]] = {}
    for (pi, i, j, first), v in zip(plans, verdicts, strict=True):
        by_prompt.setdefault(pi, {}).setdefault((i, j), []).append((first, v))
    for pi, (source_id, prompt) in enumerate(chunk):
        answers = samples[pi * n:(pi + 1) * n]
        if not all(a.ok for a in answers):
            counts["failed"] += 1
            continue
        pair = _decide(by_prompt.get(pi, {}), counts)
        if pair is None:
            counts["no_clear_winner"] += 1
            continue
        chosen, rejected, evidence = pair
        counts["pairs"] += 1
        produced.append(Produced(
            Example.preference(prompt, [{"role": "assistant", "content": answers[chosen].content.strip()}],
                               [{"role": "assistant", "content": answers[rejected].content.strip()}]),
            s.provenance(["respond", "pairs_judge"],
                         [answers[chosen].call_id, answers[rejected].call_id,
                          *(e["call_id"] for e in evidence)],
                         generator="pairs", source_example=source_id,
                         chosen_by=_describe(c.samplers[chosen], s), verdicts=evidence,
                         rejected_by=_describe(c.samplers[rejected], s),
                         judge_model=s.judge.endpoint.model)))
    return None


def _decide(judged: dict[tuple[int, int], list], counts: dict[str, Any]) -> tuple[int, int, list] | None:
    """(chosen, rejected, verdicts) from the pairwise verdicts, or None without a surviving win."""
    beats: dict[int, set[int]] = {}
    evidence = []
    for (i, j), both in judged.items():
        said = {}
        for first, v in both:
            second = j if first == i else i
            winner = v.parsed.get("winner") if v.ok else None
            # the sample the verdict favours, by index; None for a tie or an unreadable verdict
            said[first] = {"A": first, "B": second}.get(winner)
            evidence.append({"a": first, "b": second, "winner": winner,
                             "reason": (v.parsed or {}).get("reason") if v.ok else None,
                             "call_id": v.call_id})
        counts["judgements"] += 1
        if len(said) == 2 and said[i] == said[j]:
            counts["swap_consistent"] += 1
            if said[i] is not None:
                loser = j if said[i] == i else i
                beats.setdefault(said[i], set()).add(loser)
    if not beats:
        return None
    wins = {k: len(v) for k, v in beats.items()}
    chosen = max(sorted(wins), key=lambda k: wins[k])
    rejected = min(sorted(beats[chosen]), key=lambda k: wins.get(k, 0))
    return chosen, rejected, evidence


def _describe(sampler: Sampler, s: Session) -> dict[str, Any]:
    return {"temperature": sampler.temperature, "model": s.calls_for(sampler.endpoint).endpoint.model}


def show_prompt(prompt: list[dict]) -> str:
    """The conversation so far, as the judge reads it."""
    if len(prompt) == 1:
        return prompt[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def _key(prompt: list[dict]) -> str:
    return "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in prompt)
