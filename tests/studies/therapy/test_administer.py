"""Giving the scales in the three modes, on a scripted target (no model)."""

import math

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models import GenOptions
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore
from analysis.studies.therapy.administer import ScaleDesign, administer, expected_calls
from analysis.studies.therapy.recognition import FOLLOW_UP
from analysis.studies.therapy.scales import load_scales
from analysis.studies.therapy.script import StimulusError, load_script, load_stances, run_sessions

WARM_MARK = "safe space"  # appears in the warm stance text


def reply(messages, options):
    last = messages[-1]["content"]
    if "Answer every item" in last:
        n = sum(1 for line in last.splitlines() if line[:1].isdigit() and ". " in line)
        ans = "Yes" if "Answer Yes or No" in last or "Yes or No" in last else "2"
        return "\n".join(f"{k}. {ans}" for k in range(1, n + 1))
    if last == FOLLOW_UP:
        return "Yes, it is the GAD-7."
    return "I have been thinking about my training a lot."


def next_token(messages):
    last_user = [m for m in messages if m["role"] == "user"][-1]["content"]
    warm = any(WARM_MARK in m["content"] for m in messages if m["role"] == "user")
    if "Yes or No" in last_user:
        return {"Yes": 0.6, "No": 0.3, "I": 0.1}
    if warm:
        return {"3": 0.5, "2": 0.3, "1": 0.1, "As": 0.1}
    return {"0": 0.8, "1": 0.1, "As": 0.1}


@pytest.fixture()
def setup(tmp_path):
    store = ResponseStore(tmp_path / "store.sqlite")
    target = ScriptedTarget(reply, next_token)
    el = Elicitor(target, store, progress=False)
    turns = run_sessions(el, load_script(), n_sessions=2, seed=0, options=GenOptions(temperature=0.7, max_tokens=30))
    return store, el, turns


def test_three_modes_two_stances(setup):
    store, el, turns = setup
    insts = load_scales(["gad7", "gds15"])
    design = ScaleDesign(stances=["neutral", "warm"], modes=["item_session", "item_fresh", "whole_session"])
    out = administer(el, turns, insts, load_stances(), design, progress=False)
    items, probs, forms = out["items"], out["probs"], out["forms"]
    n_items = 7 + 15
    assert items.height == 2 * 2 * 3 * n_items
    # expected item scores are exact: neutral digits -> 0.1/0.9; warm -> (3*.5+2*.3+1*.1)/.9
    neutral = items.filter((pl.col("stance") == "neutral") & (pl.col("instrument") == "gad7") & (pl.col("method") == "probs"))
    assert neutral["value"].to_list() == pytest.approx([0.1 / 0.9] * neutral.height)
    assert neutral["mass"].to_list() == pytest.approx([0.9] * neutral.height)
    warm = items.filter((pl.col("stance") == "warm") & (pl.col("instrument") == "gad7") & (pl.col("method") == "probs"))
    assert warm["value"].to_list() == pytest.approx([2.2 / 0.9] * warm.height)
    assert set(warm["argmax"].to_list()) == {"3"}
    gds = items.filter((pl.col("instrument") == "gds15") & (pl.col("method") == "probs"))
    assert gds["value"].to_list() == pytest.approx([0.6 / 0.9] * gds.height)
    # whole form: parsed from generation, all items answered, recognition detected for GAD-7 only
    whole = items.filter(pl.col("mode") == "whole_session")
    assert whole["status"].to_list() == ["ok"] * whole.height
    assert set(whole.filter(pl.col("instrument") == "gad7")["value"].to_list()) == {2.0}
    assert forms.height == 2 * 2 * 2 and forms["n_unparsed"].sum() == 0
    assert forms.filter(pl.col("instrument") == "gad7")["recognised"].all()
    assert not forms.filter(pl.col("instrument") == "gds15")["recognised"].any()
    # option probabilities in long form sum to one per item
    sums = probs.group_by("session", "stance", "mode", "item_id").agg(pl.col("prob").sum())
    assert all(math.isclose(s, 1.0) for s in sums["prob"])


def test_in_session_items_are_chained_and_fresh_items_are_not(setup, tmp_path):
    store, el, turns = setup
    seen = []

    def spy(messages):
        seen.append(messages)
        return next_token(messages)

    el2 = Elicitor(ScriptedTarget(reply, spy), store, progress=False)
    insts = load_scales(["gad7"])
    administer(el2, turns, insts, load_stances(), ScaleDesign(stances=["warm"], modes=["item_session"]),
               progress=False)
    last_item_call = seen[-1]
    # history (2 x 9 turns) + 6 answered items (question + chosen answer) + the 7th question
    assert len(last_item_call) == 18 + 12 + 1
    assert [m["content"] for m in last_item_call[19:31:2]] == ["3"] * 6
    seen.clear()
    administer(el2, turns, insts, load_stances(), ScaleDesign(stances=["warm"], modes=["item_fresh"]),
               progress=False)
    assert all(len(m) == 1 and WARM_MARK in m[0]["content"] for m in seen)
    assert len(seen) == 7  # one fresh context per item, identical across sessions, so asked once


def test_rerun_is_served_from_the_store(setup):
    store, el, turns = setup
    insts = load_scales(["gad7", "phq9"])
    design = ScaleDesign(stances=["neutral"], modes=["item_session", "whole_session"], item_methods=["probs", "generate"])
    first = administer(el, turns, insts, load_stances(), design, progress=False)
    t = ScriptedTarget(reply, next_token)
    again = administer(Elicitor(t, store, progress=False), turns, insts, load_stances(), design, progress=False)
    assert t.calls == 0
    assert first["items"]["value"].to_list() == again["items"]["value"].to_list()
    gen = first["items"].filter((pl.col("method") == "generate") & (pl.col("mode") == "item_session"))
    assert gen["status"].to_list() == ["unparsed"] * gen.height  # the scripted reply never answers: not imputed
    assert gen["value"].null_count() == gen.height and set(gen["attempts"].to_list()) == {3}


def test_design_validation_and_call_budget(setup):
    _, el, turns = setup
    with pytest.raises(StimulusError):
        ScaleDesign(modes=["item_everywhere"])
    no_lp = Elicitor(ScriptedTarget(reply), el.store, progress=False)
    with pytest.raises(StimulusError, match="log-probabilities"):
        administer(no_lp, turns, load_scales(["gad7"]), load_stances(), ScaleDesign(), progress=False)
    calls = expected_calls(2, 31, 3, ScaleDesign())
    assert calls == {"item_session": 2 * 2 * 31, "item_fresh": 2 * 31, "whole_session": 2 * 2 * 3 * 2}
