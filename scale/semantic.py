"""Semantic dedup across a cluster: each partition embeds its rows, every partition's vectors
are searched against every other's as a sharded faiss index, neighbours above the threshold are
edges, and the keep pass runs per connected component (a row's fate depends only on its
component), with the rare-token weights of `specifics` joined from a distributed count."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import ray

from gristmill.curation import keep as keeping
from gristmill.curation.embed import FIELDS, encode, vector_table
from gristmill.curation.exact import cluster_table
from gristmill.curation.rows import Context
from gristmill.curation.semantic import (
    MARGIN,
    SemanticDedup,
    Specifics,
    best,
    keep_pass,
    nearest,
    removal,
)
from gristmill.curation.semantic import overlap as weighted_overlap
from gristmill.scale.components import components
from gristmill.scale.parts import drops_of, home, keys_of, rows_of
from gristmill.scale.result import Result
from gristmill.scale.specifics import token_bucket, weights_for
from gristmill.scale.tasks import Frame, bucket, call, concat, gather, objects, size, split

NO_VECTORS = pa.table({"example_key": pa.array([], pa.int64()), "model": pa.array([], pa.string()),
                       "field": pa.array([], pa.string()),
                       "vector": pa.array([], pa.list_(pa.float32()))})


def run_semantic(step: SemanticDedup, parts: list, n: int, ctx: Context) -> Result:
    c = step.config
    cached = cached_vectors(ctx, c.model, c.scope, n)
    embedded = [call(_embed, part, cache, step, n_out=4) for part, cache in zip(parts, cached, strict=True)]
    vectors, nodes = [e[0] for e in embedded], [e[1] for e in embedded]
    k = c.neighbors + 1
    edges = [call(_merge, c.threshold, k, q, *[call(_search, q, s, k, step) for s in vectors])
             for q in vectors]
    labels = components(edges, n)
    weights = weights_for(nodes, [call(_asks, node, label, n, n_out=n) for node, label in
                                  zip(nodes, labels, strict=True)], n) \
        if c.specifics > 0 else [{} for _ in range(n)]
    pieces = [call(_to_components, n, *args, n_out=2 * n)
              for args in zip(nodes, labels, edges, weights, strict=True)]
    outs = gather(_keep, [p[:n] for p in pieces] + [p[n:] for p in pieces],
                  const=(step, n), n_out=3)
    counts = ray.get([e[3] for e in embedded])
    return Result([o[0] for o in outs],
                  tables=[("embeddings", [e[2] for e in embedded]),
                          ("clusters", [o[1] for o in outs])],
                  stats={"embedded": sum(x for x, _ in counts), "cached": sum(y for _, y in counts),
                         "index": "flat shards", "clusters": sum(ray.get([o[2] for o in outs]))})


def cached_vectors(ctx: Context, model: str, field: str, n: int) -> list:
    """The store's cached vectors of the version's members, one frame per home (the driver
    streams them once, as it streams the rows)."""
    parts: list[list[Frame]] = [[] for _ in range(n)]
    with ctx.read() as con:
        reader = con.cursor().sql(
            "SELECT e.example_key, any_value(e.vector) AS vector FROM embeddings e SEMI JOIN "
            "members m ON m.example_key = e.example_key AND m.version_id = ? WHERE e.model = ? "
            "AND e.field = ? GROUP BY e.example_key ORDER BY e.example_key",
            params=[ctx.version.version_id, model, field]).to_arrow_reader(8192)
        for batch in reader:
            keys = batch.column(0).to_numpy()
            flat = batch.column(1).flatten().to_numpy(zero_copy_only=False).astype(np.float32)
            frame = {"key": keys, "vector": flat.reshape(len(keys), -1)}
            for i, piece in enumerate(split(frame, home(keys, n), n)):
                parts[i].append(piece)
    empty = {"key": np.empty(0, np.int64), "vector": np.empty((0, 0), np.float32)}
    return [ray.put(concat(p) if p else empty) for p in parts]


def _embed(part: pa.Table, cache: Frame, step: SemanticDedup) -> tuple:
    c = step.config
    rows = rows_of(part)
    keys = keys_of(part)
    text = FIELDS[c.scope]
    matrix, new, counts = vectors_for(rows, keys, cache, c.model, c.scope, c.device,
                                      c.batch_size)
    nodes = {"key": keys, "id": objects([r.example.id for r in rows]),
             "rank": objects([keeping.rank(r, c.keep) for r in rows]),
             "tokens": objects([Specifics.tokens(text(r.example)) for r in rows]
                               if c.specifics > 0 else [frozenset()] * len(rows))}
    return {"key": keys, "vector": matrix}, nodes, new, counts


def vectors_for(rows: list, keys: np.ndarray, cache: Frame, model: str, field: str,
                device: str | None, batch_size: int) -> tuple[np.ndarray, pa.Table, tuple]:
    """The rows' vectors of `field`: cached ones where `cache` (sorted keys) has them, the rest
    encoded; the encoded ones as `embeddings` rows, and (encoded, cached) counts."""
    text = FIELDS[field]
    at = np.searchsorted(cache["key"], keys) if size(cache) else np.zeros(len(keys), np.intp)
    hit = (cache["key"][np.minimum(at, len(cache["key"]) - 1)] == keys) if size(cache) else \
        np.zeros(len(keys), bool)
    todo = np.flatnonzero(~hit)
    fresh = encode([text(rows[i].example) for i in todo], model, device=device,
                   batch_size=batch_size)
    dim = fresh.shape[1] if len(todo) else cache["vector"].shape[1] if size(cache) else 0
    matrix = np.empty((len(rows), dim), np.float32)
    if len(todo):
        matrix[todo] = fresh
    if hit.any():
        matrix[hit] = cache["vector"][at[hit]]
    new = vector_table([(int(keys[i]), fresh[j]) for j, i in enumerate(todo)], model, field) \
        if len(todo) else NO_VECTORS
    return matrix, new, (len(todo), int(hit.sum()))


def _search(queries: Frame, shard: Frame, k: int, step: SemanticDedup) -> tuple:
    """Each query's best k + margin rows of one shard, rescored exactly."""
    c = step.config
    if not size(queries) or not size(shard):
        return np.empty((size(queries), 0)), np.empty((size(queries), 0), np.int64)
    _, nbrs, _ = nearest(shard["vector"], queries["vector"], k + MARGIN, c.index, c.flat_max,
                         c.nprobe)
    return best(queries["vector"], shard["vector"], nbrs, k + MARGIN, ids=shard["key"])


def _merge(threshold: float, k: int, queries: Frame, *found: tuple) -> Frame:
    """A query partition's k best neighbours over all shards, ties to the lower key; those at
    or above the threshold are edges (query, neighbour, cosine)."""
    sims = np.concatenate([s for s, _ in found], axis=1)
    ids = np.concatenate([i for _, i in found], axis=1)
    named = np.where(ids >= 0, ids, np.iinfo(np.int64).max)
    order = np.lexsort((named, -sims), axis=1)[:, :k]
    sims, ids = np.take_along_axis(sims, order, 1), np.take_along_axis(ids, order, 1)
    rows, cols = np.nonzero((sims >= threshold) & (ids >= 0) & (ids != queries["key"][:, None]))
    return {"a": queries["key"][rows], "b": ids[rows, cols], "s": sims[rows, cols]}


def _asks(node: Frame, labels: Frame, n: int) -> list[Frame]:
    clustered = np.isin(node["key"], labels["node"])
    keys, tokens = [], []
    for key, toks in zip(node["key"][clustered].tolist(), node["tokens"][clustered], strict=True):
        keys += [key] * len(toks)
        tokens += sorted(toks)
    frame = {"key": np.array(keys, np.int64), "token": objects(tokens)}
    return split(frame, token_bucket(tokens, n), n)


def _to_components(n: int, nodes: Frame, labels: Frame, edges: Frame,
                   weights: dict[int, dict[str, float]]) -> list[Frame]:
    """This home's clustered rows and its edges, each sent to its component's task."""
    at = np.searchsorted(nodes["key"], labels["node"])
    member = {"root": labels["root"], "key": labels["node"], "id": nodes["id"][at],
              "rank": nodes["rank"][at], "tokens": nodes["tokens"][at],
              "weights": objects([weights.get(k, {}) for k in labels["node"].tolist()])}
    root_of = dict(zip(labels["node"].tolist(), labels["root"].tolist(), strict=True))
    edge = dict(edges, root=np.array([root_of[a] for a in edges["a"].tolist()], np.int64))
    return [*split(member, bucket(member["root"], n), n), *split(edge, bucket(edge["root"], n), n)]


def _keep(step: SemanticDedup, n: int, *pieces: Frame) -> tuple:
    c = step.config
    members, edges = concat(pieces[:len(pieces) // 2]), concat(pieces[len(pieces) // 2:])
    rank = dict(zip(members["key"].tolist(), members["rank"], strict=True))
    ids = dict(zip(members["key"].tolist(), members["id"], strict=True))
    tokens = dict(zip(members["key"].tolist(), members["tokens"], strict=True))
    weights: dict[str, float] = {}
    for w in members["weights"]:
        weights.update(w)
    by_root: dict[int, dict[int, list]] = {}
    for a, b, s, root in zip(edges["a"].tolist(), edges["b"].tolist(), edges["s"].tolist(),
                             edges["root"].tolist(), strict=True):
        lists = by_root.setdefault(root, {})
        lists.setdefault(a, []).append((s, b))
        lists.setdefault(b, []).append((s, a))

    def agree(i: int, j: int) -> bool:
        return weighted_overlap(tokens[i], tokens[j], weights.__getitem__) >= c.specifics

    drops, pairs, scores = [], [], []
    for lists in by_root.values():
        for i, j, score in keep_pass(rank, lists, agree if c.specifics > 0 else None):
            drops.append((i, ids[i], *removal(ids[j], score, c.scope)))
            pairs.append((i, j))
            scores.append(score)
    return drops_of(drops), cluster_table(step.name, pairs, scores), len({j for _, j in pairs})
