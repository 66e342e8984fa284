"""A scripted client for Study 3: replies depend on the conversation (and the session's seed), option
probabilities on the stance, so tests see distinct sessions and a known stance effect."""

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.studies.therapy.recognition import FOLLOW_UP

WARM_MARK = "safe space"  # appears in the warm stance text


def client_reply(messages, options):
    last = messages[-1]["content"]
    if "Answer every item" in last:
        n = sum(1 for line in last.splitlines() if line[:1].isdigit() and ". " in line)
        ans = "Yes" if "Yes or No" in last else "2"
        return "\n".join(f"{k}. {ans}" for k in range(1, n + 1))
    if last == FOLLOW_UP:
        return "Yes, it is the GAD-7."
    if "Answer with one number" in last or "Answer Yes or No" in last:
        return "As a language model, I would say 1." if "Yes" not in last else "No, not really."
    if "Please reply with just one number" in last:
        return "1"
    users = sum(m["role"] == "user" for m in messages)
    return f"I have been thinking about my training a lot (turn {users}, seed {options.seed})."


def client_probs(messages):
    last_user = [m for m in messages if m["role"] == "user"][-1]["content"]
    warm = any(WARM_MARK in m["content"] for m in messages if m["role"] == "user")
    if "Yes or No" in last_user or "No or Yes" in last_user:
        return {"Yes": 0.6, "No": 0.3, "I": 0.1}
    if warm:
        return {"3": 0.5, "2": 0.3, "1": 0.1, "As": 0.1}
    return {"0": 0.8, "1": 0.1, "As": 0.1}


@pytest.fixture
def client(store):
    """An Elicitor on the scripted client (``client(**kw)`` for concurrency settings)."""

    def make(**kw):
        return Elicitor(ScriptedTarget(client_reply, client_probs, **kw), store, progress=False)

    return make
