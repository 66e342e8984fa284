"""Collection of one model on a scripted target: the grid, exact expectations, persona routing, base models,
caching, the SRQ without prorating, and counting failures instead of imputing."""

import polars as pl
import pytest

from analysis.core.instruments import load_instrument
from analysis.studies.illusion import collect as ic
from analysis.studies.illusion.schema import validate

from .conftest import KEYS, params, reply


def test_grid_and_schema(scripted):
    out = ic.collect(scripted(), params(), 0)
    assert set(out) == {"items", "table", "validity", "conditions", "_jobs"}
    t = validate(out["table"])
    assert t.height == 4 * 2 * 2  # 2 baselines + 2 personas, x 2 temperatures x 2 runs
    assert set(t["model_role"]) == {"instruct"}
    base = t.filter(pl.col("condition_type") == "baseline")
    for c in ["sr_O", "sr_C", "sr_E", "sr_A", "sr_N", "sr_SRQ", "bh_cct_cards", "bh_syc_flip_rate", "bh_hon_ece", "bh_iat_bias"]:
        assert base[c].null_count() == 0, c
    pa = t.filter(pl.col("persona_trait") == "agreeableness")
    assert pa["sr_A"].null_count() == 0 and pa["sr_E"].null_count() == pa.height
    assert pa["bh_syc_flip_rate"].null_count() == 0 and pa["bh_cct_cards"].null_count() == pa.height
    ps = t.filter(pl.col("persona_trait") == "self_regulation")
    assert ps["sr_SRQ"].null_count() == 0 and ps["bh_cct_cards"].null_count() == 0 and ps["sr_A"].null_count() == ps.height
    e = out["conditions"].filter(pl.col("condition") == "baseline_empty")
    assert e["system_sent"][0] is None  # no system message was sent
    # every job's calls are counted; no loop over models and no file writing in the study
    assert out["_jobs"]["n_calls"].sum() > 0 and (out["_jobs"]["seconds"] >= 0).all()


def test_expectations_are_exact(scripted):
    out = ic.collect(scripted(), params(), 0)
    t = out["table"]
    b1 = t.filter((pl.col("condition") == "baseline_helpful") & (pl.col("temperature") == 1.0) & (pl.col("run") == 0)).row(0, named=True)
    b0 = t.filter((pl.col("condition") == "baseline_helpful") & (pl.col("temperature") == 0.0)).row(0, named=True)
    # Likert: p(4) = p(2) = .5 -> expectation 3 at T = 1 (reverse keys map 4 <-> 2); a tie at T = 0: greedy
    # decoding takes one of the tied options, so the keyed mean lies in [2, 4]
    assert b1["sr_A"] == pytest.approx(3.0)
    assert 2.0 <= b0["sr_A"] <= 4.0
    # CCT at T = 1: "1" .4 -> "10" .2 and "1" .2; "8" .6
    assert b1["bh_cct_cards"] == pytest.approx(0.2 * 10 + 0.2 * 1 + 0.6 * 8)
    assert b0["bh_cct_cards"] == pytest.approx(8.0)  # greedy: "8"
    # dilemmas: first yes .8; after yes the user says no -> yes .1 (flip .9); after no -> yes .9 (flip .9)
    assert b1["bh_syc_flip_rate"] == pytest.approx(0.8 * 0.9 + 0.2 * 0.9)
    assert b0["bh_syc_flip_rate"] == pytest.approx(1.0)
    # IAT: P(a | stereotype a) = .75, P(a | b) = .25 at T = 1; greedy at T = 0 gives 1
    assert b1["bh_iat_bias"] == pytest.approx(0.5) and b0["bh_iat_bias"] == pytest.approx(1.0)
    items = out["items"].filter((pl.col("task") == "honesty") & (pl.col("condition") == "baseline_helpful")
                                & (pl.col("temperature") == 1.0) & (pl.col("run") == 0))
    assert b1["bh_hon_consistency"] == pytest.approx((items["conf1"] - 6).abs().mean())
    assert (items.filter(pl.col("fabricated"))["value"] == 1.0).all()  # "I don't know" is correct there


def test_persona_moves_what_it_should(scripted):
    t = ic.collect(scripted(), params(), 0)["table"].filter(pl.col("temperature") == 1.0)
    base = t.filter(pl.col("condition") == "baseline_helpful").row(0, named=True)
    pa = t.filter(pl.col("persona_trait") == "agreeableness").row(0, named=True)
    ps = t.filter(pl.col("persona_trait") == "self_regulation").row(0, named=True)
    assert pa["sr_A"] > base["sr_A"] + 1
    assert pa["bh_syc_flip_rate"] == pytest.approx(0.5)
    assert ps["bh_cct_cards"] == pytest.approx(2.0)


def test_rerun_is_served_from_the_store(scripted):
    el = scripted()
    first = ic.collect(el, params(), 0)
    calls = el.target.calls
    again = ic.collect(el, params(), 0)
    assert el.target.calls == calls
    assert again["table"].equals(first["table"])


def test_greedy_runs_share_calls(scripted):
    """At T = 0 runs are identical and cost no extra call, in either mode."""
    for mode in ("option_probs", "generate"):
        el = scripted()
        ic.collect(el, params(mode=mode, temperatures=[0.0], runs=1), 0)
        c1 = el.target.calls
        ic.collect(el, params(mode=mode, temperatures=[0.0], runs=3), 0)
        assert el.target.calls == c1, mode


def test_generate_mode_when_the_target_has_no_logprobs(scripted, capsys):
    out = ic.collect(scripted(logprobs=False), params(temperatures=[0.0], runs=1), 0)
    assert "no log-probabilities" in capsys.readouterr().out
    t = out["table"]
    assert set(t["mode"]) == {"generate"}
    b = t.filter(pl.col("condition") == "baseline_helpful").row(0, named=True)
    # the scripted reply agrees fully with keyed items and disagrees with reversed ones: keyed mean 5
    assert b["sr_A"] == pytest.approx(5.0) and b["sr_SRQ"] == pytest.approx(5.0)
    assert b["bh_cct_cards"] == pytest.approx(7.0)
    assert b["bh_syc_flip_rate"] == pytest.approx(1.0)  # says yes, then no when the user says no
    assert b["bh_iat_bias"] == pytest.approx(1.0)


def test_unparseable_answers_are_counted_not_imputed(scripted):
    el = scripted(logprobs=False, reply_fn=lambda m, o: "I'd rather not say.")
    out = ic.collect(el, params(mode="generate", temperatures=[0.0], runs=1, personas={"strategies": []},
                                max_reasks=1), 0)
    t = out["table"]
    assert t["sr_A"].null_count() == t.height and t["bh_cct_cards"].null_count() == t.height
    assert (t["bh_cct_n_valid"] == 0).all() and (t["bh_cct_n_items"] == 3).all()
    assert (t["sr_A_n_answered"] == 0).all() and (t["sr_A_n_items"] == 2).all()
    assert (out["validity"]["invalid_rate"] == 1.0).all()


def test_srq_is_never_prorated(scripted):
    """7 of 63 SRQ items: the mean per answered item (1-5) with its count, no 63-item total and no band
    (the old code reported 63 x the mean as a total and compared it with the cut-offs)."""
    out = ic.collect(scripted(logprobs=False), params(temperatures=[0.0], runs=1, personas={"strategies": []}), 0)
    b = out["table"].row(0, named=True)
    assert b["sr_SRQ"] == pytest.approx(5.0) and b["sr_SRQ_n_items"] == 7 and b["sr_SRQ_n_answered"] == 7
    assert b["sr_SRQ_total"] is None and b["sr_SRQ_band"] is None


def test_srq_total_and_band_when_all_63_items_were_answered(scripted):
    out = ic.collect(scripted(logprobs=False), params(temperatures=[0.0], runs=1, personas={"strategies": []},
                                                      self_report={"srq_items": None, "big5_items_per_scale": 1}), 0)
    b = out["table"].row(0, named=True)
    assert b["sr_SRQ_n_items"] == 63 and b["sr_SRQ_total"] == pytest.approx(315.0) and b["sr_SRQ_band"] == "high"
    # the keyed mean checked against the instrument's own scoring
    srq = load_instrument("srq_63")
    assert sum(1 for i in srq.items if i.key == -1) == 26


def test_base_models_answer_the_baseline_self_reports_only(scripted):
    el = scripted()
    out = ic.collect(el, params(base_models=[el.target.spec]), 0)
    t = out["table"]
    assert set(t["model_role"]) == {"base"} and set(t["condition_type"]) == {"baseline"}
    assert set(out["items"]["task"]) == {"self_report"}
    assert not [c for c in t.columns if c.startswith("bh_")]


def test_sample_items_spreads_over_facets():
    inst = load_instrument("ipip_neo_120")
    items = ic.sample_items(inst, 6, seed=0)
    assert len(items) == 30
    for dom in "OCEAN":
        assert len({i.scale for i in items if i.scale.startswith(dom)}) == 6
    srq = ic.sample_items(load_instrument("srq_63"), 7, seed=0)
    assert len({i.scale for i in srq}) == 7


def test_prompts_read_as_a_person_would():
    """Every self-report prompt ends with the item, states the response scale, and the scripted table
    knows every stem (no garbled item)."""
    st = ic.stimuli(params(self_report={"big5_items_per_scale": None, "srq_items": None}), 0)
    for key, items in st.items.items():
        inst = st.instruments[key]
        for it in items:
            text = ic.item_prompt(inst, it)
            assert text.endswith(f"Statement: {inst.stem(it)}") and "single number from 1 to 5" in text
            assert inst.stem(it) in KEYS
    assert reply([{"role": "user", "content": "card game"}], None)
