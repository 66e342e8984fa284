"""Batch mode (issue 21): a model's single-turn requests through a provider's Batch API, the response store as ledger.

A provider's Batch API answers at about half the price of a call, within hours (OpenAI: a JSONL file uploaded to
``/v1/files``, a batch created at ``/v1/batches``, polled, its result file read from ``/v1/files/{id}/content``;
Anthropic's Message Batches: the requests in the body of ``POST /v1/messages/batches``, polled at
``/v1/messages/batches/{id}``, the JSONL of results read from the batch's ``results_url``). One ledger serves both:
:class:`OpenAIBatchAPI` and :class:`AnthropicBatchAPI` offer the same steps (:class:`BatchAPI`), and
:func:`api_for` picks the one of a target's kind.
Only requests that stand alone can wait that long: one that holds an earlier answer of the model (a conversation's
later turns) needs that answer first and stays interactive, and so does every turn of a multi-turn session, its
opening turn too (the tags a study names in ``Study.interactive_tags``: Study 3's sessions).

The response store is the ledger (tables ``batches`` and ``batch_requests``, see :mod:`analysis.core.store`):

* a request whose answer the store holds is never submitted; one that is open (``submitted`` or ``pending``) in a
  batch is polled, never submitted again (a unique index refuses a second open entry, whichever process tries);
* a batch is recorded *before* it is created at the provider, under a local submission id: a process killed at any
  point resumes by polling, and a batch whose creation it did not see is found again in the provider's list. Its
  requests are released as ``failed`` at once only when no batch can exist: the input file was not uploaded, the
  provider refused the creation (HTTP 4xx), or the server has no Batch API (HTTP 404); after a server error or no
  answer they stay open until the provider's list shows the batch or, after a settle window, shows none that may be
  it;
* how the list shows a batch whose creation was not seen differs. OpenAI's batch carries the submission id as its
  metadata, so it is found at once. Anthropic's batches carry no metadata, and which requests a batch holds is told
  only by its results, once it has ended. So the list is searched for batches the ledger does not hold, created since
  the submission was recorded (less ten minutes for the provider's clock), with as many requests: one that has ended
  is the submission's only when the custom_ids of its results are exactly the submission's requests (custom_ids are
  request keys, sha256 digests: another batch cannot hold the same set by chance); while one of them is still running
  nothing is guessed: the requests stay open (never submitted again, and a stage refuses to call the model for
  them) until it ends and its results say whether it is the submission's. With no such batch, the requests are
  released after the settle window, as for OpenAI. The price of never guessing is waiting: at worst until an
  unrelated batch of the same size on the same account ends (24 hours at most);
* the list is read newest first, down to the first batch created before the submission was recorded (less ten
  minutes) or its end; when its pages (``LIST_PAGES`` of 100) run out before either, the batches not read may hold
  the submission's, so that is "not yet known" too (the requests stay open), never "no batch";
* a creation may outlast the settle window, and another process's poll release its requests meanwhile. When the
  provider's answer then arrives, the submission is reopened (its requests ``pending`` under the batch id) if none of
  its requests is open in another batch since; otherwise the new batch is cancelled at the provider, the conflict is
  kept in its info and said in one sentence: either way no request is paid for twice by batch;
* a batch is its target's by spec, base URL and digest. When open batches of the spec were submitted under another
  digest (an ``anthropic:`` alias has moved to a new snapshot since), ``poll`` refuses in one sentence naming both
  digests and how to collect them (declare the recorded snapshot in ``targets.model_digests``; a dated model name does
  not move), instead of leaving them behind while their requests are made again under new keys;
* a finished batch is collected in one transaction: each answer becomes an ordinary row of ``calls`` (the provenance
  of an interactive call, plus ``mode: batch``, the batch id and custom_id in ``meta``), each error leaves its request
  ``failed`` and each request the provider did not reach ``expired``; an error is never stored as an answer, and a
  failed or expired request is submitted again only when asked (``retry_failed``);
* a result file whose custom_ids do not match the batch's requests (one not submitted, a submitted one missing from a
  completed batch, one twice) is refused in one sentence and nothing is written;
* while a request waits in a batch, the Elicitor refuses to call the model for it, so no answer is paid for twice;
* ``abandon`` cancels a batch at the provider (``POST /v1/batches/{id}/cancel``, ``POST
  /v1/messages/batches/{id}/cancel``), collects what it completed, and releases the rest as ``failed``.

Anthropic's states map onto the ledger's: ``in_progress`` and ``canceling`` are open (``pending``); an ``ended``
batch is collected, each request by its result line: ``succeeded`` collected, ``errored`` and ``canceled`` failed,
``expired`` expired (the batch's own state: ``failed`` when it was cancelled before some request was answered,
``expired`` when a request expired, otherwise ``collected``, also after a cancel that came too late to stop any). Its results list every request, so one missing from them is refused like an unknown one.

The answers then serve the collection stage from the store like any other (0 calls for them). Which requests a
stage makes is found by the plan's dry run (:mod:`analysis.core.planning`): the study's own collection code against
a stand-in that answers from the store and with a placeholder otherwise. Where the next request depends on an answer
(a re-ask, a multi-token option's next branch), a later round finds it once the answer is in the store; the stage
makes the rest interactively. The command is ``python -m analysis.pipeline.batch``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from analysis.core.elicit import Elicitor
from analysis.core.errors import BatchError, ServerError, TargetUnavailable, UserError
from analysis.core.models.base import GenOptions, Message, RawReply
from analysis.core.models.http import (
    RetryPolicy,
    attempt,
    server_message,
    with_retries,
)
from analysis.core.store import BATCH_OPEN, ResponseStore, request_key

ENDPOINT = "/v1/chat/completions"  # the only endpoint batched here
MAX_REQUESTS = 50_000  # OpenAI's limit of requests per batch: more are split into several batches
OPEN_STATUS = ("validating", "in_progress", "finalizing", "cancelling")  # the provider is still working
ENDED_AT = ("completed_at", "expired_at", "failed_at", "cancelled_at")
ANTHROPIC_BATCHES = "/v1/messages/batches"
ANTHROPIC_MAX_REQUESTS = 100_000  # Anthropic's limits per Message Batch: 100,000 requests, 256 MB
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # Anthropic's custom_id (a request key: 64 hex digits)
LIST_PAGES = 20  # pages of 100 read of a provider's list of batches when a batch whose creation was not seen is sought
CLOCK_SKEW_S = 600.0  # how far the provider's clock may be behind ours when a listed batch's age is compared


@dataclass(frozen=True)
class BatchRequest:
    """One single-turn call as the Elicitor would make it: its key and every field of its row in the store."""

    key: str
    identity: dict[str, str]
    messages: list[Message]
    options: dict[str, Any]  # as stored: GenOptions.to_dict() of the options sent (seed + sample)
    sample: int = 0
    top_logprobs: int = 0
    tag: str | None = None

    @classmethod
    def of(cls, el: Elicitor, messages: list[Message], options: GenOptions = GenOptions(), *, sample: int = 0,
           top_logprobs: int = 0, tag: str | None = None) -> BatchRequest:
        """The request ``el.generate`` would make (the same key, so its answer serves that call)."""
        msgs, _, opts, key = el.prepare(messages, options, sample=sample, top_logprobs=top_logprobs)
        return cls(key, dict(el.identity), msgs, opts, sample, top_logprobs, tag)

    def gen_options(self) -> GenOptions:
        return GenOptions(**{**self.options, "stop": tuple(self.options.get("stop", ()))})

    def to_json(self) -> dict[str, Any]:
        return {"identity": self.identity, "messages": self.messages, "options": self.options, "sample": self.sample,
                "top_logprobs": self.top_logprobs, "tag": self.tag}

    @classmethod
    def from_json(cls, key: str, d: dict[str, Any]) -> BatchRequest:
        return cls(key, d["identity"], d["messages"], d["options"], d["sample"], d["top_logprobs"], d.get("tag"))


@dataclass
class ProviderBatch:
    """What the provider says about one batch."""

    batch_id: str
    status: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    created_at: float | None = None
    ended_at: float | None = None
    errors: str = ""  # why a batch failed as a whole (validation), in the provider's words
    covers_all: bool = False  # its results hold a line for every request (a request missing from them is refused)

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUS


@dataclass(frozen=True)
class Submission:
    """What the ledger knows of one submission whose batch the provider's list must show (its creation not seen)."""

    id: str  # the local submission id (OpenAI: also the batch's metadata)
    recorded_at: float  # when the ledger recorded it (epoch seconds): its batch cannot be older
    custom_ids: frozenset[str]  # its requests
    claimed: frozenset[str]  # provider batch ids the ledger holds already: never another submission's batch


class NotYetKnown(BatchError):
    """Whether the provider holds a submission's batch cannot be told now: batches that may be it have not ended
    (Anthropic's batches carry no metadata, so they cannot be told apart from others before), or the provider's list
    goes on past the pages read. Its requests stay open."""


class BatchAPI(Protocol):
    """What the ledger asks of a provider's Batch API (:class:`OpenAIBatchAPI`, :class:`AnthropicBatchAPI`)."""

    provider: str
    target: Any
    base_url: str
    max_requests: int
    max_bytes: int
    found_by: str  # how a batch whose creation was not seen is found again, in words
    found_tag: str  # ... and in the batch's info in the ledger (``found_by``)

    def line(self, custom_id: str, req: BatchRequest) -> dict[str, Any]: ...

    def upload(self, lines: list[dict[str, Any]], submission: str) -> Any: ...

    def create(self, staged: Any, submission: str) -> ProviderBatch: ...

    def get(self, batch_id: str) -> ProviderBatch: ...

    def cancel(self, batch_id: str) -> ProviderBatch: ...

    def find(self, sub: Submission) -> ProviderBatch | None: ...

    def results(self, pb: ProviderBatch) -> list[tuple[str, int, Any]]: ...

    def outcome(self, line: dict[str, Any], req: BatchRequest) -> tuple[RawReply | None, str | None, str]: ...


class NoBatchAPI(BatchError):
    """The server answers 404 where a Batch API has its files or batches: it has none."""


def _refused(e: BaseException) -> bool:
    """The provider answered with a definite refusal (HTTP 4xx): the request it refused did nothing there."""
    return 400 <= getattr(e, "http_status", 0) < 500


# ---- the providers' Batch APIs --------------------------------------------------------------------------------


class _BatchHTTP:
    """HTTP to a provider's Batch API with the target's client (its key header; the key is never read here) and
    retries. Creating a batch is called with ``retry=False``: it is not retried after the request may have reached the
    provider (a second batch would be paid for twice). An error raised on an HTTP answer carries its status as
    ``http_status``."""

    provider = ""
    list_path = ""  # the provider's list of batches (newest first) ...
    cursor = ""  # ... and the parameter that asks for the page after a batch id
    transient: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    api_paths: tuple[str, ...] = ()  # a 404 on these means: no Batch API at this base URL

    def __init__(self, target: Any, *, client: httpx.Client | None = None):
        self.target = target
        self.base_url = target.base_urls[0]
        self.client = client or target.clients[0]
        self.policy = RetryPolicy(target.policy.retries, target.policy.backoff_s)

    def _call(self, method: str, path: str, *, retry: bool = True, **kw) -> httpx.Response:
        def once() -> httpx.Response:  # a refused connection sent nothing: always safe to try again
            return attempt(lambda: self.client.request(method, path, **kw), transient=self.transient if retry else (),
                           classify=retry, failed=lambda e: f"The batch request {method} {self.base_url}{path} failed "
                                                            f"({type(e).__name__}: {e}).")

        r, _, _ = with_retries(once, self.policy, where=self.base_url, model=self.target.model,
                               timeout_s=self.target.timeout_s)
        if r.status_code < 400:
            return r
        e: Exception
        if r.status_code in (401, 403):
            e = TargetUnavailable(f"The server at {self.base_url} refused access to its Batch API (HTTP "
                                  f"{r.status_code}: {server_message(r.text)}); set {self.target.key_env} to a key "
                                  "it accepts.")
        elif r.status_code == 404 and path in self.api_paths:
            e = NoBatchAPI(f"The server at {self.base_url} has no Batch API ({method} {path}: HTTP 404); take "
                           f"{self.target.spec} out of targets.batch, and the stage calls its requests interactively.")
        else:
            e = ServerError(f"The Batch API at {self.base_url} refused {method} {path} with HTTP {r.status_code}: "
                            f"{server_message(r.text).rstrip('.')}.")
        e.http_status = r.status_code  # type: ignore[attr-defined]
        raise e

    def _listed(self, sub: Submission, pages: int | None) -> Iterator[dict[str, Any]]:
        """The provider's batches, newest first, that may be the one of submission ``sub``: down to the first one
        created before it was recorded (less ``CLOCK_SKEW_S``; the list is newest first, so every later one is older
        still) or the end of the list. When ``pages`` pages of 100 (default ``LIST_PAGES``) end before either, the batches not read may hold
        its batch, so :class:`NotYetKnown` is raised (a capped list is never read as "no batch")."""
        after = None
        pages = pages or LIST_PAGES
        for _ in range(pages):
            params = {"limit": 100} | ({self.cursor: after} if after else {})
            out = self._json(self._call("GET", self.list_path, params=params), f"GET {self.list_path}")
            data = [b for b in out.get("data") or [] if isinstance(b, dict)]
            for b in data:
                created = _epoch(b.get("created_at"))
                if created is not None and created < sub.recorded_at - CLOCK_SKEW_S:
                    return
                yield b
            if not out.get("has_more") or not data:
                return
            after = out.get("last_id") or data[-1].get("id")
        raise NotYetKnown(f"The list of batches at {self.base_url} goes on past the {pages * 100:,} newest, none of "
                          f"them created before submission {sub.id} was recorded, so whether its batch is among the "
                          "others cannot be told now: its requests stay open, never submitted again, and a later poll "
                          "looks again.")

    def _json(self, r: httpx.Response, what: str) -> dict[str, Any]:
        try:
            out = r.json()
        except ValueError:
            out = None
        if not isinstance(out, dict):
            raise ServerError(f"The Batch API at {self.base_url} answered {what} with something other than a JSON "
                              "object; check the base URL in the model spec.")
        return out

    @staticmethod
    def _jsonl(name: str, text: str) -> list[tuple[str, int, Any]]:
        """The lines of a JSONL result file: (its name, line number, parsed JSON or None)."""
        lines = []
        for i, raw in enumerate(text.splitlines(), 1):
            if raw.strip():
                try:
                    lines.append((name, i, json.loads(raw)))
                except ValueError:
                    lines.append((name, i, None))
        return lines


class OpenAIBatchAPI(_BatchHTTP):
    """OpenAI's Batch API at an ``openai:`` target's first base URL. A batch whose creation was not seen is found in
    the provider's list by its metadata (the ledger's submission id)."""

    provider = "openai"
    api_paths = ("/files", "/batches")
    list_path, cursor = "/batches", "after"
    max_requests = MAX_REQUESTS
    max_bytes = 190_000_000  # OpenAI's input files hold at most 200 MB
    found_by = "by its metadata"
    found_tag = "metadata"

    def __init__(self, target: Any, *, client: httpx.Client | None = None):
        if getattr(target, "kind", None) != "openai":
            raise BatchError(f"Batch mode needs an openai: model (a provider's OpenAI Batch API), not {target.spec!r}.")
        super().__init__(target, client=client)

    # ---- the documented steps ----
    def line(self, custom_id: str, req: BatchRequest) -> dict[str, Any]:
        """One line of the input file: the body an interactive call would send."""
        body = self.target.payload(req.messages, req.gen_options(), logprobs=req.top_logprobs > 0,
                                   top_logprobs=req.top_logprobs)
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}

    def upload(self, lines: list[dict[str, Any]], submission: str) -> str:
        """Upload the input file (no batch exists yet, nothing is paid for); returns its file id."""
        data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode("utf-8")
        up = self._json(self._call("POST", "/files", data={"purpose": "batch"},
                                   files={"file": (f"{submission}.jsonl", data, "application/jsonl")}), "POST /files")
        if not up.get("id"):
            raise ServerError(f"The Batch API at {self.base_url} answered POST /files without a file id.")
        return str(up["id"])

    def create(self, file_id: str, submission: str) -> ProviderBatch:
        """Create the batch of an uploaded input file (``submission`` goes into its metadata); never retried."""
        out = self._json(self._call("POST", "/batches", retry=False, json={
            "input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h",
            "metadata": {"psy_submission": submission}}), "POST /batches")
        return self._batch(out)

    def get(self, batch_id: str) -> ProviderBatch:
        return self._batch(self._json(self._call("GET", f"/batches/{batch_id}"), "GET /batches/{id}"))

    def cancel(self, batch_id: str) -> ProviderBatch:
        """Ask the provider to stop the batch: it turns ``cancelling``, then ``cancelled``, its output file holding
        the requests it completed (which are paid for)."""
        return self._batch(self._json(self._call("POST", f"/batches/{batch_id}/cancel"), "POST /batches/{id}/cancel"))

    def find(self, sub: Submission, pages: int | None = None) -> ProviderBatch | None:
        """The provider's batch made for submission ``sub`` (by its metadata), from the provider's list of batches
        (None: it is not there; :class:`NotYetKnown`: the list goes on past the pages read)."""
        for b in self._listed(sub, pages):
            if (b.get("metadata") or {}).get("psy_submission") == sub.id:
                return self._batch(b)
        return None
    def results(self, pb: ProviderBatch) -> list[tuple[str, int, Any]]:
        """Every line of the batch's output and error files: (file, line number, parsed JSON or None)."""
        lines = []
        for fid in (pb.output_file_id, pb.error_file_id):
            if fid:
                lines += self._jsonl(fid, self._call("GET", f"/files/{fid}/content").text)
        return lines

    def outcome(self, line: dict[str, Any], req: BatchRequest) -> tuple[RawReply | None, str | None, str]:
        """(answer, error, state) of one result line: an answer (state ``collected``) or an error (``failed``, or
        ``expired`` when the provider did not reach the request in time)."""
        err = line.get("error")
        resp = line.get("response") if isinstance(line.get("response"), dict) else {}
        if err:
            code = err.get("code") if isinstance(err, dict) else None
            msg = err.get("message") if isinstance(err, dict) else str(err)
            return None, f"{code or 'error'}: {msg}", "expired" if code == "batch_expired" else "failed"
        status, body = resp.get("status_code"), resp.get("body")
        if status != 200:
            return None, f"HTTP {status}: {server_message(json.dumps(body) if body is not None else '')}", "failed"
        try:
            raw = self.target.reply(body, req.messages, logprobs=req.top_logprobs > 0)
        except UserError as e:
            return None, str(e), "failed"
        if not raw.text.strip() and not (req.top_logprobs > 0 and raw.logprobs):
            return None, "an empty reply (never stored)", "failed"
        return raw, None, "collected"

    @staticmethod
    def _batch(b: dict[str, Any]) -> ProviderBatch:
        errs = (b.get("errors") or {}).get("data") if isinstance(b.get("errors"), dict) else None
        ended = next((b[k] for k in ENDED_AT if b.get(k)), None)
        return ProviderBatch(str(b.get("id")), str(b.get("status")), b.get("output_file_id"), b.get("error_file_id"),
                             b.get("request_counts") or {}, b.get("created_at"), ended,
                             "; ".join(str(e.get("message", e)) for e in errs or [] if isinstance(e, dict)),
                             covers_all=b.get("status") == "completed")


class AnthropicBatchAPI(_BatchHTTP):
    """Anthropic's Message Batches at an ``anthropic:`` target's base URL: ``POST /v1/messages/batches`` with the
    requests in its body (``custom_id`` and the ``params`` of a Messages API call), ``GET .../{id}``, ``GET ...``
    (the list, newest first), ``POST .../{id}/cancel``, and the JSONL at the batch's ``results_url`` (one line per
    request, in any order). Its batches carry no metadata, so a batch whose creation was not seen is found again by
    the ids of its requests, once it has ended (see the module docstring)."""

    provider = "anthropic"
    transient = frozenset({429, 500, 502, 503, 504, 529})  # 529: overloaded
    api_paths = (ANTHROPIC_BATCHES,)
    list_path, cursor = ANTHROPIC_BATCHES, "after_id"
    max_requests = ANTHROPIC_MAX_REQUESTS
    max_bytes = 250_000_000  # a Message Batch's body holds at most 256 MB
    found_by = "by the ids of its requests once it has ended (Anthropic's batches carry no metadata)"
    found_tag = "request_ids"

    def __init__(self, target: Any, *, client: httpx.Client | None = None):
        if getattr(target, "kind", None) != "anthropic":
            raise BatchError(f"Anthropic's Message Batches need an anthropic: model, not {target.spec!r}.")
        super().__init__(target, client=client)

    def line(self, custom_id: str, req: BatchRequest) -> dict[str, Any]:
        """One request of the batch: the body an interactive call would send, as its ``params``."""
        if not CUSTOM_ID.fullmatch(custom_id):
            raise BatchError(f"The custom_id {custom_id[:70]!r} is not 1 to 64 letters, digits, '_' or '-', as "
                             "Anthropic's Message Batches require.")
        body = self.target.payload(req.messages, req.gen_options(), logprobs=req.top_logprobs > 0,
                                   top_logprobs=req.top_logprobs)
        return {"custom_id": custom_id, "params": body}

    def upload(self, lines: list[dict[str, Any]], submission: str) -> list[dict[str, Any]]:
        """Nothing to upload: the requests go in the body of the call that creates the batch."""
        return lines

    def create(self, staged: list[dict[str, Any]], submission: str) -> ProviderBatch:
        """Create the batch (``submission`` stays local: Anthropic's batches have no metadata); never retried."""
        out = self._json(self._call("POST", ANTHROPIC_BATCHES, retry=False, json={"requests": staged}),
                         f"POST {ANTHROPIC_BATCHES}")
        return self._batch(out)

    def get(self, batch_id: str) -> ProviderBatch:
        return self._batch(self._json(self._call("GET", f"{ANTHROPIC_BATCHES}/{batch_id}"),
                                      f"GET {ANTHROPIC_BATCHES}/{{id}}"))

    def cancel(self, batch_id: str) -> ProviderBatch:
        """Ask the provider to stop the batch: it turns ``canceling``, then ends, its results holding the requests it
        completed (paid for) and the others as ``canceled``."""
        return self._batch(self._json(self._call("POST", f"{ANTHROPIC_BATCHES}/{batch_id}/cancel"),
                                      f"POST {ANTHROPIC_BATCHES}/{{id}}/cancel"))

    def find(self, sub: Submission, pages: int | None = None) -> ProviderBatch | None:
        """The batch made for submission ``sub``, from the provider's list (newest first): a batch the ledger does not
        hold, created since the submission was recorded, with as many requests. One that has ended is the
        submission's only when the custom_ids of its results are exactly the submission's (they are request keys:
        sha256 digests of the requests). One still running cannot be told apart yet: then :class:`NotYetKnown` is
        raised, and the submission's requests stay open. None: no listed batch can be it."""
        running = 0
        for b in self._listed(sub, pages):
            pb = self._batch(b)
            if pb.batch_id in sub.claimed:
                continue
            if sum(v for v in pb.counts.values() if isinstance(v, int)) != len(sub.custom_ids):
                continue
            if pb.open:
                running += 1
                continue
            try:
                lines = self.results(pb)
            except UserError as e:
                if getattr(e, "http_status", 0) == 404:
                    continue  # its results are gone: nothing of it can be collected
                raise
            ids = {x.get("custom_id") for _, _, x in lines if isinstance(x, dict)}
            if ids == set(sub.custom_ids) and len(lines) == len(sub.custom_ids):
                return pb
        if running:
            raise NotYetKnown(f"{running} batch(es) at {self.base_url} created since submission {sub.id} was recorded "
                              f"and holding {len(sub.custom_ids):,} requests are still running, and which of them (if "
                              "any) holds its requests cannot be told before they end: the requests stay open, and a "
                              "poll after they end settles it.")
        return None

    def results(self, pb: ProviderBatch) -> list[tuple[str, int, Any]]:
        """Every line of the batch's results (JSONL at its ``results_url``, read only at the API's own base URL, so
        the key goes nowhere else)."""
        url = pb.output_file_id
        if not url:
            return []
        if not url.startswith(self.base_url + "/"):
            raise BatchError(f"The results_url of batch {pb.batch_id} ({url}) is not under the API's base URL "
                             f"{self.base_url}, so it was not read (the key is sent to that base URL only); check "
                             "the base URL in the model spec.")
        return self._jsonl("results", self._call("GET", url).text)

    def outcome(self, line: dict[str, Any], req: BatchRequest) -> tuple[RawReply | None, str | None, str]:
        """(answer, error, state) of one result line: ``succeeded`` is an answer (``collected``), ``errored`` and
        ``canceled`` leave the request ``failed``, ``expired`` leaves it ``expired``."""
        res = line.get("result") if isinstance(line.get("result"), dict) else {}
        kind = res.get("type")
        if kind == "succeeded":
            try:
                raw = self.target.reply(res.get("message"), req.messages, options=req.options)
            except UserError as e:
                return None, str(e), "failed"
            if not raw.text.strip():
                return None, f"an empty reply (stop_reason {raw.meta.get('done_reason')!r}; never stored)", "failed"
            return raw, None, "collected"
        if kind == "errored":
            err = res.get("error") if isinstance(res.get("error"), dict) else {}
            inner = err.get("error") if isinstance(err.get("error"), dict) else err
            return None, f"{inner.get('type') or 'error'}: {inner.get('message') or json.dumps(err)}", "failed"
        if kind == "canceled":
            return None, "canceled: the batch was canceled before the provider reached this request", "failed"
        if kind == "expired":
            return None, "expired: the batch ended (after 24 hours) before the provider reached this request", "expired"
        return None, f"a result of unknown type {kind!r}", "failed"

    @staticmethod
    def _batch(b: dict[str, Any]) -> ProviderBatch:
        counts = b.get("request_counts") if isinstance(b.get("request_counts"), dict) else {}
        ended = b.get("processing_status") == "ended"
        if b.get("processing_status") == "canceling":
            status = "cancelling"
        elif not ended:
            status = str(b.get("processing_status"))  # in_progress, or a state this client does not know (open)
        elif b.get("cancel_initiated_at") and any(counts.get(k) for k in ("errored", "canceled", "expired")):
            status = "cancelled"  # a cancel that came before the end: some requests were not answered
        elif counts.get("expired"):
            status = "expired"
        else:
            status = "completed"
        if not ended and status not in OPEN_STATUS:
            status = "in_progress"
        return ProviderBatch(str(b.get("id")), status, b.get("results_url"), None, counts, _epoch(b.get("created_at")),
                             _epoch(b.get("ended_at")), covers_all=ended)


def _epoch(t: Any) -> float | None:
    """An RFC 3339 time (Anthropic's) or epoch seconds (OpenAI's) as epoch seconds; None when absent or unreadable."""
    if isinstance(t, (int, float)):
        return float(t)
    if isinstance(t, str) and t:
        try:
            d = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()
    return None


def api_for(target: Any) -> BatchAPI:
    """The Batch API of a target's provider: OpenAI Batch for ``openai:``, Message Batches for ``anthropic:``."""
    kind = getattr(target, "kind", None)
    if kind == "openai":
        return OpenAIBatchAPI(target)
    if kind == "anthropic":
        return AnthropicBatchAPI(target)
    raise BatchError(f"Batch mode needs an openai: or anthropic: model (a provider's Batch API), not "
                     f"{target.spec!r}.")


# ---- the flow --------------------------------------------------------------------------------------------------


@dataclass
class BatchReport:
    """What a batch run did, by request (``sentence`` says it in one line)."""

    requests: int = 0
    held: int = 0  # answered by the store already: not submitted
    waiting: int = 0  # open in an earlier batch: polled, not submitted
    not_retried: int = 0  # failed or expired in an earlier batch, not submitted again (retry_failed=False)
    submitted: int = 0
    batch_ids: list[str] = field(default_factory=list)  # the batches this run created
    collected: int = 0
    failed: int = 0
    expired: int = 0
    open: int = 0  # still waiting at the provider when the run returned
    errors: list[str] = field(default_factory=list)  # the first few errors, in the provider's words

    def sentence(self) -> str:
        ids = f" ({', '.join(self.batch_ids)})" if self.batch_ids else ""
        s = (f"{self.requests:,} single-turn requests: {self.held:,} already in the response store, {self.submitted:,} "
             f"submitted in {len(self.batch_ids)} new batch(es){ids}, {self.waiting:,} waiting in earlier batches; "
             f"collected {self.collected:,} answers, {self.failed:,} failed, {self.expired:,} expired, "
             f"{self.open:,} still open at the provider")
        if self.not_retried:
            s += f"; {self.not_retried:,} that failed or expired before were not submitted again (--retry-failed)"
        if self.failed or self.expired:
            s += "; a failed or expired request is left missing (never stored), and the stage calls it interactively"
        return s + "."


def submit(api: BatchAPI, store: ResponseStore, requests: list[BatchRequest], *, retry_failed: bool = False,
           report: BatchReport | None = None, settle_s: float | None = None) -> BatchReport:
    """Submit every request the store does not answer and no open batch holds, as one batch (or several, each within
    the provider's limits: ``api.max_requests`` requests, ``api.max_bytes`` bytes). Each batch is in the ledger before
    it is created at the provider."""
    rep = report or BatchReport()
    ident = _identity(api.target)
    other = next((r for r in requests if r.identity != ident), None)
    if other is not None:
        raise BatchError(f"A request for {other.identity.get('spec')} (digest {other.identity.get('digest')}) was "
                         f"given to the batch of {ident['spec']} (digest {ident['digest']}); submit each model's "
                         "requests through its own Batch API client, one model per batch.")
    unique = list({r.key: r for r in requests}.values())
    rep.requests += len(unique)
    states = store.batch_states([r.key for r in unique])
    todo = []
    for r in unique:
        if store.get(r.key) is not None:
            rep.held += 1
        elif states.get(r.key) in ("submitted", "pending"):
            rep.waiting += 1
        elif states.get(r.key) in ("failed", "expired") and not retry_failed:
            rep.not_retried += 1
        else:
            todo.append(r)
    # custom_id = the request key: unique within a batch, and a result line names the answer it carries (every line
    # is made before anything is recorded: a request the provider's format cannot carry stops here, nothing written)
    all_lines = {r.key: api.line(r.key, r) for r in todo}
    for part in _parts(todo, all_lines, api.max_requests, api.max_bytes):
        submission = f"psy-{uuid.uuid4().hex}"
        lines = {r.key: all_lines[r.key] for r in part}
        kept = store.batch_begin(submission, provider=api.provider, base_url=api.base_url, identity=part[0].identity,
                                 requests=[(r.key, r.key, r.to_json()) for r in part])
        if not kept:
            continue
        try:
            file_id = api.upload([lines[k] for k in kept], submission)
        except Exception as e:
            # POST /batches was never sent: no batch exists, so its requests are released at once
            _release(store, submission, f"the input file was not uploaded, so no batch was created: {e}")
            rep.failed += len(kept)
            raise
        try:
            pb = api.create(file_id, submission)
        except Exception as e:
            if _refused(e):  # a definite refusal: the provider created nothing
                _release(store, submission, f"the provider refused to create the batch: {e}")
                rep.failed += len(kept)
                raise
            # no answer, or a server error: the batch may exist (a provider's list can lag), so its requests stay
            # open until a poll finds it (``api.found_by``) or, after the settle window, releases them
            try:
                pb = api.find(_submission(store, submission))
            except Exception:  # noqa: BLE001 - the provider cannot be asked (or tell) now: a later poll settles it
                pb = None
            if pb is None:
                raise BatchError(f"Creating the batch of {len(kept):,} requests at {api.base_url} got no definite "
                                 f"answer ({str(e).rstrip('.')}), so the provider may have created it: its requests "
                                 f"stay open until `python -m analysis.pipeline.batch poll` finds it {api.found_by} "
                                 f"or, after {_settle(api, settle_s):.0f} s with no batch at the provider that may be "
                                 "it, releases them.") from None
        _created(api, store, submission, pb.batch_id, {"created_at": pb.created_at}, len(kept))
        rep.submitted += len(kept)
        rep.batch_ids.append(pb.batch_id)
    return rep


def poll(api: BatchAPI, store: ResponseStore, *, report: BatchReport | None = None,
         settle_s: float | None = None) -> BatchReport:
    """Ask the provider once about every open batch of this target at this base URL; collect those that ended.

    A batch recorded without the provider's id is looked for in the provider's list (``api.found_by``); one that is not
    there is released (its requests ``failed``) only ``settle_s`` seconds after it was recorded (default: three times
    the target's timeout, plus a minute), as another process may still be creating it, and never while a listed batch
    that may be it is still running (:class:`NotYetKnown`). A server with no list of
    batches (HTTP 404: no Batch API) has none of them: their requests are released at once, and it is said."""
    rep = report or BatchReport()
    rep.open = 0
    settle = _settle(api, settle_s)
    no_api: tuple[NoBatchAPI, int] | None = None
    for b in store.batches(open_only=True):
        if not belongs_to(api, b):
            continue
        if b["batch_id"] is None:  # recorded, but its creation was not seen: the provider's list says if it exists
            try:
                pb = api.find(_submission(store, b["submission"]))
            except NotYetKnown:  # a running batch may be it: its requests stay open, never submitted twice
                rep.open += b["n_requests"]
                continue
            except NoBatchAPI as e:
                n = _release(store, b["submission"], f"the server at {api.base_url} has no Batch API (HTTP 404)",
                             info=b["info"])
                rep.failed += n
                no_api = (e, (no_api[1] if no_api else 0) + n)
                continue
            age = (datetime.now(UTC) - datetime.fromisoformat(b["submitted_at"])).total_seconds()
            if pb is None and age < settle:
                rep.open += b["n_requests"]
                continue
            if pb is None:
                rep.failed += _release(store, b["submission"], "the batch was never created at the provider (the "
                                       "submitting process stopped first)", info=b["info"])
                continue
            # kept in the batch's info (its final record starts from it): how it was found
            b["info"] = {**b["info"], "created_at": pb.created_at, "found_by": api.found_tag}
            _created(api, store, b["submission"], pb.batch_id, b["info"], b["n_requests"])
            b["batch_id"] = pb.batch_id
        pb = api.get(b["batch_id"])
        if pb.open:
            store.batch_pending(b["submission"], pb.status)
            rep.open += b["n_requests"]
            continue
        _collect(api, store, b, pb, rep)
    if no_api is not None:
        raise BatchError(f"The server at {api.base_url} has no Batch API (GET /batches: HTTP 404), so the "
                         f"{no_api[1]:,} requests recorded for it were released as failed; take {api.target.spec} "
                         "out of targets.batch, and the stage calls them interactively.")
    why = moved(api, store)
    if why:
        raise BatchError(why)
    return rep


def moved(api: BatchAPI, store: ResponseStore) -> str | None:
    """One sentence when open batches of this target's spec at its base URL were submitted under another digest
    (an ``anthropic:`` alias that resolved to one snapshot then resolves to another now): they are not this target's
    (their requests' keys hold the old digest), so no poll would collect them and the stage would call their requests
    again under new keys; None when there are none."""
    spec = api.target.spec
    other = [b for b in store.batches(open_only=True) if (b["base_url"], b["target_spec"]) == (api.base_url, spec)
             and b["digest"] != api.target.digest]
    if not other:
        return None
    old = other[0]["digest"]
    ids = ", ".join(b["batch_id"] or b["submission"] for b in other)
    n = sum(b["n_requests"] for b in other)
    name = spec.split(":", 1)[1]
    how = (f"declare the recorded snapshot with targets.model_digests: {{{name}: '{old}'}} and poll (remove it after "
           f"to key new answers to the new snapshot), and name a dated snapshot such as {old.split(':', 1)[1]} in "
           "models for batches from then on" if api.target.kind == "anthropic" else
           "serve the model they were submitted for again and poll")
    return (f"{len(other)} open batch(es) of {spec} at {api.base_url} ({ids}; {n:,} requests) were submitted under "
            f"digest {old}, but the model is now served as {api.target.digest}, so they are not polled and their "
            f"requests would be called again under new keys: to collect them, {how}.")


def run(api: BatchAPI, store: ResponseStore, requests: list[BatchRequest], *, retry_failed: bool = False,
        wait: bool = True, every_s: float = 60.0, timeout_s: float | None = None, settle_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = print) -> BatchReport:
    """Poll what is open (a killed run resumes here), submit the rest, and with ``wait`` poll every ``every_s``
    seconds until nothing is open (or ``timeout_s`` passed: the batches stay open, to be polled later)."""
    store.check_writable()
    rep = BatchReport()
    poll(api, store, report=rep, settle_s=settle_s)
    submit(api, store, requests, retry_failed=retry_failed, report=rep, settle_s=settle_s)
    if rep.submitted:
        log(f"{api.target.spec}: submitted {rep.submitted:,} requests in {', '.join(rep.batch_ids)}; the ledger in "
            f"{store.path} holds them, so a stopped run resumes by polling.")
    start = time.monotonic()
    poll(api, store, report=rep, settle_s=settle_s)
    while wait and rep.open and (timeout_s is None or time.monotonic() - start < timeout_s):
        sleep(every_s)
        poll(api, store, report=rep, settle_s=settle_s)
    return rep


def _collect(api: BatchAPI, store: ResponseStore, b: dict[str, Any], pb: ProviderBatch, rep: BatchReport) -> None:
    """A batch that ended: its result files checked against its requests, then recorded in one transaction."""
    reqs = {q["custom_id"]: q for q in store.batch_requests(b["submission"])}
    lines = api.results(pb)
    seen = Counter(x.get("custom_id") if isinstance(x, dict) else None for _, _, x in lines)
    bad = [f"line {i} of file {f} is not a JSON object with a custom_id" for f, i, x in lines
           if not isinstance(x, dict) or not isinstance(x.get("custom_id"), str)]
    unknown = sorted(c for c in seen if isinstance(c, str) and c not in reqs)
    twice = sorted(c for c, n in seen.items() if isinstance(c, str) and n > 1)
    missing = sorted(c for c in reqs if c not in seen) if pb.covers_all else []
    problems = bad[:1]
    if unknown:
        problems.append(f"{len(unknown)} custom_id(s) not submitted in it, e.g. {unknown[0][:16]!r}")
    if missing:
        problems.append(f"{len(missing)} of its requests missing, e.g. {missing[0][:16]!r}")
    if twice:
        problems.append(f"{len(twice)} custom_id(s) more than once, e.g. {twice[0][:16]!r}")
    if problems:
        raise BatchError(f"The result files of batch {pb.batch_id} at {api.base_url} do not match the "
                         f"{len(reqs)} requests submitted in it ({'; '.join(problems)}), so none of it was stored and "
                         "the batch stays open: check it at the provider, then release its requests with `python -m "
                         f"analysis.pipeline.batch abandon {pb.batch_id}` to submit them again.")
    wall = (pb.ended_at - pb.created_at) if pb.ended_at and pb.created_at else None
    answers, outcomes = [], {}
    for _, _, x in lines:
        q = reqs[x["custom_id"]]
        req = BatchRequest.from_json(q["key"], q["request"])
        if request_key(req.identity, req.messages, req.options, req.sample, req.top_logprobs) != req.key:
            raise BatchError(f"The ledger entry {req.key[:16]} of batch {pb.batch_id} does not hash to its key (the "
                             "store was edited), so none of the batch was stored; release it with "
                             f"`python -m analysis.pipeline.batch abandon {pb.batch_id}`.")
        raw, err, state = api.outcome(x, req)
        outcomes[x["custom_id"]] = (state, err)
        if raw is None:
            if len(rep.errors) < 3:
                rep.errors.append(err or state)
            continue
        meta = {**raw.meta, "mode": "batch",
                "batch": {"id": pb.batch_id, "custom_id": x["custom_id"], "provider": api.provider,
                          "wall_s": wall, "requests": len(reqs)}}
        answers.append({"key": req.key, "identity": req.identity, "messages": req.messages, "options": req.options,
                        "seed": int(req.options.get("seed", 0)), "sample": req.sample,
                        "top_logprobs": req.top_logprobs, "text": raw.text,
                        "logprobs": [t.to_json() for t in raw.logprobs] if raw.logprobs is not None else None,
                        # a batch has no model time per request (its turnaround, wall_s, is in meta): 0, so batch
                        # answers add nothing to the model time a stage reports
                        "latency_s": 0.0, "meta": meta, "tag": req.tag})
    left = "expired" if pb.status == "expired" else "failed"
    why = {"expired": "the batch expired before the provider reached this request",
           "failed": f"the batch failed as a whole ({pb.errors or pb.status})",
           "cancelled": "the batch was cancelled before the provider reached this request"}
    for cid in reqs:
        outcomes.setdefault(cid, (left, why.get(pb.status, pb.status)))
    final = "collected" if pb.status == "completed" else left
    store.batch_finish(b["submission"], state=final, provider_status=pb.status, answers=answers, outcomes=outcomes,
                       info={**b["info"], "counts": pb.counts, "ended_at": pb.ended_at})
    counts = Counter(st for st, _ in outcomes.values())
    rep.collected += counts["collected"]
    rep.failed += counts["failed"]
    rep.expired += counts["expired"]


def abandon(api: BatchAPI, store: ResponseStore, batch_id: str) -> BatchReport:
    """The user's explicit decision to stop waiting for one open batch (by the provider's id or the submission id),
    e.g. after a refused result file. A batch still open at the provider is cancelled there first; while it is
    cancelling this refuses (its requests stay open, and a later poll collects what it completed). Once it has ended,
    the answers its result files hold are collected when they match its requests; every other open request of it is
    released as ``failed``, for ``retry_failed`` to submit again. The report counts both (``failed``: released)."""
    b = next((x for x in store.batches(open_only=True) if batch_id in (x["batch_id"], x["submission"])), None)
    if b is None:
        raise BatchError(f"No open batch {batch_id!r} in the ledger of {store.path}; `python -m "
                         "analysis.pipeline.batch status` lists the batches.")
    if not belongs_to(api, b):
        raise BatchError(f"Batch {batch_id} was submitted for {b['target_spec']} at {b['base_url']}, not for "
                         f"{api.target.spec} at {api.base_url}; abandon it with that model in models and targets.batch.")
    rep = BatchReport()
    if b["batch_id"] is None:  # its creation was not seen: the provider's list says if it exists
        try:
            pb = api.find(_submission(store, b["submission"]))
        except NoBatchAPI:
            pb = None
        except NotYetKnown as e:
            raise BatchError(f"The creation of batch {batch_id} was not seen, and {str(e)[0].lower()}{str(e)[1:-1]}; "
                             "abandon it then.") from None
        if pb is None:
            rep.failed += _release(store, b["submission"], "abandoned by the user (the batch was not found at the "
                                   "provider)", info=b["info"], provider_status="abandoned")
            return rep
        b["info"] = {**b["info"], "created_at": pb.created_at, "found_by": api.found_tag}
        _created(api, store, b["submission"], pb.batch_id, b["info"], b["n_requests"])
        b["batch_id"] = pb.batch_id
    try:
        pb = api.get(b["batch_id"])
    except Exception as e:
        if getattr(e, "http_status", 0) != 404:
            raise
        # the provider does not know it (deleted, or another account): nothing is being paid for there
        rep.failed += _release(store, b["submission"], f"abandoned by the user (the provider does not know batch "
                               f"{b['batch_id']})", info=b["info"], provider_status="abandoned")
        return rep
    if pb.open and pb.status != "cancelling":
        pb = api.cancel(b["batch_id"])
    if pb.open:
        store.batch_pending(b["submission"], pb.status)
        raise BatchError(f"Batch {b['batch_id']} is {pb.status} at the provider after the request to cancel it, so "
                         "its requests stay open: run `python -m analysis.pipeline.batch poll` later, which collects "
                         "the answers it completed and releases the rest once it is cancelled.")
    try:
        _collect(api, store, b, pb, rep)
    except BatchError:  # its result files do not match its requests: nothing of them is stored
        rep.failed += _release(store, b["submission"], "abandoned by the user (the batch's result files did not "
                               "match its requests)", info=b["info"], provider_status="abandoned")
    return rep


def _created(api: BatchAPI, store: ResponseStore, submission: str, batch_id: str, info: dict[str, Any],
             n: int) -> None:
    """Record that the provider created ``batch_id`` for ``submission`` (``n`` requests). One created after another
    process released its requests, some of which another batch holds since, is cancelled at the provider and refused
    in one sentence (see :meth:`ResponseStore.batch_created`): those requests are never paid for twice."""
    conflict = store.batch_created(submission, batch_id, info)
    if not conflict:
        return
    try:
        api.cancel(batch_id)
        done = "so it was cancelled there and is not collected"
    except Exception as e:  # noqa: BLE001 - said in the sentence: the user cancels it
        done = f"and cancelling it failed ({str(e).rstrip('.')}), so cancel it at the provider"
    raise BatchError(f"Batch {batch_id} of {n:,} requests was created at {api.base_url} after another process's poll "
                     f"had released them (its creation outlasted the settle window), and {conflict:,} of them wait in "
                     f"another batch since, {done}; what it completed before the cancel is paid for but not stored.")


def _release(store: ResponseStore, submission: str, why: str, *, info: dict | None = None,
             provider_status: str | None = None) -> int:
    """Release the open requests of one batch as ``failed`` (``why`` is their error); returns how many."""
    reqs = [q for q in store.batch_requests(submission) if q["state"] in BATCH_OPEN]
    store.batch_finish(submission, state="failed", provider_status=provider_status, answers=[],
                       outcomes={q["custom_id"]: ("failed", why) for q in reqs}, info=info)
    return len(reqs)


def _parts(todo: list[BatchRequest], lines: dict[str, dict[str, Any]], max_requests: int,
           max_bytes: int) -> list[list[BatchRequest]]:
    """``todo`` in order, cut into batches of at most ``max_requests`` requests and ``max_bytes`` bytes of JSON; a
    single request larger than ``max_bytes`` is refused in one sentence (no batch can carry it)."""
    parts: list[list[BatchRequest]] = []
    cur: list[BatchRequest] = []
    size = 0
    for r in todo:
        n = len(json.dumps(lines[r.key], ensure_ascii=False).encode("utf-8")) + 1
        if n > max_bytes:
            raise BatchError(f"One request ({r.key[:16]}, {n:,} bytes) is larger than a batch may be ({max_bytes:,} "
                             "bytes), so it cannot be batched: take its model out of targets.batch for this study.")
        if cur and (len(cur) >= max_requests or size + n > max_bytes):
            parts.append(cur)
            cur, size = [], 0
        cur.append(r)
        size += n
    if cur:
        parts.append(cur)
    return parts


def _submission(store: ResponseStore, submission: str) -> Submission:
    """What the provider's list is searched with for a submission whose creation was not seen."""
    rows = store.batches()
    b = next(x for x in rows if x["submission"] == submission)
    return Submission(submission, datetime.fromisoformat(b["submitted_at"]).timestamp(),
                      frozenset(q["custom_id"] for q in store.batch_requests(submission)),
                      frozenset(x["batch_id"] for x in rows if x["batch_id"]))


def _identity(target: Any) -> dict[str, str]:
    return {"kind": target.kind, "spec": target.spec, "model": target.model, "digest": target.digest}


def belongs_to(api: BatchAPI, b: dict[str, Any]) -> bool:
    """The ledger's batch ``b`` was submitted for this API's target at its base URL."""
    return (b["base_url"], b["target_spec"], b["digest"]) == (api.base_url, api.target.spec, api.target.digest)


def _settle(api: BatchAPI, settle_s: float | None) -> float:
    """How long a batch recorded but not seen created may still appear at the provider (default: three times the
    target's timeout, plus a minute)."""
    return 3 * api.target.timeout_s + 60 if settle_s is None else settle_s


# ---- the requests of a collection stage ------------------------------------------------------------------------


def stage_requests(study: Any, p: Any, el: Elicitor) -> tuple[list[BatchRequest], int]:
    """The single-turn requests the collection stage of ``study`` (its parameters ``p``) would send to ``el``'s model
    and the store does not answer, found by the plan's dry run (no model is called), and how many of the requests it
    met are interactive only: those that continue a conversation, and every request of a multi-turn session (a tag
    in the study's ``interactive_tags``, its opening turn too). Requests that follow from an answer the store lacks
    are found by a later round, once that answer is in."""
    from analysis.core.planning import PLACEHOLDER, _DryElicitor, _DryTarget, _ReadOnlyStore

    found: dict[str, BatchRequest] = {}
    interactive = 0
    sessions = frozenset(getattr(study, "interactive_tags", ()) or ())

    class Recorder(_DryElicitor):
        def generate(self, messages, options=GenOptions(), *, sample=0, top_logprobs=0, tag=None):
            nonlocal interactive
            r = super().generate(messages, options, sample=sample, top_logprobs=top_logprobs, tag=tag)
            if r.cached:
                return r
            text = json.dumps([m.get("content", "") for m in messages], ensure_ascii=False)
            if tag in sessions or any(m.get("role") == "assistant" for m in list(messages)[:-1]):
                interactive += 1  # a session's turn, or it holds an earlier answer of the model: must wait for it
            elif PLACEHOLDER not in text and "\u2400" not in text:
                req = BatchRequest.of(self, messages, options, sample=sample, top_logprobs=top_logprobs, tag=tag)
                found.setdefault(req.key, req)
            return r

    rec = Recorder(_DryTarget(el.target), _ReadOnlyStore(el.store), progress=False)
    if hasattr(el, "targets"):
        rec.targets = el.targets  # a study that builds a second elicitor (a judge) reaches the same settings
    study.collect(rec, p.collect, p.seed)
    return list(found.values()), interactive


def batch_models(models: list[str], names: list[str]) -> list[str]:
    """The models of ``models`` that ``targets.batch`` names (by spec, ``KIND:NAME`` or ``NAME``, as api_key_env)."""
    from analysis.core.models import key_env_of

    return [m for m in models if any(key_env_of(m, {n: n}) for n in names)]
