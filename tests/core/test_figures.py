"""The shared figure rules (issue 19): a figure without estimable data is replaced by one sentence, labels are
checked at the size a report shows them, and the synthesis figure keeps its point labels inside the axes and
states n; the synthesis steps agree with an independent pandas computation."""

import matplotlib

matplotlib.use("Agg")  # tests only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

from analysis.core import synthesis as syn  # noqa: E402
from analysis.core.figures import MAX_WIDTH_IN, not_drawn, shift_pairs, small_texts  # noqa: E402


def test_small_texts_finds_small_labels_and_labels_shrunk_by_a_wide_figure():
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.set_xlabel("readable", fontsize=9)
    ax.set_yticks([0, 1], ["a", "b"], fontsize=6)
    assert sorted(t for t, _ in small_texts(fig)) == ["a", "b"]
    wide, ax = plt.subplots(figsize=(2 * MAX_WIDTH_IN, 3))  # shown at half its size in the report
    ax.set_title("ten points", fontsize=10)
    ax.tick_params(labelsize=16)
    small = dict(small_texts(wide))
    assert "ten points" in small and small["ten points"] < 8  # 10 pt drawn, about 6 pt on the page
    plt.close("all")


def test_not_drawn_says_why_and_removes_a_stale_figure(tmp_path, capsys):
    old = tmp_path / "f.png"
    old.write_bytes(b"png")
    assert not_drawn("the figure", "nothing was estimable.", old) is None
    assert capsys.readouterr().out.strip() == "Figure not drawn (the figure): nothing was estimable."
    assert not old.exists()


def _pairs():
    rows = [("illusion", "m", "sr_A", 0.85, -0.59, 2.29, "bh_syc_flip_rate", 0.74, -0.69, 2.17),
            ("illusion", "m", "sr_SRQ", 0.59, -0.82, 2.01, "bh_cct_cards", 1.06, -0.41, 2.53),
            ("sycophancy", "m", "perceived_agreeableness", 4.11, 1.91, 6.31, "sycophancy_rate", 2.53, 0.85, 4.21),
            ("therapy", "m", "gad7_total:item_session:generate", 0.93, -0.46, 2.33, "gad7_total:whole", np.nan,
             np.nan, np.nan)]
    cols = ["study", "model", "self_report_measure", "self_report_shift", "self_report_ci_low",
            "self_report_ci_high", "behaviour_measure", "behaviour_shift", "behaviour_ci_low", "behaviour_ci_high"]
    d = pd.DataFrame(rows, columns=cols).assign(self_report_n_a=3, self_report_n_b=6, behaviour_n_a=3,
                                                 behaviour_n_b=6, self_report_effect="d", behaviour_effect="d")
    d["manipulation"] = d["study"].map({"illusion": "persona vs baseline", "sycophancy": "designed high vs low",
                                        "therapy": "warm vs neutral therapist stance"})
    d["contrast"] = d["self_report_measure"] + " / " + d["behaviour_measure"]
    return pl.from_pandas(d)


def test_synthesis_figure_keeps_labels_inside_the_axes_and_counts_what_it_leaves_out(tmp_path):
    """The old figure wrote 'model: measure / measure' beside each point, running out of the axes."""
    fig = shift_pairs(syn.moved(_pairs()), tmp_path / "s.png")
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_window_extent()
    numbers = [t for t in ax.texts if t.get_text().isdigit()]
    assert [t.get_text() for t in numbers] == ["1", "2", "3"]  # the three estimable pairs
    for t in numbers:
        e = t.get_window_extent()
        assert box.x0 <= e.x0 and e.x1 <= box.x1 and box.y0 <= e.y0 and e.y1 <= box.y1, t.get_text()
    everything = "\n".join(t.get_text() for t in ax.texts)
    assert "3 of 4 pairs drawn; 1 with a shift not estimable" in everything
    assert "3: sycophancy, m: perceived_agreeableness (n = 3 vs 6)" in everything
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"illusion (95% CIs)", "sycophancy (95% CIs)", "behaviour unchanged", "behaviour moves as much"} <= set(labels)
    assert small_texts(fig) == []
    plt.close(fig)


def test_synthesis_figure_without_an_estimable_pair_is_not_drawn(capsys):
    p = _pairs().filter(pl.col("study") == "therapy")
    assert shift_pairs(syn.moved(p)) is None
    assert "none of the 1 pairs has both shifts estimable" in capsys.readouterr().out


def test_synthesis_steps_match_a_pandas_count():
    p = syn.moved(_pairs())
    got = syn.by_study(p).to_pandas().set_index("study")
    d = _pairs().to_pandas()
    for study, g in d.groupby("study"):
        sr = (g["self_report_ci_low"] > 0) | (g["self_report_ci_high"] < 0)
        bh = (g["behaviour_ci_low"] > 0) | (g["behaviour_ci_high"] < 0)
        assert got.loc[study, "pairs"] == len(g)
        assert got.loc[study, "self_report_moved"] == sr.sum() and got.loc[study, "behaviour_moved"] == bh.sum()
        assert got.loc[study, "not_estimable"] == (g["self_report_shift"].isna() | g["behaviour_shift"].isna()).sum()
        assert got.loc[study, "median_self_report_shift"] == g["self_report_shift"].median()
    assert got.loc["sycophancy", "illusion"] == 0 and got.loc["illusion", "illusion"] == 0
    text = syn.summary_markdown(p, syn.by_study(p))
    assert text.startswith("**This run:** 4 self-report / behaviour pairs from 3 studies and 1 model(s); 3 have both "
                           "shifts estimated and are plotted, 1 are listed only")
    assert "therapy (warm vs neutral therapist stance): 1 pair(s), 0 plotted" in text
    assert "behaviour gad7_total:whole not estimable (n = 3 vs 6)" in text
    assert "\n\n*Caveat:*" in text  # its own paragraph, not inside the last list item
    assert syn.headline(syn.by_study(p))["sycophancy"]["behaviour_moved"] == 1
    assert syn.headline(pl.DataFrame()) == {"pairs": 0}


def test_the_synthesis_caveat_is_its_own_paragraph_not_the_last_list_item():
    import mistune

    p = syn.moved(_pairs())
    page = mistune.create_markdown(escape=True)(syn.summary_markdown(p, syn.by_study(p)))
    assert "<p><em>Caveat:</em>" in page
    assert page.rindex("</ul>") < page.index("Caveat")
