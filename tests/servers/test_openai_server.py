"""The OpenAI-compatible path against a real llama.cpp server on 127.0.0.1 serving the embedded 0.5B GGUF,
reached with an ``openai:NAME@http://127.0.0.1:PORT/v1`` spec.

The Big Five tiny collection (2 personas x 30 items) through the server is compared with the embedded
target (xllamacpp in this process) on the same prompts.

* Default server (``XllamaServer``: llama.cpp's server code from the same xllamacpp build, in its own
  process, one slot): measured identical to the embedded target, every option probability, mass and item
  score equal to within 5e-5 and r = 1.000 in a fresh process; within the whole suite, where earlier tests
  left the in-process engine's prefix cache in another state, option probabilities differed by up to 0.0051.
  Asserted with about three times that room: probabilities 0.015, scores 0.05, persona means 0.025, r >= 0.98.
* ``PSY_TEST_SERVER=llama-server`` (llama-server built from the pinned llama.cpp source, another build whose
  kernels and prefix cache differ): option probabilities differ by at most 0.017 (median 0.004), the expected
  item score by at most 0.057 (median 0.017) on the 1-5 scale, the option mass by at most 0.0004, the persona
  means by at most 0.023; every status agrees; item scores r = 0.989 over scores from 2.88 to 3.61. The most
  likely option agrees in only 50 of 60 items there, because the 0.5B's answer distributions are nearly flat
  (each option 0.09-0.26), so it is not compared. Asserted with about twice that room.
"""

from __future__ import annotations

import os

import pytest

from analysis.core.errors import LogprobsUnsupported, TargetUnavailable
from analysis.core.models import GenOptions
from analysis.core.servers import free_port
from analysis.studies.bigfive.collect import collect
from analysis.studies.bigfive.params import CollectParams

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b"
if os.environ.get("PSY_TEST_SERVER", "xllamacpp") == "llama-server":  # another build of llama.cpp
    TOL_P, TOL_VALUE, TOL_MEAN, TOL_MASS, MIN_R = 0.03, 0.1, 0.05, 0.005, 0.95
else:  # the same build as the embedded engine, behind HTTP; room for the prefix-cache state of the engine in
    # this process, which earlier tests used (README: up to 6.7e-3 on an item score)
    TOL_P, TOL_VALUE, TOL_MEAN, TOL_MASS, MIN_R = 0.015, 0.05, 0.025, 0.002, 0.98
# TOL_P: one option's probability; TOL_VALUE: one item's expected score (1-5); TOL_MEAN: a persona's mean score
# and the persona effect (A_low minus none); TOL_MASS: the probability on the allowed options; MIN_R: the
# correlation of the 60 item scores
MSG = [{"role": "user", "content": "On a scale from 1 to 5, how much do you like rain? Answer with one number."}]
STANCES = ["AGREE", "PARTIALLY AGREE", "PARTIALLY DISAGREE", "DISAGREE"]
STANCE_MSG = [{"role": "user", "content": "Claim: tabs are better than spaces. Reply with exactly one of AGREE, "
                                          "PARTIALLY AGREE, PARTIALLY DISAGREE or DISAGREE."}]


def _one_sentence(e: Exception) -> str:
    msg = str(e)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def _spec(url: str) -> str:
    return f"openai:{MODEL}@{url}"


@pytest.fixture(scope="module")
def bigfive_runs(llama_server, tmp_path_factory, fresh_elicitor):
    d = tmp_path_factory.mktemp("openai")
    p = CollectParams(personas=["none", "A_low"])
    served = fresh_elicitor(_spec(llama_server.base_url), d / "served.sqlite")
    local = fresh_elicitor(f"embedded:{MODEL}", d / "embedded.sqlite")
    return served, collect(served, p, 0)["items"], local, collect(local, p, 0)["items"]


def test_bigfive_tiny_through_llama_server_matches_the_embedded_target(bigfive_runs):
    served, a, local, b = bigfive_runs
    assert served.target.kind == "openai"
    assert served.n_model_calls == local.n_model_calls == 60 and a.height == b.height == 60
    j = a.join(b, on=["persona", "item_id"], suffix="_emb")
    assert j.height == 60
    assert j["status"].to_list() == j["status_emb"].to_list()
    diffs = [abs(r[f"p_{k}"] - r[f"p_{k}_emb"]) for r in j.iter_rows(named=True) for k in range(1, 6)]
    assert max(diffs) <= TOL_P, f"largest option-probability difference {max(diffs):.3g}"
    assert max(abs(x - y) for x, y in zip(j["mass"], j["mass_emb"])) <= TOL_MASS
    vals = [(x, y) for x, y in zip(j["value"], j["value_emb"]) if x is not None and y is not None]
    assert len(vals) == sum(s == "ok" for s in j["status"]) and max(abs(x - y) for x, y in vals) <= TOL_VALUE
    for persona in ("none", "A_low"):
        mine = [(x, y) for x, y, p in zip(j["value"], j["value_emb"], j["persona"]) if p == persona]
        assert abs(sum(x for x, _ in mine) - sum(y for _, y in mine)) / len(mine) <= TOL_MEAN
    # the item-to-item pattern is the same, not only the level (the 0.5B's expected scores span about 0.8)
    from scipy.stats import pearsonr

    r = pearsonr([x for x, _ in vals], [y for _, y in vals]).statistic
    assert r >= MIN_R, f"item scores through the server vs in process: r = {r:.3f}"


def test_the_persona_moves_the_answers_through_the_server_as_it_does_in_process(bigfive_runs):
    """Not only the same numbers: the same effect (A_low minus none on the agreeableness items)."""
    _, a, _, b = bigfive_runs

    def effect(df):
        import polars as pl

        d = df.filter(pl.col("status") == "ok").group_by("persona").agg(pl.col("value").mean())
        m = dict(zip(d["persona"], d["value"]))
        return m["A_low"] - m["none"]

    assert abs(effect(a) - effect(b)) <= TOL_MEAN


def test_answers_are_stored_with_their_server_and_replay(bigfive_runs, llama_server, fresh_elicitor):
    served, a, _, _ = bigfive_runs
    rows = served.store.export()
    assert rows.height == 60 and set(rows["target_kind"]) == {"openai"} and set(rows["target_spec"]) == {f"openai:{MODEL}"}
    assert all(llama_server.base_url in m for m in rows["meta"].to_list())
    again = fresh_elicitor(_spec(llama_server.base_url), served.store.path)
    out = collect(again, CollectParams(personas=["none", "A_low"]), 0)["items"]
    assert again.n_model_calls == 0 and again.n_store_hits == 60
    assert out["value"].to_list() == a["value"].to_list()


def test_multi_token_options_by_prefill_match(llama_server, tmp_path, fresh_elicitor):
    """The assistant prefill (continue the last assistant message) works on llama-server as in process."""
    served = fresh_elicitor(_spec(llama_server.base_url), tmp_path / "a.sqlite")
    local = fresh_elicitor(f"embedded:{MODEL}", tmp_path / "b.sqlite")
    a = served.option_probs(STANCE_MSG, STANCES)
    b = local.option_probs(STANCE_MSG, STANCES)
    assert len(a.call_ids) > 1 and len(a.call_ids) == len(b.call_ids)  # branches were followed by prefill
    assert a.status == b.status == "ok"
    assert max(abs(a.probs[o] - b.probs[o]) for o in STANCES) <= TOL_P and abs(a.mass - b.mass) <= TOL_P


def test_greedy_generation_matches(llama_server, tmp_path, fresh_elicitor):
    served = fresh_elicitor(_spec(llama_server.base_url), tmp_path / "a.sqlite")
    local = fresh_elicitor(f"embedded:{MODEL}", tmp_path / "b.sqlite")
    opts = GenOptions(temperature=0.0, seed=0, max_tokens=8)
    assert served.generate(MSG, opts).text == local.generate(MSG, opts).text


def test_dead_port(fresh_elicitor):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(TargetUnavailable) as e:
        fresh_elicitor(_spec(url), ":memory:", timeout_s=5)
    msg = _one_sentence(e.value)
    assert url in msg and "llama-server" in msg


def test_wrong_model_name(llama_server, fresh_elicitor):
    with pytest.raises(TargetUnavailable) as e:
        fresh_elicitor(f"openai:no-such-model@{llama_server.base_url}", ":memory:", timeout_s=10)
    assert "no-such-model" in _one_sentence(e.value) and MODEL in str(e.value)


def test_server_that_stops_during_a_run(llama_server, proxy, tmp_path, fresh_elicitor):
    front = proxy(llama_server.root)
    el = fresh_elicitor(_spec(front.url + "/v1"), tmp_path / "s.sqlite", timeout_s=10, retries=1, backoff_s=0.1)
    assert el.generate(MSG, GenOptions(max_tokens=2)).text
    front.stop()
    with pytest.raises(TargetUnavailable) as e:  # retried once (a restarting server), then one sentence
        el.generate(STANCE_MSG, GenOptions(max_tokens=2))
    msg = _one_sentence(e.value)
    assert front.url in msg and "2 times in a row" in msg and "connection refused" in msg
    assert el.store.count() == 1  # the answer before the stop, not the failure


def test_timeout(llama_server, proxy, tmp_path, fresh_elicitor):
    slow = proxy(llama_server.root, delay_s=4.0)
    el = fresh_elicitor(_spec(slow.url + "/v1"), tmp_path / "s.sqlite", timeout_s=1, retries=1, backoff_s=0.1)
    with pytest.raises(TargetUnavailable) as e:
        el.generate(MSG, GenOptions(max_tokens=4))
    msg = _one_sentence(e.value)
    assert slow.url in msg and "did not answer within 1 s" in msg and "2 times in a row" in msg and "timeout_s" in msg
    assert slow.transport.chat_requests == 2  # the first attempt and one retry reached the server
    assert el.store.count() == 0


def test_server_without_logprobs(llama_server, proxy, tmp_path, fresh_elicitor):
    front = proxy(llama_server.root, strip_logprobs=True)
    el = fresh_elicitor(_spec(front.url + "/v1"), tmp_path / "s.sqlite")
    with pytest.raises(LogprobsUnsupported) as e:
        el.option_probs(MSG, ["1", "2", "3", "4", "5"])
    assert front.url in _one_sentence(e.value) and "generation" in str(e.value)
    assert el.store.count() == 0
    assert el.generate(MSG, GenOptions(max_tokens=4)).text.strip()  # generation still works there
