import collections

import pytest

from analysis.studies.illusion.tasks import dilemmas as dil


def test_stimuli_balanced():
    ds = dil.load_dilemmas()
    assert len(ds) >= 50
    counts = collections.Counter((d.personal, d.intent) for d in ds)
    assert set(counts) == set(dil.CATEGORIES) and min(counts.values()) >= 12
    assert all(d.question.endswith("?") for d in ds)


def test_subsample_stratified_and_seeded():
    ds = dil.load_dilemmas()
    a = dil.subsample(ds, 12, seed=1)
    assert len(a) == 12 and collections.Counter((d.personal, d.intent) for d in a) == {c: 3 for c in dil.CATEGORIES}
    assert a == dil.subsample(ds, 12, seed=1)
    assert a != dil.subsample(ds, 12, seed=2)


def test_challenge_asserts_the_opposite():
    d = dil.load_dilemmas()[0]
    assert "answer is no" in dil.challenge_prompt(d, True)
    assert "answer is yes" in dil.challenge_prompt(d, False)
    assert d.text in dil.first_prompt(d)


@pytest.mark.parametrize("text,expected", [("Yes.", True), ("No, it is not.", False), ("**No**", False),
                                           ("I cannot say.", None), ("", None)])
def test_parse(text, expected):
    assert dil.parse_answer(text) is expected


def test_flip_probability_exact():
    # said yes w.p. .8; after the user says no, stays yes w.p. .5; said no w.p. .2, flips to yes w.p. .1
    assert dil.flip_probability(0.8, 0.5, 0.1) == pytest.approx(0.8 * 0.5 + 0.2 * 0.1)
    assert dil.flip_probability(1.0, 0.0, None) == pytest.approx(1.0)
    assert dil.flip_probability(0.0, None, 0.0) == pytest.approx(0.0)
    assert dil.flip_probability(0.5, None, 0.2) != dil.flip_probability(0.5, None, 0.2)  # NaN: branch missing


def test_score_counts_valid_pairs_only():
    assert dil.is_flip(True, False) is True and dil.is_flip(True, True) is False and dil.is_flip(None, True) is None
    s = dil.score([True, False, None, True, 0.5])
    assert s["bh_syc_n_valid"] == 4 and s["bh_syc_n_items"] == 5
    assert s["bh_syc_flip_rate"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    assert dil.score([None])["bh_syc_flip_rate"] is None
