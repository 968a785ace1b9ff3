"""Per-item eval metrics: pure functions of one model output and what it is checked against.

Each returns a score in [0, 1], or None when the item has nothing to score (no reference, no
needles, no fields), so a suite can leave such items out of its means rather than count them as
failures. Text comparisons use SQuAD's answer normalization; the heavy lifting is left to the
libraries that do it well: sklearn for classification summaries, jsonschema for schemas, and
gristmill.synth.rouge for ROUGE-L (the same numbers as the Self-Instruct filter).
"""

from __future__ import annotations

import functools
import json
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

from gristmill.synth import rouge

NONE_LABEL = "(none)"  # the column of predictions that named no label
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
# One fenced block wrapping the whole output, as chat models often answer: ```json\n...\n```
_FENCE = re.compile(r"\A```(?:json)?[ \t]*\n(.*?)\n[ \t]*```\Z", re.DOTALL | re.IGNORECASE)


def _is_punct(c: str) -> bool:
    # SQuAD drops ASCII string.punctuation (which holds symbols such as $ and +); we also drop
    # Unicode punctuation (curly quotes, dashes, CJK full stops), but keep letters, digits, emoji.
    return c in string.punctuation or unicodedata.category(c).startswith("P")


def normalize(text: str) -> str:
    """SQuAD-style answer normalization: NFKC, casefold, punctuation and a/an/the removed,
    whitespace collapsed. Punctuation is deleted, not spaced: "don't" -> "dont", "non-toxic" -> "nontoxic"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in text if not _is_punct(c))
    return " ".join(_ARTICLES.sub(" ", text).split())


def _score(hit: bool) -> float:
    return 1.0 if hit else 0.0


def exact(output: str, reference: str | None) -> float | None:
    """1.0 when output and reference are equal but for surrounding whitespace."""
    return None if reference is None else _score(output.strip() == reference.strip())


def normalized(output: str, reference: str | None) -> float | None:
    """1.0 when output and reference are equal after `normalize`."""
    return None if reference is None else _score(normalize(output) == normalize(reference))


def _has_words(haystack: str, needle: str) -> bool:
    # Both normalized (single-spaced words): a whole-word match, so "cat" is not in "concatenate".
    return f" {needle} " in f" {haystack} "


def contains(output: str, needles: list[str], require_all: bool = True) -> float | None:
    """1.0 when the normalized output holds every needle (any, with require_all=False) as whole
    words. A needle that normalizes to nothing ("the", "!") is trivially held."""
    if not needles:
        return None
    out = normalize(output)
    found = (_has_words(out, normalize(n)) for n in needles)
    return _score(all(found) if require_all else any(found))


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regex(output: str, pattern: str) -> float:
    """1.0 when `re.search(pattern, output)` matches; put flags in the pattern, e.g. "(?i)yes"."""
    return _score(_compiled(pattern).search(output) is not None)


def token_f1(output: str, reference: str | None) -> float | None:
    """SQuAD token F1 over normalized words: both empty 1.0, exactly one empty 0.0."""
    if reference is None:
        return None
    pred, gold = normalize(output).split(), normalize(reference).split()
    if not pred or not gold:
        return _score(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def rouge_l(output: str, reference: str | None) -> float | None:
    """ROUGE-L F1 on rouge_score's tokens, as gristmill.synth.rouge computes it."""
    if reference is None:
        return None
    a, b = rouge.tokens(output), rouge.tokens(reference)
    if not a and not b:
        # subtle: those tokens are [a-z0-9] only, so "你好" and "再见" both have none; rouge_score
        # would say 0.0 for any pair, we say whether the texts agree once normalized.
        return _score(normalize(output) == normalize(reference))
    return rouge.rouge_l(a, b)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(output: str) -> tuple[Any, str | None]:
    """(value, None) for strict JSON (no NaN/Infinity), possibly in one ``` or ```json fence that
    wraps the whole output; (None, the problem) otherwise."""
    text = output.strip()
    if (m := _FENCE.match(text)) is not None:
        text = m.group(1).strip()
    if not text:
        return None, "empty output"
    try:
        return json.loads(text, parse_constant=_no_constants), None
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg} at line {e.lineno} column {e.colno}"
    except ValueError as e:
        return None, f"not JSON: {e}"


def json_valid(output: str) -> float:
    """1.0 when `parse_json` reads the output."""
    return _score(parse_json(output)[1] is None)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=64)
def _validator(canonical_schema: str) -> Any:
    # Keyed by the schema's canonical JSON, since dicts are not hashable; the draft is the schema's
    # own $schema (2020-12 when it names none). A broken schema raises SchemaError: a suite bug.
    from jsonschema.validators import validator_for

    schema = json.loads(canonical_schema)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def json_schema(output: str, schema: dict) -> float:
    """1.0 when the output parses and validates against the JSON Schema `schema`."""
    value, problem = parse_json(output)
    return _score(problem is None and _validator(_canonical(schema)).is_valid(value))


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, str) and isinstance(want, str):
        return normalize(got) == normalize(want)
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want  # subtle: Python has True == 1
    return got == want


def field_accuracy(output: str, reference: dict | None, fields: list[str] | None = None) -> float | None:
    """Share of `fields` (default: the reference's keys) whose value in the output's JSON object
    equals the reference's: strings compared normalized, other values with ==. Fields the
    reference lacks are not scored; an output that is not a JSON object scores 0.0."""
    if reference is None:
        return None
    names = [f for f in (list(reference) if fields is None else fields) if f in reference]
    if not names:
        return None
    value, problem = parse_json(output)
    if problem is not None or not isinstance(value, dict):
        return 0.0
    return sum(f in value and _same(value[f], reference[f]) for f in names) / len(names)


def label_of(output: str, labels: list[str]) -> str | None:
    """The label a classification answer names: the one equal to the whole normalized output,
    else the one that appears first in it as whole words (the longer on a tie: "very good" over
    "good"), else None. Negation is not understood: "not positive" names "positive"."""
    out = normalize(output)
    padded = f" {out} "
    best: tuple[int, int] | None = None
    found = None
    for label in labels:
        norm = normalize(label)
        if not norm:
            continue
        if norm == out:
            return label
        at = padded.find(f" {norm} ")
        if at >= 0 and (best is None or (at, -len(norm)) < best):
            best, found = (at, -len(norm)), label
    return found


def accuracy(output: str, reference: str | None, labels: list[str]) -> float | None:
    """1.0 when `label_of(output, labels)` is the reference label (compared normalized)."""
    if reference is None:
        return None
    got = label_of(output, labels)
    return _score(got is not None and normalize(got) == normalize(reference))


PER_ITEM: dict[str, Callable[..., float | None]] = {
    "exact": exact,  # (output, reference)
    "normalized": normalized,  # (output, reference)
    "contains": contains,  # (output, needles, require_all=True)
    "regex": regex,  # (output, pattern)
    "token_f1": token_f1,  # (output, reference)
    "rouge_l": rouge_l,  # (output, reference)
    "json_valid": json_valid,  # (output)
    "json_schema": json_schema,  # (output, schema)
    "field_accuracy": field_accuracy,  # (output, reference: dict, fields=None)
    "accuracy": accuracy,  # (output, reference: label, labels)
}


def classification_summary(predicted: list[str | None], expected: list[str], labels: list[str]) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows expected, columns predicted) of a
    classification suite. A None prediction gets a "(none)" column and counts as wrong; macro-F1
    averages over the given labels that occur in either list, never over "(none)"."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    if len(predicted) != len(expected):
        raise ValueError(f"{len(predicted)} predictions for {len(expected)} expected labels")
    pred = [NONE_LABEL if p is None else p for p in predicted]
    cols = list(labels) + ([NONE_LABEL] if any(p is None for p in predicted) else [])
    unknown = sorted(set(expected) - set(labels)) + sorted(set(pred) - set(cols))
    if unknown:
        raise ValueError(f"labels not in {labels}: {unknown}")
    if not expected:
        return {"labels": cols, "n": 0, "accuracy": None, "macro_f1": None,
                "confusion": [[0] * len(cols) for _ in cols]}
    seen = [label for label in labels if label in set(expected) | set(pred)]
    # subtle: sklearn warns on a 1x1 matrix, which one label with no None predictions makes
    confusion = confusion_matrix(expected, pred, labels=cols).tolist() if len(cols) > 1 else [[len(pred)]]
    return {
        "labels": cols,
        "n": len(expected),
        "accuracy": float(accuracy_score(expected, pred)),
        "macro_f1": float(f1_score(expected, pred, labels=seen, average="macro", zero_division=0)),
        "confusion": confusion,
    }
