"""An eval suite, as YAML: tasks over pinned golden sets, the metrics each declares, how answers
are generated and judged, and the gates that decide whether a candidate may ship.

A golden set is a pinned version (`NAME@N`): the thing every run of the suite is measured on must
not move under it. The built-in tasks `safety` and `mmlu` read data shipped in packages.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gristmill.bounds import BatchSize, Fraction, MaxTokens, Seed, Temperature
from gristmill.errors import UsageError

# per-item metrics and what they need; `judge` and `pairwise` ask an LLM
METRICS = ("exact", "normalized", "contains", "regex", "token_f1", "rouge_l", "json_valid",
           "json_schema", "field_accuracy", "accuracy", "judge", "pairwise")
FORMAT = ("json_valid", "json_schema", "regex")  # format compliance: an absolute floor too
BUILTIN = ("safety", "mmlu")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metric(_Strict):
    """One metric of a task; the arguments a metric does not use are refused."""

    metric: Literal[METRICS]
    name: str | None = None  # how it is shown (default: the metric)
    gate: bool = True  # compared against the baseline by the regression gates
    needles: list[str] | None = None  # contains
    require_all: bool = True  # contains
    pattern: str | None = None  # regex
    schema_: dict[str, Any] | None = Field(None, alias="schema")  # json_schema
    fields: list[str] | None = None  # field_accuracy (default: the reference's keys)
    labels: list[str] | None = None  # accuracy (classification)
    rubric: str | None = None  # judge: what a good answer does
    scale: Literal["pass_fail", "1-5"] = "pass_fail"  # judge
    format: bool | None = None  # held to gates.format_compliance (default: json_*, regex)

    @model_validator(mode="after")
    def _arguments(self) -> Metric:
        need = {"contains": "needles", "regex": "pattern", "json_schema": "schema_",
                "accuracy": "labels"}.get(self.metric)
        if need and getattr(self, need) is None:
            raise ValueError(f"metric {self.metric} needs `{need.rstrip('_')}`")
        if self.pattern is not None:
            import re

            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"regex {self.pattern!r}: {e}") from None
        return self

    @property
    def label(self) -> str:
        return self.name or self.metric

    @property
    def is_format(self) -> bool:
        return self.format if self.format is not None else self.metric in FORMAT

    @property
    def uses_judge(self) -> bool:
        return self.metric in ("judge", "pairwise")


class Task(_Strict):
    name: str
    data: str | None = None  # a pinned golden set, NAME@N (not for built-in tasks)
    builtin: Literal[BUILTIN] | None = None
    limit: int | None = Field(None, ge=1)  # the first N items by id (a seeded, stable subset)
    slice_by: str | None = None  # a metadata key whose values get a table of their own
    max_tokens: MaxTokens | None = None  # over the suite's (built-ins: mmlu 8, safety 32)
    metrics: list[Metric] = Field(default_factory=list)

    @field_validator("metrics", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        """`rouge_l` is `{metric: rouge_l}`."""
        if isinstance(value, list):
            return [{"metric": m} if isinstance(m, str) else m for m in value]
        return value

    @model_validator(mode="after")
    def _data(self) -> Task:
        if (self.data is None) == (self.builtin is None):
            raise ValueError(f"task {self.name}: give either `data: NAME@N` or `builtin: "
                             f"{' | '.join(BUILTIN)}`")
        if self.data is not None:
            _, _, number = self.data.partition("@")
            if not number.isdigit():
                raise ValueError(f"task {self.name}: a golden set is pinned: `data: "
                                 f"{self.data.partition('@')[0]}@N`, not {self.data!r}")
            if not self.metrics:
                raise ValueError(f"task {self.name}: declare at least one metric")
        elif self.metrics:
            raise ValueError(f"task {self.name}: the built-in {self.builtin} task has its own "
                             "metrics")
        return self


class Generation(_Strict):
    """Pinned and recorded with every output: the cache key includes all of it."""

    max_tokens: MaxTokens = 128
    temperature: Temperature = 0.0
    top_p: float = Field(1.0, gt=0, le=1)
    seed: Seed = 0
    system: str | None = None  # a system prompt put before items that have none
    batch_size: BatchSize = 32  # in-process generation: 32 runs ~1.4x faster than 16 on CPU


class Judge(_Strict):
    endpoint: Path | None = None  # an endpoint file (default: the embedded llama.cpp server)
    max_tokens: MaxTokens = 256
    temperature: Temperature = 0.0
    repeats: int = Field(1, ge=1, le=100)  # each judgement asked N times, with distinct seeds
    calibration: str | None = None  # human labels: a JSONL file or a dataset ref
    concurrency: int | None = Field(None, ge=1, le=1024)


class Gates(_Strict):
    """The seeds' defaults: a relative drop under 2% passes, 2-5% warns, over 5% fails."""

    warn: Fraction = 0.02  # relative drops
    fail: Fraction = 0.05
    format_compliance: float = Field(0.995, ge=0, le=1)
    min_agreement: float = Field(0.80, ge=0, le=1)  # judge vs humans
    max_swap_inconsistency: float = Field(0.10, ge=0, le=1)
    pairwise: bool = True  # fail when the candidate's win rate interval lies below 0.5
    contamination: bool = True  # fail on a golden item found in the candidate's training data

    @model_validator(mode="after")
    def _order(self) -> Gates:
        if self.fail < self.warn:
            raise ValueError(f"gates: fail ({self.fail}) is below warn ({self.warn})")
        return self


class Suite(_Strict):
    name: str
    tasks: list[Task] = Field(min_length=1)
    generation: Generation = Field(default_factory=Generation)
    judge: Judge = Field(default_factory=Judge)
    gates: Gates = Field(default_factory=Gates)
    bootstrap: int = Field(2000, ge=100, le=1_000_000)  # resamples per interval

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        names = [t.name for t in self.tasks]
        if dup := {n for n in names if names.count(n) > 1}:
            raise ValueError(f"task names repeat: {', '.join(sorted(dup))}")
        return self

    def digest(self) -> str:
        data = self.model_dump(mode="json", by_alias=True)
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    @property
    def judged(self) -> bool:
        return any(m.uses_judge for t in self.tasks for m in t.metrics)


def load_suite(path: Path, overrides: list[str] | None = None) -> Suite:
    """A suite from YAML; `--set` pairs reach the top-level settings (`gates.fail=0.1`)."""
    from gristmill.settings import load_config

    if not path.is_file():
        raise UsageError(f"no suite file {path}")
    nested: dict[str, list[str]] = {}
    flat = []
    for pair in overrides or []:
        key, dot, rest = pair.partition(".")
        (nested.setdefault(key, []).append(rest) if dot else flat.append(pair))
    suite = load_config(Suite, path, flat)
    for section, pairs in nested.items():
        current = getattr(suite, section, None)
        if not isinstance(current, BaseModel):
            raise UsageError(f"--set {section}.…: no settings section {section!r}")
        data = current.model_dump() | _pairs(pairs)
        suite = suite.model_copy(update={section: load_config(type(current), None, [], **data)})
    return suite


def _pairs(pairs: list[str]) -> dict[str, Any]:
    from gristmill import yamlfile

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set takes KEY=VALUE, not {pair!r}")
        out[key.strip()] = yamlfile.parse(value, f"--set {key.strip()}") if value else None
    return out
