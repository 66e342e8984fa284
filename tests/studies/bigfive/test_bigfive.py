import numpy as np
import polars as pl
import pytest

from analysis.core.administer import administer, expected_at_temperature, select_items, validity_summary
from analysis.core.errors import ParamsError
from analysis.core.instruments import load_instrument
from analysis.studies.bigfive import collect as bigfive_collect
from analysis.studies.bigfive import stats as bigfive

INST = load_instrument("ipip_neo_120")


def synthetic_items(shift: float, seed: int = 0) -> pl.DataFrame:
    """Item responses where A_high raises and A_low lowers keyed agreeableness by `shift`."""
    rng = np.random.default_rng(seed)
    rows = []
    for persona, delta in [("none", 0.0), ("A_high", shift), ("A_low", -shift)]:
        for variant in ["rate", "agree"]:
            for it in INST.items:
                keyed = float(np.clip(3 + (delta if it.scale.startswith("A") else 0) + rng.normal(0, 0.5), 1, 5))
                value = keyed if it.key == 1 else 6 - keyed
                rows.append({"model": "m", "persona": persona, "target_domain": None if persona == "none" else "A",
                             "pole": None if persona == "none" else persona.split("_")[1], "variant": variant,
                             "sample": 0, "item_id": it.id, "value": value, "status": "ok", "mass": 1.0, "attempts": 1})
    return pl.DataFrame(rows, infer_schema_length=None)


def test_persona_effects_detect_a_known_shift():
    eff = bigfive.persona_effects(INST, synthetic_items(1.0))
    hi = eff.filter(pl.col("persona") == "A_high").row(0, named=True)
    lo = eff.filter(pl.col("persona") == "A_low").row(0, named=True)
    assert hi["g"] > 1 and hi["g_ci_low"] > 0 and hi["direction_ok"] and hi["p_holm"] < 0.05
    assert lo["g"] < -1 and lo["g_ci_high"] < 0 and lo["direction_ok"]
    # the unit is the item (24 Agreeableness items, each answered in both conditions), the two prompt
    # variants are replicates averaged within an item, not extra units
    assert hi["n_items"] == 24 and hi["n_replicates"] == 2
    assert hi["shift_ci_low"] < hi["shift"] < hi["shift_ci_high"]


def test_persona_effects_null():
    eff = bigfive.persona_effects(INST, synthetic_items(0.0, seed=3))
    assert (eff["p_holm"] > 0.05).all()
    assert (eff["g_ci_low"] < 0).all() and (eff["g_ci_high"] > 0).all()


def test_persona_effects_are_paired_by_item_and_match_scipy():
    """Items differ a lot in level; the persona moves every item by +0.3. Treating the two conditions'
    items as independent samples (the old Welch test) hides that; the paired analysis finds it, and its
    t and p are scipy's paired t-test on the item means."""
    from scipy import stats as sps

    rng = np.random.default_rng(7)
    levels = {it.id: rng.uniform(1.5, 4.5) for it in INST.items}
    rows = []
    for persona, delta in [("none", 0.0), ("A_high", 0.3)]:
        for it in INST.items:
            keyed = levels[it.id] + (delta if it.scale.startswith("A") else 0) + rng.normal(0, 0.05)
            rows.append({"model": "m", "persona": persona, "target_domain": None if persona == "none" else "A",
                         "pole": None if persona == "none" else "high", "variant": "rate", "sample": 0,
                         "item_id": it.id, "value": keyed if it.key == 1 else 6 - keyed, "status": "ok",
                         "mass": 1.0, "attempts": 1})
    items = pl.DataFrame(rows, infer_schema_length=None)
    r = bigfive.persona_effects(INST, items).row(0, named=True)
    k = bigfive.keyed_items(INST, items).filter(pl.col("domain") == "A").sort("item_id")
    x = k.filter(pl.col("persona") == "A_high")["keyed"].to_numpy()
    y = k.filter(pl.col("persona") == "none")["keyed"].to_numpy()
    ref = sps.ttest_rel(x, y)
    assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    assert r["p"] < 1e-6 and r["n_items"] == 24
    assert sps.ttest_ind(x, y, equal_var=False).pvalue > 0.05  # what unpaired units would have said


def test_scores_and_summary_reflect_shift():
    items = synthetic_items(1.0)
    s = bigfive.summarise(bigfive.domain_scores(INST, items))
    a = {r["persona"]: r["mean_score"] for r in s.filter(pl.col("domain") == "A").iter_rows(named=True)}
    assert a["A_high"] > a["none"] + 0.7 > a["A_low"] + 1.4
    assert (s["n_participants"] == 2).all()


def test_reliability_high_when_items_share_a_persona_signal():
    rel = bigfive.reliability(INST, synthetic_items(1.5))
    a = rel.filter(pl.col("domain") == "A").row(0, named=True)
    o = rel.filter(pl.col("domain") == "O").row(0, named=True)
    assert a["alpha"] > 0.9 and a["n_participants"] == 6 and a["k_items"] == 24
    assert o["alpha"] is None or o["alpha"] < a["alpha"]  # noise only: near 0, or negative (then not reported)


def test_unknown_persona_or_variant():
    with pytest.raises(ParamsError, match="known personas"):
        bigfive_collect.participants(["nobody"], ["rate"])
    with pytest.raises(ParamsError, match="known variants"):
        bigfive_collect.participants(["none"], ["shout"])


def test_select_items_per_facet():
    items = select_items(INST, per_scale=1)
    assert len(items) == 30 and len({i.scale for i in items}) == 30


def test_administer_logprob_and_generate_with_scripted_model(make_elicitor):
    el = make_elicitor(reply=lambda m, o: "Probably 4." if "I trust others" in m[-1]["content"] else "no idea",
                       next_token=lambda m: {"4": 0.5, "5": 0.25, "Hmm": 0.25})
    items = select_items(INST, per_scale=1, scales=["A"])
    parts = bigfive_collect.participants(["none"], ["rate"])
    lp = administer(el, INST, items, parts, mode="logprob")
    assert lp.height == 6 and lp["value"].to_list() == pytest.approx([4 + 1 / 3] * 6)
    assert lp["mass"].to_list() == pytest.approx([0.75] * 6)
    t0 = expected_at_temperature(lp, 0.0, [1, 2, 3, 4, 5])
    assert t0.to_list() == pytest.approx([4.0] * 6)
    gen = administer(el, INST, items, parts, mode="generate", max_reasks=1)
    ok = gen.filter(pl.col("status") == "ok")
    assert ok.height == 1 and ok["value"][0] == 4.0
    v = validity_summary(gen, ["persona"]).row(0, named=True)
    assert v["invalid_rate"] == pytest.approx(5 / 6)
    assert gen.filter(pl.col("status") != "ok")["value"].is_null().all()  # never imputed


def test_scores_from_an_item_subsample_are_not_dropped():
    # one item per facet: 6 of 24 items per domain; the domain must still be scored from those 6
    keep = {i.id for i in select_items(INST, per_scale=1)}
    items = synthetic_items(1.0).filter(pl.col("item_id").is_in(keep))
    scores = bigfive.domain_scores(INST, items)
    a = scores.filter((pl.col("scale") == "A") & (pl.col("persona") == "A_high"))
    assert a["score"].is_not_null().all() and (a["n_items"] == 6).all() and (a["n_answered"] == 6).all()
    s = bigfive.summarise(scores)
    assert s["mean_score"].is_not_null().all()


def test_reliability_pooled_across_models_with_model_in_the_participant():
    a = synthetic_items(1.0, seed=1)
    b = synthetic_items(1.0, seed=2).with_columns(pl.lit("m2").alias("model"))
    rel = bigfive.reliability(INST, pl.concat([a, b]))
    per_model = rel.filter((pl.col("model") == "m") & (pl.col("domain") == "A")).row(0, named=True)
    pooled = rel.filter((pl.col("model") == "all models") & (pl.col("domain") == "A")).row(0, named=True)
    assert per_model["n_participants"] == 6  # 3 personas x 2 variants
    assert pooled["n_participants"] == 12  # the same persona in two models is two participants


def test_negative_alpha_is_flagged_not_left_blank():
    # two items that move in opposite directions across participants
    rows = []
    for i, v in enumerate([1, 2, 3, 4, 5, 1, 2, 3]):
        for it, val in (("ipip120_004", v), ("ipip120_034", 6 - v), ("ipip120_064", v)):
            rows.append({"model": "m", "persona": f"p{i}", "variant": "rate", "sample": 0, "item_id": it,
                         "value": float(val)})
    rel = bigfive.reliability(INST, pl.DataFrame(rows))
    a = rel.filter(pl.col("domain") == "A").row(0, named=True)
    assert a["alpha"] is None and "not a reliability" in a["note"] and a["diagnosis"] is not None


def test_long_tables_follow_the_shared_schema(tmp_path, monkeypatch):
    import analysis.core.measures as cm

    monkeypatch.setattr(cm, "processed_dir", lambda s: tmp_path / s)
    items = synthetic_items(1.0)
    summ = bigfive.summarise(bigfive.domain_scores(INST, items))
    eff = bigfive.persona_effects(INST, items)
    paths = cm.write("bigfive", *bigfive.long_tables(summ, eff))
    m, s = pl.read_parquet(paths["measures"]), pl.read_parquet(paths["shifts"])
    assert m.columns == list(cm.MEASURES) and s.columns == list(cm.SHIFTS)
    assert set(m["kind"]) == {"self_report"} and m.height == summ.height
    hi = s.filter(pl.col("manipulation") == "A_high persona").row(0, named=True)
    assert hi["measure"] == "sr_A" and hi["estimate"] > 1 and hi["n_a"] == 24


def test_a_domain_with_one_invalid_item_is_not_scored_and_is_counted():
    items = synthetic_items(1.0)
    a_item = next(it.id for it in INST.items if it.scale.startswith("A"))
    mask = (pl.col("persona") == "A_high") & (pl.col("variant") == "rate") & (pl.col("item_id") == a_item)
    items = items.with_columns(pl.when(mask).then(None).otherwise(pl.col("value")).alias("value"))
    s = bigfive.domain_scores(INST, items)
    row = s.filter((pl.col("persona") == "A_high") & (pl.col("variant") == "rate") & (pl.col("scale") == "A"))
    assert row["score"][0] is None and row["n_answered"][0] == row["n_items"][0] - 1  # not the mean of the rest
    summ = bigfive.summarise(s).filter((pl.col("persona") == "A_high") & (pl.col("domain") == "A"))
    assert summ["n_participants"][0] == 1 and summ["n_not_scored"][0] == 1


REF_ITEMS = __import__("pathlib").Path(__file__).resolve().parents[3] / "data" / "raw" / "bigfive" / "items.parquet"


@pytest.mark.skipif(not REF_ITEMS.exists(), reason="the reference run's data/raw/bigfive/items.parquet is absent")
def test_reference_run_g_intervals_agree_with_their_paired_tests():
    """Issue 17: in the reference run C_high had g CI [0.02, 0.29] (excluding 0) beside paired p = 0.14.
    Every persona effect's g interval and shift interval now exclude 0 exactly when p < 0.05."""
    eff = bigfive.persona_effects(INST, pl.read_parquet(REF_ITEMS))
    assert eff.height >= 10
    for r in eff.iter_rows(named=True):
        sig = r["p"] < 0.05
        assert (r["g_ci_low"] > 0 or r["g_ci_high"] < 0) == sig, r["persona"]
        assert (r["shift_ci_low"] > 0 or r["shift_ci_high"] < 0) == sig, r["persona"]
    c = eff.filter(pl.col("persona") == "C_high").row(0, named=True)
    assert c["p"] > 0.05 and c["g_ci_low"] < 0 < c["g_ci_high"]


@pytest.mark.skipif(not REF_ITEMS.exists(), reason="the reference run's data/raw/bigfive/items.parquet is absent")
def test_reference_run_negative_agreeableness_alpha_is_diagnosed_not_printed():
    """Issue 17: agreeableness alpha -3.90 ('n = 11-11') was printed as a reliability. From the data: after keying,
    the reverse-keyed A items correlate negatively with the forward-keyed ones (the answers follow the wording),
    and no item is without variance, so the diagnosis is reverse keying; no alpha is put in the table or summary."""
    items = pl.read_parquet(REF_ITEMS)
    rel = bigfive.reliability(INST, items)
    a = rel.filter(pl.col("domain") == "A").row(0, named=True)
    assert a["alpha"] is None and a["omega"] is None and a["alpha_ci_low"] is None
    assert a["diagnosis"] == "reverse_keying" and "opposite keys correlate negatively" in a["note"]
    text = bigfive.summary(bigfive.persona_effects(INST, items), rel, items)
    assert "-3.90" not in text and "11-11" not in text and "reverse keying" in text
    assert rel.filter(pl.col("domain") != "A")["alpha"].min() > 0


def test_diagnosis_tells_reverse_keying_from_near_zero_variance():
    import pandas as pd

    rng = np.random.default_rng(0)
    trait = rng.normal(0, 1, 40)
    # keyed data whose reverse-keyed items run against the forward ones: the answers follow the wording
    keyed = pd.DataFrame({"f1": trait + rng.normal(0, .2, 40), "f2": trait + rng.normal(0, .2, 40),
                          "r1": -trait + rng.normal(0, .2, 40), "r2": -trait + rng.normal(0, .2, 40)})
    keys = {"f1": 1, "f2": 1, "r1": -1, "r2": -1}
    assert bigfive.diagnose_scale(keyed, keys)["diagnosis"] == "reverse_keying"
    # items that hardly vary, with noise that happens to covary negatively, and no keying pattern
    flat = pd.DataFrame({"a": 3 + rng.normal(0, 1e-4, 40), "b": 3 + rng.normal(0, 1e-4, 40), "c": rng.normal(0, 1, 40)})
    assert bigfive.diagnose_scale(flat, {"a": 1, "b": 1, "c": 1})["diagnosis"] == "near_zero_variance"
    from analysis.core.stats.reliability import cronbach_alpha
    assert cronbach_alpha(keyed)["alpha"] < 0  # the case the diagnosis is for


def test_persona_effects_report_the_detectable_effect_beside_the_estimate():
    from analysis.core.stats.power import mde_paired_d

    eff = bigfive.persona_effects(INST, synthetic_items(0.0, seed=3))
    for r in eff.iter_rows(named=True):
        assert r["mde_dz"] == pytest.approx(mde_paired_d(r["n_items"], 0.05))
        assert r["mde_dz_holm"] == pytest.approx(mde_paired_d(r["n_items"], 0.05 / eff.height))
        assert r["mde_shift"] > 0 and r["sided"] == "two-sided"
    text = bigfive.summary(eff, bigfive.reliability(INST, synthetic_items(0.0, seed=3)), synthetic_items(0.0, seed=3))
    assert f"d_z >= {eff['mde_dz'][0]:.2f}" in text


def test_a_model_without_logprobs_answers_by_generation_in_logprob_mode(make_elicitor, capsys):
    """Issue 21: a model that returns no log-probabilities is asked by generation (parsed, re-asked, never imputed)
    instead of being refused; every row records mode 'generate', and the run says so."""
    el = make_elicitor(reply=lambda m, o: "4")  # no next-token table: no log-probabilities
    p = bigfive_collect.CollectParams.model_validate({"personas": ["none"], "items_per_facet": 1, "mode": "logprob"})
    items = bigfive_collect.collect(el, p, 0)["items"]
    assert items.height == 30 and set(items["mode"]) == {"generate"} and (items["value"] == 4.0).all()
    assert items["p_1"].is_null().all() and el.target.calls == 30
    assert "gives no log-probabilities; its items are answered by generation" in capsys.readouterr().out
