"""The Self-Instruct ROUGE-L novelty filter: RougeIndex against the brute-force loop, same decisions.

    .venv/bin/python bench/rouge.py                  # 50,000 instructions, brute force on 2,000
    .venv/bin/python bench/rouge.py --n 10000 --brute 1000

Input: synthetic instructions (seeded, generated in memory): 5-30 words, each word a stop word
(50 common English ones, Zipf-weighted) with probability 0.4, else one of 3,000 made-up words drawn
Zipf-like (s = 1.0); about 10% are near copies of an earlier instruction (1-3 words deleted,
inserted, substituted or swapped with a neighbour; still 5-30 words). The loop is Self-Instruct's:
an instruction is kept when its ROUGE-L F against every kept one is below the threshold.

Ours: `RougeIndex.most_similar`, then `add` when below the threshold, over all `--n`.
Baseline: the same loop comparing each instruction with every kept one by `rouge_l` (tokens of
the kept ones computed once, the same bit-parallel LCS; the original code re-tokenizes with
rouge_score and runs a Python DP, so it is slower still). It runs on the first `--brute`
instructions only; its cost at `--n` is an EXTRAPOLATION: the measured time per comparison times
the exact number of comparisons brute force would make at `--n` (the sum, over instructions, of
the kept count before each, known from our run, whose decisions brute force shares).
"""

from __future__ import annotations

import argparse
import random
import time
from itertools import accumulate

from gristmill.synth.rouge import RougeIndex, rouge_l, tokens

STOP = ("the of and to a in is for that on with as be this by it or are from at an your what "
        "which can will if not all each more their its about how any when other into one two "
        "these than following given list write use make describe").split()[:50]


def _vocabulary(rng: random.Random, n: int) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["an", "el", "or", "is"]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choices(syllables, k=rng.randint(2, 3))))
    return sorted(words - set(STOP))


def instructions(n: int, seed: int = 0) -> list[str]:
    """`n` seeded instructions, about 10% of them near copies of an earlier one."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng, 3000)
    cum = list(accumulate(1 / r for r in range(1, len(vocab) + 1)))
    stop_cum = list(accumulate(1 / r for r in range(1, len(STOP) + 1)))

    def word() -> str:
        if rng.random() < 0.4:
            return rng.choices(STOP, cum_weights=stop_cum)[0]
        return rng.choices(vocab, cum_weights=cum)[0]

    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.1:
            words = rng.choice(out).rstrip(".?").split()
            for _ in range(rng.randint(1, 3)):
                at, edit = rng.randrange(len(words)), rng.randrange(4)
                if edit == 0 and len(words) > 5:
                    del words[at]
                elif edit == 1 and len(words) < 30:
                    words.insert(at, word())
                elif edit == 3 and at + 1 < len(words):
                    words[at], words[at + 1] = words[at + 1], words[at]
                else:
                    words[at] = word()
        else:
            words = [word() for _ in range(rng.randint(5, 30))]
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + rng.choice(".?."))
    return out


def indexed(texts: list[str], threshold: float) -> tuple[float, list[bool]]:
    index, kept = RougeIndex(threshold), []
    start = time.perf_counter()
    for text in texts:
        score, _ = index.most_similar(text)
        kept.append(score < threshold)
        if kept[-1]:
            index.add(text)
    return time.perf_counter() - start, kept


def brute(texts: list[str], threshold: float) -> tuple[float, list[bool], int]:
    pool: list[list[str]] = []
    keep, comparisons = [], 0
    start = time.perf_counter()
    for text in texts:
        toks = tokens(text)
        best = max((rouge_l(toks, k) for k in pool), default=0.0)  # as the original: all scores
        comparisons += len(pool)
        keep.append(best < threshold)
        if keep[-1]:
            pool.append(toks)
    return time.perf_counter() - start, keep, comparisons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="instructions (default 50,000)")
    parser.add_argument("--brute", type=int, default=2000,
                        help="instructions the brute-force loop runs on (default 2,000)")
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts = instructions(args.n, args.seed)
    words = sum(len(tokens(t)) for t in texts)
    print(f"input: {args.n:,} instructions, {words / args.n:.1f} words on average, "
          f"threshold {args.threshold}, seed {args.seed}")
    ours_s, ours_kept = indexed(texts, args.threshold)
    head_s, head_kept = indexed(texts[:args.brute], args.threshold)
    brute_s, brute_kept, comparisons = brute(texts[:args.brute], args.threshold)
    if head_kept != brute_kept or ours_kept[:args.brute] != brute_kept:
        raise SystemExit("decisions differ from brute force")
    kept_before, total = 0, 0
    for k in ours_kept:
        total += kept_before
        kept_before += k
    brute_full_s = brute_s / comparisons * total

    n, m = f"{args.n:,}", f"{args.brute:,}"
    print(f"\n{'loop':<28} {'instructions':>12} {'kept':>7} {'comparisons':>14} {'time (s)':>10}")
    print(f"{'RougeIndex':<28} {m:>12} {sum(head_kept):>7,} {'':>14} {head_s:>10.2f}")
    print(f"{'brute force':<28} {m:>12} {sum(brute_kept):>7,} {comparisons:>14,} {brute_s:>10.2f}")
    print(f"{'RougeIndex':<28} {n:>12} {sum(ours_kept):>7,} {'':>14} {ours_s:>10.2f}")
    print(f"{'brute force (extrapolated)':<28} {n:>12} {'':>7} {total:>14,} {brute_full_s:>10.0f}")
    print(f"\nsame decisions on the first {m}: yes ({sum(brute_kept):,} kept by both)")
    print(f"ratio (brute force / RougeIndex) at {m}: {brute_s / head_s:.1f}x; at {n}: "
          f"{brute_full_s / ours_s:.0f}x (brute force extrapolated from {m}: "
          f"{brute_s / comparisons * 1e6:.2f} us per comparison x {total:,} comparisons)")


if __name__ == "__main__":
    main()
