"""Intervals, paired tests, the gate and agreement, against hand computations and brute force."""

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from gristmill.evals import stats


@pytest.mark.filterwarnings("error")
def test_bootstrap_mean_contains_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(7)
    widths = []
    for n in (20, 200, 2000):
        x = (rng.random(n) < 0.6).astype(float)
        ci = stats.bootstrap_mean(x)
        assert ci.n == n and ci.mean == pytest.approx(x.mean())
        assert ci.low < ci.mean < ci.high
        widths.append(ci.high - ci.low)
    # the width shrinks like 1/sqrt(n): about sqrt(10) per step
    assert widths[0] > 2 * widths[1] > 4 * widths[2]


def test_bootstrap_mean_of_a_binomial_matches_the_normal_approximation():
    x = np.array([1.0] * 300 + [0.0] * 700)
    half = 1.959964 * math.sqrt(0.3 * 0.7 / 1000)  # 0.0284
    ci = stats.bootstrap_mean(x)
    assert ci.low == pytest.approx(0.3 - half, abs=0.004)
    assert ci.high == pytest.approx(0.3 + half, abs=0.004)
    wide = stats.bootstrap_mean(x, confidence=0.99)
    assert wide.low < ci.low and wide.high > ci.high


@pytest.mark.filterwarnings("error")
def test_bootstrap_mean_degenerate_cases():
    assert stats.bootstrap_mean([1.0] * 50) == stats.Interval(1.0, 1.0, 1.0, 50)
    assert stats.bootstrap_mean([0.25]) == stats.Interval(0.25, 0.25, 0.25, 1)
    empty = stats.bootstrap_mean([])
    assert empty.n == 0 and all(math.isnan(v) for v in (empty.mean, empty.low, empty.high))
    assert stats.bootstrap_mean([0.5, 1.0]).as_dict().keys() == {"mean", "low", "high", "n"}
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_mean([1.0, math.nan])


def test_bootstrap_is_seeded():
    x = np.random.default_rng(3).random(100)
    assert stats.bootstrap_mean(x, seed=1) == stats.bootstrap_mean(x, seed=1)
    assert stats.bootstrap_mean(x, seed=1) != stats.bootstrap_mean(x, seed=2)


def test_bootstrap_statistic_resamples_items_together():
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1] * 5)
    same = lambda a, b: float(np.mean(a == b))  # noqa: E731
    # paired, a perfect agreement stays perfect in every resample; unpaired it falls apart
    together = stats.bootstrap_statistic(same, (y, y.copy()), n_resamples=200)
    assert together == stats.Interval(1.0, 1.0, 1.0, 40)
    unpaired = stats.bootstrap_statistic(same, (y, y.copy()), paired=False, n_resamples=200)
    assert unpaired.mean == 1.0 and unpaired.high < 0.9


def test_bootstrap_statistic_of_macro_f1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    pred = np.where(rng.random(120) < 0.7, y, rng.integers(0, 3, 120))
    macro = lambda a, b: f1_score(a, b, average="macro")  # noqa: E731
    ci = stats.bootstrap_statistic(macro, (y, pred), n_resamples=200)
    assert ci.mean == pytest.approx(f1_score(y, pred, average="macro"))
    assert ci.low < ci.mean < ci.high and ci.high - ci.low < 0.3 and ci.n == 120
    with pytest.raises(ValueError, match="differ in length"):
        stats.bootstrap_statistic(macro, (y, pred[:-1]))


@pytest.mark.filterwarnings("error")
def test_paired_clearly_better_candidate():
    rng = np.random.default_rng(11)
    baseline = (rng.random(200) < 0.4).astype(float)
    candidate = (rng.random(200) < 0.7).astype(float)
    p = stats.paired(candidate, baseline)
    assert p.diff == pytest.approx(candidate.mean() - baseline.mean())
    assert p.diff > 0.2 and p.low > 0 and p.low < p.diff < p.high
    assert p.p_value < 0.01
    assert p.relative == pytest.approx(p.diff / baseline.mean())
    assert p.n == 200


@pytest.mark.filterwarnings("error")
def test_paired_identical_arrays():
    x = np.random.default_rng(5).random(300)
    p = stats.paired(x, x)
    assert (p.diff, p.low, p.high, p.p_value, p.relative, p.n) == (0.0, 0.0, 0.0, 1.0, 0.0, 300)


def test_paired_noise_is_not_significant():
    rng = np.random.default_rng(2024)
    baseline = rng.random(150)
    candidate = baseline + rng.normal(0, 0.1, 150)
    p = stats.paired(candidate, baseline)
    assert p.low < 0 < p.high
    assert p.p_value > 0.05


def test_paired_p_value_matches_brute_force_sign_flips():
    baseline = np.array([0.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.0, 0.0])
    candidate = np.array([1.0, 1.0, 0.0, 2.0, 0.5, 1.0, 1.0, 3.0])
    d = candidate - baseline  # integers: sums are exact, no ties lost to rounding
    observed = abs(d.mean())
    flips = [abs(np.mean(d * s)) for s in itertools.product((1, -1), repeat=len(d))]
    want = sum(f >= observed for f in flips) / len(flips)  # 2**8 = 256 <= 9999: scipy goes exact
    assert stats.paired(candidate, baseline).p_value == pytest.approx(want)
    # three pairs all better by one: only the all-plus and all-minus flips reach |mean| 1, 2 of 8
    assert stats.paired([1, 1, 1], [0, 0, 0]).p_value == pytest.approx(0.25)


def test_paired_relative_and_errors():
    p = stats.paired([1, 1, 0, 1], [1, 0, 0, 1])
    assert p.diff == pytest.approx(0.25) and p.relative == pytest.approx(0.5)  # 0.75 vs 0.5
    assert stats.paired([1, 0], [0, 0]).relative is None
    assert stats.paired([1], [0]).p_value == 1.0
    with pytest.raises(ValueError, match="paired item by item"):
        stats.paired([1, 0, 1], [1, 0])


@pytest.mark.parametrize("drop, want", [
    (-0.3, "ok"), (0.0, "ok"), (0.0199, "ok"), (0.02, "warn"), (0.035, "warn"), (0.05, "warn"),
    (0.0501, "fail"), (0.5, "fail"),
])
def test_gate_boundaries(drop, want):
    assert stats.gate(drop) == want


def test_gate_custom_thresholds_and_errors():
    assert stats.gate(0.015, warn=0.01, fail=0.02) == "warn"
    assert stats.gate(0.025, warn=0.01, fail=0.02) == "fail"
    with pytest.raises(ValueError, match="NaN"):
        stats.gate(math.nan)
    with pytest.raises(ValueError, match="warn <= fail"):
        stats.gate(0.1, warn=0.05, fail=0.02)


def test_agreement_kappa_by_hand():
    # both yes 4, a yes / b no 1, a no / b yes 2, both no 3
    a = ["yes"] * 4 + ["yes"] + ["no"] * 2 + ["no"] * 3
    b = ["yes"] * 4 + ["no"] + ["yes"] * 2 + ["no"] * 3
    # p_o = 7/10; a says yes 5/10, b 6/10: p_e = .5 * .6 + .5 * .4 = .5; kappa = (.7 - .5) / .5
    out = stats.agreement(a, b)
    assert out["n"] == 10 and out["agreement"] == pytest.approx(0.7)
    assert out["kappa"] == pytest.approx(0.4)
    assert out["labels"] == ["no", "yes"]
    assert out["confusion"] == [[3, 2], [1, 4]]  # rows a, columns b


@pytest.mark.filterwarnings("error")
def test_agreement_undefined_and_degenerate():
    same = stats.agreement(["pass"] * 5, ["pass"] * 5)
    assert same["kappa"] is None and same["agreement"] == 1.0 and same["confusion"] == [[5]]
    # each rater sticks to its own label: p_o = 0 = p_e, so kappa is 0, not undefined
    apart = stats.agreement(["x"] * 4, ["y"] * 4)
    assert apart["kappa"] == 0.0 and apart["confusion"] == [[0, 4], [0, 0]]
    assert stats.agreement([True, False], [True, True])["labels"] == [False, True]
    assert stats.agreement([], [])["kappa"] is None
    with pytest.raises(ValueError, match="2 vs 1"):
        stats.agreement(["a", "b"], ["a"])


def test_per_item_agreement():
    repeats = [[1, 0, 1, 1, "a"],
               [1, 0, 0, 1, "a"],
               [1, 1, 1, 1, "a"]]
    # item 0 all 1, item 1 differs, item 2 differs, item 3 all 1, item 4 all "a": 3 of 5
    assert stats.per_item_agreement(repeats) == pytest.approx(0.6)
    assert stats.per_item_agreement([[0, 1, 2]]) == 1.0
    assert math.isnan(stats.per_item_agreement([[], []]))
    with pytest.raises(ValueError, match="differ in length"):
        stats.per_item_agreement([[1, 2], [1]])
    with pytest.raises(ValueError, match="no repeats"):
        stats.per_item_agreement([])
