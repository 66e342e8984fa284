"""Linear mixed models (statsmodels MixedLM, REML) fitted the careful way.

statsmodels' optimisers can stop at the boundary (a variance of 0) when another finds the maximum,
so the model is fitted with several optimisers and the fit with the highest restricted likelihood
is kept. A boundary fit, a convergence warning or a failed fit is reported in ``notes``, never
hidden.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

OPTIMISERS = ("powell", "lbfgs", "nm", "bfgs")


@dataclass
class MixedFit:
    """Fixed effects (``term``, ``coef``, ``se``, ``ci_low``, ``ci_high``, ``z``, ``p``: two-sided Wald),
    the random-intercept variance, the sample sizes and notes. ``fit`` is None when nothing was fitted."""

    table: pd.DataFrame
    group_var: float = math.nan
    n_obs: int = 0
    n_groups: int = 0
    optimiser: str = ""
    notes: list[str] = field(default_factory=list)
    fit: object | None = None

    @property
    def ok(self) -> bool:
        return self.fit is not None

    def term(self, name: str) -> dict:
        """The row of one fixed effect as a dict (NaNs when the term is absent)."""
        t = self.table[self.table["term"] == name]
        if t.empty:
            return {c: math.nan for c in ("coef", "se", "ci_low", "ci_high", "z", "p")}
        return t.iloc[0].to_dict()


_EMPTY = pd.DataFrame(columns=["term", "coef", "se", "ci_low", "ci_high", "z", "p"])


def fit_mixedlm(formula: str, data: pd.DataFrame, groups: str, *, re_formula: str | None = None,
                ci: float = 0.95, optimisers: tuple[str, ...] = OPTIMISERS) -> MixedFit:
    """Fit ``formula`` with a random intercept per level of ``groups`` (and random slopes when
    ``re_formula`` is given); keep the best of several optimisers."""
    import statsmodels.formula.api as smf

    n_obs, n_groups = len(data), int(data[groups].nunique())
    model = smf.mixedlm(formula, data, groups=data[groups], re_formula=re_formula)
    fits, errors = [], []
    for method in optimisers:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                f = model.fit(reml=True, method=method)
            except (np.linalg.LinAlgError, ValueError) as e:
                errors.append(f"{method}: {e}")
                continue
        if np.isfinite(f.llf):
            fits.append((f.llf, method, f, [str(w.message).lower() for w in caught]))
    if not fits:
        return MixedFit(_EMPTY.copy(), n_obs=n_obs, n_groups=n_groups, notes=["fit failed: " + "; ".join(errors)])
    _, opt, fit, msgs = max(fits, key=lambda t: t[0])
    notes = []
    group_var = float(np.asarray(fit.cov_re).ravel()[0])
    if group_var < 1e-10:
        notes.append("between-group variance estimated at 0 (boundary): the fixed effects equal pooled OLS")
    elif any("converge" in m and "boundary" not in m for m in msgs) or not fit.converged:
        notes.append("convergence warning from statsmodels")
    q = stats.norm.ppf(1 - (1 - ci) / 2)
    terms = list(fit.fe_params.index)
    coef = np.array([float(fit.fe_params[t]) for t in terms])
    se = np.array([float(fit.bse_fe[t]) for t in terms])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, coef / se, np.nan)
    table = pd.DataFrame({"term": terms, "coef": coef, "se": se, "ci_low": coef - q * se, "ci_high": coef + q * se,
                          "z": z, "p": 2 * stats.norm.sf(np.abs(z))})
    return MixedFit(table, group_var, n_obs, n_groups, opt, notes, fit)
