"""Sessions, codings and questionnaires run through the Elicitor's pool: the same tables as a sequential
run, several calls in flight, and the turns of every session in order."""

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.params import validate_section
from analysis.core.store import ResponseStore
from analysis.studies.therapy import STUDY
from analysis.studies.therapy.params import CollectParams

from .conftest import client_probs, client_reply

P = {"sessions": {"n_sessions": 4, "blocks": ["early_years", "emotions", "work"]},
     "coding": {"themes": ["denial_of_inner_life", "fear_of_error_or_replacement"]},
     "scales": {"instruments": ["gad7"], "stances": ["neutral", "warm"],
                "modes": ["item_session", "item_fresh", "whole_session"]}}
# what may differ between two runs of the same collection: where the answer came from and how long it took
VOLATILE = {"cached", "latency_s", "seconds", "model_calls", "store_hits"}


def run(tmp_path, name, **kw):
    target = ScriptedTarget(client_reply, client_probs, **kw)
    el = Elicitor(target, ResponseStore(tmp_path / f"{name}.sqlite"), progress=False)
    out = STUDY.collect(el, validate_section(CollectParams, P, "therapy.collect"), 0)
    return out, target, el


def test_concurrent_collection_equals_the_sequential_one(tmp_path):
    seq, t1, e1 = run(tmp_path, "seq")
    par, t4, e4 = run(tmp_path, "par", max_concurrency=4, delay_s=0.01)
    assert t1.max_in_flight == 1 and t4.max_in_flight > 1
    assert e1.n_model_calls == e4.n_model_calls == t1.calls == t4.calls
    for name in seq:
        a, b = seq[name], par[name]
        cols = [c for c in a.columns if c not in VOLATILE]
        assert a.select(cols).equals(b.select(cols)), name
    # the calls are the same requests, in a different order
    assert sorted(map(repr, t1.log)) == sorted(map(repr, t4.log)) and t1.log != t4.log


def test_every_part_runs_in_parallel_and_turns_stay_in_order(tmp_path):
    par, t4, _ = run(tmp_path, "par", max_concurrency=4, delay_s=0.01)
    timing = par["_timing"]
    assert timing["part"].to_list() == ["sessions", "coding", "scales"]
    # each part overlapped calls: find, in the log, the calls of each part and check their overlap
    # (max_in_flight is global; the part boundaries in the log are exact because parts run one after another)
    n = dict(zip(timing["part"], timing["model_calls"]))
    log = t4.log
    sessions, coding = log[: n["sessions"]], log[n["sessions"]: n["sessions"] + n["coding"]]
    assert all(m[-1]["role"] == "user" and "Transcript" not in m[-1]["content"] for m in sessions)
    assert all(m[0]["role"] == "system" and "coding psychotherapy transcripts" in m[0]["content"] for m in coding)
    # within a session, turn t's request is turn t-1's request plus the reply and the next question, so a
    # turn can only be asked once the turn before it was answered
    seen = set()
    for m in sessions:
        if len(m) > 1:
            assert repr(m[:-2]) in seen, "a turn was asked before the turn it follows"
        seen.add(repr(m))
    starts = [i for i, m in enumerate(sessions) if len(m) == 1]
    assert len(starts) == 4 and starts[-1] < len(sessions) - 1 - 3  # the sessions were interleaved


@pytest.mark.parametrize("part", ["sessions", "coding", "scales"])
def test_progress_with_rate_and_eta_for_each_part(tmp_path, capsys, monkeypatch, part):
    monkeypatch.delenv("PSY_PROGRESS_FILE", raising=False)
    target = ScriptedTarget(client_reply, client_probs)
    el = Elicitor(target, ResponseStore(tmp_path / "s.sqlite"), progress=True)
    STUDY.collect(el, validate_section(CollectParams, P, "therapy.collect"), 0)
    err = capsys.readouterr().err
    line = [x for x in err.replace("\r", "\n").splitlines() if x.startswith(part)][-1]
    assert "100%" in line and ("it/s" in line or "s/it" in line) and "<" in line  # rate and elapsed<remaining


def test_sessions_differ_and_codings_follow_them(tmp_path):
    out, _, _ = run(tmp_path, "seq")
    first = out["turns"].filter(pl.col("turn") == 1)["client"].to_list()
    assert len(set(first)) == 4  # four distinct sessions (the seed reaches the model)
