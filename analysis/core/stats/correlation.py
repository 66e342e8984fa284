"""Correlation and simple regression: Pearson r and Spearman rho with Fisher-z intervals, the OLS slope,
and the test of a difference between two independent correlations."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from analysis.core.stats.common import check_alt, check_ci, p_from_t, pair, row


def pearson(x, y, alternative: str = "greater", ci: float = 0.95) -> dict:
    """Pearson r, t-test p-value, Fisher-z confidence interval."""
    check_alt(alternative)
    check_ci(ci)
    x, y = pair(x, y)
    n = len(x)
    if n < 4:
        return row("pearson_r", n=n, sided=alternative, note="fewer than 4 complete pairs")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return row("pearson_r", n=n, sided=alternative, note="no variance in x or y")
    r = float(np.corrcoef(x, y)[0, 1])
    r = max(min(r, 1.0), -1.0)
    df = n - 2
    t = r * math.sqrt(df / max(1 - r * r, 1e-300))
    z, se = math.atanh(min(max(r, -0.9999999), 0.9999999)), 1 / math.sqrt(n - 3)
    q = stats.norm.ppf(1 - (1 - ci) / 2)
    return row("pearson_r", r, math.tanh(z - q * se), math.tanh(z + q * se), n, t, df, p_from_t(t, df, alternative),
                alternative)


def spearman(x, y, alternative: str = "greater", ci: float = 0.95) -> dict:
    """Spearman rho (t approximation for p), Fisher-z CI with the Bonett-Wright (2000) variance."""
    check_alt(alternative)
    check_ci(ci)
    x, y = pair(x, y)
    n = len(x)
    if n < 4:
        return row("spearman_rho", n=n, sided=alternative, note="fewer than 4 complete pairs")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return row("spearman_rho", n=n, sided=alternative, note="no variance in x or y")
    rho = float(stats.spearmanr(x, y).statistic)
    df = n - 2
    t = rho * math.sqrt(df / max(1 - rho * rho, 1e-300))
    z = math.atanh(min(max(rho, -0.9999999), 0.9999999))
    se = math.sqrt((1 + rho * rho / 2) / (n - 3))
    q = stats.norm.ppf(1 - (1 - ci) / 2)
    return row("spearman_rho", rho, math.tanh(z - q * se), math.tanh(z + q * se), n, t, df,
                p_from_t(t, df, alternative), alternative)


def ols_slope(x, y, alternative: str = "greater", ci: float = 0.95) -> dict:
    """Slope of y on x (change in sycophancy per unit of agreeableness) with a t-based CI; r2 too."""
    check_alt(alternative)
    check_ci(ci)
    x, y = pair(x, y)
    n = len(x)
    if n < 3 or np.std(x) == 0:
        return row("ols_slope", n=n, sided=alternative, note="fewer than 3 pairs or no variance in x",
                    intercept=math.nan, r2=math.nan)
    res = stats.linregress(x, y)
    df = n - 2
    se = res.stderr
    if not se > 0:  # a perfect fit
        t, p = (math.inf if res.slope > 0 else -math.inf if res.slope < 0 else math.nan), math.nan
        if res.slope != 0:
            p = 0.0 if (alternative == "two-sided" or (alternative == "greater") == (res.slope > 0)) else 1.0
        return row("ols_slope", res.slope, res.slope, res.slope, n, t, df, p, alternative, "perfect fit",
                    intercept=float(res.intercept), r2=1.0)
    t = res.slope / se
    q = stats.t.ppf(1 - (1 - ci) / 2, df)
    return row("ols_slope", res.slope, res.slope - q * se, res.slope + q * se, n, t, df,
                p_from_t(t, df, alternative), alternative, intercept=float(res.intercept), r2=float(res.rvalue**2))


def fisher_z_diff(r1: float, n1: int, r2: float, n2: int) -> float:
    """Two-sided p for the difference of two independent correlations (Fisher z)."""
    if n1 < 4 or n2 < 4 or any(np.isnan([r1, r2])) or abs(r1) >= 1 or abs(r2) >= 1:
        return math.nan
    z = (np.arctanh(r1) - np.arctanh(r2)) / math.sqrt(1 / (n1 - 3) + 1 / (n2 - 3))
    return float(2 * stats.norm.sf(abs(z)))
