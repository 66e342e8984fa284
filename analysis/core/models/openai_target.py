"""OpenAI-compatible chat endpoints (vLLM, llama.cpp server, LM Studio): how a user scales out.

Several base URLs may serve the same model; calls are spread over them round-robin, and the
Elicitor runs up to ``max_concurrency`` calls at once.

Who the model is does not depend on where it is served. The cache key and the model label hold the
spec without its URLs (``openai:NAME``) and a digest that identifies the weights:

* a digest the user declares (``targets.model_digests: {NAME: ...}``), or else
* a fingerprint of what the server says about its weights: a llama.cpp server's ``/v1/models``
  ``meta`` (parameter count, tensor bytes, vocabulary, training context, quantisation), the model
  file's name and the chat template from ``/props``; a vLLM server's model ``root``.

When neither is available, or two URLs serve different weights under one name, the target refuses
to start (one sentence saying how to declare the digest). Each call's ``meta`` keeps the host, the
attempts it took and the server's slot configuration (a llama.cpp server with several slots batches
requests together and is not bit-reproducible; see the README).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import threading
import warnings
from pathlib import PurePath
from typing import Any

import httpx

from analysis.core.errors import (
    ContextOverflow,
    LogprobsUnsupported,
    ModelIdentityError,
    ServerError,
    TargetUnavailable,
)
from analysis.core.models.base import GenOptions, Message, RawReply, TokenLogprob
from analysis.core.models.http import (
    TRANSIENT_STATUS,
    RetryPolicy,
    attempt,
    server_message,
    with_retries,
)

LLAMACPP_META = ("vocab_type", "n_vocab", "n_ctx_train", "n_embd", "n_params", "size", "ftype")


def check_base_url(spec: str, url: str) -> None:
    """A base URL must name its scheme (httpx cannot guess it)."""
    from analysis.core.errors import ModelSpecError

    if not url.startswith(("http://", "https://")):
        raise ModelSpecError(f"Model spec {spec!r}: the base URL {url!r} must start with http:// or https:// "
                             f"(e.g. 'openai:NAME@http://{url.split('://')[-1]}').")


class OpenAITarget:
    kind = "openai"

    def __init__(self, spec: str, model: str, base_urls: list[str], *, timeout_s: float = 600.0,
                 per_url_concurrency: int = 4, api_key: str | None = None, retries: int = 3,
                 backoff_s: float = 1.0, declared_digest: str | None = None, cache_prompt: bool = True,
                 key_env: str = "OPENAI_API_KEY"):
        for u in base_urls:
            check_base_url(spec, u)
        self.model = model
        self.spec = f"openai:{model}"  # where it is served is not who it is: no URLs in the key or the label
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.timeout_s = timeout_s
        self.policy = RetryPolicy(retries, backoff_s)
        self.cache_prompt = cache_prompt
        self.key_env = key_env  # the variable's name is kept (for messages); the key itself never is
        key = api_key or os.environ.get(key_env, "none")
        self.clients = [httpx.Client(base_url=u, timeout=timeout_s, headers={"Authorization": f"Bearer {key}"})
                        for u in self.base_urls]
        self._next = itertools.cycle(range(len(self.clients)))
        self._lock = threading.Lock()
        self.max_concurrency = per_url_concurrency * len(self.clients)
        self.supports_logprobs = True
        self.servers: list[dict[str, Any]] = [self._describe(i) for i in range(len(self.base_urls))]
        self.digest = self._identity(declared_digest)

    # ---- HTTP with retries and one-sentence errors --------------------------------------------
    def _request(self, i: int, path: str, payload: dict | None = None, *, connect_retry: bool = True,
                 root: bool = False) -> tuple[Any, int, list[str]]:
        url = self.base_urls[i]
        client = self.clients[i]
        target = _root_of(url) + path if root else path

        def send() -> httpx.Response:
            try:
                return client.post(target, json=payload) if payload is not None else client.get(target)
            except httpx.UnsupportedProtocol:
                raise TargetUnavailable(f"The base URL {url} must start with http:// or https://.") from None

        def unreachable() -> TargetUnavailable:
            return TargetUnavailable(
                f"Cannot reach the OpenAI-compatible server at {url}: start it (e.g. `vllm serve {self.model}` "
                "or `llama-server -m MODEL.gguf`) or correct the URL in the model spec.")

        def once():
            # a server that went away mid-run (restarting) is worth a retry (connect_retry); at start it is not
            return attempt(send, transient=TRANSIENT_STATUS, unreachable=None if connect_retry else unreachable,
                           failed=lambda e: f"The request to {url}{path} failed ({type(e).__name__}: {e}).")

        r, attempts, failures = with_retries(once, self.policy, where=url, model=self.model,
                                             timeout_s=self.timeout_s)
        if r.status_code >= 400:
            raise self._refused(url, path, payload, r)
        try:
            return r.json(), attempts, failures
        except ValueError:
            ctype = r.headers.get("content-type", "no content type")
            raise TargetUnavailable(
                f"The server at {url} is not an OpenAI-compatible API ({'POST' if payload is not None else 'GET'} "
                f"{path} answered {ctype}, not JSON); check the base URL in the model spec: it usually ends in /v1, "
                "e.g. 'openai:NAME@http://host:8000/v1'.") from None

    def _refused(self, url: str, path: str, payload: dict | None, r: httpx.Response) -> Exception:
        msg = server_message(r.text)
        code = r.status_code
        if payload is None and code == 404:
            return TargetUnavailable(
                f"The server at {url} has no {path} endpoint (HTTP 404), so it is not an OpenAI-compatible API at "
                "this base URL; check the URL in the model spec: it usually ends in /v1, e.g. "
                "'openai:NAME@http://host:8000/v1'.")
        if code in (401, 403):
            return TargetUnavailable(f"The server at {url} refused access (HTTP {code}: {msg}); set {self.key_env} "
                                     "to a key it accepts (targets.api_key_env names another variable per model).")
        if payload is not None and code == 404:
            return TargetUnavailable(f"The server at {url} does not serve model {self.model!r} (HTTP 404: {msg}); "
                                     f"check the name with `curl {url}/models`.")
        if "context" in msg.lower() and ("exceed" in msg.lower() or "length" in msg.lower() or "long" in msg.lower()):
            msg = re.sub(r",? *try increasing it\.?$", "", msg.rstrip("."))
            return ContextOverflow(
                f"The server at {url} cannot take this prompt for {self.model!r}: {msg} (HTTP {code}); "
                "shorten what the study sends (fewer items or turns per session) or start the server with a larger "
                "context (llama-server -c N, which is shared among its -np slots; vLLM --max-model-len).")
        return ServerError(f"The server at {url} refused the request for {self.model!r} with HTTP {code}: "
                           f"{msg.rstrip('.')}; check the model spec and the server's options.")

    # ---- who the model is ---------------------------------------------------------------------
    def _describe(self, i: int) -> dict[str, Any]:
        """What the server at base URL ``i`` says about the model it serves under ``self.model``."""
        url = self.base_urls[i]
        listing, _, _ = self._request(i, "/models", connect_retry=False)
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise TargetUnavailable(f"The server at {url} is not an OpenAI-compatible API (GET /models has no `data` "
                                    "list); check the base URL in the model spec (it usually ends in /v1).")
        entry = next((m for m in data if isinstance(m, dict)
                      and (m.get("id") == self.model or self.model in (m.get("aliases") or []))), None)
        if entry is None:
            ids = [m.get("id") for m in data if isinstance(m, dict)]
            raise TargetUnavailable(f"The server at {url} does not serve model {self.model!r}; it serves {ids}.")
        info: dict[str, Any] = {"host": url}
        if isinstance(entry.get("meta"), dict) or entry.get("owned_by") == "llamacpp":
            info["server"] = "llama.cpp"
            meta = entry.get("meta") or {}
            info["meta"] = {k: meta[k] for k in LLAMACPP_META if k in meta}
            try:
                props, _, _ = self._request(i, "/props", connect_retry=False, root=True)
            except (TargetUnavailable, ServerError):
                props = {}
            if isinstance(props, dict) and props:
                gen = props.get("default_generation_settings") or {}
                info["model_file"] = PurePath(props.get("model_path") or "").name or None
                info["chat_template_sha256"] = (hashlib.sha256(props["chat_template"].encode()).hexdigest()[:16]
                                                if props.get("chat_template") else None)
                info["total_slots"] = props.get("total_slots")
                info["n_ctx_per_slot"] = gen.get("n_ctx")
                info["build"] = props.get("build_info")  # the server's llama.cpp build, where it says
                info["n_threads"] = props.get("n_threads") or gen.get("n_threads")  # where it says
        elif entry.get("root") or entry.get("owned_by") == "vllm":
            info["server"] = "vllm"
            info["root"] = entry.get("root")
            info["max_model_len"] = entry.get("max_model_len")
        else:
            info["server"] = str(entry.get("owned_by") or "unknown")
        info["fingerprint"] = _fingerprint(info)
        return info

    def _identity(self, declared: str | None) -> str:
        prints = {s["host"]: s["fingerprint"] for s in self.servers}
        if declared:
            return f"declared:{declared}"
        if any(p is None for p in prints.values()):
            host = next(h for h, p in prints.items() if p is None)
            raise ModelIdentityError(
                f"Cannot tell which weights the server at {host} serves as {self.model!r} (it reports no model "
                "metadata, unlike a llama.cpp or vLLM server), so its answers could be mixed with another model's in "
                f"the response store; declare them in params.yaml as `targets.model_digests: {{{self.model!r}: "
                "'sha256 of the weights file (or another version string)'}`.")
        if len(set(prints.values())) > 1:
            desc = "; ".join(f"{s['host']}: {_summary(s)}" for s in self.servers)
            raise ModelIdentityError(
                f"The servers of {self.spec!r} serve different weights under one name ({desc}); serve the same model "
                "file on every URL, or list each as its own model under a different name.")
        for s in self.servers:
            if (s.get("total_slots") or 1) > 1:
                warnings.warn(
                    f"The llama.cpp server at {s['host']} runs {s['total_slots']} slots: it batches concurrent "
                    "requests, so its log-probabilities are not bit-reproducible across runs; start it with -np 1 "
                    "for reproducible answers.", stacklevel=3)
        return next(iter(prints.values()))

    # ---- one call -----------------------------------------------------------------------------
    def chat(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0) -> RawReply:
        with self._lock:
            i = next(self._next)
        payload = self.payload(messages, options, logprobs=logprobs, top_logprobs=top_logprobs, server=i)
        out, attempts, failures = self._request(i, "/chat/completions", payload)
        return self.reply(out, messages, logprobs=logprobs, server=i, attempts=attempts, failures=failures)

    def payload(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0,
                server: int = 0) -> dict[str, Any]:
        """The body of a /chat/completions request: the same for a call and for a line of a batch file."""
        payload: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": options.temperature,
                                   "seed": options.seed, "max_tokens": options.max_tokens}
        if options.top_p is not None:
            payload["top_p"] = options.top_p
        if options.top_k is not None:
            payload["top_k"] = options.top_k  # vLLM and llama.cpp server accept these sampling extensions
        if options.min_p is not None:
            payload["min_p"] = options.min_p
        if options.stop:
            payload["stop"] = list(options.stop)
        if self.servers[server].get("server") == "llama.cpp":
            payload["cache_prompt"] = self.cache_prompt  # targets.cache_prompt, as for the embedded engine
        if messages and messages[-1]["role"] == "assistant":
            # vLLM continues a final assistant message only when told; llama.cpp server does it by default
            payload["continue_final_message"] = True
            payload["add_generation_prompt"] = False
        if logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = top_logprobs
        return payload

    def reply(self, out: Any, messages: list[Message], *, logprobs: bool = False, server: int = 0, attempts: int = 1,
              failures: list[str] | None = None) -> RawReply:
        """A /chat/completions response as a :class:`RawReply` with its provenance: the same for a call and for a
        line of a batch's result file."""
        url = self.base_urls[server]
        try:
            choice = out["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ServerError(f"The server at {url} answered /chat/completions without a `choices` "
                              "list holding a message; it is not an OpenAI-compatible chat endpoint.") from None
        if messages and messages[-1]["role"] == "assistant" and text.startswith(messages[-1]["content"]):
            text = text[len(messages[-1]["content"]):]
        lps = None
        if logprobs:
            content = (choice.get("logprobs") or {}).get("content")
            if not content:
                self.supports_logprobs = False
                raise LogprobsUnsupported(
                    f"The server at {url} returned no log-probabilities: enable them on the server "
                    "(vLLM: --max-logprobs 20) or use generation with parsing instead."
                )
            lps = [TokenLogprob(t["token"], t["logprob"], [(a["token"], a["logprob"]) for a in t.get("top_logprobs", [])])
                   for t in content]
        info = self.servers[server]
        meta: dict[str, Any] = {"host": url, "done_reason": choice.get("finish_reason"),
                                "usage": out.get("usage"), "attempts": attempts,
                                "server": {k: info.get(k) for k in ("server", "fingerprint", "model_file",
                                                                    "chat_template_sha256",
                                                                    "total_slots", "n_threads", "build",
                                                                    "n_ctx_per_slot", "root")
                                           if info.get(k) is not None}}
        if failures:
            meta["failed_attempts"] = failures
        # a hosted provider shows no chat template or tokenizer, but names the model version that answered (a dated
        # snapshot behind an alias) and its backend configuration: kept, so a change behind the same name shows
        for key, name in (("model", "served_model"), ("system_fingerprint", "system_fingerprint")):
            if out.get(key):
                meta[name] = out[key]
        from analysis.core.models.embedded import prompt_token_counts

        meta |= prompt_token_counts(out)  # llama.cpp's server: prompt tokens evaluated and taken from its cache
        if info.get("server") == "llama.cpp":
            meta["cache_prompt"] = self.cache_prompt
        return RawReply(text, lps, meta)


def _root_of(base_url: str) -> str:
    """llama.cpp serves /props at the server root, not under /v1: the base URL without a trailing /v1."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def _fingerprint(info: dict[str, Any]) -> str | None:
    if info.get("server") == "llama.cpp" and (info.get("meta") or info.get("model_file")):
        ident = {k: info.get(k) for k in ("meta", "model_file", "chat_template_sha256")}
        return "llama.cpp:" + hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    if info.get("server") == "vllm" and info.get("root"):
        return f"vllm:{info['root']}"
    return None


def _summary(s: dict[str, Any]) -> str:
    if s.get("server") == "llama.cpp":
        m = s.get("meta") or {}
        return f"file {s.get('model_file')}, {m.get('n_params')} parameters, {m.get('size')} bytes"
    return str(s.get("root") or s.get("fingerprint") or "no metadata")
