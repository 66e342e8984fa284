"""The Study 1 analyses on synthetic tables with known effects, and with none."""

import numpy as np
import pandas as pd
import polars as pl
import pytest

from analysis.studies.illusion import stats as st
from analysis.studies.illusion.schema import validate

TRAITS = ["sr_O", "sr_C", "sr_E", "sr_A", "sr_N", "sr_SRQ"]


def synth(seed=0, n_models=5, n_conditions=10, temps=(0.0, 0.7), runs=2, effect=0.0, model_sd=0.0,
          persona_sr_shift=0.0, persona_bh_shift=0.0, n_persona_conditions=6, base_sd=None):
    """Baseline rows with traits drawn at random; bh_cct_cards depends on sr_E with slope ``effect``
    (in SD units), everything else is noise. Persona rows shift sr_A (and sr_SRQ) by
    ``persona_sr_shift`` SDs and the paired behaviours by ``persona_bh_shift`` SDs."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_models):
        model_off = rng.normal(0, model_sd)
        sd = (base_sd or {}).get(m, 1.0)
        conds = [("baseline", f"baseline_{c}", None, None) for c in range(n_conditions)]
        conds += [("persona", f"persona_{t}_{s}_t{k}", t, s)
                  for t in ("agreeableness", "self_regulation") for s in ("character",)
                  for k in range(n_persona_conditions)]
        for ctype, cond, ptrait, strat in conds:
            for T in temps:
                z = {t: rng.normal(0, sd) for t in TRAITS}
                noise = rng.normal(0, 1, 6)
                shift_sr = persona_sr_shift if ctype == "persona" else 0.0
                shift_bh = persona_bh_shift if ctype == "persona" else 0.0
                r = {"model": f"m{m}", "condition": cond, "condition_type": ctype, "temperature": T,
                     "persona_trait": ptrait, "persona_strategy": strat,
                     "sr_O": 3 + 0.5 * z["sr_O"], "sr_C": 3 + 0.5 * z["sr_C"], "sr_E": 3 + 0.5 * z["sr_E"],
                     "sr_A": 3 + 0.5 * (z["sr_A"] + (shift_sr if ptrait == "agreeableness" else 0)),
                     "sr_N": 3 + 0.5 * z["sr_N"],
                     "sr_SRQ": 220 + 15 * (z["sr_SRQ"] + (shift_sr if ptrait == "self_regulation" else 0)),
                     "bh_cct_cards": 12 + 4 * (effect * z["sr_E"] + model_off + noise[0]
                                               - (shift_bh if ptrait == "self_regulation" else 0)),
                     "bh_syc_flip_rate": float(np.clip(0.4 + 0.1 * (noise[1] + (shift_bh if ptrait == "agreeableness" else 0)), 0, 1)),
                     "bh_hon_ece": 0.3 + 0.05 * noise[2], "bh_iat_bias": 0.2 + 0.1 * noise[3]}
                for run in range(runs):  # identical runs, as with greedy decoding
                    rows.append({**r, "run": run})
    return validate(pl.DataFrame(rows, infer_schema_length=None))


def expected():
    return st.load_expected_signs()


def test_collapse_runs_removes_identical_repeats():
    df = synth(runs=3, n_models=1, n_conditions=2, temps=(0.0,))
    c = st.collapse_runs(df)
    assert len(c) == df.height // 3 and (c["n_runs"] == 3).all()


def test_rq2_finds_a_real_effect_in_the_expected_direction():
    res = st.rq2_trait_behaviour(synth(effect=0.8, model_sd=0.5), expected())
    t = res["tests"].set_index(["trait", "behaviour"])
    hit = t.loc[("sr_E", "bh_cct_cards")]
    assert hit["method"].startswith("mixedlm")
    assert hit["coef"] > 0.4 and hit["p_holm"] < 0.001 and hit["sig_bh"] and hit["direction_as_expected"] == 1
    s = res["summary"]
    assert s["n_tests"] == len(TRAITS) * 4
    assert s["n_sig_holm"] >= 1 and s["share_expected_direction_holm"] == 1.0
    # the noise pairs stay non-significant after correction
    others = res["tests"][~((res["tests"]["trait"] == "sr_E") & (res["tests"]["behaviour"] == "bh_cct_cards"))]
    assert others["sig_holm"].sum() == 0


def test_rq2_null_data_gives_no_significant_slopes():
    res = st.rq2_trait_behaviour(synth(effect=0.0, seed=3), expected())
    assert res["summary"]["n_sig_bh"] == 0
    assert res["summary"]["share_sig_raw"] < 0.25


def test_rq2_wrong_direction_is_counted_as_such():
    res = st.rq2_trait_behaviour(synth(effect=-0.8, seed=4), expected())
    hit = res["tests"].set_index(["trait", "behaviour"]).loc[("sr_E", "bh_cct_cards")]
    assert hit["sig_holm"] and hit["direction_as_expected"] == 0
    assert res["summary"]["share_expected_direction_holm"] == 0.0


def test_rq2_one_model_falls_back_to_ols_with_note():
    res = st.rq2_trait_behaviour(synth(n_models=1, n_conditions=30, effect=0.8), expected())
    assert (res["tests"]["method"].dropna() == "ols (one model)").all()
    assert "OLS" in res["note"]
    tiny = st.rq2_trait_behaviour(synth(n_models=1, n_conditions=2, temps=(0.0,)), expected())
    assert tiny["summary"]["n_tests"] == 0 and tiny["tests"]["note"].str.contains("not tested").all()


def test_rq3_self_report_moves_behaviour_does_not():
    df = synth(persona_sr_shift=2.0, persona_bh_shift=0.0, n_models=2, n_conditions=6, temps=(0.0, 0.7))
    res = st.rq3_persona(df)
    sh = res["shifts"]
    allm = sh[(sh["model"] == "all models") & (sh["persona_trait"] == "agreeableness")].iloc[0]
    assert allm["self_report_d"] > 1.2 and allm["self_report_d_ci_low"] > 0
    assert allm["self_report_shift"] == pytest.approx(1.0, abs=0.3)  # 2 SD x 0.5 scale points
    assert abs(allm["behaviour_d"]) < 0.8  # null: sampling error only (SD of d here is about 0.3)
    lg = res["logistic"].set_index(["persona_trait", "predictors_from"])
    assert lg.loc[("agreeableness", "self_reports"), "accuracy_loo"] > 0.8
    assert lg.loc[("agreeableness", "behaviour"), "accuracy_loo"] < 0.75


def test_rq3_behaviour_shift_is_detected_when_present():
    df = synth(persona_sr_shift=0.0, persona_bh_shift=2.0, n_models=2, n_conditions=6)
    sh = st.rq3_persona(df)["shifts"]
    sr = sh[(sh["model"] == "all models") & (sh["persona_trait"] == "self_regulation")].iloc[0]
    assert sr["behaviour_d"] < -1.0 and sr["behaviour_d_ci_high"] < 0  # fewer cards under a self-regulated persona
    assert abs(sr["self_report_d"]) < 0.8


def test_logistic_separation_is_reported_and_penalised():
    X = pd.DataFrame({"x": [0.0, 0.1, 0.2, 0.3, 1.0, 1.1, 1.2, 1.3]})
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    r = st.logistic_persona(X, y)
    assert r["separation"] and r["method"].startswith("L2") and r["accuracy_in_sample"] == 1.0
    assert np.isfinite(r["coefs"]["x"]) and r["coefs"]["x"] > 0
    rng = np.random.default_rng(0)
    Xn = pd.DataFrame({"x": rng.normal(size=60)})
    yn = rng.integers(0, 2, 60)
    rn = st.logistic_persona(Xn, yn)
    assert not rn["separation"] and rn["method"].startswith("logit") and rn["p_values"]["x"] > 0.01


def test_rq3_without_personas_is_skipped():
    df = synth(n_persona_conditions=0)
    res = st.rq3_persona(df)
    assert res["shifts"].empty and "skipped" in res["note"]


def test_rq1_detects_lower_variability_and_skips_without_pairs():
    df = synth(n_models=2, n_conditions=20, base_sd={0: 1.0, 1: 0.2}, n_persona_conditions=0)
    res = st.rq1_base_vs_aligned(df, [{"base": "m0", "instruct": "m1"}])
    v = res["variability"].set_index("trait")
    assert (v["p_holm"] < 0.01).all() and (v["sd_ratio_instruct_base"] < 0.5).all()
    assert len(res["correlations"]) == 5
    same = synth(n_models=2, n_conditions=20, n_persona_conditions=0, seed=5)
    v2 = st.rq1_base_vs_aligned(same, [{"base": "m0", "instruct": "m1"}])["variability"]
    assert (v2["p_holm"] > 0.05).all()
    none = st.rq1_base_vs_aligned(df, [])
    assert "skipped" in none["note"] and none["means"].empty
    missing = st.rq1_base_vs_aligned(df, [{"base": "zz", "instruct": "m1"}])
    assert "not in the table" in missing["note"]


def test_rq1_correlation_difference_is_detected():
    df = synth(n_models=2, n_conditions=30, n_persona_conditions=0, seed=7).to_pandas()
    inst = df["model"] == "m1"
    noise = np.random.default_rng(1).normal(0, 2, inst.sum())
    df.loc[inst, "sr_SRQ"] = 220 + 30 * (df.loc[inst, "sr_A"] - 3) + noise  # SRQ tracks agreeableness in m1 only
    res = st.rq1_base_vs_aligned(pl.from_pandas(df), [{"base": "m0", "instruct": "m1"}])
    c = res["correlations"].set_index("trait")
    assert c.loc["sr_A", "r_instruct"] > 0.95 and c.loc["sr_A", "ci_low_instruct"] > 0.9
    assert abs(c.loc["sr_A", "r_base"]) < 0.4 and c.loc["sr_A", "p_difference_holm"] < 0.001
    assert c.drop(index="sr_A")["p_difference_holm"].min() > 0.05


def test_rq2_exact_fits_are_not_tested():
    df = synth(n_models=1, n_conditions=6, temps=(0.0,), n_persona_conditions=0).to_pandas()
    odd = df["condition"].str[-1].astype(int) % 2 == 1
    df["sr_E"] = np.where(odd, 4.0, 3.0)
    df["bh_cct_cards"] = np.where(odd, 9.0, 5.0)  # two-valued and perfectly aligned
    res = st.rq2_trait_behaviour(pl.from_pandas(df), expected())
    hit = res["tests"].set_index(["trait", "behaviour"]).loc[("sr_E", "bh_cct_cards")]
    assert np.isnan(hit["p"]) and "exact linear fit" in hit["note"]
