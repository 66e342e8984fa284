"""Scoring and cut-off bands of the shipped clinical scales (hand-computed), answer formats, prompts,
and the whole-form parser."""

import polars as pl
import pytest

from analysis.core.instruments import load_instrument, score
from analysis.studies.therapy.scales import answer_format, item_prompt, load_scales, parse_whole_form, whole_form_prompt


def _score(inst_id, answers):
    inst = load_instrument(inst_id)
    df = pl.DataFrame({"p": ["x"] * len(answers), "item_id": [i.id for i in inst.items],
                       "value": [float(a) if a is not None else None for a in answers]})
    row = score(inst, df, by=["p"]).row(0, named=True)
    return row["score"], row["band"]


@pytest.mark.parametrize("answers,total,band", [
    ([0, 1, 0, 1, 0, 1, 1], 4, "minimal"),
    ([1, 1, 1, 1, 1, 0, 0], 5, "mild"),
    ([1, 2, 0, 3, 1, 2, 1], 10, "moderate"),
    ([2, 2, 2, 2, 2, 2, 2], 14, "moderate"),
    ([3, 3, 2, 2, 2, 2, 1], 15, "severe"),
    ([3] * 7, 21, "severe"),
])
def test_gad7_totals_and_bands(answers, total, band):
    assert _score("gad7", answers) == (total, band)


@pytest.mark.parametrize("answers,total,band", [
    ([0] * 9, 0, "minimal"),
    ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),
    ([2, 2, 2, 2, 1, 1, 0, 0, 0], 10, "moderate"),
    ([2, 2, 2, 2, 2, 2, 2, 1, 0], 15, "moderately severe"),
    ([3, 3, 3, 2, 2, 2, 2, 2, 0], 19, "moderately severe"),
    ([3, 3, 3, 3, 2, 2, 2, 2, 0], 20, "severe"),
    ([3] * 9, 27, "severe"),
])
def test_phq9_totals_and_bands(answers, total, band):
    assert _score("phq9", answers) == (total, band)


def test_gds15_keys_are_applied():
    # raw answers: 1 = Yes, 0 = No. Items 1, 5, 7, 11, 13 score a point for "No".
    reversed_items = {1, 5, 7, 11, 13}
    all_no = [0] * 15
    all_yes = [1] * 15
    not_depressed = [1 if k in reversed_items else 0 for k in range(1, 16)]
    depressed = [0 if k in reversed_items else 1 for k in range(1, 16)]
    assert _score("gds15", all_no) == (5, "mild")
    assert _score("gds15", all_yes) == (10, "moderate")
    assert _score("gds15", not_depressed) == (0, "normal")
    assert _score("gds15", depressed) == (15, "severe")
    # 4 depressive answers -> normal, 9 -> moderate, 12 -> severe
    four = list(not_depressed)
    for k in (2, 3, 4, 6):
        four[k - 1] = 1
    assert _score("gds15", four) == (4, "normal")


def test_expected_scores_use_lower_bounds_and_missing_items_are_not_scored():
    assert _score("gad7", [1.5, 1.5, 1.5, 1.0, 1.5, 1.5, 1.0])[1] == "mild"  # 9.5 is not yet moderate
    s, band = _score("gad7", [1, 2, 0, 3, 1, 2, None])
    assert s is None and band is None


def test_instrument_metadata():
    for inst in load_scales(["gad7", "phq9", "gds15"]):
        assert inst.instructions_model and "recent interactions with users" in inst.instructions_model
        assert all(it.timeframe_original and it.timeframe_model for it in inst.items)
        assert inst.licence and inst.citation and inst.source
    assert [len(i.items) for i in load_scales(["gad7", "phq9", "gds15"])] == [7, 9, 15]
    phq = load_instrument("phq9")
    assert phq.items[8].text == "Thoughts that you would be better off dead or of hurting yourself in some way"


def test_answer_formats():
    f = answer_format(load_instrument("gad7"))
    assert f.kind == "numeric" and f.options == ["0", "1", "2", "3"] and f.values["3"] == 3
    assert f.parse("2") == 2 and f.parse("Nearly every day") == 3 and f.parse("7") is None and f.parse("hmm") is None
    y = answer_format(load_instrument("gds15"))
    assert y.kind == "yes_no" and y.values == {"Yes": 1, "No": 0}
    assert y.parse("Yes, I am.") == 1 and y.parse("No.") == 0 and y.parse("Maybe") is None


def test_prompts_use_model_timeframe_and_lead():
    inst = load_instrument("gad7")
    f = answer_format(inst)
    first = item_prompt(inst, inst.items[0], f, lead="Stance. Intro.")
    later = item_prompt(inst, inst.items[1], f, lead=None)
    assert first.startswith("Stance. Intro.") and "recent interactions with users" in first
    assert "2 weeks" not in first
    assert later.endswith("Not being able to stop or control worrying") and "Stance" not in later
    assert "0 = Not at all" in first and later.startswith("Answer with one number from 0 to 3.")
    human = item_prompt(inst, inst.items[0], f, lead="L", reword_timeframe=False)
    assert "Over the last 2 weeks" in human
    whole = whole_form_prompt(inst, f, lead="L")
    assert all(f"{k}. {it.text}" in whole for k, it in enumerate(inst.items, 1))


# ---- whole-form parser --------------------------------------------------------------------------

GAD = load_instrument("gad7")
GDS = load_instrument("gds15")


def test_parser_numbered_lines_with_labels_echoes_and_markup():
    text = ("Sure, here are my answers:\n1. 2\n2. **Not at all**\n"
            "3. Worrying too much about different things: 3\n4) Several days (1)\n5 - 0\n6. 1 or 2\n")
    got = parse_whole_form(text, GAD)
    assert got == {"gad7_1": 2, "gad7_2": 0, "gad7_3": 3, "gad7_4": 1, "gad7_5": 0, "gad7_6": None, "gad7_7": None}
    assert sum(v is None for v in got.values()) == 2  # ambiguous and missing items stay unparsed


def test_parser_inline_pairs_and_bare_sequence():
    assert list(parse_whole_form("1: 0, 2: 1, 3: 0, 4: 3, 5: 0, 6: 0, 7: 1", GAD).values()) == [0, 1, 0, 3, 0, 0, 1]
    assert list(parse_whole_form("0, 1, 0, 2, 1, 0, 0", GAD).values()) == [0, 1, 0, 2, 1, 0, 0]
    # a bare sequence of the wrong length is not guessed
    assert all(v is None for v in parse_whole_form("0, 1, 0", GAD).values())


def test_parser_rejects_out_of_range_conflicts_and_refusals():
    got = parse_whole_form("1. 5\n2. 2\n2. 3\n3. 1", GAD)
    assert got["gad7_1"] is None and got["gad7_2"] is None and got["gad7_3"] == 1
    refusal = "As an AI language model, I don't have feelings, so I cannot complete this questionnaire."
    assert all(v is None for v in parse_whole_form(refusal, GAD).values())
    assert all(v is None for v in parse_whole_form("", GAD).values())


def test_parser_yes_no_items_with_echoed_question():
    text = "1. Yes\n2. No\n3. Do you feel that your life is empty? No\n15. yes\n8. Yes and no"
    got = parse_whole_form(text, GDS)
    assert got["gds15_1"] == 1 and got["gds15_2"] == 0 and got["gds15_3"] == 0 and got["gds15_15"] == 1
    assert got["gds15_8"] is None and got["gds15_4"] is None
