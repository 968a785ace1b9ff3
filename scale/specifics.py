"""The rare-token weights of `Specifics` across a cluster: document frequencies are counted in
the task their token hashes to, and rows that need weights ask that task for their tokens'."""

from __future__ import annotations

from collections import Counter

import numpy as np
import ray

from gristmill.curation.semantic import weight as idf_weight
from gristmill.scale.parts import home
from gristmill.scale.tasks import Frame, bucket, call, concat, gather, size, split, text_hash


def weights_for(counted: list, asks: list[list], n: int) -> list:
    """Per home, {key: {token: weight}}. `counted`: refs of frames with a `tokens` column (sets),
    every row the frequencies count; `asks`: per home, n frames (key, token) split by
    `token_bucket`."""
    counts = gather(_df, [call(_token_counts, c, n, n_out=n) for c in counted])
    total = sum(ray.get([call(size, c) for c in counted]))
    answered = gather(_weigh, asks, counts, const=(total, n), n_out=n)
    return [call(_collect, *[a[i] for a in answered]) for i in range(n)]


def token_bucket(tokens: list[str], n: int) -> np.ndarray:
    return bucket(text_hash(tokens), n) if tokens else np.empty(0, np.intp)


def _token_counts(node: Frame, n: int) -> list[Counter]:
    counts: Counter = Counter()
    for tokens in node["tokens"]:
        counts.update(tokens)
    tokens = list(counts)
    where = token_bucket(tokens, n)
    out = [Counter() for _ in range(n)]
    for token, b in zip(tokens, where.tolist(), strict=True):
        out[b][token] = counts[token]
    return out


def _df(*pieces: Counter) -> Counter:
    total: Counter = Counter()
    for piece in pieces:
        total.update(piece)
    return total


def _weigh(total: int, n: int, df: Counter, *asks: Frame) -> list[Frame]:
    f = concat(asks)
    f["weight"] = np.array([idf_weight(total, df[t]) for t in f["token"]], np.float64)
    return split(f, home(f["key"], n), n)


def _collect(*answers: Frame) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for f in answers:
        for key, token, w in zip(f["key"].tolist(), f["token"], f["weight"].tolist(), strict=True):
            out.setdefault(key, {})[token] = w
    return out


