"""Effect sizes with confidence intervals: Cohen's d and Hedges' g for independent groups, g_av for
paired observations.

Every interval is a **noncentral-t** interval (Steiger & Fouladi, 1997; Cumming, 2012): the t statistic
of the test the effect size belongs to is inverted for its noncentrality parameter, and the ncp bounds
are rescaled to the effect size. An interval therefore excludes 0 exactly when its test gives p < 1 - ci
(two-sided), at every n; a normal-approximation interval did not (at n = 6 it excluded 0 at p = 0.14).

* independent groups: Student's pooled-variance t (the test whose statistic is d * sqrt(n1 n2 / (n1 + n2)));
  its p is returned as ``p_student``. Welch's test can disagree with this interval when the group sizes
  and variances differ; pair d with Student's p.
* paired: the paired t test; the interval of d_z = mean(diff) / sd(diff) is rescaled to g_av by the
  observed ratio sd(diff) / s_av and Hedges' J (the ratio is treated as fixed, as in Cumming, 2012).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from analysis.core.stats.common import check_ci, row


def nct_ci(t: float, df: float, ci: float = 0.95) -> tuple[float, float]:
    """Two-sided ``ci`` interval of the noncentrality parameter of a t statistic ``t`` with ``df``
    degrees of freedom: the ncp at which ``t`` is the upper, and the lower, (1 - ci) / 2 quantile
    (root finding on scipy's noncentral t cdf, monotone decreasing in the ncp). NaN where scipy cannot
    evaluate the noncentral t (extreme t at df = 1)."""
    from scipy.optimize import brentq

    check_ci(ci)
    if not (math.isfinite(t) and df > 0):
        return math.nan, math.nan
    a = (1 - ci) / 2

    def root(target: float) -> float:
        # scipy's noncentral t cdf (stats.nct.cdf evaluates exactly this, after argument checks done above)
        f = lambda ncp: special.nctdtr(df, ncp, t) - target  # noqa: E731 - decreasing in ncp
        lo, hi, step = t - 2.0, t + 2.0, 2.0
        while f(lo) < 0 and step < 1e7:
            step *= 2
            lo = t - step
        step = 2.0
        while f(hi) > 0 and step < 1e7:
            step *= 2
            hi = t + step
        flo, fhi = f(lo), f(hi)
        if not (np.isfinite(flo) and np.isfinite(fhi) and flo >= 0 >= fhi):
            return math.nan  # scipy's noncentral t is not computable there (e.g. |t| > 50 with df = 1)
        try:
            return float(brentq(f, lo, hi, xtol=1e-12, rtol=1e-12))
        except ValueError:  # a NaN inside the bracket
            return math.nan

    return root(1 - a), root(a)


def _clean(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[~np.isnan(a)]


def cohen_d(x, y, ci: float = 0.95) -> dict:
    """Cohen's d for two independent groups (x minus y, pooled SD) and Hedges' g (small-sample
    corrected), each with the noncentral-t CI that agrees with Student's t test (``t``, ``df``,
    ``p_student``, two-sided)."""
    x, y = _clean(x), _clean(y)
    n1, n2 = len(x), len(y)
    out = {"d": math.nan, "d_ci_low": math.nan, "d_ci_high": math.nan, "g": math.nan, "g_ci_low": math.nan,
           "g_ci_high": math.nan, "n1": n1, "n2": n2, "mean1": float(x.mean()) if n1 else math.nan,
           "mean2": float(y.mean()) if n2 else math.nan, "t": math.nan, "df": math.nan, "p_student": math.nan,
           "ci_method": "noncentral t (Student's t test)", "note": ""}
    if n1 < 2 or n2 < 2:
        out["note"] = "fewer than 2 observations in a group"
        return out
    sp = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    if sp == 0:
        out["note"] = "no variance within groups"
        return out
    d = (x.mean() - y.mean()) / sp
    scale = math.sqrt(1 / n1 + 1 / n2)
    df = n1 + n2 - 2
    t = d / scale
    lo, hi = (v * scale for v in nct_ci(t, df, ci))
    j = 1 - 3 / (4 * (n1 + n2) - 9)
    out.update(d=float(d), d_ci_low=lo, d_ci_high=hi, g=float(j * d), g_ci_low=float(j * lo), g_ci_high=float(j * hi),
               t=float(t), df=float(df), p_student=float(2 * stats.t.sf(abs(t), df)))
    return out


def hedges_g(x, y, ci: float = 0.95) -> dict:
    r = cohen_d(x, y, ci)
    return {"g": r["g"], "ci_low": r["g_ci_low"], "ci_high": r["g_ci_high"], "n1": r["n1"], "n2": r["n2"], "note": r["note"]}


def paired_hedges_g(x, y, ci: float = 0.95) -> dict:
    """Hedges' g_av for paired observations (x minus y; same units in both conditions).

    d_av = mean(x - y) / sqrt((sd_x^2 + sd_y^2) / 2) (Cumming, 2012), corrected by
    J = 1 - 3 / (4 (n - 1) - 1). The CI is the noncentral-t interval of d_z = mean(diff) / sd(diff)
    from the paired t statistic (df = n - 1), rescaled by sd(diff) / s_av and J: it excludes 0 exactly
    when the two-sided paired t test has p < 1 - ci. Also d_z with that interval (``dz``,
    ``dz_ci_low``, ``dz_ci_high``: the effect the paired test's power refers to), the mean difference,
    the SD of the differences and the paired t test (``t``, ``df``, ``p``, two-sided).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = len(x)
    out = {"n": n, "mean_a": float(x.mean()) if n else math.nan, "mean_b": float(y.mean()) if n else math.nan,
           "mean_diff": float((x - y).mean()) if n else math.nan, "g": math.nan, "ci_low": math.nan,
           "ci_high": math.nan, "t": math.nan, "df": math.nan, "p": math.nan, "dz": math.nan, "dz_ci_low": math.nan,
           "dz_ci_high": math.nan, "sd_diff": math.nan, "ci_method": "noncentral t (paired t test)", "note": ""}
    if n < 2:
        out["note"] = f"n = {n} paired session(s): no effect size"
        return out
    sx, sy = x.std(ddof=1), y.std(ddof=1)
    s_av = math.sqrt((sx**2 + sy**2) / 2)
    diff_sd = (x - y).std(ddof=1)
    out["sd_diff"] = float(diff_sd)
    dz_lo = dz_hi = math.nan
    if diff_sd > 0:
        t = stats.ttest_rel(x, y)
        out.update(t=float(t.statistic), df=float(n - 1), p=float(t.pvalue))
        dz_lo, dz_hi = (v / math.sqrt(n) for v in nct_ci(float(t.statistic), n - 1, ci))
        out.update(dz=float((x - y).mean() / diff_sd), dz_ci_low=dz_lo, dz_ci_high=dz_hi)
    if n < 3:
        # Hedges' correction J = 1 - 3 / (4 (n - 1) - 1) is 0 at n = 2, which would report any difference as g = 0
        out["note"] = f"only {n} paired sessions: Hedges' g needs at least 3 (see mean_diff and the t-test)"
        return out
    if s_av == 0:
        out["note"] = "no variance across sessions in either condition: g undefined (see mean_diff)"
        return out
    d = (x - y).mean() / s_av
    j = 1 - 3 / (4 * (n - 1) - 1)
    k = j * diff_sd / s_av  # d_z -> g_av
    out.update(g=float(j * d), ci_low=float(k * dz_lo), ci_high=float(k * dz_hi))
    notes = []
    if diff_sd == 0:
        notes.append("every paired difference is the same: no t test, so no CI")
    if sx == 0 or sy == 0:
        notes.append("one condition is constant across sessions")
    out["note"] = "; ".join(notes)
    return out


def effect_sizes(high, low, ci: float = 0.95) -> list[dict]:
    """Cohen's d and Hedges' g (high minus low) with noncentral-t CIs (they agree with Student's t test,
    whose two-sided p is in ``p_student``)."""
    check_ci(ci)
    r = cohen_d(high, low, ci)
    n = r["n1"] + r["n2"]
    extra = {"n1": r["n1"], "n2": r["n2"], "p_student": r["p_student"]}
    return [
        row("cohens_d", r["d"], r["d_ci_low"], r["d_ci_high"], n, sided="none", note=r["note"], **extra),
        row("hedges_g", r["g"], r["g_ci_low"], r["g_ci_high"], n, sided="none", note=r["note"], **extra),
    ]
