"""Train / val / test across a cluster: the rows' group and prompt keys are joined by
connected components (each a node hashed to 64 bits), every component is named by its smallest
key as in the single-process union-find, and the groups are cut at the fractions in the order
of their seeded hash: a range partition by that hash, sorted within each range, with each
range's offset from the ranges before it."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime

import numpy as np
import pyarrow as pa
import ray

from gristmill.curation.rows import Context
from gristmill.curation.split import _SAME, SPLITS, Split, _after, _bounds, meta_value
from gristmill.curation.text import normalize, render
from gristmill.scale.components import components
from gristmill.scale.parts import rows_of
from gristmill.scale.result import Result
from gristmill.scale.tasks import Frame, bucket, call, concat, gather, objects, split, text_hash


def run_split(step: Split, parts: list, n: int, ctx: Context) -> Result:
    made = [call(_nodes, part, step, n, n_out=1 + n) for part in parts]
    labels = components([m[0] for m in made], n)
    rooted = gather(_roots, [m[1:] for m in made], labels, const=(n,), n_out=n)
    ranged = gather(_groups, rooted, const=(step, n), n_out=n)
    ordered = gather(_order, ranged, n_out=2)
    totals = ray.get([o[1] for o in ordered])
    offsets, running = [], Counter()
    for t in totals:
        offsets.append(dict(running))
        running.update(t)
    outs = [call(_assign, o[0], off, dict(running), step, n_out=2)
            for o, off in zip(ordered, offsets, strict=True)]
    counts = ray.get([o[1] for o in outs])
    splits = {s: sum(c.get(s, 0) for c, _ in counts) for s in SPLITS}
    return Result([], splits=[o[0] for o in outs],
                  stats={"splits": splits, "groups": sum(g for _, g in counts)})


def _nodes(part: pa.Table, step: Split, n: int) -> list:
    c = step.config
    cutoff = datetime.fromisoformat(c.time_cutoff) if c.time_cutoff else None
    rows = rows_of(part)
    ids = [r.example.id for r in rows]
    groups = ["g:" + step.group_of(r) for r in rows]
    prompts = ["p:" + normalize(render(r.example, "prompt"), _SAME) for r in rows]
    h_id, h_group, h_prompt = text_hash(ids), text_hash(groups), text_hash(prompts)
    edges = {"a": np.concatenate([h_id, h_id]), "b": np.concatenate([h_group, h_prompt])}
    m = len(rows)
    label = [str(meta_value(r, (c.stratify_by,))) for r in rows] if c.stratify_by else [""] * m
    later = [cutoff is not None and _after(r, c.time_key, cutoff) for r in rows]
    nodes = {"node": np.concatenate([h_id, h_group, h_prompt]),
             "text": objects(ids + groups + prompts),
             "example": np.concatenate([np.ones(m, bool), np.zeros(2 * m, bool)]),
             "label": objects(label + [""] * 2 * m),
             "later": np.concatenate([np.array(later, bool), np.zeros(2 * m, bool)])}
    return [edges, *split(nodes, bucket(nodes["node"], n), n)]


def _roots(n: int, labels: Frame, *pieces: Frame) -> list[Frame]:
    f = concat(pieces)
    at = np.searchsorted(labels["node"], f["node"])
    f["root"] = labels["root"][at]
    return split(f, bucket(f["root"], n), n)


def _groups(step: Split, n: int, *pieces: Frame) -> list[Frame]:
    """One record per component: its stratum, seeded hash, size and member ids, sent to the
    task that owns its range of hashes."""
    f = concat(pieces)
    comps: dict[int, list[int]] = {}
    for i, root in enumerate(f["root"].tolist()):
        comps.setdefault(root, []).append(i)
    strata, digests, members = [], [], []
    for rows in comps.values():
        name = min(f["text"][i] for i in rows)
        ids = sorted({f["text"][i] for i in rows if f["example"][i]})
        first = next(i for i in rows if f["example"][i] and f["text"][i] == ids[0])
        strata.append((any(f["later"][i] for i in rows), f["label"][first]))
        digests.append(hashlib.sha256(f"{step.config.seed}:{name}".encode()).digest())
        members.append(ids)
    out = {"stratum": objects(strata), "digest": objects(digests), "members": objects(members)}
    where = np.array([int.from_bytes(d[:8], "big") * n >> 64 for d in digests], np.intp)
    return split(out, where, n)


def _order(*pieces: Frame) -> tuple[Frame, Counter]:
    f = concat(pieces)
    order = sorted(range(len(f["digest"])), key=lambda i: (f["stratum"][i], f["digest"][i]))
    f = {k: v[np.array(order, np.intp)] if order else v for k, v in f.items()}
    totals: Counter = Counter()
    for stratum, ids in zip(f["stratum"], f["members"], strict=True):
        totals[stratum] += len(ids)
    return f, totals


def _assign(f: Frame, offsets: dict, totals: dict, step: Split) -> tuple[Frame, tuple]:
    c = step.config
    fractions = (c.train, c.val) if c.time_cutoff else (c.train, c.val, c.test)
    done = dict(offsets)
    ids, splits = [], []
    for stratum, members in zip(f["stratum"], f["members"], strict=True):
        if stratum[0]:
            chosen = "test"
        else:
            at = done.get(stratum, 0)
            bounds = _bounds(fractions, totals[stratum])
            chosen = next((SPLITS[k] for k, b in enumerate(bounds) if at < b), "test")
            done[stratum] = at + len(members)
        ids += members
        splits += [chosen] * len(members)
    return {"id": objects(ids), "split": objects(splits)}, (Counter(splits), len(f["members"]))
