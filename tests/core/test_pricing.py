"""Issue 21: the cost of a plan before the run: the token estimate against the engine's real counts, the price
table (one sentence for each kind of bad entry), and the arithmetic of interactive and batch prices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis.core.errors import ParamsError
from analysis.core.models import GenOptions
from analysis.core.planning import _DryTarget, estimate_tokens, prompt_text
from analysis.core.pricing import PRICES_FILE, cached_tokens, costs, load_prices, render_costs
from analysis.core.tokens import SharedPrefixes, common_prefix

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "data/published/responses.parquet"


def test_the_estimate_is_close_to_the_tokens_the_engine_counted():
    """The reference run recorded each prompt's token count as the engine saw it (chat template included): the
    characters / 4 estimate must be within 15% in total and within 25% for nine calls in ten."""
    calls = pl.read_parquet(PUBLISHED)
    est, real = [], []
    for r in calls.iter_rows(named=True):
        msgs = json.loads(r["messages"])
        est.append(estimate_tokens(sum(len(m["content"]) for m in msgs), len(msgs)))
        real.append(json.loads(r["meta"])["prompt_eval_count"])
    est, real = np.array(est), np.array(real)
    assert len(real) > 1000
    assert 0.85 < est.sum() / real.sum() < 1.15
    assert np.mean(np.abs(est / real - 1) < 0.25) > 0.9


def _plan(model="openai:m@http://x/v1", single=(10, 1_000_000, 500_000), conv=(2, 2_000_000, 0)):
    return pl.DataFrame([{"stage": "collect@s", "model": model, "part": "total",
                          "single_calls": single[0], "single_prompt_tokens": single[1], "single_output_tokens": single[2],
                          "conversation_calls": conv[0], "conversation_prompt_tokens": conv[1],
                          "conversation_output_tokens": conv[2]}])


def _write(tmp_path, text):
    p = tmp_path / "prices.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_interactive_and_batch_cost_by_hand(tmp_path):
    prices = load_prices(_write(tmp_path, "models:\n  openai:m:\n    input: 2.0\n    output: 8.0\n"
                                          "    batch_input: 1.0\n    batch_output: 4.0\n"))
    r = costs(_plan(), prices).row(0, named=True)
    # 3M prompt tokens at $2, 0.5M output at $8; with the batch API the single calls at half, the conversation not
    assert r["usd"] == pytest.approx(3 * 2.0 + 0.5 * 8.0)
    assert r["usd_batch"] == pytest.approx(1 * 1.0 + 0.5 * 4.0 + 2 * 2.0)
    assert (r["calls"], r["prompt_tokens"], r["output_tokens_max"]) == (12, 3_000_000, 500_000)
    text = render_costs(costs(_plan(), prices))
    assert "$10.00 interactive, $7.00 with a Batch API" in text and "2 continue a conversation" in text


def test_no_price_and_embedded_models(tmp_path):
    r = costs(_plan(), {}).row(0, named=True)
    assert r["usd"] is None and "no price" in r["note"]
    assert "price unknown" in render_costs(costs(_plan(), {})) and "not included" in render_costs(costs(_plan(), {}))
    e = costs(_plan(model="embedded:qwen2.5-coder-1.5b"), {}).row(0, named=True)
    assert e["usd"] == 0.0 and "no charge" in e["note"]
    only = load_prices(_write(tmp_path, "models:\n  openai:m:\n    input: 1\n    output: 1\n"))
    assert costs(_plan(), only).row(0, named=True)["usd_batch"] is None  # no batch price: not invented


@pytest.mark.parametrize("body, says", [
    ("models:\n  openai:m:\n    input: 1\n", "has no output price"),
    ("models:\n  openai:m:\n    input: -1\n    output: 1\n", "give a number >= 0"),
    ("models:\n  openai:m:\n    input: .nan\n    output: 1\n", "give a number >= 0"),
    ("models:\n  openai:m:\n    input: 1\n    output: 1\n    batch_input: 1\n", "give both or neither"),
    ("models:\n  openai:m:\n    input: 1\n    output: 1\n    cached: 1\n", "unknown key(s) cached"),
    ("models:\n  openai:m: 3\n", "must be a mapping"),
    ("models:\n  openai:m:\n    input: 1\n    output: 1\n    cached_input: -0.1\n", "cached_input is -0.1; give a number >= 0"),
    ("models:\n  openai:m:\n    input: 1\n    output: 1\n    cached_input: 0.1\n    cache_min_tokens: 0\n",
     "cache_min_tokens is 0; give a whole number of tokens >= 1"),
    ("models:\n  openai:m:\n    input: 1\n    output: 1\n    cached_input: 0.1\n    cache_min_tokens: 1024.5\n",
     "give a whole number of tokens"),
    ("models:\n  openai:m:\n    input: 1\n    output: 1\n    cached_input: 0.1\n    cache_min_tokens: true\n",
     "give a whole number of tokens"),
    ("models:\n  openai:m:\n    input: 1\n    output: 1\n    cache_min_tokens: 1024\n",
     "gives cache_min_tokens but no cached_input price"),
    ("- a\n- b\n", "must be a mapping"),
])
def test_a_bad_price_table_is_one_sentence(tmp_path, body, says):
    with pytest.raises(ParamsError) as e:
        load_prices(_write(tmp_path, body))
    assert says in str(e.value) and "\n" not in str(e.value)


def test_the_shipped_table_is_empty_and_a_missing_given_table_is_refused(tmp_path):
    assert PRICES_FILE.exists() and load_prices() == {}  # no price ships filled in
    with pytest.raises(ParamsError, match="does not exist"):
        load_prices(tmp_path / "nope.yaml")


# ---- cached input: the prompt tokens a provider's cache could serve ----------------------------------------


def _msgs(system: str, user: str) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


class _Real:
    """What a dry run's target needs of the real one: nothing but its attributes."""

    spec = "openai:m"


def test_the_cacheable_prefix_of_each_prompt_by_hand():
    """On the characters / 4 scale (a message header is 4 tokens, 16 characters): a system message of 4,784
    characters is 4 + 1,196 = 1,200 tokens; two prompts that share it and the user header share 1,204 tokens; a
    third whose system message is 3,184 characters shares 4 + 796 = 800 tokens with them (its user header follows
    where theirs have more system text). The first prompt shares nothing."""
    dry = _DryTarget(_Real())
    for msgs in (_msgs("S" * 4784, "1. How are you?"), _msgs("S" * 4784, "2. How are you?"),
                 _msgs("S" * 3184, "3. How are you?")):
        dry.chat(msgs, GenOptions(max_tokens=8))
    assert dry.prefix_tokens == [1204, 800]
    assert len(prompt_text(_msgs("S" * 4784, "x"))) // 4 == estimate_tokens(4784 + 1, 2) - 1  # same scale, rounded
    assert cached_tokens(dry.prefix_tokens) == 1204  # OpenAI's 1,024-token minimum: the 800-token prefix is not cached
    assert cached_tokens(dry.prefix_tokens, 800) == 2004 and cached_tokens([], 1) == 0


def test_the_cost_with_cached_input_by_hand(tmp_path):
    prices = load_prices(_write(tmp_path, "models:\n  openai:m:\n    input: 2.0\n    output: 8.0\n"
                                          "    cached_input: 0.5\n"))
    plan = _plan().with_columns(pl.Series("prefix_tokens", [[600_000, 1000, 400_000]]))
    r = costs(plan, prices).row(0, named=True)
    # 1,000,000 of the 3M prompt tokens from the cache at $0.5 (the 1,000-token prefix is below 1,024), 2M at $2
    assert r["cached_tokens"] == 1_000_000
    assert r["usd_cached"] == pytest.approx(2 * 2.0 + 1 * 0.5 + 0.5 * 8.0)
    assert r["usd"] == pytest.approx(3 * 2.0 + 0.5 * 8.0) and r["usd_batch"] is None  # the other columns as before
    text = render_costs(costs(plan, prices))
    assert ("$10.00 interactive; batch price unknown, $8.50 interactive at best with a prompt cache (a lower bound: it "
            "serves at most the ~1,000,000 prompt tokens shared with earlier prompts, estimated from characters / 4)"
            in text)
    assert "$8.50 interactive at best with cached input where a cached price is given (a lower bound)" in text
    lower = load_prices(_write(tmp_path, "models:\n  openai:m:\n    input: 2.0\n    output: 8.0\n"
                                         "    cached_input: 0.5\n    cache_min_tokens: 1000\n"))
    assert costs(plan, lower).row(0, named=True)["cached_tokens"] == 1_001_000
    # no cached price: no such column filled, and the total line does not mention it
    plain = load_prices(_write(tmp_path, "models:\n  openai:m:\n    input: 2.0\n    output: 8.0\n"))
    assert costs(plan, plain).row(0, named=True)["usd_cached"] is None
    assert "cached" not in render_costs(costs(plan, plain))


def test_an_anthropic_model_gets_no_cached_cost(tmp_path):
    """No request carries cache_control, so Anthropic reads nothing from its cache: no cached cost, said in its line."""
    prices = load_prices(_write(tmp_path, "models:\n  anthropic:claude-x:\n    input: 3.0\n    output: 15.0\n"
                                          "    cached_input: 0.3\n"))
    plan = _plan("anthropic:claude-x").with_columns(pl.Series("prefix_tokens", [[600_000, 400_000]]))
    r = costs(plan, prices).row(0, named=True)
    assert (r["cached_tokens"], r["usd_cached"]) == (None, None) and r["usd"] == pytest.approx(3 * 3.0 + 0.5 * 15.0)
    text = render_costs(costs(plan, prices))
    assert "; no cached cost: its requests carry no cache_control, so Anthropic reads nothing from its cache" in text
    assert "at best" not in text


def test_shared_prefixes_are_the_longest_with_any_earlier_sequence():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ab"), size=rng.integers(0, 12))) for _ in range(300)]
    index = SharedPrefixes()
    got = [index.add(x) for x in seqs]
    want = [max((common_prefix(x, y) for y in seqs[:i]), default=0) for i, x in enumerate(seqs)]
    assert got == want
