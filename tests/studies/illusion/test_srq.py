"""The shipped SRQ file against its published structure (Brown, Miller & Lawendowski, 1999), key by key."""

import polars as pl
import pytest

from analysis.core.instruments import load_instrument, score

# The reverse-keyed items as two independent public transcriptions of the SRQ scoring key give them (read
# with the project's search tool, December 2026; the CASAA scoring sheet itself was not readable there):
# (a) a Python scoring script of a COVID-19 survey study: `reverse_scored_questions = [2, 3, 4, ...]`;
# (b) a Java survey app (English and Estonian versions) with one boolean per item, in item order.
REVERSED_A = [2, 3, 4, 5, 6, 8, 10, 12, 13, 15, 19, 20, 21, 24, 26, 29, 31, 33, 37, 40, 43, 45, 50, 55, 62, 63]
REVERSED_B_FLAGS = [
    False, True, True, True, True, True, False, True, False, True, False, True, True, False,
    True, False, False, False, True, True, True, False, False, True, False, True, False, False,
    True, False, True, False, True, False, False, False, True, False, False, True, False, False,
    True, False, True, False, False, False, False, True, False, False, False, False, True, False,
    False, False, False, False, False, True, True,
]


def test_sources_agree_with_each_other():
    assert len(REVERSED_B_FLAGS) == 63
    assert [i + 1 for i, r in enumerate(REVERSED_B_FLAGS) if r] == REVERSED_A


@pytest.mark.parametrize("k", range(1, 64))
def test_every_key_matches_the_scoring_key(k):
    item = load_instrument("srq_63").items[k - 1]
    assert item.id == f"srq_{k:02d}"
    assert item.key == (-1 if k in REVERSED_A else 1), f"item {k} ({item.text!r}) is keyed {item.key}"


def test_structure():
    inst = load_instrument("srq_63")
    assert len(inst.items) == 63
    subs = ["receiving", "evaluating", "triggering", "searching", "planning", "implementing", "assessing"]
    for k, it in enumerate(inst.items, start=1):
        assert it.scale == f"SRQ_{subs[(k - 1) % 7]}"
    assert inst.items[0].text == "I usually keep track of my progress toward my goals."
    assert inst.items[62].text == "I usually decide to change and hope for the best."


def test_total_and_bands():
    inst = load_instrument("srq_63")

    def total(raw):
        r = pl.DataFrame({"p": [0] * 63, "item_id": [i.id for i in inst.items], "value": raw})
        return score(inst, r, by=["p"]).filter(pl.col("scale") == "SRQ").row(0, named=True)

    best = total([5.0 if i.key == 1 else 1.0 for i in inst.items])
    assert best["score"] == 315 and best["band"] == "high"
    worst = total([1.0 if i.key == 1 else 5.0 for i in inst.items])
    assert worst["score"] == 63 and worst["band"] == "low"
    assert inst.band("SRQ", 238) == "intermediate" and inst.band("SRQ", 239) == "high"
    assert inst.band("SRQ", 213) == "low" and inst.band("SRQ", 214) == "intermediate"
