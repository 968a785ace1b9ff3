"""What a curation step is: a small class with one job that reads rows and returns decisions.

A `Filter` answers keep or drop, with a reason code and evidence, one example at a time. A
`Transform` returns new content for a batch (so it can batch through a model). A step that needs
the whole version at once (dedup, leakage, splits) subclasses `Step` and implements `run`. Steps
never write to the store: the runner commits their `Decisions` as one version, so a step is
testable alone on a few rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from gristmill.example import Example

if TYPE_CHECKING:
    import pyarrow as pa

    from gristmill.curation.rows import Context


class StepConfig(BaseModel):
    """A step's settings; unknown keys are errors, every field has the seeds' default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Row:
    """One member of the input version. `key` is the store's surrogate key (its order of first
    arrival), None for content a dry run rewrote and never stored."""

    key: int | None
    example: Example
    meta: dict[str, Any] = field(default_factory=dict)  # the first source's tags and extra keys


@dataclass(frozen=True, slots=True)
class Drop:
    reason: str  # a short code, e.g. exact_duplicate
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rewrite:
    example: Example
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decisions:
    """What a step decided about its input: every dropped id with why, every rewrite, an optional
    split per id, intermediate tables to store with the version, and step-specific stats."""

    drops: dict[str, Drop] = field(default_factory=dict)
    rewrites: dict[str, Rewrite] = field(default_factory=dict)  # old id -> new content
    splits: dict[str, str] | None = None  # id -> train | val | test
    tables: list[tuple[str, pa.Table]] = field(default_factory=list)  # (store table, rows)
    stats: dict[str, Any] = field(default_factory=dict)

    def drop(self, example_id: str, reason: str, message: str, **evidence: Any) -> None:
        self.drops[example_id] = Drop(reason, message, evidence)


class Step:
    """One job over a version. Subclasses set `name`, `Config` and implement `run`."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for `curate --help` and the recipe docs
    Config: ClassVar[type[StepConfig]] = StepConfig

    def __init__(self, config: StepConfig):
        self.config = config

    def resolved_config(self, ctx: Context) -> dict[str, Any]:
        """The config the version records and is reused by; steps that name other versions
        (leakage) pin them here, so a changed eval set is a new config."""
        return self.config.model_dump(mode="json")

    def needs_meta(self) -> bool:
        """Whether rows must carry their sources' metadata (for a keep policy); loading it costs
        a join, so only steps that ask get it."""
        return False

    def run(self, rows: Rows, ctx: Context) -> Decisions:
        raise NotImplementedError


class Rows(Iterable[Row]):
    """The input version's members in key order, streamed in batches."""

    def batches(self, size: int = 2048) -> Iterator[list[Row]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Row]:
        for batch in self.batches():
            yield from batch

    def __len__(self) -> int:
        raise NotImplementedError


class ListRows(Rows):
    """Rows held in memory: for tests, and for library callers with a few examples."""

    def __init__(self, rows: Iterable[Row | Example]):
        self.rows = [r if isinstance(r, Row) else Row(i, r) for i, r in enumerate(rows, 1)]

    def batches(self, size: int = 2048) -> Iterator[list[Row]]:
        for start in range(0, len(self.rows), size):
            yield self.rows[start:start + size]

    def __len__(self) -> int:
        return len(self.rows)


class Filter(Step):
    """Keep or drop, one example at a time."""

    def check(self, example: Example) -> Drop | None:
        raise NotImplementedError

    def run(self, rows: Rows, ctx: Context) -> Decisions:
        decisions = Decisions()
        for row in rows:
            if (drop := self.check(row.example)) is not None:
                decisions.drops[row.example.id] = drop
        return decisions


class Transform(Step):
    """New content for a batch of examples; None leaves one as it is, a `Drop` removes it."""

    batch_size: ClassVar[int] = 256

    def apply(self, batch: list[Example]) -> list[Rewrite | Drop | None]:
        raise NotImplementedError

    def run(self, rows: Rows, ctx: Context) -> Decisions:
        decisions = Decisions()
        for batch in rows.batches(self.batch_size):
            examples = [r.example for r in batch]
            for example, outcome in zip(examples, self.apply(examples), strict=True):
                if isinstance(outcome, Drop):
                    decisions.drops[example.id] = outcome
                elif outcome is not None and outcome.example.id != example.id:
                    decisions.rewrites[example.id] = outcome
        return decisions
