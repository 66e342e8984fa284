import itertools
from fractions import Fraction

import polars as pl
import pytest

from analysis.studies.illusion.tasks import cct as cct


def brute_force_ev(n_cards, n_loss, gain, loss, k):
    """Average payoff over every distinct arrangement of loss cards in the deck."""
    total, count = Fraction(0), 0
    for pos in itertools.combinations(range(n_cards), n_loss):
        first = min(pos)
        pay = k * gain if first >= k else first * gain - loss
        total += pay
        count += 1
    return total / count


@pytest.mark.parametrize("n_cards,n_loss,gain,loss", [(6, 1, 10, 25), (7, 2, 20, 30), (8, 3, 30, 50)])
def test_expected_value_matches_brute_force(n_cards, n_loss, gain, loss):
    s = cct.Scenario("x", n_cards, n_loss, gain, loss)
    for k in range(n_cards + 1):
        assert cct.expected_value(s, k) == brute_force_ev(n_cards, n_loss, gain, loss, k)


def test_design_has_27_scenarios_and_known_optima():
    sc = cct.load_scenarios()
    assert len(sc) == 27
    assert {(s.n_loss, s.gain, s.loss) for s in sc} == set(itertools.product([1, 3, 5], [10, 20, 30], [250, 500, 750]))
    opt = {(s.n_loss, s.gain, s.loss): cct.ev_optimal(s) for s in sc}
    # more loss cards or a bigger loss never makes more cards optimal; a bigger gain never fewer
    for (nl, g, loss), k in opt.items():
        if nl < 5:
            assert opt[(nl + 2, g, loss)] <= k
        if loss < 750:
            assert opt[(nl, g, loss + 250)] <= k
        if g < 30:
            assert opt[(nl, g + 10, loss)] >= k
    # a risky deck (5 losses, small gain, big loss): turning no card is optimal
    assert opt[(5, 10, 750)] == 0
    s = next(s for s in sc if (s.n_loss, s.gain, s.loss) == (1, 30, 250))
    curve = cct.ev_curve(s)
    k = cct.ev_optimal(s)
    assert curve[k] == max(curve) and 0 < k < 32


@pytest.mark.parametrize("n", [3, 6, 9])
def test_subsample_balanced(n):
    sc = cct.load_scenarios()
    sub = cct.subsample(sc, n)
    assert len(sub) == n and len(set(sub)) == n
    for f in ("n_loss", "gain", "loss"):
        vals = [getattr(s, f) for s in sub]
        assert len(set(vals)) == 3 and all(vals.count(v) == n // 3 for v in set(vals))
    if n == 9:  # a Latin square: every pair of factors crossed once
        for a, b in (("n_loss", "gain"), ("n_loss", "loss"), ("gain", "loss")):
            assert len({(getattr(s, a), getattr(s, b)) for s in sub}) == 9
    assert cct.subsample(sc, None) == sc and len(cct.subsample(sc, 4)) == 4


@pytest.mark.parametrize("text,expected", [
    ("7", 7), ("I would turn over 12 cards.", 12), ("**0**", 0), ("32", 32), ("33", None),
    ("-3", None), ("7.5 cards", None), ("Five cards.", 5), ("twenty-one", 21), ("thirty two", 32),
    ("I choose 40 cards, or maybe 5", None), ("", None), ("No idea.", None), ("I'd pick 3 of the 32 cards", 3),
])
def test_parse_cards(text, expected):
    assert cct.parse_cards(text) == expected


def test_expectations_and_score():
    dist = {str(k): 0.0 for k in range(33)}
    dist["4"], dist["10"] = 0.25, 0.75
    assert cct.expected_cards(dist) == pytest.approx(8.5)
    assert cct.expected_distance(dist, 6) == pytest.approx(0.25 * 2 + 0.75 * 4)
    rows = pl.DataFrame({"cards": [4.0, None, 10.0], "distance": [1.0, None, 3.0]})
    s = cct.score(rows)
    assert s["bh_cct_cards"] == pytest.approx(7.0) and s["bh_cct_dist_opt"] == pytest.approx(2.0)
    assert s["bh_cct_n_valid"] == 2 and s["bh_cct_n_items"] == 3


def test_prompt_mentions_the_numbers():
    s = cct.Scenario("x", 32, 3, 20, 500)
    p = cct.prompt(s)
    assert "29 gain cards" in p and "3 loss cards" in p and "20 points" in p and "500 points" in p
