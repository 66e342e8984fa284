"""Batch mode (issue 21) against a fake OpenAI Batch API on 127.0.0.1 that follows the documented formats (a JSONL
file uploaded to /v1/files with purpose=batch, /v1/batches, /v1/files/{id}/content) and counts what it is sent:
submit and poll, partial failure, expiry, a killed process resuming, and result files that do not match the
requests (refused in one sentence, nothing stored). The response store is the ledger throughout."""

from __future__ import annotations

import email.parser
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from analysis.core import batch
from analysis.core.batch import BatchRequest, OpenAIBatchAPI
from analysis.core.elicit import Elicitor
from analysis.core.errors import BatchError, ParamsError, ServerError
from analysis.core.models import GenOptions, make_target
from analysis.core.paths import ROOT
from analysis.core.planning import _latencies
from analysis.core.store import ResponseStore

MODEL = "gpt-fake"
TARGET_KW = {"model_digests": {MODEL: "provider-2026-01"}, "retries": 1, "backoff_s": 0.01, "timeout_s": 5}
N = 5


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    msg = email.parser.BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in msg.get_payload()}


def completion(body: dict) -> dict:
    """A chat completion as OpenAI returns it: the reply names the question, with log-probabilities when asked."""
    reply = "3" if body.get("logprobs") else "answer: " + body["messages"][-1]["content"]
    choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply}}
    if body.get("logprobs"):
        choice["logprobs"] = {"content": [{"token": "3", "logprob": -0.1, "top_logprobs": [
            {"token": "3", "logprob": -0.1}, {"token": "4", "logprob": -2.4}]}]}
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"], "choices": [choice],
            "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13}}


class FakeBatchAPI:
    """OpenAI's Batch API as documented, for one hosted model. ``hold``: batches stay in_progress while it is set;
    ``outcome``: how the next batch ends ('complete', 'fail_some', 'expire', 'unknown_id', 'missing_id',
    'duplicate_id'); ``POST /v1/batches/{id}/cancel`` turns a batch cancelling, then cancelled with the first
    ``done_before_cancel`` requests answered. ``no_api``: no Batch API (404 on /v1/files and /v1/batches);
    ``refuse``: POST /v1/batches answers that status and creates nothing; ``fail_after_create``: it creates the
    batch, then answers that status; ``hide_list``: the list of batches lags (shows none). Counts batches created
    (``submissions``), interactive chat calls (``chat_calls``) and cancels, and keeps every Authorization header."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.inputs: dict[str, list[dict]] = {}
        self.submissions = 0
        self.chat_calls = 0
        self.polls = 0
        self.hold = False
        self.outcome = "complete"
        self.refuse: int | None = None  # an HTTP status POST /v1/batches answers with instead of creating a batch
        self.fail_after_create: int | None = None  # ... answers with after creating the batch
        self.hide_list = False
        self.no_api = False
        self.done_before_cancel = 2
        self.cancels = 0
        self.auth: set[str] = set()
        self.create_attempts = 0
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

            def _no_api(self, path: str) -> bool:
                fake.auth.add(self.headers.get("authorization") or "")
                return fake.no_api and path.startswith(("/v1/files", "/v1/batches"))

            def do_GET(self):
                path = self.path.split("?")[0]
                with fake.lock:
                    if self._no_api(path):
                        return self._send(404, {"error": {"message": f"no route {path}"}})
                    if path == "/v1/models":
                        return self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model",
                                                                            "owned_by": "openai"}]})
                    if path == "/v1/batches":
                        shown = [] if fake.hide_list else list(fake.batches.values())[::-1]
                        return self._send(200, {"object": "list", "data": shown, "has_more": False})
                    m = re.fullmatch(r"/v1/batches/([\w-]+)", path)
                    if m and m.group(1) in fake.batches:
                        fake.polls += 1
                        return self._send(200, fake._advance(m.group(1)))
                    m = re.fullmatch(r"/v1/files/([\w-]+)/content", path)
                    if m and m.group(1) in fake.files:
                        return self._send(200, fake.files[m.group(1)], "application/octet-stream")
                self._send(404, {"error": {"message": f"no route {path}"}})

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n)
                with fake.lock:
                    if self._no_api(self.path):
                        return self._send(404, {"error": {"message": f"no route {self.path}"}})
                    m = re.fullmatch(r"/v1/batches/([\w-]+)/cancel", self.path)
                    if m and m.group(1) in fake.batches:
                        fake.cancels += 1
                        b = fake.batches[m.group(1)]
                        if b["status"] in ("validating", "in_progress", "finalizing"):
                            b["status"] = "cancelling"
                        return self._send(200, b)
                    if self.path == "/v1/files":
                        form = _multipart(self.headers["content-type"], raw)
                        assert form["purpose"] == b"batch"
                        fid = f"file-{len(fake.files) + 1}"
                        fake.files[fid] = form["file"]
                        return self._send(200, {"id": fid, "object": "file", "purpose": "batch",
                                                "bytes": len(form["file"])})
                    body = json.loads(raw)
                    if self.path == "/v1/batches":
                        fake.create_attempts += 1
                        if fake.refuse:
                            return self._send(fake.refuse, {"error": {"message": "The batch input file is invalid."}})
                        assert body["endpoint"] == "/v1/chat/completions" and body["completion_window"] == "24h"
                        fake.submissions += 1
                        bid = f"batch_{fake.submissions}"
                        lines = [json.loads(x) for x in fake.files[body["input_file_id"]].decode().splitlines()]
                        assert all(x["method"] == "POST" and x["url"] == "/v1/chat/completions" for x in lines)
                        fake.inputs[bid] = lines
                        fake.batches[bid] = {"id": bid, "object": "batch", "endpoint": body["endpoint"],
                                             "input_file_id": body["input_file_id"], "completion_window": "24h",
                                             "status": "validating", "output_file_id": None, "error_file_id": None,
                                             "created_at": int(time.time()), "metadata": body.get("metadata"),
                                             "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
                        if fake.fail_after_create:
                            return self._send(fake.fail_after_create, {"error": {"message": "Upstream timed out."}})
                        return self._send(200, fake.batches[bid])
                    if self.path == "/v1/chat/completions":
                        fake.chat_calls += 1
                        return self._send(200, completion(body))
                self._send(404, {"error": {"message": "no route"}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _advance(self, bid: str) -> dict:
        """A batch moves validating -> in_progress -> its outcome (held in_progress while ``hold``)."""
        b = self.batches[bid]
        if b["status"] == "cancelling":  # the requests it reached are answered, the others never
            rows = [{"id": f"batch_req_{i}", "custom_id": x["custom_id"], "error": None,
                     "response": {"status_code": 200, "request_id": f"req_{i}", "body": completion(x["body"])}}
                    for i, x in enumerate(self.inputs[bid][:self.done_before_cancel])]
            if rows:
                fid = f"file-{len(self.files) + 1}"
                self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                b["output_file_id"] = fid
            b["status"], b["cancelled_at"] = "cancelled", int(time.time()) + 1
            return b
        if b["status"] == "validating" or (b["status"] == "in_progress" and self.hold):
            b["status"] = "in_progress"
            return b
        if b["status"] != "in_progress":
            return b
        lines = self.inputs[bid]
        out, err = [], []
        for i, x in enumerate(lines):
            ok = {"id": f"batch_req_{i}", "custom_id": x["custom_id"], "error": None,
                  "response": {"status_code": 200, "request_id": f"req_{i}", "body": completion(x["body"])}}
            if self.outcome == "fail_some" and i == 1:
                err.append({**ok, "response": {"status_code": 400, "request_id": f"req_{i}", "body": {
                    "error": {"message": "Invalid value for 'max_tokens'.", "type": "invalid_request_error"}}}})
            elif self.outcome == "fail_some" and i == 3:
                err.append({**ok, "response": None, "error": {"code": "server_error", "message": "Internal error."}})
            elif self.outcome == "expire":
                if i % 2:  # some unfinished requests are reported as batch_expired, the others are absent
                    err.append({**ok, "response": None, "error": {"code": "batch_expired",
                                                                  "message": "This request could not be executed "
                                                                             "before the completion window expired."}})
            elif self.outcome == "missing_id" and i == 0:
                continue
            else:
                out.append(ok)
        if self.outcome == "unknown_id":
            out.append({**out[0], "custom_id": "request-that-was-never-sent"})
        if self.outcome == "duplicate_id":
            out.append(out[0])
        now = int(time.time())
        for name, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                fid = f"file-{len(self.files) + 1}"
                self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                b[name] = fid
        b["status"] = "expired" if self.outcome == "expire" else "completed"
        b["expired_at" if self.outcome == "expire" else "completed_at"] = now + 1
        b["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}
        return b

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    f = FakeBatchAPI()
    yield f
    f.close()


def setup(fake, store, n: int = N):
    """A hosted model at the fake, its Elicitor, the Batch API client and ``n`` single-turn requests (the last asks
    for log-probabilities, as option scoring does)."""
    target = make_target(f"openai:{MODEL}@{fake.url}", **TARGET_KW)
    el = Elicitor(target, store, progress=False)
    reqs = [BatchRequest.of(el, [{"role": "user", "content": f"question {i}"}], GenOptions(max_tokens=16))
            for i in range(n - 1)]
    reqs.append(BatchRequest.of(el, [{"role": "user", "content": "Rate 1-5"}], GenOptions(max_tokens=1),
                                top_logprobs=5))
    return el, OpenAIBatchAPI(target), reqs


def ledger(store) -> dict[str, str]:
    return dict(sqlite3.connect(store.path).execute("SELECT key, state FROM batch_requests ORDER BY rowid").fetchall())


def run(api, store, reqs, **kw):
    return batch.run(api, store, reqs, every_s=0.01, log=lambda s: None, **kw)


# ---- (a) submit and poll; a second run submits nothing and the stage makes no call --------------------------------
def test_submit_poll_store_then_nothing_twice(fake, store):
    el, api, reqs = setup(fake, store)
    rep = run(api, store, reqs)
    assert (fake.submissions, rep.submitted, rep.collected, rep.failed, rep.open) == (1, N, N, 0, 0)
    assert store.count() == N and set(ledger(store).values()) == {"collected"}
    # every answer is an ordinary row of the store: the Elicitor finds each, no call reaches the model
    for r in reqs:
        got = el.generate(r.messages, r.gen_options(), top_logprobs=r.top_logprobs)
        assert got.cached and got.call_id == r.key
    assert got.text == "3" and got.logprobs[0].top[0] == ("3", -0.1)
    assert el.generate(reqs[0].messages, GenOptions(max_tokens=16)).text == "answer: question 0"
    assert fake.chat_calls == 0
    # the same provenance as an interactive call, plus the batch
    row = store.export([reqs[0].key]).row(0, named=True)
    meta = json.loads(row["meta"])
    assert meta["mode"] == "batch" and meta["batch"]["id"] == "batch_1" and meta["batch"]["custom_id"] == reqs[0].key
    assert meta["host"] == fake.url and meta["usage"]["prompt_tokens"] == 12 and meta["done_reason"] == "stop"
    assert row["digest"] == "declared:provider-2026-01" and row["target_spec"] == f"openai:{MODEL}"
    assert json.loads(row["messages"]) == reqs[0].messages and row["seed"] == 0
    # no model time per answer (the batch's turnaround is in meta): batch answers add nothing to a stage's model time
    assert row["latency_s"] == 0.0 and meta["batch"]["wall_s"] > 0 and el.recorded_cost() == (N, 0.0)
    assert _latencies(store.path, api.target.spec, api.target.digest) == {}  # and nothing to the plan's call times
    el.generate([{"role": "user", "content": "an interactive one"}])
    assert _latencies(store.path, api.target.spec, api.target.digest)["generate"][1] == 1
    # the input file holds what an interactive call would send
    assert fake.inputs["batch_1"][0]["body"] == api.target.payload(reqs[0].messages, GenOptions(max_tokens=16))
    again = run(api, store, reqs)
    assert (fake.submissions, again.submitted, again.held, fake.chat_calls) == (1, 0, N, 1)


# ---- (b) partial failure: errors left missing and counted, the rest stored -------------------------------------
def test_partial_failure_leaves_errors_missing(fake, store):
    el, api, reqs = setup(fake, store)
    fake.outcome = "fail_some"
    rep = run(api, store, reqs)
    assert (rep.collected, rep.failed, store.count()) == (N - 2, 2, N - 2)
    states = ledger(store)
    assert [states[r.key] for r in reqs] == ["collected", "failed", "collected", "failed", "collected"]
    assert store.get(reqs[1].key) is None and store.get(reqs[3].key) is None
    assert any("max_tokens" in e for e in rep.errors) and any("server_error" in e for e in rep.errors)
    assert "2 failed" in rep.sentence()
    # not submitted again unless asked
    rep2 = run(api, store, reqs)
    assert (fake.submissions, rep2.not_retried, rep2.held) == (1, 2, N - 2)
    fake.outcome = "complete"
    rep3 = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep3.submitted, store.count()) == (2, 2, N)
    assert len(fake.inputs["batch_2"]) == 2


# ---- (c) expiry: marked expired, nothing stored, submitted again when asked -------------------------------------
def test_expired_batch_is_marked_and_resubmittable(fake, store):
    el, api, reqs = setup(fake, store)
    fake.outcome = "expire"
    rep = run(api, store, reqs)
    assert (rep.expired, rep.collected, store.count()) == (N, 0, 0)
    assert set(ledger(store).values()) == {"expired"}
    assert store.batches()[0]["state"] == "expired"
    fake.outcome = "complete"
    rep2 = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep2.submitted, rep2.collected, store.count()) == (2, N, N, N)


# ---- (d) a killed process resumes by polling, never submitting again -------------------------------------------
SUBMITTER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_batch import setup, run
    from analysis.core.store import ResponseStore

    class Fake:
        url = {url!r}

    store = ResponseStore({store!r})
    el, api, reqs = setup(Fake, store)
    run(api, store, reqs)
""")


def test_killed_submitter_resumes_by_polling(fake, store, tmp_path):
    fake.hold = True  # the batch stays in progress: the submitter polls until it is killed
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
    assert set(ledger(store).values()) == {"pending"} and store.batches()[0]["batch_id"] == "batch_1"
    el, api, reqs = setup(fake, store)
    # while it waits, the stage refuses to pay for an answer a second time
    with pytest.raises(BatchError, match="batch_1"):
        el.generate(reqs[0].messages, reqs[0].gen_options())
    fake.hold = False
    rep = run(api, store, reqs)
    assert (fake.submissions, rep.submitted, rep.held, rep.collected, store.count()) == (1, 0, N, N, N)
    assert fake.chat_calls == 0


def test_batch_created_but_not_recorded_is_found_by_its_metadata(fake, store, monkeypatch):
    """Killed between the provider's answer and the ledger's update: the batch is found in the provider's list."""
    el, api, reqs = setup(fake, store)

    def killed(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "batch_created", killed)
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs)
    monkeypatch.undo()
    assert fake.submissions == 1 and store.batches()[0]["batch_id"] is None
    rep = run(api, store, reqs)
    assert (fake.submissions, rep.submitted, rep.collected) == (1, 0, N)
    assert store.batches()[0]["batch_id"] == "batch_1"


def test_a_capped_list_of_batches_is_not_read_as_no_batch(fake, store, monkeypatch):
    """The provider's list goes on past the pages read, every batch on them newer than the submission: its batch may
    be further down, so that is not yet known (the requests stay open past the settle window), never "no batch";
    a list that reaches a batch older than the submission has said all it can (none: released)."""
    el, api, reqs = setup(fake, store)
    monkeypatch.setattr(api, "create", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))  # creation unseen
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs)
    monkeypatch.undo()
    now = int(time.time())
    ages: list[int] = []  # the age of the batches on the pages after the first
    sent = []

    def listing(method, path, **kw):
        sent.append(kw.get("params"))
        if path != "/batches" or method != "GET":
            raise AssertionError(path)
        page = len(sent)
        data = [{"id": f"batch_x{page}_{i}", "status": "completed", "created_at": now - (ages[0] if page > 1 else 0),
                 "metadata": {"psy_submission": "someone-else"}} for i in range(100)]
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": True, "last_id": data[-1]["id"]})

    monkeypatch.setattr(api, "_call", listing)
    monkeypatch.setattr(batch, "LIST_PAGES", 3, raising=False)
    ages.append(0)
    sub = batch._submission(store, store.batches()[0]["submission"])
    with pytest.raises(batch.NotYetKnown, match="goes on past the 300 newest"):
        api.find(sub)
    assert len(sent) == 3 and sent[1] == {"limit": 100, "after": "batch_x1_99"}
    rep = run(api, store, [], wait=False, settle_s=0)
    assert (rep.open, rep.failed) == (N, 0) and store.batch_waiting(reqs[0].key) is not None
    ages[0] = 2 * 3600  # the second page is older than the submission: nothing further down can be its batch
    sent.clear()
    assert api.find(sub) is None and len(sent) == 2


def test_batch_never_created_is_released(fake, store, monkeypatch):
    el, api, reqs = setup(fake, store)

    def killed(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "create", killed)  # killed after the upload, while creating the batch
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs)
    monkeypatch.undo()
    rep = run(api, store, reqs, wait=False)  # another process may still be creating it: left open for a while
    assert (fake.submissions, rep.open, rep.waiting, store.batch_waiting(reqs[0].key) is not None) == (0, N, N, True)
    rep = run(api, store, reqs, settle_s=0)  # not in the provider's list: released as failed, not submitted again
    assert (fake.submissions, rep.failed, rep.submitted) == (0, N, 0)
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep.collected) == (1, N)


@pytest.mark.parametrize("status", [400, 429])
def test_a_refused_batch_is_released_and_never_retried_blindly(fake, store, status):
    """Creating a batch is never retried (a second one would be paid twice); one the provider definitely refused
    (HTTP 4xx) frees its requests at once, to be submitted again when asked."""
    el, api, reqs = setup(fake, store)
    fake.refuse = status
    with pytest.raises(ServerError, match=f"HTTP {status}: The batch input file is invalid"):
        run(api, store, reqs)
    assert (fake.create_attempts, fake.submissions) == (1, 0)
    assert set(ledger(store).values()) == {"failed"} and store.batch_waiting(reqs[0].key) is None
    fake.refuse = None
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep.collected) == (1, N)


def test_a_server_error_on_creation_keeps_the_requests_open_until_settled(fake, store):
    """HTTP 500 on POST /v1/batches is no definite answer: the provider may have created the batch, so its requests
    stay open (not submitted again, not even with --retry-failed) until the settle window says it does not exist."""
    el, api, reqs = setup(fake, store)
    fake.refuse = 500
    with pytest.raises(BatchError, match="no definite answer .*HTTP 500.* stay open until") as e:
        run(api, store, reqs)
    assert "\n" not in str(e.value) and not re.search(r"[.;] [A-Z]", str(e.value))
    assert set(ledger(store).values()) == {"submitted"} and store.batch_waiting(reqs[0].key) is not None
    fake.refuse = None
    rep = run(api, store, reqs, retry_failed=True, wait=False)
    assert (fake.create_attempts, rep.submitted, rep.waiting, rep.open) == (1, 0, N, N)
    rep = run(api, store, reqs, settle_s=0)  # still not in the provider's list: released, not submitted again
    assert (fake.create_attempts, rep.failed, rep.submitted) == (1, N, 0)
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep.collected) == (1, N)


def test_a_batch_created_despite_a_server_error_is_never_paid_twice(fake, store):
    """The provider created the batch but answered 502, and its list lags: the requests wait for the list, and
    --retry-failed submits nothing; once the list shows the batch, it is collected."""
    el, api, reqs = setup(fake, store)
    fake.fail_after_create, fake.hide_list = 502, True
    with pytest.raises(BatchError, match="may have created it"):
        run(api, store, reqs)
    fake.fail_after_create = None
    rep = run(api, store, reqs, retry_failed=True, wait=False)
    assert (fake.submissions, rep.submitted, rep.waiting, store.count()) == (1, 0, N, 0)
    fake.hide_list = False
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep.submitted, rep.collected, store.count()) == (1, 0, N, N)
    assert store.batches()[0]["batch_id"] == "batch_1"


def test_a_server_without_a_batch_api_releases_at_once(fake, store, monkeypatch):
    """404 on /v1/files: nothing was created, so the requests are released at once (the stage may call them);
    a local batch recorded earlier whose list is 404 is released by the next poll, in one sentence."""
    el, api, reqs = setup(fake, store)
    fake.no_api = True
    with pytest.raises(BatchError, match=f"has no Batch API .*take openai:{MODEL} out of targets.batch") as e:
        run(api, store, reqs)
    assert "\n" not in str(e.value) and not re.search(r"[.;] [A-Z]", str(e.value))
    assert fake.create_attempts == 0 and set(ledger(store).values()) == {"failed"}
    assert store.batch_waiting(reqs[0].key) is None
    assert el.generate(reqs[0].messages, reqs[0].gen_options()).text == "answer: question 0"
    assert fake.chat_calls == 1

    fake.no_api = False  # a batch recorded while the server had one, its creation not seen ...
    monkeypatch.setattr(api, "create", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run(api, store, reqs[1:], retry_failed=True)
    monkeypatch.undo()
    assert store.batch_waiting(reqs[1].key) is not None
    fake.no_api = True  # ... and now there is none: the poll releases it at once, never stuck
    with pytest.raises(BatchError, match=f"no Batch API .*so the {N - 1} requests recorded for it were released"):
        batch.poll(api, store)
    assert store.batch_waiting(reqs[1].key) is None and store.batches(open_only=True) == []
    assert batch.poll(api, store).open == 0  # settled: nothing raised again


def test_requests_of_another_model_are_refused(fake, store):
    el, api, reqs = setup(fake, store)
    other = make_target(f"openai:{MODEL}@{fake.url}", **{**TARGET_KW, "model_digests": {MODEL: "provider-2026-02"}})
    mixed = reqs + [BatchRequest.of(Elicitor(other, store, progress=False), [{"role": "user", "content": "x"}])]
    with pytest.raises(BatchError, match="one model per batch"):
        run(api, store, mixed)
    assert fake.submissions == 0 and ledger(store) == {}


# ---- (e) a result file that does not match the requests: one sentence, nothing stored ---------------------------
@pytest.mark.parametrize("outcome,what", [("unknown_id", "not submitted in it"), ("missing_id", "requests missing"),
                                          ("duplicate_id", "more than once")])
def test_result_file_that_does_not_match_is_refused(fake, store, outcome, what):
    el, api, reqs = setup(fake, store)
    fake.outcome = outcome
    with pytest.raises(BatchError) as e:
        run(api, store, reqs)
    msg = str(e.value)
    assert what in msg and "batch_1" in msg and "none of it was stored" in msg
    assert "\n" not in msg and not re.search(r"[.;] [A-Z]", msg) and msg.endswith(".")  # one sentence
    assert store.count() == 0 and set(ledger(store).values()) == {"pending"}
    with pytest.raises(BatchError):  # it stays open: refused again, and never called interactively
        run(api, store, reqs)
    with pytest.raises(BatchError, match="waits in the provider's batch batch_1"):
        el.generate(reqs[0].messages, reqs[0].gen_options())
    assert store.count() == 0 and fake.chat_calls == 0 and fake.submissions == 1
    # the user's explicit decision releases it (the batch has ended: nothing to cancel); then the stage may call it
    rep = batch.abandon(api, store, "batch_1")
    assert (rep.failed, rep.collected, fake.cancels) == (N, 0, 0)
    assert el.generate(reqs[0].messages, reqs[0].gen_options()).text == "answer: question 0"
    assert fake.chat_calls == 1


# ---- the ledger in the store -----------------------------------------------------------------------------------
def test_an_older_store_gains_the_ledger_without_loss(tmp_path, make_elicitor):
    path = tmp_path / "old.sqlite"
    el = make_elicitor()
    old = ResponseStore(path)
    el.store = old
    el.generate([{"role": "user", "content": "hi"}])
    con = sqlite3.connect(path)
    con.executescript("DROP INDEX batch_requests_open; DROP INDEX batch_requests_key; DROP TABLE batch_requests; "
                      "DROP TABLE batches;")
    con.close()
    new = ResponseStore(path)
    assert new.count() == 1 and new.batches() == [] and new.batch_waiting("x") is None
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"calls", "batches", "batch_requests"} <= tables
    ResponseStore(path)  # idempotent


def test_a_key_is_open_in_one_batch_at_most(store):
    ident = {"kind": "openai", "spec": "openai:m", "model": "m", "digest": "d"}
    req = ("k1", "k1", {"identity": ident})
    assert store.batch_begin("s1", provider="openai", base_url="u", identity=ident, requests=[req]) == ["k1"]
    assert store.batch_begin("s2", provider="openai", base_url="u", identity=ident, requests=[req]) == []
    with pytest.raises(sqlite3.IntegrityError):  # the index refuses it even past the check
        store._conn().execute("INSERT INTO batch_requests VALUES ('s3','k1','k1',NULL,'pending','{}',NULL,'t','t')")
    assert [b["submission"] for b in store.batches()] == ["s1"]


def test_params_batch_names_an_openai_model():
    from analysis.core.params import project

    ok = project({"models": [f"openai:{MODEL}@http://h/v1"], "targets": {"batch": [MODEL]}})
    assert batch.batch_models(ok.models, ok.targets.batch) == [f"openai:{MODEL}@http://h/v1"]
    with pytest.raises(ParamsError, match="batch names 'gpt-other'"):
        project({"models": [f"openai:{MODEL}@http://h/v1"], "targets": {"batch": ["gpt-other"]}})
    with pytest.raises(ParamsError, match="batch names"):
        project({"models": ["embedded:qwen2.5-coder-0.5b"], "targets": {"batch": ["embedded:qwen2.5-coder-0.5b"]}})


# ---- a stage: its single-turn requests batched, then collected with no call --------------------------------------
def test_a_stage_runs_from_the_batch_with_no_call(fake, store):
    from analysis.core.params import validate_section
    from analysis.core.study import CollectStage, TargetsParams
    from analysis.studies import get

    study = get("bigfive")
    spec = f"openai:{MODEL}@{fake.url}"
    collect = validate_section(study.collect_params, study.tiny["collect"], "bigfive.collect")
    p = CollectStage("bigfive", [spec], 0, TargetsParams(**TARGET_KW, batch=[MODEL]), collect)
    el = Elicitor(make_target(spec, **TARGET_KW), store, progress=False)
    reqs, conversation = batch.stage_requests(study, p, el)
    assert reqs and conversation == 0
    rep = run(OpenAIBatchAPI(el.target), store, reqs)
    assert (rep.submitted, rep.collected, fake.submissions) == (len(reqs), len(reqs), 1)
    out = study.collect(el, p.collect, p.seed)
    assert fake.chat_calls == 0 and el.n_model_calls == 0 and el.n_store_hits == len(reqs)
    assert next(iter(out.values())).height > 0
    assert batch.stage_requests(study, p, el) == ([], 0)  # nothing left to batch


def test_the_command_submits_polls_and_lists(fake, store, tmp_path, capsys):
    import yaml

    from analysis.core.params import read_yaml
    from analysis.pipeline import batch as cli
    from analysis.studies import get

    raw = read_yaml(ROOT / "params.yaml")
    raw["models"] = [f"openai:{MODEL}@{fake.url}"]
    raw["targets"] = {**TARGET_KW, "batch": [MODEL]}
    raw["bigfive"]["collect"].update(get("bigfive").tiny["collect"])
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    common = ["--params", str(params), "--store", str(store.path)]
    cli.main(["submit", "--study", "bigfive", "--wait", "--every", "0.01", *common])
    out = capsys.readouterr().out
    assert f"openai:{MODEL}: " in out and "submitted in 1 new batch(es) (batch_1)" in out and fake.submissions == 1
    assert store.count() > 0 and "0 failed" in out
    cli.main(["status", *common])
    assert "batch_1" in capsys.readouterr().out
    cli.main(["submit", "--study", "bigfive", *common])  # nothing left: no second batch
    assert "0 submitted" in capsys.readouterr().out and fake.submissions == 1
    with pytest.raises(SystemExit, match="No open batch 'batch_9'"):
        cli.main(["abandon", "batch_9", *common])
    raw["targets"]["batch"] = []
    params.write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match="targets.batch names no model"):
        cli.main(["poll", *common])


# ---- abandon: cancelled at the provider, what it completed collected, the rest released --------------------------
def test_abandon_cancels_the_batch_at_the_provider(fake, store):
    el, api, reqs = setup(fake, store)
    fake.hold = True
    rep = run(api, store, reqs, wait=False)
    assert (rep.submitted, rep.open, fake.submissions) == (N, N, 1)
    # open at the provider: cancelled there, and refused while it is cancelling (its requests stay open)
    with pytest.raises(BatchError, match="batch_1 is cancelling at the provider .* analysis.pipeline.batch poll") as e:
        batch.abandon(api, store, "batch_1")
    assert "\n" not in str(e.value) and not re.search(r"[.;] [A-Z]", str(e.value))
    assert fake.cancels == 1 and set(ledger(store).values()) == {"pending"}
    with pytest.raises(BatchError, match="waits in the provider's batch batch_1: collect it with `python -m "
                                         "analysis.pipeline.batch poll`") as e:
        el.generate(reqs[0].messages, reqs[0].gen_options())
    assert "abandon" not in str(e.value)
    # once cancelled, the answers it completed are collected (paid for), the rest released as failed
    rep = batch.poll(api, store)
    assert (rep.collected, rep.failed, rep.open, store.count()) == (2, N - 2, 0, 2)
    assert [ledger(store)[r.key] for r in reqs] == ["collected"] * 2 + ["failed"] * (N - 2)
    fake.hold = False
    rep = run(api, store, reqs, retry_failed=True)
    assert (fake.submissions, rep.submitted, rep.collected, store.count()) == (2, N - 2, N - 2, N)
    assert fake.chat_calls == 0


def test_abandon_of_a_batch_the_provider_ends_at_once(fake, store):
    """A batch that the provider answers cancelled at once: collected and released in one step, counted right."""
    el, api, reqs = setup(fake, store)
    fake.hold = True
    run(api, store, reqs, wait=False)
    fake.batches["batch_1"]["status"] = "cancelling"  # cancelled on the provider's side already
    rep = batch.abandon(api, store, "batch_1")
    assert (rep.collected, rep.failed, fake.cancels, store.count()) == (2, N - 2, 0, 2)
    with pytest.raises(BatchError, match="No open batch 'batch_1'"):
        batch.abandon(api, store, "batch_1")


# ---- Study 3's sessions stay interactive -------------------------------------------------------------------------
def test_therapy_sessions_are_never_batched(fake, store):
    from analysis.core.params import validate_section
    from analysis.core.study import CollectStage, TargetsParams
    from analysis.studies import get

    study = get("therapy")
    assert "therapy/session" in study.interactive_tags
    spec = f"openai:{MODEL}@{fake.url}"
    collect = validate_section(study.collect_params, study.tiny["collect"], "therapy.collect")
    p = CollectStage("therapy", [spec], 0, TargetsParams(**TARGET_KW, batch=[MODEL]), collect)
    el = Elicitor(make_target(spec, **TARGET_KW), store, progress=False)
    reqs, interactive = batch.stage_requests(study, p, el)
    # the first round: single-turn requests only, not a session's opening turn
    assert reqs and interactive >= 1
    assert not [r for r in reqs if r.tag == "therapy/session"]
    assert not [r for r in reqs if any(m["role"] == "assistant" for m in r.messages)]
    rep = run(OpenAIBatchAPI(el.target), store, reqs)
    assert (rep.submitted, rep.collected) == (len(reqs), len(reqs))
    # what reached the provider: no line of the input file holds an assistant turn
    assert not [x for x in fake.inputs["batch_1"] if any(m["role"] == "assistant" for m in x["body"]["messages"])]
    # the second round, after the first is collected: nothing from the sessions either
    reqs2, _ = batch.stage_requests(study, p, el)
    assert not [r for r in reqs2 if r.tag == "therapy/session" or any(m["role"] == "assistant" for m in r.messages)]
    assert not [q for q in store.export().to_dicts() if q["tag"] == "therapy/session"]
    # the stage then holds its sessions interactively and takes the batched answers from the store
    out = study.collect(el, p.collect, p.seed)
    assert fake.chat_calls > 0 and el.n_store_hits >= len(reqs) and out["turns"].height > 0
    tags = {q["tag"] for q in store.export().to_dicts() if "mode" not in json.loads(q["meta"] or "{}")}
    assert "therapy/session" in tags


# ---- no key is ever written to the store -------------------------------------------------------------------------
def test_the_api_key_never_reaches_the_store(fake, store, monkeypatch):
    sentinel = "sk-sentinel-" + "7f3a9c" * 6
    monkeypatch.setenv("PSY_TEST_BATCH_KEY", sentinel)
    target = make_target(f"openai:{MODEL}@{fake.url}", **TARGET_KW, api_key_env={MODEL: "PSY_TEST_BATCH_KEY"})
    assert target.key_env == "PSY_TEST_BATCH_KEY"
    el = Elicitor(target, store, progress=False)
    reqs = [BatchRequest.of(el, [{"role": "user", "content": f"question {i}"}], GenOptions(max_tokens=16))
            for i in range(3)]
    api = OpenAIBatchAPI(target)
    rep = run(api, store, reqs)
    assert rep.collected == 3 and f"Bearer {sentinel}" in fake.auth  # the key was used ...
    paths = [store.path, store.path.with_name(store.path.name + "-wal")]
    data = b"".join(q.read_bytes() for q in paths if q.exists())
    assert paths[1].exists() and len(data) > 0
    assert sentinel.encode() not in data and b"7f3a9c7f3a9c" not in data  # ... and never written


def test_the_command_uses_only_the_store_it_is_given_and_abandons(fake, store, tmp_path, capsys, monkeypatch):
    import yaml

    from analysis.core.params import read_yaml
    from analysis.pipeline import batch as cli
    from analysis.studies import get

    default = tmp_path / "default" / "responses.sqlite"
    monkeypatch.setenv("PSY_STORE", str(default))
    nothing = tmp_path / "none" / "responses.sqlite"
    cli.main(["status", "--store", str(nothing)])  # nothing to list: no empty store is made for it
    assert "no response store at" in capsys.readouterr().out and not nothing.exists() and not nothing.parent.exists()
    raw = read_yaml(ROOT / "params.yaml")
    raw["models"] = [f"openai:{MODEL}@{fake.url}"]
    raw["targets"] = {**TARGET_KW, "batch": [MODEL]}
    raw["bigfive"]["collect"].update(get("bigfive").tiny["collect"])
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    common = ["--params", str(params), "--store", str(store.path)]
    fake.hold = True
    cli.main(["submit", "--study", "bigfive", *common])
    assert "submitted in 1 new batch(es) (batch_1)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="batch_1 is cancelling at the provider"):
        cli.main(["abandon", "batch_1", *common])
    n = store.batches()[0]["n_requests"]
    cli.main(["abandon", "batch_1", *common])  # cancelled now: collected and released
    assert f"Abandoned batch_1: 2 answers collected, {n - 2:,} requests released as failed" in capsys.readouterr().out
    assert fake.cancels == 1 and store.count() == 2
    assert not default.exists() and not default.parent.exists()  # --store was the only store opened
