"""analysis.core.parallel.map_fork: the loop's results, in its order, from forked workers."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.core import parallel
from analysis.core.stats.mixed import fit_mixedlm


def _pid_and_square(x):
    return os.getpid(), x * x


def _warn(i):
    warnings.warn(f"item {i}", UserWarning, stacklevel=1)
    return i


def _boom(i):
    if i == 3:
        raise ValueError("item 3 is bad")
    return i


def _fit(seed):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(6), 8)
    x = rng.normal(size=len(g))
    d = pd.DataFrame({"g": g, "x": x, "y": 0.4 * x + rng.normal(size=6)[g] + rng.normal(size=len(g))})
    return fit_mixedlm("y ~ x", d, "g").table


needs_two = pytest.mark.skipif(parallel.cores() < 2, reason="one core: map_fork is the loop")


@needs_two
def test_results_are_the_loops_in_its_order_from_other_processes():
    out = parallel.map_fork(_pid_and_square, [(i,) for i in range(20)])
    assert [sq for _, sq in out] == [i * i for i in range(20)]
    assert os.getpid() not in {pid for pid, _ in out}


def test_one_core_few_items_or_switched_off_is_the_loop(monkeypatch):
    assert {pid for pid, _ in parallel.map_fork(_pid_and_square, [(1,), (2,)])} == {os.getpid()}  # below min_items
    monkeypatch.setenv("PSY_PARALLEL", "0")
    assert parallel.cores() == 1
    out = parallel.map_fork(_pid_and_square, [(i,) for i in range(10)])
    assert {pid for pid, _ in out} == {os.getpid()} and [sq for _, sq in out] == [i * i for i in range(10)]


@needs_two
def test_warnings_come_back_in_item_order():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert parallel.map_fork(_warn, [(i,) for i in range(8)]) == list(range(8))
    assert [str(w.message) for w in caught] == [f"item {i}" for i in range(8)]


@needs_two
def test_an_error_in_a_worker_is_raised_here():
    with pytest.raises(ValueError, match="item 3 is bad"):
        parallel.map_fork(_boom, [(i,) for i in range(8)])


@needs_two
def test_mixed_model_fits_are_bit_identical_to_the_loop():
    loop = [_fit(s) for s in range(6)]
    forked = parallel.map_fork(_fit, [(s,) for s in range(6)])
    for a, b in zip(loop, forked):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_polars_frames_are_refused_before_any_fork():
    import polars as pl

    with pytest.raises(TypeError, match="pass pandas or numpy data"):
        parallel.map_fork(_pid_and_square, [(pl.DataFrame({"a": [1]}),)] * 5)
