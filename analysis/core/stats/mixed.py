"""Linear mixed models (statsmodels MixedLM, REML) fitted the careful way.

statsmodels' optimisers can stop at the boundary (a variance of 0) when another finds the maximum,
so the model is fitted with several optimisers and the fit with the highest restricted likelihood
is kept. A boundary fit, a convergence warning or a failed fit is reported in ``notes``, never
hidden.

Decisions (stated in every fit's ``inference`` and ``notes``):

* **Boundary.** A random-intercept variance is judged *relative to the residual variance*: below
  ``BOUNDARY_RATIO`` (1e-6) times the residual variance the fit is at the boundary (an absolute
  threshold would pass 6e-10 on a scale whose residual variance is 1e-3 as well as one of 100). The
  mixed model's fixed effects then equal pooled OLS, but its standard errors ignore the clustering;
  the reported fit falls back to **OLS with cluster-robust (CR1) standard errors by group**, and the
  note says so.
* **Small-sample inference.** Wald z with few clusters is too liberal (3 sessions, 2-13 models). Every
  p-value and CI here uses a **t reference**. For the mixed model with a random intercept only, the df
  of each fixed effect follow the *between-within* rule (Schluchter & Elashoff, 1990; SAS's DDFM=BW): a
  term that varies within clusters gets N - clusters - (number of such terms), one that is constant
  within every cluster (and the intercept) gets clusters - 1 - (number of such terms). With random slopes,
  and for the cluster-robust fallback, every term gets clusters - 1 (the conservative between-cluster df
  that cluster-robust errors with few clusters need). With fewer than 2 clusters there is no df:
  coefficients are reported as descriptive, without SE-based CI or p.

The ``z`` column keeps the Wald statistic coef / se (compare it with t(df), not with the normal).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

OPTIMISERS = ("powell", "lbfgs", "nm", "bfgs")
BOUNDARY_RATIO = 1e-6  # group variance below this share of the residual variance: a boundary fit


@dataclass
class MixedFit:
    """Fixed effects (``term``, ``coef``, ``se``, ``ci_low``, ``ci_high``, ``z`` (coef / se), ``df``,
    ``p``: two-sided, t with ``df`` = clusters - 1), the random-intercept and residual variances, the
    sample sizes, ``inference`` (which model and reference distribution gave the table) and notes.
    ``fit`` is None when nothing was fitted."""

    table: pd.DataFrame
    group_var: float = math.nan
    n_obs: int = 0
    n_groups: int = 0
    optimiser: str = ""
    notes: list[str] = field(default_factory=list)
    fit: object | None = None
    resid_var: float = math.nan
    inference: str = ""
    boundary: bool = False

    @property
    def ok(self) -> bool:
        return self.fit is not None

    def term(self, name: str) -> dict:
        """The row of one fixed effect as a dict (NaNs when the term is absent)."""
        t = self.table[self.table["term"] == name]
        if t.empty:
            return {c: math.nan for c in ("coef", "se", "ci_low", "ci_high", "z", "df", "p")}
        return t.iloc[0].to_dict()


_EMPTY = pd.DataFrame(columns=["term", "coef", "se", "ci_low", "ci_high", "z", "df", "p"])


def _table(terms, coef, se, df, ci: float, resid_var: float, notes: list[str]) -> pd.DataFrame:
    """The fixed-effects table; ``df`` is one number for every term or one per term (below 1: no CI or p)."""
    coef, se = np.asarray(coef, float), np.asarray(se, float)
    df = np.broadcast_to(np.asarray(df, float), coef.shape).copy()
    df[~(df >= 1)] = np.nan
    # an SE that is rounding noise (a contrast with no variation at all, e.g. two cells of zeros) gives no test
    tiny = se <= 1e-6 * max(math.sqrt(resid_var) if resid_var == resid_var and resid_var > 0 else 0.0, 1e-300)
    if tiny.any():
        notes.append("no variation behind " + ", ".join(t for t, k in zip(terms, tiny) if k)
                     + ": SE 0 up to rounding, so no CI or p (the coefficient is exact, "
                     + ", ".join(f"{c:.3g}" for c, k in zip(coef, tiny) if k) + ")")
        se = np.where(tiny, np.nan, se)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, coef / se, np.nan)
    q = stats.t.ppf(1 - (1 - ci) / 2, df)
    lo, hi, p = coef - q * se, coef + q * se, 2 * stats.t.sf(np.abs(z), df)
    return pd.DataFrame({"term": list(terms), "coef": coef, "se": se, "ci_low": lo, "ci_high": hi, "z": z,
                         "df": df, "p": p})


def between_within_df(exog: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per column of the fixed-effects design ``exog``: N - G - (columns varying within a cluster) for a column
    that varies within some cluster, G - 1 - (other non-constant columns) for one constant within every cluster
    and for the intercept (the between-within rule; see the module docstring)."""
    x = np.asarray(exog, float)
    codes = pd.factorize(np.asarray(groups))[0]
    n, g = len(x), codes.max() + 1
    within = np.array([bool(np.any(pd.Series(x[:, j]).groupby(codes).nunique() > 1)) for j in range(x.shape[1])])
    intercept = np.all(x == x[:1], axis=0)
    between = ~within & ~intercept
    return np.where(within, n - g - within.sum(), g - 1 - between.sum()).astype(float)


def fit_mixedlm(formula: str, data: pd.DataFrame, groups: str, *, re_formula: str | None = None,
                ci: float = 0.95, optimisers: tuple[str, ...] = OPTIMISERS) -> MixedFit:
    """Fit ``formula`` with a random intercept per level of ``groups`` (and random slopes when
    ``re_formula`` is given); keep the best of several optimisers. A boundary fit falls back to OLS with
    cluster-robust SEs by group; inference uses t with clusters - 1 df (see the module docstring)."""
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
    resid_var = float(fit.scale)
    df = n_groups - 1
    if df < 1:
        notes.append(f"{n_groups} cluster(s): no degrees of freedom for inference; coefficients are descriptive")
    boundary = not group_var > BOUNDARY_RATIO * resid_var
    if boundary:
        ols = smf.ols(formula, data).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(data[groups])[0]},
                                         use_t=True)
        terms = list(ols.params.index)
        table = _table(terms, ols.params.to_numpy(), ols.bse.to_numpy(), df, ci, resid_var, notes)
        inference = (f"OLS with cluster-robust (CR1) SEs by {groups}, t with {df} df (clusters - 1): the mixed "
                     "model's random-intercept variance is at the boundary")
        notes.append(f"between-group variance at the boundary ({group_var:.2g}, below {BOUNDARY_RATIO:g} x the "
                     f"residual variance {resid_var:.3g}): fixed effects are pooled OLS, with cluster-robust SEs by "
                     f"group and t with {df} df")
        if n_groups < 10:
            notes.append(f"only {n_groups} clusters: cluster-robust SEs are unreliable with so few; read as descriptive")
        return MixedFit(table, group_var, n_obs, n_groups, opt, notes, ols, resid_var, inference, True)
    if any("converge" in m and "boundary" not in m for m in msgs) or not fit.converged:
        notes.append("convergence warning from statsmodels")
    terms = list(fit.fe_params.index)
    if re_formula is None and df >= 1:
        term_df = between_within_df(model.exog, data[groups].to_numpy())
        rule = "between-within df per term"
    else:
        term_df, rule = df, f"{df} df (clusters - 1)"
    table = _table(terms, [float(fit.fe_params[t]) for t in terms], [float(fit.bse_fe[t]) for t in terms], term_df,
                   ci, resid_var, notes)
    inference = f"MixedLM (REML), random intercept per {groups}; Wald statistic against t with {rule}"
    return MixedFit(table, group_var, n_obs, n_groups, opt, notes, fit, resid_var, inference, False)
