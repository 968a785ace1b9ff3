"""The generators `gristmill synth` runs, by name: each a config class and a run function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gristmill.synth.config import GeneratorConfig, load_config
from gristmill.synth.session import Outcome, Session


@dataclass(frozen=True)
class Spec:
    config: type[GeneratorConfig]
    run: Callable[[Session, str, GeneratorConfig], Outcome]


def _specs() -> dict[str, Spec]:
    from gristmill.synth.respond import RespondConfig, respond

    return {"respond": Spec(RespondConfig, respond)}


SPECS = _specs()


def load(name: str, path: Path | None, overrides: list[str], **given) -> GeneratorConfig:
    return load_config(SPECS[name].config, path, overrides, **given)
