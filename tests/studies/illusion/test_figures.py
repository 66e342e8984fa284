import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_stats import synth  # noqa: E402

from analysis.studies.illusion import figures as fig  # noqa: E402
from analysis.studies.illusion import stats as st  # noqa: E402


def test_figures_draw_and_save(tmp_path):
    df = synth(persona_sr_shift=2.0, n_models=2, n_conditions=4, temps=(0.0,), n_persona_conditions=2)
    units = st.collapse_runs(df)
    assert fig.profiles(units, ["sr_A", "bh_cct_cards"], tmp_path / "p.png") is not None
    rq1 = st.rq1_base_vs_aligned(df, [{"base": "m0", "instruct": "m1"}])
    assert fig.rq1_means(rq1["means"], tmp_path / "rq1.png") is not None
    rq2 = st.rq2_trait_behaviour(df, st.load_expected_signs())
    assert fig.rq2_heatmap(rq2["tests"], tmp_path / "rq2.png") is not None
    rq3 = st.rq3_persona(df)
    assert fig.rq3_shifts(rq3["shifts"], tmp_path / "rq3.png") is not None
    items = pd.DataFrame({"task": ["cct"] * 3, "item_id": ["a", "b", "c"], "condition": ["x"] * 3,
                          "value": [3.0, 10.0, 0.0], "optimum": [5, 12, 0]})
    assert fig.cct_choices(items, tmp_path / "cct.png") is not None
    for name in ("p", "rq1", "rq2", "rq3", "cct"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_figures_skip_empty_input():
    assert fig.rq1_means(pd.DataFrame()) is None
    assert fig.rq2_heatmap(pd.DataFrame()) is None
    assert fig.rq3_shifts(pd.DataFrame()) is None
    assert fig.profiles(pd.DataFrame({"condition": [], "model": []}), ["sr_A"]) is None
