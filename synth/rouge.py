"""ROUGE-L between short texts, and an exact incremental index for the Self-Instruct novelty filter.

Self-Instruct keeps a new instruction only if its ROUGE-L F against every kept one is below 0.7;
comparing with the whole pool is quadratic. `RougeIndex` answers the same question exactly with a
set-similarity join: multiset tokens become set elements (the k-th `the` is `("the", k)`), each
kept text is indexed under the prefix of its elements in a global order (rarest first), and only
texts sharing a prefix element are candidates; candidates then pass a length filter, PPJoin's
positional filter, an overlap bound from 64 hashed token counts per text, and finally an exact
bit-parallel LCS. Each filter only drops pairs that provably score below the threshold, so the
decisions equal brute force's. ROUGE-L F here is 2*LCS/(len(a)+len(b)) on rouge_score's tokens
(no stemming), the same float in the index and in `rouge_l`.
"""

from __future__ import annotations

import re
from zlib import crc32

import numpy as np

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Common English function words, most frequent last: before the index has seen enough text to
# order elements by frequency, these go to the end of every text's order (out of its prefix).
_STOP = ("about more other only its who them very been into out when what which than there all "
         "would will can their if has an so they we but had do have not are were your or this by "
         "be as you at was from with on that it for is in and a to of the").split()
_STOP_RANK = {w: i + 1 for i, w in enumerate(_STOP)}
_FIRST_REORDER = 64  # kept texts at the first re-ordering by frequency; then at every doubling
_BUCKETS = 64  # hashed token counts kept per text, for an overlap bound (a power of two)

Element = tuple[str, int]  # (token, k): the k-th occurrence of the token in its text


def tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer without stemming: lowercase, non-[a-z0-9] become spaces."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def _masks(a: list[str]) -> dict[str, int]:
    masks: dict[str, int] = {}
    for i, t in enumerate(a):
        masks[t] = masks.get(t, 0) | (1 << i)
    return masks


def _lcs(la: int, masks: dict[str, int], b: list[str]) -> int:
    # Bit-parallel LCS (Allison-Dix, Hyyro): bit i of v is 0 where row i of the DP column steps up.
    # Carries may run past bit la; they never come back down, so masking once at the end suffices.
    v = (1 << la) - 1
    for t in b:
        m = masks.get(t)
        if m:
            u = v & m
            v = (v + u) | (v - u)
    return la - (v & ((1 << la) - 1)).bit_count()


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1, 2*LCS/(len(a)+len(b)); 0.0 if either is empty."""
    if not a or not b:
        return 0.0
    return 2 * _lcs(len(a), _masks(a), b) / (len(a) + len(b))


def _elements(toks: list[str]) -> list[Element]:
    seen: dict[str, int] = {}
    out = []
    for t in toks:
        seen[t] = k = seen.get(t, 0) + 1
        out.append((t, k))
    return out


class _Grow:
    """Rows appended to a numpy array that doubles when full: amortized O(1) appends, free views."""

    __slots__ = ("a", "n")

    def __init__(self, width: int, dtype: type = np.int32, rows: np.ndarray | None = None):
        self.a = np.zeros((4, width), dtype) if rows is None else rows
        self.n = 0 if rows is None else len(rows)

    def append(self, row: object) -> None:
        if self.n == len(self.a):
            self.a = np.concatenate([self.a, np.zeros_like(self.a)])
        self.a[self.n] = row
        self.n += 1


def _bucket_counts(toks: list[str]) -> np.ndarray:
    # Token counts hashed into _BUCKETS: sum over buckets of min(count_x, count_y) >= the multiset
    # overlap of x and y (min(a1 + a2, b1 + b2) >= min(a1, b1) + min(a2, b2)), and LCS <= overlap.
    return np.bincount([crc32(t.encode()) & (_BUCKETS - 1) for t in toks], minlength=_BUCKETS)


class RougeIndex:
    """Kept texts, searchable for any with ROUGE-L F >= threshold, with brute force's answers."""

    def __init__(self, threshold: float = 0.7):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._texts: list[list[str]] = []
        self._buckets = _Grow(_BUCKETS, np.uint8)  # _bucket_counts of each kept text, at most 255
        self._df: dict[Element, int] = {}  # kept texts holding each element
        # prefix element -> rows (position, length, length - rank in the text's order)
        self._postings: dict[Element, _Grow] = {}
        self._rank: dict[Element, int] = {}  # the frequency order, frozen at the last re-ordering
        self._need = np.zeros(1, np.int64)  # _need[n]: least LCS with 2*LCS/n >= threshold (floats)
        self._alpha: list[int] = [0]  # _alpha[l]: least overlap any partner of a length-l text needs
        self._least_lb: list[int] = [1]  # the least partner length that reaches _alpha[l]
        self._reorder_at = _FIRST_REORDER
        self._longest = 0

    def __len__(self) -> int:
        return len(self._texts)

    def most_similar(self, text: str) -> tuple[float, int | None]:
        """(F, position) of the kept text with the highest ROUGE-L F, if that F >= threshold.

        Positions count `add` calls from 0; among equal scores the earliest wins. When no kept text
        reaches the threshold the answer is exactly (0.0, None): scores below it are not computed.
        """
        toks = tokens(text)
        la = len(toks)
        if not la or not self._texts:
            return 0.0, None
        elems = self._ordered(toks)
        # subtle: prefix filtering. A match needs overlap >= LCS >= alpha(la) and >= alpha(lb);
        # two element sets with overlap >= o share an element among their first l - o + 1 (in the
        # one global order), so probing la - alpha(la) + 1 against the indexed lb - alpha(lb) + 1
        # misses nothing.
        hits = [(la - i, p.a[:p.n]) for i in range(la - self._alpha_at(la) + 1)
                if (p := self._postings.get(elems[i])) is not None]
        if not hits:
            return 0.0, None
        entries = np.concatenate([h for _, h in hits])  # one per shared prefix element
        room = np.repeat(np.array([r for r, _ in hits]), [len(h) for _, h in hits])  # la - i
        need = self._need_upto(la + self._longest)[la + entries[:, 1]]
        # Positional filter (PPJoin): a pair's first shared element lies within both of its own
        # prefixes, i <= la - need and j <= lb - need (which also implies the length filter,
        # need <= min(la, lb)). A text's later entries have larger i and j, so a text passes iff
        # any of its entries does.
        ok = np.minimum(room, entries[:, 2]) >= need
        y, need = entries[ok, 0], need[ok]
        counts = _bucket_counts(toks)
        # subtle: stored counts stop at 255, which only understates min(x, y) where x's is over 255
        if len(y) and counts.max() < 255:
            bound = np.minimum(self._buckets.a.take(y, 0), counts.astype(np.uint8)).sum(1, np.int32)
            y = y[bound >= need]
        best, where, masks = 0.0, None, _masks(toks) if len(y) else {}
        for c in sorted(set(y.tolist())):  # ascending positions: the earliest of equal scores wins
            f = 2 * _lcs(la, masks, self._texts[c]) / (la + len(self._texts[c]))  # as rouge_l
            if f >= self.threshold and f > best:
                best, where = f, c
        return best, where

    def add(self, text: str) -> int:
        """Keep `text` (whatever its score) and return its position."""
        toks = tokens(text)
        at = len(self._texts)
        self._texts.append(toks)
        self._longest = max(self._longest, len(toks))
        self._buckets.append(np.minimum(_bucket_counts(toks), 255))
        for e in _elements(toks):
            self._df[e] = self._df.get(e, 0) + 1
        if len(self._texts) >= self._reorder_at:
            self._reorder()
        else:
            self._index(at, toks)
        return at

    def _order_key(self, e: Element) -> tuple:
        r = self._rank.get(e)
        if r is not None:
            return (1, r)
        # Elements unseen at the last re-ordering are the rarest: first, by a stable hash.
        return (0, _STOP_RANK.get(e[0], 0), -e[1], crc32(e[0].encode()), e[0])

    def _ordered(self, toks: list[str]) -> list[Element]:
        return sorted(_elements(toks), key=self._order_key)

    def _prefix(self, toks: list[str]) -> list[Element]:
        return self._ordered(toks)[:len(toks) - self._alpha_at(len(toks)) + 1] if toks else []

    def _index(self, at: int, toks: list[str]) -> None:
        for j, e in enumerate(self._prefix(toks)):
            if (p := self._postings.get(e)) is None:
                self._postings[e] = p = _Grow(3)
            p.append((at, len(toks), len(toks) - j))

    def _reorder(self) -> None:
        """Order elements rarest first by their current frequency, and re-index every kept text.

        Prefix filtering is correct for any global order as long as every indexed prefix and every
        probe use the same one; rare-first keeps posting lists short (AllPairs, PPJoin). The order
        is frozen between re-orderings, which come at each doubling: O(total length) amortized.
        """
        self._rank = {}  # subtle: cleared first, so _order_key below gives the stable tie-break
        ranked = sorted(self._df, key=lambda e: (self._df[e], *self._order_key(e)))
        self._rank = {e: r for r, e in enumerate(ranked)}
        lists: dict[Element, list[int]] = {}
        for at, toks in enumerate(self._texts):
            for j, e in enumerate(self._prefix(toks)):
                lists.setdefault(e, []).extend((at, len(toks), len(toks) - j))
        self._postings = {e: _Grow(3, rows=np.array(v, np.int32).reshape(-1, 3)) for e, v in lists.items()}
        self._reorder_at = 2 * len(self._texts)

    def _need_upto(self, n: int) -> np.ndarray:
        if len(self._need) <= n:
            t, need = self.threshold, self._need.tolist()
            for m in range(len(need), max(n + 1, 2 * len(need))):
                # The least L whose float 2*L/m reaches t (so a division that rounds up to the
                # threshold counts, as in brute force): from near t*m/2, step down, then up.
                lo = max(int(t * m / 2), 0)
                while lo > 0 and 2 * (lo - 1) / m >= t:
                    lo -= 1
                while 2 * lo / m < t:
                    lo += 1
                need.append(lo)
            self._need = np.array(need, np.int64)
        return self._need

    def _alpha_at(self, la: int) -> int:
        # Least overlap a pair (la, lb) with F >= t can have, over all lb: need[la + lb] with
        # need <= min(la, lb). need never falls as n grows, so it is need at the least feasible lb;
        # lb = la is always feasible (2*la/(2*la) = 1 >= t), and an lb feasible for m is feasible
        # for m - 1, so the search for m starts at the least feasible lb for m - 1.
        alpha, least = self._alpha, self._least_lb
        while len(alpha) <= la:
            m = len(alpha)
            need, lb = self._need_upto(2 * m), least[-1]
            while need[m + lb] > lb:
                lb += 1
            alpha.append(int(need[m + lb]))
            least.append(lb)
        return alpha[la]
