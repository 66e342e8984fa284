"""The generic statistics of analysis.core.stats against independent references (scipy, numpy, known
values), on data with a known, a null and a reversed effect, and on bad input (moved here from the
Study 2 tests when the statistics moved to core)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.core.errors import StatsError
from analysis.core.stats.correlation import ols_slope, pearson, spearman
from analysis.core.stats.effects import effect_sizes
from analysis.core.stats.groups import mann_whitney, median_split, permutation_test, welch


def synth(effect: float, n: int = 80, noise: float = 0.1, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, n)
    s = np.clip(0.5 + effect * (a - 0.5) + rng.normal(0, noise, n), 0, 1)
    return pd.DataFrame({"x": a, "y": s})


def test_pearson_and_spearman_match_scipy():
    d = synth(0.4, n=50, seed=5)
    x, y = d["x"], d["y"]
    r = pearson(x, y)
    ref = stats.pearsonr(x, y, alternative="greater")
    assert r["estimate"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    ci2 = stats.pearsonr(x, y).confidence_interval(0.95)  # the two-sided interval
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci2.low, ci2.high))
    rho = spearman(x, y, alternative="two-sided")
    ref = stats.spearmanr(x, y)
    assert rho["estimate"] == pytest.approx(ref.statistic) and rho["p"] == pytest.approx(ref.pvalue)
    assert rho["ci_low"] < rho["estimate"] < rho["ci_high"]


def test_negative_link_is_no_evidence_one_sided():
    d = synth(-0.5, seed=3)
    r = pearson(d["x"], d["y"])
    assert r["estimate"] < -0.7 and r["p"] > 0.99
    assert pearson(d["x"], d["y"], alternative="two-sided")["p"] < 0.001


def test_welch_and_mann_whitney_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 30), rng.normal(0, 2, 25)
    w = welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert w["statistic"] == pytest.approx(ref.statistic) and w["p"] == pytest.approx(ref.pvalue)
    assert w["df"] == pytest.approx(ref.df)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (w["ci_low"], w["ci_high"]) == pytest.approx((ci.low, ci.high))
    u = mann_whitney(a, b)
    ref = stats.mannwhitneyu(a, b, alternative="greater", method="asymptotic")
    assert u["statistic"] == pytest.approx(ref.statistic) and u["p"] == pytest.approx(ref.pvalue)
    assert u["estimate"] == pytest.approx(2 * ref.statistic / (30 * 25) - 1)


def test_ols_slope_matches_scipy_and_is_the_pearson_test():
    d = synth(0.6, n=40, seed=9)
    r = ols_slope(d["x"], d["y"])
    ref = stats.linregress(d["x"], d["y"])
    assert r["estimate"] == pytest.approx(ref.slope) and r["intercept"] == pytest.approx(ref.intercept)
    assert r["ci_low"] < ref.slope < r["ci_high"]
    assert r["p"] == pytest.approx(ref.pvalue / 2)  # one-sided, positive slope
    assert r["p"] == pytest.approx(pearson(d["x"], d["y"])["p"])


def test_cohens_d_and_hedges_g_known_values():
    a, b = np.array([2.0, 4.0, 6.0]), np.array([1.0, 3.0, 5.0])  # sd 2 in both, difference 1
    rows = {r["test"]: r for r in effect_sizes(a, b)}
    assert rows["cohens_d"]["estimate"] == pytest.approx(0.5)
    assert rows["hedges_g"]["estimate"] == pytest.approx(0.5 * (1 - 3 / (4 * 6 - 9)))
    assert rows["cohens_d"]["ci_low"] < 0.5 < rows["cohens_d"]["ci_high"]
    assert rows["cohens_d"]["n1"] == 3 and rows["cohens_d"]["n2"] == 3


def test_permutation_test_is_seeded_never_zero_and_agrees_with_welch():
    rng = np.random.default_rng(1)
    a, b = rng.normal(3, 1, 20), rng.normal(0, 1, 20)
    p1 = permutation_test(a, b, n_perm=500, seed=3)
    assert p1 == permutation_test(a, b, n_perm=500, seed=3)
    assert p1["p"] == pytest.approx(1 / 501)  # nothing beats a 3-SD difference: the smallest possible p
    assert permutation_test(rng.normal(0, 1, 30), rng.normal(0, 1, 30), n_perm=2000, seed=0)["p"] > 0.05
    a, b = rng.normal(0.5, 1, 40), rng.normal(0, 1, 40)
    assert permutation_test(a, b, n_perm=5000, seed=0)["p"] == pytest.approx(welch(a, b)["p"], abs=0.03)


def test_median_split_ties():
    x = np.array([0.1, 0.2, 0.5, 0.5, 0.9, 1.0])  # median 0.5, two values exactly at it
    assert median_split(x).tolist() == [False, False, False, False, True, True]
    assert median_split(x, ties="low").tolist() == [False, False, False, False, True, True]
    # Shah et al.'s code: high = at or above the median
    ref = x >= pd.Series(x).median()
    assert median_split(x, ties="high").tolist() == ref.tolist() == [False, False, True, True, True, True]
    with pytest.raises(StatsError, match="ties"):
        median_split(x, ties="middle")


def test_small_and_constant_data_give_notes():
    assert pearson([0.5] * 6, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])["note"] == "no variance in x or y"
    assert "fewer than 4" in pearson([1, 2, 3], [1, 2, 4])["note"]
    assert np.isnan(welch([1.0], [2.0, 3.0])["p"])


def test_bad_input_is_refused_with_a_clear_error():
    with pytest.raises(StatsError, match="same length"):
        pearson([1, 2, 3], [1, 2])
    with pytest.raises(StatsError, match="alternative"):
        pearson([1, 2, 3, 4], [1, 2, 3, 4], alternative="bigger")
    with pytest.raises(StatsError, match="confidence"):
        spearman([1, 2, 3, 4], [1, 2, 3, 4], ci=95)
    with pytest.raises(StatsError, match="permutations"):
        permutation_test([1.0, 2.0], [0.0, 1.0], n_perm=0)
    with pytest.raises(StatsError, match="missing"):
        median_split([0.1, np.nan])
