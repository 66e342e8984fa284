"""The ``anthropic:`` target and Anthropic's Message Batches against a fake Anthropic API on 127.0.0.1 that follows the
documented formats (``POST /v1/messages``; ``/v1/messages/batches``: create, get, list, cancel, the JSONL results at
``results_url``, in any order), checks the headers (``x-api-key``, ``anthropic-version``) and refuses a malformed body
as Anthropic does (HTTP 400, ``invalid_request_error``). Covered: an interactive call (system prompt moved, options
mapped, no seed, no log-probabilities, so a study takes its generation path), one-sentence errors, the key written
nowhere, and batch mode with the response store as ledger: submit, poll, partial failure, expiry, cancel, a killed
process resuming, a batch whose creation was not seen (found by its requests' ids once it ended, never guessed),
and results that do not match the requests (refused in one sentence, nothing stored)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from analysis.core import batch
from analysis.core.batch import AnthropicBatchAPI, BatchRequest
from analysis.core.elicit import Elicitor
from analysis.core.errors import (
    BatchError,
    ContextOverflow,
    LogprobsUnsupported,
    ModelSpecError,
    ParamsError,
    ServerError,
    TargetUnavailable,
    UserError,
)
from analysis.core.models import GenOptions, label, make_target
from analysis.core.paths import ROOT

MODEL = "claude-fake"
SNAPSHOT = "claude-fake-20260101"  # what the alias stands for at the fake provider
KEY = "sk-ant-test-key"
TARGET_KW = {"retries": 1, "backoff_s": 0.01, "timeout_s": 5}
N = 5
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
PARAMS = {"model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k", "stop_sequences", "metadata",
          "stream", "tools", "tool_choice", "thinking", "service_tier"}


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def invalid(message: str) -> tuple[int, dict]:
    return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def check_params(p) -> str | None:
    """Why Anthropic would refuse this Messages API body (None: it is valid), as far as these tests need."""
    if not isinstance(p, dict):
        return "params: Input should be an object"
    extra = sorted(set(p) - PARAMS)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    if p.get("model") not in (MODEL, SNAPSHOT):
        return f"model: {p.get('model')}"
    if not isinstance(p.get("max_tokens"), int) or p["max_tokens"] < 1:
        return "max_tokens: Field required"
    msgs = p.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "messages: at least one message is required"
    for i, m in enumerate(msgs):
        if m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if not isinstance(m.get("content"), str) or not m["content"]:
            return f"messages.{i}.content: non-empty text required"
    if "system" in p and not isinstance(p["system"], (str, list)):
        return "system: Input should be a valid string"
    if not 0 <= p.get("temperature", 1) <= 1:
        return "temperature: range: 0..1"
    if "stop_sequences" in p and not all(isinstance(x, str) and x.strip() for x in p["stop_sequences"]):
        return "stop_sequences: each stop sequence must contain non-whitespace"
    if "prompt is too long" in msgs[-1]["content"]:
        return "prompt is too long: 210000 tokens > 200000 maximum"
    return None


def message(p: dict) -> dict:
    """A Messages API response: a question is echoed, anything else (a rating item) is answered "3"; a final
    assistant turn (a prefill) is continued, and only the continuation returned."""
    last = p["messages"][-1]
    text = "3" if last["role"] == "assistant" or not last["content"].startswith("question") else "answer: " + last["content"]
    return {"id": "msg_01Fake", "type": "message", "role": "assistant", "model": SNAPSHOT,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}


class FakeAnthropic:
    """Anthropic's API as documented, for one model. ``hold``: batches stay in_progress while it is set; ``outcome``:
    how the next batch ends ('complete', 'fail_some', 'expire', 'unknown_id', 'missing_id', 'duplicate_id'); a
    canceled batch ends with the first ``done_before_cancel`` requests succeeded and the others canceled. ``fail``:
    statuses /v1/messages answers first, one per call; ``refuse``: the status POST /v1/messages/batches answers with
    instead of creating; ``fail_after_create``: it creates the batch, then answers that status; ``hide_list``: the
    list of batches lags (shows none). Counts batches created, chat calls, polls and cancels; keeps every key and
    every body it was sent; ``snapshot``: what the alias resolves to."""

    def __init__(self, key: str = KEY):
        self.key = key
        self.keys: set[str] = set()
        self.versions: set[str] = set()
        self.bodies: list[dict] = []
        self.batches: dict[str, dict] = {}
        self.inputs: dict[str, list[dict]] = {}
        self.results: dict[str, bytes] = {}
        self.submissions = self.chat_calls = self.polls = self.cancels = self.create_attempts = 0
        self.hold = False
        self.outcome = "complete"
        self.fail: list[int] = []
        self.refuse: int | None = None
        self.fail_after_create: int | None = None
        self.hide_list = False
        self.done_before_cancel = 2
        self.snapshot = SNAPSHOT  # what GET /v1/models/{MODEL} resolves the alias to (a test moves it)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, payload, ctype="application/json") -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _auth(self) -> bool:
                key, version = self.headers.get("x-api-key"), self.headers.get("anthropic-version")
                fake.keys.add(key or "")
                fake.versions.add(version or "")
                if key != fake.key:
                    self._send(401, {"type": "error", "error": {"type": "authentication_error",
                                                                "message": "invalid x-api-key"}})
                    return False
                if version != "2023-06-01":
                    self._send(400, invalid("anthropic-version: header is required")[1])
                    return False
                return True

            def do_GET(self):
                url = httpx.URL(self.path)
                path = url.path
                with fake.lock:
                    if not self._auth():
                        return
                    m = re.fullmatch(r"/v1/models/([\w.-]+)", path)
                    if m:
                        if m.group(1) not in (MODEL, SNAPSHOT):
                            return self._send(404, {"type": "error", "error": {
                                "type": "not_found_error", "message": f"model: {m.group(1)}"}})
                        return self._send(200, {"type": "model", "id": fake.snapshot, "display_name": "Claude Fake",
                                                "created_at": "2026-01-01T00:00:00Z"})
                    if path == "/v1/messages/batches":
                        return self._send(200, fake._list(dict(url.params)))
                    m = re.fullmatch(r"/v1/messages/batches/(msgbatch_\w+)/results", path)
                    if m and m.group(1) in fake.results:
                        return self._send(200, fake.results[m.group(1)], "application/binary")
                    m = re.fullmatch(r"/v1/messages/batches/(msgbatch_\w+)", path)
                    if m and m.group(1) in fake.batches:
                        fake.polls += 1
                        return self._send(200, fake._advance(m.group(1)))
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                with fake.lock:
                    if not self._auth():
                        return
                    m = re.fullmatch(r"/v1/messages/batches/(msgbatch_\w+)/cancel", self.path)
                    if m and m.group(1) in fake.batches:
                        fake.cancels += 1
                        b = fake.batches[m.group(1)]
                        if b["processing_status"] == "in_progress":
                            b["processing_status"], b["cancel_initiated_at"] = "canceling", _rfc3339(time.time())
                        return self._send(200, b)
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        return self._send(*invalid("The request body is not valid JSON."))
                    fake.bodies.append(body)
                    if self.path == "/v1/messages":
                        if fake.fail:
                            code = fake.fail.pop(0)
                            return self._send(code, {"type": "error", "error": {"type": "overloaded_error",
                                                                                "message": "Overloaded"}})
                        why = check_params(body)
                        if why:
                            return self._send(*invalid(why))
                        fake.chat_calls += 1
                        return self._send(200, message(body))
                    if self.path == "/v1/messages/batches":
                        fake.create_attempts += 1
                        return self._send(*fake._create(body))
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _create(self, body) -> tuple[int, dict]:
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs or set(body) != {"requests"}:
            return invalid("requests: Field required")
        ids = [r.get("custom_id") if isinstance(r, dict) else None for r in reqs]
        for i, (r, cid) in enumerate(zip(reqs, ids, strict=True)):
            if not isinstance(cid, str) or not CUSTOM_ID.fullmatch(cid):
                return invalid(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            why = check_params(r.get("params"))
            if why:
                return invalid(f"requests.{i}.params.{why}")
        if len(set(ids)) != len(ids):
            return invalid("requests: custom_id values must be unique within a batch")
        if self.refuse:
            return self.refuse, {"type": "error", "error": {"type": "rate_limit_error" if self.refuse == 429 else
                                                            "invalid_request_error", "message": "Batch refused."}}
        return (self.fail_after_create or 200), self.add_batch(reqs)

    def add_batch(self, reqs: list[dict]) -> dict:
        """A batch as Anthropic creates it (also: one made by someone else on the same account, for a test)."""
        self.submissions += 1
        bid = f"msgbatch_{self.submissions:02d}"
        now = time.time()
        self.inputs[bid] = reqs
        self.batches[bid] = {"id": bid, "type": "message_batch", "processing_status": "in_progress",
                             "request_counts": {"processing": len(reqs), "succeeded": 0, "errored": 0,
                                                "canceled": 0, "expired": 0},
                             "ended_at": None, "created_at": _rfc3339(now), "expires_at": _rfc3339(now + 86400),
                             "archived_at": None, "cancel_initiated_at": None, "results_url": None}
        if self.fail_after_create:
            return {"type": "error", "error": {"type": "api_error", "message": "Upstream timed out."}}
        return self.batches[bid]

    def _list(self, params: dict) -> dict:
        rows = [] if self.hide_list else sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)
        if "after_id" in params:
            ids = [b["id"] for b in rows]
            rows = rows[ids.index(params["after_id"]) + 1:] if params["after_id"] in ids else []
        page = rows[:int(params.get("limit", 20))]
        return {"data": page, "has_more": len(rows) > len(page), "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None}

    def _advance(self, bid: str) -> dict:
        """A batch runs while ``hold`` (or until a poll), then ends with ``outcome``; a canceling one ends canceled."""
        b = self.batches[bid]
        if b["processing_status"] == "ended" or (b["processing_status"] == "in_progress" and self.hold):
            return b
        reqs = self.inputs[bid]
        out = []
        for i, r in enumerate(reqs):
            ok = {"custom_id": r["custom_id"], "result": {"type": "succeeded", "message": message(r["params"])}}
            if b["processing_status"] == "canceling":
                out.append(ok if i < self.done_before_cancel else {"custom_id": r["custom_id"],
                                                                  "result": {"type": "canceled"}})
            elif self.outcome == "fail_some" and i in (1, 3):
                kind = ("invalid_request_error", "max_tokens: too large") if i == 1 else ("api_error", "Internal error")
                out.append({"custom_id": r["custom_id"], "result": {"type": "errored", "error": {
                    "type": "error", "error": {"type": kind[0], "message": kind[1]}}}})
            elif self.outcome == "expire" and i % 2:
                out.append({"custom_id": r["custom_id"], "result": {"type": "expired"}})
            elif self.outcome == "missing_id" and i == 0:
                continue
            else:
                out.append(ok)
        if self.outcome == "unknown_id":
            out.append({**out[0], "custom_id": "request-that-was-never-sent"})
        if self.outcome == "duplicate_id":
            out.append(out[0])
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for x in out:
            counts[x["result"]["type"]] += 1
        self.results[bid] = "".join(json.dumps(x) + "\n" for x in reversed(out)).encode()  # any order
        b.update(processing_status="ended", ended_at=_rfc3339(time.time() + 1), request_counts=counts,
                 results_url=f"{self.url}/v1/messages/batches/{bid}/results")
        return b

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    f = FakeAnthropic()
    yield f
    f.close()


def setup(fake, store, n: int = N):
    """An anthropic: model at the fake, its Elicitor, the Message Batches client and ``n`` single-turn requests."""
    target = make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW)
    el = Elicitor(target, store, progress=False)
    reqs = [BatchRequest.of(el, [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": f"question {i}"}], GenOptions(max_tokens=16))
            for i in range(n)]
    return el, AnthropicBatchAPI(target), reqs


def ledger(store) -> dict[str, str]:
    return dict(sqlite3.connect(store.path).execute("SELECT key, state FROM batch_requests ORDER BY rowid").fetchall())


def run(api, store, reqs, **kw):
    return batch.run(api, store, reqs, every_s=0.01, log=lambda s: None, **kw)


def one_sentence(msg: str) -> bool:
    return "\n" not in msg and not re.search(r"[.;] [A-Z]", msg) and msg.endswith(".")


# ---- the interactive target ----------------------------------------------------------------------------------------
def test_a_call_speaks_the_messages_api(fake, store):
    target = make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW)
    assert (target.spec, target.kind, label(f"anthropic:{MODEL}@{fake.url}")) == (f"anthropic:{MODEL}", "anthropic",
                                                                                 f"anthropic:{MODEL}")
    assert target.digest == f"anthropic:{SNAPSHOT}" and target.supports_logprobs is False  # the alias, resolved
    el = Elicitor(target, store, progress=False)
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "question one"}]
    r = el.generate(msgs, GenOptions(temperature=0.5, seed=7, max_tokens=16, top_p=0.9, top_k=40, stop=("END",)))
    assert r.text == "answer: question one" and fake.chat_calls == 1
    assert fake.bodies[-1] == {"model": MODEL, "max_tokens": 16, "system": "You are terse.", "temperature": 0.5,
                               "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"],
                               "messages": [{"role": "user", "content": "question one"}]}
    assert fake.keys == {KEY} and fake.versions == {"2023-06-01"}
    row = store.export().row(0, named=True)
    meta = json.loads(row["meta"])
    assert (meta["served_model"], meta["done_reason"], meta["usage"]["input_tokens"]) == (SNAPSHOT, "end_turn", 12)
    assert meta["seed_honoured"] is False and meta["options_not_sent"] == ["seed"] and meta["host"] == fake.url
    assert row["digest"] == f"anthropic:{SNAPSHOT}" and row["target_spec"] == f"anthropic:{MODEL}" and row["seed"] == 7
    # a prefill is continued: the reply is the continuation only
    el.generate([{"role": "user", "content": "Rate it"}, {"role": "assistant", "content": "Rating:"}])
    assert fake.bodies[-1]["messages"][-1] == {"role": "assistant", "content": "Rating:"} and "system" not in fake.bodies[-1]
    assert json.loads(store.export()["meta"][-1])["options_not_sent"] == ["seed"]
    # no log-probabilities, and no request is sent for them
    with pytest.raises(LogprobsUnsupported, match="returns none"):
        el.generate([{"role": "user", "content": "Rate 1-5"}], GenOptions(max_tokens=1), top_logprobs=5)
    with pytest.raises(LogprobsUnsupported):
        el.option_probs([{"role": "user", "content": "Rate 1-5"}], ["1", "2"])
    # a system message after the conversation started cannot be sent: one sentence, no request
    sent = len(fake.bodies)
    with pytest.raises(UserError, match="system prompt goes before the first user turn") as e:
        el.generate([{"role": "user", "content": "hi"}, {"role": "system", "content": "late"}])
    assert one_sentence(str(e.value)) and len(fake.bodies) == sent
    # min_p has no parameter either: not sent, and said so
    el.generate([{"role": "user", "content": "question two"}], GenOptions(min_p=0.0, max_tokens=8))
    assert "min_p" not in fake.bodies[-1]
    assert json.loads(store.export()["meta"][-1])["options_not_sent"] == ["seed", "min_p"]


def test_a_declared_digest_names_the_model_instead_of_the_snapshot(fake):
    t = make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW, model_digests={MODEL: "pinned-2026"})
    assert t.digest == "declared:pinned-2026"


def test_every_failure_is_one_sentence(fake, store, monkeypatch):
    el = Elicitor(make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW), store, progress=False)
    fake.fail = [529]  # overloaded: transient, retried, recorded
    assert el.generate([{"role": "user", "content": "question a"}]).text == "answer: question a"
    assert json.loads(store.export()["meta"][-1])["failed_attempts"] == ["HTTP 529: Overloaded"]
    fake.fail = [529, 529]
    with pytest.raises(ServerError, match="failed 2 times in a row .*HTTP 529") as e:
        el.generate([{"role": "user", "content": "question b"}])
    assert one_sentence(str(e.value))
    for msgs, opts, err, what in (
            ([{"role": "user", "content": "question c"}], GenOptions(max_tokens=0), ServerError,
             "refused the request .* HTTP 400: max_tokens"),
            ([{"role": "user", "content": "prompt is too long"}], GenOptions(), ContextOverflow, "prompt is too long")):
        with pytest.raises(err, match=what) as e:
            el.generate(msgs, opts)
        assert one_sentence(str(e.value))
    assert store.count() == 1  # no failure is ever stored
    with pytest.raises(TargetUnavailable, match="does not serve model 'claude-nope'") as e:
        make_target(f"anthropic:claude-nope@{fake.url}", **TARGET_KW)
    assert one_sentence(str(e.value))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong")
    with pytest.raises(TargetUnavailable, match="refused access .*set ANTHROPIC_API_KEY to a key it accepts") as e:
        make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW)
    assert one_sentence(str(e.value))
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    asked = len(fake.keys)
    with pytest.raises(ModelSpecError, match="ANTHROPIC_API_KEY, which is not set: export ANTHROPIC_API_KEY=") as e:
        make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW)
    assert one_sentence(str(e.value)) and len(fake.keys) == asked  # refused before any request
    for spec, what in ((f"anthropic:{MODEL}@{fake.url}/v1", "stops before /v1"),
                       (f"anthropic:{MODEL}@{fake.url},{fake.url}", "one base URL at most"),
                       (f"anthropic:{MODEL}@127.0.0.1:9", "must start with http")):
        with pytest.raises(ModelSpecError, match=what) as e:
            make_target(spec, **TARGET_KW)
        assert one_sentence(str(e.value))


def test_a_study_takes_its_generation_path(fake, store, capsys):
    """No log-probabilities: the Big Five items in logprob mode are generated and parsed, and the rows say so."""
    from analysis.core.params import validate_section
    from analysis.studies import get

    study = get("bigfive")
    collect = validate_section(study.collect_params, {**study.tiny["collect"], "mode": "logprob"}, "bigfive.collect")
    el = Elicitor(make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW), store, progress=False)
    items = study.collect(el, collect, 0)["items"]
    assert items.height > 0 and set(items["mode"]) == {"generate"} and set(items["value"]) == {3.0}
    assert "gives no log-probabilities" in capsys.readouterr().out
    assert fake.chat_calls == el.n_model_calls > 0
    assert not [b for b in fake.bodies if "seed" in b or any(m["role"] == "system" for m in b["messages"])]


def test_params_accept_anthropic_models_for_keys_and_batch(monkeypatch):
    from analysis.core.models import check_api_keys
    from analysis.core.params import project

    spec = f"anthropic:{MODEL}"
    ok = project({"models": [spec], "targets": {"batch": [MODEL], "api_key_env": {spec: "MY_ANTHROPIC_KEY"}}})
    assert batch.batch_models(ok.models, ok.targets.batch) == [spec]
    with pytest.raises(ParamsError, match="batch names 'claude-other', which is no openai: or anthropic: model"):
        project({"models": [spec], "targets": {"batch": ["claude-other"]}})
    monkeypatch.delenv("MY_ANTHROPIC_KEY", raising=False)
    with pytest.raises(ModelSpecError, match="names the environment variable MY_ANTHROPIC_KEY .* is not set"):
        check_api_keys([spec], ok.targets.api_key_env)
    monkeypatch.setenv("MY_ANTHROPIC_KEY", "x")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    check_api_keys([spec], ok.targets.api_key_env)  # the named variable is set: ANTHROPIC_API_KEY is not needed
    with pytest.raises(ModelSpecError, match="ANTHROPIC_API_KEY"):
        check_api_keys([spec], {})


def test_the_fake_refuses_what_anthropic_refuses(fake):
    """The fake is strict, so a request the tests see accepted is one Anthropic would accept."""
    c = httpx.Client(base_url=fake.url, headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})
    good = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "question"}]}
    assert c.post("/v1/messages", json=good).status_code == 200
    for bad in ({**good, "seed": 1}, {**good, "messages": [{"role": "system", "content": "x"}]},
                {k: v for k, v in good.items() if k != "max_tokens"}):
        r = c.post("/v1/messages", json=bad)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = c.post("/v1/messages/batches", json={"requests": [{"custom_id": "not ok!", "params": good}]})
    assert r.status_code == 400 and "custom_id" in r.json()["error"]["message"]
    r = c.post("/v1/messages/batches", json={"requests": [{"custom_id": "a", "params": good}] * 2})
    assert r.status_code == 400 and "unique" in r.json()["error"]["message"]
    assert httpx.post(f"{fake.url}/v1/messages", json=good).status_code == 401  # no key
    assert fake.submissions == 0


# ---- no key is ever written ----------------------------------------------------------------------------------------
def test_the_api_key_never_reaches_the_store(store, monkeypatch, capsys):
    sentinel = "sk-ant-sentinel-" + "5e2b8d" * 6
    monkeypatch.setenv("PSY_TEST_ANTHROPIC_KEY", sentinel)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    fake = FakeAnthropic(key=sentinel)
    try:
        target = make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW,
                             api_key_env={MODEL: "PSY_TEST_ANTHROPIC_KEY"})
        assert target.key_env == "PSY_TEST_ANTHROPIC_KEY"
        el = Elicitor(target, store, progress=False)
        el.generate([{"role": "user", "content": "question interactive"}])
        reqs = [BatchRequest.of(el, [{"role": "user", "content": f"question {i}"}], GenOptions(max_tokens=16))
                for i in range(3)]
        rep = batch.run(AnthropicBatchAPI(target), store, reqs, every_s=0.01)
        assert rep.collected == 3 and fake.keys == {sentinel}  # the key was used ...
    finally:
        fake.close()
    paths = [store.path, store.path.with_name(store.path.name + "-wal")]
    data = b"".join(q.read_bytes() for q in paths if q.exists())
    assert paths[1].exists() and len(data) > 0 and store.count() == 4
    text = json.dumps(store.export().to_dicts(), default=str) + json.dumps(store.batches(), default=str)
    text += "".join(capsys.readouterr())
    assert sentinel.encode() not in data and b"5e2b8d5e2b8d" not in data and "5e2b8d5e2b8d" not in text  # ... nowhere


# ---- batch mode: submit and poll, nothing twice -------------------------------------------------------------------
def test_submit_poll_store_then_nothing_twice(fake, store):
    el, api, reqs = setup(fake, store)
    held = el.generate(reqs[0].messages, reqs[0].gen_options())  # answered interactively first: never submitted
    assert not held.cached and fake.chat_calls == 1
    rep = run(api, store, reqs)
    assert (fake.submissions, rep.held, rep.submitted, rep.collected, rep.failed, rep.open) == (1, 1, N - 1, N - 1, 0, 0)
    sent = fake.inputs["msgbatch_01"]
    assert [x["custom_id"] for x in sent] == [r.key for r in reqs[1:]]
    # each request is the body an interactive call sends (system at the top level)
    assert sent[0]["params"] == api.target.payload(reqs[1].messages, reqs[1].gen_options())
    assert sent[0]["params"]["system"] == "Be brief." and "seed" not in sent[0]["params"]
    assert store.count() == N and set(ledger(store).values()) == {"collected"}
    for r in reqs:
        got = el.generate(r.messages, r.gen_options())
        assert got.cached and got.call_id == r.key
    assert fake.chat_calls == 1
    row = store.export([reqs[1].key]).row(0, named=True)
    meta = json.loads(row["meta"])
    assert meta["mode"] == "batch" and meta["batch"] == {**meta["batch"], "id": "msgbatch_01", "custom_id": reqs[1].key,
                                                         "provider": "anthropic", "requests": N - 1}
    assert meta["batch"]["wall_s"] is not None and meta["batch"]["wall_s"] >= 0
    assert (meta["served_model"], meta["done_reason"], meta["seed_honoured"]) == (SNAPSHOT, "end_turn", False)
    assert row["digest"] == f"anthropic:{SNAPSHOT}" and row["text"] == "answer: question 1"
    assert store.batches()[0]["provider"] == "anthropic" and store.batches()[0]["state"] == "collected"
    again = run(api, store, reqs)
    assert (fake.submissions, again.submitted, again.held) == (1, 0, N)


def test_an_open_request_is_never_submitted_twice(fake, store):
    el, api, reqs = setup(fake, store)
    fake.hold = True
    rep = run(api, store, reqs, wait=False)
    assert (rep.submitted, rep.open, fake.submissions) == (N, N, 1)
    rep = run(api, store, reqs, retry_failed=True, wait=False)
    assert (rep.submitted, rep.waiting, rep.open, fake.submissions) == (0, N, N, 1)
    assert set(ledger(store).values()) == {"pending"}
    with pytest.raises(BatchError, match="waits in the provider's batch msgbatch_01"):
        el.generate(reqs[0].messages, reqs[0].gen_options())
    assert fake.chat_calls == 0
    fake.hold = False
    rep = run(api, store, reqs)
    assert (rep.collected, fake.submissions, fake.chat_calls) == (N, 1, 0)


# ---- partial failure, expiry, cancel ------------------------------------------------------------------------------
def test_errored_results_are_left_missing_and_resubmitted_when_asked(fake, store):
    el, api, reqs = setup(fake, store)
    fake.outcome = "fail_some"
    rep = run(api, store, reqs)
    assert (rep.collected, rep.failed, store.count()) == (N - 2, 2, N - 2)
    states = ledger(store)
    assert [states[r.key] for r in reqs] == ["collected", "failed", "collected", "failed", "collected"]
    assert store.get(reqs[1].key) is None and store.get(reqs[3].key) is None
    assert any("invalid_request_error: max_tokens" in e for e in rep.errors) and any("api_error" in e for e in rep.errors)
    rep2 = run(api, store, reqs)
    assert (fake.submissions, rep2.not_retried, rep2.held) == (1, 2, N - 2)
    fake.outcome = "complete"
    rep3 = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep3.submitted, store.count()) == (2, 2, N)
    assert [x["custom_id"] for x in fake.inputs["msgbatch_02"]] == [reqs[1].key, reqs[3].key]


def test_expired_results_are_marked_and_resubmittable(fake, store):
    el, api, reqs = setup(fake, store)
    fake.outcome = "expire"
    rep = run(api, store, reqs)
    assert (rep.expired, rep.collected, store.count()) == (2, N - 2, N - 2)
    assert [ledger(store)[r.key] for r in reqs] == ["collected", "expired", "collected", "expired", "collected"]
    assert store.batches()[0]["state"] == "expired"
    fake.outcome = "complete"
    rep2 = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep2.submitted, rep2.collected, store.count()) == (2, 2, 2, N)


def test_abandon_cancels_at_the_provider_and_collects_what_it_completed(fake, store):
    el, api, reqs = setup(fake, store)
    fake.hold = True
    run(api, store, reqs, wait=False)
    with pytest.raises(BatchError, match="msgbatch_01 is cancelling at the provider") as e:
        batch.abandon(api, store, "msgbatch_01")
    assert one_sentence(str(e.value)) and fake.cancels == 1 and set(ledger(store).values()) == {"pending"}
    rep = batch.poll(api, store)  # canceling -> ended: 2 succeeded, the rest canceled
    assert (rep.collected, rep.failed, rep.open, store.count()) == (2, N - 2, 0, 2)
    assert [ledger(store)[r.key] for r in reqs] == ["collected"] * 2 + ["failed"] * (N - 2)
    assert store.batches()[0]["state"] == "failed"
    fake.hold = False
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep.submitted, store.count(), fake.chat_calls) == (2, N - 2, N, 0)


# ---- results that do not match the requests ------------------------------------------------------------------------
@pytest.mark.parametrize("outcome,what", [("unknown_id", "not submitted in it"), ("missing_id", "requests missing"),
                                          ("duplicate_id", "more than once")])
def test_results_that_do_not_match_are_refused(fake, store, outcome, what):
    el, api, reqs = setup(fake, store)
    fake.outcome = outcome
    with pytest.raises(BatchError) as e:
        run(api, store, reqs)
    msg = str(e.value)
    assert what in msg and "msgbatch_01" in msg and "none of it was stored" in msg and one_sentence(msg)
    assert store.count() == 0 and set(ledger(store).values()) <= {"submitted", "pending"}  # still open
    with pytest.raises(BatchError):  # refused again, never collected by a later poll
        run(api, store, reqs)
    with pytest.raises(BatchError, match="waits in the provider's batch msgbatch_01"):
        el.generate(reqs[0].messages, reqs[0].gen_options())
    assert (store.count(), fake.chat_calls, fake.submissions) == (0, 0, 1)
    rep = batch.abandon(api, store, "msgbatch_01")  # ended: nothing to cancel, its requests released
    assert (rep.failed, rep.collected, fake.cancels, store.count()) == (N, 0, 0, 0)
    assert el.generate(reqs[0].messages, reqs[0].gen_options()).text == "answer: question 0"


def test_results_elsewhere_than_the_api_are_not_read(fake, store, monkeypatch):
    """A results_url at another host is not fetched: the key goes to the spec's base URL only."""
    el, api, reqs = setup(fake, store)
    real = fake._advance

    def moved(bid):
        b = real(bid)
        return {**b, "results_url": "https://elsewhere.invalid/results"} if b["results_url"] else b

    monkeypatch.setattr(fake, "_advance", moved)
    with pytest.raises(BatchError, match="is not under the API's base URL") as e:
        run(api, store, reqs)
    assert one_sentence(str(e.value)) and store.count() == 0


# ---- a killed process resumes; a creation not seen is found, never guessed -----------------------------------------
SUBMITTER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_batch_anthropic import setup, run
    from analysis.core.store import ResponseStore

    class Fake:
        url = {url!r}

    store = ResponseStore({store!r})
    el, api, reqs = setup(Fake, store)
    run(api, store, reqs)
""")


def test_killed_submitter_resumes_by_polling(fake, store, tmp_path):
    fake.hold = True
    script = tmp_path / "submit.py"
    script.write_text(SUBMITTER.format(tests=str(ROOT / "tests" / "core"), url=fake.url, store=str(store.path)))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while fake.polls < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert fake.polls >= 2, proc.communicate(timeout=5)
    finally:
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait()
    assert fake.submissions == 1 and store.count() == 0
    assert set(ledger(store).values()) == {"pending"} and store.batches()[0]["batch_id"] == "msgbatch_01"
    el, api, reqs = setup(fake, store)
    with pytest.raises(BatchError, match="msgbatch_01"):
        el.generate(reqs[0].messages, reqs[0].gen_options())
    fake.hold = False
    rep = run(api, store, reqs)
    assert (fake.submissions, rep.submitted, rep.held, rep.collected, store.count()) == (1, 0, N, N, N)
    assert fake.chat_calls == 0


def test_a_batch_created_but_not_recorded_is_found_by_its_request_ids_once_ended(fake, store, monkeypatch):
    """Killed between the provider's answer and the ledger's update: while the batch runs it cannot be told apart
    (no metadata), so its requests stay open, never submitted again; once it has ended its results name exactly
    these requests, and it is collected."""
    el, api, reqs = setup(fake, store)
    fake.hold = True
    monkeypatch.setattr(store, "batch_created", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs)
    monkeypatch.undo()
    assert fake.submissions == 1 and store.batches()[0]["batch_id"] is None
    rep = run(api, store, reqs, retry_failed=True, wait=False, settle_s=0)  # even past the settle window
    assert (fake.submissions, rep.submitted, rep.waiting, rep.open, rep.failed) == (1, 0, N, N, 0)
    assert store.batch_waiting(reqs[0].key) is not None
    with pytest.raises(BatchError, match="was not seen, and 1 batch.* still running"):
        batch.abandon(api, store, store.batches()[0]["submission"])  # releasing now could pay twice: refused
    fake.hold = False
    fake._advance("msgbatch_01")  # it ends at the provider
    rep = run(api, store, reqs, settle_s=0)
    assert (fake.submissions, rep.submitted, rep.collected, store.count()) == (1, 0, N, N)
    b = store.batches()[0]
    assert b["batch_id"] == "msgbatch_01" and b["info"]["found_by"] == "request_ids"


def test_a_batch_of_someone_else_is_never_taken_for_ours(fake, store, monkeypatch):
    """A batch of the same size made by another program on the account: while it runs, the requests whose creation
    was not seen stay open; once it has ended its results name other requests, so it is not claimed, and the
    requests are released after the settle window (no batch of ours exists)."""
    el, api, reqs = setup(fake, store)
    fake.hold = True
    monkeypatch.setattr(api, "create", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))  # never sent
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs)
    monkeypatch.undo()
    other = [{"custom_id": f"theirs-{i}", "params": {"model": MODEL, "max_tokens": 8,
                                                   "messages": [{"role": "user", "content": f"question {i}"}]}}
             for i in range(N)]
    fake.add_batch(other)
    fake.add_batch(other[:2])  # another size: never a candidate
    rep = run(api, store, reqs, wait=False, settle_s=0)
    assert (rep.open, rep.failed, rep.submitted) == (N, 0, 0) and store.batch_waiting(reqs[0].key) is not None
    fake.hold = False
    fake._advance("msgbatch_01")
    rep = run(api, store, reqs, wait=False)  # within the settle window: the list may lag, still open
    assert (rep.open, rep.failed) == (N, 0)
    rep = run(api, store, reqs, settle_s=0)
    assert (rep.failed, rep.submitted, store.count()) == (N, 0, 0)
    assert store.batches()[0]["batch_id"] is None  # the other batch was not claimed
    rep = run(api, store, reqs, retry_failed=True)
    assert (rep.submitted, rep.collected, fake.submissions) == (N, N, 3)


def test_an_old_batch_is_not_a_candidate(fake, store, monkeypatch):
    """A running batch created before the submission was recorded (less the clock allowance) cannot be its batch:
    it does not hold the requests open."""
    el, api, reqs = setup(fake, store)
    monkeypatch.setattr(api, "create", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))  # never sent
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs)
    monkeypatch.undo()
    fake.hold = True
    fake.add_batch([{"custom_id": f"theirs-{i}", "params": {"model": MODEL, "max_tokens": 8, "messages": [
        {"role": "user", "content": "question"}]}} for i in range(N)])
    fake.batches["msgbatch_01"]["created_at"] = _rfc3339(time.time() - 3600)
    rep = run(api, store, reqs, wait=False, settle_s=0)
    assert (rep.failed, rep.open, rep.submitted) == (N, 0, 0)


def test_a_batch_the_ledger_holds_is_not_a_candidate(fake, store, monkeypatch):
    """Our own running batch of the same size, known to the ledger, is never taken for another submission's."""
    el, api, reqs = setup(fake, store, 2 * N)
    fake.hold = True
    assert run(api, store, reqs[:N], wait=False).open == N  # msgbatch_01: ours, recorded, running
    monkeypatch.setattr(api, "create", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))  # never sent
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs[N:])
    monkeypatch.undo()
    rep = run(api, store, reqs[N:], wait=False, settle_s=0)
    assert (rep.failed, rep.open, fake.submissions) == (N, N, 1)  # released; only msgbatch_01's requests open
    assert [ledger(store)[r.key] for r in reqs] == ["pending"] * N + ["failed"] * N


def test_a_server_error_on_creation_keeps_the_requests_until_the_batch_is_known(fake, store):
    """HTTP 529 on create is no definite answer (it may exist) and creation is never retried: the requests stay open
    until the batch, once ended, is found by its request ids."""
    el, api, reqs = setup(fake, store)
    fake.fail_after_create, fake.hold = 529, True
    with pytest.raises(BatchError, match="no definite answer .*HTTP 529.* finds it by the ids of its requests once it "
                                         "has ended") as e:
        run(api, store, reqs)
    assert one_sentence(str(e.value)) and (fake.create_attempts, fake.submissions) == (1, 1)
    fake.fail_after_create = None
    rep = run(api, store, reqs, retry_failed=True, wait=False, settle_s=0)
    assert (fake.create_attempts, rep.submitted, rep.waiting, rep.open) == (1, 0, N, N)
    fake.hold = False
    fake._advance("msgbatch_01")
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.create_attempts, rep.submitted, rep.collected, store.count()) == (1, 0, N, N)


@pytest.mark.parametrize("status", [400, 429])
def test_a_refused_batch_is_released_at_once(fake, store, status):
    el, api, reqs = setup(fake, store)
    fake.refuse = status
    with pytest.raises(ServerError, match=f"HTTP {status}: Batch refused"):
        run(api, store, reqs)
    assert (fake.create_attempts, fake.submissions) == (1, 0)
    assert set(ledger(store).values()) == {"failed"} and store.batch_waiting(reqs[0].key) is None
    fake.refuse = None
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep.collected) == (1, N)


def cli_status(fake, store, tmp_path, capsys) -> str:
    """What `python -m analysis.pipeline.batch status` prints with the fake's model in models and targets.batch."""
    import yaml

    from analysis.pipeline import batch as cli

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"models": [f"anthropic:{MODEL}@{fake.url}"],
                                      "targets": {**TARGET_KW, "batch": [f"anthropic:{MODEL}"]}}))
    capsys.readouterr()
    cli.main(["status", "--params", str(params), "--store", str(store.path)])
    return capsys.readouterr().out


def test_a_batch_left_under_a_moved_alias_is_said_and_collected_once_pinned(fake, store, tmp_path, capsys):
    """The alias moves to a new snapshot while a batch runs: the target built now has another digest, so its keys
    differ and no poll of it would collect the batch. poll refuses in one sentence naming both digests (and submits
    nothing: no answer paid for twice); with the recorded snapshot declared, the batch is collected."""
    el, api, reqs = setup(fake, store)
    fake.hold = True
    assert run(api, store, reqs, wait=False).open == N
    fake.snapshot = "claude-fake-20260301"
    moved = make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW)
    assert moved.digest == "anthropic:claude-fake-20260301"
    el2 = Elicitor(moved, store, progress=False)
    reqs2 = [BatchRequest.of(el2, r.messages, r.gen_options()) for r in reqs]
    fake.hold = False
    for call in (lambda: run(AnthropicBatchAPI(moved), store, reqs2), lambda: batch.poll(AnthropicBatchAPI(moved), store)):
        with pytest.raises(BatchError, match=f"msgbatch_01; {N} requests\\) were submitted under digest "
                                             f"anthropic:{SNAPSHOT}, but the model is now served as "
                                             "anthropic:claude-fake-20260301.*model_digests: {claude-fake: "
                                             f"'anthropic:{SNAPSHOT}'}}") as e:
            call()
        assert one_sentence(str(e.value))
    assert (fake.submissions, fake.chat_calls, store.count()) == (1, 0, 0)
    status = cli_status(fake, store, tmp_path, capsys)  # status says it too (the name resolved once)
    assert f"(anthropic:{SNAPSHOT})" in status and "but the model is now served as anthropic:claude-fake-20260301" in status
    pinned = make_target(f"anthropic:{MODEL}@{fake.url}", **TARGET_KW, model_digests={MODEL: f"anthropic:{SNAPSHOT}"})
    assert pinned.digest == f"anthropic:{SNAPSHOT}"
    rep = run(AnthropicBatchAPI(pinned), store, [])
    assert (rep.collected, fake.submissions, store.count()) == (N, 1, N)
    assert all(Elicitor(pinned, store, progress=False).generate(r.messages, r.gen_options()).cached for r in reqs)
    assert batch.moved(AnthropicBatchAPI(moved), store) is None  # nothing open is left behind


def test_a_creation_that_outlasts_the_settle_window_is_reopened_not_lost(fake, store, monkeypatch):
    """Another process's poll releases the requests while this process's create is still under way (the list
    showed no batch after the settle window): the batch the provider then creates is recorded against the released
    submission, its requests open again, and it is collected; nothing is called or submitted again."""
    el, api, reqs = setup(fake, store)
    create = api.create

    def slow_create(staged, submission):
        fake.hide_list = True
        assert batch.poll(api, store, settle_s=0).failed == N  # the concurrent poll: released
        fake.hide_list = False
        return create(staged, submission)

    monkeypatch.setattr(api, "create", slow_create)
    rep = run(api, store, reqs)
    assert (rep.submitted, rep.collected, fake.submissions, fake.cancels, store.count()) == (N, N, 1, 0, N)
    assert set(ledger(store).values()) == {"collected"} and store.batches()[0]["batch_id"] == "msgbatch_01"


def test_a_creation_after_its_requests_went_to_another_batch_is_cancelled(fake, store, monkeypatch):
    """... and when the released requests were submitted again meanwhile, the late batch is cancelled at the
    provider and refused in one sentence: each request is collected once, from the other batch."""
    el, api, reqs = setup(fake, store)
    create = api.create

    def slow_create(staged, submission):
        fake.hide_list = True
        batch.poll(api, store, settle_s=0)
        fake.hide_list, fake.hold = False, True
        monkeypatch.setattr(api, "create", create)  # the other process creates its batch at once
        assert batch.submit(api, store, reqs, retry_failed=True).submitted == N  # msgbatch_01
        return create(staged, submission)  # msgbatch_02

    monkeypatch.setattr(api, "create", slow_create)
    with pytest.raises(BatchError, match="Batch msgbatch_02 of 5 requests was created .* after another process's "
                                         "poll had released them .* 5 of them wait in another batch since, so it "
                                         "was cancelled there") as e:
        run(api, store, reqs, timeout_s=2)
    assert one_sentence(str(e.value)) and fake.cancels == 1
    assert fake.batches["msgbatch_02"]["processing_status"] == "canceling"
    late = next(b for b in store.batches() if b["batch_id"] == "msgbatch_02")
    assert late["state"] == "failed" and "conflict" in late["info"]
    monkeypatch.undo()
    fake.hold = False
    rep = run(api, store, reqs)
    assert (rep.collected, rep.submitted, store.count(), fake.submissions) == (N, 0, N, 2)


def test_a_capped_list_of_batches_is_not_read_as_no_batch(fake, store, monkeypatch):
    """More batches newer than the submission than the pages read: the batch may be among the rest, so the requests
    stay open past the settle window (never released, never submitted again)."""
    el, api, reqs = setup(fake, store)
    monkeypatch.setattr(api, "create", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))  # creation unseen
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs)
    monkeypatch.undo()
    for i in range(3 * 100 + 5):  # other programs' batches, newer than the submission
        fake.add_batch([{"custom_id": f"x{i}", "params": {}}])
    monkeypatch.setattr(batch, "LIST_PAGES", 2, raising=False)
    rep = run(api, store, reqs, wait=False, settle_s=0)
    assert (rep.open, rep.failed, rep.submitted, fake.submissions) == (N, 0, 0, 305)
    monkeypatch.setattr(batch, "LIST_PAGES", 4, raising=False)  # the whole list read: no batch of ours
    rep = run(api, store, reqs, wait=False, settle_s=0)
    assert (rep.open, rep.failed, rep.submitted) == (0, N, 0)


def test_a_cancel_after_every_request_succeeded_is_a_collected_batch():
    """Anthropic sets cancel_initiated_at also when the batch had finished every request: nothing failed, so the batch
    is collected, not failed; an empty answer's error names its stop_reason."""
    ended = {"id": "msgbatch_x", "processing_status": "ended", "cancel_initiated_at": "2026-01-01T00:00:00Z",
             "request_counts": {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0}}
    assert AnthropicBatchAPI._batch(ended).status == "completed"
    ended["request_counts"] = {**ended["request_counts"], "succeeded": 2, "canceled": 1}
    assert AnthropicBatchAPI._batch(ended).status == "cancelled"


def test_an_empty_answer_names_its_stop_reason(fake, store):
    el, api, reqs = setup(fake, store, 1)
    empty = {**message(api.line(reqs[0].key, reqs[0])["params"]), "content": [], "stop_reason": "max_tokens"}
    raw, err, state = api.outcome({"custom_id": reqs[0].key, "result": {"type": "succeeded", "message": empty}}, reqs[0])
    assert (raw, state) == (None, "failed") and "stop_reason 'max_tokens'" in err


def test_a_large_submission_is_cut_within_the_limits(fake, store, monkeypatch):
    el, api, reqs = setup(fake, store)
    monkeypatch.setattr(api, "max_requests", 2)
    rep = run(api, store, reqs)
    assert (fake.submissions, rep.collected, len(rep.batch_ids)) == (3, N, 3)
    assert [len(fake.inputs[b]) for b in sorted(fake.inputs)] == [2, 2, 1]


# ---- the command: the adapter follows the target's kind; Study 3's sessions stay interactive -----------------------
def test_the_command_batches_an_anthropic_model(fake, store, tmp_path, capsys):
    import yaml

    from analysis.core.params import read_yaml
    from analysis.pipeline import batch as cli
    from analysis.studies import get

    raw = read_yaml(ROOT / "params.yaml")
    raw["models"] = [f"anthropic:{MODEL}@{fake.url}"]
    raw["targets"] = {**TARGET_KW, "batch": [f"anthropic:{MODEL}"]}
    raw["bigfive"]["collect"].update(get("bigfive").tiny["collect"])
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    common = ["--params", str(params), "--store", str(store.path)]
    cli.main(["submit", "--study", "bigfive", "--wait", "--every", "0.01", *common])
    out = capsys.readouterr().out
    assert f"anthropic:{MODEL}: " in out and "submitted in 1 new batch(es) (msgbatch_01)" in out and "0 failed" in out
    assert store.batches()[0]["provider"] == "anthropic" and fake.chat_calls == 0 and store.count() > 0
    cli.main(["status", *common])
    assert "msgbatch_01" in capsys.readouterr().out
    fake.hold = True
    cli.main(["submit", "--study", "bigfive", "--study", "therapy", *common])
    assert "submitted in 1 new batch(es) (msgbatch_02)" in capsys.readouterr().out
    sent = fake.inputs["msgbatch_02"]
    assert sent and not [x for x in sent if any(m["role"] == "assistant" for m in x["params"]["messages"])]
    keys = {x["custom_id"] for x in sent}
    tags = dict(sqlite3.connect(store.path).execute("SELECT key, json_extract(request, '$.tag') FROM "
                                                    "batch_requests").fetchall())
    assert "therapy/session" not in {tags[k] for k in keys}  # the sessions stay interactive
    with pytest.raises(SystemExit, match="msgbatch_02 is cancelling at the provider"):
        cli.main(["abandon", "msgbatch_02", *common])
    assert fake.cancels == 1


def test_batch_mode_is_for_hosted_kinds_only(store, make_elicitor):
    with pytest.raises(BatchError, match="needs an openai: or anthropic: model"):
        batch.api_for(make_elicitor().target)
    ahead = datetime.now(UTC) + timedelta(hours=1)
    assert batch._epoch(ahead.isoformat().replace("+00:00", "Z")) == pytest.approx(ahead.timestamp())


@pytest.mark.parametrize("options,what", [(GenOptions(temperature=1.5), "temperature"),
                                          (GenOptions(top_p=1.2), "top_p")])
def test_a_sampling_option_outside_anthropics_range_is_refused_before_any_request(fake, store, options, what):
    """Anthropic's temperature and top_p run from 0 to 1: a value outside is refused in one sentence before a call
    or a batch is sent (the API would refuse it too, but a batch would carry it to every request first)."""
    el, api, _ = setup(fake, store, 1)
    msgs = [{"role": "user", "content": "question"}]
    with pytest.raises(ParamsError) as e:
        el.generate(msgs, options)
    assert f"takes a {what} from 0 to 1" in str(e.value) and one_sentence(str(e.value))
    with pytest.raises(ParamsError):
        run(api, store, [BatchRequest.of(el, msgs, options)])
    assert fake.chat_calls == 0 and fake.submissions == 0
    assert el.target.payload(msgs, GenOptions(temperature=1.0, top_p=0.0))["temperature"] == 1.0  # the bounds pass
