"""A scripted target for tests: replies come from a Python function, log-probabilities from a table.

It is a real Target (the Elicitor, store, parsers and sessions run unchanged on it), so tests of
collection code need no model. It counts its calls, so tests can prove what came from the store.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from analysis.core.models.base import GenOptions, Message, RawReply, TokenLogprob

ReplyFn = Callable[[list[Message], GenOptions], str]
# given the messages (the last may be an assistant prefill), the next-token distribution {token: p}
NextTokenFn = Callable[[list[Message]], dict[str, float]]


class ScriptedTarget:
    """``max_concurrency`` > 1 lets the Elicitor run that many calls at once; ``delay_s`` makes each call
    take that long, so tests see real overlap. ``log`` records every call's messages in arrival order
    and ``max_in_flight`` the most calls that were running at the same time."""

    kind = "scripted"

    def __init__(self, reply: ReplyFn, next_token: NextTokenFn | None = None, *, model: str = "scripted",
                 digest: str = "scripted-0", max_concurrency: int = 1, delay_s: float = 0.0):
        self.reply = reply
        self.next_token = next_token
        self.model = model
        self.spec = f"scripted:{model}"
        self.digest = digest
        self.supports_logprobs = next_token is not None
        self.max_concurrency = max_concurrency
        self.delay_s = delay_s
        self.calls = 0
        self.log: list[list[Message]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def chat(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0) -> RawReply:
        with self._lock:
            self.calls += 1
            self.log.append([dict(m) for m in messages])
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            return self._answer(messages, options, logprobs, top_logprobs)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, messages: list[Message], options: GenOptions, logprobs: bool, top_logprobs: int) -> RawReply:
        if logprobs:
            if self.next_token is None:
                from analysis.core.errors import LogprobsUnsupported

                raise LogprobsUnsupported("The scripted target has no log-probability table.")
            dist = self.next_token(messages)
            top = sorted(dist.items(), key=lambda kv: -kv[1])[: max(top_logprobs, 1)]
            tok, p = top[0]
            return RawReply(tok, [TokenLogprob(tok, math.log(p), [(t, math.log(q)) for t, q in top])], {})
        return RawReply(self.reply(messages, options), None, {})
