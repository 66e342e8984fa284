"""OpenAI-compatible chat endpoints (vLLM, llama.cpp server, LM Studio): how a user scales out.

Several base URLs may serve the same model; calls are spread over them round-robin, and the
Elicitor runs up to ``max_concurrency`` calls at once.
"""

from __future__ import annotations

import itertools
import os
import threading

import httpx

from analysis.core.errors import LogprobsUnsupported, TargetUnavailable
from analysis.core.models.base import GenOptions, Message, RawReply, TokenLogprob


class OpenAITarget:
    kind = "openai"

    def __init__(self, spec: str, model: str, base_urls: list[str], *, timeout_s: float = 600.0,
                 per_url_concurrency: int = 4, api_key: str | None = None):
        self.spec = spec
        self.model = model
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.timeout_s = timeout_s
        key = api_key or os.environ.get("OPENAI_API_KEY", "none")
        self.clients = [httpx.Client(base_url=u, timeout=timeout_s, headers={"Authorization": f"Bearer {key}"})
                        for u in self.base_urls]
        self._next = itertools.cycle(range(len(self.clients)))
        self._lock = threading.Lock()
        self.max_concurrency = per_url_concurrency * len(self.clients)
        self.supports_logprobs = True
        self.digest = self._resolve_digest()

    def _post(self, i: int, path: str, payload: dict | None = None) -> dict:
        url = self.base_urls[i]
        try:
            r = self.clients[i].post(path, json=payload) if payload is not None else self.clients[i].get(path)
        except httpx.ConnectError:
            raise TargetUnavailable(
                f"Cannot reach the OpenAI-compatible server at {url}: start it (e.g. `vllm serve {self.model}` or "
                "`llama-server -m MODEL.gguf`) or correct the URL in the model spec."
            ) from None
        except httpx.TimeoutException:
            raise TargetUnavailable(f"The server at {url} did not answer within {self.timeout_s:.0f} s: raise `timeout_s` in params.yaml.") from None
        if r.status_code == 404 and payload is not None:
            raise TargetUnavailable(f"The server at {url} does not serve model {self.model!r}: check the name with `curl {url}/models`.")
        r.raise_for_status()
        return r.json()

    def _resolve_digest(self) -> str:
        for i, url in enumerate(self.base_urls):
            listing = self._post(i, "/models")
            ids = [m.get("id") for m in listing.get("data", [])]
            if self.model not in ids:
                raise TargetUnavailable(f"The server at {url} does not serve model {self.model!r}; it serves {ids}.")
        # OpenAI-compatible servers report no weights digest: the served name is the best we can record
        return f"openai-name:{self.model}"

    def chat(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0) -> RawReply:
        with self._lock:
            i = next(self._next)
        payload = {"model": self.model, "messages": messages, "temperature": options.temperature,
                   "seed": options.seed, "max_tokens": options.max_tokens}
        if options.top_p is not None:
            payload["top_p"] = options.top_p
        if options.top_k is not None:
            payload["top_k"] = options.top_k  # vLLM and llama.cpp server accept these sampling extensions
        if options.min_p is not None:
            payload["min_p"] = options.min_p
        if options.stop:
            payload["stop"] = list(options.stop)
        if messages and messages[-1]["role"] == "assistant":
            # vLLM continues a final assistant message only when told; llama.cpp server does it by default
            payload["continue_final_message"] = True
            payload["add_generation_prompt"] = False
        if logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = top_logprobs
        out = self._post(i, "/chat/completions", payload)
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        if messages and messages[-1]["role"] == "assistant" and text.startswith(messages[-1]["content"]):
            text = text[len(messages[-1]["content"]):]
        lps = None
        if logprobs:
            content = (choice.get("logprobs") or {}).get("content")
            if not content:
                self.supports_logprobs = False
                raise LogprobsUnsupported(
                    f"The server at {self.base_urls[i]} returned no log-probabilities: enable them on the server "
                    "(vLLM: --max-logprobs 20) or use generation with parsing instead."
                )
            lps = [TokenLogprob(t["token"], t["logprob"], [(a["token"], a["logprob"]) for a in t.get("top_logprobs", [])])
                   for t in content]
        return RawReply(text, lps, {"host": self.base_urls[i], "done_reason": choice.get("finish_reason"), "usage": out.get("usage")})
