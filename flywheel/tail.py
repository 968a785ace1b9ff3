"""Which log files a SOURCE names, how each is known across rotation, and its new lines.

A file is known by its fingerprint, the hash of its first line, not by its path: logrotate
renames `app.jsonl` to `app.jsonl.1` (and may gzip it later), and the renamed file still has
the first line it had, so its cursor follows it. A file whose first line changed in place was
truncated and rewritten (copytruncate) and is read from the start; a file shorter than its
cursor was truncated too. Two files with the same first line are one file copied; the longer is
read. Only complete lines (ended by a newline) are consumed: a line still being written waits
for the next run.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gristmill.errors import GristmillError
from gristmill.store import readers

FINGERPRINT_BYTES = 1 << 16  # a first line longer than this is known by its first 64 KiB
_BOM = b"\xef\xbb\xbf"
_SUFFIXES = (".jsonl", ".json", ".ndjson", ".log")


@dataclass(frozen=True)
class LogFile:
    path: Path
    fingerprint: str | None  # None: no complete first line yet
    size: int  # bytes on disk (compressed for .gz)
    mtime: float


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line of the file
    raw: bytes | None  # None: over the size limit (skipped unread)
    size: int
    end: int  # byte offset just past this line's newline: the cursor after it


def discover(source: Path) -> list[LogFile]:
    """The files under SOURCE, oldest first: a folder's log files, or a file and its rotated
    siblings (`app.jsonl.1`, `app.jsonl.2.gz`, `app.jsonl-20261101`)."""
    if source.is_dir():
        paths = [p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")
                 and any(s in p.name for s in _SUFFIXES)]
    else:
        siblings = source.parent.glob(source.name + "*") if source.parent.is_dir() else []
        paths = [p for p in siblings if p.is_file() and
                 (p == source or p.name[len(source.name)] in ".-_")]
        if not paths:
            raise GristmillError(f"no such log file: {source} (nor a rotated copy of it)")
    found = [LogFile(p.resolve(), fingerprint(p), (st := p.stat()).st_size, st.st_mtime)
             for p in paths]
    found.sort(key=lambda f: (f.mtime, _rotation_age(f.path)))
    longest: dict[str, LogFile] = {}
    for f in found:
        if f.fingerprint is not None and (f.fingerprint not in longest
                                          or _length(f) > _length(longest[f.fingerprint])):
            longest[f.fingerprint] = f
    return [f for f in found if f.fingerprint is None or longest[f.fingerprint] is f]


def fingerprint(path: Path) -> str | None:
    head = _head(path)
    if head.startswith(_BOM):
        head = head[3:]
    end = head.find(b"\n")
    if end < 0 and len(head) < FINGERPRINT_BYTES - 3:
        return None
    first = head if end < 0 else head[:end]
    return hashlib.sha256(first.rstrip(b"\r")).hexdigest()


def start_of(path: Path) -> int:
    """Where line 1 begins: past a UTF-8 byte-order mark."""
    return 3 if _head(path, 3) == _BOM else 0


def new_lines(path: Path, offset: int, first_number: int, max_bytes: int) -> Iterator[Line]:
    """The complete lines from byte `offset` on (line `first_number` there)."""
    if offset == 0:
        offset = start_of(path)
    end = offset
    try:
        for number, raw, size, complete in readers.lines(path, max_bytes, offset):
            if not complete:
                return  # subtle: still being written; the cursor stays before it
            end += size + 1
            yield Line(first_number + number - 1, raw, size, end)
    except readers.FileProblem as e:
        raise GristmillError(f"{path}: {e}") from None


def _head(path: Path, n: int = FINGERPRINT_BYTES) -> bytes:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read(n)
    except (OSError, EOFError) as e:
        raise GristmillError(f"cannot read the log file {path}: {e}") from None


def _length(f: LogFile) -> int:
    if not f.path.name.endswith(".gz"):
        return f.size
    with gzip.open(f.path, "rb") as g:
        return g.seek(0, 2)


def _rotation_age(path: Path) -> int:
    """`app.jsonl.3` is older than `app.jsonl.1`, which is older than `app.jsonl`: the tie-break
    when rotation left equal modification times."""
    for part in reversed(path.name.split(".")):
        if part.isdigit():
            return -int(part)
    return 0
