"""Server targets against real HTTP servers on 127.0.0.1 (canned llama.cpp / vLLM / Ollama APIs that can fail
on purpose): transient failures retried and recorded, never stored; one sentence for every other failure; a
model's identity from what the server says about its weights, never from its URL (issues 11 and 13)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.errors import (
    ContextOverflow,
    ModelIdentityError,
    ModelSpecError,
    ServerError,
    TargetUnavailable,
)
from analysis.core.models import GenOptions, label, make_target

MSG = [{"role": "user", "content": "Rate 1-5: I like tea."}]
FAST = {"retries": 3, "backoff_s": 0.01, "timeout_s": 5}


def llamacpp_model(name="qwen", *, n_params=630167424, size=485452288, path="/models/qwen-0.5b-q4.gguf",
                   slots=1, template="{{ messages }}"):
    """What a llama.cpp server says about its model (the shapes of /v1/models and /props, as llama-server gives)."""
    return {
        "models": {"object": "list", "data": [{
            "id": name, "object": "model", "owned_by": "llamacpp", "created": 1,
            "meta": {"vocab_type": 2, "n_vocab": 151936, "n_ctx": 4096, "n_ctx_train": 32768, "n_embd": 896,
                     "n_params": n_params, "size": size, "ftype": "Q4_K - Medium"}}]},
        "props": {"model_path": path, "total_slots": slots, "chat_template": template,
                  "default_generation_settings": {"n_ctx": 4096, "params": {"seed": 4294967295}}},
    }


class CannedServer:
    """A threaded HTTP server on 127.0.0.1. ``routes`` maps 'GET /path' / 'POST /path' to a function
    (body dict) -> (status, payload, content type). ``fail`` is a list consumed one entry per chat request:
    an int status to answer with, 'reset' to close the connection without an answer, 'slow' to sleep
    past the client's timeout; when it is empty the route answers."""

    def __init__(self, routes: dict, fail: list | None = None, chat_paths=("/v1/chat/completions", "/api/chat"),
                 port: int = 0):
        self.routes = routes
        self.fail = list(fail or [])
        self.chat_paths = chat_paths
        self.requests: list[tuple[str, dict]] = []
        self.auth: list[str | None] = []  # the Authorization header of every request
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _serve(self, method):
                n = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}") if n else {}
                with server.lock:
                    server.requests.append((f"{method} {self.path}", body))
                    server.auth.append(self.headers.get("authorization"))
                    mode = server.fail.pop(0) if self.path in server.chat_paths and server.fail else None
                if mode == "reset":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if mode == "slow":
                    time.sleep(1.5)
                    return
                if isinstance(mode, int):
                    return self._send(mode, {"error": {"code": mode, "message": "model is loading, try later"}})
                fn = server.routes.get(f"{method} {self.path}")
                if fn is None:
                    return self._send(404, "<html><body>Not Found</body></html>", "text/html")
                self._send(*fn(body))

            def _send(self, status, payload, ctype="application/json"):
                data = (json.dumps(payload) if ctype == "application/json" else payload).encode()
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def chats(self) -> int:
        return sum(1 for r, _ in self.requests if r.split()[1] in self.chat_paths)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def openai_routes(model: dict, reply="3", status=200, error=None):
    def chat(body):
        if error is not None:
            return status, error, "application/json"
        lp = {"content": [{"token": reply, "logprob": -0.1, "top_logprobs": [{"token": reply, "logprob": -0.1},
                                                                              {"token": "4", "logprob": -2.4}]}]}
        return 200, {"choices": [{"index": 0, "finish_reason": "length", "logprobs": lp,
                                  "message": {"role": "assistant", "content": reply}}],
                     "usage": {"prompt_tokens": 9, "completion_tokens": 1}}, "application/json"

    return {"GET /v1/models": lambda b: (200, model["models"], "application/json"),
            "GET /props": lambda b: (200, model["props"], "application/json"),
            "POST /v1/chat/completions": chat}


def ollama_routes(name="llama3.1:8b", digest="sha256:feed"):
    def chat(body):
        return 200, {"model": name, "message": {"role": "assistant", "content": "3"}, "done": True,
                     "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 1}, "application/json"

    return {"GET /api/tags": lambda b: (200, {"models": [{"name": name, "model": name, "digest": digest}]},
                                        "application/json"),
            "POST /api/chat": chat}


@pytest.fixture
def serve():
    servers = []

    def make(routes, fail=None, port=0):
        s = CannedServer(routes, fail, port=port)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


# ---- transient failures: retried, recorded, never stored ---------------------------------------------------
@pytest.mark.parametrize("failures", [[503], [500, 502], ["reset"], ["reset", 503, "reset"], ["slow"]])
def test_openai_transient_failures_are_retried_and_recorded(serve, store, failures):
    srv = serve(openai_routes(llamacpp_model()), fail=failures)
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **{**FAST, "timeout_s": 1.0}), store, progress=False)
    r = el.generate(MSG)
    assert r.text == "3" and not r.cached
    assert srv.chats() == len(failures) + 1
    meta = json.loads(store.export()["meta"][0])
    assert meta["attempts"] == len(failures) + 1 and len(meta["failed_attempts"]) == len(failures)
    assert store.count() == 1  # one answer, no failure stored
    again = el.generate(MSG)
    assert again.cached and srv.chats() == len(failures) + 1  # 0 calls repeated


@pytest.mark.parametrize("failures", [[503], [500, "reset"], ["reset"]])
def test_ollama_transient_failures_are_retried_and_recorded(serve, store, failures):
    srv = serve(ollama_routes(), fail=failures)
    el = Elicitor(make_target(f"ollama:llama3.1:8b@{srv.url}", **FAST), store, progress=False)
    assert el.generate(MSG).text == "3"
    assert srv.chats() == len(failures) + 1
    meta = json.loads(store.export()["meta"][0])
    assert meta["attempts"] == len(failures) + 1 and meta["host"] == srv.url
    assert store.count() == 1


@pytest.mark.parametrize("spec_kind", ["openai", "ollama"])
def test_bound_reached_is_one_sentence_and_nothing_is_stored(serve, store, spec_kind):
    routes = openai_routes(llamacpp_model()) if spec_kind == "openai" else ollama_routes()
    srv = serve(routes, fail=[503] * 10)
    spec = f"openai:qwen@{srv.url}/v1" if spec_kind == "openai" else f"ollama:llama3.1:8b@{srv.url}"
    el = Elicitor(make_target(spec, **{**FAST, "retries": 2}), store, progress=False)
    with pytest.raises(ServerError) as e:
        el.generate(MSG)
    msg = str(e.value)
    assert "failed 3 times in a row" in msg and "HTTP 503" in msg and "targets.retries" in msg and "\n" not in msg
    assert srv.chats() == 3 and store.count() == 0
    # the server recovers: the next run answers, and stores exactly one row
    srv.fail.clear()
    assert el.generate(MSG).text == "3" and store.count() == 1


def test_retries_zero_fails_at_once(serve, store):
    srv = serve(openai_routes(llamacpp_model()), fail=[503])
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **{**FAST, "retries": 0}), store, progress=False)
    with pytest.raises(ServerError, match="retries are off"):
        el.generate(MSG)
    assert store.count() == 0


def test_timeouts_name_timeout_s(serve, store):
    srv = serve(openai_routes(llamacpp_model()), fail=["slow"] * 3)
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **{**FAST, "retries": 1, "timeout_s": 0.5}), store,
                  progress=False)
    with pytest.raises(ServerError, match=r"did not answer within 0.5 s .*targets.timeout_s"):
        el.generate(MSG)
    assert store.count() == 0


def test_concurrent_calls_with_failures_lose_nothing_and_repeat_nothing(serve, store):
    srv = serve(openai_routes(llamacpp_model()), fail=[503, "reset", 500, 503, "reset", 502])
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **FAST, per_host_concurrency=4), store, progress=False)
    prompts = [[{"role": "user", "content": f"item {i}"}] for i in range(24)]
    out = el.map(lambda m: el.generate(m).text, prompts)
    assert out == ["3"] * 24 and store.count() == 24
    assert srv.chats() == 24 + 6
    el.map(lambda m: el.generate(m).text, prompts)
    assert srv.chats() == 24 + 6  # all 24 answered from the store


# ---- one sentence for every other failure -----------------------------------------------------------------
def test_openai_base_url_without_scheme_names_the_spec():
    with pytest.raises(ModelSpecError) as e:
        make_target("openai:qwen@localhost:8000/v1")
    assert "'openai:qwen@localhost:8000/v1'" in str(e.value) and "http://" in str(e.value)


def test_openai_url_that_is_not_an_api(serve):
    srv = serve({"GET /v1/models": lambda b: (200, "<html><body>My blog</body></html>", "text/html")})
    with pytest.raises(TargetUnavailable) as e:
        make_target(f"openai:qwen@{srv.url}/v1", **FAST)
    assert "not an OpenAI-compatible API" in str(e.value) and "/v1" in str(e.value)


def test_openai_base_url_missing_v1(serve):
    srv = serve(openai_routes(llamacpp_model()))
    with pytest.raises(TargetUnavailable, match="usually ends in /v1"):
        make_target(f"openai:qwen@{srv.url}", **FAST)


def test_openai_server_error_body_is_passed_through(serve, store):
    routes = openai_routes(llamacpp_model(), status=422, error={"detail": [{"msg": "top_logprobs must be <= 20"}]})
    srv = serve(routes)
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **FAST), store, progress=False)
    with pytest.raises(ServerError) as e:
        el.generate(MSG, top_logprobs=50)
    assert "HTTP 422: top_logprobs must be <= 20" in str(e.value) and "Traceback" not in str(e.value)
    assert store.count() == 0


def test_openai_context_overflow_gives_the_servers_explanation(serve, store):
    err = {"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096,
                     "message": "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it"}}
    srv = serve(openai_routes(llamacpp_model(), status=400, error=err))
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **FAST), store, progress=False)
    with pytest.raises(ContextOverflow) as e:
        el.generate(MSG)
    msg = str(e.value)
    assert "request (5000 tokens) exceeds the available context size (4096 tokens)" in msg
    assert "llama-server -c" in msg and "\n" not in msg and srv.chats() == 1  # not retried


def test_ollama_on_a_web_server_that_is_not_ollama(serve):
    srv = serve({"GET /": lambda b: (200, "<html>hi</html>", "text/html")})
    with pytest.raises(TargetUnavailable) as e:
        make_target(f"ollama:llama3.1:8b@{srv.url}", **FAST)
    msg = str(e.value)
    assert "is not an Ollama server" in msg and "ollama pull" not in msg and "targets.ollama_hosts" in msg


def test_ollama_not_running_names_targets_ollama_hosts():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TargetUnavailable) as e:
        make_target(f"ollama:llama3.1:8b@http://127.0.0.1:{port}", **FAST)
    assert "targets.ollama_hosts" in str(e.value) and "`ollama.hosts`" not in str(e.value)


# ---- who the model is: its weights, not its URL (issue 13) -------------------------------------------------
def test_a_second_url_keeps_the_key_and_the_label(serve, store):
    a = serve(openai_routes(llamacpp_model()))
    b = serve(openai_routes(llamacpp_model()))
    one = Elicitor(make_target(f"openai:qwen@{a.url}/v1", **FAST), store, progress=False)
    r1 = one.generate(MSG)
    two = Elicitor(make_target(f"openai:qwen@{a.url}/v1,{b.url}/v1", **FAST), store, progress=False)
    r2 = two.generate(MSG)
    assert r2.cached and r1.call_id == r2.call_id and a.chats() + b.chats() == 1
    assert one.target.spec == two.target.spec == "openai:qwen"
    assert label(f"openai:qwen@{a.url}/v1,{b.url}/v1") == "openai:qwen"
    row = store.export().row(0, named=True)
    assert a.url not in row["target_spec"] and a.url in row["meta"]  # the host stays in the call's meta


def test_a_different_gguf_under_the_same_name_is_not_answered_from_the_cache(serve, store):
    first = serve(openai_routes(llamacpp_model(path="/m/qwen-0.5b.gguf", n_params=630167424, size=485452288)))
    r1 = Elicitor(make_target(f"openai:qwen@{first.url}/v1", **FAST), store, progress=False).generate(MSG)
    first.close()
    # the same name at the same URL, another model file (`llama-server -m other.gguf --alias qwen` restarted)
    port = first.httpd.server_address[1]
    other = serve(openai_routes(llamacpp_model(path="/m/qwen-1.5b.gguf", n_params=1543714304, size=1065231360)),
                  port=port)
    el = Elicitor(make_target(f"openai:qwen@{other.url}/v1", **FAST), store, progress=False)
    r2 = el.generate(MSG)
    assert not r2.cached and r1.call_id != r2.call_id and other.chats() == 1
    # a fine-tune of the same architecture and size, told apart by its file
    other.close()
    third = serve(openai_routes(llamacpp_model(path="/m/qwen-0.5b-finetune.gguf")), port=port)
    assert not Elicitor(make_target(f"openai:qwen@{third.url}/v1", **FAST), store, progress=False).generate(MSG).cached


def test_urls_serving_different_weights_are_refused(serve):
    a = serve(openai_routes(llamacpp_model(path="/m/a.gguf")))
    b = serve(openai_routes(llamacpp_model(path="/m/b.gguf")))
    with pytest.raises(ModelIdentityError) as e:
        make_target(f"openai:qwen@{a.url}/v1,{b.url}/v1", **FAST)
    assert "different weights" in str(e.value) and "a.gguf" in str(e.value) and "b.gguf" in str(e.value)


def test_a_server_that_does_not_say_what_it_serves_needs_a_declared_digest(serve, store):
    plain = {"GET /v1/models": lambda b: (200, {"data": [{"id": "qwen", "object": "model", "owned_by": "organization"}]},
                                          "application/json"),
             "POST /v1/chat/completions": openai_routes(llamacpp_model())["POST /v1/chat/completions"]}
    srv = serve(plain)
    with pytest.raises(ModelIdentityError) as e:
        make_target(f"openai:qwen@{srv.url}/v1", **FAST)
    assert "targets.model_digests" in str(e.value) and "\n" not in str(e.value)
    t = make_target(f"openai:qwen@{srv.url}/v1", **FAST, model_digests={"qwen": "sha256:1234"})
    assert t.digest == "declared:sha256:1234"
    t2 = make_target(f"openai:qwen@{srv.url}/v1", **FAST, model_digests={"qwen": "sha256:5678"})
    e1 = Elicitor(t, store, progress=False)
    e2 = Elicitor(t2, store, progress=False)
    assert e1.generate(MSG).call_id != e2.generate(MSG).call_id  # another declared digest, another model


def test_vllm_root_identifies_the_model(serve):
    vllm = {"GET /v1/models": lambda b: (200, {"data": [{"id": "qwen", "object": "model", "owned_by": "vllm",
                                                          "root": "Qwen/Qwen2.5-1.5B-Instruct", "max_model_len": 32768}]},
                                         "application/json")}
    srv = serve(vllm)
    assert make_target(f"openai:qwen@{srv.url}/v1", **FAST).digest == "vllm:Qwen/Qwen2.5-1.5B-Instruct"


def test_slot_configuration_and_cache_settings_are_recorded(serve, store):
    srv = serve(openai_routes(llamacpp_model(slots=4)))
    with pytest.warns(UserWarning, match="4 slots.*not bit-reproducible"):
        t = make_target(f"openai:qwen@{srv.url}/v1", **FAST, cache_prompt=False)
    el = Elicitor(t, store, progress=False)
    el.generate(MSG, GenOptions(seed=7))
    sent = [b for r, b in srv.requests if r.endswith("/chat/completions")][0]
    assert sent["cache_prompt"] is False and sent["seed"] == 7
    meta = json.loads(store.export()["meta"][0])
    assert meta["server"]["total_slots"] == 4 and meta["server"]["model_file"] == "qwen-0.5b-q4.gguf"
    assert meta["cache_prompt"] is False


def test_vllm_gets_no_llamacpp_only_fields(serve, store):
    def chat(body):
        assert "cache_prompt" not in body
        return openai_routes(llamacpp_model())["POST /v1/chat/completions"](body)

    srv = serve({"GET /v1/models": lambda b: (200, {"data": [{"id": "qwen", "owned_by": "vllm", "root": "Q/q"}]},
                                              "application/json"), "POST /v1/chat/completions": chat})
    assert Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **FAST), store, progress=False).generate(MSG).text == "3"


def test_collection_labels_a_served_model_without_its_urls(serve, store, tmp_path):
    """The collection loop names the model by the target, so a second URL neither splits it in the analysis
    nor puts URLs on figure labels; two specs of one model at different URLs are refused."""
    from types import SimpleNamespace

    import polars as pl

    from analysis.core import collection
    from analysis.core.errors import ParamsError
    from analysis.core.params import project

    a, b = serve(openai_routes(llamacpp_model())), serve(openai_routes(llamacpp_model()))
    study = SimpleNamespace(id="probe", collect=lambda el, c, seed: {"t": pl.DataFrame({"text": [el.generate(MSG).text]})})
    tables = []
    for urls in (f"{a.url}/v1", f"{a.url}/v1,{b.url}/v1"):
        p = SimpleNamespace(models=[f"openai:qwen@{urls}"], targets=None, collect=None, seed=0)
        got = collection.run(study, p, out_dir=False, log=lambda s: None,
                             elicitor_factory=lambda spec: Elicitor(make_target(spec, **FAST), store, progress=False))
        tables.append(got["t"])
    assert tables[0]["model"].to_list() == tables[1]["model"].to_list() == ["openai:qwen"]
    assert a.chats() + b.chats() == 1  # the second run came from the store
    with pytest.raises(ParamsError, match="twice with different URLs"):
        project({"models": [f"openai:qwen@{a.url}/v1", f"openai:qwen@{b.url}/v1"]})


def test_an_ollama_model_is_the_same_at_another_host_and_old_answers_are_still_found(serve, store):
    a = serve(ollama_routes())
    b = serve(ollama_routes())
    one = Elicitor(make_target(f"ollama:llama3.1:8b@{a.url}", **FAST), store, progress=False)
    r1 = one.generate(MSG)
    two = Elicitor(make_target(f"ollama:llama3.1:8b@{a.url},{b.url}", **FAST), store, progress=False)
    r2 = two.generate(MSG)
    assert r2.cached and r1.call_id == r2.call_id and a.chats() + b.chats() == 1
    assert one.target.spec == two.target.spec == "ollama:llama3.1:8b"
    # an answer recorded under the old, host-bearing spec (before this change) is still served
    from analysis.core.store import request_key

    old_identity = {**two.identity, "spec": f"ollama:llama3.1:8b@{b.url}"}
    msgs = [{"role": "user", "content": "recorded before"}]
    opts = GenOptions().to_dict()
    store.put(request_key(old_identity, msgs, opts, 0, 0), identity=old_identity, messages=msgs, options=opts,
              seed=0, sample=0, top_logprobs=0, text="old answer", logprobs=None, latency_s=0.1, meta={}, tag=None)
    third = Elicitor(make_target(f"ollama:llama3.1:8b@{b.url}", **FAST), store, progress=False)
    r3 = third.generate(msgs)
    assert r3.cached and r3.text == "old answer" and b.chats() == 0


def test_the_base_url_slots_and_build_that_served_an_answer_are_in_its_meta(serve, store):
    """Issue 20: each answer's provenance names the base URL, the server's slots and its build (llama.cpp
    reports no thread count in /props or /slots, so threads are recorded only where a server reports them)."""
    model = llamacpp_model(slots=1)
    model["props"]["build_info"] = "b11434-abcdef"
    model["props"]["n_threads"] = 3
    srv = serve(openai_routes(model))
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **FAST), store, progress=False)
    el.generate(MSG, GenOptions(seed=1))
    meta = json.loads(store.export()["meta"][0])
    assert meta["host"] == f"{srv.url}/v1"
    assert (meta["server"]["total_slots"], meta["server"]["build"], meta["server"]["n_threads"]) == (1, "b11434-abcdef", 3)


def test_llamacpp_server_prompt_token_counts_are_recorded(serve, store):
    """Issue 21: the prompt tokens llama.cpp's server evaluated and took from its cache (``timings``) are kept
    with the answer and summed in the elicitor's count; a server without ``timings`` records none."""
    routes = openai_routes(llamacpp_model())
    plain = routes["POST /v1/chat/completions"]

    def chat(body):
        status, payload, ctype = plain(body)
        payload["timings"] = {"prompt_n": 2, "cache_n": 7, "predicted_n": 1}
        return status, payload, ctype

    srv = serve({**routes, "POST /v1/chat/completions": chat})
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **FAST), store, progress=False)
    el.generate(MSG)
    meta = json.loads(store.export()["meta"][0])
    assert (meta["prompt_tokens"], meta["prompt_evaluated"], meta["prompt_cached"]) == (9, 2, 7)
    assert el.prompt_tokens == {"calls_reporting": 1, "total": 9, "evaluated": 2, "cached": 7}
    import hashlib  # the chat template the server applied, beside the answer (a template change shows)

    assert meta["server"]["chat_template_sha256"] == hashlib.sha256(b"{{ messages }}").hexdigest()[:16]
    srv2 = serve(openai_routes(llamacpp_model()))
    el2 = Elicitor(make_target(f"openai:qwen@{srv2.url}/v1", **FAST), store, progress=False)
    el2.generate([{"role": "user", "content": "another"}])
    assert el2.prompt_tokens["calls_reporting"] == 0 and el2.n_model_calls == 1


def test_each_openai_target_sends_the_key_its_params_name_and_the_key_is_written_nowhere(serve, store, monkeypatch,
                                                                                        capsys):
    """Issue 21: ``targets.api_key_env`` names, per model, the environment variable holding its key, so two
    providers serve one run; the key goes only into the Authorization header (not the store, its export, the
    metadata or the output), and a named variable that is not set is one sentence before any call."""
    from analysis.core.errors import ModelSpecError
    from analysis.core.params import elicitor

    a, b = serve(openai_routes(llamacpp_model("alpha"))), serve(openai_routes(llamacpp_model("beta")))
    monkeypatch.setenv("PROVIDER_A_KEY", "sk-secret-aaa-123")
    monkeypatch.setenv("PROVIDER_B_KEY", "sk-secret-bbb-456")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default-zzz")
    monkeypatch.setenv("PSY_STORE", str(store.path))
    targets = {"api_key_env": {"openai:alpha": "PROVIDER_A_KEY", "beta": "PROVIDER_B_KEY"}, **FAST}
    for spec in (f"openai:alpha@{a.url}/v1", f"openai:beta@{b.url}/v1"):
        el = elicitor(spec, targets)
        el.store, el.progress = store, False
        assert el.generate(MSG).text == "3"
    assert set(a.auth) == {"Bearer sk-secret-aaa-123"} and set(b.auth) == {"Bearer sk-secret-bbb-456"}
    everything = json.dumps(store.export().to_dicts(), default=str) + store.path.read_bytes().decode("latin-1")
    everything += "".join(capsys.readouterr())
    assert "sk-secret" not in everything and "sk-default" not in everything
    c = serve(openai_routes(llamacpp_model("gamma")))  # not in the mapping: OPENAI_API_KEY, as before
    el = elicitor(f"openai:gamma@{c.url}/v1", targets)
    el.store, el.progress = store, False
    el.generate(MSG)
    assert set(c.auth) == {"Bearer sk-default-zzz"}
    monkeypatch.delenv("PROVIDER_B_KEY")
    with pytest.raises(ModelSpecError, match=r"PROVIDER_B_KEY .* is not set: export PROVIDER_B_KEY="):
        elicitor(f"openai:beta@{b.url}/v1", targets)


def test_every_named_key_is_checked_before_any_model_is_called_and_a_mistyped_name_is_refused(serve, store,
                                                                                             monkeypatch):
    """A run over two providers whose second key is missing makes no call at all (not the first provider's calls
    and then an error), and a name in ``targets.api_key_env`` that matches no ``openai:`` model is refused in one
    sentence: a mistyped name would otherwise send OPENAI_API_KEY to that provider."""
    from analysis.core import collection
    from analysis.core.errors import ModelSpecError, ParamsError
    from analysis.core.params import project
    from analysis.core.study import CollectStage
    from analysis.studies import get

    a, b = serve(openai_routes(llamacpp_model("alpha"))), serve(openai_routes(llamacpp_model("beta")))
    monkeypatch.setenv("PROVIDER_A_KEY", "sk-a")
    monkeypatch.delenv("PROVIDER_B_KEY", raising=False)
    monkeypatch.setenv("PSY_STORE", str(store.path))
    models = [f"openai:alpha@{a.url}/v1", f"openai:beta@{b.url}/v1"]
    proj = project({"models": models, "targets": {"api_key_env": {"alpha": "PROVIDER_A_KEY",
                                                                   "openai:beta": "PROVIDER_B_KEY"}, **FAST}})
    bf = get("bigfive")
    p = CollectStage(study="bigfive", models=proj.models, seed=0, targets=proj.targets,
                     collect=bf.collect_params.model_validate({"personas": ["none"]}))
    with pytest.raises(ModelSpecError, match=r"PROVIDER_B_KEY .* is not set"):
        collection.run(bf, p, out_dir=False, log=lambda s: None)
    assert a.auth == [] and b.auth == [] and store.count() == 0  # no provider was called
    with pytest.raises(ParamsError) as e:
        project({"models": models, "targets": {"api_key_env": {"openai:alpah": "PROVIDER_A_KEY"}}})
    assert "api_key_env names 'openai:alpah', which is no openai: or anthropic: model in models" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_hosted_providers_served_model_version_and_system_fingerprint_are_kept(serve, store):
    """Issue 21 (provenance): a hosted provider exposes no chat template or tokenizer, but names the model version
    that answered (``model``, e.g. a dated snapshot behind an alias) and its backend configuration
    (``system_fingerprint``); both are kept in each answer's meta, so a change behind the same name is visible."""
    routes = openai_routes(llamacpp_model())
    plain = routes["POST /v1/chat/completions"]

    def chat(body):
        status, out, ctype = plain(body)
        return status, {**out, "model": "qwen-2026-11-30", "system_fingerprint": "fp_44709d6fcb"}, ctype

    srv = serve({**routes, "POST /v1/chat/completions": chat})
    el = Elicitor(make_target(f"openai:qwen@{srv.url}/v1", **FAST), store, progress=False)
    el.generate(MSG, GenOptions(seed=1))
    meta = json.loads(store.export()["meta"][0])
    assert (meta["served_model"], meta["system_fingerprint"]) == ("qwen-2026-11-30", "fp_44709d6fcb")
