from pathlib import Path

import pytest
import yaml

import analysis.pipeline.run_notebook as rn
from scripts_path import nbgen


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    (tmp_path / "notebooks" / "demo").mkdir(parents=True)
    monkeypatch.setattr(rn, "ROOT", tmp_path)
    monkeypatch.setattr(rn, "REPORTS_DIR", tmp_path / "reports")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"models": ["embedded:qwen2.5-coder-0.5b"], "seed": 7, "demo": {"analysis": {"k": 3}}}))
    return tmp_path, params


def test_parameters_injected_and_html_rendered(sandbox):
    root, params = sandbox
    nb = nbgen.make(root / "notebooks/demo/01_x.ipynb", [
        ("params", "seed = 0\nanalysis = {}"),
        ("code", "from pathlib import Path\nPath('out.txt').write_text(f\"{seed} {analysis['k']}\")"),
    ])
    out_nb, out_html = rn.run(nb, ["seed", "demo.analysis"], params)
    assert (root / "out.txt").read_text() == "7 3"
    assert out_html.exists() and "<html" in out_html.read_text().lower()
    assert out_nb == root / "reports/demo/01_x.ipynb"


def test_user_error_in_notebook_is_one_sentence_and_leaves_no_report(sandbox):
    root, params = sandbox
    nb = nbgen.make(root / "notebooks/demo/02_bad.ipynb", [
        ("params", "seed = 0"),
        ("code", "from analysis.core.instruments import load_instrument\nload_instrument('no_such_scale')"),
    ])
    with pytest.raises(SystemExit) as e:
        rn.run(nb, ["seed"], params)
    msg = str(e.value)
    assert "Instrument 'no_such_scale' not found" in msg and "Traceback" not in msg
    assert not (root / "reports/demo/02_bad.html").exists()
    assert not (root / "reports/demo/02_bad.ipynb").exists()
