"""Semantic dedup against a raw `SentenceTransformer.encode` of the same texts, in the same run.

    .venv/bin/python bench/semantic.py                     # 20,000 chats on CPU (long on 2 cores)
    .venv/bin/python bench/semantic.py --n 2000 --scope prompt
    python bench/semantic.py --n 1000000 --device cuda     # on a GPU machine

Baseline: `encode(texts, batch_size, normalize_embeddings=True)` of the texts the step embeds,
with the model already loaded. Ours: the whole `semantic_dedup` step through `curate` (read the
version, embed, faiss search, greedy keep pass, commit the version with its embeddings and
clusters). Then a re-run with another threshold, which must read every vector from the cache.
Targets: first run <= 1.25x the baseline; the re-run >= 20x faster than the first run.
"""

from __future__ import annotations

import argparse
import resource
import shutil
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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
