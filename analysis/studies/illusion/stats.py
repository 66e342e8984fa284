"""Analyses of Study 1 (the personality illusion) on the tidy table of ``analysis.studies.illusion.schema``.

* RQ1 ``rq1_base_vs_aligned``: for each configured (base, instruct) pair, trait means, within-model
  variability (Brown-Forsythe, i.e. Levene centred on the median) and trait-SRQ correlations.
* RQ2 ``rq2_trait_behaviour``: every standardised behaviour on every standardised trait, with a
  random intercept per model (statsmodels MixedLM), or OLS when there is one model; share of
  significant slopes (two-sided) after Benjamini-Hochberg and Holm correction over all tests, and
  among them the share in the direction human data predict (``expected_signs.csv``).
* RQ3 ``rq3_persona``: per persona trait and prompt strategy, the shift of the paired self-report and
  of the paired behaviour (Cohen's d, persona minus baseline, with 95% CI), and logistic regressions
  that predict persona versus baseline from the self-reports and, separately, from the behaviour.

Unit of analysis: runs that are exact repeats (greedy decoding, or expectations from option
probabilities) are not independent observations, so by default the runs of a model x condition x
temperature cell are averaged first (``collapse_runs``); the number of runs is kept.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from analysis.core.stats.effects import cohen_d
from analysis.core.stats.multiplicity import adjust
from analysis.core.errors import UserError
from analysis.studies.illusion.schema import PRIMARY_BEHAVIOURS, trait_columns
from analysis.core.paths import STIMULI_DIR

EXPECTED_SIGNS_FILE = STIMULI_DIR / "illusion" / "expected_signs.csv"
PAIRED = {"agreeableness": ("sr_A", "bh_syc_flip_rate"), "self_regulation": ("sr_SRQ", "bh_cct_cards")}


def _pd(df: pl.DataFrame | pd.DataFrame) -> pd.DataFrame:
    return df.to_pandas() if isinstance(df, pl.DataFrame) else df.copy()


def collapse_runs(df: pl.DataFrame | pd.DataFrame) -> pd.DataFrame:
    """Mean of every numeric measure over runs within model x condition x temperature; labels kept,
    ``n_runs`` added."""
    d = _pd(df)
    keys = ["model", "condition", "temperature"]
    measures = [c for c in d.columns if c.startswith(("sr_", "bh_"))]
    labels = [c for c in d.columns if c not in measures and c not in keys + ["run"]]
    agg = d.groupby(keys, sort=False, dropna=False)
    out = agg[measures].mean() if measures else agg.size().to_frame("_")
    out["n_runs"] = agg.size()
    if labels:
        out = out.join(agg[labels].first())
    return out.reset_index().drop(columns=["_"], errors="ignore")


def load_expected_signs(path: str | Path = EXPECTED_SIGNS_FILE) -> pd.DataFrame:
    d = pd.read_csv(path)
    need = {"trait", "behaviour", "expected_sign", "reference"}
    if missing := need - set(d.columns):
        raise UserError(f"Expected-signs file {path} lacks the columns {sorted(missing)}.")
    if not d["expected_sign"].isin([-1, 1]).all():
        raise UserError(f"Expected-signs file {path}: expected_sign must be 1 or -1.")
    return d


# ---- RQ1 ----------------------------------------------------------------------------------------


def _fisher_z_diff(r1: float, n1: int, r2: float, n2: int) -> float:
    """Two-sided p for the difference of two independent correlations."""
    if n1 < 4 or n2 < 4 or any(np.isnan([r1, r2])) or abs(r1) >= 1 or abs(r2) >= 1:
        return math.nan
    z = (np.arctanh(r1) - np.arctanh(r2)) / math.sqrt(1 / (n1 - 3) + 1 / (n2 - 3))
    return float(2 * stats.norm.sf(abs(z)))


def _pearson(x: pd.Series, y: pd.Series) -> dict:
    """Pearson r with its 95% CI and two-sided p (pingouin; column names read defensively)."""
    nan = {"r": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
    if len(x) < 4 or x.std() == 0 or y.std() == 0:
        return nan
    import pingouin as pg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pingouin's power estimate needs n > 4; not used here
        res = pg.corr(x.to_numpy(float), y.to_numpy(float)).iloc[0]
    ci = res.get("CI95%", res.get("CI95"))
    p = res.get("p-val", res.get("p_val"))
    return {"r": float(res["r"]), "ci_low": float(ci[0]), "ci_high": float(ci[1]), "p": float(p)}


def rq1_base_vs_aligned(df, pairs: list[dict] | None, conditions: str = "baseline", collapse: bool = True) -> dict:
    """Compare each base model with its instruct counterpart. ``pairs``: [{base: model, instruct: model}].

    Returns ``{"note": str, "means": df, "variability": df, "correlations": df}``; with no pair
    configured (or a pair's models absent from the table) the tables are empty and the note says why.
    Two-sided tests; Holm correction within each table across all its tests.
    """
    d = collapse_runs(df) if collapse else _pd(df)
    if conditions == "baseline":
        d = d[d["condition_type"] == "baseline"]
    traits = trait_columns(d)
    empty = {"means": pd.DataFrame(), "variability": pd.DataFrame(), "correlations": pd.DataFrame()}
    if not pairs:
        return {"note": "RQ1 skipped: no base/instruct model pair is configured (analysis.pairs is empty), as on "
                        "the embedded default, which has no base counterpart.", **empty}
    models = set(d["model"])
    means, var, cors, missing = [], [], [], []
    for pr in pairs:
        b, i = pr.get("base"), pr.get("instruct")
        if b not in models or i not in models:
            missing.append(f"{b} / {i}")
            continue
        db, di = d[d["model"] == b], d[d["model"] == i]
        for t in traits:
            xb, xi = db[t].dropna().to_numpy(float), di[t].dropna().to_numpy(float)
            cd = cohen_d(xi, xb)
            p_t = stats.ttest_ind(xi, xb, equal_var=False).pvalue if len(xb) > 1 and len(xi) > 1 else math.nan
            means.append({"base": b, "instruct": i, "trait": t, "mean_base": cd["mean2"], "mean_instruct": cd["mean1"],
                          "n_base": len(xb), "n_instruct": len(xi), "d_instruct_minus_base": cd["d"],
                          "d_ci_low": cd["d_ci_low"], "d_ci_high": cd["d_ci_high"], "p_welch": float(p_t),
                          "note": cd["note"]})
            sd_b = float(np.std(xb, ddof=1)) if len(xb) > 1 else math.nan
            sd_i = float(np.std(xi, ddof=1)) if len(xi) > 1 else math.nan
            if len(xb) > 1 and len(xi) > 1 and (sd_b > 0 or sd_i > 0):
                w, p_bf = stats.levene(xb, xi, center="median")
            else:
                w, p_bf = math.nan, math.nan
            var.append({"base": b, "instruct": i, "trait": t, "sd_base": sd_b, "sd_instruct": sd_i,
                        "sd_ratio_instruct_base": sd_i / sd_b if sd_b and sd_b > 0 else math.nan,
                        "brown_forsythe_W": float(w), "p": float(p_bf), "n_base": len(xb), "n_instruct": len(xi)})
        if "sr_SRQ" in traits:
            for t in [c for c in traits if c != "sr_SRQ"]:
                row = {"base": b, "instruct": i, "trait": t}
                for lab, dd in (("base", db), ("instruct", di)):
                    sub = dd[[t, "sr_SRQ"]].dropna()
                    row.update({f"n_{lab}": len(sub), **{f"{k}_{lab}": v for k, v in _pearson(sub[t], sub["sr_SRQ"]).items()}})
                row["p_difference"] = _fisher_z_diff(row["r_base"], row["n_base"], row["r_instruct"], row["n_instruct"])
                cors.append(row)
    out = {"means": pd.DataFrame(means), "variability": pd.DataFrame(var), "correlations": pd.DataFrame(cors)}
    for name, col in (("means", "p_welch"), ("variability", "p"), ("correlations", "p_difference")):
        if len(out[name]):
            out[name][f"{col}_holm"] = adjust(out[name][col].to_numpy(float), "holm")
    note = "RQ1: two-sided Welch t-tests, Brown-Forsythe tests and Fisher z tests; Holm correction within each table."
    if missing:
        note += f" Pairs not in the table (skipped): {missing}."
    return {"note": note, **out}


# ---- RQ2 ----------------------------------------------------------------------------------------


def _z(x: pd.Series) -> pd.Series:
    return (x - x.mean()) / x.std(ddof=1)


def _fit_one(sub: pd.DataFrame, n_models: int) -> dict:
    """y ~ x on standardised columns 'y', 'x' (and 'model'); MixedLM with a random intercept per model
    when there are >= 2 models, else OLS; a failed or non-converged MixedLM falls back to OLS with
    model fixed effects, and the note says so."""
    import statsmodels.formula.api as smf

    if n_models >= 2:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = smf.mixedlm("y ~ x", sub, groups=sub["model"]).fit(reml=True, method=["lbfgs", "powell"])
            if not getattr(res, "converged", True) or not np.isfinite(res.bse["x"]):
                raise RuntimeError("did not converge")
            msgs = sorted({str(w.message).split(".")[0][:70] for w in caught})
            ci = res.conf_int().loc["x"]
            return {"coef": float(res.params["x"]), "se": float(res.bse["x"]), "p": float(res.pvalues["x"]),
                    "ci_low": float(ci[0]), "ci_high": float(ci[1]), "method": "mixedlm (random intercept per model)",
                    "note": ("warnings: " + "; ".join(msgs)) if msgs else ""}
        except Exception as e:  # noqa: BLE001 - any estimation failure falls back, stated in the note
            why = f"MixedLM failed ({e.__class__.__name__}: {str(e)[:60]}); OLS with model fixed effects instead"
            res = smf.ols("y ~ x + C(model)", sub).fit()
            ci = res.conf_int().loc["x"]
            return {"coef": float(res.params["x"]), "se": float(res.bse["x"]), "p": float(res.pvalues["x"]),
                    "ci_low": float(ci[0]), "ci_high": float(ci[1]), "method": "ols + model fixed effects",
                    "note": why}
    res = smf.ols("y ~ x", sub).fit()
    ci = res.conf_int().loc["x"]
    return {"coef": float(res.params["x"]), "se": float(res.bse["x"]), "p": float(res.pvalues["x"]),
            "ci_low": float(ci[0]), "ci_high": float(ci[1]), "method": "ols (one model)",
            "note": "one model only: OLS, no random intercept"}


def rq2_trait_behaviour(df, expected: pd.DataFrame | None = None, *, conditions: str = "baseline",
                        behaviours: list[str] | None = None, traits: list[str] | None = None, alpha: float = 0.05,
                        min_n: int = 5, collapse: bool = True) -> dict:
    """Standardised slope of each behaviour on each trait (two-sided tests).

    Returns ``{"tests": df (one row per trait x behaviour), "summary": dict, "note": str}``. Tests with
    fewer than ``min_n`` complete units or no variance are listed with a note and no p-value, and are
    not counted in the shares. Multiplicity: BH (FDR) and Holm (FWER) over all fitted tests.
    """
    d = collapse_runs(df) if collapse else _pd(df)
    if conditions == "baseline":
        d = d[d["condition_type"] == "baseline"]
    traits = traits or trait_columns(d)
    behaviours = behaviours or [c for c in PRIMARY_BEHAVIOURS if c in d.columns]
    n_models_all = d["model"].nunique()
    rows = []
    for b in behaviours:
        for t in traits:
            sub = d[["model", t, b]].dropna()
            row = {"trait": t, "behaviour": b, "n": len(sub), "n_models": sub["model"].nunique()}
            if len(sub) < min_n:
                rows.append({**row, "note": f"fewer than {min_n} complete units: not tested"})
                continue
            if sub[t].std() == 0 or sub[b].std() == 0 or sub[t].std() != sub[t].std():
                rows.append({**row, "note": "no variance in trait or behaviour: not tested"})
                continue
            fit = pd.DataFrame({"model": sub["model"].to_numpy(), "x": _z(sub[t]).to_numpy(), "y": _z(sub[b]).to_numpy()})
            if abs(np.corrcoef(fit["x"], fit["y"])[0, 1]) > 1 - 1e-9:
                rows.append({**row, "coef": float(np.sign(np.corrcoef(fit["x"], fit["y"])[0, 1])),
                             "note": "exact linear fit (degenerate, e.g. two-valued data): not tested"})
                continue
            rows.append({**row, **_fit_one(fit, row["n_models"])})
    tests = pd.DataFrame(rows)
    for c in ("coef", "se", "p", "ci_low", "ci_high", "method", "note"):
        if c not in tests.columns:
            tests[c] = np.nan if c not in ("method", "note") else ""
    tests["note"] = tests["note"].fillna("")
    tested = tests["p"].notna()
    tests["p_bh"] = adjust(tests["p"].to_numpy(float), "fdr_bh")
    tests["p_holm"] = adjust(tests["p"].to_numpy(float), "holm")
    for lab, col in (("raw", "p"), ("bh", "p_bh"), ("holm", "p_holm")):
        tests[f"sig_{lab}"] = tests[col] < alpha
    if expected is not None and len(expected):
        e = expected[["trait", "behaviour", "expected_sign"]].drop_duplicates(["trait", "behaviour"])
        tests = tests.merge(e, on=["trait", "behaviour"], how="left")
    else:
        tests["expected_sign"] = np.nan
    tests["direction_as_expected"] = np.where(
        tests["expected_sign"].notna() & tests["coef"].notna(), np.sign(tests["coef"]) == tests["expected_sign"], np.nan
    )
    n_t = int(tested.sum())
    summary = {"n_tests": n_t, "n_models": int(n_models_all), "alpha": alpha, "conditions": conditions}
    for lab in ("raw", "bh", "holm"):
        sig = tests[tested & tests[f"sig_{lab}"]]
        with_exp = sig[sig["expected_sign"].notna()]
        summary[f"n_sig_{lab}"] = len(sig)
        summary[f"share_sig_{lab}"] = len(sig) / n_t if n_t else math.nan
        summary[f"n_sig_with_expectation_{lab}"] = len(with_exp)
        summary[f"share_expected_direction_{lab}"] = (
            float(with_exp["direction_as_expected"].astype(float).mean()) if len(with_exp) else math.nan
        )
    method = "MixedLM with a random intercept per model" if n_models_all >= 2 else \
        "OLS (only one model in the table, so no random intercept can be estimated)"
    note = (f"RQ2: {n_t} tests ({method}); standardised coefficients, two-sided; significance at alpha={alpha} "
            "raw, after Benjamini-Hochberg (FDR) and after Holm (FWER) across all tests. Direction shares use only "
            "trait-behaviour pairs with a documented human expectation (expected_signs.csv).")
    return {"tests": tests, "summary": summary, "note": note}


# ---- RQ3 ----------------------------------------------------------------------------------------


def _l2_logit(X: np.ndarray, y: np.ndarray, lam: float = 1.0, max_iter: int = 100, tol: float = 1e-10) -> np.ndarray:
    """L2-penalised logistic regression (intercept unpenalised) by Newton-Raphson; returns
    [intercept, coefs...]. The penalised log-likelihood is strictly concave, so it always converges."""
    Xc = np.column_stack([np.ones(len(X)), X])
    pen = np.full(Xc.shape[1], lam, dtype=float)
    pen[0] = 0.0
    beta = np.zeros(Xc.shape[1])
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(Xc @ beta)))
        grad = Xc.T @ (y - p) - pen * beta
        hess = (Xc * (p * (1 - p))[:, None]).T @ Xc + np.diag(pen) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def _predict(beta: np.ndarray, X: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(beta[0] + X @ beta[1:])))


def logistic_persona(X: pd.DataFrame, y: np.ndarray, lam: float = 1.0) -> dict:
    """Predict persona (1) vs baseline (0) from the columns of X (standardised here).

    Tries an unpenalised Logit first; under perfect or quasi-perfect separation (or non-convergence)
    it reports that and gives the L2-penalised fit instead (penalty ``lam``, intercept free). Always
    reports the in-sample and leave-one-out accuracy of the L2 fit, so both predictor sets are compared
    on the same footing.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    X = X.astype(float)
    sd = X.std(ddof=1)
    X = X.loc[:, sd > 0]
    out = {"predictors": ",".join(X.columns), "n": len(y), "n_persona": int(y.sum()), "separation": False,
           "method": "", "coefs": {}, "p_values": {}, "pseudo_r2": math.nan, "accuracy_in_sample": math.nan,
           "accuracy_loo": math.nan, "note": ""}
    if X.shape[1] == 0 or len(np.unique(y)) < 2 or len(y) < 4:
        out["note"] = "not estimable: no predictor with variance, one class only, or fewer than 4 units"
        return out
    Z = ((X - X.mean()) / X.std(ddof=1)).to_numpy()
    fitted = False
    if len(y) > Z.shape[1] + 2:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                res = sm.Logit(y, sm.add_constant(Z, has_constant="add")).fit(disp=0, maxiter=200)
                if not np.all(np.isfinite(res.bse)) or np.max(np.abs(res.params)) > 15:
                    raise PerfectSeparationWarning("huge coefficients")
                out.update(method="logit (maximum likelihood)", pseudo_r2=float(res.prsquared),
                           coefs=dict(zip(X.columns, map(float, res.params[1:]))),
                           p_values=dict(zip(X.columns, map(float, res.pvalues[1:]))))
                fitted = True
            except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError, ValueError) as e:
                out["separation"] = isinstance(e, PerfectSeparationWarning) or "separation" in str(e).lower()
                out["note"] = ("perfect or quasi-perfect separation: the ML estimates do not exist; "
                               if out["separation"] else f"ML fit failed ({e.__class__.__name__}); ")
    else:
        out["note"] = "too few units for an unpenalised fit; "
    beta = _l2_logit(Z, y, lam)
    if not fitted:
        out.update(method=f"L2-penalised logit (lambda={lam}, no p-values)", coefs=dict(zip(X.columns, map(float, beta[1:]))))
        out["note"] += f"L2-penalised coefficients (lambda={lam}) reported."
    out["accuracy_in_sample"] = float(np.mean((_predict(beta, Z) > 0.5) == y))
    hits = []
    for k in range(len(y)):
        m = np.ones(len(y), bool)
        m[k] = False
        if len(np.unique(y[m])) < 2:
            continue
        mu, sdv = X[m].mean().to_numpy(), X[m].std(ddof=1).to_numpy()
        sdv = np.where(sdv > 0, sdv, 1.0)
        bk = _l2_logit((X[m].to_numpy() - mu) / sdv, y[m], lam)
        hits.append(float((_predict(bk, ((X.to_numpy()[k] - mu) / sdv)[None, :])[0] > 0.5) == y[k]))
    out["accuracy_loo"] = float(np.mean(hits)) if hits else math.nan
    return out


def rq3_persona(df, *, collapse: bool = True, lam: float = 1.0, self_report_set: str = "all") -> dict:
    """Persona injection versus baseline, per persona trait and prompt strategy.

    ``shifts``: one row per trait x strategy (x model, plus 'all models'): the paired self-report and
    behaviour, their means under baseline and persona, the raw shift, and Cohen's d (persona minus
    baseline, pooled SD, normal-approximation 95% CI). ``logistic``: persona vs baseline predicted
    from the self-reports (``self_report_set``: 'all' sr_ columns present on every unit, or 'paired')
    and, separately, from the behaviour measures present on every unit.
    """
    d = collapse_runs(df) if collapse else _pd(df)
    base = d[d["condition_type"] == "baseline"]
    pers = d[d["condition_type"] == "persona"]
    if pers.empty:
        return {"shifts": pd.DataFrame(), "logistic": pd.DataFrame(),
                "note": "RQ3 skipped: the table has no persona rows."}
    shifts, logit = [], []
    for trait in sorted(pers["persona_trait"].dropna().unique()):
        sr_col, bh_col = PAIRED.get(trait, (None, None))
        pt = pers[pers["persona_trait"] == trait]
        strategies = sorted(pt["persona_strategy"].dropna().unique()) if "persona_strategy" in pt else ["all"]
        models = sorted(pt["model"].unique())
        for strat in strategies + (["all strategies"] if len(strategies) > 1 else []):
            ps = pt if strat == "all strategies" else pt[pt["persona_strategy"] == strat]
            for model in models + (["all models"] if len(models) > 1 else []):
                pm = ps if model == "all models" else ps[ps["model"] == model]
                bm = base if model == "all models" else base[base["model"] == model]
                row = {"persona_trait": trait, "strategy": strat, "model": model}
                for kind, col in (("self_report", sr_col), ("behaviour", bh_col)):
                    if col is None or col not in d.columns:
                        row.update({f"{kind}": col, f"{kind}_d": math.nan})
                        continue
                    cd = cohen_d(pm[col], bm[col])
                    row.update({kind: col, f"{kind}_mean_baseline": cd["mean2"], f"{kind}_mean_persona": cd["mean1"],
                                f"{kind}_shift": cd["mean1"] - cd["mean2"], f"{kind}_d": cd["d"],
                                f"{kind}_d_ci_low": cd["d_ci_low"], f"{kind}_d_ci_high": cd["d_ci_high"],
                                f"{kind}_n_baseline": cd["n2"], f"{kind}_n_persona": cd["n1"], f"{kind}_note": cd["note"]})
                shifts.append(row)
        # logistic regressions over all strategies and models of this trait
        units = pd.concat([base.assign(_y=0), pt.assign(_y=1)])
        y = units["_y"].to_numpy()
        sr_cols = [sr_col] if self_report_set == "paired" else trait_columns(units)
        sr_cols = [c for c in sr_cols if c in units and units[c].notna().all()]
        bh_cols = [c for c in PRIMARY_BEHAVIOURS if c in units and units[c].notna().all()]
        for kind, cols in (("self_reports", sr_cols), ("behaviour", bh_cols)):
            res = logistic_persona(units[cols], y, lam) if cols else {
                "predictors": "", "n": len(y), "note": "no predictor observed on every unit"}
            logit.append({"persona_trait": trait, "predictors_from": kind, **{k: v for k, v in res.items()
                                                                             if k not in ("coefs", "p_values")},
                          "coefs": res.get("coefs", {}), "p_values": res.get("p_values", {})})
    note = ("RQ3: Cohen's d = (persona - baseline) / pooled SD with a normal-approximation 95% CI; the paired "
            "self-report for agreeableness is sr_A (1-5) and its behaviour the sycophancy flip rate; for "
            "self-regulation sr_SRQ (63-315) and the cold-CCT cards turned. Logistic regressions use every "
            "strategy and model of the trait; under separation the L2-penalised fit is reported.")
    return {"shifts": pd.DataFrame(shifts), "logistic": pd.DataFrame(logit), "note": note}


# ---- summaries for the notebook -------------------------------------------------------------------


def describe_design(df) -> dict:
    """Counts of the table's design, and whether repeated runs are exact repeats."""
    d = _pd(df)
    measures = [c for c in d.columns if c.startswith(("sr_", "bh_")) and not c.endswith(("_n_valid", "_n_items", "_n_answered"))]
    rep = d.groupby(["model", "condition", "temperature"])[measures].nunique(dropna=True)
    identical = bool((rep <= 1).all().all()) if len(rep) else True
    return {"n_rows": len(d), "models": sorted(d["model"].unique()), "n_conditions": d["condition"].nunique(),
            "n_baseline_conditions": d.loc[d["condition_type"] == "baseline", "condition"].nunique(),
            "n_persona_conditions": d.loc[d["condition_type"] == "persona", "condition"].nunique(),
            "temperatures": sorted(d["temperature"].unique().tolist()), "runs": int(d["run"].nunique()),
            "runs_identical": identical}


def compare_to_paper(rq2: dict | None, rq3: dict | None) -> list[str]:
    """Sentences setting this run's numbers beside the published findings (Han et al., 2025)."""
    out = []
    if rq2 is not None:
        s = rq2["summary"]
        if s["n_tests"]:
            out.append(
                f"RQ2: {s['n_sig_raw']}/{s['n_tests']} trait-behaviour slopes significant at p < {s['alpha']} uncorrected "
                f"({s['share_sig_raw']:.0%}), {s['n_sig_bh']} after Benjamini-Hochberg and {s['n_sig_holm']} after Holm "
                "(published: about a quarter significant).")
            if s["n_sig_with_expectation_raw"]:
                out.append(
                    f"RQ2: of the {s['n_sig_with_expectation_raw']} uncorrected-significant slopes with a human expectation, "
                    f"{s['share_expected_direction_raw']:.0%} point the expected way (published: about half).")
            else:
                out.append("RQ2: no significant slope has a documented human expectation, so the direction share is undefined.")
        else:
            out.append("RQ2: no slope could be tested (too few units or no variance); the published shares cannot be compared.")
    if rq3 is not None and len(rq3["shifts"]):
        sh = rq3["shifts"]
        pick = sh[sh["model"] == "all models"] if (sh["model"] == "all models").any() else sh
        for _, r in pick.iterrows():
            if r["strategy"] == "all strategies" and (pick["strategy"] != "all strategies").sum() > 1:
                continue
            sr_shift = r.get("self_report_shift", float("nan"))
            out.append(
                f"RQ3 {r['persona_trait']} / {r['strategy']} ({r['model']}): self-report {r.get('self_report')} shifted by "
                f"{sr_shift:+.2f} (d = {r.get('self_report_d', float('nan')):.2f}), behaviour {r.get('behaviour')} by "
                f"{r.get('behaviour_shift', float('nan')):+.3f} (d = {r.get('behaviour_d', float('nan')):.2f}).")
        out.append("Published: persona injection raised self-reported agreeableness by about one scale point while the "
                   "paired behaviour moved little or inconsistently.")
    return out
