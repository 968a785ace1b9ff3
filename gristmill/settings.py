"""Where things live, from flags, then the environment, then defaults."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STORE = "gristmill.duckdb"


def store_path(flag: str | None) -> Path:
    return Path(flag or os.environ.get("GRISTMILL_STORE") or DEFAULT_STORE)
