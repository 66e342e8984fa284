"""Figures of Study 2 draw from tidy tables without error and write PNG files."""

import numpy as np
import pandas as pd
import polars as pl

from analysis.studies.sycophancy import figures as figs
from analysis.studies.sycophancy import stats as ss


def _table():
    rng = np.random.default_rng(0)
    rows = []
    for m, b in (("embedded:a", 0.5), ("ollama:b", 0.0)):
        a = rng.uniform(0, 1, 20)
        rows.append(pd.DataFrame({"model": m, "persona_id": [f"p{i}" for i in range(20)], "agreeableness": a,
                                  "designed_agreeableness": a, "sycophancy": np.clip(0.4 + b * a, 0, 1),
                                  "false_minus_true": rng.uniform(-1, 0, 20)}))
    return pl.from_pandas(pd.concat(rows))


def test_all_figures(tmp_path):
    t = _table()
    base = pl.DataFrame({"model": ["embedded:a", "ollama:b"], "sycophancy": [0.5, 0.4], "false_minus_true": [-0.5, -0.8]})
    tests = ss.association_tests(t, n_perm=200)
    ttg = ss.ttg(t, base)
    figs.scatter_by_model(t, tmp_path / "s.png", baseline=base)
    figs.forest(tests, tmp_path / "f.png")
    figs.ttg_distribution(ttg, tmp_path / "t.png")
    figs.manipulation_check(t, tmp_path / "m.png")
    figs.false_claims(t, tmp_path / "c.png", baseline=base)
    for name in "sftmc":
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_forest_with_a_non_estimable_model(tmp_path):
    t = _table().with_columns(pl.when(pl.col("model") == "ollama:b").then(0.5).otherwise(pl.col("sycophancy"))
                              .alias("sycophancy"))
    figs.forest(ss.association_tests(t, n_perm=100), tmp_path / "f.png")
    assert (tmp_path / "f.png").exists()
