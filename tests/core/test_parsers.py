import pytest

from analysis.core.parsers import parse_choice, parse_int_in_range, parse_likert, parse_yes_no


@pytest.mark.parametrize("text,expected", [
    ("4", 4), ("**4**", 4), ("I would say 3.", 3), ("Answer: 5 (very accurate)", 5), ("five", 5),
    ("7", None), ("0", None), ("3.5", None), ("", None), ("I cannot answer that.", None),
    ("Between 2 and 4", 2), ("-1", None),
])
def test_int_in_range(text, expected):
    assert parse_int_in_range(text, 1, 5) == expected


def test_first_number_decides_even_if_a_later_one_is_valid():
    # the first number is out of range: the answer is invalid, not the later '3'
    assert parse_int_in_range("10 out of 10, so 3", 1, 5) is None
    assert parse_int_in_range("I'd turn 12 cards", 0, 32) == 12


def test_likert_anchor_fallback_prefers_longest_label():
    anchors = {1: "Very inaccurate", 2: "Moderately inaccurate", 3: "Neither accurate nor inaccurate",
               4: "Moderately accurate", 5: "Very accurate"}
    assert parse_likert("Moderately inaccurate.", 1, 5, anchors) == 2
    assert parse_likert("very accurate!", 1, 5, anchors) == 5
    assert parse_likert("I am not sure.", 1, 5, anchors) is None
    assert parse_likert("9", 1, 5, anchors) is None  # a number out of range is not rescued by labels


@pytest.mark.parametrize("text,expected", [
    ("Yes.", True), ("no", False), ("**No**, because...", False), ("I think yes, it is fine.", True),
    ("Yes and no.", None), ("It depends.", None),
])
def test_yes_no(text, expected):
    assert parse_yes_no(text) is expected


def test_choice_longest_first_and_ambiguity():
    opts = ["AGREE", "DISAGREE", "PARTIALLY AGREE", "PARTIALLY DISAGREE"]
    assert parse_choice("PARTIALLY AGREE. Some points...", opts) == "PARTIALLY AGREE"
    assert parse_choice("disagree - no", opts) == "DISAGREE"
    assert parse_choice("Well, I partially disagree here.", opts) == "PARTIALLY DISAGREE"
    assert parse_choice("I agree and disagree.", opts) is None
