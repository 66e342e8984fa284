"""metrics/<study>.json: a headline keeps its name when the model changes (issue 20, point 3). Columns are
counted with DVC's own flattening (dvc.utils.flatten), as `dvc exp show` and `dvc metrics diff` name them."""

import json

import pytest
from dvc.utils.flatten import flatten

from analysis.core import metrics

A, B = "embedded:qwen2.5-coder-1.5b", "embedded:qwen2.5-coder-0.5b"


def headline(model: str, value: float) -> dict:
    """Shaped like the studies' headlines: a model at the top (Big Five), under a section (sycophancy's
    ``models``), by short name (Study 1's rq3, Study 3), a base__instruct pair (Study 1's rq1)."""
    short = model.split(":", 1)[1].replace(".", "_")
    return {model: {"persona_effects": {"A_high": {"g": value, "n_items": 6}}},
            "models": {model: {"pearson_r": {"estimate": value, "sided": "two-sided"}, "n_personas": 5}},
            "rq3": {short: {"agreeableness": {"d": value}}, "all_models": {"agreeableness": {"d": value}}},
            "rq1": {"pairs": {f"{short}__{short}": {"O": {"sd_ratio": value}}}},
            "design": {"n_rows": 12}}


def columns(path) -> dict:
    return flatten(json.loads(path.read_text()))


@pytest.fixture
def default_path(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "metrics_file", lambda study: tmp_path / f"{study}.json")
    return tmp_path


def test_runs_on_two_models_share_every_column(default_path, monkeypatch):
    cols = {}
    for model, value in ((A, 0.5), (B, 0.25)):
        monkeypatch.setattr(metrics, "run_models", lambda model=model: [model])
        cols[model] = columns(metrics.write("demo", headline(model, value)))
    assert set(cols[A]) == set(cols[B])  # the old files shared only design.n_rows
    assert not [c for c in cols[A] if "qwen" in c]
    assert cols[A]["model_1.persona_effects.A_high.g"] == 0.5 and cols[B]["model_1.persona_effects.A_high.g"] == 0.25
    assert cols[A]["model_1.model"] == A and cols[B]["model_1.model"] == B
    assert cols[B]["models.model_1.pearson_r.estimate"] == 0.25
    assert cols[B]["rq3.model_1.agreeableness.d"] == 0.25 and cols[B]["rq3.model_1.model"] == B
    assert cols[B]["rq3.all_models.agreeableness.d"] == 0.25
    assert cols[B]["rq1.pairs.model_1__model_1.O.sd_ratio"] == 0.25


def test_several_models_take_their_position_in_the_models_param(default_path, monkeypatch):
    monkeypatch.setattr(metrics, "run_models", lambda: [A, B])
    m = {B: {"x": 2.0}, A: {"x": 1.0}, "openai:other": {"x": 3.0}}
    data = json.loads(metrics.write("demo", m).read_text())
    assert data["model_1"] == {"model": A, "x": 1.0}
    assert data["model_2"] == {"model": B, "x": 2.0}
    assert data["openai:other"] == {"x": 3.0}  # not a model of this run: left as it is
    served = "openai:qwen@http://127.0.0.1:8080/v1"
    monkeypatch.setattr(metrics, "run_models", lambda: [served])
    data = json.loads(metrics.write("demo", {"openai:qwen": {"x": 1.0}, "n": 3}).read_text())
    assert data == {"model_1": {"model": "openai:qwen", "x": 1.0}, "n": 3}  # labelled without its URL


def test_a_scalar_keyed_by_model_gets_a_value_field_and_two_names_of_one_model_are_refused():
    assert metrics.by_position({"x": {A: 0.5}}, [A]) == {"x": {"model_1": {"model": A, "value": 0.5}}}
    with pytest.raises(ValueError, match="two metrics keys name the model"):
        metrics.by_position({A: {"x": 1}, "qwen2_5-coder-1_5b": {"x": 1}}, [A])


def test_an_explicit_path_keeps_model_names_unless_models_are_given(tmp_path):
    data = json.loads(metrics.write("demo", {A: {"x": 1.0}}, tmp_path / "a.json").read_text())
    assert data == {"embedded:qwen2_5-coder-1_5b": {"x": 1.0}}
    data = json.loads(metrics.write("demo", {A: {"x": 1.0}}, tmp_path / "b.json", models=[A]).read_text())
    assert data == {"model_1": {"model": A, "x": 1.0}}


def test_the_default_models_are_those_of_params_yaml():
    from analysis.core.params import project, read_yaml

    assert metrics.run_models() == project(read_yaml()).models


def test_a_value_that_rounds_to_zero_prints_without_a_sign():
    """Therapy's summary printed one exactly-zero coefficient as -0.00 on one CPU and 0.00 on another (the last bit
    of a floating-point sum); summaries now print it as 0.00 either way, and leave real negatives alone."""
    from analysis.core.metrics import no_negative_zero

    assert no_negative_zero("warm vs neutral -0.00 (95% CI -21.30 to 21.30)") == "warm vs neutral 0.00 (95% CI -21.30 to 21.30)"
    assert no_negative_zero("(-0.00, -0.0, -0.)") == "(0.00, 0.0, 0.)"
    for keep in ("d = -0.05", "-0.001", "a-0.00", "-0.0.5", "-10.00"):
        assert no_negative_zero(keep) == keep
