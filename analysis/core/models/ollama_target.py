"""Targets spoken to through the ``ollama`` client: a real Ollama server, or the embedded engine.

The embedded engine is the same client with an in-process httpx transport (see embedded.py), so
request building, response parsing and error handling are shared.

A model's identity is its Ollama digest (the embedded engine reports the GGUF's sha256), so the cache
key of these targets is what it always was: existing store rows keep answering. Transient server
failures (HTTP 429/5xx, dropped connections, timeouts) are retried ``retries`` times with backoff and
the attempts recorded in the call's ``meta``; the embedded engine's errors are not transient (the same
request fails the same way), so it is never retried.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading

import httpx
import ollama
import pydantic

from analysis.core.errors import ContextOverflow, LogprobsUnsupported, ServerError, TargetUnavailable
from analysis.core.models.base import GenOptions, Message, RawReply, TokenLogprob
from analysis.core.models.http import (
    NO_RETRY,
    TRANSIENT_STATUS,
    RetryPolicy,
    Transient,
    classify_httpx,
    server_message,
    with_retries,
)

CONTEXT = re.compile(r"exceeds? the (available )?context|context (size|length|window)", re.IGNORECASE)


class OllamaTarget:
    def __init__(
        self,
        spec: str,
        model: str,
        hosts: list[str],
        *,
        kind: str = "ollama",
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 600.0,
        per_host_concurrency: int = 1,
        retries: int = 3,
        backoff_s: float = 1.0,
        n_ctx: int | None = None,
    ):
        # where a model is served is not who it is: the key and the label carry the name (and the digest
        # Ollama reports), not the hosts; answers recorded under the old host-bearing spec are still found
        self.spec = f"{kind}:{model}"
        self.legacy_specs = [spec] if spec != self.spec else []
        self.kind = kind
        self.model = model
        self.hosts = hosts
        self.timeout_s = timeout_s
        self.n_ctx = n_ctx
        self.policy = RetryPolicy(retries, backoff_s) if kind == "ollama" else NO_RETRY
        kwargs = {"transport": transport} if transport is not None else {}
        self.clients = [ollama.Client(host=h, timeout=timeout_s, **kwargs) for h in hosts]
        self._next = itertools.cycle(range(len(self.clients)))
        self._lock = threading.Lock()
        self.max_concurrency = per_host_concurrency * len(self.clients)
        self.supports_logprobs = True
        self.digest = self._resolve_digest()
        self.template_sha256 = self._template_sha256() if kind == "ollama" else None

    # ---- errors a user will meet, in one sentence each ------------------------------------------
    def _unreachable(self, host: str) -> TargetUnavailable:
        return TargetUnavailable(
            f"Cannot reach an Ollama server at {host}: start one with `ollama serve` (install from "
            "https://ollama.com/download), or point `targets.ollama_hosts` in params.yaml (or the hosts after '@' "
            "in the model spec) at a running server, or use the embedded default model spec "
            "'embedded:qwen2.5-coder-1.5b'."
        )

    def _not_pulled(self, host: str) -> TargetUnavailable:
        return TargetUnavailable(
            f"Model {self.model!r} is not available on the Ollama server at {host}: run `ollama pull {self.model}` there."
            if self.kind == "ollama"
            else f"Model {self.model!r} is not an embedded model."
        )

    def _not_ollama(self, host: str, what: str) -> TargetUnavailable:
        return TargetUnavailable(
            f"The server at {host} is not an Ollama server (GET /api/tags {what}); check the URL in "
            "`targets.ollama_hosts` in params.yaml or after '@' in the model spec (Ollama listens on port 11434)."
        )

    def _overflow(self, host: str, msg: str) -> ContextOverflow:
        if self.kind == "embedded":
            msg = re.sub(r",? *try increasing it\.?$", "", msg.rstrip("."))
            return ContextOverflow(
                f"The prompt does not fit the embedded engine's context ({msg}): raise `targets.n_ctx` in "
                f"params.yaml (now {self.n_ctx}; memory grows with it, 8192 needs about 120 MB more for the 1.5B "
                "model) or shorten what the study sends (fewer items or turns per session).")
        return ContextOverflow(
            f"The Ollama server at {host} cannot take this prompt for {self.model!r}: {msg.rstrip('.')}; shorten what "
            "the study sends (fewer items or turns per session) or raise the model's context (OLLAMA_CONTEXT_LENGTH "
            "or `num_ctx` in its Modelfile).")

    def _call(self, i: int, fn, *, connect_retry: bool = True):
        """``fn(client)`` with retries of transient failures: (result, attempts, failed attempts)."""
        host = self.hosts[i]

        def once():
            try:
                return fn(self.clients[i])
            except ConnectionError:  # the ollama client's translation of httpx.ConnectError
                if connect_retry and self.kind == "ollama":
                    raise Transient("connection refused") from None
                raise self._unreachable(host) from None
            except ollama.ResponseError as e:
                if e.status_code in TRANSIENT_STATUS and self.kind == "ollama" and not CONTEXT.search(_text(e)):
                    raise Transient(f"HTTP {e.status_code}: {server_message(_text(e))}") from None
                raise
            except httpx.HTTPError as e:
                t = classify_httpx(e)
                if t is None:
                    raise ServerError(f"The request to the Ollama server at {host} failed ({type(e).__name__}: {e}).") from None
                raise t from None

        return with_retries(once, self.policy, where=host, model=self.model, timeout_s=self.timeout_s)

    def _refused(self, host: str, e: ollama.ResponseError) -> Exception:
        msg = server_message(_text(e))
        if e.status_code == 404:
            return self._not_pulled(host)
        if CONTEXT.search(msg):
            return self._overflow(host, msg)
        if self.kind == "embedded":
            return ServerError(f"The embedded engine failed for {self.model!r}: {msg.rstrip('.')}.")
        return ServerError(f"The Ollama server at {host} refused the request for {self.model!r} with HTTP "
                           f"{e.status_code}: {msg.rstrip('.')}; check the model and the server's log.")

    def _resolve_digest(self) -> str:
        digests = set()
        for i, host in enumerate(self.hosts):
            try:
                listing, _, _ = self._call(i, lambda c: c.list(), connect_retry=False)
                models = listing.models
            except ollama.ResponseError as e:
                raise self._not_ollama(host, f"answered HTTP {e.status_code}: {server_message(_text(e), 80)}") from None
            except (ValueError, pydantic.ValidationError, TypeError, AttributeError):
                raise self._not_ollama(host, "did not answer with an Ollama model list") from None
            found = None
            for m in models:
                name = m.model or ""
                if name == self.model or name == f"{self.model}:latest":
                    found = m.digest
            if found is None:
                raise self._not_pulled(host)
            digests.add(found)
        if len(digests) > 1:
            raise TargetUnavailable(
                f"The Ollama hosts {self.hosts} hold different versions of {self.model!r} (digests {sorted(digests)}): "
                f"run `ollama pull {self.model}` on each so they match."
            )
        return digests.pop()

    def _template_sha256(self) -> str | None:
        """The first 16 hex digits of the sha256 of the chat template the server applies to this model (its
        ``/api/show`` template), recorded with every answer; None when the server does not say (the model's
        digest, which covers its template and tokenizer layers, still names it)."""
        try:  # one request, no retries: the first call's retries meet a server that is failing
            template = getattr(self.clients[0].show(self.model), "template", None)
        except Exception:  # noqa: BLE001 - provenance is recorded when available, never a reason to stop
            return None
        return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16] if isinstance(template, str) else None

    def chat(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0) -> RawReply:
        with self._lock:
            i = next(self._next)
        opts = {"temperature": options.temperature, "seed": options.seed, "num_predict": options.max_tokens}
        if options.top_p is not None:
            opts["top_p"] = options.top_p
        if options.top_k is not None:
            opts["top_k"] = options.top_k
        if options.min_p is not None:
            opts["min_p"] = options.min_p
        if options.stop:
            opts["stop"] = list(options.stop)
        extra = {"logprobs": True, "top_logprobs": top_logprobs} if logprobs else {}
        try:
            r, attempts, failures = self._call(
                i, lambda c: c.chat(model=self.model, messages=messages, options=opts, stream=False, **extra)
            )
        except ollama.ResponseError as e:
            raise self._refused(self.hosts[i], e) from None
        lps = None
        if logprobs:
            if not r.logprobs:
                self.supports_logprobs = False
                raise LogprobsUnsupported(
                    f"The server at {self.hosts[i]} returned no log-probabilities for {self.model!r}: upgrade Ollama "
                    "to a version with logprobs support (0.12.11 or later), or use generation with parsing instead."
                )
            lps = [
                TokenLogprob(t.token, t.logprob, [(a.token, a.logprob) for a in (t.top_logprobs or [])])
                for t in r.logprobs
            ]
        meta = {
            "host": self.hosts[i],
            "done_reason": r.done_reason,
            "prompt_eval_count": r.prompt_eval_count,
            "eval_count": r.eval_count,
        }
        if self.kind == "embedded":  # evaluated and cached prompt tokens, which the Ollama wire format lacks
            from analysis.core.models.embedded import last_prompt_tokens, prompt_provenance

            meta |= last_prompt_tokens() | prompt_provenance(self.model)
        elif self.template_sha256 is not None:
            meta["chat_template_sha256"] = self.template_sha256
        if self.kind == "ollama":
            meta["attempts"] = attempts
            if failures:
                meta["failed_attempts"] = failures
        return RawReply(r.message.content or "", lps, meta)


def _text(e: ollama.ResponseError) -> str:
    """The error text of a ResponseError (the client leaves a JSON object's ``error`` as a dict)."""
    err = e.error
    if isinstance(err, dict):
        return str(err.get("message") or err.get("error") or json.dumps(err))
    return str(err)
