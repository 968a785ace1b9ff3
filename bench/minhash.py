"""MinHash near dedup against datatrove's MinHash pipeline, on the same documents, in the same run.

    bash bench/peers.sh                          # once: datatrove in bench/.venv-peers
    nice -n 10 .venv/bin/python bench/minhash.py     # 1,000,000 documents
    .venv/bin/python bench/minhash.py --n 100000 --repeat 1

Input: short synthetic documents (20-60 words from a Zipf vocabulary, no digits or accents, so
both normalizations agree) with planted near copies (typos; substituted, inserted or dropped
words; words swapped across a sentence end; case, punctuation and spacing), each at least 0.72
true Jaccard on word 3-grams to its original, and planted hard negatives (half of another
document, under 0.6), seeded, written once under bench/data/ as two JSONL shards plus labels.

Ours: `gristmill curate docs --step minhash_dedup` in a fresh copy of a store holding the
documents (ingested once, untimed): process start, reading the store, signatures, LSH, true-Jaccard
verification, clusters, and the commit (signatures, clusters, removals) are all timed.
Baseline: datatrove's signature -> buckets -> cluster -> filter stages with LocalPipelineExecutor,
2 tasks and 2 workers per stage (buckets: one task per band), the same word 3-grams (whitespace
tokens), bands, rows and 32-bit hashes; reading the JSONL and writing kept and removed documents
are timed. Target: ours <= 0.5x datatrove's wall time at equal or better F1, peak RSS < 8 GB.
F1 counts, per planted group (an original and its copies), min(removed, copies) as true positives.
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import orjson
from measure import gib, run_measured

from gristmill.curation.clusters import lsh_params

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".venv-peers" / "bin" / "python"
SIZE, THRESHOLD = 3, 0.7  # our step's defaults
WEIGHT = 0.99  # the step's recall weight with verification on, which sets bands and rows
DATATROVE = """
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
    MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.word_tokenizers import WordTokenizer

class Whitespace(WordTokenizer):  # the same tokens as ours: no spaCy
    def word_tokenize(self, text): return text.split()
    def sent_tokenize(self, text): return [text]
    def span_tokenize(self, text): return [(0, len(text))]

data, work, bands, rows, size = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
config = MinhashConfig(n_grams=size, num_buckets=bands, hashes_per_bucket=rows,
                       hash_config=HashConfig(precision=32))
read = lambda: JsonlReader(data, glob_pattern="part_*.jsonl")
stages = [
    ([read(), MinhashDedupSignature(f"{work}/sigs", config=config, language=Whitespace())], 2),
    ([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=config)], bands),
    ([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=config)], 1),
    ([read(), MinhashDedupFilter(f"{work}/remove",
                                 exclusion_writer=JsonlWriter(f"{work}/removed")),
      JsonlWriter(f"{work}/kept")], 2),
]
for n, (pipeline, tasks) in enumerate(stages):
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=2,
                          logging_dir=f"{work}/logs/{n}", skip_completed=False).run()
"""


def _vocabulary(rng: random.Random, n: int) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["an", "el", "or", "is"]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choices(syllables, k=rng.randint(1, 3))))
    return sorted(words)


def _sentences(words: list[str], rng: random.Random) -> list[str]:
    out, at = [], 0
    while at < len(words):
        k = rng.randint(6, 14)
        part = words[at:at + k]
        out.append(" ".join([part[0].capitalize(), *part[1:]]) + rng.choice(".?!."))
        at += k
    return out


def shingles(text: str) -> set[tuple[str, ...]]:
    """Word 3-grams of the text lowercased with punctuation dropped (both tools' normalization)."""
    words = "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()
    return {tuple(words[i:i + SIZE]) for i in range(max(len(words) - SIZE + 1, 1))}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def _near_copy(text: str, vocab: list[str], rng: random.Random) -> str:
    for _ in range(20):
        words = text.split(" ")
        for _ in range(rng.randint(1, 2)):
            edit, at = rng.randrange(6), rng.randrange(len(words))
            word = words[at]
            if edit == 0 and len(word) > 3:  # typo: two letters swapped
                k = rng.randrange(len(word) - 2)
                words[at] = word[:k] + word[k + 1] + word[k] + word[k + 2:]
            elif edit == 1:
                words[at] = rng.choice(vocab)
            elif edit == 2:
                words.insert(at, rng.choice(vocab))
            elif edit == 3 and len(words) > 10:
                del words[at]
            elif edit == 4:  # case or punctuation
                words[at] = word.upper() if at % 2 else word + ","
            elif at + 1 < len(words) and words[at].endswith((".", "?", "!")):
                words[at], words[at + 1] = words[at + 1], words[at]  # across a sentence end
            else:
                words[at] = word + "  "
        copy = " ".join(words)
        if copy != text and jaccard(copy, text) >= 0.72:
            return copy
    return text + " "  # subtle: a spacing change is always a valid, distinct near copy


def write_docs(folder: Path, n: int, seed: int = 0) -> tuple[list[Path], Path]:
    """Two JSONL shards of `n` documents {"id", "text"} and labels {"id", "of"} for the copies."""
    shards = [folder / f"docs_{n}" / f"part_{k}.jsonl" for k in range(2)]
    labels = folder / f"docs_{n}" / "labels.jsonl"
    done = labels.with_suffix(".done")
    if done.exists():
        return shards, labels
    labels.parent.mkdir(parents=True, exist_ok=True)
    rng, draw = random.Random(seed), np.random.default_rng(seed)
    vocab = _vocabulary(rng, 30_000)
    zipf = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    lengths = draw.integers(20, 61, n).tolist()
    picks = iter(draw.choice(len(vocab), sum(lengths), p=zipf / zipf.sum()).tolist())
    kind = draw.choice(3, n, p=[0.94, 0.05, 0.01]).tolist()  # original, near copy, hard negative
    texts, originals, seen, planted = [], [], set(), []
    for i in range(n):
        fresh = " ".join(_sentences([vocab[next(picks)] for _ in range(lengths[i])], rng))
        if kind[i] == 1 and originals:
            of = rng.choice(originals)
            text = _near_copy(texts[of], vocab, rng)
            planted.append({"id": f"d{i}", "of": f"d{of}"})
        elif kind[i] == 2 and originals:
            base = texts[rng.choice(originals)]
            words = base.split(" ")
            text = " ".join(words[:len(words) // 2]) + " " + fresh
            if jaccard(text, base) >= 0.6:
                text = fresh
        else:
            text = fresh
            originals.append(i)
        if text in seen:  # subtle: the store keeps one example per identical text
            text = fresh
        seen.add(text)
        texts.append(text)
    with open(shards[0], "wb") as a, open(shards[1], "wb") as b:
        for i, text in enumerate(texts):
            (a if i % 2 == 0 else b).write(orjson.dumps({"id": f"d{i}", "text": text}) + b"\n")
    labels.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in planted))
    done.write_text(str(n))
    return shards, labels


def score(removed: set[str], labels: Path) -> tuple[float, float, float]:
    """Precision, recall and F1 of the removed ids against the planted groups."""
    group: dict[str, str] = {}
    copies: dict[str, int] = {}
    for line in labels.read_bytes().splitlines():
        x = orjson.loads(line)
        group[x["id"]] = group[x["of"]] = x["of"]
        copies[x["of"]] = copies.get(x["of"], 0) + 1
    hits: dict[str, int] = {}
    for doc in removed:
        if doc in group:
            hits[group[doc]] = hits.get(group[doc], 0) + 1
    tp = sum(min(k, copies[g]) for g, k in hits.items())
    precision, recall = tp / max(len(removed), 1), tp / sum(copies.values())
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def stored(shards: list[Path], n: int) -> Path:
    """A store holding the documents as dataset `docs`, ingested once (untimed)."""
    path = shards[0].parent / "store.duckdb"
    if not path.with_suffix(".done").exists():
        path.unlink(missing_ok=True)
        result = subprocess.run([sys.executable, "-m", "gristmill", "ingest", *map(str, shards),
                                 "-d", "docs", "--store", str(path), "-q"],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        path.with_suffix(".done").write_text(str(n))
    return path


def ours(store: Path, work: Path, weight: float) -> tuple[float, int, set[str], dict]:
    copy = work / "store.duckdb"
    shutil.copy(store, copy)
    seconds, rss, result = run_measured(
        [sys.executable, "-m", "gristmill", "curate", "docs", "--step", "minhash_dedup",
         "--set", f"recall_weight={weight}",
         "--store", str(copy), "--json", "-q"])
    assert result.returncode == 0, result.stderr
    stats = orjson.loads(result.stdout)[0]
    with duckdb.connect(str(copy), read_only=True) as con:
        removed = {r[0] for r in con.execute(
            "SELECT json_extract_string(s.meta, '$.id') FROM removals r JOIN sources s "
            "ON s.example_key = r.example_key WHERE r.step = 'minhash_dedup'").fetchall()}
    return seconds, rss, removed, stats


def datatrove(shards: list[Path], work: Path, bands: int, rows: int) -> tuple[float, int, set[str]]:
    seconds, rss, result = run_measured(
        [str(PEERS), "-c", DATATROVE, str(shards[0].parent), str(work / "dt"),
         str(bands), str(rows), str(SIZE)])
    assert result.returncode == 0, result.stderr[-3000:]
    removed = set()
    for part in (work / "dt" / "removed").glob("*"):
        with gzip.open(part) as f:
            removed.update(orjson.loads(line)["id"] for line in f)
    return seconds, rss, removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="documents (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (default 1)")
    parser.add_argument("--recall-weight", type=float, default=WEIGHT,
                        help=f"sets the banding both tools use (default {WEIGHT}, the step's)")
    parser.add_argument("--only-ours", action="store_true", help="skip datatrove")
    args = parser.parse_args()
    if not args.only_ours and not PEERS.exists():
        sys.exit("datatrove is not set up: run `bash bench/peers.sh` first")
    bands, rows = lsh_params(THRESHOLD, 128, args.recall_weight)
    shards, labels = write_docs(HERE / "data" / "minhash", args.n)
    store = stored(shards, args.n)
    planted = sum(1 for _ in labels.open())
    print(f"input: {args.n:,} documents, {planted:,} planted near copies, "
          f"{sum(p.stat().st_size for p in shards) / 1e6:,.0f} MB JSONL; word {SIZE}-grams, "
          f"{bands} bands x {rows} rows, threshold {THRESHOLD} (ours verifies it)")
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="gristmill-minhash-", dir=HERE / "data"))
        try:
            our_s, our_rss, our_removed, stats = ours(store, work, args.recall_weight)
            our_f1 = score(our_removed, labels)
            print(f"gristmill : {our_s:7.1f} s  peak {gib(our_rss)}  removed {len(our_removed):,}  "
                  f"P {our_f1[0]:.4f} R {our_f1[1]:.4f} F1 {our_f1[2]:.4f}  (step {stats['seconds']} "
                  f"s of it; {stats['candidate_pairs']:,} candidate pairs, {stats['edges']:,} "
                  f"verified)", flush=True)
            if args.only_ours:
                continue
            dt_s, dt_rss, dt_removed = datatrove(shards, work, bands, rows)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        dt_f1 = score(dt_removed, labels)
        print(f"datatrove : {dt_s:7.1f} s  peak {gib(dt_rss)}  removed {len(dt_removed):,}  "
              f"P {dt_f1[0]:.4f} R {dt_f1[1]:.4f} F1 {dt_f1[2]:.4f}")
        print(f"ratio (gristmill / datatrove wall time): {our_s / dt_s:.2f}  (target <= 0.5); "
              f"F1 {our_f1[2]:.4f} vs {dt_f1[2]:.4f} (target >=); peak {gib(our_rss)} (< 8 GB)")

if __name__ == "__main__":
    main()
