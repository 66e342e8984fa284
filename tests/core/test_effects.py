import numpy as np
import pytest

from analysis.core.stats.effects import cohen_d, hedges_g
from analysis.core.stats.multiplicity import adjust


def test_cohen_d_known_value_and_ci_coverage():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        x, y = rng.normal(0.5, 1, 40), rng.normal(0, 1, 40)
        r = cohen_d(x, y)
        covered += r["d_ci_low"] <= 0.5 <= r["d_ci_high"]
    assert 0.90 <= covered / 200 <= 0.99


def test_cohen_d_exact_and_hedges_smaller():
    x, y = [2, 4, 6], [1, 2, 3]
    r = cohen_d(x, y)
    sp = np.sqrt((4 + 1) / 2)
    assert r["d"] == pytest.approx(2 / sp)
    g = hedges_g(x, y)
    assert abs(g["g"]) < abs(r["d"]) and g["n1"] == 3


def test_null_effect_ci_contains_zero_mostly():
    rng = np.random.default_rng(1)
    hits = sum(cohen_d(rng.normal(size=30), rng.normal(size=30))["d_ci_low"] <= 0 for _ in range(50))
    assert hits > 40


def test_degenerate_groups():
    assert "fewer than 2" in cohen_d([1], [1, 2])["note"]
    assert "no variance" in cohen_d([1, 1], [1, 1])["note"]


def test_adjust_keeps_nans():
    p = adjust([0.01, np.nan, 0.04, 0.03], "holm")
    assert np.isnan(p[1]) and p[0] == pytest.approx(0.03) and p[2] == pytest.approx(0.06)


# ---- noncentral-t intervals: agreement with the test, at every n (issue 17) -------------------------------

from scipy import stats  # noqa: E402

from analysis.core.stats.effects import effect_sizes, nct_ci, paired_hedges_g  # noqa: E402


def _ncp_by_ppf_bisection(t, df, q, lo=-200.0, hi=200.0):
    """Independent reference: the ncp at which t is the q-quantile of the noncentral t, by plain bisection
    on scipy's quantile function (the code under test inverts the cdf with Brent's method)."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if stats.nct.ppf(q, df, mid) < t:  # the quantile increases with the ncp
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@pytest.mark.parametrize("t,df", [(1.7438683312451084, 5), (-0.68, 5), (4.2, 2), (14.3, 5), (0.0, 7), (-2.5, 30)])
def test_nct_interval_matches_an_independent_inversion(t, df):
    lo, hi = nct_ci(t, df, 0.95)
    assert lo == pytest.approx(_ncp_by_ppf_bisection(t, df, 0.975), abs=1e-6)
    assert hi == pytest.approx(_ncp_by_ppf_bisection(t, df, 0.025), abs=1e-6)


def test_nct_interval_at_large_df_is_the_normal_one():
    lo, hi = nct_ci(2.0, 1e6, 0.95)  # t(df -> inf) is z, and the ncp interval is t -/+ 1.96
    assert lo == pytest.approx(2 - 1.959964, abs=1e-3) and hi == pytest.approx(2 + 1.959964, abs=1e-3)


def _excludes_zero(lo, hi):
    return lo > 0 or hi < 0


@pytest.mark.parametrize("ci", [0.95, 0.9])
def test_paired_g_interval_agrees_with_the_paired_t_test_at_every_small_n(ci):
    rng = np.random.default_rng(17)
    checked = disagree = 0
    for n in range(3, 13):
        for _ in range(60):
            x = rng.normal(0, 1, n)
            y = 0.6 * x + rng.normal(rng.uniform(-1, 1), 0.8, n)
            r = paired_hedges_g(y, x, ci)
            p = stats.ttest_rel(y, x).pvalue
            assert r["p"] == pytest.approx(p)
            if abs(p - (1 - ci)) < 1e-6:
                continue
            checked += 1
            disagree += _excludes_zero(r["ci_low"], r["ci_high"]) != (p < 1 - ci)
            assert _excludes_zero(r["dz_ci_low"], r["dz_ci_high"]) == (p < 1 - ci)
            assert r["ci_low"] <= r["g"] <= r["ci_high"]
    assert checked > 500 and disagree == 0


@pytest.mark.parametrize("n1,n2", [(2, 2), (3, 6), (6, 3), (4, 5), (8, 12)])
def test_independent_d_and_g_intervals_agree_with_students_t_test(n1, n2):
    rng = np.random.default_rng(n1 * 100 + n2)
    disagree = 0
    for _ in range(150):
        x, y = rng.normal(rng.uniform(-2, 2), 1, n1), rng.normal(0, rng.uniform(0.5, 2), n2)
        p = stats.ttest_ind(x, y, equal_var=True).pvalue
        r = cohen_d(x, y)
        assert r["p_student"] == pytest.approx(p)
        disagree += _excludes_zero(r["d_ci_low"], r["d_ci_high"]) != (p < 0.05)
        disagree += _excludes_zero(r["g_ci_low"], r["g_ci_high"]) != (p < 0.05)
        g = hedges_g(x, y)
        disagree += _excludes_zero(g["ci_low"], g["ci_high"]) != (p < 0.05)
        for row in effect_sizes(x, y):
            disagree += _excludes_zero(row["ci_low"], row["ci_high"]) != (p < 0.05)
    assert disagree == 0


def test_cohen_d_interval_is_the_noncentral_t_one():
    x, y = [2.0, 4.0, 6.0], [1.0, 2.0, 3.0, 1.5, 2.5, 2.0]
    r = cohen_d(x, y)
    s = np.sqrt(1 / 3 + 1 / 6)
    t = r["d"] / s
    assert r["d_ci_low"] == pytest.approx(_ncp_by_ppf_bisection(t, 7, 0.975) * s, abs=1e-6)
    assert r["d_ci_high"] == pytest.approx(_ncp_by_ppf_bisection(t, 7, 0.025) * s, abs=1e-6)


def test_holm_is_statsmodels_holm_to_the_last_bit():
    """adjust's own Holm (statsmodels' Holm runs a full garbage collection per call) returns statsmodels' floats:
    random p-values, ties, ones, a single test and NaNs."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(7)
    cases = [rng.uniform(0, 1, n) for n in (1, 2, 3, 7, 30, 200)]
    cases += [np.round(rng.uniform(0, 0.2, 40), 2), np.array([0.01, 0.01, 0.04, 1.0, 0.5, 0.01]),
              rng.uniform(0, 1e-3, 12), np.array([0.3, 0.3, 0.3])]
    for p in cases:
        assert np.array_equal(adjust(p, "holm"), multipletests(p, method="holm")[1])
    p = np.array([0.02, np.nan, 0.01, 0.5, np.nan])
    got = adjust(p, "holm")
    assert np.isnan(got[[1, 4]]).all()
    assert np.array_equal(got[[0, 2, 3]], multipletests(p[[0, 2, 3]], method="holm")[1])
