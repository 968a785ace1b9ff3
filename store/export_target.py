"""Where an export may write: a new path, or what an earlier export wrote there.

`-o PATH` names what a user believes is an output file; a slip (the store's own file, a device, a
link into a system folder, last week's hand-made data) must not cost what is there. An export marks
what it writes with an extended attribute, so a re-run replaces its own output without `--force`;
where the file system keeps no such attribute, replacing any file takes `--force`.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from gristmill.errors import UsageError
from gristmill.store.files import special

MARK = "user.gristmill.export"
STDOUT = "-"


def check(path: Path, store: Path | None, force: bool) -> None:
    """Refuse a target that is not a new path or an earlier export (this one, unless forced)."""
    if store is not None and _is_store_file(path, store):
        raise UsageError(f"{path} is the store's own file; export to a new path")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else special(st.st_mode)
    if kind:
        raise UsageError(f"{path} is {kind}; export writes a regular file (`-o -` writes to "
                         "standard output)")
    if force or marked(path):
        return
    what = "a folder" if stat.S_ISDIR(st.st_mode) else "a file"
    raise UsageError(f"{path} exists and is {what} that gristmill export did not write; name a "
                     "new path, or pass --force to replace it")


def mark(path: Path) -> None:
    """Mark `path` as an export's output; silently nothing where attributes are not kept."""
    try:
        os.setxattr(path, MARK, b"1", follow_symlinks=False)
    except (OSError, AttributeError):
        pass


def marked(path: Path) -> bool:
    try:
        return os.getxattr(path, MARK, follow_symlinks=False) == b"1"
    except (OSError, AttributeError):
        return False


def clear(tmp: Path) -> None:
    """Remove whatever lies at the temporary name, a link itself and never what it points to."""
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()
    elif tmp.exists():
        shutil.rmtree(tmp)


def _is_store_file(path: Path, store: Path) -> bool:
    """The store, its write-ahead log or its lock, by name (a log not yet there included) or
    as the same file under another name (a hard link)."""
    own = [store, Path(f"{store}.wal"), Path(f"{store}.lock")]
    if path.resolve() in {p.resolve() for p in own}:
        return True
    try:
        st = os.stat(path)
    except OSError:
        return False
    for file in own:
        try:
            other = os.stat(file)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            return True
    return False
