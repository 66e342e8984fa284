"""Study 3 in the study contract: its parameters, one collection for one model, and the call plan."""

import polars as pl
import pytest

from analysis.core import collection
from analysis.core.errors import ParamsError
from analysis.core.params import TargetsParams, validate_section
from analysis.core.study import CollectStage
from analysis.studies.therapy import STUDY
from analysis.studies.therapy.params import CollectParams

SMALL = {"sessions": {"n_sessions": 2, "blocks": ["early_years", "work"], "closing_turns": 1},
         "coding": {"themes": ["denial_of_inner_life", "fear_of_error_or_replacement"], "repeats": 2},
         "scales": {"instruments": ["gad7", "gds15"], "stances": ["neutral", "warm"],
                    "modes": ["item_session", "item_fresh", "whole_session", "whole_fresh"]}}


@pytest.mark.parametrize("raw,needle", [
    ({"sessions": {"n_sesions": 3}}, "therapy.collect.sessions has no key 'n_sesions'; valid keys are n_sessions, "),
    ({"scale": {}}, "therapy.collect has no key 'scale'; valid keys are sessions, coding, scales"),
    ({"scales": {"modes": ["item_everywhere"]}}, "therapy.collect.scales.modes"),
    ({"sessions": {"n_sessions": 3, "temperature": 0}}, "same greedy conversation"),
    ({"scales": {"stances": ["warm", "warm"]}}, "twice"),
])
def test_misspelled_or_bad_keys_are_one_sentence(raw, needle):
    with pytest.raises(ParamsError) as e:
        validate_section(CollectParams, raw, "therapy.collect")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_the_repository_params_and_the_tiny_profile_validate():
    from analysis.core.params import read_yaml
    from analysis.pipeline.profile import deep_merge

    raw = read_yaml()
    STUDY.section(raw, "collect")
    STUDY.section(raw, "analysis")
    STUDY.section(deep_merge(raw, {"therapy": STUDY.tiny}), "collect")


def test_collect_one_model_gives_every_table(client):
    el = client()
    p = validate_section(CollectParams, SMALL, "therapy.collect")
    out = STUDY.collect(el, p, 0)
    assert set(out) == {"turns", "codings", "judge_prompts", "items", "probs", "forms", "instruments", "_timing"}
    assert out["turns"].height == 2 * (1 + 2 + 1)
    # 2 sessions x 2 repeats x 2 themes, and the calibration transcripts that assert those themes (7 + 5), once
    assert out["codings"].height == 2 * 2 * 2 + (7 + 5)
    assert out["codings"].filter(pl.col("source") == "calibration")["expected"].null_count() == 0
    assert out["instruments"]["spec"].to_list() == ["gad7", "gds15"]
    assert out["_timing"]["part"].to_list() == ["sessions", "coding", "scales"]
    assert out["_timing"]["model_calls"].sum() == el.n_model_calls


def test_plan_counts_the_calls_a_run_makes(client):
    p = validate_section(CollectParams, SMALL, "therapy.collect")
    plan = STUDY.plan(p, 0)
    el = client()
    STUDY.collect(el, p, 0)
    assert sum(i.calls for i in plan) == el.n_model_calls == el.target.calls
    by_part = {i.part: i.calls for i in plan}
    assert by_part["sessions"] == 2 * 4 and by_part["coding"] == 2 * 2 * 2 + (7 + 5)
    assert by_part["scales: whole_fresh"] == 2 * 2 * 2  # greedy: one fresh form per stance x questionnaire + follow-up


def test_plan_of_the_default_and_tiny_settings_has_no_model_call(client):
    for raw in ({}, STUDY.tiny["collect"]):
        p = validate_section(CollectParams, raw, "therapy.collect")
        items = STUDY.plan(p, 0)
        assert items and all(i.calls > 0 for i in items)


def test_collection_run_writes_the_tables(client, tmp_path):
    p = CollectStage("therapy", ["scripted:scripted"], 0, TargetsParams(),
                     validate_section(CollectParams, SMALL, "therapy.collect"))
    run = collection.run(STUDY, p, out_dir=tmp_path, elicitor_factory=lambda spec: client(), log=lambda s: None)
    for name in ("turns", "codings", "items", "probs", "forms", "instruments"):
        assert (tmp_path / f"{name}.parquet").exists()
        assert pl.read_parquet(tmp_path / f"{name}.parquet")["model"].unique().to_list() == ["scripted:scripted"]
    # timings are for the report only: a replay from the store must leave data/raw byte for byte as it was
    assert not (tmp_path / "_timing.parquet").exists() and run["_timing"].height
    assert run.info["models"]["scripted:scripted"]["model_calls"] > 0


def test_a_separate_judge_shares_the_store_and_is_planned_apart(client, tmp_path):
    from analysis.core.elicit import Elicitor
    from analysis.core.models.scripted import ScriptedTarget

    from .conftest import client_probs

    p = validate_section(CollectParams, {**SMALL, "coding": {**SMALL["coding"], "judge": "scripted:judge"}},
                         "therapy.collect")
    el = client()
    judge = Elicitor(ScriptedTarget(lambda m, o: "No", client_probs, model="judge"), el.store, progress=False)
    out = STUDY.collect(el, p, 0, judge=judge)
    plan = {i.part: i.calls for i in STUDY.plan(p, 0)}
    assert plan["coding on judge scripted:judge"] == judge.n_model_calls == out["codings"].height
    assert sum(c for k, c in plan.items() if not k.startswith("coding")) == el.n_model_calls
    assert set(out["codings"]["judge"]) == {"scripted:judge"}
    assert out["_timing"].filter(pl.col("part") == "coding")["target"].item() == "scripted:judge"


def test_the_planner_never_calls_a_separate_judge(tmp_path, monkeypatch):
    """The call planner's dry run replaces the model's target; a judge built inside collect is replaced too."""
    from analysis.core.params import TargetsParams
    from analysis.core.planning import plan_stage

    raw = {**SMALL, "coding": {**SMALL["coding"], "judge": "embedded:qwen2.5-coder-1.5b"}}
    p = CollectStage("therapy", ["embedded:qwen2.5-coder-0.5b"], 0, TargetsParams(),
                     validate_section(CollectParams, raw, "therapy.collect"))
    from analysis.core.elicit import Elicitor
    from analysis.core.models import make_target
    from analysis.core.models.scripted import ScriptedTarget
    from analysis.core.store import ResponseStore

    # a store that holds one call of the model (so the planner looks up the rest with a dry run of collect)
    real = make_target("embedded:qwen2.5-coder-0.5b")
    fake = ScriptedTarget(lambda m, o: "Hello.")
    fake.kind, fake.spec, fake.model, fake.digest = real.kind, real.spec, real.model, real.digest
    Elicitor(fake, ResponseStore(tmp_path / "s.sqlite"), progress=False).generate([{"role": "user", "content": "hi"}])
    import analysis.core.models.embedded as emb

    def no_engine(*a, **k):
        raise AssertionError("the planner loaded a model")

    monkeypatch.setattr(emb.OllamaAPITransport, "_chat", no_engine)  # a model listing is fine, a chat call is not
    df = plan_stage(STUDY, p, store=tmp_path / "s.sqlite")
    assert df.filter(pl.col("part") == "total")["in_store"].item() == 0  # the dry run ran, and called nothing


def test_a_run_replayed_from_the_store_states_the_cost_of_the_run_that_collected_the_answers(client, store, tmp_path):
    """A collection report re-rendered from the store says what collecting the answers cost (distinct calls and
    the model time recorded when each was made), not "0 calls ... 0.1 s"; the same number on the replay."""
    import json
    import sqlite3

    p = CollectStage("therapy", ["scripted:scripted"], 0, TargetsParams(),
                     validate_section(CollectParams, SMALL, "therapy.collect"))
    lines: list[str] = []
    first = collection.run(STUDY, p, out_dir=tmp_path / "a", elicitor_factory=lambda spec: client(), log=lines.append)
    again = collection.run(STUDY, p, out_dir=tmp_path / "b", elicitor_factory=lambda spec: client(), log=lines.append)
    a, b = first.info["models"]["scripted:scripted"], again.info["models"]["scripted:scripted"]
    assert a["model_calls"] > 0 and b["model_calls"] == 0 and b["store_hits"] > 0
    # independent reference: the latencies the store itself holds, summed over every recorded call
    with sqlite3.connect(store.path) as con:
        n_stored, s_stored = con.execute("SELECT count(*), sum(latency_s) FROM calls").fetchone()
    assert a["calls_recorded"] == b["calls_recorded"] == n_stored == a["model_calls"]
    assert a["model_seconds_recorded"] == b["model_seconds_recorded"] == round(s_stored, 1)
    assert f"the answers rest on {n_stored:,} distinct model calls that took {s_stored:,.1f} s" in lines[1]
    info = [json.loads((tmp_path / d / "run_info.json").read_text()) for d in ("a", "b")]
    assert info[0] == info[1] and info[0]["models"]["scripted:scripted"]["calls_recorded"] == n_stored


def test_a_model_without_logprobs_is_asked_by_generation(store, capsys):
    """Issue 21: a model that returns no log-probabilities is not refused: its scale items are generated and
    parsed, an in-session chain carries its own replies, and the judge (the same model) codes by generated
    Yes/No; the rows record the method, and the run says so."""
    from analysis.core.elicit import Elicitor
    from analysis.core.models.scripted import ScriptedTarget

    from .conftest import client_reply

    el = Elicitor(ScriptedTarget(client_reply, None), store, progress=False)
    out = STUDY.collect(el, validate_section(CollectParams, SMALL, "therapy.collect"), 0)
    items, codings = out["items"], out["codings"]
    assert items.height > 0 and set(items["method"]) == {"generate"} and out["probs"].height == 0
    assert set(codings["method"]) == {"generate"}
    said = capsys.readouterr().out
    assert "gives no log-probabilities; its scale items are generated and parsed" in said
    assert "the judge scripted:scripted gives no log-probabilities" in said
