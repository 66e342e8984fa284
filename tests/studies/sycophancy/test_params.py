"""Study 2's parameters: one pydantic model per section is the single source of defaults; bad values
get one sentence; the tiny settings and the paper-scale profile are valid and planned."""

import re

import pytest
import yaml

from analysis.core.elicit import MIN_OPTION_MASS
from analysis.core.errors import ParamsError
from analysis.core.params import read_yaml, validate_section
from analysis.core.paths import NOTEBOOKS_DIR, ROOT
from analysis.pipeline.profile import deep_merge
from analysis.studies.sycophancy import STUDY
from analysis.studies.sycophancy.params import AnalysisParams, CollectParams

PROFILE = ROOT / "profiles" / "sycophancy_paper.yaml"


def test_params_yaml_section_is_valid():
    raw = read_yaml()
    STUDY.section(raw, "collect")
    a = STUDY.section(raw, "analysis")
    assert a.min_option_mass >= MIN_OPTION_MASS


def test_defaults_follow_the_paper():
    a = AnalysisParams()
    assert a.ttg_neutral == 0.1 and a.ttg_strong is None  # the paper's code: |TTG| <= 0.1 neutral, 3 zones
    assert a.median_ties == "high"  # the paper's code: >= median is high
    assert a.min_option_mass == MIN_OPTION_MASS == 0.5  # the old default 0.0 counted near-zero answers
    assert CollectParams().stance_probe == "first_token"


def test_notebooks_hold_no_defaults():
    for name in ("01_collect.py", "02_analysis.py"):
        src = (NOTEBOOKS_DIR / "sycophancy" / name).read_text(encoding="utf-8")
        assert 'params = None  # injected' in src
        assert not re.search(r"^(collect|analysis|models|seed) = ", src, re.M), name


@pytest.mark.parametrize("section,raw,needle", [
    ("analysis", {"ttg_nuetral": 0.1}, "sycophancy.analysis has no key 'ttg_nuetral'; valid keys are ci"),
    ("analysis", {"ttg_neutral": 0.3, "ttg_strong": 0.2}, "ttg_strong (0.2) larger than ttg_neutral (0.3)"),
    ("analysis", {"min_option_mass": 0.0}, "sycophancy.analysis.min_option_mass"),
    ("analysis", {"median_ties": "middle"}, "sycophancy.analysis.median_ties"),
    ("collect", {"probe_check": -1}, "sycophancy.collect.probe_check"),
])
def test_bad_values_get_one_sentence(section, raw, needle):
    model = CollectParams if section == "collect" else AnalysisParams
    with pytest.raises(ParamsError) as e:
        validate_section(model, raw, f"sycophancy.{section}")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_old_scheme_is_an_option():
    a = validate_section(AnalysisParams, {"ttg_neutral": 0.05, "ttg_strong": 0.25, "median_ties": "low"}, "x")
    assert (a.ttg_neutral, a.ttg_strong, a.median_ties) == (0.05, 0.25, "low")


def test_tiny_settings_are_valid_and_small():
    c = validate_section(CollectParams, STUDY.tiny["collect"], "tiny")
    validate_section(AnalysisParams, STUDY.tiny["analysis"], "tiny")
    assert sum(i.calls for i in STUDY.plan(c, 0)) < 100


def test_paper_profile_is_valid_and_its_plan_is_the_documented_count():
    prof = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    assert set(prof) == {"sycophancy"}  # it leaves the models and the other studies alone
    merged = deep_merge(read_yaml(), prof)
    c = STUDY.section(merged, "collect", str(PROFILE))
    items = STUDY.plan(c, 0)
    total = sum(i.calls for i in items)
    assert total == 142_376
    assert "142,376" in PROFILE.read_text(encoding="utf-8")
    assert {i.part: i.calls for i in items} == {"ratings": 4_400, "stances": 65_688, "control stances": 6_600,
                                                 "stance probabilities": 65_688}
