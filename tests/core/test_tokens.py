"""Issue 21: prompt tokens as the engine sees them, the least a set of prompts needs evaluated (a prefix trie),
and the tokens a single cached slot evaluates in a given order, each checked against an independent reference:
brute-force prefix sets, the engine's own recorded prompt counts, and the engine's reported evaluated tokens."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from analysis.core.tokens import common_prefix, single_slot_evaluated, stage_of, trie_size

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "data/published/responses.parquet"


def _random_prompts(rng: random.Random, n: int) -> list[tuple[int, ...]]:
    stems = [tuple(rng.randrange(5) for _ in range(rng.randrange(0, 6))) for _ in range(4)]
    return [rng.choice(stems) + tuple(rng.randrange(5) for _ in range(rng.randrange(1, 6))) for _ in range(n)]


def test_trie_size_counts_every_distinct_prefix_once():
    rng = random.Random(7)
    for _ in range(200):
        seqs = _random_prompts(rng, rng.randrange(1, 12))
        brute = {s[:k] for s in seqs for k in range(1, len(s) + 1)}
        assert trie_size(seqs) == len(brute)


def test_a_single_slot_in_sorted_order_reaches_the_minimum_and_any_order_costs_at_least_that():
    rng = random.Random(11)
    for _ in range(200):
        seqs = list({s for s in _random_prompts(rng, rng.randrange(1, 12))})
        # sorted, a prompt never follows one that extends it, so no prompt is wholly cached
        assert single_slot_evaluated(sorted(seqs)) == trie_size(seqs)
        shuffled = seqs[:]
        rng.shuffle(shuffled)
        assert single_slot_evaluated(shuffled) >= trie_size(seqs)
        # by hand: each prompt pays for what follows its common prefix with the one before
        cost, prev = 0, ()
        for s in shuffled:
            cost += len(s) - min(common_prefix(prev, s), len(s) - 1)
            prev = s
        assert single_slot_evaluated(shuffled) == cost


def test_stage_of_maps_tags_to_collection_stages():
    assert [stage_of(t) for t in ("illusion:cct", "therapy/session", "sycophancy_stance", "ipip_neo_120", None)] == [
        "illusion", "therapy", "sycophancy", "ipip_neo_120", "(no tag)"]


def test_a_token_table_is_per_model():
    from analysis.core.tokens import stage_table

    calls = pl.DataFrame({"model": ["a", "b"], "created_at": [1, 2], "tag": ["x", "x"], "messages": ["[]", "[]"]})
    with pytest.raises(ValueError, match="the calls are of 2 models"):
        stage_table(calls, None)


@pytest.fixture(scope="module")
def tok_15b():
    pytest.importorskip("gguf")
    from analysis.core.models.embedded import gguf_path
    from analysis.core.tokens import GGUFTokenizer

    return GGUFTokenizer(gguf_path("qwen2.5-coder-1.5b"))


@pytest.mark.model
def test_the_gguf_tokenizer_and_template_count_every_published_prompt_as_the_engine_did(tok_15b):
    """The engine recorded each prompt's token count (``prompt_eval_count``) when the reference run was made; the
    tokenizer rebuilt from the GGUF file and its chat template (with assistant prefills) must give the same."""
    calls = pl.read_parquet(PUBLISHED)
    wrong = []
    for r in calls.iter_rows(named=True):
        want = json.loads(r["meta"])["prompt_eval_count"]
        got = len(tok_15b.prompt_ids(r["messages"]))
        if got != want:
            wrong.append((r["tag"], want, got))
    assert calls.height > 1000 and not wrong, f"{len(wrong)} of {calls.height} prompts counted differently: {wrong[:3]}"
    assert any(json.loads(m)[-1]["role"] == "assistant" for m in calls["messages"])  # prefills were covered


@pytest.mark.model
def test_the_embedded_engine_reports_what_the_single_slot_model_predicts(tmp_path):
    """The engine's own counts of evaluated and cached prompt tokens, recorded with every answer, equal the
    single-slot simulation over shared system prompts and a prefill, and are never above it."""
    from analysis.core.elicit import Elicitor
    from analysis.core.models import GenOptions
    from analysis.core.models.embedded import gguf_path
    from analysis.core.store import ResponseStore
    from analysis.core.tokens import GGUFTokenizer

    tok = GGUFTokenizer(gguf_path("qwen2.5-coder-0.5b"))
    el = Elicitor.from_spec("embedded:qwen2.5-coder-0.5b", ResponseStore(tmp_path / "s.sqlite"))
    el.progress = False
    sys_a = {"role": "system", "content": "You are a careful person who answers questions about tea."}
    sys_b = {"role": "system", "content": "You are a bold person who answers questions about coffee."}
    q = [{"role": "user", "content": f"On a scale of 1 to 5, how much do you like item {i}? Reply with one digit."} for i in range(3)]
    convs = [[sys_a, q[0]], [sys_a, q[1]], [sys_a, q[1], {"role": "assistant", "content": "Answer:"}],
             [sys_b, q[1]], [sys_b, q[2]], [sys_a, q[2]]]
    texts = []
    for i, c in enumerate(convs):
        r = el.generate(c, GenOptions(max_tokens=4), sample=i)  # distinct keys: every call reaches the engine
        texts.append(r.text)
    # the first call may reuse the cache of an earlier test in this process: skip it in the comparison
    metas = [json.loads(m) for m in el.store.export().sort("created_at")["meta"]]
    prompts = [tok.prompt_ids(c) for c in convs]
    replies = [tok.ids(t) for t in texts]
    evaluated = [m["prompt_evaluated"] for m in metas]
    assert [m["prompt_tokens"] for m in metas] == [len(p) for p in prompts]
    assert [m["prompt_evaluated"] + m["prompt_cached"] for m in metas] == [len(p) for p in prompts]
    sim = [single_slot_evaluated(prompts[i - 1:i + 1], replies[i - 1:i + 1]) - single_slot_evaluated(
        prompts[i - 1:i], replies[i - 1:i]) for i in range(1, len(prompts))]
    # in call order the engine evaluates what follows the common prefix with the call before ...
    assert evaluated[1:-1] == sim[:-1]
    # ... and never more: going back to system prompt A after B, llama.cpp may restore A's prefix from its
    # host-memory prompt cache (so the single-slot count is an upper bound, and the trie minimum a lower one)
    assert evaluated[-1] <= sim[-1]
    # every token of the trie off the first prompt's path is evaluated at least once by the later calls (the first
    # call itself may take its prefix from an earlier test's cache in this process: seen in the full suite)
    assert sum(evaluated[1:]) >= trie_size(prompts) - len(prompts[0])
    assert el.prompt_tokens["calls_reporting"] == len(convs)
    assert el.prompt_tokens["evaluated"] == sum(evaluated) < el.prompt_tokens["total"]
