"""The seeds' pre-training checks over one version: format, lengths, label balance, duplicates,
split overlap and tokenization. Each check says ok, warn or fail with its numbers, so a person
(or a CI job) can read in one screen whether a version is fit to train on.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gristmill.curation.filters import malformed
from gristmill.curation.rows import VersionRows
from gristmill.curation.split import meta_value
from gristmill.curation.text import content, normalize, render
from gristmill.store.db import Store
from gristmill.store.versions import Version

DUPLICATE_WARN = 0.10  # the seeds: a 10% duplicate rate is normal, more says collection trouble
_SAME = ("nfkc", "case", "whitespace", "punctuation")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skipped
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def audit(store: Store, version: Version, label: str | None = None,
          tokenizer: str | None = None, max_tokens: int | None = None) -> list[Check]:
    """Read the version once and run every check on what was read."""
    invalid: list[tuple[str, str]] = []
    chars: list[int] = []
    prompts: Counter[bytes] = Counter()
    conversations: Counter[bytes] = Counter()
    labels: Counter[str] = Counter()
    split_prompts: dict[str, set[bytes]] = {}
    splits = _splits(store, version)
    examples = []
    for row in VersionRows(store, version, meta=label is not None):
        ex = row.example
        if (problem := malformed(ex)) is not None:
            invalid.append((ex.id, problem))
        chars.append(len(content(ex)))
        prompt = _digest(render(ex, "prompt"))
        prompts[prompt] += 1
        conversations[_digest(render(ex))] += 1
        if label is not None:
            labels[str(meta_value(row, (label,)))] += 1
        if row.key in splits:
            split_prompts.setdefault(splits[row.key], set()).add(prompt)
        if tokenizer:
            examples.append(ex)
    n = len(chars)
    return [
        _format(n, invalid), _lengths(chars), _balance(labels, label),
        _duplicates(n, prompts, conversations), _overlap(split_prompts, bool(splits)),
        _tokens(examples, tokenizer, max_tokens),
    ]


def _digest(text: str) -> bytes:
    return hashlib.blake2b(normalize(text, _SAME).encode(), digest_size=16).digest()


def _splits(store: Store, version: Version) -> dict[int, str]:
    with store.read() as con:
        return dict(con.execute("SELECT example_key, split FROM splits WHERE version_id = ?",
                                [version.version_id]).fetchall())


def _format(n: int, invalid: list[tuple[str, str]]) -> Check:
    if not invalid:
        return Check("format", "ok", f"all {n:,} examples are well-formed")
    return Check("format", "fail", f"{len(invalid):,} of {n:,} examples are malformed",
                 {"examples": [{"id": i, "problem": p} for i, p in invalid[:20]]})


def histogram(values: list[int], bins: int = 20) -> list[tuple[int, int, int]]:
    """(low, high, count) bins over the values, for the HTML page."""
    if not values:
        return []
    low, high = min(values), max(values)
    width = max(1, -(-(high - low + 1) // bins))
    counts = Counter((v - low) // width for v in values)
    return [(low + b * width, low + (b + 1) * width - 1, counts.get(b, 0))
            for b in range((high - low) // width + 1)]


def _quantiles(values: list[int]) -> dict[str, int]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"min": ordered[0], "p5": pick(0.05), "p50": pick(0.5), "p95": pick(0.95),
            "max": ordered[-1]}


def _lengths(chars: list[int]) -> Check:
    if not chars:
        return Check("lengths", "fail", "the version is empty")
    q = _quantiles(chars)
    details = {"chars": q, "histogram": histogram(chars)}
    summary = f"characters p5 {q['p5']:,} / p50 {q['p50']:,} / p95 {q['p95']:,} / max {q['max']:,}"
    if q["p5"] == q["p95"]:  # the seeds: all samples one length teaches length, not content
        return Check("lengths", "warn", summary + "; every example is about the same length",
                     details)
    outliers = sum(c > 10 * q["p95"] for c in chars)
    if outliers:
        return Check("lengths", "warn", f"{summary}; {outliers:,} example(s) over 10x p95",
                     details | {"outliers": outliers})
    return Check("lengths", "ok", summary, details)


def _balance(labels: Counter[str], key: str | None) -> Check:
    if key is None:
        return Check("label balance", "skipped", "no --label KEY given")
    if not labels or set(labels) == {"None"}:
        return Check("label balance", "warn", f"no example has a label {key!r} in its metadata")
    top, bottom = labels.most_common()[0], labels.most_common()[-1]
    ratio = top[1] / bottom[1]
    summary = (f"{len(labels)} labels; largest {top[0]!r} {top[1]:,}, smallest {bottom[0]!r} "
               f"{bottom[1]:,} (ratio {ratio:.1f})")
    return Check("label balance", "warn" if ratio > 10 else "ok", summary,
                 {"counts": dict(labels.most_common())})


def _duplicates(n: int, prompts: Counter[bytes], conversations: Counter[bytes]) -> Check:
    same_conv = sum(c - 1 for c in conversations.values())
    same_prompt = sum(c - 1 for c in prompts.values())
    rate = same_prompt / n if n else 0.0
    summary = (f"{same_conv:,} normalized copies of a conversation, {same_prompt:,} repeated "
               f"prompts ({rate:.1%})")
    status = "fail" if same_conv else "warn" if rate > DUPLICATE_WARN else "ok"
    return Check("duplicates", status, summary, {"conversations": same_conv,
                                                 "prompts": same_prompt, "prompt_rate": rate})


def _overlap(split_prompts: dict[str, set[bytes]], has_splits: bool) -> Check:
    if not has_splits:
        return Check("split overlap", "skipped", "the version has no splits (curate --step split)")
    pairs = {}
    names = sorted(split_prompts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs[f"{a}/{b}"] = len(split_prompts[a] & split_prompts[b])
    shared = sum(pairs.values())
    sizes = ", ".join(f"{s} {len(split_prompts[s]):,}" for s in names)
    if shared:
        return Check("split overlap", "fail", f"{shared:,} prompts appear in two splits ({sizes})",
                     {"pairs": pairs})
    return Check("split overlap", "ok", f"no prompt appears in two splits ({sizes} prompts)",
                 {"pairs": pairs})


def _tokens(examples: list, tokenizer: str | None, max_tokens: int | None) -> Check:
    if not tokenizer:
        return Check("tokenization", "skipped", "no --tokenizer given")
    from gristmill.curation.tokens import TokenCounter

    counter, counts, failed = TokenCounter(tokenizer), [], []
    for start in range(0, len(examples), 512):
        batch = examples[start:start + 512]
        try:
            counts += counter.count(batch)
        except Exception:  # noqa: BLE001 - find which example the template refuses
            for ex in batch:
                try:
                    counts += counter.count([ex])
                except Exception as e:  # noqa: BLE001
                    failed.append({"id": ex.id, "error": str(e)[:200]})
    if not counts:
        return Check("tokenization", "fail", "no example could be tokenized", {"failed": failed})
    q = _quantiles(counts)
    over = sum(c > max_tokens for c in counts) if max_tokens else 0
    summary = f"tokens ({tokenizer}) p50 {q['p50']:,} / p95 {q['p95']:,} / max {q['max']:,}"
    if max_tokens:
        summary += f"; {over:,} over max_tokens {max_tokens:,}"
    status = "fail" if failed else "warn" if over else "ok"
    if failed:
        summary += f"; {len(failed):,} failed to render"
    return Check("tokenization", status, summary,
                 {"tokens": q, "histogram": histogram(counts), "over": over, "failed": failed})
