"""Exact and MinHash dedup as shuffles: rows meet the rows they may duplicate by hash key (the
normalized text's digest, or an LSH band), clusters are connected components computed across
tasks, and each cluster keeps the member the keep policy ranks first."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import ray

from gristmill.curation import keep as keeping
from gristmill.curation.clusters import band_keys, band_pairs, jaccard, shingle_sets
from gristmill.curation.exact import ExactDedup, cluster_table
from gristmill.curation.exact import removal as exact_removal
from gristmill.curation.minhash import MinHashDedup
from gristmill.curation.minhash import removal as near_removal
from gristmill.curation.rows import Context
from gristmill.curation.signatures import sign_all
from gristmill.curation.text import render
from gristmill.scale.components import components
from gristmill.scale.joins import by_home, pair_join
from gristmill.scale.parts import drops_of, keys_of, row_count, rows_of
from gristmill.scale.result import Result
from gristmill.scale.tasks import Frame, bucket, call, concat, gather, objects, scatter, size, split


def run_exact(step: ExactDedup, parts: list, n: int, ctx: Context) -> Result:
    outs = gather(_exact_keep, scatter(_exact_keys, parts, n, step), const=(step,), n_out=3)
    counts = ray.get([o[2] for o in outs])
    return Result([o[0] for o in outs], tables=[("clusters", [o[1] for o in outs])],
                  stats={"clusters": sum(counts)})


def _exact_keys(part: pa.Table, n: int, step: ExactDedup) -> list[Frame]:
    rows = rows_of(part)
    digests = [step.key(r) for r in rows]
    frame = {"digest": objects(digests), "rank": objects([keeping.rank(r, step.config.keep)
                                                         for r in rows]),
             "key": keys_of(part), "id": objects([r.example.id for r in rows])}
    where = bucket(np.array([int.from_bytes(d[:8], "little", signed=True) for d in digests],
                            np.int64), n)
    return split(frame, where, n)


def _exact_keep(step: ExactDedup, *pieces: Frame) -> tuple:
    f = concat(pieces)
    best = keeping.winners(f["digest"], f["rank"])
    drops, pairs = [], []
    scope = step.config.scope
    for i, digest in enumerate(f["digest"]):
        kept = best[digest]
        if kept != i:
            kept_id = f["id"][kept]
            drops.append((int(f["key"][i]), f["id"][i], *exact_removal(kept_id, scope)))
            pairs.append((int(f["key"][i]), int(f["key"][kept])))
    return drops_of(drops), cluster_table(step.name, pairs), len({k for _, k in pairs})


def run_minhash(step: MinHashDedup, parts: list, n: int, ctx: Context) -> Result:
    bands, rows = step.banding()
    signed = [call(_sign, part, n, step, bands, rows, n_out=n + 1) for part in parts]
    nodes = [s[n] for s in signed]  # key, id, rank of every row, at its home
    pairs = gather(_band_pairs, [s[:n] for s in signed], const=(n,), n_out=n + 1)
    n_pairs = sum(ray.get([p[n] for p in pairs]))
    edges = pair_join([p[:n] for p in pairs], parts, n, step, _payload, _score, _edges)
    labels = components(edges, n)
    members = gather(_members, [], nodes, labels, const=(n,), n_out=n)
    chosen = gather(_keep, members, const=(n, step.config.keep), n_out=n + 1)
    n_clusters = sum(ray.get([ch[n] for ch in chosen]))
    outs = pair_join([ch[:n] for ch in chosen], parts, n, step, _payload, _score, _drops, n_out=2)
    n_edges = sum(ray.get([call(size, e) for e in edges]))
    return Result([o[0] for o in outs], tables=[("clusters", [o[1] for o in outs])],
                  stats={"signatures_computed": sum(ray.get([call(row_count, p) for p in parts])),
                         "signatures_reused": 0,
                      "bands": bands, "rows": rows, "candidate_pairs": n_pairs,
                      "edges": n_edges, "clusters": n_clusters})


def _sign(part: pa.Table, n: int, step: MinHashDedup, bands: int, rows: int) -> list[Frame]:
    got = rows_of(part)
    keys = keys_of(part)
    sigs = sign_all([render(r.example, step.config.scope) for r in got], step.shingling,
                    step.prepare)
    records = []
    for band in range(bands):
        bk = band_keys(sigs, band, rows).astype(np.int64) if len(got) else np.empty(0, np.int64)
        records.append({"band": np.full(len(got), band, np.int64), "bk": bk, "key": keys})
    frame = concat(records, {"band": keys[:0], "bk": keys[:0], "key": keys[:0]})
    mixed = frame["bk"] ^ (frame["band"] * np.int64(0x3C6EF372FE94F82B))
    node = {"key": keys, "id": objects([r.example.id for r in got]),
            "rank": objects([keeping.rank(r, step.config.keep) for r in got])}
    return [*split(frame, bucket(mixed, n), n), node]


def _band_pairs(n: int, *pieces: Frame) -> list:
    f = concat(pieces)
    order = np.lexsort((f["key"], f["bk"], f["band"]))
    band, bk, key = f["band"][order], f["bk"][order], f["key"][order]
    found = [np.empty((0, 2), np.int64)]
    for lo, hi in _runs(band):
        found.append(key[lo:hi][band_pairs(bk[lo:hi])])
    pairs = np.unique(np.sort(np.concatenate(found), axis=1), axis=0)
    return [*by_home({"a": pairs[:, 0], "b": pairs[:, 1]}, "a", n), len(pairs)]


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    start = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1]))) if len(values) \
        else np.empty(0, np.intp)
    ends = np.append(start[1:], len(values))
    return list(zip(start.tolist(), ends.tolist(), strict=True))


def _payload(step: MinHashDedup, rows: list) -> list:
    texts = [render(r.example, step.config.scope) for r in rows]
    if step.config.verify:
        return shingle_sets([step.prepare(t) for t in texts], step.shingling)
    return list(sign_all(texts, step.shingling, step.prepare))


def _score(a, b) -> float:
    if isinstance(a, frozenset):
        return jaccard(a, b)
    return float((a == b).mean())


def _edges(step: MinHashDedup, f: Frame) -> Frame:
    keep = f["score"] >= step.config.threshold if step.config.verify else \
        np.ones(size(f), bool)
    return {"a": f["a"][keep], "b": f["b"][keep]}


def _members(n: int, nodes: Frame, labels: Frame) -> list[Frame]:
    """The clustered rows of this home with their root, id and rank, sent to the root's task."""
    at = np.searchsorted(nodes["key"], labels["node"])
    member = {"root": labels["root"], "key": labels["node"], "id": nodes["id"][at],
              "rank": nodes["rank"][at]}
    return split(member, bucket(member["root"], n), n)


def _keep(n: int, policy: str, *pieces: Frame) -> list:
    """Each cluster's survivor by the keep policy; the others as (dropped, kept) pairs."""
    f = concat(pieces)
    best = keeping.winners(f["root"].tolist(), f["rank"])
    kept = np.array([best[r] for r in f["root"].tolist()], np.intp)
    lost = kept != np.arange(size(f))
    pairs = {"a": f["key"][lost], "b": f["key"][kept[lost]], "id": f["id"][lost],
             "kept_id": f["id"][kept[lost]]}
    return [*by_home(pairs, "a", n), len(best)]


def _drops(step: MinHashDedup, f: Frame) -> tuple:
    drops, pairs, scores = [], [], []
    for a, b, dropped, kept, s in zip(f["a"].tolist(), f["b"].tolist(), f["id"], f["kept_id"],
                                      f["score"].tolist(), strict=True):
        s = round(s, 4)
        drops.append((a, dropped, *near_removal(kept, s)))
        pairs.append((a, b))
        scores.append(s)
    return drops_of(drops), cluster_table(step.name, pairs, scores)
