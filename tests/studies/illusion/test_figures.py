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
    assert f.axes[0].get_xlim()[0] < 1 and f.axes[0].get_xlim()[1] > 5  # the full 1-5 scale
    rq1 = st.rq1_base_vs_aligned(df, [{"base": "m0", "instruct": "m1"}])
    f = fg.rq1_means(rq1["pooled"], tmp_path / "rq1.png")
    assert "n = " in texts(f) and "no difference" in texts(f)
    f = fg.rq3_shifts(st.rq3_persona(df)["shifts"], tmp_path / "rq3.png")
    assert "n = " in texts(f) and "no shift" in texts(f)
    f = fg.persona_check(st.persona_checks(df), tmp_path / "chk.png")
    assert "n = " in texts(f)
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
