"""Option probabilities at any temperature: each token-level step of the option tree is tempered, as a
sampler does, so multi-token answers (CCT card counts, 'PARTIALLY AGREE') are exact at every
temperature, and T = 0 is greedy decoding."""

import math
import random

import pytest

MSG = [{"role": "user", "content": "How many cards? Reply with a number from 0 to 32."}]
OPTIONS = [str(k) for k in range(33)]

# a two-step answer: '1' is the most likely first token, but its mass spreads over 1, 10-19, so the
# most likely WHOLE option is '8'
TREE = {
    "": {"1": 0.45, "8": 0.40, "2": 0.05, "I": 0.10},
    "1": {"2": 0.50, "0": 0.20, " cards": 0.20, "5": 0.10},
    "2": {"0": 0.60, " cards": 0.40},
    "8": {" cards": 0.9, ".": 0.1},
}


def next_token(m):
    prefill = m[-1]["content"] if m[-1]["role"] == "assistant" else ""
    return TREE[prefill]


def sample_reply(rng: random.Random, temperature: float) -> str | None:
    """An independent sampler: temper the next-token distribution step by step, stop at a token that
    cannot continue a number."""
    prefix = ""
    while True:
        dist = TREE.get(prefix)
        if dist is None:
            return prefix
        w = {t: p ** (1 / temperature) for t, p in dist.items()}
        z = sum(w.values())
        r, acc, tok = rng.random() * z, 0.0, None
        for cand, wt in w.items():
            acc += wt
            tok = cand
            if r <= acc:
                break
        if not tok.isdigit():
            return prefix if prefix else None
        prefix += tok


@pytest.mark.parametrize("temperature", [0.3, 0.7, 1.0, 1.5])
def test_tempered_tree_matches_token_level_sampling(make_elicitor, temperature):
    el = make_elicitor(next_token=next_token)
    op = el.option_probs(MSG, OPTIONS)
    exact = op.at_temperature(temperature)
    rng = random.Random(1)
    counts: dict[str, int] = {}
    n = 0
    for _ in range(60_000):
        s = sample_reply(rng, temperature)
        if s in OPTIONS:
            counts[s] = counts.get(s, 0) + 1
            n += 1
    for o in ("1", "10", "12", "15", "2", "20", "8"):
        emp = counts.get(o, 0) / n
        se = math.sqrt(max(exact[o] * (1 - exact[o]), 1e-9) / n)
        assert abs(exact[o] - emp) < 5 * se + 1e-3, (o, exact[o], emp)


def test_greedy_follows_the_most_likely_token_not_the_most_likely_option(make_elicitor):
    el = make_elicitor(next_token=next_token)
    op = el.option_probs(MSG, OPTIONS)
    assert max(op.probs, key=op.probs.get) == "8"  # the whole-option argmax
    cold = op.at_temperature(0)
    assert cold["12"] == 1.0 and sum(cold.values()) == 1.0  # greedy: '1' then '2' then ' cards'
    assert op.expected_at(0) == 12.0


def test_greedy_into_a_non_option_gives_no_answer(make_elicitor):
    el = make_elicitor(next_token=lambda m: {"I": 0.6, "3": 0.4})
    op = el.option_probs(MSG, OPTIONS)
    assert op.valid is False or op.mass < 0.5  # 0.4 on the options: below the validity threshold
    el2 = make_elicitor(next_token=lambda m: {"I": 0.45, "3": 0.3, "4": 0.25}, digest="d2")
    op2 = el2.option_probs(MSG, OPTIONS)
    assert op2.valid
    assert all(math.isnan(v) for v in op2.at_temperature(0).values())
    assert op2.at_temperature(1.0)["3"] == pytest.approx(0.3 / 0.55)


def test_single_token_options_temper_as_before(make_elicitor):
    el = make_elicitor(next_token=lambda m: {"1": 0.1, "2": 0.2, "3": 0.6, "x": 0.1})
    op = el.option_probs(MSG, ["1", "2", "3", "4", "5"])
    half = op.at_temperature(0.5)
    assert half["1"] == pytest.approx(0.01 / (0.01 + 0.04 + 0.36))
    assert op.at_temperature(1.0)["2"] == pytest.approx(op.probs["2"])


def test_truncated_mass_is_reported(make_elicitor):
    tree = {"": {"1": 0.9, "x": 0.05}, "1": {"0": 0.5, " ": 0.3}}  # 0.2 beyond the top tokens after '1'

    def nt(m):
        return tree[m[-1]["content"] if m[-1]["role"] == "assistant" else ""]

    op = make_elicitor(next_token=nt).option_probs(MSG, OPTIONS)
    assert op.truncated == pytest.approx(0.9 * 0.2)
