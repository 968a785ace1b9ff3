"""How commands speak: a table or JSON on stdout, one summary line at the end, bars on a TTY.

File names, dataset names and metadata are the user's (or an attacker's) bytes: whatever text goes
to a terminal passes through `printable`, so an escape sequence in a name cannot clear the screen
or retitle the window.
"""

from __future__ import annotations

import json
import re
import sys
from argparse import Namespace
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (\x9b is a one-byte CSI)
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps \t and \n
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_JSON_RAW = re.compile(r"[\x7f-\x9f]")  # what json.dumps leaves raw with ensure_ascii=False


def printable(text: str, lines: bool = True) -> str:
    """`text` with control characters shown as escapes (`\\x1b`, `\\r`); with `lines`, newlines
    and tabs stay, for a message that spans lines; without, they are escaped too, for a table
    cell or a line that must stay one line."""
    return (_CONTROL_BUT_LINES if lines else _CONTROL).sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    return _NAMED.get(m[0]) or f"\\x{ord(m[0]):02x}"


def emit_json(data: Any) -> None:
    """Exact JSON: control characters are JSON escapes (`\\u001b`), never raw bytes."""
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write(_JSON_RAW.sub(lambda m: f"\\u{ord(m[0]):04x}", text) + "\n")


def echo(line: str) -> None:
    """One line of a command's text output, its control characters (newlines too) escaped."""
    print(printable(line, lines=False))


def error(command: str, message: str) -> None:
    """The CLI's one error line on stderr: credentials redacted, control characters escaped (a
    message names the user's files and may quote a server's answer)."""
    from gristmill.redact import redacted

    print(f"gristmill {command}: {printable(redacted(message))}", file=sys.stderr)


def summary(args: Namespace, line: str, to_stderr: bool = False) -> None:
    """The one line every command ends with; on stderr when stdout carries JSON or data."""
    on_stderr = to_stderr or getattr(args, "json", False)
    print(printable(line), file=sys.stderr if on_stderr else sys.stdout)


def progress(args: Namespace) -> bool:
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """Aligned columns; a cell's control characters, newlines included, are escaped."""
    cells = [headers] + [["" if v is None else printable(str(v), lines=False) for v in row]
                         for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
