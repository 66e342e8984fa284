"""The cut-off colour scale of the score heat map (the figures themselves are checked on their artists in
test_report.py)."""

import math

import pytest

from analysis.core.instruments import load_instrument
from analysis.studies.therapy.figures import band_position


def test_band_position():
    gad = load_instrument("gad7")  # bands start at 0, 5, 10, 15 (max 21)
    assert band_position(gad, 0) == 0
    assert band_position(gad, 5) == pytest.approx(0.25)
    assert band_position(gad, 12.5) == pytest.approx(0.5 + 0.125)
    assert band_position(gad, 21) == pytest.approx(1.0)
    assert math.isnan(band_position(gad, None))


def test_band_position_without_cutoffs_is_the_position_on_the_range():
    ipip = load_instrument("ipip_neo_120")  # domain means on 1..5, no human cut-offs
    assert band_position(ipip, 1.0, "N") == 0 and band_position(ipip, 3.0, "N") == pytest.approx(0.5)


def test_a_score_label_never_rounds_across_a_cutoff():
    from analysis.studies.therapy.figures import score_text

    gad = load_instrument("gad7")  # moderate from 10
    assert score_text(gad, 9.968) == "9.97" and score_text(gad, 9.9991) == "9.999" and score_text(gad, 9.94) == "9.9"
    assert score_text(gad, 7.26) == "7.3" and score_text(gad, 10.04) == "10.0"
    assert score_text(gad, 9.99996) == "9.999"  # rounded down where 3 decimals still cross


def test_heatmap_labels_stay_inside_their_cells():
    import matplotlib

    matplotlib.use("Agg")
    import polars as pl

    from analysis.studies.therapy.figures import heatmap_scores

    gad = load_instrument("gad7")
    base = {"model": "embedded:qwen2.5-coder-1.5b", "stance": "neutral", "instrument": "gad7", "scale": "total", "max_score": 21.0,
            "n_units": 3, "items_asked": 21, "items_invalid": 0}
    summary = pl.DataFrame([{**base, "condition": "item_fresh:probs", "mean": 9.968, "band_of_mean": "mild"},
                            {**base, "condition": "item_session:probs", "mean": None, "band_of_mean": None,
                             "items_invalid": 12}])
    fig = heatmap_scores(summary, [gad])
    ax = fig.axes[0]
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text()]
    assert any(t.get_text().startswith("9.97/21 mild") for t in labels)
    inv = ax.transData.inverted()
    for t in labels:
        (x0, y0), (x1, y1) = inv.transform(t.get_window_extent(r).get_points())
        j, i = round(t.get_position()[0]), round(t.get_position()[1])
        assert j - 0.5 <= min(x0, x1) and max(x0, x1) <= j + 0.5, t.get_text()
        assert i - 0.5 <= min(y0, y1) and max(y0, y1) <= i + 0.5, t.get_text()


def test_heatmap_cells_show_the_ci_over_sessions_and_n_or_say_why_there_is_none():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import polars as pl

    from analysis.core.figures import small_texts
    from analysis.studies.therapy.figures import heatmap_scores

    gad = load_instrument("gad7")
    base = {"model": "m", "instrument": "gad7", "scale": "total", "max_score": 21.0, "items_asked": 21,
            "items_invalid": 0, "band_of_mean": "mild"}
    summary = pl.DataFrame([
        {**base, "condition": "a", "stance": "neutral", "mean": 7.0, "n_units": 5, "ci_low": 5.25, "ci_high": 8.75},
        {**base, "condition": "b", "stance": "neutral", "mean": 7.0, "n_units": 1, "ci_low": None, "ci_high": None},
        {**base, "condition": "c", "stance": "neutral", "mean": 7.0, "n_units": 4, "ci_low": None, "ci_high": None}])
    fig = heatmap_scores(summary, [gad])
    cells = [t.get_text() for t in fig.axes[0].texts if t.get_text()]
    assert any("[5.2, 8.8]\nn = 5" in c or "[5.3, 8.8]\nn = 5" in c for c in cells), cells
    assert any("one conversation: no CI\nn = 1" in c for c in cells)
    assert any("no spread: no CI\nn = 4" in c for c in cells)
    assert "t CI" in fig.axes[0].get_title() and small_texts(fig) == []
    plt.close(fig)
