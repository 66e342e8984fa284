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
    assert set(out) == {"turns", "codings", "judge_prompts", "items", "probs", "forms", "instruments", "timing"}
    assert out["turns"].height == 2 * (1 + 2 + 1)
    # 2 sessions x 2 repeats x 2 themes, and the calibration transcripts that assert those themes (7 + 5) x 2 repeats
    assert out["codings"].height == 2 * 2 * 2 + (7 + 5) * 2
    assert out["codings"].filter(pl.col("source") == "calibration")["expected"].null_count() == 0
    assert out["instruments"]["spec"].to_list() == ["gad7", "gds15"]
    assert out["timing"]["part"].to_list() == ["sessions", "coding", "scales"]
    assert out["timing"]["model_calls"].sum() == el.n_model_calls


def test_plan_counts_the_calls_a_run_makes(client):
    p = validate_section(CollectParams, SMALL, "therapy.collect")
    plan = STUDY.plan(p, 0)
    el = client()
    STUDY.collect(el, p, 0)
    assert sum(i.calls for i in plan) == el.n_model_calls == el.target.calls
    by_part = {i.part: i.calls for i in plan}
    assert by_part["sessions"] == 2 * 4 and by_part["coding"] == 2 * 2 * 2 + (7 + 5) * 2
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
    for name in ("turns", "codings", "items", "probs", "forms", "instruments", "timing"):
        assert (tmp_path / f"{name}.parquet").exists()
        assert pl.read_parquet(tmp_path / f"{name}.parquet")["model"].unique().to_list() == ["scripted:scripted"]
    assert run.info["models"]["scripted:scripted"]["model_calls"] > 0
