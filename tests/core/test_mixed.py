"""core.stats.mixed (issue 17): a boundary fit is judged relative to the residual variance and falls back to
OLS with cluster-robust SEs; inference uses t with the between-within df (clusters - 1 for the fallback), checked
on simulated 3-cluster designs."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from analysis.core.stats.mixed import BOUNDARY_RATIO, fit_mixedlm


def _design(n_groups, per_group, group_sd, resid_sd, beta, seed):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = np.tile(np.arange(per_group) % 2, n_groups).astype(float)  # a within-cluster factor
    y = beta * x + rng.normal(0, group_sd, n_groups)[g] + rng.normal(0, resid_sd, len(g))
    return pd.DataFrame({"y": y, "x": x, "g": g})


def test_boundary_is_judged_relative_to_the_residual_variance_and_falls_back_to_cluster_robust_ols():
    # residual variance ~1e-4 and no cluster effect: MixedLM puts the group variance at a tiny positive value that an
    # absolute 1e-10 threshold passed, though it is negligible next to the residual variance
    # the same data in units 10,000 times larger: the judgement must not depend on the unit of y
    d = _design(3, 4, 0.0, 0.01, 0.05, seed=1)
    small = fit_mixedlm("y ~ x", d, "g")
    d["y"] *= 1e4
    fit = fit_mixedlm("y ~ x", d, "g")
    assert small.boundary and fit.ok and fit.boundary
    assert fit.group_var > 1e-10  # what the old absolute threshold let pass as a proper random intercept
    assert fit.group_var < BOUNDARY_RATIO * fit.resid_var
    assert "boundary" in " ".join(fit.notes) and "cluster-robust" in fit.inference
    ref = smf.ols("y ~ x", d).fit(cov_type="cluster", cov_kwds={"groups": d["g"]}, use_t=True)
    r = fit.term("x")
    assert r["coef"] == pytest.approx(ref.params["x"]) and r["se"] == pytest.approx(ref.bse["x"])
    assert r["df"] == 2
    assert r["p"] == pytest.approx(2 * stats.t.sf(abs(ref.params["x"] / ref.bse["x"]), 2))


def test_a_small_but_real_group_variance_is_not_a_boundary_fit():
    d = _design(3, 40, 1.0, 1.0, 0.5, seed=2)
    fit = fit_mixedlm("y ~ x", d, "g")
    assert not fit.boundary and fit.group_var > BOUNDARY_RATIO * fit.resid_var
    assert "MixedLM" in fit.inference


def test_three_clusters_use_t_with_between_within_df_not_wald_z():
    """x varies within clusters: N - G - 1 = 18 - 3 - 1 = 14 df; the intercept (a between-cluster quantity) gets
    G - 1 = 2; a cluster-level predictor gets G - 1 - 1."""
    d = _design(3, 6, 2.0, 1.0, 0.8, seed=5)
    fit = fit_mixedlm("y ~ x", d, "g")
    assert fit.n_groups == 3 and not fit.boundary
    r = fit.term("x")
    assert r["df"] == 18 - 3 - 1 and fit.term("Intercept")["df"] == 2
    q = stats.t.ppf(0.975, 14)
    assert r["ci_high"] - r["coef"] == pytest.approx(q * r["se"])
    assert r["p"] == pytest.approx(2 * stats.t.sf(abs(r["coef"] / r["se"]), 14))
    assert r["p"] > 2 * stats.norm.sf(abs(r["coef"] / r["se"]))  # more conservative than Wald z
    d["w"] = np.random.default_rng(3).normal(size=3)[d["g"]]  # constant within each cluster
    fit2 = fit_mixedlm("y ~ x + w", d, "g")
    assert fit2.term("w")["df"] == 3 - 1 - 1 and fit2.term("x")["df"] == 18 - 3 - 1


def test_a_within_cluster_predictor_holds_its_size_with_between_within_df():
    """Under the null, a within-cluster x with 3 clusters: t with N - G - 1 df rejects at about alpha."""
    rng = np.random.default_rng(12)
    rej = n = 0
    for _ in range(150):
        g = np.repeat(np.arange(3), 8)
        x = rng.normal(0, 1, 24)
        y = rng.normal(0, 1, 3)[g] + rng.normal(0, 1, 24)
        r = fit_mixedlm("y ~ x", pd.DataFrame({"y": y, "x": x, "g": g}), "g").term("x")
        if np.isfinite(r["p"]):
            n += 1
            rej += r["p"] < 0.05
    assert n > 140 and rej / n <= 0.08


def test_t_with_clusters_minus_one_df_holds_its_size_with_three_clusters():
    """Under the null (no x effect) with 3 clusters and a between-cluster x effect, Wald z rejects far too
    often; t with 2 df keeps the false-positive rate at or below alpha (x varies between clusters here)."""
    rng = np.random.default_rng(11)
    rej_t = rej_z = 0
    reps = 150
    for _ in range(reps):
        g = np.repeat(np.arange(3), 5)
        x = rng.normal(0, 1, 3)[g]  # a cluster-level predictor: 3 effective units
        y = rng.normal(0, 1, 3)[g] + rng.normal(0, 0.5, 15)
        fit = fit_mixedlm("y ~ x", pd.DataFrame({"y": y, "x": x, "g": g}), "g", optimisers=("lbfgs",))
        r = fit.term("x")
        if not np.isfinite(r["p"]):
            continue
        rej_t += r["p"] < 0.05
        rej_z += 2 * stats.norm.sf(abs(r["z"])) < 0.05
    assert rej_t / reps <= 0.08
    assert rej_z > rej_t


def test_a_contrast_without_any_variation_gets_no_test_rather_than_a_noise_p_value():
    """Cell means (0, 0, 0, 4.67) as in the reference therapy run: the condition contrast within the neutral
    stance is exactly 0 in every session; its SE is rounding noise (1e-15) and must not yield a p-value."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(3):
        for c in ("a", "b"):
            for st in ("n", "w"):
                y = float(rng.integers(2, 8)) if (c, st) == ("a", "w") else 0.0
                rows.append({"y": y, "c": c, "st": st, "g": s})
    fit = fit_mixedlm("y ~ C(c) * C(st)", pd.DataFrame(rows), "g")
    r = fit.term("C(c)[T.b]")
    assert abs(r["coef"]) < 1e-9 and np.isnan(r["se"]) and np.isnan(r["p"]) and np.isnan(r["ci_low"])
    assert "C(c)[T.b]" in next(n for n in fit.notes if n.startswith("no variation behind"))
    assert np.isfinite(fit.term("C(st)[T.w]")["p"])
