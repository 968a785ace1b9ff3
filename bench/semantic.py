"""Semantic dedup against a raw `SentenceTransformer.encode` of the same texts, in the same run.

    .venv/bin/python bench/semantic.py                     # 20,000 chats on CPU (long on 2 cores)
    .venv/bin/python bench/semantic.py --n 2000 --scope prompt
    python bench/semantic.py --n 1000000 --device cuda     # on a GPU machine

Baseline: `encode(texts, batch_size, normalize_embeddings=True)` of the texts the step embeds,
with the model already loaded. Ours: the whole `semantic_dedup` step through `curate` (read the
version, embed, faiss search, greedy keep pass, commit the version with its embeddings and
clusters). Then a re-run with another threshold, which must read every vector from the cache.
Targets: first run <= 1.25x the baseline; the re-run >= 20x faster than the first run.

    .venv/bin/python bench/semantic.py --n 1000000 --prefill   # all but the encode, at scale

`--prefill`, for a scale that 2 CPU cores cannot encode (MiniLM runs at tens of chats a second
here, so 1 M would take most of a day): the `embeddings` table is filled first with unit vectors
(random, with 5% planted near copies of another row), then the step runs in a process of its own
and finds every vector cached. What it times is everything the step adds to the encode: reading
the version and the vectors, the index (IVF past `flat_max`), the neighbour search, the keep pass
and the commit; and the peak RSS of that process. The baseline is the encode of the same texts,
timed on a sample of `--sample` texts and scaled linearly (encoding is per text).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from synthetic import write_chats

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="chat records (default 20,000)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--scope", choices=("conversation", "prompt", "response"),
                        default="conversation")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default=None,
                        help="a local sentence-transformers folder (default: the packaged MiniLM)")
    parser.add_argument("--prefill", action="store_true",
                        help="fill the embedding cache instead of encoding (see above)")
    parser.add_argument("--sample", type=int, default=2000,
                        help="with --prefill: texts encoded to time the baseline (default 2,000)")
    args = parser.parse_args()
    if args.prefill:
        return prefilled(args)

    from gristmill.curation.embed import DEFAULT_MODEL, FIELDS, load
    from gristmill.curation.rows import VersionRows
    from gristmill.curation.runner import curate
    from gristmill.curation.semantic import SemanticDedup
    from gristmill.store.db import Store
    from gristmill.store.ingest import ingest
    from gristmill.store.versions import resolve

    data = write_chats(HERE / "data" / f"chats_{args.n}.jsonl", args.n)
    work = Path(tempfile.mkdtemp(prefix="gristmill-semantic-"))
    try:
        store = Store(work / "store.duckdb")
        ingest(store, [data], "bench")
        started = time.perf_counter()
        name = args.model or DEFAULT_MODEL
        model = load(name, args.device)
        loading = time.perf_counter() - started
        with store.read() as con:
            version = resolve(con, "bench")
        texts = [FIELDS[args.scope](r.example) for r in VersionRows(store, version)]

        started = time.perf_counter()
        model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
        base = time.perf_counter() - started

        def step(threshold: float) -> SemanticDedup:
            return SemanticDedup(SemanticDedup.Config(
                threshold=threshold, scope=args.scope, model=name, device=args.device,
                batch_size=args.batch_size))

        started = time.perf_counter()
        (first,) = curate(store, "bench@1", [step(0.95)])
        ours = time.perf_counter() - started
        started = time.perf_counter()
        (again,) = curate(store, "bench@1", [step(0.9)])
        rerun = time.perf_counter() - started
        assert again.stats["embedded"] == 0 and again.stats["cached"] == args.n, again.stats
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        store_mb = store.path.stat().st_size / 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)

    chars = sum(len(t) for t in texts) / len(texts)
    print(f"input: {args.n:,} chats, scope {args.scope} (mean {chars:.0f} characters), device "
          f"{args.device}, batch {args.batch_size}; model load {loading:.1f} s (not counted)")
    print(f"encode (baseline)      : {base:7.1f} s  {args.n / base:8,.0f} texts/s")
    print(f"semantic_dedup, first  : {ours:7.1f} s  {args.n / ours:8,.0f} texts/s  "
          f"(embedded {first.stats['embedded']:,}, index {first.stats['index']}, "
          f"dropped {sum(first.stats['dropped'].values()):,})")
    print(f"semantic_dedup, re-run : {rerun:7.1f} s  (cached {again.stats['cached']:,}, "
          f"embedded {again.stats['embedded']})")
    print(f"overhead over encode: {ours / base - 1:+.1%}  (target <= +25%)")
    print(f"re-run speed-up: {ours / rerun:.0f}x  (target >= 20x)")
    print(f"peak RSS of the process: {peak / (1 << 30):.2f} GiB; store {store_mb:,.0f} MB")


def prefilled(args: argparse.Namespace) -> None:
    import numpy as np
    import orjson
    from measure import gib, run_measured

    from gristmill.curation.embed import DEFAULT_MODEL, FIELDS, load, vector_table
    from gristmill.store.db import Store
    from gristmill.store.ingest import ingest
    from gristmill.store.versions import resolve

    data = write_chats(HERE / "data" / f"chats_{args.n}.jsonl", args.n)
    work = Path(tempfile.mkdtemp(prefix="gristmill-semantic-", dir=HERE / "data"))
    try:
        store = Store(work / "store.duckdb")
        ingest(store, [data], "bench", progress=False)
        with store.read() as con:
            version = resolve(con, "bench")
            keys = np.array([k for (k,) in con.execute(
                "SELECT example_key FROM members WHERE version_id = ? ORDER BY example_key",
                [version.version_id]).fetchall()])
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((len(keys), 384), dtype=np.float32)
        copies = rng.choice(len(keys), len(keys) // 20, replace=False)
        vectors[copies] = vectors[rng.choice(len(keys), len(copies))] + 0.1 * vectors[copies]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with store.write() as con:  # nothing else writes this scratch store
            for start in range(0, len(keys), 100_000):
                part = vector_table(list(zip(keys[start:start + 100_000].tolist(),
                                             vectors[start:start + 100_000], strict=True)),
                                    DEFAULT_MODEL, args.scope)
                con.cursor().from_arrow(part).insert_into("embeddings")
        del vectors
        seconds, peak, result = run_measured(
            [sys.executable, "-m", "gristmill", "curate", "bench", "--step", "semantic_dedup",
             "--set", f"scope={args.scope}", "--store", str(store.path), "--json", "-q"])
        assert result.returncode == 0, result.stderr[-3000:]
        stats = orjson.loads(result.stdout)[0]
        sample = [FIELDS[args.scope](r.example) for r in _first(store, version, args.sample)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    model = load(DEFAULT_MODEL, args.device)
    started = time.perf_counter()
    model.encode(sample, batch_size=args.batch_size, normalize_embeddings=True,
                 convert_to_numpy=True, show_progress_bar=False)
    per_text = (time.perf_counter() - started) / len(sample)
    base = per_text * args.n
    print(f"input: {args.n:,} chats, scope {args.scope}; embedding cache prefilled "
          f"({stats['cached']:,} cached, {stats['embedded']} embedded), index {stats['index']}")
    print(f"encode (baseline)       : {base:9,.0f} s  ({1 / per_text:,.0f} texts/s on "
          f"{len(sample):,} texts, {args.device}, scaled to {args.n:,})")
    print(f"semantic_dedup, no encode: {seconds:9,.1f} s  (process wall time; step "
          f"{stats['seconds']} s; dropped {sum(stats['dropped'].values()):,})")
    print(f"overhead over encode: {seconds / base:+.1%}  (target <= +25%)")
    print(f"peak RSS of the step's process: {gib(peak)}  (target < 8 GB)")


def _first(store, version, n: int) -> list:
    from gristmill.curation.rows import VersionRows

    rows = []
    for batch in VersionRows(store, version).batches(n):
        rows.extend(batch)
        if len(rows) >= n:
            return rows[:n]
    return rows


if __name__ == "__main__":
    main()
