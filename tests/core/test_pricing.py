"""Issue 21: the cost of a plan before the run: the token estimate against the engine's real counts, the price
table (one sentence for each kind of bad entry), and the arithmetic of interactive and batch prices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis.core.errors import ParamsError
from analysis.core.planning import estimate_tokens
from analysis.core.pricing import PRICES_FILE, costs, load_prices, render_costs

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
