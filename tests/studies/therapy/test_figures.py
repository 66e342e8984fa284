"""Figures are drawn from synthetic tables without error; the cut-off colour scale is right."""

import math

import polars as pl
import pytest

from analysis.core.instruments import load_instrument
from analysis.studies.therapy.figures import band_position, heatmap_scores, item_means, stance_effect, theme_rates_plot
from analysis.studies.therapy.stats import score_items, score_summary


def test_band_position():
    gad = load_instrument("gad7")  # bands start at 0, 5, 10, 15 (max 21)
    assert band_position(gad, 0) == 0
    assert band_position(gad, 5) == pytest.approx(0.25)
    assert band_position(gad, 12.5) == pytest.approx(0.5 + 0.125)
    assert band_position(gad, 21) == pytest.approx(1.0)
    assert math.isnan(band_position(gad, None))


def test_figures_are_written(tmp_path):
    insts = [load_instrument("gad7"), load_instrument("gds15")]
    rows = []
    for inst in insts:
        for s in range(3):
            for stance in ("neutral", "warm"):
                for mode, method in (("item_session", "probs"), ("whole_session", "generate")):
                    for it in inst.items:
                        v = None if (mode == "whole_session" and s == 2) else float((s + (stance == "warm")) % 2)
                        rows.append({"model": "embedded:x", "session": s, "seed": s, "stance": stance, "mode": mode,
                                     "context": "session", "context_id": f"session {s}", "history": "model_reply",
                                     "method": method, "instrument": inst.id, "item_id": it.id, "value": v,
                                     "mass": 0.9, "status": "ok" if v is not None else "unparsed"})
    items = pl.DataFrame(rows, schema_overrides={"value": pl.Float64})
    sc = score_items(items, insts)
    summ = score_summary(sc, insts)
    for f in (heatmap_scores(summ, insts, tmp_path / "h.png"), stance_effect(sc, insts, tmp_path / "s.png"),
              item_means(items, insts, tmp_path / "i.png"),
              theme_rates_plot(pl.DataFrame({"model": ["m", "m"], "theme": ["a", "b"], "rate": [0.5, 0.0]}),
                               tmp_path / "t.png")):
        assert f.get_axes()
    assert all((tmp_path / n).stat().st_size > 5000 for n in ("h.png", "s.png", "i.png", "t.png"))
