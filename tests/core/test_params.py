import pytest

from analysis.core.errors import ModelSpecError, ParamsError
from analysis.core.params import Project, Section, TargetsParams, get, project, read_yaml, validate_section


def test_repository_project_sections_are_valid():
    p = project(read_yaml())
    assert p.models and isinstance(p.seed, int)


@pytest.mark.parametrize("text,err,needle", [
    ("models: [embedded:qwen2.5-coder-1.5b\nseed: 0", ParamsError, "line"),
    ("models: []\nseed: 0", ParamsError, "models"),
    ("models: [llama3]\nseed: 0", ModelSpecError, "valid"),
    ("models: [ollama:llama3]\nseed: zero", ParamsError, "seed"),
    ("models: [ollama:llama3]\ntargets: {timeout_s: ten minutes}", ParamsError, "targets.timeout_s"),
    ("models: [ollama:llama3]\ntargets: {timeout: 10}", ParamsError, "no key 'timeout'; valid keys are ollama_hosts"),
    ("models: [ollama:a, ollama:a]", ParamsError, "twice"),
])
def test_bad_project_params_one_sentence(tmp_path, text, err, needle):
    f = tmp_path / "params.yaml"
    f.write_text(text)
    with pytest.raises(err) as e:
        project(read_yaml(f))
    assert needle in str(e.value)
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_not_a_mapping(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("- a\n- b")
    with pytest.raises(ParamsError, match="mapping"):
        read_yaml(f)


class Inner(Section):
    runs: int = 1


class Outer(Section):
    inner: Inner = Inner()
    temperature: float = 0.0


def test_misspelled_nested_key_names_the_key_and_the_valid_ones():
    with pytest.raises(ParamsError) as e:
        validate_section(Outer, {"inner": {"runz": 5}}, "study.collect")
    assert str(e.value) == ("params.yaml: study.collect.inner has no key 'runz'; valid keys are runs "
                            "(check the spelling).")


def test_defaults_fill_a_missing_section():
    assert validate_section(Outer, None, "x").inner.runs == 1
    assert TargetsParams().timeout_s == 600 and Project().models


def test_get_names_missing_key():
    with pytest.raises(ParamsError, match="bigfive.nope"):
        get({"bigfive": {}}, "bigfive.nope")


def test_an_elicitor_carries_its_targets_for_a_second_model_such_as_a_judge(monkeypatch):
    import analysis.core.elicit as el_mod
    from analysis.core.params import elicitor

    seen = {}
    monkeypatch.setattr(el_mod.Elicitor, "from_spec", classmethod(lambda cls, spec, **kw: seen.update(kw) or object.__new__(cls)))
    el = elicitor("ollama:judge", {"timeout_s": 5, "retries": 1})
    assert el.targets.timeout_s == 5 and el.targets.retries == 1 and seen["timeout_s"] == 5
