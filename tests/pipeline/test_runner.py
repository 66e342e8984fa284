"""The stage runner: parameters validated and injected once, the report rendered with the parameters
actually used, and every failure one sentence that leaves no half-written report."""

import json

import pytest
import yaml

import analysis.pipeline.run_notebook as rn
from analysis.core.errors import ParamsError

HEADER = "# %% tags=[\"parameters\"]\nparams = None\n\n"


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    (tmp_path / "notebooks" / "bigfive").mkdir(parents=True)
    for name, value in (("ROOT", tmp_path), ("REPORTS_DIR", tmp_path / "reports"),
                        ("NOTEBOOKS_DIR", tmp_path / "notebooks")):
        monkeypatch.setattr(rn, name, value)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"models": ["embedded:qwen2.5-coder-0.5b"], "seed": 7,
                                      "bigfive": {"analysis": {"ci": 0.9}}}))
    return tmp_path, params


def notebook(root, name: str, body: str):
    path = root / "notebooks" / "bigfive" / f"{name}.py"
    path.write_text(HEADER + "# %%\n" + body + "\n")
    return path


def test_parameters_injected_with_defaults_and_shown_once(sandbox):
    import nbformat

    root, params = sandbox
    nb = notebook(root, "02_analysis", "import json, pathlib\npathlib.Path('out.json').write_text(json.dumps(params))")
    out_nb, out_html = rn.run(nb, params)
    got = json.loads((root / "out.json").read_text())
    assert got["analysis"]["ci"] == 0.9 and got["analysis"]["temperatures"] == [0.0, 0.7, 1.0]  # defaults filled
    cells = nbformat.read(out_nb, as_version=4).cells
    tags = [t for c in cells for t in c.metadata.get("tags", [])]
    assert tags.count("injected-parameters") == 1 and "parameters" not in tags and rn.LIFELINE_TAG not in tags
    assert out_html.exists() and "<html" in out_html.read_text().lower()
    assert out_nb == root / "reports/bigfive/02_analysis.ipynb"


def test_a_misspelled_key_is_refused_before_the_notebook_runs(sandbox):
    root, params = sandbox
    params.write_text(yaml.safe_dump({"models": ["embedded:qwen2.5-coder-0.5b"], "bigfive": {"analysis": {"cii": 1}}}))
    nb = notebook(root, "02_analysis", "open('ran', 'w').write('x')")
    with pytest.raises(ParamsError, match="bigfive.analysis has no key 'cii'; valid keys are ci, temperatures"):
        rn.run(nb, params)
    assert not (root / "ran").exists()


def test_a_misspelled_key_in_another_studys_section_also_stops_the_stage(sandbox):
    root, params = sandbox
    params.write_text(yaml.safe_dump({"models": ["embedded:qwen2.5-coder-0.5b"],
                                      "therapy": {"collect": {"sesions": 3}}}))
    nb = notebook(root, "02_analysis", "open('ran', 'w').write('x')")
    with pytest.raises(ParamsError, match="therapy.collect has no key 'sesions'"):
        rn.run(nb, params)
    assert not (root / "ran").exists()


def test_user_error_in_notebook_is_one_sentence_and_leaves_no_report(sandbox):
    root, params = sandbox
    nb = notebook(root, "02_analysis", "from analysis.core.instruments import load_instrument\nload_instrument('nope')")
    with pytest.raises(SystemExit) as e:
        rn.run(nb, params)
    msg = str(e.value)
    assert "Instrument 'nope' not found" in msg and "Traceback" not in msg and "\n" not in msg
    assert not (root / "reports/bigfive/02_analysis.html").exists()


def test_a_dead_kernel_is_one_sentence(sandbox):
    root, params = sandbox
    nb = notebook(root, "02_analysis", "import os\nos._exit(3)")
    with pytest.raises(SystemExit) as e:
        rn.run(nb, params)
    msg = str(e.value)
    assert "kernel died" in msg and "resumes" in msg and "\n" not in msg
    assert not (root / "reports/bigfive/02_analysis.html").exists()


def test_an_analysis_stage_before_its_collection_names_the_stage_to_run(sandbox, monkeypatch):
    import analysis.core.collection as col
    import analysis.core.paths as paths

    root, _ = sandbox
    monkeypatch.setattr(col, "raw_dir", lambda s: root / "data" / "raw" / s)
    monkeypatch.setattr(col, "ROOT", root)
    from analysis.core.errors import UserError

    with pytest.raises(UserError, match=r"data/raw/bigfive/items.parquet does not exist yet: run the collection "
                                        r"stage first \(`uv run dvc repro collect@bigfive`\)"):
        col.load("bigfive", "items")
    assert paths.raw_dir("bigfive").name == "bigfive"
