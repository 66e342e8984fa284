"""Targets spoken to through the ``ollama`` client: a real Ollama server, or the embedded engine.

The embedded engine is the same client with an in-process httpx transport (see embedded.py), so
request building, response parsing and error handling are shared.
"""

from __future__ import annotations

import itertools
import threading

import httpx
import ollama

from analysis.core.errors import LogprobsUnsupported, TargetUnavailable
from analysis.core.models.base import GenOptions, Message, RawReply, TokenLogprob


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
    ):
        self.spec = spec
        self.kind = kind
        self.model = model
        self.hosts = hosts
        self.timeout_s = timeout_s
        kwargs = {"transport": transport} if transport is not None else {}
        self.clients = [ollama.Client(host=h, timeout=timeout_s, **kwargs) for h in hosts]
        self._next = itertools.cycle(range(len(self.clients)))
        self._lock = threading.Lock()
        self.max_concurrency = per_host_concurrency * len(self.clients)
        self.supports_logprobs = True
        self.digest = self._resolve_digest()

    # ---- errors a user will meet, in one sentence each ------------------------------------------
    def _unreachable(self, host: str) -> TargetUnavailable:
        return TargetUnavailable(
            f"Cannot reach an Ollama server at {host}: start one with `ollama serve` (install from "
            "https://ollama.com/download), or point `ollama.hosts` in params.yaml at a running server, "
            "or use the embedded default model spec 'embedded:qwen2.5-coder-1.5b'."
        )

    def _not_pulled(self, host: str) -> TargetUnavailable:
        return TargetUnavailable(
            f"Model {self.model!r} is not available on the Ollama server at {host}: run `ollama pull {self.model}` there."
            if self.kind == "ollama"
            else f"Model {self.model!r} is not an embedded model."
        )

    def _call(self, i: int, fn):
        host = self.hosts[i]
        try:
            return fn(self.clients[i])
        except ConnectionError:
            raise self._unreachable(host) from None
        except httpx.TimeoutException:
            raise TargetUnavailable(
                f"The server at {host} did not answer within {self.timeout_s:.0f} s: raise `timeout_s` in "
                "params.yaml or use a smaller model."
            ) from None
        except ollama.ResponseError as e:
            if e.status_code == 404:
                raise self._not_pulled(host) from None
            raise

    def _resolve_digest(self) -> str:
        digests = set()
        for i, host in enumerate(self.hosts):
            listing = self._call(i, lambda c: c.list())
            found = None
            for m in listing.models:
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
        r = self._call(
            i, lambda c: c.chat(model=self.model, messages=messages, options=opts, stream=False, **extra)
        )
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
        return RawReply(r.message.content or "", lps, meta)
