"""From signatures to duplicate clusters: LSH banding, candidate pairs, Jaccard, union-find.

Banding groups rows by a 64-bit hash of each band (the equivalent of datasketch's LSH tables,
built by one sort per band instead of a dict insert per key). Pairs come from each group: every
pair in a small group; in a large one, each row with its next few rows and with the group's first,
so a cluster of thousands of copies costs linear, not quadratic, work.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from gristmill.curation.signatures import Shingling, fmix64, shingle_hashes

SMALL_GROUP = 8  # groups with at most this many rows pair all of them


@cache
def lsh_params(threshold: float, num_perm: int, recall_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted false positive and false negative probabilities at
    `threshold`, by datasketch's own optimization (MinHashLSH's `weights`)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm,
                     weights=(1.0 - recall_weight, recall_weight))
    return lsh.b, lsh.r


def band_keys(signatures: np.ndarray, band: int, rows: int) -> np.ndarray:
    """One 64-bit key per row for the band's slice of its signature."""
    part = signatures[:, band * rows:(band + 1) * rows].astype(np.uint64)
    key = np.zeros(len(signatures), np.uint64)
    for column in part.T:
        key = fmix64(key * np.uint64(0x100000001B3) + column)
    return key


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Unique (i, j) row pairs, i < j, sharing at least one band: an (n, 2) int64 array."""
    found = [band_pairs(band_keys(signatures, band, rows)) for band in range(bands)]
    if not found:
        return np.empty((0, 2), np.int64)
    pairs = np.sort(np.concatenate(found).astype(np.int64), axis=1)
    return np.unique(pairs, axis=0)


def band_pairs(keys: np.ndarray) -> np.ndarray:
    """Pairs of positions whose keys are equal, from the groups of equal keys in position order:
    every pair in a small group; in a large one, each row with its next few rows and with the
    group's first. The distributed engine calls this on a band's rows in key order, so it pairs
    exactly the rows this process pairs."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    start = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    size = np.diff(np.append(start, len(keys)))
    start, size = start[size > 1], size[size > 1]
    if not len(start):
        return np.empty((0, 2), np.int64)
    members = np.repeat(size, size)  # group size and position for every grouped row
    first = np.repeat(start, size)
    at = first + np.arange(len(members)) - np.repeat(np.cumsum(size) - size, size)
    position = at - first
    found = []
    for gap in range(1, min(SMALL_GROUP, int(size.max()))):
        ok = position + gap < members
        found.append(np.stack([order[at[ok]], order[at[ok] + gap]], 1))
    far = position >= SMALL_GROUP  # subtle: in a large group, the first links the far rows
    found.append(np.stack([order[first[far]], order[at[far]]], 1))
    return np.concatenate(found).astype(np.int64)


def shingle_sets(texts: Sequence[str], shingling: Shingling) -> list[frozenset[int]]:
    """Each text's set of shingle hashes: what the true Jaccard is computed on."""
    if not texts:
        return []
    hashes, counts = shingle_hashes(texts, shingling)
    return [frozenset(part.tolist()) for part in np.split(hashes, np.cumsum(counts)[:-1])]


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b)  # every text has at least one shingle


def estimated_jaccard(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    return (signatures[pairs[:, 0]] == signatures[pairs[:, 1]]).mean(axis=1)


def components(pairs: np.ndarray) -> dict[int, list[int]]:
    """Union-find over the pairs: root -> members (sorted), for rows in at least one pair."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    for i, j in pairs.tolist():
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for x in sorted(parent):
        groups.setdefault(find(x), []).append(x)
    return groups
