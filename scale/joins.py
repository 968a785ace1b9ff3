"""Scoring pairs of rows that live in different partitions: a pair goes to the home of its
first row, picks up what the score needs of that row, then to the home of its second row,
where it is scored. Only the rows in pairs are read twice; nothing is gathered in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from gristmill.curation.step import Row
from gristmill.scale.parts import home, rows_of
from gristmill.scale.tasks import Frame, concat, gather, objects, size, split

# what a score needs of each row: {key: value} for the wanted keys of a partition's rows
Payload = Callable[[Any, list[Row]], list[Any]]
Finish = Callable[[Any, Frame], Any]  # (step, frame with a score column) -> the task's output


def pair_join(pairs: list[list], parts: list, n: int, step: Any, payload: Payload,
              score: Callable[[Any, Any], float], finish: Finish, n_out: int = 1) -> list:
    """`pairs`: scattered frames with int64 columns a, b (and any more, carried along), piece j
    meant for home j of `a`. Returns, per partition, `finish(step, pairs with a score)`."""
    attached = gather(_attach, pairs, parts, const=(n, step, payload), n_out=n)
    return gather(_score, attached, parts, const=(step, payload, score, finish), n_out=n_out)


def by_home(frame: Frame, column: str, n: int) -> list[Frame]:
    return split(frame, home(frame[column], n), n)


def _values(step: Any, part: pa.Table, keys: np.ndarray, payload: Payload) -> dict[int, Any]:
    wanted = np.isin(part.column("key").to_numpy(), keys)
    rows = rows_of(part.filter(pa.array(wanted)))
    return dict(zip((r.key for r in rows), payload(step, rows), strict=True))


def _attach(n: int, step: Any, payload: Payload, part: pa.Table, *pieces: Frame) -> list[Frame]:
    f = concat(pieces)
    if not size(f):
        return [f | {"value_a": objects([])}] * n
    _, first = np.unique(np.stack([f["a"], f["b"]], 1), axis=0, return_index=True)
    f = {k: v[np.sort(first)] for k, v in f.items()}
    values = _values(step, part, f["a"], payload)
    f["value_a"] = objects([values[k] for k in f["a"].tolist()])
    return by_home(f, "b", n)


def _score(step: Any, payload: Payload, score: Callable, finish: Finish, part: pa.Table,
           *pieces: Frame) -> Any:
    f = concat(pieces)
    if size(f):
        values = _values(step, part, f["b"], payload)
        f["score"] = np.array([score(va, values[b]) for va, b in
                               zip(f.pop("value_a"), f["b"].tolist(), strict=True)], np.float64)
    else:
        f.pop("value_a")
        f["score"] = np.empty(0, np.float64)
    return finish(step, f)
