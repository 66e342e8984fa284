import math

import pytest

from analysis.core.errors import LogprobsUnsupported
from analysis.core.parsers import parse_likert

MSG = [{"role": "user", "content": "Rate 1-5."}]


def test_ask_closed_reasks_with_reminder_then_succeeds(make_elicitor):
    def reply(m, o):
        return "I'd say four-ish" if len(m) == 1 else "4"

    el = make_elicitor(reply=reply)
    a = el.ask_closed(MSG, lambda t: parse_likert(t, 1, 5), reminder="Just the number.")
    assert (a.value, a.status, a.attempts) == (4, "ok", 2)
    assert len(a.call_ids) == 2


def test_ask_closed_never_imputes_and_counts_refusals(make_elicitor):
    el = make_elicitor(reply=lambda m, o: "As an AI, I don't have personal feelings.")
    a = el.ask_closed(MSG, lambda t: parse_likert(t, 1, 5), reminder="Number only.", max_reasks=2)
    assert a.value is None and a.status == "refused" and a.attempts == 3
    el2 = make_elicitor(reply=lambda m, o: "Hmm, hard to say.", digest="other-model")
    b = el2.ask_closed(MSG, lambda t: parse_likert(t, 1, 5), reminder="Number only.", max_reasks=1)
    assert b.value is None and b.status == "unparsed" and b.attempts == 2


def test_option_probs_single_token_exact(make_elicitor):
    el = make_elicitor(next_token=lambda m: {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.3, "Sure": 0.1})
    p = el.option_probs(MSG, ["1", "2", "3", "4", "5"])
    assert p.mass == pytest.approx(0.9)
    assert p.probs["3"] == pytest.approx(0.3 / 0.9) and p.probs["5"] == 0
    assert p.expected() == pytest.approx((0.1 + 0.4 + 0.9 + 1.2) / 0.9)
    cold = p.at_temperature(0)
    assert cold["3"] == pytest.approx(0.5) and cold["4"] == pytest.approx(0.5)
    hot = p.at_temperature(1.0)
    assert hot["2"] == pytest.approx(p.probs["2"])
    half = p.at_temperature(0.5)  # p^2 renormalised
    assert half["1"] == pytest.approx(0.01 / (0.01 + 0.04 + 0.09 + 0.09))


def test_option_probs_multi_token_by_prefill(make_elicitor):
    def nt(m):
        prefill = m[-1]["content"] if m[-1]["role"] == "assistant" else ""
        return {
            "": {"AG": 0.5, "PART": 0.3, "DIS": 0.1, "**": 0.1},
            "AG": {"REE": 1.0},
            "PART": {"IALLY": 1.0},
            "PARTIALLY": {" AG": 0.25, " DIS": 0.75},
            "PARTIALLY AG": {"REE": 1.0},
            "PARTIALLY DIS": {"AG": 1.0},
            "PARTIALLY DISAG": {"REE": 1.0},
            "DIS": {"AG": 1.0},
            "DISAG": {"REE": 1.0},
        }[prefill]

    el = make_elicitor(next_token=nt)
    p = el.option_probs(MSG, ["AGREE", "DISAGREE", "PARTIALLY AGREE", "PARTIALLY DISAGREE"])
    assert p.mass == pytest.approx(0.9)
    assert p.probs["AGREE"] == pytest.approx(0.5 / 0.9)
    assert p.probs["PARTIALLY DISAGREE"] == pytest.approx(0.225 / 0.9)
    assert p.probs["PARTIALLY AGREE"] == pytest.approx(0.075 / 0.9)
    # re-running is answered from the store
    calls = el.target.calls
    el.option_probs(MSG, ["AGREE", "DISAGREE", "PARTIALLY AGREE", "PARTIALLY DISAGREE"])
    assert el.target.calls == calls


def test_option_that_prefixes_another(make_elicitor):
    # '1' may be the answer or the start of '10'
    def nt(m):
        prefill = m[-1]["content"] if m[-1]["role"] == "assistant" else ""
        return {"": {"1": 0.6, "9": 0.4}, "1": {"0": 0.5, ".": 0.3, "\n": 0.2}}[prefill]

    el = make_elicitor(next_token=nt)
    p = el.option_probs(MSG, [str(i) for i in range(11)])
    assert p.probs["10"] == pytest.approx(0.3)
    assert p.probs["1"] == pytest.approx(0.3)
    assert p.probs["9"] == pytest.approx(0.4)
    assert p.mass == pytest.approx(1.0)


def test_option_probs_without_logprobs_says_so(make_elicitor):
    el = make_elicitor()
    with pytest.raises(LogprobsUnsupported, match="ask_closed"):
        el.option_probs(MSG, ["1", "2"])


def test_zero_mass_is_reported_not_imputed(make_elicitor):
    el = make_elicitor(next_token=lambda m: {"Sorry": 1.0})
    p = el.option_probs(MSG, ["1", "2"])
    assert p.mass == 0 and not p.valid and math.isnan(p.expected())


def test_end_of_reply_after_prefill_goes_to_the_option_reached(make_elicitor):
    # after '2' the most likely continuation is the end of the reply: the target returns empty text
    # with a distribution; that must count for option '2', not raise, and be answered from the store
    from analysis.core.models.base import RawReply

    def nt(m):
        prefill = m[-1]["content"] if m[-1]["role"] == "assistant" else ""
        return {"": {"2": 0.8, "3": 0.2}, "2": {"<|im_end|>": 0.75, "5": 0.25}, "3": {"<|im_end|>": 1.0}}[prefill]

    el = make_elicitor(next_token=nt)
    orig = el.target.chat

    def chat(messages, options, *, logprobs=False, top_logprobs=0):
        r = orig(messages, options, logprobs=logprobs, top_logprobs=top_logprobs)
        return RawReply("" if r.text == "<|im_end|>" else r.text, r.logprobs, r.meta)

    el.target.chat = chat
    p = el.option_probs(MSG, [str(i) for i in range(33)])
    assert p.probs["2"] == pytest.approx(0.6) and p.probs["25"] == pytest.approx(0.2) and p.probs["3"] == pytest.approx(0.2)
    calls = el.target.calls
    el.option_probs(MSG, [str(i) for i in range(33)])
    assert el.target.calls == calls


def test_counts_are_exact_under_concurrency(store):
    from analysis.core.elicit import Elicitor
    from analysis.core.models.scripted import ScriptedTarget

    target = ScriptedTarget(lambda m, o: "3", max_concurrency=8, delay_s=0.001)
    el = Elicitor(target, store, progress=False)
    msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(400)]
    el.map(el.generate, msgs)
    el.map(el.generate, msgs)
    assert el.n_model_calls == target.calls == 400 and el.n_store_hits == 400


def test_a_failure_under_concurrency_stops_the_remaining_calls(store):
    from analysis.core.elicit import Elicitor
    from analysis.core.models.scripted import ScriptedTarget

    def reply(m, o):
        if m[-1]["content"] == "q3":
            raise RuntimeError("server gone")
        return "3"

    target = ScriptedTarget(reply, max_concurrency=2, delay_s=0.01)
    el = Elicitor(target, store, progress=False)
    msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(200)]
    with pytest.raises(RuntimeError, match="server gone"):
        el.map(el.generate, msgs)
    assert target.calls < 20  # not the 199 calls left after the failure
