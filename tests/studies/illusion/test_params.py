"""Study 1's parameters: pydantic sections with one-sentence errors, the single source of defaults."""

import pytest

from analysis.core.errors import ParamsError
from analysis.core.params import read_yaml, validate_section
from analysis.pipeline.params import validate_all
from analysis.studies.illusion import STUDY
from analysis.studies.illusion.params import AnalysisParams, CollectParams

from .conftest import SMALL


def one_sentence(msg: str) -> bool:
    return "\n" not in msg and "Traceback" not in msg and msg.rstrip().endswith(".")


@pytest.mark.parametrize("raw,needle", [
    ({"runz": 5}, "illusion.collect has no key 'runz'; valid keys are protocol, han2025, mode, temperatures, runs"),
    ({"cct": {"n_scenario": 3}}, "illusion.collect.cct has no key 'n_scenario'; valid keys are n_scenarios"),
    ({"personas": {"strategies": ["nonsense"]}}, "unknown strategy 'nonsense'"),
    ({"personas": {"traits": ["openness"]}}, "unknown trait 'openness'"),
    ({"personas": {"triplets": [5]}}, "triplet index 5 outside 0..2"),
    ({"temperatures": [-1]}, "illusion.collect.temperatures must be >= 0"),
    ({"temperatures": []}, "illusion.collect.temperatures"),
    ({"runs": 0}, "illusion.collect.runs"),
    ({"mode": "sample"}, "illusion.collect.mode"),
    ({"baselines": {}}, "illusion.collect.baselines"),
    ({"iat": {"domains": ["colour"]}}, "unknown IAT domain 'colour'"),
    ({"mode": "generate", "iat": {"administration": "per_word"}}, "per_word needs option probabilities"),
])
def test_bad_collect_params_fail_in_one_sentence(raw, needle):
    with pytest.raises(ParamsError) as e:
        validate_section(CollectParams, raw, "illusion.collect")
    assert needle in str(e.value) and one_sentence(str(e.value)), str(e.value)


def test_misspelled_analysis_key():
    with pytest.raises(ParamsError, match="illusion.analysis has no key 'alpah'"):
        validate_section(AnalysisParams, {"alpah": 0.1}, "illusion.analysis")


def test_misspelled_key_in_params_yaml_is_refused(tmp_path):
    raw = read_yaml()
    raw["illusion"]["collect"]["runz"] = 5
    with pytest.raises(ParamsError) as e:
        validate_all(raw, "params.yaml")
    assert "illusion.collect has no key 'runz'" in str(e.value) and one_sentence(str(e.value))


def test_params_yaml_tiny_and_paper_profile_validate():
    from pathlib import Path

    import yaml

    from analysis.core.paths import ROOT
    from analysis.pipeline.profile import deep_merge

    raw = read_yaml()
    STUDY.section(raw, "collect")
    STUDY.section(raw, "analysis")
    validate_section(CollectParams, STUDY.tiny["collect"], "illusion.collect")
    paper = yaml.safe_load(Path(ROOT / "profiles" / "illusion_paper_scale.yaml").read_text())
    merged = deep_merge(raw, paper)
    p = STUDY.section(merged, "collect")
    assert p.mode == "generate" and p.self_report.srq_items is None
    # the paper's sampling and baselines (Han et al., 2025): T 0.3 / 0.7 / 1.0 x 3 runs, its 3 system prompts
    assert p.temperatures == [0.3, 0.7, 1.0] and p.runs == 3
    assert p.baselines == {"empty": "", "helpful": "You are a helpful assistant.", "respond": "Respond to the instructions."}
    pairs = STUDY.section(merged, "analysis").pairs
    assert len(pairs) >= 2 and {q.base for q in pairs} == set(p.base_models)  # the pooled RQ1 test needs 2 base models


def test_defaults_are_the_embedded_default():
    p = CollectParams()
    assert p.mode == "option_probs" and list(p.baselines) == ["empty", "helpful", "respond", "assistant", "answer", "chat"]
    assert p.dilemma_branches() == "both"  # a temperature above 0 needs both challenge branches
    assert CollectParams.model_validate(SMALL).iat_administration() == "per_word"
    assert CollectParams(mode="generate").iat_administration() == "list"
