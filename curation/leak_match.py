"""How a training example is matched to an evaluation item: the lexical methods, one text at a time.

The eval side is small and indexed once; training examples stream past it. Each method answers
with the eval item it matched and a score, so a person can judge the match:
- exact: the same normalized question (score 1);
- ngram: the share of the eval question's word n-grams found anywhere in the training example
  (13-grams, as in the GPT-3 contamination study; 8-grams for questions shorter than that);
- minhash: the estimated Jaccard of word-shingle sets of the two questions (datasketch).
Embedding similarity, the fourth method, needs vectors and lives in `leakage`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from gristmill.curation.text import Normalization, normalize

Method = Literal["exact", "ngram", "minhash", "embedding"]
METHODS: tuple[Method, ...] = ("exact", "ngram", "minhash", "embedding")
SHORT = 8  # n-gram size for eval questions shorter than n words


@dataclass(frozen=True, slots=True)
class Match:
    eval: int  # position among the eval items
    method: Method
    score: float


class LexicalIndex:
    """The eval questions, indexed for the exact, n-gram and MinHash methods."""

    def __init__(self, questions: list[str], methods: tuple[Method, ...], how: tuple[Normalization, ...],
                 n: int, min_overlap: float, shingle: int, num_perm: int, jaccard: float):
        self.methods, self.how = methods, how
        self.n, self.min_overlap, self.shingle, self.jaccard = n, min_overlap, shingle, jaccard
        words = [normalize(q, how).split() for q in questions]
        self.exact = {_digest(" ".join(w)): i for i, w in reversed(list(enumerate(words))) if w}
        self.grams: dict[str, list[int]] = {}
        self.n_grams = [0] * len(words)
        # subtle: a question shorter than n words is cut into SHORT-word grams, so training text
        # is cut at two window sizes, not one per question length; shorter ones are left to the
        # other methods (a 5-word question inside a long chat is no evidence of a leak)
        self.sizes = sorted({min(n, SHORT), n})
        for i, w in enumerate(words):
            grams = _grams(w, n if len(w) >= n else min(n, SHORT)) if len(w) >= min(n, SHORT) else set()
            self.n_grams[i] = len(grams)
            for g in grams:
                self.grams.setdefault(g, []).append(i)
        self.lsh = self.sketches = None
        if "minhash" in methods:
            from datasketch import MinHash, MinHashLSH

            self.lsh = MinHashLSH(threshold=jaccard, num_perm=num_perm)
            self.sketches = MinHash.bulk([_shingles(w, shingle) for w in words], num_perm=num_perm)
            self.permutations = MinHash(num_perm=num_perm).permutations  # drawn once, not per text
            for i, (w, sketch) in enumerate(zip(words, self.sketches, strict=True)):
                if w:
                    self.lsh.insert(i, sketch)

    def match(self, question: str, whole: str) -> Match | None:
        """The first method, in the configured order, that ties `question` (the training
        example's first user message) or `whole` (all its text) to an eval item."""
        words = None
        for method in self.methods:
            if method == "exact":
                words = words or normalize(question, self.how).split()
                if words and (i := self.exact.get(_digest(" ".join(words)))) is not None:
                    return Match(i, "exact", 1.0)
            elif method == "ngram" and (found := self._ngram(whole)) is not None:
                return found
            elif method == "minhash":
                words = words or normalize(question, self.how).split()
                if words and (found := self._minhash(words)) is not None:
                    return found
        return None

    def _ngram(self, whole: str) -> Match | None:
        words = normalize(whole, self.how).split()
        hits: dict[int, int] = {}
        for size in self.sizes:
            for g in _grams(words, size):
                for i in self.grams.get(g, ()):
                    hits[i] = hits.get(i, 0) + 1
        best = max(hits, key=lambda i: (hits[i] / self.n_grams[i], -i), default=None)
        if best is None:
            return None
        score = min(1.0, hits[best] / self.n_grams[best])
        return Match(best, "ngram", round(score, 4)) if score >= self.min_overlap else None

    def _minhash(self, words: list[str]) -> Match | None:
        from datasketch import MinHash

        sketch = MinHash(len(self.permutations[0]), permutations=self.permutations, scheme="affine32")
        sketch.update_batch(_shingles(words, self.shingle))
        scored = [(sketch.jaccard(self.sketches[i]), -i) for i in self.lsh.query(sketch)]
        if not scored:
            return None
        score, neg = max(scored)
        return Match(-neg, "minhash", round(score, 4)) if score >= self.jaccard else None


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _grams(words: list[str], n: int) -> set[str]:
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def _shingles(words: list[str], k: int) -> list[bytes]:
    if len(words) <= k:
        return [" ".join(words).encode()]
    return [" ".join(words[i:i + k]).encode() for i in range(len(words) - k + 1)]
