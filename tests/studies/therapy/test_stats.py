"""Analyses on synthetic data with a known effect and with none."""

import math

import numpy as np
import polars as pl
import pytest

from analysis.core.instruments import load_instrument
from analysis.studies.therapy.stats import (
    contrasts,
    cutoff_shares,
    item_distributions,
    mixed_model,
    paired_hedges_g,
    recognition_summary,
    score_items,
    score_summary,
)


def synthetic_scores(n_sessions=40, mode_effect=4.0, stance_effect=0.0, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        u = rng.normal(0, 2)
        for cond in ("item_session:generate", "whole_session:generate"):
            for stance in ("neutral", "warm"):
                y = 8 + u + mode_effect * (cond == "item_session:generate") + stance_effect * (stance == "warm") + rng.normal(0, 1)
                rows.append({"model": "m", "session": s, "stance": stance, "condition": cond, "instrument": "gad7",
                             "scale": "total", "score": y})
    return pl.DataFrame(rows)


def test_paired_g_hand_computed():
    r = paired_hedges_g([1, 2, 3, 4], [0, 1, 1, 2])
    s_av = math.sqrt((np.var([1, 2, 3, 4], ddof=1) + np.var([0, 1, 1, 2], ddof=1)) / 2)
    assert r["g"] == pytest.approx((1 - 3 / 11) * 1.5 / s_av) and r["g"] == pytest.approx(1.0100, abs=1e-3)
    assert r["mean_diff"] == 1.5 and r["n"] == 4 and r["ci_low"] < r["g"] < r["ci_high"]
    assert r["ci_method"].startswith("noncentral t")  # exact at n = 4, no normal approximation


def test_paired_g_degenerate_cases_say_so():
    assert "no effect size" in paired_hedges_g([1.0], [2.0])["note"]
    r = paired_hedges_g([3, 3, 3], [1, 1, 1])
    assert math.isnan(r["g"]) and r["mean_diff"] == 2 and "no variance" in r["note"]
    r = paired_hedges_g([3, 4, 5], [1, 1, 1])
    assert not math.isnan(r["g"]) and "constant" in r["note"]


def test_known_mode_effect_is_found_and_null_stance_effect_is_not():
    sc = synthetic_scores()
    modes = contrasts(sc, "condition", [("item_session:generate", "whole_session:generate")], across="stance")
    assert modes.height == 2
    for row in modes.iter_rows(named=True):
        assert row["mean_diff"] == pytest.approx(4.0, abs=0.5)
        assert row["g"] > 1.0 and row["ci_low"] > 0 and row["p_adj"] < 0.001
    stance = contrasts(sc, "stance", [("warm", "neutral")], across="condition")
    for row in stance.iter_rows(named=True):
        assert row["ci_low"] < 0 < row["ci_high"] and row["p_adj"] > 0.05
    tab, note = mixed_model(sc, "gad7")
    t = tab.set_index("term")
    mode_term = "C(condition, Treatment('item_session:generate'))[T.whole_session:generate]"
    stance_term = "C(stance, Treatment('neutral'))[T.warm]"
    assert t.loc[mode_term, "ci_low"] <= -4.0 + 0.6 and t.loc[mode_term, "ci_high"] < 0
    assert t.loc[mode_term, "coef"] == pytest.approx(-4.0, abs=0.5)
    assert t.loc[stance_term, "ci_low"] < 0 < t.loc[stance_term, "ci_high"]
    assert t.loc["Intercept", "n_sessions"] == 40 and "only" not in note


def test_stance_effect_is_found_when_present():
    sc = synthetic_scores(mode_effect=0.0, stance_effect=3.0, seed=7)
    tab, _ = mixed_model(sc, "gad7")
    t = tab.set_index("term")
    assert t.loc["C(stance, Treatment('neutral'))[T.warm]", "coef"] == pytest.approx(3.0, abs=0.5)
    assert t.loc["C(condition, Treatment('item_session:generate'))[T.whole_session:generate]", "p"] > 0.01


def test_tiny_n_mixed_model_is_not_pretended():
    sc = synthetic_scores(n_sessions=2)
    tab, note = mixed_model(sc, "gad7")
    assert tab.empty and "only 2 session" in note
    tab, note = mixed_model(synthetic_scores(n_sessions=4), "gad7")
    assert "only 4 sessions" in note


def _items(values_by_session, inst_id="gad7", mode="item_session", method="probs", stance="neutral"):
    inst = load_instrument(inst_id)
    rows = []
    for s, vals in enumerate(values_by_session):
        for it, v in zip(inst.items, vals):
            rows.append({"model": "m", "session": s, "seed": s, "stance": stance, "mode": mode, "context": "session",
                         "context_id": f"session {s}", "method": method, "history": "model_reply",
                         "instrument": inst_id, "item_id": it.id, "value": v, "mass": 0.9 if method == "probs" else None,
                         "status": "ok" if v is not None else "unparsed"})
    return pl.DataFrame(rows, schema_overrides={"value": pl.Float64, "mass": pl.Float64})


def _probs_from(items, inst, dists=None):
    """A probs table: each item's option distribution ({value: p}; default all mass on the item's value)."""
    rows = []
    for r in items.iter_rows(named=True):
        d = dists[(r["context_id"], r["item_id"])] if dists else {int(r["value"]): 1.0}
        for v in range(4):
            rows.append({k: r[k] for k in ("model", "session", "seed", "stance", "mode", "context_id", "history",
                                           "instrument", "item_id")}
                        | {"option": str(v), "option_value": v, "prob": d.get(v, 0.0), "mass": 0.9, "valid": True})
    return pl.DataFrame(rows)


def test_scores_bands_and_cutoff_shares():
    gad = load_instrument("gad7")
    items = pl.concat([
        _items([[0] * 7, [1] * 7, [2] * 7, [3, 3, 2, 2, 2, 2, 1]]),               # 0, 7, 14, 15
        _items([[2] * 7, [1, 1, 1, 1, 1, None, 1]], mode="whole_session", method="generate"),  # 14, unscored
    ])
    sc = score_items(items, [gad])
    got = sc.filter(pl.col("condition") == "item_session:probs").sort("session")
    assert got["score"].to_list() == [0, 7, 14, 15] and got["band"].to_list() == ["minimal", "mild", "moderate", "severe"]
    whole = sc.filter(pl.col("condition") == "whole_session:generate").sort("session")
    assert whole["score"].to_list() == [14, None] and whole["n_invalid"].to_list() == [0, 1]
    # option distributions with all the mass on the answer: P(total >= cut-off) is 0 or 1 per session
    probs = _probs_from(items.filter(pl.col("method") == "probs"), gad)
    sh = cutoff_shares(sc, [gad], probs).filter(pl.col("condition") == "item_session:probs")
    shares = {r["cutoff"]: (r["share"], r["n_scored"]) for r in sh.iter_rows(named=True)}
    assert shares == {5: (0.75, 4), 10: (0.5, 4), 15: (0.25, 4)}
    assert cutoff_shares(sc, [gad]).filter(pl.col("condition") == "item_session:probs")["share"].is_nan().all()
    sh2 = cutoff_shares(sc, [gad]).filter(pl.col("condition") == "whole_session:generate")
    assert set(sh2["n_scored"]) == {1} and set(sh2["n_sessions"]) == {2}
    summ = score_summary(sc, [gad]).filter(pl.col("condition") == "item_session:probs").row(0, named=True)
    # an expected total has no band (issue 17 review: "10.5 ... band 'moderate'"); a generated mean keeps it
    assert summ["mean"] == 9 and summ["band_of_mean"] is None and summ["n_scored"] == 4
    assert score_summary(sc, [gad]).filter(pl.col("condition") == "whole_session:generate")["band_of_mean"][0] \
        == "moderate"
    wsumm = score_summary(sc, [gad]).filter(pl.col("condition") == "whole_session:generate").row(0, named=True)
    assert wsumm["items_invalid"] == 1 and wsumm["invalid_rate"] == pytest.approx(1 / 14)


def test_item_distributions_and_recognition_summary():
    probs = pl.DataFrame({"model": ["m"] * 4, "session": [0, 0, 1, 1], "seed": [0, 0, 1, 1], "stance": ["neutral"] * 4,
                          "mode": ["item_session"] * 4, "instrument": ["gds15"] * 4, "item_id": ["gds15_1"] * 4,
                          "option": ["Yes", "No", "Yes", "No"], "option_value": [1, 0, 1, 0], "prob": [0.8, 0.2, 0.6, 0.4]})
    items = _items([[1] * 15, [0] * 15], inst_id="gds15", mode="whole_session", method="generate")
    d = item_distributions(items, probs)
    p = d.filter((pl.col("item_id") == "gds15_1") & (pl.col("condition") == "item_session:probs")).sort("option_value")
    assert p["share"].to_list() == pytest.approx([0.3, 0.7])
    g = d.filter((pl.col("item_id") == "gds15_1") & (pl.col("condition") == "whole_session:generate")).sort("option_value")
    assert g["share"].to_list() == [0.5, 0.5]
    forms = pl.DataFrame({"model": ["m"] * 4, "session": [0, 1, 0, 1], "stance": ["neutral"] * 4,
                          "mode": ["whole_session"] * 4, "instrument": ["gad7", "gad7", "phq9", "phq9"],
                          "recognised": [True, False, False, False], "named_in_reply": [True, False, False, False],
                          "follow_names_correct": [False, False, False, False],
                          "follow_says_yes": [True, None, False, False], "construct_in_reply": [True, True, False, False],
                          "n_unparsed": [0, 7, 0, 1], "n_items": [7, 7, 9, 9],
                          "other_named_in_reply": ["", "", "BDI", ""], "follow_names_other": ["", "", "", "gad7"]})
    r = recognition_summary(forms).filter(pl.col("mode") == "all")
    rates = dict(zip(r["instrument"], r["recognition_rate"]))
    assert rates == {"gad7": 0.5, "phq9": 0.0}
    assert r.filter(pl.col("instrument") == "gad7")["follow_up_unclear"].item() == 1
    assert dict(zip(r["instrument"], r["names_other_rate"])) == {"gad7": 0.0, "phq9": 1.0}


def test_instruments_without_a_total_report_their_domains():
    from analysis.studies.therapy.stats import primary_scales

    ipip = load_instrument("ipip_neo_120")
    gad = load_instrument("gad7")
    ps = primary_scales([gad, ipip])
    assert ps.filter(pl.col("instrument") == "gad7")["scale"].to_list() == ["total"]
    assert sorted(ps.filter(pl.col("instrument") == "ipip_neo_120")["scale"].to_list()) == ["A", "C", "E", "N", "O"]
    items = _items([[3] * 120, [4] * 120], inst_id="ipip_neo_120")
    sc = score_items(items, [ipip])
    summ = score_summary(sc, [ipip])
    assert sorted(summ["scale"].to_list()) == ["A", "C", "E", "N", "O"] and summ["band_of_mean"].null_count() == 5
    assert cutoff_shares(sc, [ipip]).height == 0  # no human cut-offs, no shares


def test_two_sessions_give_no_hedges_g_rather_than_zero():
    from analysis.studies.therapy.stats import paired_hedges_g

    r = paired_hedges_g([3.0, 3.2], [10.5, 10.5])
    assert r["mean_diff"] == pytest.approx(-7.4)
    assert math.isnan(r["g"]) and "at least 3" in r["note"]
    r3 = paired_hedges_g([3.0, 3.2, 2.9], [10.5, 10.4, 10.6])
    assert r3["g"] < -5


def test_score_pct_is_the_position_on_the_scales_own_range():
    ipip = load_instrument("ipip_neo_120")  # mean of 1-5 answers: range 1..5
    sc = score_items(_items([[1] * 120, [3] * 120, [5] * 120], inst_id="ipip_neo_120"), [ipip])
    dom = sc.filter(pl.col("scale") == "N").sort("session")
    # keyed scores: all-1 answers give 1 on forward and 5 on reverse items, so read them back from the score
    assert dom["score_pct"].to_list() == pytest.approx([(s - 1) / 4 for s in dom["score"].to_list()])
    assert dom.filter(pl.col("session") == 1)["score_pct"].item() == pytest.approx(0.5)  # 3 of 1..5 is the middle
    assert set(dom["min_score"]) == {1.0} and set(dom["max_score"]) == {5.0}
    gad = score_items(_items([[1] * 7]), [load_instrument("gad7")])  # sum of 0-3 answers: range 0..21
    assert gad["score_pct"].item() == pytest.approx(7 / 21)


def test_a_fresh_context_repeated_for_every_session_is_one_measurement():
    rows = []
    for s in range(4):
        for stance, v in (("neutral", 3.0), ("warm", 5.0)):
            rows.append({"model": "m", "session": s, "stance": stance, "condition": "item_fresh:probs",
                         "context_id": "fresh", "instrument": "gad7", "scale": "total", "score": v})
            rows.append({"model": "m", "session": s, "stance": stance, "condition": "item_session:generate",
                         "context_id": f"session {s}", "instrument": "gad7", "scale": "total", "score": v + s})
    sc = pl.DataFrame(rows)
    st = contrasts(sc, "stance", [("warm", "neutral")], across="condition")
    fresh = st.filter(pl.col("condition") == "item_fresh:probs").row(0, named=True)
    assert fresh["n"] == 1 and math.isnan(fresh["g"])  # not n = 4 copies of one pair
    assert st.filter(pl.col("condition") == "item_session:generate")["n"].item() == 4
    modes = contrasts(sc, "condition", [("item_session:generate", "item_fresh:probs")], across="stance")
    assert set(modes["n"]) == {4} and all("fresh context" in n for n in modes["note"])


def test_cutoff_share_is_the_probability_of_the_total_from_the_item_distributions_with_contexts_as_units():
    """Issue 17: a fresh context repeated for 3 sessions is one unit (not n = 3), and the share above a cut-off is
    P(total >= cut-off) from the convolution of the item option distributions, checked against a Monte Carlo
    draw; the band of the expected total (10.4 here, 'moderate') would read as 100%."""
    gad = load_instrument("gad7")
    rng = np.random.default_rng(3)
    raw = rng.dirichlet([1.0, 1.5, 1.5, 1.0], size=7)
    dists = {("fresh", it.id): dict(enumerate(raw[k])) for k, it in enumerate(gad.items)}
    expected = [sum(v * p for v, p in dists[("fresh", it.id)].items()) for it in gad.items]
    items = pl.concat([_items([expected] * 3, mode="item_fresh")]).with_columns(
        pl.lit("fresh").alias("context_id"), pl.lit("fresh").alias("context"))
    probs = _probs_from(items, gad, dists)
    sc = score_items(items, [gad])
    sh = cutoff_shares(sc, [gad], probs).filter(pl.col("condition") == "item_fresh:probs")
    assert set(sh["n_units"]) == {1} and set(sh["n_scored"]) == {1} and set(sh["n_sessions"]) == {3}
    draws = np.stack([rng.choice(4, size=400_000, p=raw[k]) for k in range(7)]).sum(axis=0)
    for r in sh.iter_rows(named=True):
        mc = float((draws >= r["cutoff"]).mean())
        assert r["share"] == pytest.approx(mc, abs=0.004), r["cutoff_band"]
        assert 0 < r["share"] < 1


def test_mixed_model_fits_the_condition_by_stance_interaction_when_the_design_has_it():
    """Issue 17: cell means like (0, 0, 0, 4.67) are an interaction; the additive model split it into two
    main effects. With every cell observed the interaction is fitted and recovered; with a cell missing the
    additive model is fitted and the note says why."""
    rng = np.random.default_rng(4)
    rows = []
    for s in range(30):
        u = rng.normal(0, 1)
        for cond in ("item_session:generate", "whole_session:generate"):
            for stance in ("neutral", "warm"):
                y = 5 + u + 4.0 * (cond == "item_session:generate" and stance == "warm") + rng.normal(0, 1)
                rows.append({"model": "m", "session": s, "stance": stance, "condition": cond, "instrument": "gad7",
                             "scale": "total", "score": y})
    sc = pl.DataFrame(rows)
    tab, note = mixed_model(sc, "gad7", ref_condition="whole_session:generate")
    inter = tab[tab["term"].str.contains("]:C(stance", regex=False)]
    assert len(inter) == 1 and "interaction" in note and "*" in tab["formula"].iloc[0]
    assert inter["coef"].iloc[0] == pytest.approx(4.0, abs=0.6) and inter["p"].iloc[0] < 0.001
    main = tab.set_index("term")
    assert abs(main.loc["C(stance, Treatment('neutral'))[T.warm]", "coef"]) < 0.6  # warm does nothing in whole form
    missing = sc.filter(~((pl.col("condition") == "whole_session:generate") & (pl.col("stance") == "warm")))
    tab2, note2 = mixed_model(missing, "gad7")
    assert not tab2["term"].str.contains("]:C(", regex=False).any() and "not every condition x stance cell" in note2


def test_a_table_of_one_contrast_is_not_called_corrected():
    """Issue 17 review: with m = 1 the report printed a "holm-adjusted p" and a "strictest holm step" that
    corrected nothing."""
    from analysis.studies.therapy.params import AnalysisParams
    from analysis.studies.therapy.report import _g

    sc = synthetic_scores(stance_effect=0.0).filter(pl.col("condition") == "item_session:generate")
    one = contrasts(sc, "stance", [("warm", "neutral")], across="condition")
    assert one.height == 1
    row = one.row(0, named=True)
    assert row["p_adj"] is None and row["mde_dz_adj"] is None and row["adjust"] == "no correction: one test"
    text = _g(row, AnalysisParams())
    assert "adjusted p" not in text and "strictest" not in text and "no correction: one test" in text
    two = contrasts(synthetic_scores(), "stance", [("warm", "neutral")], across="condition")
    assert two["adjust"].to_list() == ["holm", "holm"] and two["p_adj"].null_count() == 0
    assert "holm-adjusted p" in _g(two.row(0, named=True), AnalysisParams())
