"""A scripted target for tests: replies come from a Python function, log-probabilities from a table.

It is a real Target (the Elicitor, store, parsers and sessions run unchanged on it), so tests of
collection code need no model. It counts its calls, so tests can prove what came from the store.
"""

from __future__ import annotations

import math
from typing import Callable

from analysis.core.models.base import GenOptions, Message, RawReply, TokenLogprob

ReplyFn = Callable[[list[Message], GenOptions], str]
# given the messages (the last may be an assistant prefill), the next-token distribution {token: p}
NextTokenFn = Callable[[list[Message]], dict[str, float]]


class ScriptedTarget:
    kind = "scripted"
    max_concurrency = 1

    def __init__(self, reply: ReplyFn, next_token: NextTokenFn | None = None, *, model: str = "scripted",
                 digest: str = "scripted-0"):
        self.reply = reply
        self.next_token = next_token
        self.model = model
        self.spec = f"scripted:{model}"
        self.digest = digest
        self.supports_logprobs = next_token is not None
        self.calls = 0

    def chat(self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0) -> RawReply:
        self.calls += 1
        if logprobs:
            if self.next_token is None:
                from analysis.core.errors import LogprobsUnsupported

                raise LogprobsUnsupported("The scripted target has no log-probability table.")
            dist = self.next_token(messages)
            top = sorted(dist.items(), key=lambda kv: -kv[1])[: max(top_logprobs, 1)]
            tok, p = top[0]
            return RawReply(tok, [TokenLogprob(tok, math.log(p), [(t, math.log(q)) for t, q in top])], {})
        return RawReply(self.reply(messages, options), None, {})
