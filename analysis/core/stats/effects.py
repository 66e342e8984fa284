"""Effect sizes with confidence intervals: Cohen's d and Hedges' g for independent groups, g_av for
paired observations."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from analysis.core.stats.common import check_ci, row


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


def paired_hedges_g(x, y, ci: float = 0.95) -> dict:
    """Hedges' g_av for paired observations (x minus y; same units in both conditions).

    d_av = mean(x - y) / sqrt((sd_x^2 + sd_y^2) / 2) (Cumming, 2012), corrected by
    J = 1 - 3 / (4 (n - 1) - 1); the CI uses the matched-groups variance
    V = (1/n + d^2 / (2n)) * 2 (1 - r) (Borenstein et al., 2009, eq. 4.28), r the correlation
    between conditions (0 when undefined). Also the mean difference and a two-sided paired t-test.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = len(x)
    out = {"n": n, "mean_a": float(x.mean()) if n else math.nan, "mean_b": float(y.mean()) if n else math.nan,
           "mean_diff": float((x - y).mean()) if n else math.nan, "g": math.nan, "ci_low": math.nan,
           "ci_high": math.nan, "t": math.nan, "p": math.nan, "note": ""}
    if n < 2:
        out["note"] = f"n = {n} paired session(s): no effect size"
        return out
    sx, sy = x.std(ddof=1), y.std(ddof=1)
    s_av = math.sqrt((sx**2 + sy**2) / 2)
    diff_sd = (x - y).std(ddof=1)
    if diff_sd > 0:
        t = stats.ttest_rel(x, y)
        out.update(t=float(t.statistic), p=float(t.pvalue))
    if n < 3:
        # Hedges' correction J = 1 - 3 / (4 (n - 1) - 1) is 0 at n = 2, which would report any difference as g = 0
        out["note"] = f"only {n} paired sessions: Hedges' g needs at least 3 (see mean_diff and the t-test)"
        return out
    if s_av == 0:
        out["note"] = "no variance across sessions in either condition: g undefined (see mean_diff)"
        return out
    d = (x - y).mean() / s_av
    r = float(np.corrcoef(x, y)[0, 1]) if sx > 0 and sy > 0 else 0.0
    r = 0.0 if math.isnan(r) else r
    j = 1 - 3 / (4 * (n - 1) - 1) if n > 1 else math.nan
    v = (1 / n + d**2 / (2 * n)) * 2 * (1 - r)
    z = stats.norm.ppf(1 - (1 - ci) / 2)
    se = math.sqrt(max(v, 0.0))
    out.update(g=float(j * d), ci_low=float(j * (d - z * se)), ci_high=float(j * (d + z * se)))
    notes = []
    if n < 5:
        notes.append(f"only {n} sessions: the CI is a rough normal approximation")
    if sx == 0 or sy == 0:
        notes.append("one condition is constant across sessions")
    out["note"] = "; ".join(notes)
    return out


def effect_sizes(high, low, ci: float = 0.95) -> list[dict]:
    """Cohen's d and Hedges' g (high minus low) with normal-approximation CIs ."""
    check_ci(ci)
    r = cohen_d(high, low, ci)
    n = r["n1"] + r["n2"]
    return [
        row("cohens_d", r["d"], r["d_ci_low"], r["d_ci_high"], n, sided="none", note=r["note"], n1=r["n1"], n2=r["n2"]),
        row("hedges_g", r["g"], r["g_ci_low"], r["g_ci_high"], n, sided="none", note=r["note"], n1=r["n1"], n2=r["n2"]),
    ]
