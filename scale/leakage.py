"""The leakage check across a cluster: the eval items are few, so the driver indexes them once
(lexical index, vectors) and every partition matches its own rows against that index; only the
rare-token weights behind an embedding match need the distributed count."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import ray

from gristmill.curation.leak_match import LexicalIndex
from gristmill.curation.leakage import FIELD, LeakageStep, eval_vectors, removal, unique_keys
from gristmill.curation.rows import Context, VersionRows
from gristmill.curation.semantic import MARGIN, Specifics, best, nearest, overlap
from gristmill.curation.text import content, first_user
from gristmill.scale.parts import drops_of, keys_of, rows_of
from gristmill.scale.result import Result
from gristmill.scale.semantic import NO_VECTORS, cached_vectors, vectors_for
from gristmill.scale.specifics import token_bucket, weights_for
from gristmill.scale.tasks import Frame, call, objects, split


def run_leakage(step: LeakageStep, parts: list, n: int, ctx: Context) -> Result:
    c = step.config
    evals = step.pinned(ctx)
    items: dict = {}
    for version in evals:
        for row in VersionRows(ctx.store, version):
            items.setdefault(row.example.id, (row, version.ref))
    eval_rows = [r for r, _ in items.values()]
    questions = [first_user(r.example) for r in eval_rows]
    index = ray.put(LexicalIndex(questions, tuple(m for m in c.methods if m != "embedding"),
                                 c.normalize, c.ngram, c.ngram_overlap, c.shingle, c.num_perm,
                                 c.jaccard))
    use_vectors = "embedding" in c.methods
    held = eval_vectors(ctx, evals, items, c) if use_vectors else None
    vectors = ray.put(held.vectors if held else np.empty((0, 1), np.float32))
    cached = cached_vectors(ctx, c.model, FIELD, n) if use_vectors else [None] * n
    specifics = use_vectors and c.specifics > 0
    eval_tokens = objects([Specifics.tokens(q) for q in questions]) if specifics else objects([])
    found = [call(_scan, part, cache, index, vectors, eval_tokens, step, n, n_out=3 + n)
             for part, cache in zip(parts, cached, strict=True)]
    weights = [ray.put({}) for _ in range(n)]
    if specifics:
        counted = [f[1] for f in found] + [ray.put({"tokens": eval_tokens})]
        weights = weights_for(counted, [f[3:] for f in found], n)
    refs = [(r.example.id, ref) for r, ref in items.values()]
    outs = [call(_decide, f[0], w, eval_tokens, refs, step, n_out=2)
            for f, w in zip(found, weights, strict=True)]
    tables = [f[2] for f in found] + ([ray.put(held.new)] if held and held.new is not None else [])
    counts = ray.get([o[1] for o in outs])
    return Result([o[0] for o in outs], tables=[("embeddings", [call(_unique, *tables)])],
                  stats={"eval_items": len(eval_rows),
                         "leaks": {m: sum(x.get(m, 0) for x in counts) for m in c.methods}})


def _unique(*tables: pa.Table) -> pa.Table:
    kept = [t for t in tables if t.num_rows]
    return unique_keys(kept) if kept else NO_VECTORS


def _scan(part: pa.Table, cache: Frame | None, index: LexicalIndex, held: np.ndarray,
          eval_tokens: np.ndarray, step: LeakageStep, n: int) -> list:
    """Lexical matches of this partition's rows, and embedding candidates still to check."""
    c = step.config
    rows = rows_of(part)
    keys = keys_of(part)
    matches: dict[int, tuple] = {}  # position -> (eval, method, score)
    for i, row in enumerate(rows):
        if (m := index.match(first_user(row.example), content(row.example))) is not None:
            matches[i] = (m.eval, m.method, m.score, False)
    new, tokens = NO_VECTORS, [frozenset()] * len(rows)
    asks: list[tuple[int, str]] = []
    if cache is not None and len(held) and len(rows):
        train, new, _ = vectors_for(rows, keys, cache, c.model, FIELD, c.device, c.batch_size)
        _, nbrs, _ = nearest(held, train, 1 + MARGIN)
        sims, nbrs = best(train, held, nbrs, 1)
        if c.specifics > 0:
            tokens = [Specifics.tokens(first_user(r.example)) for r in rows]
        for i in np.nonzero(sims[:, 0] >= c.cosine)[0].tolist():
            j = int(nbrs[i, 0])
            if i in matches or j < 0:
                continue
            matches[i] = (j, "embedding", round(float(sims[i, 0]), 4), c.specifics > 0)
            if c.specifics > 0:
                asks += [(int(keys[i]), t) for t in sorted(tokens[i] | eval_tokens[j])]
    found = {"key": keys[list(matches)] if matches else keys[:0],
             "id": objects([rows[i].example.id for i in matches]),
             "tokens": objects([tokens[i] for i in matches]),
             "match": objects(list(matches.values()))}
    ask = {"key": np.array([k for k, _ in asks], np.int64), "token": objects([t for _, t in asks])}
    return [found, {"tokens": objects(tokens)}, new,
            *split(ask, token_bucket([t for _, t in asks], n), n)]


def _decide(found: Frame, weights: dict, eval_tokens: np.ndarray, items: list[tuple[str, str]],
            step: LeakageStep) -> tuple[Frame, dict]:
    c = step.config
    drops, methods = [], {}
    for key, ex_id, tokens, (j, method, score, check) in zip(
            found["key"].tolist(), found["id"], found["tokens"], found["match"], strict=True):
        if check and overlap(tokens, eval_tokens[j], weights[key].__getitem__) < c.specifics:
            continue
        eval_id, ref = items[j]
        drops.append((key, ex_id, *removal(method, score, ref, eval_id)))
        methods[method] = methods.get(method, 0) + 1
    return drops_of(drops), methods
