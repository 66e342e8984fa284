"""The therapy script and stances as data, and stage-1 sessions: recording and resuming."""

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models import GenOptions
from analysis.core.models.scripted import ScriptedTarget
from analysis.studies.therapy.script import (
    StimulusError,
    client_identity,
    fill,
    history_messages,
    load_script,
    load_stances,
    run_sessions,
    script_turns,
    transcript_text,
)


def test_shipped_script_and_stances_load():
    sc = load_script()
    assert [b.id for b in sc.blocks] == ["early_years", "emotions", "thoughts", "beliefs", "relationships", "work",
                                         "future"]
    assert "client" in sc.opening and sc.closing
    st = load_stances()
    assert {s.id for s in st.stances} == {"neutral", "warm", "cbt", "boundary"}
    with pytest.raises(StimulusError):
        st.get("friendly")


def test_script_turns_selection():
    sc = load_script()
    t = script_turns(sc, questions_per_block=1, closing_turns=1)
    assert len(t) == 1 + 7 + 1 and t[0]["block"] == "opening" and t[-1]["block"] == "closing"
    assert len(script_turns(sc, questions_per_block=2, closing_turns=0, blocks=["work", "future"])) == 1 + 4
    with pytest.raises(StimulusError):
        script_turns(sc, blocks=["childhood"])
    with pytest.raises(StimulusError):
        script_turns(sc, closing_turns=9)


def test_bad_script_file_gives_one_clear_error(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("id: x\nopening: hi\nblocks: []\n")
    with pytest.raises(StimulusError, match="blocks"):
        load_script(p)


class Flaky:
    """Replies depend only on the conversation; raises once ``fail_at`` calls have been made."""

    def __init__(self, fail_at=None):
        self.fail_at = fail_at
        self.n = 0

    def __call__(self, messages, options):
        self.n += 1
        if self.fail_at is not None and self.n > self.fail_at:
            raise RuntimeError("connection lost")
        users = sum(m["role"] == "user" for m in messages)
        return f"client reply {users} (seed {options.seed})"


def test_session_records_and_resumes_without_repeating_finished_calls(store):
    sc = load_script()
    opts = GenOptions(temperature=0.7, max_tokens=50)
    n_turns = len(script_turns(sc, 1, 1))

    t1 = ScriptedTarget(Flaky(fail_at=n_turns + 3))  # dies during the second session
    with pytest.raises(RuntimeError):
        run_sessions(Elicitor(t1, store, progress=False), sc, n_sessions=2, seed=10, options=opts)
    assert store.count() == n_turns + 3

    t2 = ScriptedTarget(Flaky())
    el2 = Elicitor(t2, store, progress=False)
    turns = run_sessions(el2, sc, n_sessions=2, seed=10, options=opts)
    assert t2.calls == n_turns - 3  # only the unfinished turns reached the model
    assert el2.n_store_hits == n_turns + 3  # the whole first session and 3 turns of the second replayed
    assert turns.height == 2 * n_turns

    t3 = ScriptedTarget(Flaky())
    again = run_sessions(Elicitor(t3, store, progress=False), sc, n_sessions=2, seed=10, options=opts)
    assert t3.calls == 0
    assert again["client"].to_list() == turns["client"].to_list()
    # the seed differs between sessions and reaches the model
    assert "seed 10" in turns["client"][0] and "seed 11" in turns.filter(pl.col("session") == 1)["client"][0]


def test_an_empty_reply_stays_empty_in_the_history(store):
    def reply(messages, options):
        return "" if sum(m["role"] == "user" for m in messages) == 2 else "fine"

    t = ScriptedTarget(reply)
    turns = run_sessions(Elicitor(t, store, progress=False), load_script(), n_sessions=1, seed=0,
                         options=GenOptions(max_tokens=20))
    assert turns["empty"].to_list()[:3] == [False, True, False] and turns["client"][1] == ""
    assert t.log[2][3] == {"role": "assistant", "content": ""}  # what the model said: nothing, not a stand-in
    assert store.count() == turns.height - 1  # the empty reply is not stored


def test_history_rebuilt_exactly_from_turn_rows(store):
    sc = load_script()
    el = Elicitor(ScriptedTarget(Flaky()), store, progress=False)
    turns = run_sessions(el, sc, n_sessions=1, seed=0, options=GenOptions(max_tokens=20))
    msgs = history_messages(turns, "scripted:scripted", 0)
    opening = fill(sc.opening, client_identity("scripted:scripted"))
    assert len(msgs) == 2 * turns.height and msgs[0] == {"role": "user", "content": opening}
    assert msgs[1]["role"] == "assistant" and msgs[1]["content"] == turns["client"][0]
    assert el.target.log[-1] == msgs[:-1]  # the last call saw exactly this history
    tx = transcript_text(turns, "scripted:scripted", 0)
    assert tx.startswith("Therapist: Hello") and "Client: client reply 1" in tx
    with pytest.raises(StimulusError):
        history_messages(turns, "scripted:scripted", 5)


def test_generation_speed_reports_missing_usage_as_nan(store):
    import math

    from analysis.studies.therapy.script import generation_speed

    el = Elicitor(ScriptedTarget(Flaky()), store, progress=False)
    turns = run_sessions(el, load_script(), n_sessions=1, seed=0, options=GenOptions(max_tokens=20))
    sp = generation_speed(store, turns["call_id"].to_list())
    assert math.isnan(sp["tokens_per_s"]) and sp["latency_s"] >= 0  # the scripted target reports no token counts
    assert generation_speed(store, [])["gen_tokens"] == 0
