"""Study 1's figures: drawn with n on them, an undefined CI drawn differently from a zero-width one, scales
that do not make a constant look like a result, and nothing drawn where nothing was tested."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from analysis.studies.illusion import figures as fg
from analysis.studies.illusion import stats as st

from .test_stats import synth


def texts(fig) -> str:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts] + [ax.get_title(), ax.get_xlabel()]
        out += [t.get_text() for t in ax.get_yticklabels()]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(out)


def test_figures_draw_save_and_state_n(tmp_path):
    df = synth(persona_sr_shift=2.0, n_models=2, n_conditions=4, temps=(0.0,), n_persona_conditions=2,
               roles={0: "base"})
    units = df.to_pandas()
    f = fg.profiles(units, ["sr_A", "bh_cct_cards"], tmp_path / "p.png")
    assert "n = " in texts(f)
    x = units["sr_A"]
    lo, hi = f.axes[0].get_xlim()
    assert lo < x.min() and hi > x.max() and hi - lo >= 1.0  # the data, and at least a quarter of the 1-5 scale
    rq1 = st.rq1_base_vs_aligned(df, [{"base": "m0", "instruct": "m1"}])
    assert fg.rq1_means(rq1["pooled"]) is None  # one model per role: no d, and no SD-ratio panel asked for
    f = fg.rq1_means(rq1["pooled"], tmp_path / "rq1.png", rq1["variability"])
    assert "n = " in texts(f) and "no difference" in texts(f) and "no d estimable" in texts(f)
    f = fg.rq3_shifts(st.rq3_persona(df)["shifts"], tmp_path / "rq3.png")
    assert "n = " in texts(f) and "no shift" in texts(f)
    assert fg.persona_check(st.persona_checks(df)) is None  # one unit per persona condition: no d to draw
    sampled = synth(persona_sr_shift=2.0, n_models=2, n_conditions=4, temps=(0.0,), n_persona_conditions=2,
                    sampled=True)
    f = fg.persona_check(st.persona_checks(sampled), tmp_path / "chk.png")
    assert "n = 2 vs 8" in texts(f)
    items = pd.DataFrame({"task": ["cct"] * 3, "item_id": ["a", "b", "c"], "condition": ["baseline_x"] * 3,
                          "value": [3.0, 10.0, 0.0], "optimum": [5, 12, 0]})
    f = fg.cct_choices(items, tmp_path / "cct.png")
    assert "choice = EV optimum" in texts(f) and "3 points from 3 scored rows" in texts(f)
    for name in ("p", "rq1", "rq3", "chk", "cct"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    plt.close("all")


def test_undefined_ci_is_drawn_differently_from_a_zero_width_ci():
    """The old RQ3 figure filled an undefined CI with 0 (fillna(0)), drawing it as a certain value."""
    sh = pd.DataFrame([
        {"persona_trait": "agreeableness", "strategy": "character", "model": "m", "kind": "self_report",
         "measure": "sr_A", "d": 1.0, "d_ci_low": np.nan, "d_ci_high": np.nan, "n_persona": 1, "n_baseline": 3},
        {"persona_trait": "agreeableness", "strategy": "character", "model": "m", "kind": "behaviour",
         "measure": "bh_syc_flip_rate", "d": 0.5, "d_ci_low": 0.5, "d_ci_high": 0.5, "n_persona": 3, "n_baseline": 3},
    ])
    f = fg.rq3_shifts(sh)
    ax = f.axes[0]
    open_markers = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())
                    and np.allclose(c.get_facecolors()[:, 3], 0)]
    assert len(open_markers) == 1 and np.allclose(open_markers[0].get_offsets()[0], [1.0, 0.0])
    assert "CI undefined" in texts(f)
    # the zero-width CI is an ordinary point with a (zero-length) bar
    bars = [c for c in ax.containers]
    assert len(bars) == 1
    plt.close("all")


def test_nothing_drawn_where_nothing_was_tested():
    assert fg.rq1_means(pd.DataFrame()) is None
    tiny = st.rq2_trait_behaviour(synth(n_models=1, n_conditions=2, temps=(0.0,)), st.load_expected_signs())
    assert tiny["summary"]["n_tests"] == 0 and fg.rq2_heatmap(tiny["tests"]) is None  # no empty heat map
    assert fg.rq3_shifts(pd.DataFrame()) is None
    assert fg.profiles(pd.DataFrame({"condition": [], "model": []}), ["sr_A"]) is None


@pytest.mark.parametrize("module", ["figures", "stats", "collect", "results"])
def test_no_backend_switch_and_no_private_saver(module):
    from pathlib import Path

    src = (Path(fg.__file__).parent / f"{module}.py").read_text()
    assert "matplotlib.use(" not in src and "savefig(" not in src


# ---- issue 19: figures that carry data -------------------------------------------------------------------


def test_persona_check_without_an_estimable_d_is_not_drawn_and_says_why(tmp_path, capsys):
    """The reference run's persona-check figure was blank: every persona condition had one unit, so no d."""
    stale = tmp_path / "chk.png"
    stale.write_bytes(b"an earlier run's figure")
    checks = pd.DataFrame([{"model": "m", "condition": f"persona_agreeableness_character_t{k}", "d": np.nan,
                            "d_ci_low": np.nan, "d_ci_high": np.nan, "n_persona": 1, "n_baseline": 6,
                            "against_design": False, "note": "fewer than 2 observations in a group"} for k in (1, 2)])
    assert fg.persona_check(checks, stale) is None
    said = capsys.readouterr().out
    assert "not drawn (persona check)" in said and "none of the 2 persona conditions" in said and "1 unit" in said
    assert not stale.exists()  # no stale figure left beside the sentence


def test_rq3_shows_only_estimable_shifts_and_counts_the_others():
    sh = pd.DataFrame([
        {"persona_trait": "agreeableness", "strategy": "character", "model": "m", "kind": "self_report",
         "measure": "sr_A", "d": 0.8, "d_ci_low": -0.2, "d_ci_high": 1.8, "n_persona": 3, "n_baseline": 6, "note": ""},
        {"persona_trait": "agreeableness", "strategy": "character", "model": "m", "kind": "behaviour",
         "measure": "bh_syc_flip_rate", "d": np.nan, "d_ci_low": np.nan, "d_ci_high": np.nan, "n_persona": 1,
         "n_baseline": 6, "note": "fewer than 2 observations in a group"}])
    f = fg.rq3_shifts(sh)
    assert len(f.axes[0].get_yticklabels()) == 1 and "1 shift(s) without an estimable d not shown" in texts(f)
    assert fg.rq3_shifts(sh.iloc[[1]]) is None
    plt.close("all")


def test_profiles_show_only_groups_with_data_with_a_ci_and_n_and_fit_the_axis_to_the_data():
    """Old design: a row per condition (mostly empty rows for behaviours measured only at baseline), 6-pt labels,
    no interval, the x axis fixed to the whole scale (0-32 cards for values between 13 and 15)."""
    df = synth(n_models=1, n_conditions=6, temps=(0.0,), n_persona_conditions=3).to_pandas()
    df.loc[df["condition_type"] == "persona", "bh_hon_ece"] = np.nan  # measured at baseline only
    f = fg.profiles(df, ["bh_hon_ece", "bh_cct_cards"])
    acc, cct = f.axes[0], f.axes[1]
    assert [t.get_text().split("\n")[0] for t in acc.get_yticklabels()] == ["baseline prompts"]
    assert "n = 6" in acc.get_yticklabels()[0].get_text() and "no data under" in acc.get_title()
    assert len(acc.containers) == 1  # the mean with its CI bar
    x = df["bh_cct_cards"].dropna()
    lo, hi = cct.get_xlim()
    assert lo <= x.min() and hi >= x.max()  # covers the data
    assert (hi - lo) <= max(3 * (x.max() - x.min()), 0.25 * 32 * 1.2)  # and not the whole 0-32 scale
    plt.close("all")


def test_cct_choices_fit_the_axes_to_the_data_and_show_a_ci_and_n():
    """The reference figure kept fixed 0-32 axes for optima 0-6 and choices 10-13, and its means had no CI."""
    rng = np.random.default_rng(1)
    items = pd.DataFrame([{"task": "cct", "item_id": f"s{o}", "condition": f"{c}_{k}", "optimum": o,
                           "value": 10 + 3 * rng.random()}
                          for o in (0, 3, 6) for c in ("baseline", "persona") for k in range(4)])
    f = fg.cct_choices(items)
    ax = f.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < -0.3 and x1 > 6.3 and x1 - x0 < 10  # the optima, not 0-32
    assert y0 < items["value"].min() and y1 > items["value"].max() and y0 > 5 and y1 < 20
    assert len(ax.containers) == 2  # CI bars for both condition types
    assert "n = 4-4 rows per point" in texts(f) and "0 without a CI" in texts(f)
    plt.close("all")


def test_every_figure_has_labels_of_at_least_8_pt_as_a_report_shows_them():
    from analysis.core.figures import small_texts

    df = synth(persona_sr_shift=2.0, n_models=2, n_conditions=4, temps=(0.0,), n_persona_conditions=2,
               roles={0: "base"})
    units = df.to_pandas()
    rq1 = st.rq1_base_vs_aligned(df, [{"base": "m0", "instruct": "m1"}])
    rq2 = st.rq2_trait_behaviour(synth(n_models=3, n_conditions=10, temps=(0.0,)), st.load_expected_signs())
    items = pd.DataFrame({"task": ["cct"] * 3, "item_id": ["a", "b", "c"], "condition": ["baseline_x"] * 3,
                          "value": [3.0, 10.0, 0.0], "optimum": [5, 12, 0]})
    figs = {"profiles": fg.profiles(units, ["sr_A", "sr_E", "bh_cct_cards"], title="t"),
            "rq1": fg.rq1_means(rq1["pooled"], None, rq1["variability"]),
            "rq2": fg.rq2_heatmap(rq2["tests"]), "rq3": fg.rq3_shifts(st.rq3_persona(df)["shifts"]),
            "check": fg.persona_check(st.persona_checks(synth(n_models=2, n_conditions=4, temps=(0.0,),
                                                              n_persona_conditions=2, sampled=True))),
            "cct": fg.cct_choices(items)}
    for name, f in figs.items():
        assert f is not None, name
        assert small_texts(f) == [], name
    plt.close("all")


def _many_checks(traits, strategies, n_models=12, triplets=3):
    rng = np.random.default_rng(3)
    rows = [{"model": f"m{m}", "condition": f"persona_{t}_{s}_t{k}", "persona_trait": t, "d": d,
             "d_ci_low": d - 1, "d_ci_high": d + 1, "n_persona": 9, "n_baseline": 27, "against_design": d < 0,
             "note": np.nan}
            for t in traits for s in strategies for m in range(n_models) for k in range(1, triplets + 1)
            for d in [float(rng.normal(1, 1))]]
    return pd.DataFrame(rows)


def test_a_persona_check_with_hundreds_of_rows_is_summarised_per_trait_and_strategy(tmp_path):
    """The Han et al. re-analysis drew 216 rows (1128 x 11,400 px)."""
    checks = _many_checks(["agreeableness", "self_regulation"], ["character", "description", "identity"])
    assert len(checks) == 216
    f = fg.persona_check(checks, tmp_path / "chk.png")
    ticks = [t.get_text() for t in f.axes[0].get_yticklabels()]
    assert len(ticks) == 6 and all("n = 12 models, 36 conditions" in t for t in ticks)
    assert "self_regulation / identity" in "\n".join(ticks) and "median d" in texts(f)
    assert f.get_size_inches()[1] <= fg.MAX_HEIGHT
    g = checks[(checks["persona_trait"] == "agreeableness") & checks["condition"].str.contains("_character_")]
    assert any(np.isclose(x, g["d"].median()) for x in f.axes[0].lines[0].get_xdata())


def test_a_persona_check_too_large_even_when_summarised_is_not_drawn(tmp_path, capsys):
    checks = _many_checks([f"trait{i}" for i in range(11)], ["a", "b", "c"], n_models=2, triplets=1)
    assert fg.persona_check(checks, tmp_path / "chk.png") is None
    assert "33 trait x strategy groups are too many rows" in capsys.readouterr().out


def test_rq2_cells_show_each_tested_slope_with_its_ci_and_n():
    rq2 = st.rq2_trait_behaviour(synth(n_models=3, n_conditions=10, temps=(0.0,)), st.load_expected_signs())
    t = rq2["tests"]
    f = fg.rq2_heatmap(t)
    cells = [x.get_text() for x in f.axes[0].texts]
    fitted = t[t["p"].notna()]
    assert len(fitted) and sum("[" in c and "]" in c and "n = " in c for c in cells) == \
        int((fitted["ci_low"].notna() & fitted["ci_high"].notna()).sum())
    r = fitted.iloc[0]
    assert any(f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]\nn = {int(r['n'])}" in c for c in cells)
    assert "CI" in f.axes[0].get_title()
    plt.close("all")
