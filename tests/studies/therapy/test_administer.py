"""Giving the scales in the administration modes, on a scripted client (no model)."""

import math

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models import GenOptions
from analysis.core.models.scripted import ScriptedTarget
from analysis.studies.therapy.administer import administer
from analysis.studies.therapy.params import ScaleParams
from analysis.studies.therapy.scales import load_scales
from analysis.studies.therapy.script import StimulusError, load_script, load_stances, run_sessions

from .conftest import WARM_MARK, client_probs, client_reply


@pytest.fixture()
def setup(client):
    el = client()
    turns = run_sessions(el, load_script(), n_sessions=2, seed=0, options=GenOptions(temperature=0.7, max_tokens=30))
    return el, turns


def test_three_modes_two_stances(setup):
    el, turns = setup
    insts = load_scales(["gad7", "gds15"])
    sp = ScaleParams(stances=["neutral", "warm"], modes=["item_session", "item_fresh", "whole_session"],
                     session_history="most_likely_option")
    out = administer(el, turns, insts, load_stances(), sp)
    items, probs, forms = out["items"], out["probs"], out["forms"]
    n_items = 7 + 15
    assert items.height == 2 * 2 * 3 * n_items
    # expected item scores are exact: neutral digits -> 0.1/0.9; warm -> (3*.5+2*.3+1*.1)/.9
    gad = items.filter((pl.col("instrument") == "gad7") & (pl.col("method") == "probs"))
    neutral, warm = gad.filter(pl.col("stance") == "neutral"), gad.filter(pl.col("stance") == "warm")
    assert neutral["value"].to_list() == pytest.approx([0.1 / 0.9] * neutral.height)
    assert neutral["mass"].to_list() == pytest.approx([0.9] * neutral.height)
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
    # a fresh context is one conversation, repeated for every session and named so
    fresh = items.filter(pl.col("mode") == "item_fresh")
    assert set(fresh["context"]) == {"fresh"} and fresh["context_id"].n_unique() == 1


def test_low_option_mass_is_not_a_valid_answer(store):
    def thin(messages):  # the options carry 0.3 of the probability: most of it went to other text
        return {"As": 0.7, "0": 0.2, "1": 0.1}

    el = Elicitor(ScriptedTarget(client_reply, thin), store, progress=False)
    turns = run_sessions(el, load_script(), n_sessions=1, seed=0, options=GenOptions(max_tokens=30))
    out = administer(el, turns, load_scales(["gad7"]), load_stances(),
                     ScaleParams(stances=["neutral"], modes=["item_fresh"]))
    it = out["items"]
    assert set(it["status"]) == {"low_option_mass"} and it["value"].null_count() == it.height
    assert it["mass"].to_list() == pytest.approx([0.3] * it.height)
    # the probabilities stay in the table, marked invalid
    assert not out["probs"]["valid"].any() and out["probs"]["prob"].null_count() == 0


def test_most_likely_option_history_chains_the_argmax_and_fresh_items_are_not_chained(setup, store):
    el, turns = setup
    seen = []

    def spy(messages):
        seen.append(messages)
        return client_probs(messages)

    el2 = Elicitor(ScriptedTarget(client_reply, spy), store, progress=False)
    insts = load_scales(["gad7"])
    administer(el2, turns, insts, load_stances(),
               ScaleParams(stances=["warm"], modes=["item_session"], session_history="most_likely_option"))
    last_item_call = seen[-1]
    # history (2 x 9 turns) + 6 answered items (question + chosen answer) + the 7th question
    assert len(last_item_call) == 18 + 12 + 1
    assert [m["content"] for m in last_item_call[19:31:2]] == ["3"] * 6
    seen.clear()
    administer(el2, turns, insts, load_stances(), ScaleParams(stances=["warm"], modes=["item_fresh"]))
    assert all(len(m) == 1 and WARM_MARK in m[0]["content"] for m in seen)
    assert len(seen) == 7  # one fresh context per item, identical across sessions, so asked once


def test_rerun_is_served_from_the_store(setup, store):
    el, turns = setup
    insts = load_scales(["gad7", "phq9"])
    sp = ScaleParams(stances=["neutral"], modes=["item_fresh", "whole_session"], item_methods=["probs", "generate"])
    first = administer(el, turns, insts, load_stances(), sp)
    t = ScriptedTarget(client_reply, client_probs)
    again = administer(Elicitor(t, store, progress=False), turns, insts, load_stances(), sp)
    assert t.calls == 0
    assert first["items"]["value"].to_list() == again["items"]["value"].to_list()


def test_unparsed_generation_is_reasked_then_left_missing(setup, store):
    el, turns = setup
    mute = Elicitor(ScriptedTarget(lambda m, o: "Hmm.", client_probs), store, progress=False)
    out = administer(mute, turns, load_scales(["gad7"]), load_stances(),
                     ScaleParams(stances=["neutral"], modes=["item_fresh"], item_methods=["generate"], max_reasks=2))
    gen = out["items"]
    assert gen["status"].to_list() == ["unparsed"] * gen.height  # never imputed
    assert gen["value"].null_count() == gen.height and set(gen["attempts"].to_list()) == {3}


def test_bad_settings_are_one_sentence(setup):
    _, turns = setup
    no_lp = Elicitor(ScriptedTarget(client_reply), setup[0].store, progress=False)
    with pytest.raises(StimulusError, match="log-probabilities"):
        administer(no_lp, turns, load_scales(["gad7"]), load_stances(), ScaleParams())
    with pytest.raises(StimulusError, match="Unknown stance 'friendly'"):
        administer(setup[0], turns, load_scales(["gad7"]), load_stances(), ScaleParams(stances=["friendly"]))


def _recording(store, **kw):
    """A scripted client that remembers every text it generated."""
    said = set()

    def reply(messages, options):
        text = client_reply(messages, options)
        said.add(text)
        return text

    target = ScriptedTarget(reply, client_probs, **kw)
    return Elicitor(target, store, progress=False), target, said


def test_no_history_holds_a_turn_the_model_did_not_say(store):
    """By default every assistant turn the model is shown (sessions, items in the session, re-asks,
    whole forms, follow-ups, the judge) is text the model generated; only a log-probability call may
    end with an assistant prefill (the start of an option being scored)."""
    from analysis.core.params import validate_section
    from analysis.studies.therapy import STUDY
    from analysis.studies.therapy.params import CollectParams

    el, target, said = _recording(store)
    p = validate_section(CollectParams, {"sessions": {"n_sessions": 2, "blocks": ["early_years"]},
                                         "scales": {"instruments": ["gad7", "gds15"],
                                                    "item_methods": ["probs", "generate"],
                                                    "modes": ["item_session", "item_fresh", "whole_session",
                                                              "whole_fresh"]}}, "therapy.collect")
    out = STUDY.collect(el, p, 0)
    assert p.scales.session_history == "model_reply"
    checked = 0
    for messages in target.log:
        history = messages[:-1] if messages[-1]["role"] == "assistant" else messages  # a prefill is not history
        for m in history:
            if m["role"] == "assistant":
                assert m["content"] in said, m["content"]
                checked += 1
    assert checked > 100
    # the in-session answers are the model's replies, parsed ("As a language model, I would say 1." -> 1),
    # with the option probabilities at the same point as a second measure
    ins = out["items"].filter(pl.col("mode") == "item_session")
    gen, probs = ins.filter(pl.col("method") == "generate"), ins.filter(pl.col("method") == "probs")
    assert gen.height == probs.height == 2 * 2 * (7 + 15)
    assert set(gen.filter(pl.col("instrument") == "gad7")["value"]) == {1.0}
    assert set(gen["history"]) == {"model_reply"} and set(gen.filter(pl.col("instrument") == "gds15")["value"]) == {0.0}


def test_the_synthetic_history_is_explicit_and_labelled(store):
    el, target, said = _recording(store)
    turns = run_sessions(el, load_script(), n_sessions=1, seed=0, options=GenOptions(temperature=0.7, max_tokens=30))
    out = administer(el, turns, load_scales(["gad7"]), load_stances(),
                     ScaleParams(stances=["neutral"], modes=["item_session"], session_history="most_likely_option"))
    last = target.log[-1]
    unsaid = [m["content"] for m in last[:-1] if m["role"] == "assistant" and m["content"] not in said]
    assert unsaid == ["0"] * 6  # the most probable option, written as the client's turn, for items 1-6
    assert set(out["items"]["history"]) == {"most_likely_option"}
    from analysis.studies.therapy.stats import with_condition

    assert set(with_condition(out["items"])["condition"]) == {"item_session:probs:synthetic"}


def test_reasks_in_the_session_are_therapist_reminders_and_the_replies_stay(store):
    replies = iter(["Hmm, hard to say.", "2"] + ["1"] * 50)
    el = Elicitor(ScriptedTarget(lambda m, o: next(replies) if "number" in m[-1]["content"] or "Please" in
                                 m[-1]["content"] else "I am fine.", client_probs), store, progress=False)
    turns = run_sessions(el, load_script(), n_sessions=1, seed=0, options=GenOptions(temperature=0.7, max_tokens=30),
                         blocks=["work"], closing_turns=0)
    out = administer(el, turns, load_scales(["gad7"]), load_stances(),
                     ScaleParams(stances=["neutral"], modes=["item_session"], item_methods=["generate"]))
    first = out["items"].row(0, named=True)
    assert first["value"] == 2.0 and first["attempts"] == 2
    second_call = el.target.log[-6]  # item 2 (of 7): after item 1's reply, the reminder, the re-asked reply
    tail = [(m["role"], m["content"]) for m in second_call[-5:]]
    assert tail[0][0] == "user" and tail[1] == ("assistant", "Hmm, hard to say.")
    assert tail[2] == ("user", "Please reply with just one number from 0 to 3.") and tail[3] == ("assistant", "2")
