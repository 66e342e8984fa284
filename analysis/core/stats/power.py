"""The smallest effect a test could detect at its n: read a null result against it.

Every function returns the minimum detectable effect (MDE) at the given power and alpha, in the effect's
own unit, with the sidedness stated by ``alternative`` ("two-sided" or "larger": a one-sided test in the
hypothesised direction). ``nan`` when the n is too small for the test to exist. Computed with
statsmodels' power solvers (noncentral t), except the correlation, which uses Fisher's z
(the approximation behind every CI of r in this project).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

from scipy import stats

_ALTERNATIVES = {"two-sided": "two-sided", "larger": "larger", "greater": "larger", "less": "larger"}


def _alt(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {sorted(_ALTERNATIVES)}, not {alternative!r}")
    return _ALTERNATIVES[alternative]


def _solve(solver, **kw) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            es = float(solver.solve_power(effect_size=None, **kw))
        except Exception:  # noqa: BLE001 - statsmodels raises several kinds when no solution exists
            return math.nan
    return es if math.isfinite(es) and es > 0 else math.nan


@lru_cache(maxsize=4096)  # a pure function of its arguments, solved numerically: ask once per design
def mde_paired_d(n: int, alpha: float = 0.05, power: float = 0.8, alternative: str = "two-sided") -> float:
    """Smallest standardised mean difference (d_z: mean difference / SD of differences) that a paired or
    one-sample t test on ``n`` units detects with ``power``."""
    from statsmodels.stats.power import TTestPower

    if n < 2:
        return math.nan
    return _solve(TTestPower(), nobs=n, alpha=alpha, power=power, alternative=_alt(alternative))


@lru_cache(maxsize=4096)
def mde_two_sample_d(n1: int, n2: int, alpha: float = 0.05, power: float = 0.8,
                     alternative: str = "two-sided") -> float:
    """Smallest Cohen's d (pooled SD) that a two-sample t test with groups of ``n1`` and ``n2`` detects."""
    from statsmodels.stats.power import TTestIndPower

    if n1 < 2 or n2 < 2:
        return math.nan
    return _solve(TTestIndPower(), nobs1=n1, ratio=n2 / n1, alpha=alpha, power=power,
                  alternative=_alt(alternative))


def mde_correlation(n: int, alpha: float = 0.05, power: float = 0.8, alternative: str = "two-sided") -> float:
    """Smallest |r| that a test of r = 0 on ``n`` pairs detects (Fisher z, normal approximation)."""
    if n < 4:
        return math.nan
    a = alpha / 2 if _alt(alternative) == "two-sided" else alpha
    z = (stats.norm.ppf(1 - a) + stats.norm.ppf(power)) / math.sqrt(n - 3)
    return float(math.tanh(z))


def mde_t_coefficient(se: float, df: float, alpha: float = 0.05, power: float = 0.8,
                      alternative: str = "two-sided") -> float:
    """Smallest regression (or mixed-model) coefficient, in the coefficient's own unit, that a t test of
    coef / se against t(``df``) detects with ``power``: se times the noncentrality at which that test has
    ``power`` (the noncentral t, solved with statsmodels as for a one-sample t test with df + 1 units).
    ``se`` is taken as known (the design's standard error)."""
    if not (math.isfinite(se) and se > 0 and math.isfinite(df) and df >= 1):
        return math.nan
    n = df + 1
    dz = mde_paired_d(int(round(n)), alpha, power, alternative) if float(n).is_integer() else math.nan
    return float(se * dz * math.sqrt(n)) if math.isfinite(dz) else math.nan
