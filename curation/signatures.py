"""MinHash signatures for a batch of texts at once, with datasketch's own permutations.

Shingles are hashed with polynomial prefix hashes over the whole batch in numpy (no Python loop
per shingle), then each 32-bit shingle hash goes through datasketch's "affine32" scheme: the
MurmurHash3 finalizer, then `a * h + b mod 2^32` with datasketch's `a, b` for the seed. The result
equals `datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash).update_batch(shingles)`, which a
test checks. A text shorter than one shingle is one shingle of its whole normalized text, so short
texts do not all share the empty set's signature.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

from gristmill import workers as worker_pools

Shingle = Literal["word", "char"]
SCHEME = "poly64-affine32/1"  # bump when the hashing changes: stored signatures are keyed by it
_P = np.uint64(0x9E3779B97F4A7C15)  # odd bases, so they are invertible modulo 2^64
_Q = np.uint64(0xC2B2AE3D27D4EB4F)
_SPACE = np.array([chr(c).isspace() for c in range(0x3002)])  # the last is every code above
_CHUNK = 1 << 18  # shingles permuted at once: 2^18 x num_perm x 4 bytes (128 MB at 128)


@dataclass(frozen=True)
class Shingling:
    """How texts become sets: word or character n-grams of `size`, hashed under `num_perm`
    permutations drawn from `seed` (datasketch's generator)."""

    shingle: Shingle = "word"
    size: int = 3
    num_perm: int = 128
    seed: int = 1


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, the pre-mix of datasketch's affine32 scheme."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@cache
def _powers(base: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """base^i and base^-i modulo 2^64 for i < n (uint64 arithmetic wraps, which is the modulo)."""
    up = np.full(n, base, np.uint64)
    down = np.full(n, pow(base, -1, 1 << 64), np.uint64)
    up[0] = down[0] = 1
    return np.cumprod(up, dtype=np.uint64), np.cumprod(down, dtype=np.uint64)


def _spans(starts: np.ndarray, lengths: np.ndarray, size: int,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window of `size` units inside each (start, length) range, or the whole range when it
    is shorter: window starts, ends, and windows per range (at least one each)."""
    counts = np.maximum(lengths - size + 1, 1)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    lo = np.repeat(starts, counts) + np.arange(counts.sum()) - first
    hi = lo + np.minimum(np.repeat(lengths, counts), size)
    return lo, hi, counts


def _substring_hashes(values: np.ndarray, base: np.uint64, lo: np.ndarray, hi: np.ndarray):
    """Polynomial hashes of values[lo:hi] for every (lo, hi), from one prefix sum."""
    n = 1 << max(16, len(values).bit_length())  # subtle: a few sizes, so the cache stays small
    up, down = _powers(int(base), n)
    prefix = np.zeros(len(values) + 1, np.uint64)
    np.cumsum(values.astype(np.uint64) * up[:len(values)], out=prefix[1:])
    return (prefix[hi] - prefix[lo]) * down[lo]


def shingle_hashes(texts: Sequence[str], shingling: Shingling) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every text's shingles, concatenated, and how many each text has."""
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    starts = np.cumsum(lengths + 1) - lengths - 1  # texts are joined by one newline
    codes = np.frombuffer("\n".join(texts).encode("utf-32-le", "surrogatepass"), np.uint32)
    if shingling.shingle == "char":
        lo, hi, counts = _spans(starts, lengths, shingling.size)
        hashes = _substring_hashes(codes, _P, lo, hi)
    else:
        space = _SPACE[np.minimum(codes, len(_SPACE) - 1)]
        edges = np.flatnonzero(np.diff(np.concatenate(([True], space, [True])).astype(np.int8)))
        word_lo, word_hi = edges[0::2], edges[1::2]  # runs of non-space
        words = _substring_hashes(codes, _P, word_lo, word_hi)
        first = np.searchsorted(word_lo, starts)
        n_words = np.searchsorted(word_lo, starts + lengths) - first
        lo, hi, counts = _spans(first, n_words, shingling.size)
        hashes = _substring_hashes(words, _Q, lo, hi)
    return (fmix64(hashes) >> np.uint64(32)).astype(np.uint32), counts


def signatures(texts: Sequence[str], shingling: Shingling) -> np.ndarray:
    """A (len(texts), num_perm) uint32 array of MinHash signatures."""
    hashes, counts = shingle_hashes(texts, shingling)
    a, b = permutations(shingling.num_perm, shingling.seed)
    mixed = fmix32(hashes)
    bounds = np.cumsum(counts) - counts  # each text's first shingle
    out = np.full((len(texts), len(a)), np.iinfo(np.uint32).max, np.uint32)
    for lo in range(0, len(mixed), _CHUNK):  # subtle: a long text may span several chunks
        hi = min(lo + _CHUNK, len(mixed))
        # (perm, shingle) order: reduceat along the contiguous axis is 15x faster
        permuted = a[:, None] * mixed[None, lo:hi]
        permuted += b[:, None]
        first = np.searchsorted(bounds, lo, "right") - 1
        last = np.searchsorted(bounds, hi - 1, "right")
        part = np.minimum.reduceat(permuted, np.maximum(bounds[first:last], lo) - lo, axis=1)
        np.minimum(out[first:last], part.T, out=out[first:last])
    return out


_JOB: tuple | None = None  # (texts, shingling, prepare, output) for forked workers


def _sign_range(span: tuple[int, int]) -> int:
    texts, shingling, prepare, out = _JOB
    lo, hi = span
    out[lo:hi] = signatures([prepare(t) for t in texts[lo:hi]], shingling)
    return hi - lo


def sign_all(texts: Sequence[str], shingling: Shingling, prepare: Callable[[str], str],
             workers: int = 1, batch: int = 4096, on_batch: Callable[[int], None] | None = None,
             ) -> np.ndarray:
    """Signatures of `prepare(text)` for every text; with workers > 1, forked processes sign
    batches into one shared buffer (they inherit `texts`, so no text is pickled)."""
    global _JOB
    on_batch = on_batch or (lambda n: None)
    shape = (len(texts), shingling.num_perm)
    spans = [(lo, min(lo + batch, len(texts))) for lo in range(0, len(texts), batch)]
    if workers <= 1 or len(spans) < 2:
        out = np.empty(shape, np.uint32)
        for lo, hi in spans:
            out[lo:hi] = signatures([prepare(t) for t in texts[lo:hi]], shingling)
            on_batch(hi - lo)
        return out
    buffer = mmap.mmap(-1, max(1, shape[0] * shape[1] * 4))  # anonymous and shared across fork
    out = np.frombuffer(buffer, np.uint32).reshape(shape)
    _JOB = (texts, shingling, prepare, out)
    try:
        with worker_pools.pool(workers, "fork") as pool:
            for done in pool.imap_unordered(_sign_range, spans):
                on_batch(done)
    finally:
        _JOB = None
    return out  # subtle: the array keeps the shared buffer alive
