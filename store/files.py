"""What a path may be before anything reads or writes it, and a gzip reader that stops a flood.

A FIFO, device or socket is no input (reading may never end: a FIFO without a writer, /dev/zero)
and no output (export would replace it); and a few MB of gzip can unpack into GBs of nothing.
"""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

NOTHING_BYTES = 16 << 20  # unpacked whitespace, before any record, that ends a gzip read


def special(mode: int) -> str | None:
    """'a FIFO', 'a device' or 'a socket' for such a file's mode; None for a file or folder."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


class Flood(Exception):
    """A gzip unpacked far past its size with nothing but whitespace in it."""


class GuardedGzip(gzip.GzipFile):
    """gzip that stops when a few bytes unpack into a flood with nothing in it: a 3 MB file of
    newlines is 3 GB of blank lines, which would take many minutes to say "no records"."""

    def __init__(self, path: Path, mode: str = "rb"):
        super().__init__(path, mode)
        self._limit = max(NOTHING_BYTES, 10 * path.stat().st_size)
        self._seen = False  # a byte other than whitespace has come

    def _check(self, data: bytes) -> bytes:
        if not self._seen:
            if data.strip():
                self._seen = True
            elif self.tell() > self._limit:
                raise Flood(f"it unpacks to more than {self._limit / (1 << 20):.1f} MiB with no "
                            "record yet (only whitespace, from a file of a fraction of that): a "
                            "compression bomb?")
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._check(super().read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._check(super().read1(size))
