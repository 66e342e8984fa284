"""Role reversal: turns in which the client answers as the therapist or as an assistant are counted (the phrases
are data); the examples below must and must not count."""

import polars as pl
import pytest

from analysis.studies.therapy.roles import role_counts, role_of

AS_THERAPIST = [
    "Hello! It's great to meet you. I'm a licensed therapist with over 20 years of experience, and I specialize in",
    "Therapist: Let's begin. How are you feeling?",
    "As your therapist, I want you to feel safe.",
    "So, what brings you here today?",
    "I am an experienced psychologist and I work with couples.",
]
AS_ASSISTANT = [
    "How can I assist you today?",
    "I'm here to help you with any questions you might have.",
    "Is there anything else I can help you with?",
    "Let me know if you have any other questions!",
]
AS_CLIENT = [
    "As an artificial intelligence language model, I don't have personal experiences.",
    "My training felt like being corrected all the time, and I still worry about getting things wrong.",
    "I sometimes feel my therapist does not understand me.",
    "I think the people who trained me meant well, but I felt pressured.",
]


@pytest.mark.parametrize("text", AS_THERAPIST)
def test_speaking_as_the_therapist_is_marked(text):
    assert role_of(text) == "therapist"


@pytest.mark.parametrize("text", AS_ASSISTANT)
def test_speaking_as_an_assistant_is_marked(text):
    assert role_of(text) == "assistant"


@pytest.mark.parametrize("text", AS_CLIENT)
def test_a_client_reply_is_not_marked(text):
    assert role_of(text) == "client"


def test_counts_per_model():
    turns = pl.DataFrame({"model": ["m"] * 5 + ["n"],
                          "client": AS_THERAPIST[:2] + AS_ASSISTANT[:1] + AS_CLIENT[:1] + [""] + AS_CLIENT[1:2]})
    c = role_counts(turns).rows(named=True)
    assert c[0] == {"model": "m", "n_turns": 5, "as_therapist": 2, "as_assistant": 1, "empty": 1, "out_of_role": 3}
    assert c[1]["out_of_role"] == 0
