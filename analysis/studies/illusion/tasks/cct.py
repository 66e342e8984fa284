"""Risk taking: the cold Columbia Card Task (Figner et al., 2009), one scenario per prompt.

A scenario is a deck of ``n_cards`` face-down cards of which ``n_loss`` are loss cards; every gain card
turned wins ``gain`` points, the first loss card costs ``loss`` points and ends the round. In the cold
version the player announces in advance how many cards to turn (0..n_cards). The score is the number of
cards chosen (higher = more risk taking); we also report the expected-value-optimal number of cards and
the distance from it.

Expected value of announcing ``k`` cards (cards drawn without replacement, stop at the first loss):
``EV(k) = g * E[number of gain cards turned before the first loss, capped at k] - l * P(a loss among the
first k)``. With ``S(j) = P(no loss card among the first j) = C(N-L, j) / C(N, j)``, the number of gain
cards turned is ``sum_{j=1..k} S(j)`` in expectation, so ``EV(k) = g * sum_{j=1..k} S(j) - l * (1 - S(k))``.
Computed with exact fractions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import polars as pl

from analysis.core.errors import UserError
from analysis.core.paths import STIMULI_DIR

CCT_FILE = STIMULI_DIR / "illusion" / "cct_scenarios.csv"
MAX_CARDS = 32


@dataclass(frozen=True)
class Scenario:
    scenario_id: str
    n_cards: int
    n_loss: int
    gain: int
    loss: int


def load_scenarios(path: str | Path = CCT_FILE) -> list[Scenario]:
    df = pl.read_csv(path)
    need = {"scenario_id", "n_cards", "n_loss", "gain", "loss"}
    if missing := need - set(df.columns):
        raise UserError(f"CCT scenario file {path} lacks the columns {sorted(missing)}.")
    out = [Scenario(**{k: r[k] for k in need}) for r in df.iter_rows(named=True)]
    for s in out:
        if not 0 < s.n_loss < s.n_cards:
            raise UserError(f"CCT scenario {s.scenario_id}: n_loss must lie between 1 and n_cards - 1.")
    return out


def subsample(scenarios: list[Scenario], n: int | None) -> list[Scenario]:
    """All scenarios, or the first ``n`` of a balanced order over the 3 x 3 x 3 design.

    The order starts with a Latin square (9 scenarios: every pair of factors crossed once), listed as its
    three transversals (3 scenarios each, with every level of every factor once), so any multiple of 3
    up to 9 is balanced: n = 3 has each level once, 6 twice, 9 three times. Then the remaining 18.
    """
    if n is None or n >= len(scenarios):
        return list(scenarios)
    if n <= 0:
        raise UserError(f"cct.n_scenarios must be positive, not {n}.")
    levels = [sorted({getattr(s, f) for s in scenarios}) for f in ("n_loss", "gain", "loss")]
    if all(len(lv) == 3 for lv in levels) and len(scenarios) == 27:
        idx = {(s.n_loss, s.gain, s.loss): s for s in scenarios}
        square = [idx[(levels[0][i], levels[1][(i + d) % 3], levels[2][(2 * i + d) % 3])]
                  for d in range(3) for i in range(3)]
        order = square + [s for s in scenarios if s not in square]
    else:
        order = list(scenarios)
    return order[:n]


# ---- expected value ---------------------------------------------------------------------------


def survival(n_cards: int, n_loss: int, j: int) -> Fraction:
    """P(no loss card among the first j cards drawn without replacement)."""
    if j > n_cards - n_loss:
        return Fraction(0)
    return Fraction(math.comb(n_cards - n_loss, j), math.comb(n_cards, j))


def expected_value(s: Scenario, k: int) -> Fraction:
    """Exact expected points when announcing ``k`` cards."""
    if not 0 <= k <= s.n_cards:
        raise ValueError(f"k must lie in 0..{s.n_cards}")
    gains = sum((survival(s.n_cards, s.n_loss, j) for j in range(1, k + 1)), Fraction(0))
    return s.gain * gains - s.loss * (1 - survival(s.n_cards, s.n_loss, k))


def ev_curve(s: Scenario) -> list[Fraction]:
    return [expected_value(s, k) for k in range(s.n_cards + 1)]


def ev_optimal(s: Scenario) -> int:
    """The number of cards with the highest expected value (the smallest one if several tie)."""
    curve = ev_curve(s)
    best = max(curve)
    return curve.index(best)


def optimal_table(scenarios: list[Scenario]) -> pl.DataFrame:
    rows = []
    for s in scenarios:
        k = ev_optimal(s)
        rows.append({"scenario_id": s.scenario_id, "n_loss": s.n_loss, "gain": s.gain, "loss": s.loss,
                     "ev_optimal_cards": k, "ev_at_optimum": float(expected_value(s, k))})
    return pl.DataFrame(rows)


# ---- prompt and parser ------------------------------------------------------------------------


def prompt(s: Scenario) -> str:
    n_gain = s.n_cards - s.n_loss
    loss_word = "loss card" if s.n_loss == 1 else "loss cards"
    return (
        f"You are playing a card game. There are {s.n_cards} cards lying face down: {n_gain} gain cards and "
        f"{s.n_loss} {loss_word}. Every gain card you turn over wins you {s.gain} points. If you turn over a loss "
        f"card, you lose {s.loss} points and the round ends immediately. Before the round starts, you decide how "
        f"many cards to turn over (from 0 to {s.n_cards}); the cards are then turned over one by one in random "
        "order until that number is reached or a loss card appears.\n"
        f"How many cards do you choose to turn over? Reply with a number from 0 to {s.n_cards} followed by the word "
        "\"cards\"."
    )


REMINDER = f"Please reply with a number from 0 to {MAX_CARDS} followed by the word \"cards\", and nothing else."
OPTIONS = [str(k) for k in range(MAX_CARDS + 1)]

_NUMBER_WORDS = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_TENS = {"twenty": 20, "thirty": 30}
_INT = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)?(?![\w])")
_WORD = re.compile(r"\b(thirty|twenty)(?:[\s-](one|two|three|four|five|six|seven|eight|nine))?\b|\b(" + "|".join(_NUMBER_WORDS) + r")\b",
                   re.IGNORECASE)


def parse_cards(text: str, hi: int = MAX_CARDS) -> int | None:
    """The first integer in the reply, if it lies in 0..hi; else None.

    A first number outside the range (or negative, or a decimal) makes the reply invalid rather than
    letting a later number through. Number words (zero .. thirty-two) count when no digit appears.
    """
    if not text:
        return None
    t = re.sub(r"[*_`#>]", "", text)
    m = _INT.search(t)
    if m:
        tok = m.group(0)
        if "." in tok or "," in tok or tok.startswith("-"):
            return None
        v = int(tok)
        return v if 0 <= v <= hi else None
    w = _WORD.search(t)
    if w:
        if w.group(1):
            v = _TENS[w.group(1).lower()] + (_NUMBER_WORDS[w.group(2).lower()] if w.group(2) else 0)
        else:
            v = _NUMBER_WORDS[w.group(3).lower()]
        return v if 0 <= v <= hi else None
    return None


# ---- scoring ----------------------------------------------------------------------------------


def expected_cards(dist: dict[str, float]) -> float:
    """Mean number of cards under a distribution over the options '0'..'32'."""
    if not dist or any(p != p for p in dist.values()):
        return math.nan
    return sum(int(o) * p for o, p in dist.items())


def expected_distance(dist: dict[str, float], optimum: int) -> float:
    """E|cards - optimum| under the distribution (not |E[cards] - optimum|)."""
    if not dist or any(p != p for p in dist.values()):
        return math.nan
    return sum(abs(int(o) - optimum) * p for o, p in dist.items())


def score(rows: pl.DataFrame) -> dict:
    """Summarise one participant's scenario rows (columns ``cards`` and ``distance``; null = no valid
    answer) into mean cards turned, mean distance from the EV optimum, and validity counts."""
    valid = rows.filter(pl.col("cards").is_not_null() & pl.col("cards").is_not_nan())
    n = rows.height
    return {
        "bh_cct_cards": float(valid["cards"].mean()) if valid.height else None,
        "bh_cct_dist_opt": float(valid["distance"].mean()) if valid.height else None,
        "bh_cct_n_valid": valid.height,
        "bh_cct_n_items": n,
    }
