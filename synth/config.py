"""Settings every generator shares; each generator's config adds its own and rejects unknown keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gristmill.errors import UsageError


class GeneratorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str | None = None  # the dataset the output goes to (default: per generator)
    seed: int = 0  # every random choice, and the `seed` sent with each request
    batch: int = Field(16, ge=1)  # requests per round; the calls are committed after each


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file of settings, or an error naming the file and what is wrong with it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"cannot read {what} from {path}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: {what} is a mapping of settings")
    return data


def load_config(cls: type[GeneratorConfig], path: Path | None, overrides: list[str],
                **given: Any) -> GeneratorConfig:
    """A generator's config from an optional YAML file, `--set KEY=VALUE` pairs and flags."""
    data = read_mapping(path, "a generator config") if path is not None else {}
    for pair in overrides:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set takes KEY=VALUE, not {pair!r}")
        data[key.strip()] = yaml.safe_load(value) if value else None
    data |= {k: v for k, v in given.items() if v is not None}
    try:
        return cls(**data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: "
            + ("unknown setting" if err["type"] == "extra_forbidden" else err["msg"])
            for err in e.errors())
        raise UsageError(f"{cls.__name__.removesuffix('Config').lower()}: {problems}") from None
