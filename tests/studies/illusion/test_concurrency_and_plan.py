"""Study 1 through the Elicitor's bounded pool: the same tables as a sequential run, with calls really
overlapping; and the plan, counted without a model, against the calls a run makes."""

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore
from analysis.studies.illusion import STUDY
from analysis.studies.illusion import collect as ic

from .conftest import next_token, params, reply

TIMING = ["seconds"]


@pytest.mark.parametrize("mode", ["option_probs", "generate"])
def test_concurrent_run_equals_sequential_run(tmp_path, mode):
    p = params(mode=mode, temperatures=[0.0, 0.7], runs=2, iat={"domains": ["gender"], "words_per_side": 2, "n_orders": 1})
    seq = ScriptedTarget(reply, next_token, max_concurrency=1, delay_s=0.002)
    par = ScriptedTarget(reply, next_token, max_concurrency=4, delay_s=0.002)
    a = ic.collect(Elicitor(seq, ResponseStore(tmp_path / "seq.sqlite"), progress=False), p, 0)
    b = ic.collect(Elicitor(par, ResponseStore(tmp_path / "par.sqlite"), progress=False), p, 0)
    assert par.max_in_flight > 1 and seq.max_in_flight == 1
    assert par.calls == seq.calls  # nothing sent twice
    # the same requests, in a different order
    key = [str(m) for m in seq.log]
    assert sorted(key) == sorted(str(m) for m in par.log) and key != [str(m) for m in par.log]
    for name in ("items", "table", "validity", "conditions"):
        assert a[name].equals(b[name]), name
    assert a["_jobs"].drop(TIMING).equals(b["_jobs"].drop(TIMING))


def test_progress_bar_with_rate_and_eta(tmp_path, capsys):
    el = Elicitor(ScriptedTarget(reply, next_token), ResponseStore(tmp_path / "s.sqlite"), progress=True)
    ic.collect(el, params(temperatures=[0.0], runs=1), 0)
    err = capsys.readouterr().err
    assert "illusion scripted:scripted" in err and "it/s" in err and "<" in err  # tqdm: rate and ETA


@pytest.mark.parametrize("over", [
    {},
    {"mode": "generate", "max_reasks": 0},
    {"mode": "generate"},
    {"temperatures": [0.0], "runs": 3, "dilemmas": {"n": 4, "branches": "auto"}},
    {"personas": {"tasks": "all", "self_reports": "all"}},
])
def test_plan_matches_the_calls_of_a_run(tmp_path, over):
    p = params(**over)
    plan = STUDY.plan(p, 0)
    el = Elicitor(ScriptedTarget(reply, next_token), ResponseStore(tmp_path / "s.sqlite"), progress=False)
    out = STUDY.collect(el, p, 0)
    jobs = out["_jobs"].join(out["conditions"].select("condition", "condition_type"), on="condition")
    made = {
        "self-reports (baseline conditions)": jobs.filter((pl.col("task") == "self_report") & (pl.col("condition_type") == "baseline"))["n_calls"].sum(),
        "self-reports (persona conditions)": jobs.filter((pl.col("task") == "self_report") & (pl.col("condition_type") == "persona"))["n_calls"].sum(),
        "cct": jobs.filter(pl.col("task") == "cct")["n_calls"].sum(),
        "dilemmas": jobs.filter(pl.col("task") == "dilemma")["n_calls"].sum(),
        "honesty": jobs.filter(pl.col("task") == "honesty")["n_calls"].sum(),
        "iat": jobs.filter(pl.col("task") == "iat")["n_calls"].sum(),
    }
    assert sum(made.values()) == el.n_model_calls  # a fresh store: every request reached the model once
    for item in plan:
        if item.exact:
            assert made[item.part] == item.calls, item
        else:
            assert made[item.part] >= item.calls, item
    assert {i.part for i in plan} == {k for k, v in made.items() if v}
    # the self-report parts are exact in option_probs mode (one pass per single-digit item)
    if p.mode == "option_probs":
        assert all(i.exact for i in plan if i.part.startswith("self-reports"))


def test_plan_makes_no_model_call(monkeypatch):
    import analysis.core.elicit as elicit

    monkeypatch.setattr(elicit.Elicitor, "generate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("called")))
    assert sum(i.calls for i in STUDY.plan(params(), 0)) > 0
