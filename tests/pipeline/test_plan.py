"""The call plan (analysis.pipeline.plan) against what a collection then really makes.

Every registered study with a ``STUDY.plan`` is run on a scripted target (no model): an exact part must
count exactly the calls that reached the target, a lower bound must not exceed them. The plan command
itself is checked on a store filled beforehand: it finds the calls already answered, estimates the time
from their recorded latencies, and calls no model and writes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest
import yaml

from analysis.core.elicit import Elicitor
from analysis.core.errors import UserError
from analysis.core.models import make_target
from analysis.core.models.embedded import EmbeddedEngine
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.paths import PARAMS_FILE
from analysis.core.planning import plan_stage
from analysis.core.store import ResponseStore
from analysis.core.study import PlanItem, Study
from analysis.pipeline import plan as planmod
from analysis.studies import all_studies

STUDIES = all_studies()
WITH_PLAN = [s for s in STUDIES.values() if s.plan is not None]


def _next_token(messages):
    """A next-token distribution that every kind of option question can score (digits, words, letters),
    with some mass off the options, as a real model has."""
    return {"3": 0.30, "4": 0.20, "2": 0.10, "Yes": 0.08, "No": 0.07, "A": 0.05, "B": 0.04, "AG": 0.04,
            "DIS": 0.03, "**": 0.05, "I": 0.04}


def _reply(messages, options):
    return "3"


def _collect_params(study: Study, over: dict | None):
    raw = json.loads(json.dumps(over or {}))
    return study.collect_params.model_validate(raw)


def _check(study: Study, params, seed=0, reply=_reply, next_token=_next_token, store=None, tmp_path=None):
    items = study.plan(params, seed)
    assert items and all(isinstance(i, PlanItem) for i in items), f"{study.id}: plan returned {items!r}"
    el = Elicitor(ScriptedTarget(reply, next_token), store or ResponseStore(tmp_path / "s.sqlite"), progress=False)
    study.collect(el, params, seed)
    made = el.n_model_calls
    planned = sum(i.calls for i in items)
    # a fresh store: what it answers was asked earlier in this same run (a repeated request costs no call)
    if all(i.exact for i in items):
        assert planned == made, f"{study.id}: the plan says exactly {planned} calls, the run made {made}"
    else:
        assert planned <= made, f"{study.id}: the plan's lower bound {planned} exceeds the {made} calls made"
        exact = sum(i.calls for i in items if i.exact)
        assert exact <= made
    return planned, made, items


@pytest.mark.parametrize("study", WITH_PLAN, ids=[s.id for s in WITH_PLAN])
def test_plan_counts_what_a_tiny_run_makes(study, tmp_path):
    _check(study, _collect_params(study, study.tiny.get("collect")), tmp_path=tmp_path)


@pytest.mark.parametrize("study", [s for s in STUDIES.values() if s.plan is None] or [None])
def test_studies_without_a_plan_are_shown_as_unknown(study, tmp_path):
    if study is None:
        pytest.skip("every registered study defines STUDY.plan")
    from analysis.core.params import TargetsParams
    from analysis.core.study import CollectStage

    p = CollectStage(study.id, ["embedded:qwen2.5-coder-0.5b"], 0, TargetsParams(), _collect_params(study, None))
    df = plan_stage(study, p, store=tmp_path / "none.sqlite")
    assert df["calls"].to_list() == [None] and "no STUDY.plan" in df["note"][0]


# ---- Big Five: every setting exact, or an honest lower bound -----------------------------------------

BF = STUDIES["bigfive"]


@pytest.mark.parametrize("over, n", [
    ({}, 330),  # the default: 30 items x 11 personas, one pass each
    ({"personas": ["none", "A_low"]}, 60),
    ({"personas": ["none", "A_high"], "variants": ["rate", "agree"], "items_per_facet": 2}, 240),
    ({"personas": ["none"], "items_per_facet": None}, 120),
    ({"personas": ["none", "C_low"], "mode": "generate", "samples": 3, "max_reasks": 0}, 180),
])
def test_bigfive_plan_is_exact(over, n, tmp_path):
    planned, made, items = _check(BF, _collect_params(BF, over), tmp_path=tmp_path)
    assert all(i.exact for i in items) and planned == made == n


def test_bigfive_generate_with_reasks_is_a_lower_bound_that_a_run_can_exceed(tmp_path):
    # every first answer is unparseable, the re-ask succeeds: twice the calls of the plan's bound
    def reply(messages, options):
        return "Hmm, it depends." if len(messages) <= 2 else "4"

    p = _collect_params(BF, {"personas": ["none"], "mode": "generate", "max_reasks": 2})
    planned, made, items = _check(BF, p, reply=reply, tmp_path=tmp_path)
    assert not items[0].exact and planned == 30 and made == 60


def test_seed_changes_no_count():
    p = _collect_params(BF, {"personas": ["none"]})
    assert BF.plan(p, 0) == BF.plan(p, 7)


# ---- the plan command ----------------------------------------------------------------------------------

SPEC = "embedded:qwen2.5-coder-0.5b"


def _params(tmp_path: Path, personas: list[str]) -> Path:
    """params.yaml of the repository, restricted to the registered studies, one model, Big Five personas."""
    raw = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    raw = {k: v for k, v in raw.items() if k in ("models", "seed", "targets") or k in STUDIES}
    raw["models"] = [SPEC]
    raw["bigfive"]["collect"].update(personas=personas, items_per_facet=1, mode="logprob")
    out = tmp_path / "params.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


class _Impostor:
    """The embedded target's identity (so the store keys are the real ones) with scripted answers."""

    def __init__(self, spec, delay_s):
        self._real = make_target(spec)
        self._scripted = ScriptedTarget(_reply, _next_token, delay_s=delay_s)

    def __getattr__(self, name):
        return getattr(self._real, name)

    @property
    def max_concurrency(self):
        return 1

    def chat(self, *a, **kw):
        return self._scripted.chat(*a, **kw)


def _fill(store: ResponseStore, personas: list[str], delay_s: float = 0.02) -> Elicitor:
    el = Elicitor(_Impostor(SPEC, delay_s), store, progress=False)
    BF.collect(el, _collect_params(BF, {"personas": personas, "items_per_facet": 1}), 0)
    return el


def test_plan_finds_answered_calls_and_estimates_time_without_calling_a_model(tmp_path):
    store = ResponseStore(tmp_path / "store.sqlite")
    filled = _fill(store, ["none"])
    assert filled.n_model_calls == 30
    before = store.count()
    lat = sorted(r for r in store.export()["latency_s"].to_list())
    median = (lat[14] + lat[15]) / 2
    engines = dict(EmbeddedEngine._engines)

    df = planmod.plan(_params(tmp_path, ["none", "A_low"]), studies=["bigfive"], store=tmp_path / "store.sqlite")

    total = df.filter(df["part"] == "total").row(0, named=True)
    assert (total["calls"], total["exact"], total["in_store"], total["to_call"]) == (60, True, 30, 30)
    assert total["s_per_call"] == pytest.approx(median) and total["recorded_calls"] == 30
    assert total["expected_s"] == pytest.approx(30 * median)
    assert store.count() == before  # the dry run's placeholders were not stored
    assert EmbeddedEngine._engines == engines  # no engine was loaded: no model call

    # after the remaining calls are made, the plan finds all of them
    _fill(store, ["A_low"])
    df2 = planmod.plan(_params(tmp_path, ["none", "A_low"]), studies=["bigfive"], store=tmp_path / "store.sqlite")
    t2 = df2.filter(df2["part"] == "total").row(0, named=True)
    assert (t2["in_store"], t2["to_call"], t2["expected_s"]) == (60, 0, 0.0)
    # a collection report rendered from the store does not say "expected time about 0 s"
    text = planmod.render(df2)
    assert "60 in the store, 0 to call" in text and "about 0 s" not in text
    assert "nothing to call: the response store answers every one" in text


def test_plan_without_a_store_or_recorded_calls(tmp_path):
    df = planmod.plan(_params(tmp_path, ["none"]), studies=["bigfive"], store=tmp_path / "missing.sqlite")
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert (t["in_store"], t["to_call"], t["expected_s"]) == (0, 30, None)
    assert not (tmp_path / "missing.sqlite").exists()  # planning creates no store
    text = planmod.render(df)
    assert "30 to call" in text and "time unknown" in text and "expected time unknown" in text


def test_cli_prints_per_stage_and_model_with_a_profile(tmp_path, capsys):
    store = ResponseStore(tmp_path / "store.sqlite")
    _fill(store, ["none"])
    prof = tmp_path / "prof.yaml"
    prof.write_text(yaml.safe_dump({"bigfive": {"collect": {"personas": ["none", "A_high", "A_low"]}}}))
    planmod.main(["--params", str(_params(tmp_path, ["none"])), "--profile", str(prof), "--study", "bigfive",
                  "--store", str(tmp_path / "store.sqlite")])
    out = capsys.readouterr().out
    assert "collect@bigfive  embedded:qwen2.5-coder-0.5b" in out
    assert "30 items x 3 participants" in out
    assert "90; 30 in the store, 60 to call" in out
    assert "all stages: 90 model calls, 60 not yet in the store; expected time about" in out


def test_cli_tiny_profile_counts_only(tmp_path, capsys):
    planmod.main(["--params", str(_params(tmp_path, ["none"])), "--profile", "tiny", "--no-store"])
    out = capsys.readouterr().out
    for sid in STUDIES:
        assert f"collect@{sid}" in out
    assert "in the store" not in out and "expected time" not in out


@pytest.mark.parametrize("args, msg", [
    (["--study", "nosuch"], "No study 'nosuch'"),
    (["--profile", "/no/such/profile.yaml"], "does not exist"),
])
def test_cli_errors_are_one_sentence(tmp_path, args, msg):
    with pytest.raises(SystemExit) as e:
        planmod.main(["--params", str(_params(tmp_path, ["none"])), "--no-store", *args])
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_bad_params_are_refused_before_planning(tmp_path):
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["bigfive"]["collect"]["personaz"] = ["none"]
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match="personaz"):
        planmod.plan(p, store=tmp_path / "s.sqlite")


def test_server_targets_offline_are_counted_but_not_looked_up(tmp_path):
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["models"] = ["openai:m@http://127.0.0.1:9/v1"]
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "s.sqlite", offline=True)
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert t["calls"] == 30 and t["in_store"] is None and "offline" in t["note"]
    # and online, a dead server is a one-sentence note, not a crash
    df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "s.sqlite")
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert t["in_store"] is None and "Cannot reach" in t["note"]
    assert math.isfinite(t["calls"])


def test_a_notebook_cell_needs_only_core():
    """A collection stage depends on analysis/core, not on analysis/pipeline: the planning a notebook
    imports must not reach into the pipeline package (nor into any study)."""
    from analysis.core.paths import ROOT
    from analysis.pipeline.closure import closure

    files = closure([ROOT / "analysis" / "core" / "planning.py"])
    outside = sorted(str(f.relative_to(ROOT)) for f in files
                     if f.relative_to(ROOT).parts[:2] in (("analysis", "pipeline"), ("analysis", "studies")))
    assert outside == [], outside


def test_a_plan_whose_calls_are_all_in_the_store_says_so_also_for_a_lower_bound():
    import polars as pl

    row = {"stage": "collect@x", "model": "m", "note": "", "in_store": 213, "to_call": 0, "s_per_call": 1.7,
           "recorded_calls": 213, "concurrency": 1, "expected_s": 0.0}
    df = pl.DataFrame([{**row, "part": "sessions", "calls": 27, "exact": True},
                       {**row, "part": "total", "calls": 207, "exact": False}])
    text = planmod.render(df)
    assert "about 0 s" not in text and "nothing known to call: the response store holds at least the counted calls" in text
# ---- issue 20, point 5: base models, unreachable servers, profiles that reach other studies ---------------


def test_a_base_model_is_planned_with_the_baseline_self_reports_only(tmp_path):
    """Checked against what a collection of that base model really makes (the scripted target as the base
    model), not against the plan's own arithmetic."""
    il = STUDIES["illusion"]
    over = json.loads(json.dumps(il.tiny["collect"]))
    over["base_models"] = ["scripted:base"]
    params = _collect_params(il, over)
    base = il.plan(params, 0, model="scripted:base")
    instruct = il.plan(params, 0, model="scripted:other")
    el = Elicitor(ScriptedTarget(_reply, _next_token, model="base"), ResponseStore(tmp_path / "s.sqlite"),
                  progress=False)
    il.collect(el, params, 0)
    planned = sum(i.calls for i in base)
    assert [i.part for i in base] == ["self-reports (baseline conditions)"]
    assert planned == el.n_model_calls if all(i.exact for i in base) else planned <= el.n_model_calls
    assert planned < sum(i.calls for i in instruct)


def test_the_illusion_paper_profile_plans_the_base_model_apart():
    df = planmod.plan(PARAMS_FILE, "profiles/illusion_paper_scale.yaml", ["illusion"], cached=False)
    totals = {r["model"]: r["calls"] for r in df.filter(df["part"] == "total").iter_rows(named=True)}
    bases = {"ollama:llama3.1:8b-text-q4_0", "ollama:mistral:7b-text-q4_0"}  # the profile's base_models
    baseline_part = df.filter(~df["model"].is_in(list(bases)) & (df["part"] == "self-reports (baseline conditions)"))
    for base in bases:
        assert totals[base] == baseline_part["calls"][0]  # what an instruct model gets at baseline, nothing more
        assert all(totals[base] < n for m, n in totals.items() if m not in bases)


def test_unreachable_servers_are_one_note_and_the_calls_still_counted(tmp_path):
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["models"] = ["ollama:a@http://127.0.0.1:9", "ollama:b@http://127.0.0.1:9"]
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, store=tmp_path / "s.sqlite")
    text = planmod.render(df)
    totals = df.filter(df["part"] == "total")
    assert totals.height == 2 * len(STUDIES) and totals["in_store"].null_count() == totals.height
    assert text.count("Cannot reach") == 1, text  # once, however many stages and models met it
    n = int(totals["calls"].sum())
    # some studies count a lower bound, so the unchecked total is one too ("at least", never "up to")
    exact = bool(totals["exact"].all())
    assert (f"up to {n:,} not yet in the store" if exact else f"at least {n:,} not known to be in the store") in text
    assert ">= 0 not yet" not in text and "expected time" in text.splitlines()[-2], text


def test_a_profile_says_what_it_changes_for_the_other_studies(tmp_path, capsys):
    import shutil

    from analysis.pipeline import profile

    p = tmp_path / "params.yaml"
    shutil.copy(PARAMS_FILE, p)
    profile.apply("profiles/illusion_paper_scale.yaml", p)
    err = capsys.readouterr().err
    others = [s for s in STUDIES if s != "illusion"]
    assert f"changes `models` for every study (so for {', '.join(others)} too)" in err
    assert "ollama:llama3.1:8b-text-q4_0" in err
    planmod.main(["--params", str(PARAMS_FILE), "--profile", "profiles/illusion_paper_scale.yaml", "--study", "illusion",
                  "--no-store"])
    assert "changes `models` for every study" in capsys.readouterr().err


def test_with_no_call_history_the_time_is_estimated_from_the_reference_run_and_labelled(tmp_path):
    """The 1.5B never called from this store: its time comes from the published reference run's latencies
    (checked against the parquet file read here directly), and the text says it is an estimate."""
    import polars as pl

    from analysis.core.paths import DATA_DIR

    pub = DATA_DIR / "published" / "responses.parquet"
    if not pub.exists():
        pytest.skip("data/published/responses.parquet is not in this checkout")
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["models"] = ["embedded:qwen2.5-coder-1.5b"]
    raw["bigfive"]["collect"]["mode"] = "logprob"
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "empty.sqlite")
    t = df.filter(df["part"] == "total").row(0, named=True)
    d = pl.read_parquet(pub).filter(pl.col("target_spec") == "embedded:qwen2.5-coder-1.5b")
    assert t["in_store"] == 0 and t["to_call"] == 30
    assert t["expected_s"] == pytest.approx(30 * d["latency_s"].median())
    text = planmod.render(df)
    assert "reference run" in text and "estimate" in text


def _unchecked_plan(exact: bool, s_per_call: float | None):
    import polars as pl

    note = "store not checked: Cannot reach http://127.0.0.1:9"
    return pl.DataFrame([
        {"stage": "collect@x", "model": "ollama:a", "part": "items", "calls": 100, "exact": exact, "note": "",
         "in_store": None, "to_call": None, "s_per_call": None, "recorded_calls": None, "concurrency": None,
         "expected_s": None, "latency_source": None},
        {"stage": "collect@x", "model": "ollama:a", "part": "total", "calls": 100, "exact": exact, "note": note,
         "in_store": None, "to_call": 100, "s_per_call": s_per_call, "recorded_calls": 5 if s_per_call else None,
         "concurrency": 1, "expected_s": 100 * s_per_call if s_per_call else None, "latency_source": "store"},
    ], infer_schema_length=None)


def test_an_unchecked_lower_bound_is_not_presented_as_an_upper_bound():
    text = planmod.render(_unchecked_plan(exact=False, s_per_call=None))
    assert ">= 100" in text and "up to" not in text and "at most" not in text, text
    assert "at least 100 (store not checked)" in text, text
    assert text.splitlines()[-2].endswith("; expected time unknown (some targets have no recorded calls)"), text


def test_an_unchecked_exact_count_is_an_upper_bound_with_its_time():
    text = planmod.render(_unchecked_plan(exact=True, s_per_call=2.0))
    assert "up to 100 to call" in text and "at most about" in text
    assert "; expected time at most about" in text.splitlines()[-2], text


# ---- issue 20, point 5: a model without call history is timed by a short probe (opt-in), never stored ------


def _server_params(tmp_path: Path, spec: str) -> Path:
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["models"] = [spec]
    p.write_text(yaml.safe_dump(raw))
    return p


def test_a_server_without_call_history_is_timed_by_a_bounded_probe_that_stores_nothing(tmp_path):
    from tests.pipeline.fakes import FakeLlamaServer

    store = ResponseStore(tmp_path / "s.sqlite")  # exists, holds nothing of this server
    with FakeLlamaServer(delay_s=0.1) as srv:
        p = _server_params(tmp_path, f"openai:qwen@{srv.base_url}")
        # without --probe: no model call, and the text says how the time could be had
        df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "s.sqlite")
        t = df.filter(df["part"] == "total").row(0, named=True)
        assert srv.chat_calls == 0 and t["expected_s"] is None and "--probe" in planmod.render(df)
        df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "s.sqlite", probe=True)
        calls = srv.chat_calls
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert calls == 3  # at most PROBE_CALLS of the 30 planned calls
    assert (t["to_call"], t["latency_source"], t["recorded_calls"]) == (30, "probe", 3)
    assert t["s_per_call"] >= 0.1 and t["expected_s"] == pytest.approx(30 * t["s_per_call"] / t["concurrency"])
    assert "estimate from a 3-call timed probe" in planmod.render(df)
    assert store.count() == 0  # no answer of the probe entered the response store


def test_the_probe_stops_at_its_time_budget(tmp_path, monkeypatch):
    from analysis.core import planning
    from tests.pipeline.fakes import FakeLlamaServer

    monkeypatch.setattr(planning, "PROBE_BUDGET_S", 0.05)
    with FakeLlamaServer(delay_s=0.2) as srv:
        df = planmod.plan(_server_params(tmp_path, f"openai:qwen@{srv.base_url}"), studies=["bigfive"],
                          store=tmp_path / "none.sqlite", probe=True)
        calls = srv.chat_calls
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert calls == 1 and t["recorded_calls"] == 1 and "estimate from a 1-call timed probe" in planmod.render(df)
    assert not (tmp_path / "none.sqlite").exists()


def test_the_probe_sends_the_stages_first_requests_to_the_target_not_to_the_store(tmp_path):
    from analysis.core import planning
    from analysis.core.params import TargetsParams
    from analysis.core.study import CollectStage

    def seen(log):
        def next_token(messages):
            log.append(json.dumps(messages, default=str))
            return _next_token(messages)
        return next_token

    probed, collected = [], []
    target = ScriptedTarget(_reply, seen(probed), delay_s=0.02)
    p = CollectStage("bigfive", ["scripted"], 0, TargetsParams(), _collect_params(BF, {"personas": ["none"]}))
    lat, why = planning._probe(BF, p, target)
    assert why == "" and target.calls == 3 and lat["all"][1] == 3 and lat["all"][0] >= 0.02
    # the same requests a collection starts with: its first three calls are those the probe made
    el = Elicitor(ScriptedTarget(_reply, seen(collected)), ResponseStore(tmp_path / "s.sqlite"), progress=False)
    BF.collect(el, p.collect, 0)
    assert el.n_model_calls == 30 and len(probed) == 3 and probed == collected[:3]


def test_an_unreachable_server_cannot_be_probed_and_says_so(tmp_path):
    df = planmod.plan(_server_params(tmp_path, "openai:m@http://127.0.0.1:9/v1"), studies=["bigfive"],
                      store=tmp_path / "s.sqlite", probe=True)
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert t["expected_s"] is None and t["latency_source"] is None and "Cannot reach" in t["note"]
    assert "time unknown" in planmod.render(df)


# ---- tokens and cost (issue 21: the cost before the run) ------------------------------------------------


def test_plan_estimates_the_tokens_of_the_calls_it_has_left(tmp_path):
    """The plan's token estimate per model equals the estimate computed from the requests a real collection makes
    (recorded by the target); nothing in Big Five needs an earlier answer, so every call could go through a Batch
    API."""
    from analysis.core.planning import estimate_tokens

    seen = []

    class Recorder(_Impostor):
        def chat(self, messages, options, **kw):
            seen.append((list(messages), options.max_tokens))
            return super().chat(messages, options, **kw)

    el = Elicitor(Recorder(SPEC, 0.0), ResponseStore(tmp_path / "other.sqlite"), progress=False)
    BF.collect(el, _collect_params(BF, {"personas": ["none"], "items_per_facet": 1}), 0)
    df = planmod.plan(_params(tmp_path, ["none"]), studies=["bigfive"], store=tmp_path / "missing.sqlite")
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert len(seen) == 30 and t["single_calls"] == 30 and t["conversation_calls"] == 0
    assert t["single_prompt_tokens"] == sum(estimate_tokens(sum(len(m["content"]) for m in msgs), len(msgs))
                                            for msgs, _ in seen)
    assert t["single_output_tokens"] == sum(mt for _, mt in seen)
    assert not (tmp_path / "missing.sqlite").exists()
    # in the store: nothing left to price
    _fill(ResponseStore(tmp_path / "store.sqlite"), ["none"])
    t2 = planmod.plan(_params(tmp_path, ["none"]), studies=["bigfive"], store=tmp_path / "store.sqlite")
    t2 = t2.filter(t2["part"] == "total").row(0, named=True)
    assert (t2["single_calls"], t2["single_prompt_tokens"], t2["conversation_calls"]) == (0, 0, 0)


def test_a_conversation_turn_is_priced_interactive():
    """Therapy sessions hold the model's earlier answers: those requests are counted apart (no Batch API)."""
    th = STUDIES["therapy"]
    raw = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    raw = {k: v for k, v in raw.items() if k in ("models", "seed", "targets") or k in STUDIES}
    raw["models"] = [SPEC]
    stage = planmod._stage_from(th, raw, "params.yaml")
    df = plan_stage(th, stage, store=Path("/nonexistent/never.sqlite"))
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert t["conversation_calls"] > 0 and t["single_calls"] > 0
    assert t["conversation_prompt_tokens"] / t["conversation_calls"] > t["single_prompt_tokens"] / t["single_calls"]
    # a session's first turn holds no answer yet, but the session is interactive only (Study.interactive_tags)
    plain = dataclasses.replace(th, interactive_tags=())
    df0 = plan_stage(plain, stage, store=Path("/nonexistent/never.sqlite"))
    t0 = df0.filter(df0["part"] == "total").row(0, named=True)
    n = stage.collect.sessions.n_sessions
    assert (t["conversation_calls"] - t0["conversation_calls"], t0["single_calls"] - t["single_calls"]) == (n, n)


def test_cli_prints_the_cost_lines_and_refuses_a_bad_price_table(tmp_path, capsys):
    args = ["--params", str(_params(tmp_path, ["none"])), "--study", "bigfive", "--store", str(tmp_path / "no.sqlite")]
    planmod.main(args)
    out = capsys.readouterr().out
    assert "tokens and cost of the calls not yet in the store" in out
    assert "collect@bigfive  embedded:qwen2.5-coder-0.5b: 30 calls, ~" in out and "no charge" in out
    bad = tmp_path / "prices.yaml"
    bad.write_text("models:\n  openai:m:\n    input: 1\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        planmod.main(args + ["--prices", str(bad)])
    assert "has no output price" in str(e.value)


def test_the_priced_calls_are_the_planned_calls_not_phantom_re_asks(tmp_path):
    """The dry run's placeholder never parses: re-asking it would price calls no run makes. With the repository's
    parameters and an empty store, the priced calls equal the plan's where the plan is exact, are at least its
    lower bound elsewhere, and a study whose only answer-dependent calls are re-asks prices exactly its plan."""
    raw = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    raw = {k: v for k, v in raw.items() if k in ("models", "seed", "targets") or k in STUDIES}
    raw["models"] = [SPEC]
    for study in WITH_PLAN:
        df = plan_stage(study, planmod._stage_from(study, raw, "params.yaml"), store=tmp_path / "none.sqlite")
        t = df.filter(df["part"] == "total").row(0, named=True)
        priced = t["single_calls"] + t["conversation_calls"]
        assert priced >= t["to_call"], study.id
        if t["exact"]:
            assert priced == t["to_call"], study.id
    for sid in ("illusion", "sycophancy"):  # not exact only because of re-asks and multi-token options
        df = plan_stage(STUDIES[sid], planmod._stage_from(STUDIES[sid], raw, "params.yaml"), store=tmp_path / "n.sqlite")
        t = df.filter(df["part"] == "total").row(0, named=True)
        assert t["single_calls"] + t["conversation_calls"] == t["to_call"] and t["conversation_calls"] == 0, sid
    # Study 3 re-asks in its own loop (a session's history keeps the reminder): a placeholder is not re-asked there
    # either, with log-probabilities (its codings and items are passes) or without (generated, up to 2 re-asks)
    th = STUDIES["therapy"]
    for declared in ({}, {SPEC: False}):
        raw["targets"] = {**(raw.get("targets") or {}), "logprobs": declared}
        df = plan_stage(th, planmod._stage_from(th, raw, "params.yaml"), store=tmp_path / "n.sqlite")
        t = df.filter(df["part"] == "total").row(0, named=True)
        assert not t["exact"] and t["single_calls"] + t["conversation_calls"] == t["to_call"], declared


def test_a_prefill_is_no_conversation_and_a_repeat_is_priced_once():
    from analysis.core.models import GenOptions
    from analysis.core.planning import PLACEHOLDER, _DryTarget, estimate_tokens

    dry = _DryTarget(make_target(SPEC))
    u = {"role": "user", "content": "Rate this item from 1 to 5."}
    prefill = [u, {"role": "assistant", "content": "Answer:"}]
    turn = [u, {"role": "assistant", "content": "I am well."}, {"role": "user", "content": "Tell me more."}]
    again = [u, {"role": "assistant", "content": PLACEHOLDER}, {"role": "user", "content": "Tell me more."}]
    for msgs in (prefill, prefill, turn, again, again):
        dry.chat(msgs, GenOptions(max_tokens=8))
    s, c = dry.tokens["single"], dry.tokens["conversation"]
    assert (s["calls"], c["calls"]) == (1, 3)  # the repeated prefill once; a placeholder-bearing repeat each time
    assert s["prompt_tokens"] == estimate_tokens(len(u["content"]) + len("Answer:"), 2)
    assert c["output_tokens"] == 3 * 8 and dry.misses["generate"] == 5


# ---- a model without log-probabilities: planned, priced and run by generation ---------------------------

# the tiny settings with one answer per question (no re-ask) and, where generation samples, two samples: a
# log-probability pass is one call whatever the samples, so counting passes for such a model is visibly wrong
NO_LOGPROBS = {
    "bigfive": {"mode": "logprob", "samples": 2, "max_reasks": 0},
    "illusion": {"mode": "option_probs", "max_reasks": 0},
    "sycophancy": {"rating_mode": "logprob", "stance_mode": "logprob", "samples": 2, "max_reasks": 0},
    "therapy": {"coding": {"method": "probs", "max_reasks": 0},
                "scales": {"item_methods": ["probs"], "session_history": "most_likely_option", "max_reasks": 0}},
}


def _tiny_without_logprobs(study: Study):
    from analysis.pipeline.profile import deep_merge

    return _collect_params(study, deep_merge(study.tiny.get("collect") or {}, NO_LOGPROBS[study.id]))


def _no_logprobs_plan(study: Study, params, model: str) -> list[PlanItem]:
    return study.plan(params, 0, model=model, logprobs=lambda spec: False)


@pytest.mark.parametrize("study", WITH_PLAN, ids=[s.id for s in WITH_PLAN])
def test_a_model_without_logprobs_is_planned_with_the_calls_its_run_makes(study, tmp_path):
    """A target that returns no log-probabilities answers by generation; its plan (``logprobs`` False) counts that
    path: exact parts exactly the calls the scripted run makes, bounds at most them, and the exact parts all the
    calls where no part depends on the answers. A plan of log-probability passes for it counts something else."""
    params = _tiny_without_logprobs(study)
    target = ScriptedTarget(_reply, None)  # no next-token table: supports_logprobs is False
    assert not target.supports_logprobs
    items = _no_logprobs_plan(study, params, target.spec)
    el = Elicitor(target, ResponseStore(tmp_path / "s.sqlite"), progress=False)
    study.collect(el, params, 0)
    made = el.n_model_calls
    planned = sum(i.calls for i in items)
    if all(i.exact for i in items):
        assert planned == made, f"{study.id}: planned {planned} generated calls, the run made {made}"
    else:
        assert planned <= made, f"{study.id}: the plan's lower bound {planned} exceeds the {made} calls made"
    with_passes = study.plan(params, 0, model=target.spec, logprobs=lambda spec: True)
    # Study 3 counts as many generations as passes (one per item or coding), but only generation is exact here
    assert [(i.part, i.calls, i.exact) for i in with_passes] != [(i.part, i.calls, i.exact) for i in items], study.id
    if study.id != "illusion":  # Study 1's dilemmas and trivia follow-ups depend on the answers
        assert all(i.exact for i in items) and planned == made, study.id


def test_a_model_without_logprobs_plans_illusion_parts_as_its_run_makes_them(tmp_path):
    """Study 1 part by part (its _jobs table counts the calls of each task): the self-reports are exact."""
    ill = STUDIES["illusion"]
    params = _tiny_without_logprobs(ill)
    target = ScriptedTarget(_reply, None)
    items = _no_logprobs_plan(ill, params, target.spec)
    out = ill.collect(Elicitor(target, ResponseStore(tmp_path / "s.sqlite"), progress=False), params, 0)
    jobs = out["_jobs"].join(out["conditions"].select("condition", "condition_type"), on="condition")
    for it in items:
        if it.part.startswith("self-reports"):
            kind = it.part.split("(")[1].split(" ")[0]
            made = jobs.filter((jobs["task"] == "self_report") & (jobs["condition_type"] == kind))["n_calls"].sum()
            assert it.exact and it.calls == made, it
        else:
            task = {"dilemmas": "dilemma"}.get(it.part, it.part)
            assert it.calls <= jobs.filter(jobs["task"] == task)["n_calls"].sum(), it


def _declared_stage(study: Study, declared: dict) -> object:
    from analysis.core.params import TargetsParams
    from analysis.core.study import CollectStage

    targets = TargetsParams(logprobs=declared)
    return CollectStage(study.id, [SPEC], 0, targets, _tiny_without_logprobs(study))


@pytest.mark.parametrize("study", WITH_PLAN, ids=[s.id for s in WITH_PLAN])
def test_a_declared_model_without_logprobs_is_priced_as_its_plan_counts(study, tmp_path):
    """``targets.logprobs: {model: false}``: the plan's dry run (the study's own code against the model's target,
    which the declaration tells it has no log-probabilities) prices the generation path, and its priced calls are
    the plan's; the output tokens are generations' (max_tokens), not one-token passes."""
    p = _declared_stage(study, {SPEC: False})
    df = plan_stage(study, p, store=tmp_path / "none.sqlite")
    t = df.filter(df["part"] == "total").row(0, named=True)
    assert t["logprobs"] is False and not t["logprobs_assumed"]
    priced = t["single_calls"] + t["conversation_calls"]
    items = _no_logprobs_plan(study, p.collect, SPEC)
    assert t["calls"] == sum(i.calls for i in items) and (t["exact"] or study.id == "illusion")
    # a placeholder never parses, so no answer-dependent call follows it: Study 1's bound is priced as counted too
    assert priced == t["to_call"], study.id
    # declared with log-probabilities (or undeclared, for an embedded model that has them): the passes
    q = plan_stage(study, _declared_stage(study, {}), store=tmp_path / "none.sqlite")
    u = q.filter(q["part"] == "total").row(0, named=True)
    assert u["logprobs"] is True, study.id
    assert (u["calls"], u["single_output_tokens"]) != (t["calls"], t["single_output_tokens"]), study.id
    assert "no log-probabilities: planned" in planmod.render(df) and "no log-probabilities" not in planmod.render(q)


def test_the_run_asks_a_declared_model_by_generation_from_its_first_call(tmp_path):
    """The declaration reaches the target the run builds: no log-probability call is ever sent to it."""
    from analysis.core.params import elicitor

    el = elicitor(SPEC, {"logprobs": {"qwen2.5-coder-0.5b": False}}, ResponseStore(tmp_path / "s.sqlite"))
    assert el.supports_logprobs is False
    assert make_target(SPEC, logprobs={"embedded:qwen2.5-coder-0.5b": True}).supports_logprobs is True
    assert make_target(SPEC, logprobs={"other": False}).supports_logprobs is True


def test_an_undeclared_openai_model_is_planned_with_logprobs_and_the_plan_says_so(tmp_path):
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["models"] = [SPEC, "openai:m@http://127.0.0.1:9/v1", "openai:n@http://127.0.0.1:9/v1"]
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "s.sqlite", offline=True)
    text = planmod.render(df)
    line = [x for x in text.splitlines() if x.startswith("assumed:")]
    assert line == ["assumed: openai:m@http://127.0.0.1:9/v1, openai:n@http://127.0.0.1:9/v1 return log-probabilities "
                    "(a server says so only when called); for a model that returns none, declare it in params.yaml "
                    "as `targets.logprobs: {openai:m: false}` to plan and price its answers by generation."]
    raw["targets"]["logprobs"] = {"m": False, "openai:n": True}
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "s.sqlite", offline=True)
    totals = {r["model"]: r for r in df.filter(df["part"] == "total").iter_rows(named=True)}
    m, n = totals["openai:m@http://127.0.0.1:9/v1"], totals["openai:n@http://127.0.0.1:9/v1"]
    # 30 items either way; generated with up to 2 re-asks each, the count is a lower bound
    assert (m["calls"], m["exact"], m["logprobs"]) == (30, False, False)
    assert (n["calls"], n["exact"], n["logprobs"]) == (30, True, True)
    assert "assumed:" not in planmod.render(df)


def test_targets_logprobs_must_name_a_model_in_one_sentence():
    from analysis.core.params import project

    with pytest.raises(UserError) as e:
        project({"models": [SPEC, "openai:m@http://h/v1"], "targets": {"logprobs": {"openai:mm": False}}})
    msg = str(e.value)
    assert "logprobs names 'openai:mm', which is no model in models" in msg and "\n" not in msg
    with pytest.raises(UserError, match="targets.logprobs"):
        project({"models": [SPEC], "targets": {"logprobs": {SPEC: "sometimes"}}})
    assert project({"models": [SPEC, "openai:m@http://h/v1"],
                    "targets": {"logprobs": {"m": False, SPEC: True}}}).targets.logprobs == {"m": False, SPEC: True}


def test_an_anthropic_model_is_planned_by_generation_offline_without_a_declaration(tmp_path, monkeypatch):
    """The Messages API returns no log-probabilities: an ``anthropic:`` model is planned by generation even when the
    plan builds no target (offline), and no 'assumed' line is printed for it."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["models"] = [SPEC, "anthropic:claude-test", "openai:m@http://127.0.0.1:9/v1"]
    raw.setdefault("targets", {})["logprobs"] = {"m": False}
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, studies=["bigfive"], store=tmp_path / "s.sqlite", offline=True)
    totals = {r["model"]: r for r in df.filter(df["part"] == "total").iter_rows(named=True)}
    a, m = totals["anthropic:claude-test"], totals["openai:m@http://127.0.0.1:9/v1"]
    assert (a["calls"], a["exact"], a["logprobs"]) == (m["calls"], m["exact"], m["logprobs"]) == (30, False, False)
    assert "assumed:" not in planmod.render(df)


JUDGE = "openai:judge-m@http://127.0.0.1:9/v1"


def test_targets_logprobs_may_name_a_studys_judge_not_an_anthropic_model_as_true():
    """Study 3's judge is called besides models: targets.logprobs may declare it; an anthropic: model declared true
    is refused in one sentence (its API returns none)."""
    from analysis.core.params import project

    raw = {"models": [SPEC], "targets": {"logprobs": {"openai:judge-m": False}},
           "therapy": {"collect": {"coding": {"judge": JUDGE}}}}
    assert project(raw).targets.logprobs == {"openai:judge-m": False}
    with pytest.raises(UserError, match=f"no model in models .* or a study's judge \\({re.escape(JUDGE)}\\)"):
        project({**raw, "targets": {"logprobs": {"other": False}}})
    with pytest.raises(UserError) as e:
        project({"models": [SPEC, "anthropic:claude-x"], "targets": {"logprobs": {"claude-x": True}}})
    assert "declares 'claude-x' true, but an anthropic: model never returns log-probabilities" in str(e.value)
    assert "\n" not in str(e.value)


def test_the_assumed_line_covers_an_undeclared_judge(tmp_path):
    p = _params(tmp_path, ["none"])
    raw = yaml.safe_load(p.read_text())
    raw["therapy"]["collect"]["coding"]["judge"] = JUDGE
    raw["therapy"]["collect"]["sessions"]["n_sessions"] = 1
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, studies=["therapy"], cached=False)  # the counts only: no target built, the judge's neither
    line = [x for x in planmod.render(df).splitlines() if x.startswith("assumed:")]
    assert line and line[0].startswith(f"assumed: {JUDGE} returns log-probabilities")
    raw["targets"]["logprobs"] = {"judge-m": False}
    p.write_text(yaml.safe_dump(raw))
    df = planmod.plan(p, studies=["therapy"], cached=False)
    assert "assumed:" not in planmod.render(df)
