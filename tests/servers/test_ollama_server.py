"""The Ollama path over a real socket: the embedded engine behind the Ollama REST API on 127.0.0.1
(analysis.core.servers.ollama_server), reached with an ``ollama:NAME@http://127.0.0.1:PORT`` spec
through the real ``ollama`` client, so connection errors and timeouts are real ones.

Tolerance: the socket server and the in-process embedded target run the same engine (one llama.cpp
context, KV prefix cache on), so the two runs differ only by what the prefix cache holds when a prompt
arrives. Measured: 58 of 60 answers bit-identical; the first item under each persona (whose prompt follows
a different one in the cache) differed by up to 5.1e-3 in one option's probability. Asserted: every option
probability within TOL_P = 0.01, at least 50 of 60 answers identical, the same most likely option.
"""

from __future__ import annotations

import pytest

from analysis.core.errors import LogprobsUnsupported, TargetUnavailable
from analysis.core.models import GenOptions
from analysis.core.models.embedded import EMBEDDED_MODELS, OllamaAPITransport
from analysis.core.servers import TransportServer, free_port
from analysis.studies.bigfive.collect import collect
from analysis.studies.bigfive.params import CollectParams

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b"
TOL_P = 0.01
MSG = [{"role": "user", "content": "On a scale from 1 to 5, how much do you like rain? Answer with one number."}]


def _one_sentence(e: Exception) -> str:
    msg = str(e)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


@pytest.fixture(scope="module")
def bigfive_runs(ollama_socket_server, tmp_path_factory, fresh_elicitor):
    d = tmp_path_factory.mktemp("ollama")
    p = CollectParams(personas=["none", "A_low"])
    spec = f"ollama:{MODEL}@{ollama_socket_server.url}"
    served = fresh_elicitor(spec, d / "served.sqlite")
    local = fresh_elicitor(f"embedded:{MODEL}", d / "embedded.sqlite")
    return served, collect(served, p, 0)["items"], local, collect(local, p, 0)["items"]


def test_bigfive_tiny_over_the_ollama_api_matches_the_embedded_target(bigfive_runs):
    served, a, local, b = bigfive_runs
    assert served.target.kind == "ollama" and served.target.digest == EMBEDDED_MODELS[MODEL].sha256
    assert served.n_model_calls == local.n_model_calls == 60 and a.height == b.height == 60
    keys = ["persona", "item_id"]
    j = a.join(b, on=keys, suffix="_emb")
    assert j.height == 60
    assert j["status"].to_list() == j["status_emb"].to_list()
    diffs = [abs(r[f"p_{k}"] - r[f"p_{k}_emb"]) for r in j.iter_rows(named=True) for k in range(1, 6)]
    assert max(diffs) <= TOL_P, f"largest option-probability difference {max(diffs):.2e}"
    same = sum(all(r[f"p_{k}"] == r[f"p_{k}_emb"] for k in range(1, 6)) for r in j.iter_rows(named=True))
    assert same >= 50, f"only {same} of 60 answers identical"
    assert max(abs(x - y) for x, y in zip(j["mass"], j["mass_emb"])) <= TOL_P
    argmax = lambda r, s: max(range(1, 6), key=lambda k: r[f"p_{k}{s}"])  # noqa: E731
    assert all(argmax(r, "") == argmax(r, "_emb") for r in j.iter_rows(named=True))


def test_answers_came_over_the_socket_and_replay_from_the_store(bigfive_runs, ollama_socket_server, fresh_elicitor):
    served, a, _, _ = bigfive_runs
    rows = served.store.export()
    assert rows.height == 60 and set(rows["target_kind"]) == {"ollama"} and set(rows["target_spec"]) == {f"ollama:{MODEL}"}
    assert all(ollama_socket_server.url in m for m in rows["meta"].to_list())
    again = fresh_elicitor(f"ollama:{MODEL}@{ollama_socket_server.url}", served.store.path)
    out = collect(again, CollectParams(personas=["none", "A_low"]), 0)["items"]
    assert again.n_model_calls == 0 and again.n_store_hits == 60
    assert out["value"].to_list() == a["value"].to_list()


def test_generation_over_the_socket_equals_in_process(ollama_socket_server, tmp_path, fresh_elicitor):
    served = fresh_elicitor(f"ollama:{MODEL}@{ollama_socket_server.url}", tmp_path / "a.sqlite")
    local = fresh_elicitor(f"embedded:{MODEL}", tmp_path / "b.sqlite")
    opts = GenOptions(temperature=0.0, seed=0, max_tokens=12)
    assert served.generate(MSG, opts).text == local.generate(MSG, opts).text


def test_dead_port(fresh_elicitor):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TargetUnavailable) as e:
        fresh_elicitor(f"ollama:{MODEL}@{url}", ":memory:", timeout_s=5)
    msg = _one_sentence(e.value)
    assert url in msg and "ollama serve" in msg


def test_server_that_stops_during_a_run(tmp_path, fresh_elicitor):
    srv = TransportServer(OllamaAPITransport()).start()
    el = fresh_elicitor(f"ollama:{MODEL}@{srv.url}", tmp_path / "s.sqlite", timeout_s=10, retries=1, backoff_s=0.1)
    srv.stop()
    with pytest.raises(TargetUnavailable) as e:  # retried once (a restarting server), then one sentence
        el.generate(MSG, GenOptions(max_tokens=4))
    msg = _one_sentence(e.value)
    assert srv.url in msg and "2 times in a row" in msg and "connection refused" in msg
    assert el.store.count() == 0  # an error is never stored


def test_timeout(ollama_socket_server, proxy, tmp_path, fresh_elicitor):
    slow = proxy(ollama_socket_server.url, delay_s=4.0)
    el = fresh_elicitor(f"ollama:{MODEL}@{slow.url}", tmp_path / "s.sqlite", timeout_s=1, retries=1, backoff_s=0.1)
    with pytest.raises(TargetUnavailable) as e:
        el.generate(MSG, GenOptions(max_tokens=4))
    msg = _one_sentence(e.value)
    assert slow.url in msg and "did not answer within 1 s" in msg and "2 times in a row" in msg and "timeout_s" in msg
    assert slow.transport.chat_requests == 2  # the first attempt and one retry reached the server
    assert el.store.count() == 0


def test_server_without_logprobs(ollama_socket_server, proxy, tmp_path, fresh_elicitor):
    old = proxy(ollama_socket_server.url, strip_logprobs=True)
    el = fresh_elicitor(f"ollama:{MODEL}@{old.url}", tmp_path / "s.sqlite")
    with pytest.raises(LogprobsUnsupported) as e:
        el.option_probs(MSG, ["1", "2", "3", "4", "5"])
    assert old.url in _one_sentence(e.value) and "generation" in str(e.value)
    assert el.store.count() == 0
    # generation still works on such a server
    assert el.generate(MSG, GenOptions(max_tokens=4)).text.strip()


def test_fault_proxy_forwards_faithfully(ollama_socket_server, proxy, tmp_path, fresh_elicitor):
    """The proxy used above changes nothing unless told to: same answer as the server behind it."""
    p = proxy(ollama_socket_server.url)
    a = fresh_elicitor(f"ollama:{MODEL}@{p.url}", tmp_path / "a.sqlite").option_probs(MSG, ["1", "2", "3", "4", "5"])
    b = fresh_elicitor(f"ollama:{MODEL}@{ollama_socket_server.url}", tmp_path / "b.sqlite").option_probs(
        MSG, ["1", "2", "3", "4", "5"])
    assert max(abs(a.probs[k] - b.probs[k]) for k in a.probs) <= TOL_P
    assert p.transport.chat_requests == 1
