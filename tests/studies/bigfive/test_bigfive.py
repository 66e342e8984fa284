import numpy as np
import polars as pl
import pytest

from analysis.studies.bigfive import collect as bigfive_collect
from analysis.studies.bigfive import stats as bigfive
from analysis.core.administer import administer, expected_at_temperature, select_items, validity_summary
from analysis.core.errors import ParamsError
from analysis.core.instruments import load_instrument

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
    hi = eff.filter((pl.col("persona") == "A_high") & (pl.col("variant") == "rate")).row(0, named=True)
    lo = eff.filter((pl.col("persona") == "A_low") & (pl.col("variant") == "rate")).row(0, named=True)
    assert hi["d"] > 1 and hi["d_ci_low"] > 0 and hi["direction_ok"] and hi["p_holm"] < 0.05
    assert lo["d"] < -1 and lo["d_ci_high"] < 0 and lo["direction_ok"]
    assert hi["n_persona"] == 24 and hi["n_none"] == 24


def test_persona_effects_null():
    eff = bigfive.persona_effects(INST, synthetic_items(0.0, seed=3))
    assert (eff["p_holm"] > 0.05).all()
    assert (eff["d_ci_low"] < 0).all() and (eff["d_ci_high"] > 0).all()


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
    assert o["alpha"] < a["alpha"]


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
