"""Connected components over an edge list that no task holds whole: the alternating large-star
and small-star rounds of Kiveris et al. ("Connected Components in MapReduce and Beyond", 2014).

Each round is one hash shuffle of the edges by node. A large-star links every neighbour larger
than a node to the smallest node it sees; a small-star links a node and its smaller neighbours
to the smallest of them. The rounds end when an alternation leaves the edge set unchanged: then
every component is a star around its smallest node, the label every member gets.
"""

from __future__ import annotations

import numpy as np

from gristmill.scale.tasks import Frame, bucket, call, concat, gather, scatter, size, split

MAX_ROUNDS = 64  # each alternation at least halves the work on any path; far past what is needed


def components(edges: list, n: int) -> list:
    """Frames of (node, root) for every node in an edge, root the smallest node of its
    component; frame j holds the nodes whose `bucket(node, n)` is j. `edges` are refs of
    frames with int64 columns a, b."""
    parts = [call(_normal, e) for e in edges]
    seen = None
    for _ in range(MAX_ROUNDS):
        parts = gather(_large_star, scatter(_both_ways, parts, n))
        parts = gather(_small_star, scatter(_down, parts, n))
        digest = sum_digests([call(_digest, p) for p in parts])
        if digest == seen:
            break
        seen = digest
    else:
        raise RuntimeError(f"connected components did not settle in {MAX_ROUNDS} rounds")
    return gather(_labels, scatter(_by_node, parts, n))


def sum_digests(refs: list) -> tuple[int, int]:
    import ray

    found = ray.get(refs)
    return sum(c for c, _ in found), sum(h for _, h in found) % (1 << 64)


def _normal(frame: Frame) -> Frame:
    """Edges as (larger, smaller), self-loops and repeats gone."""
    a, b = frame["a"].astype(np.int64), frame["b"].astype(np.int64)
    big, small = np.maximum(a, b), np.minimum(a, b)
    keep = big != small
    pairs = np.unique(np.stack([big[keep], small[keep]], 1), axis=0) if keep.any() else \
        np.empty((0, 2), np.int64)
    return {"a": pairs[:, 0], "b": pairs[:, 1]}


def _both_ways(frame: Frame, n: int) -> list[Frame]:
    src = np.concatenate([frame["a"], frame["b"]])
    dst = np.concatenate([frame["b"], frame["a"]])
    return split({"src": src, "dst": dst}, bucket(src, n), n)


def _down(frame: Frame, n: int) -> list[Frame]:
    return split({"src": frame["a"], "dst": frame["b"]}, bucket(frame["a"], n), n)


def _grouped(pieces: tuple[Frame, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges by source, each source's smallest neighbour (or itself) repeated on its edges."""
    f = concat(pieces, {"src": np.empty(0, np.int64), "dst": np.empty(0, np.int64)})
    src, dst = f["src"], f["dst"]
    if not len(src):
        return src, dst, src
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    start = np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))
    low = np.minimum(np.minimum.reduceat(dst, start), src[start])
    return src, dst, np.repeat(low, np.diff(np.append(start, len(src))))


def _large_star(*pieces: Frame) -> Frame:
    src, dst, low = _grouped(pieces)
    up = dst > src
    return _normal({"a": dst[up], "b": low[up]})


def _small_star(*pieces: Frame) -> Frame:
    src, dst, low = _grouped(pieces)  # every edge arrives at its larger end
    return _normal({"a": np.concatenate([dst, src]), "b": np.concatenate([low, low])})


def _digest(frame: Frame) -> tuple[int, int]:
    from gristmill.curation.signatures import fmix64

    mixed = fmix64(frame["a"].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                   ^ frame["b"].astype(np.uint64))
    return size(frame), int(mixed.sum(dtype=np.uint64))


def _by_node(frame: Frame, n: int) -> list[Frame]:
    """Star edges (member, root) to the member's reducer, and each root to its own."""
    node = np.concatenate([frame["a"], frame["b"]])
    root = np.concatenate([frame["b"], frame["b"]])
    return split({"node": node, "root": root}, bucket(node, n), n)


def _labels(*pieces: Frame) -> Frame:
    f = concat(pieces, {"node": np.empty(0, np.int64), "root": np.empty(0, np.int64)})
    if not len(f["node"]):
        return f
    order = np.lexsort((f["root"], f["node"]))
    node, root = f["node"][order], f["root"][order]
    first = np.concatenate(([True], node[1:] != node[:-1]))
    return {"node": node[first], "root": root[first]}
