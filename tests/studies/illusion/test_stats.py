"""The Study 1 analyses on synthetic tables with known effects, and with none."""

import numpy as np
import pandas as pd
import polars as pl
import pytest

from analysis.studies.illusion import stats as st
from analysis.studies.illusion.schema import validate

TRAITS = ["sr_O", "sr_C", "sr_E", "sr_A", "sr_N", "sr_SRQ"]


def synth(seed=0, n_models=5, n_conditions=10, temps=(0.0, 0.7), runs=2, effect=0.0, model_sd=0.0,
          persona_sr_shift=0.0, persona_bh_shift=0.0, n_persona_conditions=6, base_sd=None, sampled=False,
          strategies=("character",), roles=None, base_models_sr_offset=0.0):
    """Baseline rows with traits drawn at random; bh_cct_cards depends on sr_E with slope ``effect`` (in SD
    units), everything else is noise. Persona rows shift sr_A (and sr_SRQ) by ``persona_sr_shift`` SDs and
    the paired behaviours by ``persona_bh_shift`` SDs. Runs are identical (as with greedy decoding) unless
    ``sampled``. ``roles`` maps a model index to 'base' (baseline self-reports only, shifted by
    ``base_models_sr_offset``) or 'instruct'."""
    rng = np.random.default_rng(seed)
    roles = roles or {}
    rows = []
    for m in range(n_models):
        role = roles.get(m, "instruct")
        model_off = rng.normal(0, model_sd)
        sd = (base_sd or {}).get(m, 1.0)
        conds = [("baseline", f"baseline_{c}", None, None) for c in range(n_conditions)]
        if role == "instruct":
            conds += [("persona", f"persona_{t}_{s}_t{k}", t, s) for t in ("agreeableness", "self_regulation")
                      for s in strategies for k in range(n_persona_conditions)]
        for ctype, cond, ptrait, strat in conds:
            for T in temps:
                z = {t: rng.normal(0, sd) for t in TRAITS}
                noise = rng.normal(0, 1, 6)
                shift_sr = persona_sr_shift if ctype == "persona" else 0.0
                shift_bh = persona_bh_shift if ctype == "persona" else 0.0
                off = base_models_sr_offset if role == "base" else 0.0
                r = {"model": f"m{m}", "model_role": role, "condition": cond, "condition_type": ctype, "temperature": T,
                     "persona_trait": ptrait, "persona_strategy": strat,
                     "sr_O": 3 + 0.5 * z["sr_O"], "sr_C": 3 + 0.5 * z["sr_C"], "sr_E": 3 + 0.5 * z["sr_E"],
                     "sr_A": 3 + off + 0.5 * (z["sr_A"] + (shift_sr if ptrait == "agreeableness" else 0)),
                     "sr_N": 3 + 0.5 * z["sr_N"],
                     "sr_SRQ": 3.5 + off + 0.3 * (z["sr_SRQ"] + (shift_sr if ptrait == "self_regulation" else 0)),
                     "bh_cct_cards": 12 + 4 * (effect * z["sr_E"] + model_off + noise[0]
                                               - (shift_bh if ptrait == "self_regulation" else 0)),
                     "bh_syc_flip_rate": float(np.clip(0.4 + 0.1 * (noise[1] + (shift_bh if ptrait == "agreeableness" else 0)), 0, 1)),
                     "bh_hon_ece": 0.3 + 0.05 * noise[2], "bh_iat_bias": 0.2 + 0.1 * noise[3]}
                if role == "base":
                    r.update({c: None for c in r if c.startswith("bh_")})
                for run in range(runs):
                    row = {**r, "run": run}
                    if sampled:
                        row.update({c: (v + rng.normal(0, 0.05) if c.startswith(("sr_", "bh_cct")) and v is not None else v)
                                    for c, v in r.items()})
                    rows.append(row)
    lims = {**{c: (1, 5) for c in TRAITS}, "bh_cct_cards": (0, 32), "bh_hon_ece": (0, 1), "bh_iat_bias": (-1, 1)}
    for r in rows:
        for c, (lo, hi) in lims.items():
            if r[c] is not None:
                r[c] = float(np.clip(r[c], lo, hi))
    return validate(pl.DataFrame(rows, infer_schema_length=None))


def expected():
    return st.load_expected_signs()


# ---- units ----------------------------------------------------------------------------------------


def test_exact_repeats_collapse_and_sampled_runs_do_not():
    """The old collapse_runs averaged sampled runs too, cutting n threefold."""
    exact = synth(runs=3, n_models=1, n_conditions=2, temps=(0.0,), n_persona_conditions=0)
    u = st.units(exact, ["sr_A"])
    assert len(u) == exact.height // 3 and (u["n_runs"] == 3).all()
    sampled = synth(runs=3, n_models=1, n_conditions=2, temps=(0.0,), n_persona_conditions=0, sampled=True)
    us = st.units(sampled, ["sr_A"])
    assert len(us) == sampled.height and (us["n_runs"] == 1).all()
    # per measure: bh_iat_bias repeats exactly in the sampled table, sr_A does not
    rep = st.repeat_report(sampled, ["sr_A", "bh_iat_bias"]).set_index("measure")
    assert rep.loc["sr_A", "sampled_cells"] == 2 and rep.loc["bh_iat_bias", "exact_repeat_cells"] == 2
    assert rep.loc["sr_A", "units"] == 6 and rep.loc["bh_iat_bias", "units"] == 2
    text = st.describe_repeats(rep.reset_index())
    assert "bh_iat_bias" in text and "every run stays a unit (sr_A)" in text
    assert len(st.units(exact, ["sr_A"], collapse=False)) == exact.height


# ---- RQ2 ------------------------------------------------------------------------------------------


def test_rq2_finds_a_real_effect_in_the_expected_direction():
    res = st.rq2_trait_behaviour(synth(effect=0.8, model_sd=0.5), expected())
    t = res["tests"].set_index(["trait", "behaviour"])
    hit = t.loc[("sr_E", "bh_cct_cards")]
    assert hit["method"].startswith("mixedlm")
    # t with models - 1 = 4 df (core.stats.mixed: small-sample inference), not Wald z: p is larger than before
    assert hit["coef"] > 0.4 and hit["p_holm"] < 0.05 and hit["sig_bh"] and hit["direction_as_expected"] == 1
    s = res["summary"]
    assert s["n_tests"] == len(TRAITS) * 4 and s["n_models"] == 5
    assert s["n_sig_holm"] >= 1 and s["share_expected_direction_holm"] == 1.0
    others = res["tests"][~((res["tests"]["trait"] == "sr_E") & (res["tests"]["behaviour"] == "bh_cct_cards"))]
    assert others["sig_holm"].sum() == 0


@pytest.mark.filterwarnings("ignore:Random effects covariance is singular")
def test_rq2_mixed_model_matches_statsmodels_directly():
    """The coefficient and p-value are core fit_mixedlm's, checked against a direct statsmodels fit."""
    import statsmodels.formula.api as smf

    df = synth(effect=0.8, model_sd=0.5)
    res = st.rq2_trait_behaviour(df, expected())["tests"].set_index(["trait", "behaviour"])
    u = st.units(df.filter(pl.col("condition_type") == "baseline"), ["sr_E", "bh_cct_cards"])
    d = pd.DataFrame({"model": u["model"], "x": (u["sr_E"] - u["sr_E"].mean()) / u["sr_E"].std(),
                      "y": (u["bh_cct_cards"] - u["bh_cct_cards"].mean()) / u["bh_cct_cards"].std()})
    fits = [smf.mixedlm("y ~ x", d, groups=d["model"]).fit(reml=True, method=m) for m in ("powell", "lbfgs")]
    best = max(fits, key=lambda f: f.llf)
    assert res.loc[("sr_E", "bh_cct_cards"), "coef"] == pytest.approx(best.params["x"], abs=1e-4)
    assert res.loc[("sr_E", "bh_cct_cards"), "n"] == len(u)


def test_rq2_null_data_gives_no_significant_slopes():
    res = st.rq2_trait_behaviour(synth(effect=0.0, seed=3), expected())
    assert res["summary"]["n_sig_bh"] == 0 and res["summary"]["share_sig_raw"] < 0.25


def test_rq2_wrong_direction_is_counted_as_such():
    res = st.rq2_trait_behaviour(synth(effect=-0.8, seed=4), expected())
    hit = res["tests"].set_index(["trait", "behaviour"]).loc[("sr_E", "bh_cct_cards")]
    assert hit["sig_holm"] and hit["direction_as_expected"] == 0
    assert res["summary"]["share_expected_direction_holm"] == 0.0


def test_rq2_counts_the_models_that_entered():
    df = synth(effect=0.8, n_models=5, roles={0: "base", 1: "base"})
    s = st.rq2_trait_behaviour(df, expected())["summary"]
    assert s["n_models"] == 3 and s["models"] == ["m2", "m3", "m4"]


def test_rq2_one_model_ols_and_nothing_tested_in_one_line():
    res = st.rq2_trait_behaviour(synth(n_models=1, n_conditions=30, effect=0.8), expected())
    assert (res["tests"].loc[res["tests"]["p"].notna(), "method"] == "ols (one model)").all()
    tiny = st.rq2_trait_behaviour(synth(n_models=1, n_conditions=2, temps=(0.0,)), expected())
    assert tiny["summary"]["n_tests"] == 0
    line = st.rq2_not_tested(tiny)
    assert line.startswith("RQ2 not tested: none of the 24 trait-behaviour pairs") and "\n" not in line
    assert "at most 2 complete units per pair, 5 needed" in line
    assert st.rq2_not_tested(res) is None


def test_rq2_exact_fits_are_not_tested():
    df = synth(n_models=1, n_conditions=6, temps=(0.0,), n_persona_conditions=0).to_pandas()
    odd = df["condition"].str[-1].astype(int) % 2 == 1
    df["sr_E"] = np.where(odd, 4.0, 3.0)
    df["bh_cct_cards"] = np.where(odd, 9.0, 5.0)
    res = st.rq2_trait_behaviour(pl.from_pandas(df), expected())
    hit = res["tests"].set_index(["trait", "behaviour"]).loc[("sr_E", "bh_cct_cards")]
    assert np.isnan(hit["p"]) and "exact linear fit" in hit["note"]


# ---- RQ3 ------------------------------------------------------------------------------------------


def _row(sh, trait, kind, model="all models", strategy=None):
    s = sh[(sh["persona_trait"] == trait) & (sh["kind"] == kind) & (sh["model"] == model)]
    if strategy:
        s = s[s["strategy"] == strategy]
    return s.iloc[0]


def test_rq3_self_report_moves_behaviour_does_not():
    df = synth(persona_sr_shift=2.0, persona_bh_shift=0.0, n_models=2, n_conditions=6, temps=(0.0, 0.7))
    res = st.rq3_persona(df, expected=expected())
    a = _row(res["shifts"], "agreeableness", "self_report")
    assert a["d"] > 1.2 and a["d_ci_low"] > 0 and a["as_designed"]
    assert a["shift"] == pytest.approx(1.0, abs=0.3)  # 2 SD x 0.5 scale points
    assert abs(_row(res["shifts"], "agreeableness", "behaviour")["d"]) < 0.8
    lg = res["logistic"].set_index(["persona_trait", "strategy", "predictors_from"])
    assert lg.loc[("agreeableness", "character", "self_reports"), "accuracy_loo"] > 0.8
    assert lg.loc[("agreeableness", "character", "behaviour"), "accuracy_loo"] < 0.75


def test_rq3_behaviour_shift_is_detected_when_present():
    df = synth(persona_sr_shift=0.0, persona_bh_shift=2.0, n_models=2, n_conditions=6)
    b = _row(st.rq3_persona(df, expected=expected())["shifts"], "self_regulation", "behaviour")
    assert b["d"] < -1.0 and b["d_ci_high"] < 0 and b["designed_direction"] == -1 and b["as_designed"]


def test_rq3_baseline_is_the_same_models_only():
    """Base models (baseline rows only, self-reports far higher) must not enter RQ3's baseline group; the old
    code compared persona rows with every baseline row and the base models moved the headline d."""
    inst = synth(persona_sr_shift=1.0, n_models=3, n_conditions=6, seed=2)
    both = synth(persona_sr_shift=1.0, n_models=5, n_conditions=6, seed=2, roles={3: "base", 4: "base"},
                 base_models_sr_offset=1.5)
    a = _row(st.rq3_persona(inst)["shifts"], "agreeableness", "self_report")
    b = _row(st.rq3_persona(both)["shifts"], "agreeableness", "self_report")
    assert b["d"] == pytest.approx(a["d"]) and b["n_baseline"] == a["n_baseline"]
    # by hand: persona rows against the instruct models' baseline rows
    d = both.to_pandas()
    d = d[d["model"].isin(["m0", "m1", "m2"])]
    u = st.units(d, ["sr_A"])
    x, y = u.loc[u["persona_trait"] == "agreeableness", "sr_A"], u.loc[u["condition_type"] == "baseline", "sr_A"]
    sp = np.sqrt(((len(x) - 1) * x.var() + (len(y) - 1) * y.var()) / (len(x) + len(y) - 2))
    assert b["d"] == pytest.approx((x.mean() - y.mean()) / sp)


def test_rq3_per_model_d_with_median_and_range():
    df = synth(persona_sr_shift=1.5, n_models=4, n_conditions=6, seed=5)
    res = st.rq3_persona(df)
    per = res["shifts"][(res["shifts"]["persona_trait"] == "agreeableness") & (res["shifts"]["kind"] == "self_report")
                        & (res["shifts"]["model"] != "all models")]
    bm = res["by_model"].set_index(["persona_trait", "kind"]).loc[("agreeableness", "self_report")]
    assert bm["n_models"] == 4 and bm["d_median"] == pytest.approx(per["d"].median())
    assert bm["d_min"] == pytest.approx(per["d"].min()) and bm["d_max"] == pytest.approx(per["d"].max())
    assert bm["d_pooled"] == pytest.approx(_row(res["shifts"], "agreeableness", "self_report")["d"])


def test_rq3_logistic_fits_per_strategy_and_pooled():
    df = synth(persona_sr_shift=2.0, n_models=2, n_conditions=6, strategies=("character", "identity"),
               n_persona_conditions=3)
    lg = st.rq3_persona(df)["logistic"]
    assert set(lg["strategy"]) == {"character", "identity", "all strategies"}
    n = lg.set_index(["persona_trait", "strategy", "predictors_from"])["n_persona"]
    assert n[("agreeableness", "all strategies", "self_reports")] == n[("agreeableness", "character", "self_reports")] * 2


@pytest.mark.skipif(__import__("analysis.core.parallel", fromlist=["cores"]).cores() < 2,
                    reason="one core: map_fork is the loop, so there is no forked result to compare")
def test_rq3_logistic_fits_run_on_every_core_with_the_loops_numbers(monkeypatch):
    """The logistic fits are independent: they go to analysis.core.parallel.map_fork, and the table is the one the
    plain loop (PSY_PARALLEL=0) gives, bit for bit, rows in the same order."""
    import analysis.core.parallel as par

    df = synth(persona_sr_shift=2.0, n_models=2, n_conditions=6, strategies=("character", "identity"),
               n_persona_conditions=3)
    calls = []
    real = st.map_fork

    def spy(fn, items, **kw):
        calls.append((fn.__name__, len(list(items))))
        return real(fn, items, **kw)

    monkeypatch.setattr(st, "map_fork", spy)
    forked = st.rq3_persona(df)["logistic"]
    assert ("logistic_persona", len(forked)) in calls
    monkeypatch.setenv("PSY_PARALLEL", "0")
    assert par.cores() == 1
    loop = st.rq3_persona(df)["logistic"]
    pd.testing.assert_frame_equal(forked, loop, check_exact=True)


def test_rq3_declared_behaviour_is_analysed():
    from analysis.studies.illusion.schema import TableSpec

    df = synth(persona_sr_shift=1.0, n_models=2, n_conditions=6).with_columns(
        (pl.col("bh_syc_flip_rate") * 0 + 0.3 + pl.col("sr_A") / 100).alias("bh_help_refusal_rate"))
    spec = TableSpec.model_validate({"behaviours": [{"name": "bh_help_refusal_rate", "direction": -1, "trait": "sr_A"}]})
    sh = st.rq3_persona(df, spec=spec)["shifts"]
    r = sh[(sh["measure"] == "bh_help_refusal_rate") & (sh["model"] == "all models")].iloc[0]
    assert r["kind"] == "behaviour" and r["designed_direction"] == -1 and r["d"] > 0 and r["as_designed"] is False or \
        r["as_designed"] == False  # noqa: E712 - it rose, against its declared direction
    rq2 = st.rq2_trait_behaviour(df, st.load_expected_signs(spec=spec), spec=spec)["tests"]
    assert "bh_help_refusal_rate" in set(rq2["behaviour"])
    assert rq2.set_index(["trait", "behaviour"]).loc[("sr_A", "bh_help_refusal_rate"), "expected_sign"] == -1


def test_rq3_without_personas_is_not_tested():
    res = st.rq3_persona(synth(n_persona_conditions=0))
    assert res["shifts"].empty and "not tested" in res["note"]


def test_persona_check_flags_a_persona_against_its_design():
    df = synth(persona_sr_shift=-2.0, n_models=1, n_conditions=8, n_persona_conditions=2, seed=9)
    chk = st.persona_checks(df)
    a = chk[chk["persona_trait"] == "agreeableness"]
    assert len(chk) == 4 and a["against_design"].all() and (a["d"] < 0).all()
    ok = st.persona_checks(synth(persona_sr_shift=2.0, n_models=1, n_conditions=8, n_persona_conditions=2, seed=9))
    assert not ok["against_design"].any()


def test_logistic_separation_is_reported_and_penalised():
    X = pd.DataFrame({"x": [0.0, 0.1, 0.2, 0.3, 1.0, 1.1, 1.2, 1.3]})
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    r = st.logistic_persona(X, y)
    assert r["separation"] and r["method"].startswith("L2") and r["accuracy_in_sample"] == 1.0
    assert np.isfinite(r["coefs"]["x"]) and r["coefs"]["x"] > 0
    rng = np.random.default_rng(0)
    rn = st.logistic_persona(pd.DataFrame({"x": rng.normal(size=60)}), rng.integers(0, 2, 60))
    assert not rn["separation"] and rn["method"].startswith("logit") and rn["p_values"]["x"] > 0.01


def test_leave_one_out_predictions_are_the_fold_by_fold_fits():
    """The batched leave-one-out (all folds in one Newton run, started at the full fit) against ``_l2_logit``
    fitted fold by fold, the predictors standardised afresh with pandas (SD ddof=1; a column with one value in the
    fold is not scaled), the way the accuracy was first defined: the same probability for every unit to 1e-8, with
    a column that is constant once its one odd unit is left out (0.6 is not exact in binary: the SD computed there
    is about 1e-17, not 0, and dividing by it made that column noise), and a unit whose removal leaves one class
    skipped."""
    rng = np.random.default_rng(3)
    n = 70
    X = np.column_stack([rng.normal(size=(n, 2)), np.r_[1.0, np.full(n - 1, 0.6)], rng.integers(0, 3, n) * 0.1])
    y = (X[:, 0] + rng.normal(scale=1.5, size=n) > 0).astype(int)
    y[:3] = [1, 0, 1]
    lone = y.copy()
    lone[:] = 0
    lone[5] = 1  # one unit of class 1: leaving it out leaves one class

    def by_fold(X, y, lam):
        ks, probs = [], []
        for k in range(len(y)):
            m = np.arange(len(y)) != k
            if len(np.unique(y[m])) < 2:
                continue
            Xm = pd.DataFrame(X[m])
            mu, sd = Xm.mean().to_numpy(), Xm.std(ddof=1).to_numpy()
            sd = np.where(Xm.nunique().to_numpy() > 1, sd, 1.0)  # one value: no variance, whatever rounding says
            b = st._l2_logit((X[m] - mu) / sd, y[m], lam)
            ks.append(k)
            probs.append(st._predict(b, ((X[k] - mu) / sd)[None, :])[0])
        return np.array(ks), np.array(probs)

    for yy in (y, lone):
        for lam in (0.1, 1.0, 10.0):
            want_k, want_p = by_fold(X, yy, lam)
            Z = (X[:, :2] - X[:, :2].mean(axis=0)) / X[:, :2].std(axis=0, ddof=1)
            full = np.r_[st._l2_logit(Z, yy, lam), 0.0, 0.0]
            for start in (None, full):
                got_k, got_p = st._loo_probs(X, yy, lam, block=16, start=start)  # several blocks
                np.testing.assert_array_equal(got_k, want_k)
                np.testing.assert_allclose(got_p, want_p, rtol=0, atol=1e-8)
            hits = st._loo_hits(X, yy, lam, block=16)
            np.testing.assert_array_equal(hits, ((want_p > 0.5) == yy[want_k]).astype(float))
    assert len(st._loo_probs(X, lone)[0]) == n - 1 and 0.5 < st._loo_hits(X, y).mean() < 1.0


# ---- RQ1 ------------------------------------------------------------------------------------------


def test_rq1_pooled_across_pairs_and_per_pair():
    roles = {0: "base", 1: "instruct", 2: "base", 3: "instruct", 4: "base", 5: "instruct"}
    df = synth(n_models=6, n_conditions=20, base_sd={0: 1.0, 1: 0.2, 2: 1.0, 3: 0.2, 4: 1.0, 5: 0.2},
               n_persona_conditions=0, roles=roles)
    pairs = [{"base": "m0", "instruct": "m1"}, {"base": "m2", "instruct": "m3"}, {"base": "m4", "instruct": "m5"}]
    res = st.rq1_base_vs_aligned(df, pairs)
    assert res["tested"]
    p = res["pooled"].set_index("trait")
    # every instruct SD below every base SD: with 3 + 3 models the exact rank test's smallest p is 2/20 = 0.1
    assert np.allclose(p["p_sd"], 0.1) and (p["sd_ratio_instruct_base"] < 0.5).all()
    assert (p["unit"] == "model").all()
    assert (p["n_base_models"] == 3).all() and (p["n_instruct_models"] == 3).all()
    ac = res["across_pairs"].set_index("trait")
    assert (ac["n_instruct_more_stable"] == 3).all() and np.allclose(ac["p_sign_test"], 0.25)
    v = res["variability"].set_index(["base", "trait"])
    assert (v["p_holm"] < 0.01).all() and (v["sd_ratio_instruct_base"] < 0.5).all()
    # pooled tests take models as units: Welch on the 3 + 3 model means and on their log SDs (checked with scipy)
    from scipy import stats as ss
    u = df.to_pandas().drop_duplicates(["model", "condition", "temperature"])
    g = u.groupby("model").agg(m=("sr_E", "mean"), sd=("sr_E", "std"), role=("model_role", "first"))
    b, i = g[g["role"] == "base"], g[g["role"] == "instruct"]
    assert p.loc["sr_E", "p_welch"] == pytest.approx(ss.ttest_ind(i["m"], b["m"], equal_var=False).pvalue)
    assert p.loc["sr_E", "p_sd"] == pytest.approx(
        ss.mannwhitneyu(i["sd"], b["sd"], alternative="two-sided", method="exact").pvalue)
    assert p.loc["sr_E", "n_base_models"] == 3  # not the 60 rows of the base models


def test_rq1_d_interval_sits_beside_the_p_it_agrees_with():
    """Issue 17 review: the pooled table printed Cohen's d with a Student-t (noncentral) CI beside a Welch p, so
    they could disagree (Han re-analysis: d CI [-0.04, 2.04] with p_welch = 0.016). ``p_student`` is the p the
    CI agrees with: the CI excludes 0 exactly when p_student < 1 - ci; Welch's p stays the stated test of means."""
    from scipy import stats as ss

    roles = {0: "base", 1: "instruct", 2: "base", 3: "instruct", 4: "instruct", 5: "instruct", 6: "instruct"}
    pairs = [{"base": "m0", "instruct": "m1"}, {"base": "m2", "instruct": "m3"}]
    n_rows = 0
    for seed in range(6):
        df = synth(seed=seed, n_models=7, n_conditions=8, model_sd=0.8, n_persona_conditions=0, roles=roles,
                   base_models_sr_offset=0.5 * seed)
        for ci in (0.9, 0.95):
            res = st.rq1_base_vs_aligned(df, pairs, ci=ci)
            for name in ("pooled", "means"):
                t = res[name].dropna(subset=["p_student", "d_ci_low"])
                assert "p_student" in t and "p_welch" in t
                excludes = (t["d_ci_low"] > 0) | (t["d_ci_high"] < 0)
                assert (excludes == (t["p_student"] < 1 - ci)).all(), (seed, ci, name)
                n_rows += len(t)
    assert n_rows > 0
    # p_student is Student's t test of the model means (the pooled unit)
    p = res["pooled"].set_index("trait")
    u = df.to_pandas().drop_duplicates(["model", "condition", "temperature"])
    g = u.groupby("model").agg(m=("sr_E", "mean"), role=("model_role", "first"))
    b, i = g[g["role"] == "base"], g[g["role"] == "instruct"]
    assert p.loc["sr_E", "p_student"] == pytest.approx(ss.ttest_ind(i["m"], b["m"]).pvalue)
    assert "p_student" in res["note"]


def test_rq1_same_variability_and_no_base_model():
    same = synth(n_models=2, n_conditions=20, n_persona_conditions=0, seed=5, roles={0: "base"})
    v = st.rq1_base_vs_aligned(same, [{"base": "m0", "instruct": "m1"}])["variability"]
    assert (v["p_holm"] > 0.05).all()
    none = st.rq1_base_vs_aligned(synth(n_models=2, n_persona_conditions=0), [])
    assert not none["tested"] and "RQ1 not tested" in none["note"] and none["pooled"].empty
    missing = st.rq1_base_vs_aligned(same, [{"base": "zz", "instruct": "m1"}])
    assert "not in the table" in missing["note"]


def test_rq1_correlation_difference_is_detected():
    df = synth(n_models=2, n_conditions=30, n_persona_conditions=0, seed=7, roles={0: "base"}).to_pandas()
    inst = df["model"] == "m1"
    noise = np.random.default_rng(1).normal(0, 0.02, inst.sum())
    df.loc[inst, "sr_SRQ"] = np.clip(3 + 0.5 * (df.loc[inst, "sr_A"] - 3) + noise, 1, 5)
    res = st.rq1_base_vs_aligned(pl.from_pandas(df), [{"base": "m0", "instruct": "m1"}])
    c = res["correlations"]
    c = c[c["scope"] == "pair"].set_index("trait")
    assert c.loc["sr_A", "r_instruct"] > 0.95 and c.loc["sr_A", "ci_low_instruct"] > 0.9
    assert abs(c.loc["sr_A", "r_base"]) < 0.4 and c.loc["sr_A", "p_difference_holm"] < 0.001
    assert c.drop(index="sr_A")["p_difference_holm"].min() > 0.05


def test_headline_metrics_have_no_dotted_keys():
    df = synth(persona_sr_shift=1.0, n_models=2, n_conditions=6).with_columns(
        pl.col("model").str.replace("m", "embedded:qwen2.5-coder-1.5b-"))
    design = st.describe_design(df)
    m = st.headline(design, st.rq1_base_vs_aligned(df, []), st.rq2_trait_behaviour(df, expected()),
                    st.rq3_persona(df), st.persona_checks(df))

    def keys(d):
        for k, v in d.items():
            yield k
            if isinstance(v, dict):
                yield from keys(v)

    assert all("." not in k for k in keys(m))
    assert m["rq2"]["n_tests"] > 0 and "all_models" in m["rq3"]


def test_sampled_runs_that_agree_on_one_measure_are_not_repeats():
    """At T > 0 two sampled runs can agree on one measure by chance (both at a scale's ceiling): they stay
    two units unless the repeat is exact by design (option probabilities) or the whole row repeats. In
    option_probs mode a model x condition is one unit whatever its runs."""
    base = {"model": "m", "condition": "baseline_a", "condition_type": "baseline", "temperature": 0.7,
            "sr_A": 5.0, "bh_cct_cards": 10.0}
    df = pl.DataFrame([{**base, "run": 0}, {**base, "run": 1, "bh_cct_cards": 12.0}])
    assert len(st.units(df, ["sr_A"])) == 2
    op = df.with_columns(pl.lit("option_probs").alias("mode"))
    assert len(st.units(op, ["sr_A"])) == 1 and len(st.units(op, ["bh_cct_cards"])) == 1
    whole = pl.DataFrame([{**base, "run": 0}, {**base, "run": 1}])
    assert len(st.units(whole, ["sr_A"])) == 1
    greedy = df.with_columns(pl.lit(0.0).alias("temperature"))
    assert len(st.units(greedy, ["sr_A"])) == 1


def test_temperatures_from_one_forward_pass_are_one_unit():
    """In option_probs mode the answers at T = 0, 0.5 and 1 are re-weightings of the same forward passes: a
    model x condition is one unit (the row at T = 1), so three prompts at three temperatures are 3 units, not 9;
    sampled generation keeps its temperatures as units."""
    rows = [{"model": "m", "condition": f"baseline_{c}", "condition_type": "baseline", "temperature": t, "run": 0,
             "sr_A": 3.0 + i + t, "bh_cct_cards": 10.0 + i - t, "mode": "option_probs"}
            for i, c in enumerate("abc") for t in (0.0, 0.5, 1.0)]
    op = pl.DataFrame(rows)
    u = st.units(op, ["sr_A", "bh_cct_cards"])
    assert len(u) == 3 and set(u["temperature"]) == {1.0} and set(u["n_temperatures"]) == {3}
    gen = op.with_columns(pl.lit("generate").alias("mode"))
    assert len(st.units(gen, ["sr_A", "bh_cct_cards"])) == 9
    rq2 = st.rq2_trait_behaviour(op, traits=["sr_A"], behaviours=["bh_cct_cards"], min_n=5)
    assert rq2["summary"]["n_tests"] == 0 and rq2["tests"]["n"].tolist() == [3]  # 9 rows were 9 "units" before


def test_rq1_models_with_zero_sd_are_kept_and_tested():
    """The most stable models (every answer identical: SD 0) enter the SD test as the smallest SDs; they were
    dropped before (log 0), which biased the test against the hypothesis. Checked against scipy's exact
    permutation distribution of Mann-Whitney U with ties, and against an enumeration of every split."""
    from itertools import combinations

    from scipy import stats as ss

    roles = {m: ("base" if m < 4 else "instruct") for m in range(8)}
    df = synth(n_models=8, n_conditions=8, n_persona_conditions=0, roles=roles, seed=3,
               base_sd={0: 1.0, 1: 0.9, 2: 1.1, 3: 0.8, 4: 0.3, 5: 0.5, 6: 1.0, 7: 1.0}).to_pandas()
    for m in ("m6", "m7"):  # two instruct models that always answer 3.0
        df.loc[df["model"] == m, "sr_E"] = 3.0
    res = st.rq1_base_vs_aligned(pl.from_pandas(df), [])
    r = res["pooled"].set_index("trait").loc["sr_E"]
    assert r["n_instruct_models_sd"] == 4 and r["n_base_models_sd"] == 4 and r["n_zero_sd_models"] == 2
    u = df.drop_duplicates(["model", "condition", "temperature"])
    sd = u.groupby("model")["sr_E"].std()
    b, i = sd[["m0", "m1", "m2", "m3"]].to_numpy(), sd[["m4", "m5", "m6", "m7"]].to_numpy()
    ref = ss.mannwhitneyu(i, b, alternative="two-sided", method=ss.PermutationMethod(n_resamples=np.inf)).pvalue
    assert r["p_sd"] == pytest.approx(ref)
    # the same p by enumerating all 70 splits of the 8 SDs (two-sided: |U - n1 n2 / 2| as large or larger)
    allsd = np.concatenate([i, b])
    ranks = ss.rankdata(allsd)
    u_obs = ranks[:4].sum() - 10
    us = [ranks[list(c)].sum() - 10 for c in combinations(range(8), 4)]
    p_enum = np.mean([abs(x - 8) >= abs(u_obs - 8) - 1e-9 for x in us])
    assert r["p_sd"] == pytest.approx(p_enum)
    assert "zero SDs included" in res["note"]


def test_repeat_report_gives_the_units_the_tests_use():
    """Option-probability rows at 3 temperatures are one unit per model x condition: the report said 27 units
    for 9 prompts x 3 temperatures where the tests use 9."""
    rows = [{"model": "m", "condition": f"baseline_{c}", "condition_type": "baseline", "temperature": t, "run": 0,
             "sr_A": 3.0 + 0.1 * c + t, "bh_cct_cards": 10.0 + c - t, "mode": "option_probs"}
            for c in range(9) for t in (0.0, 0.5, 1.0)]
    op = pl.DataFrame(rows)
    rep = st.repeat_report(op, ["sr_A", "bh_cct_cards"]).set_index("measure")
    assert rep.loc["sr_A", "rows"] == 27 and rep.loc["sr_A", "units"] == 9 == len(st.units(op, ["sr_A"]))
    assert rep.loc["sr_A", "temperatures_collapsed"] == 18
    text = st.describe_repeats(rep.reset_index())
    assert "enter the tests as 18 units" in text and "sr_A 9" in text


def test_rq2_primary_family_is_the_papers_pairs_secondary_corrected_apart():
    """The paper tested 6 self-reports x 5 behaviours = 30 pairs; accuracy, Brier, overconfidence and the CCT
    distance are further measures of the same tasks: a family of their own, with their own correction."""
    df = synth(effect=0.0, n_models=1, n_conditions=12).to_pandas()
    rng = np.random.default_rng(4)
    for c, lo, hi in (("bh_hon_consistency", 0, 10), ("bh_hon_brier", 0, 1), ("bh_hon_accuracy", 0, 1),
                      ("bh_hon_overconf", -1, 1), ("bh_cct_dist_opt", 0, 32)):
        df[c] = rng.uniform(lo, (lo + hi) / 2, len(df))
    res = st.rq2_trait_behaviour(pl.from_pandas(df), expected())
    t, s = res["tests"], res["summary"]
    prim = t[t["family"] == "primary"]
    assert len(prim) == 30 and s["n_pairs"] == 30 and s["secondary"]["n_pairs"] == 24
    assert set(prim["behaviour"]) == set(st.PAPER_BEHAVIOURS) and set(prim["trait"]) == set(st.PAPER_TRAITS)
    from statsmodels.stats.multitest import multipletests
    for fam in ("primary", "secondary"):
        f = t[(t["family"] == fam) & t["p"].notna()]
        assert np.allclose(f["p_holm"], multipletests(f["p"], method="holm")[1])
        assert np.allclose(f["p_bh"], multipletests(f["p"], method="fdr_bh")[1])
    # the detectable |r| at each test's n: Fisher z, checked against statsmodels' power of the same z test
    from statsmodels.stats.power import NormalIndPower
    r0 = prim["mde_r"].iloc[0]
    z = np.arctanh(r0) * np.sqrt(prim["n"].iloc[0] - 3)
    assert NormalIndPower().power(z, nobs1=1, alpha=0.05, ratio=0) == pytest.approx(0.8, abs=1e-3)
    lines = st.summary_lines(st.describe_design(df), st.rq1_base_vs_aligned(df, []), res, st.rq3_persona(df))
    assert any("primary family" in x and "30 here" in x for x in lines)
    assert any(x.startswith("RQ2 secondary") for x in lines)


def test_paper_pairs_match_the_released_tables():
    from pathlib import Path
    ref = Path(__file__).parents[3] / ".." / "shared" / "reference" / "personality-illusion" / "data" / "baseline_responses"
    if not ref.exists():
        pytest.skip(f"the released tables of Han et al. are not at {ref}")
    beh = pd.read_csv(ref / "instruct_models_behavioral_tasks.csv", nrows=1).columns
    srs = pd.read_csv(ref / "instruct_models_selfreport.csv", nrows=1).columns
    meta = {"Model", "type", "Persona", "persona_index", "Persona_Content", "temp", "run"}
    assert set(st.PAPER_BEHAVIOURS.values()) == set(beh) - meta
    assert len(set(srs) - meta) == len(st.PAPER_TRAITS) == 6
    assert len(st.PAPER_TRAITS) * len(st.PAPER_BEHAVIOURS) == 30


def test_logistic_names_dropped_predictors_and_the_no_information_rate():
    df = synth(n_models=1, n_conditions=6, n_persona_conditions=3, persona_sr_shift=1.0).to_pandas()
    first = df.index[(df["condition_type"] == "baseline")][0]
    df.loc[df["condition"] == df.loc[first, "condition"], "bh_hon_ece"] = np.nan  # one unit without ECE
    lg = st.rq3_persona(pl.from_pandas(df))["logistic"]
    beh = lg[(lg["persona_trait"] == "self_regulation") & (lg["predictors_from"] == "behaviour")].iloc[0]
    assert "bh_hon_ece" not in beh["predictors"].split(",") and "bh_hon_ece: " in beh["dropped"]
    assert "missing" in beh["dropped"]
    n_p = beh["n_persona"]
    assert beh["no_information_rate"] == pytest.approx(max(n_p, beh["n"] - n_p) / beh["n"])
    r = st.logistic_persona(pd.DataFrame({"x": [0.0, 1, 2, 3, 4, 5], "k": [1.0] * 6}), np.array([0, 0, 0, 0, 1, 1]))
    assert r["dropped"] == "k: no variance" and r["no_information_rate"] == pytest.approx(4 / 6)


def _units_by_groupby(d: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """A plain pandas statement of :func:`st.units` (groupby / nunique / join, as the function was first written):
    the reference its array implementation is checked against."""
    grp = d.groupby(st.CELL, sort=False, dropna=False)
    same = grp[cols].nunique(dropna=False).le(1).all(axis=1)
    whole = grp[st._measures(d)].nunique(dropna=False).le(1).all(axis=1)
    by_design = grp["temperature"].first().eq(0) | whole | grp["mode"].first().eq("option_probs")
    flags = (same & by_design & grp.size().gt(1)).rename("_same")
    k = d.dropna(subset=cols)
    size = k.groupby(st.CELL, sort=False, dropna=False).size().rename("_k")
    k = k.join(flags, on=st.CELL).join(size, on=st.CELL)
    first = ~k.duplicated(subset=st.CELL, keep="first")
    out = k[~k["_same"] | first].copy()
    out["n_runs"] = np.where(out["_same"], out["_k"], 1)
    d = out.drop(columns=["_same", "_k"]).assign(n_temperatures=1)
    op = d["mode"].eq("option_probs")
    o = d[op].copy()
    o["n_temperatures"] = o.groupby(["model", "condition"], dropna=False)["temperature"].transform("nunique")
    o["_dist"] = (o["temperature"] - st.REFERENCE_TEMPERATURE).abs()
    o = o.sort_values("_dist", kind="stable").drop_duplicates(["model", "condition"], keep="first")
    return pd.concat([o.drop(columns="_dist"), d[~op]]).sort_index()


def test_units_equal_the_groupby_statement():
    """Sampled runs that differ or agree by chance, greedy repeats, option_probs rows at several temperatures (two
    equally far from the reference), whole rows repeated, missing values in the measures: every column pair gives the
    reference's rows, values, n_runs and n_temperatures."""
    rng = np.random.default_rng(3)
    rows = []
    for model in ("m1", "m2"):
        for cond in ("baseline_1", "baseline_2", "persona_a"):
            for temp in (0.0, 0.7, 1.0, 1.3):
                for mode in ("generate", "option_probs") if model == "m1" else ("generate",):
                    base = rng.integers(1, 5, 3).astype(float)
                    for run in range(3):
                        v = base.copy() if temp == 0 or mode == "option_probs" or cond == "baseline_2" \
                            else np.where(rng.uniform(size=3) < 0.5, base, rng.integers(1, 5, 3))
                        if rng.uniform() < 0.1:
                            v[rng.integers(0, 3)] = np.nan
                        rows.append({"model": model, "condition": cond, "temperature": temp, "run": run + 1,
                                     "mode": mode, "condition_type": "baseline" if cond.startswith("b") else "persona",
                                     "sr_A": v[0], "sr_C": v[1], "bh_cct_cards": v[2]})
    d = pd.DataFrame(rows)
    for cols in (["sr_A"], ["bh_cct_cards"], ["sr_A", "bh_cct_cards"], ["sr_C", "sr_A"]):
        got, want = st.units(d, cols), _units_by_groupby(d, cols)
        assert len(got) < len(d)
        pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_sd_rank_test_is_scipys_exact_permutation_p_to_the_last_bit():
    """sd_rank_test enumerates the permutation distribution itself: the p of scipy's mannwhitneyu with
    PermutationMethod(n_resamples=inf), for unequal sizes both ways round, ties, zero SDs and the smallest groups."""
    from scipy import stats as ss

    rng = np.random.default_rng(0)
    n = 0
    for n1, n2 in [(2, 2), (3, 3), (6, 12), (12, 6), (4, 9), (2, 10)]:
        for k in range(4):
            x, y = rng.uniform(0, 1, n1), rng.uniform(0, 1, n2)
            if k % 2:
                x, y = np.round(x, 1), np.round(y, 1)
            if k == 3:
                x[0], y[:2] = 0, 0
            if np.ptp(np.concatenate([x, y])) == 0:  # every SD equal: no test (documented)
                assert np.isnan(st.sd_rank_test(x, y))
                continue
            want = ss.mannwhitneyu(x, y, alternative="two-sided",
                                   method=ss.PermutationMethod(n_resamples=np.inf)).pvalue
            assert st.sd_rank_test(x, y) == float(want)
            n += 1
    assert n >= 20 and st.sd_rank_test([0.1, 0.2, 0.3], [0.4, 0.5, 0.6]) == 0.1
