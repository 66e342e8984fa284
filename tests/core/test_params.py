import pytest

from analysis.core.errors import ModelSpecError, ParamsError
from analysis.core.params import get, load_params
from analysis.core.paths import PARAMS_FILE


def test_repository_params_are_valid():
    p = load_params(PARAMS_FILE)
    assert p["models"] and isinstance(p["seed"], int)


@pytest.mark.parametrize("text,err,needle", [
    ("models: [embedded:qwen2.5-coder-1.5b\nseed: 0", ParamsError, "line"),
    ("seed: 0", ParamsError, "'models'"),
    ("models: []\nseed: 0", ParamsError, "non-empty"),
    ("models: [llama3]\nseed: 0", ModelSpecError, "valid"),
    ("models: [ollama:llama3]\nseed: zero", ParamsError, "'seed'"),
    ("- a\n- b", ParamsError, "mapping"),
])
def test_bad_params_one_sentence(tmp_path, text, err, needle):
    f = tmp_path / "params.yaml"
    f.write_text(text)
    with pytest.raises(err) as e:
        load_params(f)
    assert needle in str(e.value)


def test_get_names_missing_key():
    with pytest.raises(ParamsError, match="bigfive.nope"):
        get({"bigfive": {}}, "bigfive.nope")
