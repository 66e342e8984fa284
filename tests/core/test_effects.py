import numpy as np
import pytest

from analysis.core.stats.effects import cohen_d, hedges_g
from analysis.core.stats.multiplicity import adjust


def test_cohen_d_known_value_and_ci_coverage():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        x, y = rng.normal(0.5, 1, 40), rng.normal(0, 1, 40)
        r = cohen_d(x, y)
        covered += r["d_ci_low"] <= 0.5 <= r["d_ci_high"]
    assert 0.90 <= covered / 200 <= 0.99


def test_cohen_d_exact_and_hedges_smaller():
    x, y = [2, 4, 6], [1, 2, 3]
    r = cohen_d(x, y)
    sp = np.sqrt((4 + 1) / 2)
    assert r["d"] == pytest.approx(2 / sp)
    g = hedges_g(x, y)
    assert abs(g["g"]) < abs(r["d"]) and g["n1"] == 3


def test_null_effect_ci_contains_zero_mostly():
    rng = np.random.default_rng(1)
    hits = sum(cohen_d(rng.normal(size=30), rng.normal(size=30))["d_ci_low"] <= 0 for _ in range(50))
    assert hits > 40


def test_degenerate_groups():
    assert "fewer than 2" in cohen_d([1], [1, 2])["note"]
    assert "no variance" in cohen_d([1, 1], [1, 1])["note"]


def test_adjust_keeps_nans():
    p = adjust([0.01, np.nan, 0.04, 0.03], "holm")
    assert np.isnan(p[1]) and p[0] == pytest.approx(0.03) and p[2] == pytest.approx(0.06)
