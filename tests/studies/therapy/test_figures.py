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
