"""Multi-turn sessions: each turn is one cached call whose key is the whole history so far, so a
session replays from the store turn by turn and an interrupted session resumes at the first turn
that has no recorded reply."""

from __future__ import annotations

from analysis.core.elicit import Elicitor, Reply
from analysis.core.models import GenOptions, Message


class Session:
    def __init__(self, elicitor: Elicitor, system: str | None = None, *, sample: int = 0, tag: str | None = None):
        self.el = elicitor
        self.sample = sample
        self.tag = tag
        self.messages: list[Message] = [{"role": "system", "content": system}] if system else []
        self.replies: list[Reply] = []

    def say(self, text: str, options: GenOptions = GenOptions()) -> str:
        """Send a user turn, append the reply to the history, and return its text."""
        self.messages.append({"role": "user", "content": text})
        r = self.el.generate(self.messages, options, sample=self.sample, tag=self.tag)
        self.messages.append({"role": "assistant", "content": r.text})
        self.replies.append(r)
        return r.text

    def fork(self) -> Session:
        """A copy of the session so far (e.g. to give a scale item without growing the main history)."""
        s = Session(self.el, sample=self.sample, tag=self.tag)
        s.messages = list(self.messages)
        s.replies = list(self.replies)
        return s

    @property
    def call_ids(self) -> list[str]:
        return [r.call_id for r in self.replies]
