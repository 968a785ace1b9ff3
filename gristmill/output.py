"""How commands speak: a table or JSON on stdout, one summary line at the end, bars on a TTY."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from typing import Any


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def summary(args: Namespace, line: str) -> None:
    """The one line every command ends with; on stderr when stdout carries JSON."""
    print(line, file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def progress(args: Namespace) -> bool:
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
