"""Input drift: are production prompts still like the prompts the model was trained on?

Two numbers over sentence embeddings of the prompts (the last `window` log lines against a
sample of the reference version): the cosine distance between the two centroids, which the
threshold reads (the seeds: a shift over 0.2 means new input patterns, and may mean new data),
and a two-sample test, the squared maximum mean discrepancy with an RBF kernel (bandwidth by
the median heuristic) and its permutation p-value, which says whether any difference at all is
more than sampling noise. Vectors are cached in `embeddings` like the curation steps'; every
check is a `drift_checks` row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gristmill.curation.embed import DEFAULT_MODEL, encode, vector_table
from gristmill.curation.text import content
from gristmill.example import Example
from gristmill.store import versions
from gristmill.store.db import Store
from gristmill.store.runs import writing

DEFAULT_THRESHOLD = 0.2
WINDOW = 500  # recent log lines compared, and the most reference examples sampled
PERMUTATIONS = 200
_FIELD = "prompt"


def centroid_shift(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine similarity of the two means."""
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    return float(1 - ca @ cb / (np.linalg.norm(ca) * np.linalg.norm(cb)))


def mmd_test(a: np.ndarray, b: np.ndarray, permutations: int = PERMUTATIONS,
             seed: int = 0) -> tuple[float, float]:
    """Unbiased squared MMD (RBF kernel, median-heuristic bandwidth) and its permutation p."""
    z = np.concatenate([a, b]).astype(np.float64)
    sq = np.maximum((z * z).sum(1)[:, None] + (z * z).sum(1)[None, :] - 2 * z @ z.T, 0)
    off = sq[~np.eye(len(z), dtype=bool)]
    gamma = 1.0 / max(float(np.median(off)), 1e-12)
    k = np.exp(-gamma * sq)
    np.fill_diagonal(k, 0.0)  # subtle: the unbiased estimate leaves out each point with itself
    m, n = len(a), len(b)
    rng = np.random.default_rng(seed)
    orders = [np.arange(m + n)] + [rng.permutation(m + n) for _ in range(permutations)]
    first = np.zeros((len(orders), m + n))
    for row, order in enumerate(orders):
        first[row, order[:m]] = 1.0
    second = 1.0 - first
    kf, ks = first @ k, second @ k
    xx, yy, xy = (kf * first).sum(1), (ks * second).sum(1), (kf * second).sum(1)
    stats = xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)
    p = (1 + int((stats[1:] >= stats[0]).sum())) / (1 + permutations)
    return float(stats[0]), p


def check_drift(store: Store, dataset: str, reference: str, threshold: float | None = None,
                window: int = WINDOW, model: str = DEFAULT_MODEL,
                progress: bool = False) -> dict[str, Any]:
    """Compare the last `window` log lines of `dataset` with `reference`; store and return the
    check."""
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    with store.read() as con:
        ref = versions.resolve(con, reference)
        recent = con.execute(
            "SELECT e.key, e.payload FROM (SELECT example_key FROM log_lines WHERE dataset = ? "
            "ORDER BY logged_at DESC NULLS LAST, run_id DESC, line DESC LIMIT ?) l "
            "JOIN examples e ON e.key = l.example_key", [dataset, window]).fetchall()
        sample = con.execute(
            "SELECT e.key, e.payload FROM members m JOIN examples e ON e.key = m.example_key "
            "WHERE m.version_id = ? ORDER BY hash(e.id) LIMIT ?",
            [ref.version_id, window]).fetchall()
        cached = dict(con.execute(
            "SELECT example_key, any_value(vector) FROM embeddings WHERE model = ? AND field = ? "
            "AND example_key IN (SELECT unnest(?::BIGINT[])) GROUP BY example_key",
            [model, _FIELD, [k for k, _ in recent + sample]]).fetchall())
    if len(recent) < 2 or len(sample) < 2:
        raise _too_few(dataset, ref.ref, len(recent), len(sample))
    missing = list({k: p for k, p in recent + sample if k not in cached}.items())
    fresh = encode([content(Example.from_payload(_loads(p)), _FIELD) for _, p in missing], model)
    vectors = {**{k: np.asarray(v, np.float32) for k, v in cached.items()},
               **{k: fresh[i] for i, (k, _) in enumerate(missing)}}
    a = np.stack([vectors[k] for k, _ in recent])
    b = np.stack([vectors[k] for k, _ in sample])
    shift = centroid_shift(a, b)
    mmd, p = mmd_test(a, b)
    check = {"dataset": dataset, "reference": ref.ref, "model": model, "n_recent": len(a),
             "n_reference": len(b), "centroid_shift": round(shift, 6), "mmd": round(mmd, 6),
             "p_value": round(p, 4), "threshold": threshold, "drifted": shift > threshold}
    with writing(store, f"flywheel drift {dataset} --against {reference}", check) as run:
        with run.commit() as con:
            if missing:
                con.register("_vectors_in", vector_table(
                    [(k, vectors[k]) for k, _ in missing], model, _FIELD))
                con.execute("INSERT INTO embeddings SELECT * FROM _vectors_in")
                con.unregister("_vectors_in")
            con.execute("INSERT INTO drift_checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                        "current_localtimestamp())",
                        [run.id, dataset, ref.ref, model, len(a), len(b), shift, mmd, p,
                         threshold, check["drifted"]])
            run.stats = check
    return check


def _loads(payload: str) -> dict[str, Any]:
    import orjson

    return orjson.loads(payload)


def _too_few(dataset: str, ref: str, recent: int, sample: int):
    from gristmill.errors import GristmillError

    return GristmillError(f"drift needs at least 2 prompts on each side: {dataset} has {recent} "
                          f"log line(s), {ref} has {sample} example(s)")
