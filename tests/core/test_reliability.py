import math

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from analysis.core.stats.reliability import cronbach_alpha, mcdonald_omega


def congeneric(n, loadings, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    return pd.DataFrame({f"i{j}": lam * f + rng.normal(scale=math.sqrt(1 - lam**2), size=n) for j, lam in enumerate(loadings)})


def test_alpha_matches_pingouin_and_ci_contains_it():
    x = congeneric(300, [0.7] * 6)
    a = cronbach_alpha(x)
    assert a["alpha"] == pytest.approx(pg.cronbach_alpha(x)[0], abs=1e-9)
    assert a["ci_low"] < a["alpha"] < a["ci_high"] and a["n"] == 300 and a["k"] == 6


def test_omega_recovers_population_value():
    lam = np.array([0.8, 0.7, 0.6, 0.5, 0.4])
    truth = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum())
    o = mcdonald_omega(congeneric(5000, lam, seed=1))
    assert o["omega"] == pytest.approx(truth, abs=0.02)


def test_unrelated_items_have_low_alpha():
    rng = np.random.default_rng(2)
    x = pd.DataFrame(rng.normal(size=(500, 6)))
    assert abs(cronbach_alpha(x)["alpha"]) < 0.15


def test_degenerate_inputs_are_reported_not_crashed():
    const = pd.DataFrame({"a": [3.0] * 10, "b": [3.0] * 10, "c": [3.0] * 10})
    assert math.isnan(cronbach_alpha(const)["alpha"]) and "variance" in cronbach_alpha(const)["note"]
    x = congeneric(4, [0.7] * 6)
    assert "more participants" in mcdonald_omega(x)["note"]
    missing = congeneric(50, [0.7] * 4)
    missing.iloc[0, 0] = np.nan
    assert cronbach_alpha(missing)["n"] == 49
