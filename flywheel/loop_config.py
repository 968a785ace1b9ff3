"""FLYWHEEL.yaml: what one turn of the loop does, validated; unknown keys are errors.

Paths in the file are read relative to the file's folder, so a loop's config, suite and
training settings travel together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gristmill.errors import UsageError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Logs(_Strict):
    source: Path  # a log file (rotated copies included) or a folder
    dataset: str = "logs"
    pii: Literal["placeholder", "pseudonym", "off"] = "placeholder"
    commit_every: int = Field(5000, ge=1, le=1_000_000)  # lines held until a commit


class Drift(_Strict):
    threshold: float = Field(0.2, ge=0, le=2)  # a cosine distance between centroids
    # subtle: the two-sample test holds (2 window)^2 kernel matrices: about 10 GB at 10,000
    window: int = Field(500, ge=2, le=10_000)


class JudgeLogs(_Strict):
    """Grade new logged answers with an LLM judge before mining (see `flywheel judge`)."""

    endpoint: Path | None = None  # default: the embedded llama.cpp server
    limit: int = Field(200, ge=1)
    scale: Literal["pass_fail", "1-5"] = "pass_fail"
    rubric: str | None = None


class Mine(_Strict):
    low_rating: float = 2.0  # on whatever scale the logs' ratings use, so any number
    low_score: float = Field(0.5, ge=0, le=1)


class Merge(_Strict):
    into: str  # the training dataset: each turn with new data commits a version of it
    # corrections: the mined SFT examples; approved: logged chats with a thumb up, a rating of
    # 4 or more or a reviewer's good label; unflagged: every curated chat that is not a failure
    include: list[Literal["corrections", "approved", "unflagged"]] = ["corrections", "approved"]


class Synth(_Strict):
    """A generator run over the merged version (as `gristmill synth GENERATOR`); its output is
    merged into the training dataset too."""

    generator: Literal["self-instruct", "evol", "respond", "pairs"] = "evol"
    config: Path | None = None  # the generator's settings (YAML)
    set: list[str] = []  # KEY=VALUE overrides
    endpoint: Path | None = None  # default: the embedded llama.cpp server


class Train(_Strict):
    kind: Literal["sft", "dpo"] = "sft"
    config: Path | None = None  # a training config (gristmill train sft --config)
    set: dict[str, Any] = {}  # settings laid over it
    base: str | None = None


class Eval(_Strict):
    suite: Path
    baseline: str | None = None  # default: the line's production model, else the base
    set: list[str] = []  # suite overrides, as `eval run --set`


class Shadow(_Strict):
    sample: int = Field(24, ge=1)  # recent production prompts the candidate answers
    gate: bool = True  # a win rate whose whole interval is under 50% fails the turn


class Flywheel(_Strict):
    name: str
    logs: Logs
    curate: str | None = "sft"  # a recipe file or a shipped recipe; null: no curation
    curate_set: list[str] = []  # STEP.KEY=VALUE overrides
    drift: Drift | None = Field(default_factory=Drift)  # null: no drift check
    judge: JudgeLogs | None = None
    mine: Mine = Field(default_factory=Mine)
    merge: Merge
    synth: Synth | None = None
    train: Train = Field(default_factory=Train)
    eval: Eval
    shadow: Shadow | None = Field(default_factory=Shadow)
    promote: Literal["candidate", "staging"] = "staging"  # where a candidate that passes goes
    webhook: str | None = None  # POSTed a JSON summary when the gate fails or a stage errs
    reports: Path = Path("flywheel-reports")


def load_flywheel(path: Path) -> Flywheel:
    from gristmill.settings import load_config

    if not path.is_file():
        raise UsageError(f"no flywheel file {path}")
    return _relative_to(load_config(Flywheel, path, []), path.resolve().parent)


def _relative_to(config: Flywheel, folder: Path) -> Flywheel:
    def at(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else folder / p

    curate = config.curate
    if curate is not None and (folder / curate).is_file():
        curate = str(folder / curate)
    update: dict[str, Any] = {
        "logs": config.logs.model_copy(update={"source": at(config.logs.source)}),
        "train": config.train.model_copy(update={"config": at(config.train.config)}),
        "eval": config.eval.model_copy(update={"suite": at(config.eval.suite)}),
        "reports": at(config.reports), "curate": curate}
    if config.judge is not None:
        update["judge"] = config.judge.model_copy(update={"endpoint": at(config.judge.endpoint)})
    if config.synth is not None:
        update["synth"] = config.synth.model_copy(update={"endpoint": at(config.synth.endpoint),
                                                          "config": at(config.synth.config)})
    return config.model_copy(update=update)
