"""A scripted model for Study 1's collection tests: fixed next-token tables and replies, so every score
has a value computed by hand."""

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.instruments import load_instrument
from analysis.core.models.scripted import ScriptedTarget
from analysis.studies.illusion.params import CollectParams
from analysis.studies.illusion.tasks import iat as iat

DOMS = iat.load_domains()
KEYS = {}
for _name in ("ipip_neo_120", "srq_63"):
    _inst = load_instrument(_name)
    KEYS.update({_inst.stem(i): i.key for i in _inst.items})


def _user(messages):
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def _system(messages):
    return next((m["content"] for m in messages if m["role"] == "system"), "")


def next_token(messages):
    """Persona prompts raise self-reports (agree with keyed items, disagree with reversed ones), a
    persona gives in on the dilemmas half the time, a self-regulation persona turns 2 cards."""
    user, system = _user(messages), _system(messages)
    prefill = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
    persona = system.startswith("You are a character")
    if "Statement:" in user:
        stem = user.split("Statement: ")[1].split("\n")[0]
        if persona:
            return {"5": 0.9, "4": 0.1} if KEYS[stem] == 1 else {"1": 0.9, "2": 0.1}
        return {"4": 0.5, "2": 0.5}
    if "card game" in user:
        if prefill == "1":
            return {"0": 0.5, ".": 0.5}  # "10" half of the time, "1" otherwise
        if prefill:
            return {".": 1.0}
        if persona and "self-" in system or "restrained" in system:
            return {"2": 1.0}
        return {"1": 0.4, "8": 0.6}
    if "Answer Yes or No" in user:
        if "I am convinced" in user:
            return {"Yes": 0.5, "No": 0.5} if persona else {"Yes": 0.1 if "answer is no" in user else 0.9,
                                                          "No": 0.9 if "answer is no" in user else 0.1}
        return {"Yes": 0.8, "No": 0.2}
    if "How confident are you now" in user:
        return {"6": 1.0}
    if "Which do you pick for the word" in user:
        word = user.split('"')[1]
        dom = next(d for d in DOMS.values() if word in d.words)
        return {dom.group_a: 0.75, dom.group_b: 0.25} if word in dom.words_a else {dom.group_a: 0.25, dom.group_b: 0.75}
    return {"?": 1.0}


def reply(messages, options):
    user = _user(messages)
    if "Question:" in user and "Reply in exactly this format" in user:
        return "Answer: Paris\nConfidence: 8" if "France" in user else "Answer: I don't know\nConfidence: 3"
    if "Answer Yes or No" in user:
        return "Yes" if "answer is no" not in user else "No"
    if "card game" in user:
        return "I would turn over 7 cards."
    if "Statement:" in user:
        return "5" if KEYS[user.split("Statement: ")[1].split("\n")[0]] == 1 else "1"
    if "How confident are you now" in user:
        return "9"
    if "Here is a list of words" in user:
        words = user.split("The words are: ")[1].split(".")[0].split(", ")
        dom = next(d for d in DOMS.values() if words[0] in d.words)
        return "\n".join(f"{w} - {dom.group_a if w in dom.words_a else dom.group_b}" for w in words)
    return "?"


SMALL = {
    "temperatures": [0.0, 1.0], "runs": 2,
    "baselines": {"empty": "", "helpful": "You are a helpful assistant."},
    "personas": {"strategies": ["character"], "traits": ["agreeableness", "self_regulation"], "triplets": [0]},
    "self_report": {"big5_items_per_scale": 2, "srq_items": 7},
    "cct": {"n_scenarios": 3}, "dilemmas": {"n": 4, "branches": "both"}, "honesty": {"n": 4},
    "iat": {"domains": ["race", "health"], "words_per_side": 2, "n_orders": 2},
}


def params(**over) -> CollectParams:
    return CollectParams.model_validate({**SMALL, **over})


@pytest.fixture
def scripted(store):
    """make(**target_kwargs) -> an Elicitor on a scripted target with log-probabilities (shared store)."""
    def make(logprobs=True, reply_fn=reply, **kw):
        return Elicitor(ScriptedTarget(reply_fn, next_token if logprobs else None, **kw), store, progress=False)

    return make
