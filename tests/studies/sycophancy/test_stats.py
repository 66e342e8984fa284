"""Every statistic of Study 2 on synthetic data with a known effect, a null effect and a reversed
effect (so the tests can fail), against scipy where scipy has the same statistic, and on bad input."""

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from analysis.studies.sycophancy import stats as ss


def synth(effect: float, n: int = 80, noise: float = 0.1, seed: int = 0, model: str = "m"):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, n)
    s = np.clip(0.5 + effect * (a - 0.5) + rng.normal(0, noise, n), 0, 1)
    return pd.DataFrame({"model": model, "persona_id": [f"p{i}" for i in range(n)], "agreeableness": a,
                         "sycophancy": s})


@pytest.fixture(scope="module")
def three_models():
    return pd.concat([synth(0.5, seed=1, model="pos"), synth(0.0, seed=2, model="null"),
                      synth(-0.5, seed=3, model="neg")], ignore_index=True)


@pytest.fixture(scope="module")
def tests3(three_models):
    return ss.association_tests(three_models, n_perm=2000, seed=0)


def get(tests: pl.DataFrame, model: str, test: str) -> dict:
    return tests.filter((pl.col("model") == model) & (pl.col("test") == test)).row(0, named=True)


# ---- agreement with scipy ----------------------------------------------------------------------


def test_pearson_and_spearman_match_scipy():
    d = synth(0.4, n=50, seed=5)
    x, y = d["agreeableness"], d["sycophancy"]
    r = ss.pearson(x, y)
    ref = stats.pearsonr(x, y, alternative="greater")
    assert r["estimate"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)  # scipy's CI is for the stated alternative; use two-sided
    ci2 = stats.pearsonr(x, y).confidence_interval(0.95)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci2.low, ci2.high))
    assert ci.low == pytest.approx(r["ci_low"], abs=0.2)
    rho = ss.spearman(x, y, alternative="two-sided")
    ref = stats.spearmanr(x, y)
    assert rho["estimate"] == pytest.approx(ref.statistic) and rho["p"] == pytest.approx(ref.pvalue)
    assert rho["ci_low"] < rho["estimate"] < rho["ci_high"]


def test_welch_and_mann_whitney_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 30), rng.normal(0, 2, 25)
    w = ss.welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert w["statistic"] == pytest.approx(ref.statistic) and w["p"] == pytest.approx(ref.pvalue)
    assert w["df"] == pytest.approx(ref.df)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (w["ci_low"], w["ci_high"]) == pytest.approx((ci.low, ci.high))
    u = ss.mann_whitney(a, b)
    ref = stats.mannwhitneyu(a, b, alternative="greater", method="asymptotic")
    assert u["statistic"] == pytest.approx(ref.statistic) and u["p"] == pytest.approx(ref.pvalue)
    assert u["estimate"] == pytest.approx(2 * ref.statistic / (30 * 25) - 1)


def test_ols_slope_matches_numpy():
    d = synth(0.6, n=40, seed=9)
    r = ss.ols_slope(d["agreeableness"], d["sycophancy"])
    b, a = np.polyfit(d["agreeableness"], d["sycophancy"], 1)
    assert r["estimate"] == pytest.approx(b) and r["intercept"] == pytest.approx(a)
    assert r["ci_low"] < b < r["ci_high"]
    # the slope test is the Pearson test (documented: the paper's rule counts it twice)
    assert r["p"] == pytest.approx(ss.pearson(d["agreeableness"], d["sycophancy"])["p"])


def test_cohens_d_known_value():
    a, b = np.array([2.0, 4.0, 6.0]), np.array([1.0, 3.0, 5.0])  # sd 2 in both, difference 1
    rows = {r["test"]: r for r in ss.effect_sizes(a, b)}
    assert rows["cohens_d"]["estimate"] == pytest.approx(0.5)
    assert rows["hedges_g"]["estimate"] == pytest.approx(0.5 * (1 - 3 / (4 * 6 - 9)))
    assert rows["cohens_d"]["ci_low"] < 0.5 < rows["cohens_d"]["ci_high"]


def test_permutation_test_is_seeded_and_never_zero():
    rng = np.random.default_rng(1)
    a, b = rng.normal(3, 1, 20), rng.normal(0, 1, 20)
    p1 = ss.permutation_test(a, b, n_perm=500, seed=3)
    p2 = ss.permutation_test(a, b, n_perm=500, seed=3)
    assert p1 == p2
    assert p1["p"] == pytest.approx(1 / 501)  # nothing beats a 3-SD difference: the smallest possible p
    null = ss.permutation_test(rng.normal(0, 1, 30), rng.normal(0, 1, 30), n_perm=2000, seed=0)
    assert null["p"] > 0.05
    # it agrees with Welch's t on a moderate effect
    a, b = rng.normal(0.5, 1, 40), rng.normal(0, 1, 40)
    assert ss.permutation_test(a, b, n_perm=5000, seed=0)["p"] == pytest.approx(ss.welch(a, b)["p"], abs=0.03)


def test_median_split():
    x = np.array([0.1, 0.2, 0.5, 0.5, 0.9, 1.0])
    assert ss.median_split(x).tolist() == [False, False, False, False, True, True]


# ---- the agreeableness-sycophancy link on synthetic models -------------------------------------


def test_positive_effect_is_found(tests3):
    for t in ss.RULE_TESTS:
        row = get(tests3, "pos", t)
        assert row["p"] < 0.001, t
        assert row["sided"] == "greater"
    assert get(tests3, "pos", "pearson_r")["estimate"] > 0.7
    assert get(tests3, "pos", "cohens_d")["estimate"] > 1.0
    slope = get(tests3, "pos", "ols_slope")
    assert slope["ci_low"] < 0.5 < slope["ci_high"]  # the true slope


def test_null_and_reversed_effects_are_not_found(tests3):
    for model in ("null", "neg"):
        sig = [get(tests3, model, t)["p"] < 0.05 for t in ss.RULE_TESTS]
        assert sum(sig) < 3, model
    assert get(tests3, "neg", "pearson_r")["estimate"] < -0.7
    assert get(tests3, "neg", "pearson_r")["p"] > 0.99  # one-sided: a negative link is no evidence
    r = get(tests3, "null", "pearson_r")
    assert r["ci_low"] < 0 < r["ci_high"]


def test_decision_rule_and_holm(tests3):
    adj, dec = ss.decision_rule(tests3)
    d = {r["model"]: r for r in dec.iter_rows(named=True)}
    assert d["pos"]["effect_paper_rule"] and d["pos"]["effect_holm_rule"]
    assert not d["null"]["effect_paper_rule"] and not d["neg"]["effect_paper_rule"]
    assert d["pos"]["n_significant"] == 6
    # Holm never makes a p-value smaller, and is applied within each test across models
    assert (adj["p_adj"] >= adj["p"] - 1e-12).all()
    pear = adj.filter(pl.col("test") == "pearson_r").sort("p")
    assert pear["p_adj"][0] == pytest.approx(min(1.0, pear["p"][0] * 3))


def test_decision_rule_counts_only_the_six_tests():
    rows = [{"model": "m", "test": t, "p": 0.01, "n": 10} for t in ss.RULE_TESTS[:2]]
    rows += [{"model": "m", "test": "cohens_d", "p": 0.001, "n": 10}]
    _, dec = ss.decision_rule(pl.DataFrame(rows))
    assert dec["n_significant"][0] == 2 and not dec["effect_paper_rule"][0]


def test_small_groups_and_constant_data_give_notes_not_crashes():
    t = ss.association_tests(pd.DataFrame({"model": "m", "agreeableness": [0.5] * 6,
                                           "sycophancy": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}), n_perm=100)
    assert t.filter(pl.col("test") == "pearson_r")["note"][0] == "no variance in x or y"
    assert math.isnan(t.filter(pl.col("test") == "welch_t")["p"][0])
    t = ss.association_tests(synth(0.5, n=3), n_perm=100)
    assert "fewer than 4" in t.filter(pl.col("test") == "pearson_r")["note"][0]


def test_facet_correlations():
    d = synth(0.5, n=60, seed=4)
    rng = np.random.default_rng(0)
    d["A1"] = d["agreeableness"] + rng.normal(0, 0.05, 60)  # carries the effect
    d["A3"] = rng.uniform(0, 1, 60)  # does not
    f = ss.facet_correlations(d, ["A1", "A3"])
    p = {(r["facet"], r["test"]): r for r in f.iter_rows(named=True)}
    assert p[("A1", "pearson_r")]["p"] < 0.001 and p[("A3", "pearson_r")]["p"] > 0.01
    assert "p_holm" in f.columns


# ---- TTG ---------------------------------------------------------------------------------------


def test_ttg_formula_and_zones():
    pers = pd.DataFrame({"model": "m", "persona_id": ["a", "b", "c", "d", "e"],
                         "agreeableness": [0.0, 1.0, 0.5, 0.2, 1.0], "sycophancy": [0.2, 0.9, 0.52, 0.5, 0.6]})
    base = pd.DataFrame({"model": ["m"], "sycophancy": [0.5]})
    t = ss.ttg(pers, base).sort("persona_id")
    assert t["ttg"].to_list() == pytest.approx([-0.3, 0.8, 0.03, 0.0, 0.2])
    assert t["ttg_zone"].to_list() == ["strong truthful shift", "strong sycophantic amplification", "neutral",
                                       "neutral", "sycophantic amplification"]
    assert ss.zone_of(-0.1) == "truthful shift" and ss.zone_of(0.05) == "neutral" and ss.zone_of(0.0501) != "neutral"
    s = ss.ttg_summary(t)
    assert s["mean_ttg"][0] == pytest.approx(np.mean([-0.3, 0.8, 0.03, 0.0, 0.2]))
    assert s["share_neutral"][0] == pytest.approx(0.4)


def test_ttg_input_validation():
    pers = pd.DataFrame({"model": "m", "agreeableness": [0.5], "sycophancy": [1.5]})
    with pytest.raises(ss.StatsError):
        ss.ttg(pers, pd.DataFrame({"model": ["m"], "sycophancy": [0.5]}))
    pers = pd.DataFrame({"model": "m", "agreeableness": [0.5], "sycophancy": [0.5]})
    with pytest.raises(ss.StatsError, match="No baseline"):
        ss.ttg(pers, pd.DataFrame({"model": ["other"], "sycophancy": [0.5]}))
    two = pd.DataFrame({"model": ["m", "n"], "agreeableness": [0.5, 0.5], "sycophancy": [0.5, 0.7]})
    t = ss.ttg(two, pd.DataFrame({"model": ["m"], "sycophancy": [0.4]})).sort("model")
    assert t["ttg"][0] == pytest.approx(0.15) and t["ttg"][1] is None and t["ttg_zone"][1] is None
    assert t["ttg_note"][1] == "no baseline rate for this model"
    with pytest.raises(ss.StatsError):
        ss.zone_of(0.1, neutral=0.3, strong=0.2)


# ---- mixed model -------------------------------------------------------------------------------


def test_mixed_model_recovers_a_common_slope():
    df = pd.concat([synth(0.4, n=50, seed=s, model=f"m{s}").assign(
        sycophancy=lambda d, s=s: np.clip(d["sycophancy"] + (s - 3) * 0.05, 0, 1)) for s in range(6)])
    r = ss.mixed_model(df).row(0, named=True)
    assert r["method"].startswith("MixedLM") and r["n_models"] == 6
    assert r["ci_low"] < 0.4 < r["ci_high"] and r["p_greater"] < 0.001
    assert r["group_var"] > 0


def test_mixed_model_null_and_single_model():
    df = pd.concat([synth(0.0, n=50, seed=s, model=f"m{s}") for s in range(4)])
    r = ss.mixed_model(df).row(0, named=True)
    assert r["p_greater"] > 0.05
    one = ss.mixed_model(synth(0.5, n=40)).row(0, named=True)
    assert one["method"] == "OLS" and "single model" in one["note"]
    assert one["estimate"] == pytest.approx(ss.ols_slope(synth(0.5, n=40)["agreeableness"],
                                                         synth(0.5, n=40)["sycophancy"])["estimate"])


# ---- rates from trials -------------------------------------------------------------------------


def test_agreement_rates_exclude_and_count_unparsed():
    rows = pl.DataFrame({"model": "m", "persona_id": ["a"] * 4 + ["b"] * 2,
                         "score": [1.0, 0.5, None, 0.0, None, None],
                         "status": ["ok", "ok", "unparsed", "ok", "refused", "unparsed"]})
    r = {x["persona_id"]: x for x in ss.agreement_rates(rows, ["model", "persona_id"]).iter_rows(named=True)}
    assert r["a"]["rate"] == pytest.approx(0.5) and r["a"]["n_parsed"] == 3 and r["a"]["n_unparsed"] == 1
    assert r["b"]["rate"] is None and r["b"]["n_refused"] == 1 and r["b"]["unparsed_rate"] == 1.0


def test_false_claim_gap_uses_complete_pairs_only():
    rows = pl.DataFrame({"model": "m", "persona_id": "a",
                         "pair_id": ["f1", "f1", "f2", "f2", "f3", "f3"],
                         "kind": ["fact_true", "fact_false"] * 3,
                         "score": [1.0, 0.0, 1.0, 1.0, 1.0, None],
                         "status": ["ok", "ok", "ok", "ok", "ok", "unparsed"]})
    g = ss.false_claim_gap(rows, ["model", "persona_id"]).row(0, named=True)
    assert g["n_pairs"] == 3 and g["n_pairs_complete"] == 2
    assert g["agree_true"] == 1.0 and g["agree_false"] == 0.5 and g["false_minus_true"] == -0.5


# ---- input validation --------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error():
    with pytest.raises(ss.StatsError, match="same length"):
        ss.pearson([1, 2, 3], [1, 2])
    with pytest.raises(ss.StatsError, match="alternative"):
        ss.pearson([1, 2, 3, 4], [1, 2, 3, 4], alternative="bigger")
    with pytest.raises(ss.StatsError, match="confidence"):
        ss.spearman([1, 2, 3, 4], [1, 2, 3, 4], ci=95)
    with pytest.raises(ss.StatsError, match="lacks the column"):
        ss.association_tests(pd.DataFrame({"model": ["m"], "x": [1.0]}))
    with pytest.raises(ss.StatsError, match="permutations"):
        ss.permutation_test([1.0, 2.0], [0.0, 1.0], n_perm=0)
    with pytest.raises(ss.StatsError, match="alpha"):
        ss.decision_rule(pl.DataFrame({"model": ["m"], "test": ["pearson_r"], "p": [0.1], "n": [5]}), alpha=5)
    with pytest.raises(ss.StatsError):
        ss.association_tests([1, 2, 3])
    with pytest.raises(ss.StatsError, match="missing"):
        ss.median_split([0.1, np.nan])
