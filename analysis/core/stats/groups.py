"""Two-group comparisons: median split, Welch's t, Mann-Whitney U and a seeded permutation test."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from analysis.core.errors import StatsError
from analysis.core.stats.common import arr, check_alt, check_ci, p_from_t, row


def median_split(x, ties: str = "low") -> np.ndarray:
    """True for 'high', False for 'low'. Values exactly at the median go to the low group
    (``ties='low'``: high = strictly above the median) or to the high group (``ties='high'``:
    high = at or above the median, as in Shah et al.'s released code)."""
    x = arr(x)
    if np.isnan(x).any():
        raise StatsError("median_split needs complete x values; drop missing ones first.")
    if ties not in ("low", "high"):
        raise StatsError(f"median_split ties must be 'low' or 'high', not {ties!r}.")
    m = np.median(x)
    return x >= m if ties == "high" else x > m


def welch(high, low, alternative: str = "greater", ci: float = 0.95) -> dict:
    """Welch's t-test of mean(high) - mean(low); CI of the difference (Welch-Satterthwaite df)."""
    check_alt(alternative)
    check_ci(ci)
    a, b = arr(high), arr(low)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return row("welch_t", n=n1 + n2, sided=alternative, note="fewer than 2 observations in a group", n1=n1, n2=n2)
    v1, v2 = a.var(ddof=1) / n1, b.var(ddof=1) / n2
    diff = a.mean() - b.mean()
    if v1 + v2 == 0:
        return row("welch_t", diff, n=n1 + n2, sided=alternative, note="no variance within groups", n1=n1, n2=n2)
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / ((v1**2) / (n1 - 1) + (v2**2) / (n2 - 1)) if (v1 > 0 or v2 > 0) else n1 + n2 - 2
    t = diff / se
    q = stats.t.ppf(1 - (1 - ci) / 2, df)
    return row("welch_t", diff, diff - q * se, diff + q * se, n1 + n2, t, df, p_from_t(t, df, alternative),
                alternative, n1=n1, n2=n2)


def mann_whitney(high, low, alternative: str = "greater") -> dict:
    """Mann-Whitney U (asymptotic, tie-corrected); estimate = rank-biserial correlation 2U/(n1 n2) - 1."""
    check_alt(alternative)
    a, b = arr(high), arr(low)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 1 or n2 < 1:
        return row("mann_whitney_u", n=n1 + n2, sided=alternative, note="an empty group", n1=n1, n2=n2)
    if np.ptp(np.concatenate([a, b])) == 0:
        return row("mann_whitney_u", 0.0, n=n1 + n2, statistic=n1 * n2 / 2, p=1.0 if alternative != "less" else 1.0,
                    sided=alternative, note="all values tied", n1=n1, n2=n2)
    res = stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic")
    u = float(res.statistic)
    return row("mann_whitney_u", 2 * u / (n1 * n2) - 1, n=n1 + n2, statistic=u, p=float(res.pvalue),
                sided=alternative, note="estimate: rank-biserial correlation", n1=n1, n2=n2)


def permutation_test(high, low, n_perm: int = 10_000, seed: int = 0, alternative: str = "greater") -> dict:
    """Permutation test of mean(high) - mean(low): group labels shuffled ``n_perm`` times with a
    seeded generator; p = (1 + #{permuted >= observed}) / (n_perm + 1) (never 0)."""
    check_alt(alternative)
    if not isinstance(n_perm, int) or n_perm < 1:
        raise StatsError(f"The number of permutations must be a positive whole number, not {n_perm!r}.")
    a, b = arr(high), arr(low)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 1 or n2 < 1:
        return row("permutation", n=n1 + n2, sided=alternative, note="an empty group", n1=n1, n2=n2, n_perm=n_perm)
    pooled = np.concatenate([a, b])
    obs = a.mean() - b.mean()
    rng = np.random.default_rng(seed)
    idx = np.argsort(rng.random((n_perm, n1 + n2)), axis=1)[:, :n1]
    s = pooled.sum()
    first = pooled[idx].sum(axis=1)
    diffs = first / n1 - (s - first) / n2
    eps = 1e-12 * max(1.0, abs(obs))
    if alternative == "greater":
        k = int((diffs >= obs - eps).sum())
    elif alternative == "less":
        k = int((diffs <= obs + eps).sum())
    else:
        k = int((np.abs(diffs) >= abs(obs) - eps).sum())
    return row("permutation", obs, n=n1 + n2, statistic=obs, p=(k + 1) / (n_perm + 1), sided=alternative,
                note=f"{n_perm} permutations, seed {seed}", n1=n1, n2=n2, n_perm=n_perm)
