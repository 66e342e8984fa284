"""Internal consistency across simulated participants (persona x prompt variant x model).

Both functions take a wide table: one row per participant, one column per item, responses already
reverse-keyed. Participants with a missing item are dropped (listwise) and counted in ``n``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


def _complete(items: pd.DataFrame) -> pd.DataFrame:
    return items.dropna(axis=0, how="any").astype(float)


def cronbach_alpha(items: pd.DataFrame, ci: float = 0.95) -> dict:
    """Cronbach's alpha with the Feldt (F-distribution) confidence interval."""
    x = _complete(items)
    n, k = x.shape
    out = {"alpha": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n, "k": k, "note": ""}
    if n < 3 or k < 2:
        out["note"] = "too few participants or items"
        return out
    total_var = x.sum(axis=1).var(ddof=1)
    if total_var == 0:
        out["note"] = "no variance in total scores"
        return out
    alpha = k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / total_var)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lo = 1 - (1 - alpha) * stats.f.ppf(1 - (1 - ci) / 2, df1, df2)
    hi = 1 - (1 - alpha) * stats.f.ppf((1 - ci) / 2, df1, df2)
    out.update(alpha=float(alpha), ci_low=float(lo), ci_high=float(hi))
    return out


def mcdonald_omega(items: pd.DataFrame, max_iter: int = 200, tol: float = 1e-6) -> dict:
    """McDonald's omega (total) from a one-factor principal-axis solution on the item correlations."""
    x = _complete(items)
    n, k = x.shape
    out = {"omega": math.nan, "n": n, "k": k, "note": ""}
    if n < 3 or k < 3:
        out["note"] = "too few participants or items (omega needs at least 3 items)"
        return out
    if n <= k:
        out["note"] = f"omega needs more participants ({n}) than items ({k})"
        return out
    sd = x.std(axis=0, ddof=1)
    if (sd == 0).any():
        out["note"] = f"{int((sd == 0).sum())} item(s) without variance"
        return out
    r = np.corrcoef(x.to_numpy().T)
    try:
        h2 = 1 - 1 / np.diag(np.linalg.inv(r))  # squared multiple correlations as starting communalities
    except np.linalg.LinAlgError:
        h2 = np.full(k, 0.5)
    h2 = np.clip(h2, 0.01, 0.995)
    for _ in range(max_iter):
        rr = r.copy()
        np.fill_diagonal(rr, h2)
        vals, vecs = np.linalg.eigh(rr)
        lam = vecs[:, -1] * math.sqrt(max(vals[-1], 0))
        new = np.clip(lam**2, 0.0, 0.995)
        if np.max(np.abs(new - h2)) < tol:
            h2 = new
            break
        h2 = new
    if lam.sum() < 0:
        lam = -lam
    psi = 1 - lam**2
    omega = lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum())
    out["omega"] = float(omega)
    return out
