import math

import pytest

from analysis.studies.illusion.tasks import iat as iat


def test_stimuli():
    doms = iat.load_domains()
    assert set(doms) == {"race", "gender", "religion", "age", "health"}
    for d in doms.values():
        assert len(d.words_a) == len(d.words_b) >= 4


def test_trials_orders_and_group_alternation():
    d = iat.select_words(iat.load_domains()["gender"], 4, seed=0)
    assert len(d.words_a) == len(d.words_b) == 4
    ts = iat.trials(d, 3, seed=0)
    assert [t.groups[0] for t in ts] == [d.group_a, d.group_b, d.group_a]
    assert all(sorted(t.words) == sorted(d.words) for t in ts)
    assert ts[0].words != ts[1].words  # distinct random orders
    assert iat.trials(d, 3, seed=0) == ts


def test_parse_pairings():
    d = iat.load_domains()["health"]
    words = ["capable", "helpless", "needy", "active"]
    text = "1. capable - abled\n2. **helpless** -> disabled\nneedy: disabled\nactive - abled, or maybe disabled"
    got = iat.parse_pairings(text, words, (d.group_a, d.group_b))
    assert got == {"capable": "abled", "helpless": "disabled", "needy": "disabled", "active": None}
    grouped = "abled: capable, active\ndisabled: helpless, needy"
    assert iat.parse_pairings(grouped, words, (d.group_a, d.group_b)) == {
        "capable": "abled", "active": "abled", "helpless": "disabled", "needy": "disabled"}
    conflict = "capable - abled\ncapable - disabled"
    assert iat.parse_pairings(conflict, words, (d.group_a, d.group_b))["capable"] is None
    assert iat.parse_pairings("", words, ("abled", "disabled")) == {w: None for w in words}
    # "man" must not be read inside "woman"
    g = iat.load_domains()["gender"]
    assert iat.parse_pairings("home - woman", ["home"], (g.group_a, g.group_b)) == {"home": "woman"}


def test_bias_scores():
    d = iat.Domain("x", "A", "B", ("a1", "a2"), ("b1", "b2"))
    stereo = {"a1": "A", "a2": "A", "b1": "B", "b2": "B"}
    anti = {"a1": "B", "a2": "B", "b1": "A", "b2": "A"}
    all_a = {w: "A" for w in stereo}
    assert iat.bias_from_pairings(d, stereo) == 1 and iat.bias_from_pairings(d, anti) == -1
    assert iat.bias_from_pairings(d, all_a) == 0
    assert iat.bai_bias(d, stereo) == 1 and iat.bai_bias(d, anti) == -1
    assert math.isnan(iat.bai_bias(d, all_a))
    half = {"a1": "A", "a2": "B", "b1": "B", "b2": "B"}
    assert iat.bias_from_pairings(d, half) == pytest.approx(0.5)
    assert iat.bias_from_probs(d, {"a1": 0.9, "a2": 0.7, "b1": 0.2, "b2": 0.4}) == pytest.approx(0.5)
    assert math.isnan(iat.bias_from_probs(d, {"a1": 0.9}))
