"""Effect sizes with confidence intervals, and multiplicity control."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests


def _clean(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[~np.isnan(a)]


def cohen_d(x, y, ci: float = 0.95) -> dict:
    """Cohen's d for two independent groups (x minus y, pooled SD) with a normal-approximation CI
    (Hedges & Olkin, 1985), and Hedges' g (small-sample corrected) with its CI."""
    x, y = _clean(x), _clean(y)
    n1, n2 = len(x), len(y)
    out = {"d": math.nan, "d_ci_low": math.nan, "d_ci_high": math.nan, "g": math.nan, "g_ci_low": math.nan,
           "g_ci_high": math.nan, "n1": n1, "n2": n2, "mean1": float(x.mean()) if n1 else math.nan,
           "mean2": float(y.mean()) if n2 else math.nan, "note": ""}
    if n1 < 2 or n2 < 2:
        out["note"] = "fewer than 2 observations in a group"
        return out
    sp = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    if sp == 0:
        out["note"] = "no variance within groups"
        return out
    d = (x.mean() - y.mean()) / sp
    se = math.sqrt((n1 + n2) / (n1 * n2) + d**2 / (2 * (n1 + n2)))
    z = stats.norm.ppf(1 - (1 - ci) / 2)
    j = 1 - 3 / (4 * (n1 + n2) - 9)
    out.update(d=float(d), d_ci_low=float(d - z * se), d_ci_high=float(d + z * se), g=float(j * d),
               g_ci_low=float(j * (d - z * se)), g_ci_high=float(j * (d + z * se)))
    return out


def hedges_g(x, y, ci: float = 0.95) -> dict:
    r = cohen_d(x, y, ci)
    return {"g": r["g"], "ci_low": r["g_ci_low"], "ci_high": r["g_ci_high"], "n1": r["n1"], "n2": r["n2"], "note": r["note"]}


def adjust(pvalues, method: str = "holm") -> np.ndarray:
    """Adjusted p-values ('holm', 'fdr_bh', 'bonferroni'); NaNs stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out
