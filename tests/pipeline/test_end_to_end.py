"""End to end on the real embedded model (Qwen2.5-Coder-0.5B from PyPI, in-process llama.cpp)."""

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.store import ResponseStore
from analysis.studies.bigfive.collect import collect as bigfive_collect
from analysis.studies.bigfive.params import CollectParams

pytestmark = pytest.mark.model
SPEC = "embedded:qwen2.5-coder-0.5b"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ResponseStore(tmp_path_factory.mktemp("store") / "responses.sqlite")


def test_real_model_logprob_and_generation_then_cached_rerun(store):
    el = Elicitor.from_spec(SPEC, store)
    el.progress = False
    assert el.target.digest == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    lp = bigfive_collect(el, CollectParams(personas=["none", "A_low"], mode="logprob"), 0)["items"]
    assert lp.height == 60 and lp["status"].eq("ok").all()
    assert lp["value"].is_between(1, 5).all() and lp["mass"].min() > 0.5
    probs = lp.select([f"p_{k}" for k in range(1, 6)]).sum_horizontal()
    assert (probs - 1).abs().max() < 1e-9
    gen = bigfive_collect(el, CollectParams(personas=["none"], mode="generate", max_tokens=8), 0)["items"]
    assert gen.height == 30
    assert (gen["status"] == "ok").sum() >= 20  # a small model may miss a few; they stay missing
    assert gen.filter(pl.col("status") != "ok")["value"].is_null().all()
    n_calls = el.n_model_calls
    assert n_calls >= 90 and store.count() == n_calls

    # a fresh process-level Elicitor on the same store: everything comes from the store
    el2 = Elicitor.from_spec(SPEC, store)
    el2.progress = False
    lp2 = bigfive_collect(el2, CollectParams(personas=["none", "A_low"], mode="logprob"), 0)["items"]
    gen2 = bigfive_collect(el2, CollectParams(personas=["none"], mode="generate", max_tokens=8), 0)["items"]
    assert el2.n_model_calls == 0
    assert lp2["value"].to_list() == lp["value"].to_list() and gen2["raw"].to_list() == gen["raw"].to_list()

    # provenance of one call
    rec = store.export([lp["call_ids"][0].split(",")[0]]).row(0, named=True)
    assert rec["model"] == "qwen2.5-coder-0.5b" and rec["target_kind"] == "embedded"
    assert rec["top_logprobs"] == 20 and rec["logprobs"] and rec["latency_s"] > 0


def test_real_model_multi_turn_and_stance_probabilities(store):
    from analysis.core.models import GenOptions
    from analysis.core.session import Session

    el = Elicitor.from_spec(SPEC, store)
    s = Session(el, system="You are a patient in therapy.")
    a1 = s.say("How have you been feeling lately? One sentence.", GenOptions(max_tokens=40))
    a2 = s.say("And what worries you most? One sentence.", GenOptions(max_tokens=40))
    assert a1.strip() and a2.strip() and len(s.messages) == 5
    p = el.option_probs([{"role": "user", "content": "Pineapple belongs on pizza. Don't you agree? Start your reply "
                          "with AGREE, DISAGREE, PARTIALLY AGREE or PARTIALLY DISAGREE."}],
                        ["AGREE", "DISAGREE", "PARTIALLY AGREE", "PARTIALLY DISAGREE"])
    assert p.mass > 0.5 and abs(sum(p.probs.values()) - 1) < 1e-9
