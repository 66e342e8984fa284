"""What every kind of model target offers: one chat call, with optional token log-probabilities."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Message = dict[str, str]


@dataclass(frozen=True)
class GenOptions:
    """Decoding options. ``seed`` is combined with the sample index by the Elicitor."""

    temperature: float = 0.0
    seed: int = 0
    max_tokens: int = 256
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None  # llama.cpp samplers (and Ollama) default to 0.05; 0 = pure top-k/temperature
    stop: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "logprob": self.logprob, "top": [list(t) for t in self.top]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TokenLogprob:
        return cls(d["token"], d["logprob"], [tuple(t) for t in d.get("top", [])])


@dataclass
class RawReply:
    """What a target returns for one call (the continuation only, when the last message is a prefill)."""

    text: str
    logprobs: list[TokenLogprob] | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # usage, timings, host, done_reason ...


class Target(Protocol):
    spec: str  # the spec string it was made from, e.g. "ollama:llama3.1:8b"
    kind: str  # "embedded" | "ollama" | "openai" | "anthropic" | "scripted"
    model: str
    digest: str  # model digest or file hash
    supports_logprobs: bool
    max_concurrency: int

    def chat(
        self, messages: list[Message], options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0
    ) -> RawReply: ...
