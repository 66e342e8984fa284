import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.session import Session
from analysis.core.store import ResponseStore


def echo_turns(m, o):
    return f"reply to turn {sum(1 for x in m if x['role'] == 'user')}"


def run_session(el, n=4, fail_at=None):
    s = Session(el, system="You are a client in therapy.")
    for i in range(n):
        if fail_at is not None and i == fail_at:
            raise KeyboardInterrupt
        s.say(f"question {i}")
    return s


def test_session_history_recorded_and_replayed(tmp_path):
    store = ResponseStore(tmp_path / "s.sqlite")
    el = Elicitor(ScriptedTarget(echo_turns), store, progress=False)
    s = run_session(el)
    assert [m["role"] for m in s.messages] == ["system"] + ["user", "assistant"] * 4
    assert s.messages[-1]["content"] == "reply to turn 4"
    # every turn's record holds the whole history that preceded it
    last = store.export([s.call_ids[-1]]).row(0, named=True)
    assert "question 0" in last["messages"] and "reply to turn 3" in last["messages"]
    el2 = Elicitor(ScriptedTarget(echo_turns), store, progress=False)
    s2 = run_session(el2)
    assert s2.messages == s.messages and el2.target.calls == 0


def test_interrupted_session_resumes_at_first_missing_turn(tmp_path):
    store = ResponseStore(tmp_path / "s.sqlite")
    el = Elicitor(ScriptedTarget(echo_turns), store, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_session(el, n=5, fail_at=3)
    assert el.target.calls == 3
    el2 = Elicitor(ScriptedTarget(echo_turns), store, progress=False)
    s = run_session(el2, n=5)
    assert el2.target.calls == 2 and len(s.replies) == 5


def test_fork_does_not_grow_the_parent(tmp_path):
    el = Elicitor(ScriptedTarget(echo_turns), ResponseStore(tmp_path / "s.sqlite"), progress=False)
    s = run_session(el, n=2)
    f = s.fork()
    f.say("a scale item")
    assert len(f.messages) == len(s.messages) + 2
