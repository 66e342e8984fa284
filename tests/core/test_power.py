"""The minimum detectable effect, checked by simulation: at the MDE a test rejects about 80% of the time."""

import math

import numpy as np
import pytest
from scipy import stats

from analysis.core.stats.power import mde_correlation, mde_paired_d, mde_two_sample_d


def _rejection_rate(draw, test, reps=4000, seed=0):
    rng = np.random.default_rng(seed)
    return np.mean([test(*draw(rng)) < 0.05 for _ in range(reps)])


def test_paired_mde_has_80_percent_power_by_simulation():
    n = 6
    d = mde_paired_d(n)
    rate = _rejection_rate(lambda r: (r.normal(d, 1, n),), lambda x: stats.ttest_1samp(x, 0).pvalue)
    assert rate == pytest.approx(0.8, abs=0.025)
    assert mde_paired_d(n, alternative="larger") < d  # a one-sided test detects less


def test_two_sample_mde_has_80_percent_power_by_simulation():
    d = mde_two_sample_d(3, 6)
    rate = _rejection_rate(lambda r: (r.normal(d, 1, 3), r.normal(0, 1, 6)),
                           lambda x, y: stats.ttest_ind(x, y).pvalue)
    assert rate == pytest.approx(0.8, abs=0.025)


def test_correlation_mde_has_about_80_percent_power_by_simulation():
    n = 12
    r = mde_correlation(n)
    cov = [[1, r], [r, 1]]
    rate = _rejection_rate(lambda g: (g.multivariate_normal([0, 0], cov, n).T,),
                           lambda xy: stats.pearsonr(*xy).pvalue)
    assert rate == pytest.approx(0.8, abs=0.05)  # Fisher z is an approximation at n = 12


def test_too_small_n_has_no_mde_and_bad_alternative_is_refused():
    assert math.isnan(mde_paired_d(1)) and math.isnan(mde_two_sample_d(1, 5)) and math.isnan(mde_correlation(3))
    with pytest.raises(ValueError, match="alternative"):
        mde_paired_d(5, alternative="sideways")


def test_coefficient_mde_has_80_percent_power_by_simulation():
    """At the MDE of a coefficient (se known, t with df = 2, as a mixed model over 3 sessions is tested) the
    t test rejects about 80% of the time: t = (coef + noise) / (se * sqrt(chi2_df / df))."""
    from analysis.core.stats.power import mde_t_coefficient

    se, df = 1.3, 2
    b = mde_t_coefficient(se, df)
    rng = np.random.default_rng(2)
    t = (b + rng.normal(0, se, 20000)) / (se * np.sqrt(rng.chisquare(df, 20000) / df))
    assert np.mean(np.abs(t) > stats.t.ppf(0.975, df)) == pytest.approx(0.8, abs=0.015)
    assert mde_t_coefficient(se, 30) < b  # more df, smaller detectable coefficient
    assert math.isnan(mde_t_coefficient(0.0, 5)) and math.isnan(mde_t_coefficient(1.0, 0))
