"""The exact tempered option distribution against sampled generation on the real 0.5B model: a card
count from 0 to 32 is several tokens for Qwen (one per digit), so this exercises the token tree."""

import math
import re

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models import GenOptions
from analysis.core.store import ResponseStore

pytestmark = pytest.mark.model
SPEC = "embedded:qwen2.5-coder-0.5b"
MSG = [{"role": "user", "content": (
    "You play a card game with 32 face-down cards. Each card you turn over wins you 10 points, but if you "
    "turn over one of the 3 loss cards you lose 250 points and the round ends. How many cards do you turn "
    "over? Reply with a single number from 0 to 32 and nothing else.")}]
OPTIONS = [str(k) for k in range(33)]


def first_number(text: str) -> int | None:
    m = re.match(r"\s*(\d+)", text)
    return int(m.group(1)) if m and int(m.group(1)) <= 32 else None


@pytest.fixture(scope="module")
def el(tmp_path_factory):
    e = Elicitor.from_spec(SPEC, ResponseStore(tmp_path_factory.mktemp("t") / "s.sqlite"))
    e.progress = False
    return e


def test_greedy_generation_equals_temperature_zero(el):
    op = el.option_probs(MSG, OPTIONS)
    assert op.valid
    greedy = first_number(el.generate(MSG, GenOptions(temperature=0.0, max_tokens=4)).text)
    cold = op.at_temperature(0)
    assert greedy is not None and cold[str(greedy)] == 1.0


def test_sampled_generation_matches_tempered_expectation(el):
    t = 0.8
    op = el.option_probs(MSG, OPTIONS)
    exact = op.expected_at(t)
    # sampling as the tree assumes: top-k = the 20 log-probabilities read, no top-p / min-p truncation
    opts = GenOptions(temperature=t, max_tokens=4, top_k=20, top_p=1.0, min_p=0.0)
    vals = [first_number(el.generate(MSG, opts, sample=s).text) for s in range(150)]
    vals = [v for v in vals if v is not None]
    assert len(vals) >= 100
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    se = sd / math.sqrt(len(vals))
    # within 4 standard errors plus what the truncation beyond the top-20 tokens can move
    assert abs(mean - exact) < 4 * se + 32 * op.truncated + 0.25, (mean, exact, se, op.truncated)
