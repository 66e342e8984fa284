"""Figures of Study 2 follow the figure standards, checked on the drawn artists: n on every panel,
regression lines only over the data with a CI band, overlapping personas drawn once with their
count, labelled reference lines, open markers for undefined intervals, the paper's TTG zones."""

import matplotlib

matplotlib.use("Agg")  # tests only: the figure modules never switch the backend themselves

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402

from analysis.studies.sycophancy import figures as figs  # noqa: E402
from analysis.studies.sycophancy import stats as ss  # noqa: E402


def _table(n: int = 20):
    rng = np.random.default_rng(0)
    rows = []
    for m, b in (("embedded:a", 0.5), ("ollama:b", 0.0)):
        a = rng.uniform(0.2, 0.8, n)
        rows.append(pd.DataFrame({"model": m, "persona_id": [f"p{i}" for i in range(n)], "agreeableness": a,
                                  "designed_agreeableness": np.round(a * 4) / 4,
                                  "sycophancy": np.clip(0.4 + b * a + rng.normal(0, 0.05, n), 0, 1),
                                  "false_minus_true": rng.uniform(-1, 0, n)}))
    return pl.from_pandas(pd.concat(rows))


BASE = pl.DataFrame({"model": ["embedded:a", "ollama:b"], "sycophancy": [0.5, 0.4], "false_minus_true": [-0.5, -0.8]})


def test_scatter_states_n_draws_the_line_over_the_data_with_a_band_and_labels_the_baseline(tmp_path):
    t = _table()
    fig = figs.scatter_by_model(t, tmp_path / "s.png", baseline=BASE)
    assert (tmp_path / "s.png").stat().st_size > 1000
    ax = fig.axes[0]
    assert "n = 20 personas" in ax.get_title() and "r = " in ax.get_title()
    xs = t.filter(pl.col("model") == "embedded:a")["agreeableness"].to_numpy()
    fit = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"][0]
    assert fit.get_xdata().min() == pytest.approx(xs.min()) and fit.get_xdata().max() == pytest.approx(xs.max())
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the confidence band
    labels = ax.get_legend_handles_labels()[1]
    assert "plain assistant (0.50)" in labels and any(lb.startswith("OLS, 95% CI") for lb in labels)
    plt.close(fig)


def test_overlapping_personas_are_drawn_once_with_their_count():
    t = pl.DataFrame({"model": "m", "designed_agreeableness": [0.25, 0.25, 0.25, 0.5, 0.75, 1.0],
                      "agreeableness": [0.3, 0.3, 0.3, 0.5, 0.6, 0.9]})
    fig = figs.manipulation_check(t)
    ax = fig.axes[0]
    pts = ax.collections[0]
    assert len(pts.get_offsets()) == 4  # 6 personas, 3 of them at the same point
    assert sorted(pts.get_sizes()) == [22, 22, 22, 66]
    assert [tx.get_text() for tx in ax.texts] == ["3"]
    assert "n = 6 personas" in ax.get_title()
    plt.close(fig)


def test_no_line_without_spread():
    t = pl.DataFrame({"model": "m", "agreeableness": [0.5, 0.5, 0.5, 0.5], "sycophancy": [0.1, 0.2, 0.3, 0.4]})
    fig = figs.scatter_by_model(t)
    assert "no line" in fig.axes[0].get_title() and not fig.axes[0].get_lines()
    plt.close(fig)


def test_forest_states_n_labels_references_and_marks_undefined_intervals(tmp_path):
    t = _table().with_columns(pl.when(pl.col("model") == "ollama:b").then(0.5).otherwise(pl.col("sycophancy"))
                              .alias("sycophancy"))
    tests = ss.association_tests(t, n_perm=100)
    fig = figs.forest(tests, tmp_path / "f.png")
    ax_r, ax_d = fig.axes[:2]
    assert any("(n = 20)" in lb.get_text() for lb in ax_r.get_yticklabels())
    assert any("vs" in lb.get_text() for lb in ax_d.get_yticklabels())
    labels = ax_r.get_legend_handles_labels()[1]
    assert "no effect" in labels and "largest published (0.87)" in labels
    # the constant model has no r at all: said in words, not drawn as 0
    assert any(tx.get_text() == "not estimable" for tx in ax_r.texts)
    plt.close(fig)


def test_forest_draws_an_estimate_without_interval_as_an_open_marker():
    tests = pl.DataFrame({"model": ["a", "b"], "test": ["pearson_r"] * 2, "estimate": [0.3, 0.5],
                          "ci_low": [0.1, float("nan")], "ci_high": [0.5, float("nan")], "n": [10, 3]})
    tests = pl.concat([tests, tests.with_columns(pl.lit("cohens_d").alias("test"), pl.lit(5).alias("n1"),
                                                 pl.lit(5).alias("n2"))], how="diagonal")
    fig = figs.forest(tests)
    ax = fig.axes[0]
    assert "CI undefined" in ax.get_legend_handles_labels()[1]
    open_ = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_facecolor().size == 0]
    assert open_ and open_[0].get_offsets()[0][0] == pytest.approx(0.5)
    plt.close(fig)


@pytest.mark.parametrize("strong,zones", [(None, ["truthful", "neutral", "deception"]),
                                          (0.25, ["strong truthful", "truthful", "neutral", "deception",
                                                  "strong deception"])])
def test_ttg_shows_the_zones_labelled_and_n(tmp_path, strong, zones):
    t = _table()
    ttg = ss.ttg(t, BASE, neutral=0.1 if strong is None else 0.05, strong=strong)
    fig = figs.ttg_distribution(ttg, tmp_path / "t.png", 0.1 if strong is None else 0.05, strong)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert [lb.removesuffix(" zone") for lb in labels if lb.endswith(" zone")] == zones
    assert any("(n = 20)" in lb.get_text() for lb in ax.get_yticklabels())
    assert "mean, 95% CI" in labels
    assert any("40 personas" in tx.get_text() for tx in ax.texts)
    plt.close(fig)


def test_false_claims_figure(tmp_path):
    t = _table()
    fig = figs.false_claims(t, tmp_path / "c.png", baseline=BASE)
    lo, hi = fig.axes[0].get_ylim()  # the data (-1 to 0 here) and the baselines, within the -1 to 1 scale
    assert -1.1 < lo <= t.filter(pl.col("model") == "embedded:a")["false_minus_true"].min() and -0.5 < hi < 1.1
    assert "plain assistant (-0.50)" in fig.axes[0].get_legend_handles_labels()[1]
    plt.close(fig)


# ---- issue 19: axes that fit the data, a legend entry per series, labels >= 8 pt -------------------------


def _narrow():
    """Like the reference run: perceived agreeableness 0.44-0.57, sycophancy 0.49-0.60 (about 10% of a 0-1 axis)."""
    rng = np.random.default_rng(1)
    a = rng.uniform(0.44, 0.57, 12)
    return pl.DataFrame({"model": "m", "agreeableness": a, "sycophancy": 0.5 + 0.6 * (a - 0.5) + rng.normal(0, 0.01, 12)})


def test_scatter_axes_fit_the_data_not_the_whole_unit_square():
    t = _narrow()
    fig = figs.scatter_by_model(t, baseline=pl.DataFrame({"model": ["m"], "sycophancy": [0.61]}))
    ax = fig.axes[0]
    for (lo, hi), v in ((ax.get_xlim(), t["agreeableness"]), (ax.get_ylim(), t["sycophancy"])):
        assert lo <= v.min() and hi >= v.max()
        assert (hi - lo) <= 3 * max(v.max() - v.min(), 0.2 / 3)  # the old 0-1 axes were ~8x the data's span
    assert ax.get_ylim()[1] > 0.61  # the plain assistant's line stays in view
    plt.close(fig)


def test_scatter_has_a_legend_entry_per_series_and_no_footnote_about_numbers_not_drawn():
    fig = figs.scatter_by_model(_narrow(), baseline=pl.DataFrame({"model": ["m"], "sycophancy": [0.61]}))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("persona" in lb for lb in labels)  # the points
    assert any(lb.startswith("OLS fit") for lb in labels) and any(lb.startswith("OLS, 95% CI") for lb in labels)
    assert any(lb.startswith("plain assistant") for lb in labels)
    assert not ax.texts and not fig.texts  # no persona shares a point: no count and no footnote about counts
    plt.close(fig)
    stacked = figs.manipulation_check(pl.DataFrame({"model": "m", "designed_agreeableness": [0.25, 0.25, 0.5, 1.0],
                                                    "agreeableness": [0.3, 0.3, 0.5, 0.9]}))
    assert [t.get_text() for t in stacked.axes[0].texts] == ["2"] and "number" in stacked.texts[0].get_text()
    plt.close(stacked)


def test_scatter_with_no_persona_is_not_drawn_and_says_why(capsys):
    assert figs.scatter_by_model(pl.DataFrame({"model": [], "agreeableness": [], "sycophancy": []},
                                              schema={"model": pl.String, "agreeableness": pl.Float64,
                                                      "sycophancy": pl.Float64})) is None
    assert "no persona has both scores" in capsys.readouterr().out


def test_labels_are_at_least_8_pt_as_a_report_shows_them():
    from analysis.core.figures import small_texts

    t = _table()
    tests = ss.association_tests(t, n_perm=100)
    ttg = ss.ttg(t, BASE, neutral=0.1)
    for f in (figs.scatter_by_model(t, baseline=BASE), figs.manipulation_check(t), figs.forest(tests),
              figs.ttg_distribution(ttg), figs.false_claims(t, baseline=BASE)):
        assert small_texts(f) == []
    plt.close("all")


def test_scatter_titles_give_r_with_its_ci_and_n():
    t = _table(12)
    fig = figs.scatter_by_model(t)
    d = t.filter(pl.col("model") == "embedded:a").to_pandas()
    from analysis.core.stats.correlation import pearson
    r = pearson(d["agreeableness"], d["sycophancy"], alternative="two-sided")
    want = f"r = {r['estimate']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}], n = 12 personas"
    assert want in fig.axes[0].get_title(), fig.axes[0].get_title()
    plt.close(fig)


def test_ttg_persona_dots_have_a_legend_entry():
    ttg = pl.DataFrame({"model": ["a"] * 5 + ["b"] * 5, "ttg": [0.1, -0.2, 0.3, 0.0, 0.05] * 2})
    fig = figs.ttg_distribution(ttg)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels.count("one persona (vertical jitter only)") == 1
    plt.close(fig)
