"""Where things live, from flags, then the environment, then defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gristmill import yamlfile
from gristmill.errors import UsageError

DEFAULT_STORE = "gristmill.duckdb"
M = TypeVar("M", bound=BaseModel)


def store_path(flag: str | None) -> Path:
    return Path(flag or os.environ.get("GRISTMILL_STORE") or DEFAULT_STORE)


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file of settings, or an error naming the file and what is wrong with it."""
    data = yamlfile.read(path, what) or {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: {what} is a mapping of settings")
    return data


def load_config(cls: type[M], path: Path | None, overrides: list[str], **given: Any) -> M:
    """A config from an optional YAML file, `--set KEY=VALUE` pairs and flags, in that order."""
    what = cls.__name__.removesuffix("Config").lower()
    data = read_mapping(path, f"a {what} config") if path is not None else {}
    for pair in overrides:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set takes KEY=VALUE, not {pair!r}")
        data[key.strip()] = yamlfile.parse(value, f"--set {key.strip()}") if value else None
    data |= {k: v for k, v in given.items() if v is not None}
    try:
        return cls(**data)
    except ValidationError as e:
        problems = "; ".join(
            (f"{'.'.join(map(str, err['loc']))}: " if err["loc"] else "")  # a cross-field check
            + ("unknown setting" if err["type"] == "extra_forbidden" else err["msg"])
            for err in e.errors())
        raise UsageError(f"{what}: {problems}") from None
