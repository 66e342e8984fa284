"""The shipped SRQ file against its published structure (Brown, Miller & Lawendowski, 1999)."""

import polars as pl

from analysis.core.instruments import load_instrument, score

REVERSED = {2, 3, 4, 5, 6, 8, 10, 12, 13, 15, 19, 20, 21, 24, 26, 29, 31, 33, 37, 40, 43, 45, 50, 55, 62, 63}


def test_structure_and_keys():
    inst = load_instrument("srq_63")
    assert len(inst.items) == 63
    assert {int(i.id.split("_")[1]) for i in inst.items if i.key == -1} == REVERSED
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
