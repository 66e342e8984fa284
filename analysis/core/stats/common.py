"""Shared pieces of the statistics: input checks, one row per estimate, p-values from t and z.

Every test returns a row with ``test``, ``estimate``, ``ci_low``/``ci_high`` (two-sided, level
``ci``), ``n``, ``statistic``, ``df``, ``p`` and ``sided`` (the alternative the p-value tests:
``greater``, ``less``, ``two-sided``; ``none`` for an effect size without a test).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from analysis.core.errors import StatsError

ALTERNATIVES = ("greater", "less", "two-sided")


def arr(a) -> np.ndarray:
    return np.asarray(a, dtype=float)


def pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = arr(x), arr(y)
    if x.shape != y.shape:
        raise StatsError(f"x and y must have the same length ({x.shape[0]} vs {y.shape[0]}).")
    ok = ~(np.isnan(x) | np.isnan(y))
    return x[ok], y[ok]


def check_alt(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise StatsError(f"alternative must be one of {ALTERNATIVES}, not {alternative!r}.")


def check_ci(ci: float) -> None:
    if not 0 < ci < 1:
        raise StatsError(f"The confidence level must lie strictly between 0 and 1, not {ci!r}.")


def row(test: str, estimate=math.nan, ci_low=math.nan, ci_high=math.nan, n=0, statistic=math.nan, df=math.nan,
         p=math.nan, sided="greater", note="", **extra) -> dict:
    return {"test": test, "estimate": float(estimate), "ci_low": float(ci_low), "ci_high": float(ci_high),
            "n": int(n), "statistic": float(statistic), "df": float(df), "p": float(p), "sided": sided,
            "note": note, **extra}


def p_from_t(t: float, df: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.t.sf(t, df))
    if alternative == "less":
        return float(stats.t.cdf(t, df))
    return float(2 * stats.t.sf(abs(t), df))


def p_from_z(z: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.norm.sf(z))
    if alternative == "less":
        return float(stats.norm.cdf(z))
    return float(2 * stats.norm.sf(abs(z)))


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def as_pandas(df) -> pd.DataFrame:
    if isinstance(df, pl.DataFrame):
        return df.to_pandas()
    if isinstance(df, pd.DataFrame):
        return df
    raise StatsError(f"Expected a table (polars or pandas DataFrame), not {type(df).__name__}.")


def need(df: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise StatsError(f"The table lacks the column(s) {missing}; it has {list(df.columns)}.")
