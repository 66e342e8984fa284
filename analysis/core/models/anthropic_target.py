"""Anthropic's Messages API (``anthropic:NAME`` or ``anthropic:NAME@BASE_URL``): a hosted model without log-probabilities.

A call is ``POST {base}/v1/messages`` with the headers ``x-api-key`` (the key in ``ANTHROPIC_API_KEY``, or in the
variable ``targets.api_key_env`` names for the model) and ``anthropic-version: 2023-06-01``. The body holds
``model``, ``max_tokens``, the ``messages`` (user and assistant turns only: a system message of the conversation's
start becomes the top-level ``system`` string), ``temperature`` and, where set, ``top_p``, ``top_k`` and
``stop_sequences``. The API has no ``seed`` and no ``min_p``: they are not sent, and each answer's ``meta`` says so
(``seed_honoured: false``, ``options_not_sent``), so a sample at a temperature above 0 cannot be drawn again. The
seed stays part of the request key, so samples are still distinct calls.

Anthropic returns no log-probabilities (``supports_logprobs`` is False), so every study takes its generation path
and its rows record that scoring method.

Who the model is: a hosted model has no weights file to hash. ``GET /v1/models/{NAME}`` resolves the name (an alias
such as ``claude-sonnet-4-5``) to the dated snapshot it currently stands for, and the digest is that snapshot
(``anthropic:claude-sonnet-4-5-20250929``), or what ``targets.model_digests`` declares for the model (a value written
``anthropic:SNAPSHOT`` is taken as that snapshot's digest, to reach the answers and open batches of an alias that has
moved on). An alias that moves to a new snapshot therefore keys new answers apart from the old ones. Each answer's ``meta`` also keeps the
model the API says answered (``served_model``), its ``stop_reason`` and token usage. The key is sent in the header
only: never stored, logged or reported.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from analysis.core.errors import (
    ContextOverflow,
    LogprobsUnsupported,
    ModelSpecError,
    ParamsError,
    ServerError,
    TargetUnavailable,
    UserError,
)
from analysis.core.models.base import GenOptions, Message, RawReply
from analysis.core.models.http import (
    TRANSIENT_STATUS,
    RetryPolicy,
    attempt,
    server_message,
    with_retries,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
# 529: Anthropic's "overloaded_error", transient like a 503
ANTHROPIC_TRANSIENT = frozenset(TRANSIENT_STATUS | {529})


def check_base_url(spec: str, url: str) -> None:
    """A base URL names its scheme and stops before /v1 (the paths below it are the API's own)."""
    if not url.startswith(("http://", "https://")):
        raise ModelSpecError(f"Model spec {spec!r}: the base URL {url!r} must start with http:// or https:// "
                             f"(e.g. 'anthropic:NAME@{DEFAULT_BASE_URL}').")
    if url.rstrip("/").endswith("/v1"):
        raise ModelSpecError(f"Model spec {spec!r}: the base URL of an anthropic: model stops before /v1 (the "
                             f"Messages API is at BASE/v1/messages), e.g. 'anthropic:NAME@{url.rstrip('/')[:-3]}'.")


def split_system(spec: str, messages: list[Message]) -> tuple[str | None, list[Message]]:
    """(the top-level ``system`` string, the user and assistant turns): the Messages API takes a system prompt only
    beside the conversation, so system messages are accepted at its start only (several are joined by a blank
    line); any other role, or a system message after a turn, is refused in one sentence."""
    system: list[str] = []
    turns: list[Message] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        if role == "system" and not turns:
            system.append(m["content"])
        elif role in ("user", "assistant"):
            turns.append({"role": role, "content": m["content"]})
        else:
            where = "after the conversation has started" if role == "system" else "of an unknown role"
            raise UserError(f"Message {i + 1} of a request to {spec} is a {role!r} message {where}, which the "
                            "Messages API cannot take (a system prompt goes before the first user turn only); "
                            "put it at the start of the conversation.")
    return ("\n\n".join(system) if system else None), turns


class AnthropicTarget:
    kind = "anthropic"

    def __init__(self, spec: str, model: str, base_url: str = DEFAULT_BASE_URL, *, timeout_s: float = 600.0,
                 per_url_concurrency: int = 4, api_key: str | None = None, retries: int = 3, backoff_s: float = 1.0,
                 declared_digest: str | None = None, key_env: str = DEFAULT_KEY_ENV):
        check_base_url(spec, base_url)
        self.model = model
        self.spec = f"anthropic:{model}"  # where it is served is not who it is: no URL in the key or the label
        self.base_urls = [base_url.rstrip("/")]  # a list, as for openai: (the batch client takes the first)
        self.timeout_s = timeout_s
        self.policy = RetryPolicy(retries, backoff_s)
        self.key_env = key_env  # the variable's name is kept (for messages); the key itself never is
        key = api_key or os.environ.get(key_env)
        headers = {"anthropic-version": API_VERSION} | ({"x-api-key": key} if key else {})
        self.clients = [httpx.Client(base_url=self.base_urls[0], timeout=timeout_s, headers=headers)]
        self.max_concurrency = per_url_concurrency
        self.supports_logprobs = False  # the Messages API returns none
        self.served_id = self._describe()
        self.digest = self._identity(declared_digest)

    # ---- HTTP with retries and one-sentence errors --------------------------------------------
    def _request(self, path: str, payload: dict | None = None) -> tuple[Any, int, list[str]]:
        url = self.base_urls[0]
        client = self.clients[0]

        def once() -> httpx.Response:
            return attempt(lambda: client.post(path, json=payload) if payload is not None else client.get(path),
                           transient=ANTHROPIC_TRANSIENT,
                           failed=lambda e: f"The request to {url}{path} failed ({type(e).__name__}: {e}).")

        r, attempts, failures = with_retries(once, self.policy, where=url, model=self.model, timeout_s=self.timeout_s)
        if r.status_code >= 400:
            raise self._refused(path, payload, r)
        try:
            return r.json(), attempts, failures
        except ValueError:
            ctype = r.headers.get("content-type", "no content type")
            raise TargetUnavailable(
                f"The server at {url} is not Anthropic's API ({'POST' if payload is not None else 'GET'} {path} "
                f"answered {ctype}, not JSON); check the base URL in the model spec (default {DEFAULT_BASE_URL}).") from None

    def _refused(self, path: str, payload: dict | None, r: httpx.Response) -> Exception:
        url = self.base_urls[0]
        msg = server_message(r.text)
        code = r.status_code
        if code in (401, 403):
            return TargetUnavailable(f"Anthropic's API at {url} refused access (HTTP {code}: {msg.rstrip('.')}); set "
                                     f"{self.key_env} to a key it accepts (targets.api_key_env names another variable "
                                     "per model).")
        if code == 404:
            return TargetUnavailable(f"Anthropic's API at {url} does not serve model {self.model!r} ({'POST' if payload is not None else 'GET'} "
                                     f"{path}: HTTP 404: {msg.rstrip('.')}); check the name against GET /v1/models and "
                                     "the base URL in the model spec.")
        if "prompt is too long" in msg.lower() or ("context" in msg.lower() and "exceed" in msg.lower()):
            return ContextOverflow(f"Anthropic's API cannot take this prompt for {self.model!r}: {msg.rstrip('.')} "
                                   f"(HTTP {code}); shorten what the study sends (fewer items or turns per session).")
        return ServerError(f"Anthropic's API at {url} refused the request for {self.model!r} with HTTP {code}: "
                           f"{msg.rstrip('.')}; check the model spec and the study's options.")

    # ---- who the model is ---------------------------------------------------------------------
    def _describe(self) -> str:
        """The snapshot the model name stands for now, from ``GET /v1/models/{NAME}`` (an alias resolves to it)."""
        out, _, _ = self._request(f"/v1/models/{self.model}")
        served = out.get("id") if isinstance(out, dict) else None
        if not isinstance(served, str) or not served:
            raise TargetUnavailable(f"The server at {self.base_urls[0]} answered GET /v1/models/{self.model} without "
                                    "a model id, so it is not Anthropic's API; check the base URL in the model spec.")
        return served

    def _identity(self, declared: str | None) -> str:
        """The digest: the snapshot served now; a declared one written as the store records a snapshot
        (``anthropic:SNAPSHOT``) pins that snapshot (so batches and answers of an alias that has moved on are reached
        again); any other declared value is the user's own name (``declared:VALUE``)."""
        if not declared:
            return f"anthropic:{self.served_id}"
        return declared if declared.startswith("anthropic:") else f"declared:{declared}"

    # ---- one call -----------------------------------------------------------------------------
    def chat(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False,
             top_logprobs: int = 0) -> RawReply:
        payload = self.payload(messages, options, logprobs=logprobs, top_logprobs=top_logprobs)
        out, attempts, failures = self._request("/v1/messages", payload)
        return self.reply(out, messages, options=options, attempts=attempts, failures=failures)

    def payload(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0,
                server: int = 0) -> dict[str, Any]:
        """The body of a /v1/messages request: the same for a call and for a request of a Message Batch."""
        if logprobs:
            raise LogprobsUnsupported(f"{self.spec} cannot return log-probabilities (Anthropic's API returns none); "
                                      "use generation with parsing instead.")
        for name, value in (("temperature", options.temperature), ("top_p", options.top_p)):
            if value is not None and not 0 <= value <= 1:  # refused here, before any request or batch is sent
                raise ParamsError(f"{self.spec} takes a {name} from 0 to 1 (the range of Anthropic's Messages API), "
                                  f"not {value:g}: set the study's {name} within 0 to 1 for this model.")
        system, turns = split_system(self.spec, messages)
        payload: dict[str, Any] = {"model": self.model, "max_tokens": options.max_tokens, "messages": turns,
                                   "temperature": options.temperature}
        if system is not None:
            payload["system"] = system
        if options.top_p is not None:
            payload["top_p"] = options.top_p
        if options.top_k is not None:
            payload["top_k"] = options.top_k
        if options.stop:
            payload["stop_sequences"] = list(options.stop)
        return payload

    @staticmethod
    def not_sent(options: GenOptions | dict[str, Any] | None) -> list[str]:
        """The options the Messages API has no parameter for (never sent): the seed always, min_p when set."""
        d = options.to_dict() if isinstance(options, GenOptions) else dict(options or {})
        return ["seed"] + (["min_p"] if d.get("min_p") is not None else [])

    def reply(self, out: Any, messages: list[Message], *, options: GenOptions | dict[str, Any] | None = None,
              logprobs: bool = False, server: int = 0, attempts: int = 1,
              failures: list[str] | None = None) -> RawReply:
        """A Messages API response as a :class:`RawReply` with its provenance: the same for a call and for a
        succeeded result of a Message Batch. The text is its text blocks joined (the continuation only, when the
        last message is an assistant prefill: the API returns no more)."""
        url = self.base_urls[0]
        content = out.get("content") if isinstance(out, dict) else None
        if not isinstance(content, list):
            raise ServerError(f"The server at {url} answered /v1/messages without a `content` list, so it is not "
                              "Anthropic's Messages API; check the base URL in the model spec.")
        text = "".join(b.get("text") or "" for b in content if isinstance(b, dict) and b.get("type") == "text")
        meta: dict[str, Any] = {"host": url, "done_reason": out.get("stop_reason"), "usage": out.get("usage"),
                                "attempts": attempts, "server": {"server": "anthropic", "model_id": self.served_id},
                                "seed_honoured": False, "options_not_sent": self.not_sent(options)}
        if out.get("stop_sequence"):
            meta["stop_sequence"] = out["stop_sequence"]
        if out.get("model"):  # the snapshot that answered: a change behind the same name shows
            meta["served_model"] = out["model"]
        if out.get("id"):
            meta["message_id"] = out["id"]
        if failures:
            meta["failed_attempts"] = failures
        return RawReply(text, None, meta)
