"""Uncertainty for eval scores: bootstrap intervals, paired candidate-vs-baseline tests, the
regression gate, and agreement between raters (a judge and a person, or a judge with itself).

scipy and sklearn do the statistics; this module fixes the choices an eval needs: percentile
intervals (BCa breaks on constant data, which a suite scoring all 1.0 produces), seeded
resampling so a re-run reports the same numbers, memory bounded on large suites, and undefined
values (kappa of one shared label) reported as None rather than NaN with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

_CELLS = 4_000_000  # resampled values held at once (32 MB of floats): the batch size of scipy's loops


@dataclass(frozen=True)
class Interval:
    mean: float  # the statistic on the data as given (a mean, or what bootstrap_statistic's fn says)
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _batch(n: int) -> int:
    return max(1, _CELLS // max(n, 1))


def bootstrap_mean(values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0) -> Interval:
    """The mean with a percentile bootstrap interval. With no spread to resample (n == 1 or all
    values equal) the interval is the mean itself; with no values everything is NaN."""
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=float)
    if np.isnan(x).any():
        raise ValueError("values hold NaN: leave out the items with nothing to score")
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1 or x.min() == x.max():
        return Interval(mean, mean, mean, n)
    res = bootstrap((x,), np.mean, n_resamples=n_resamples, batch=_batch(n), vectorized=True,
                    confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), n)


def bootstrap_statistic(fn: Callable[..., float], arrays: tuple[np.ndarray, ...], *, paired: bool = True,
                        confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Interval:
    """A percentile bootstrap interval for a statistic that is not a mean of per-item scores, e.g.
    macro-F1: `fn(*arrays)` with the arrays resampled together (paired) by item. fn is called once
    per resample, so keep it cheap or n_resamples small."""
    from scipy.stats import bootstrap

    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if paired and any(len(a) != n for a in arrays):
        raise ValueError(f"paired arrays differ in length: {[len(a) for a in arrays]}")
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    value = float(fn(*arrays))
    if n == 1:
        return Interval(value, value, value, n)  # scipy needs two observations to resample
    res = bootstrap(arrays, fn, n_resamples=n_resamples, vectorized=False, paired=paired,
                    confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Interval(value, float(ci.low), float(ci.high), n)


@dataclass(frozen=True)
class Paired:
    diff: float  # candidate mean - baseline mean
    low: float  # paired bootstrap interval of diff
    high: float
    p_value: float  # two-sided sign-flip permutation test of diff == 0
    relative: float | None  # diff / baseline mean; None when the baseline mean is 0
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired(candidate: Sequence[float], baseline: Sequence[float], *, confidence: float = 0.95,
           seed: int = 0) -> Paired:
    """Candidate against baseline on the same items, item i paired with item i. The p-value swaps
    each pair at random (all 2**n swaps when that is at most 9999, else 9999 seeded draws)."""
    from scipy.stats import permutation_test

    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if c.shape != b.shape or c.ndim != 1:
        raise ValueError(f"candidate and baseline must be paired item by item: {c.shape} vs {b.shape}")
    n = len(c)
    if n == 0:
        return Paired(math.nan, math.nan, math.nan, math.nan, None, 0)
    d = c - b
    ci = bootstrap_mean(d, confidence=confidence, seed=seed)  # resampling items resamples pairs
    base = float(b.mean())
    relative = ci.mean / base if base != 0 else None
    if not d.any() or n == 1:
        # subtle: with no differences every swap ties; with one pair the two swaps are d and -d, and
        # the two-sided p is 1 either way (scipy also refuses fewer than two observations)
        return Paired(ci.mean, ci.low, ci.high, 1.0, relative, n)
    test = permutation_test((c, b), _mean_diff, permutation_type="samples", vectorized=True,
                            n_resamples=9999, batch=_batch(n), alternative="two-sided",
                            rng=np.random.default_rng(seed))
    return Paired(ci.mean, ci.low, ci.high, float(test.pvalue), relative, n)


def gate(relative_drop: float, *, warn: float = 0.02, fail: float = 0.05) -> str:
    """The seeds' regression gate. `relative_drop` is how much worse the candidate is, relative to
    the baseline ((baseline - candidate) / baseline, so -Paired.relative for a higher-is-better
    metric): under 2% "ok", 2% to 5% inclusive "warn", over 5% "fail". Improvements are "ok"."""
    if math.isnan(relative_drop):
        raise ValueError("relative drop is NaN: is the baseline score 0?")
    if not 0 <= warn <= fail:
        raise ValueError(f"need 0 <= warn <= fail, got warn={warn}, fail={fail}")
    if relative_drop > fail:
        return "fail"
    return "warn" if relative_drop >= warn else "ok"


def _labels(values: list) -> list:
    try:
        return sorted(set(values))
    except TypeError:  # labels of mixed types: keep the order they first appear in
        return list(dict.fromkeys(values))


def agreement(a: Sequence, b: Sequence) -> dict[str, Any]:
    """How often two raters give the same verdict on the same items, raw and chance-corrected
    (Cohen's kappa), with the confusion matrix (rows a, columns b). Kappa is None when undefined:
    both raters used one and the same label throughout, or there are no items."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"raters judged different numbers of items: {len(a)} vs {len(b)}")
    labels = _labels(a + b)
    if not a:
        return {"n": 0, "agreement": None, "kappa": None, "labels": [], "confusion": []}
    if len(labels) == 1:  # sklearn warns on a 1x1 matrix, and kappa is 0/0
        kappa, confusion = None, [[len(a)]]
    else:
        kappa = float(cohen_kappa_score(a, b, labels=labels))
        confusion = confusion_matrix(a, b, labels=labels).tolist()
    return {
        "n": len(a),
        "agreement": sum(x == y for x, y in zip(a, b, strict=True)) / len(a),
        "kappa": kappa,
        "labels": labels,
        "confusion": confusion,
    }


def per_item_agreement(repeats: list[list]) -> float:
    """For R repeated verdicts on N items (R lists of length N): the share of items whose R
    verdicts are all equal, i.e. how often a judge agrees with itself. NaN with no items."""
    if not repeats:
        raise ValueError("no repeats")
    n = len(repeats[0])
    if any(len(r) != n for r in repeats):
        raise ValueError(f"repeats differ in length: {[len(r) for r in repeats]}")
    if n == 0:
        return math.nan
    return sum(all(r[i] == repeats[0][i] for r in repeats) for i in range(n)) / n
