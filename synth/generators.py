"""The generators `gristmill synth` runs, by name: each a config class and a run function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gristmill.settings import load_config
from gristmill.synth.config import GeneratorConfig
from gristmill.synth.session import Outcome, Session


@dataclass(frozen=True)
class Spec:
    config: type[GeneratorConfig]
    run: Callable[[Session, str, GeneratorConfig], Outcome]


def _specs() -> dict[str, Spec]:
    from gristmill.synth.evol import EvolConfig, evol
    from gristmill.synth.pairs import PairsConfig, pairs
    from gristmill.synth.respond import RespondConfig, respond
    from gristmill.synth.self_instruct import SelfInstructConfig, self_instruct

    return {"self-instruct": Spec(SelfInstructConfig, self_instruct),
            "evol": Spec(EvolConfig, evol), "respond": Spec(RespondConfig, respond),
            "pairs": Spec(PairsConfig, pairs)}


SPECS = _specs()


def load(name: str, path: Path | None, overrides: list[str], **given) -> GeneratorConfig:
    return load_config(SPECS[name].config, path, overrides, **given)
