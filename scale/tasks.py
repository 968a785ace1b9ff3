"""Tasks, frames and the hash shuffle the distributed steps are built from.

A frame is a dict of equal-length numpy arrays: what moves between tasks. A shuffle is Ray's
own pattern of a map task returning one piece per reducer (`num_returns`) and a reduce task
taking the pieces meant for it; the object store carries the pieces and spills them to disk
when memory runs short, and a task lost with its worker is run again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import ray

from gristmill.curation.signatures import fmix64

Frame = dict[str, np.ndarray]


@ray.remote
def _run(fn: Callable, n_out: int, *args: Any) -> Any:
    out = fn(*args)
    return tuple(out) if n_out > 1 else out


def call(fn: Callable, *args: Any, n_out: int = 1) -> Any:
    """`fn(*args)` as a Ray task; object refs among `args` arrive resolved. With `n_out` > 1
    `fn` returns a sequence and this returns one ref per item."""
    refs = _run.options(num_returns=n_out).remote(fn, n_out, *args)
    return list(refs) if n_out > 1 else refs


def scatter(fn: Callable, parts: Sequence[Any], n: int, *extra: Any) -> list[list[Any]]:
    """Run `fn(part, n, *extra)` on every part; each returns `n` frames, one per reducer."""
    return [_as_list(call(fn, part, n, *extra, n_out=n)) for part in parts]


def gather(fn: Callable, pieces: list[list[Any]], *per_reducer: Sequence[Any],
           const: tuple = (), n_out: int = 1) -> list[Any]:
    """Reducer j runs `fn(*const, per_reducer_1[j], ..., *the pieces meant for j)`."""
    n = len(pieces[0]) if pieces else len(per_reducer[0])
    return [call(fn, *const, *(e[j] for e in per_reducer), *(p[j] for p in pieces), n_out=n_out)
            for j in range(n)]


def _as_list(refs: Any) -> list[Any]:
    return refs if isinstance(refs, list) else [refs]


def objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array (numpy would make a 2-d one of a list of tuples)."""
    out = np.empty(len(values), object)
    out[:] = list(values)
    return out


def bucket(values: np.ndarray, n: int) -> np.ndarray:
    """Which of `n` reducers an int64 key goes to: its mixed hash, so runs of keys spread."""
    return (fmix64(values.astype(np.uint64)) % np.uint64(n)).astype(np.intp)


def split(frame: Frame, where: np.ndarray, n: int) -> list[Frame]:
    """`frame` cut into `n` frames by each row's bucket, rows in their order within each."""
    order = np.argsort(where, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(where, minlength=n))))
    return [{k: v[order[bounds[i]:bounds[i + 1]]] for k, v in frame.items()} for i in range(n)]


def concat(frames: Sequence[Frame], like: Frame | None = None) -> Frame:
    """One frame of many with the same columns; `like` gives the columns when there are none."""
    frames = [f for f in frames if f]
    if not frames:
        return {k: v[:0] for k, v in (like or {}).items()}
    return {k: np.concatenate([f[k] for f in frames]) for k in frames[0]}


def size(frame: Frame) -> int:
    return len(next(iter(frame.values()))) if frame else 0


def text_hash(texts: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash of each string (Python's own `hash` differs between processes)."""
    return np.array([int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
                     for t in texts], np.uint64).astype(np.int64)
