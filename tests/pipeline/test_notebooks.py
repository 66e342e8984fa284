"""Notebooks are sources: a jupytext percent script (what DVC runs) paired with an output-free .ipynb
(what JupyterLab opens); the two agree, and an edit saved in JupyterLab lands in the script."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import pytest

from analysis.core.paths import NOTEBOOKS_DIR, ROOT
from analysis.studies import all_studies

SCRIPTS = sorted(NOTEBOOKS_DIR.glob("*/*.py"))


def cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_study_has_its_two_notebook_sources_and_their_pairs():
    for sid in all_studies():
        for name in ("01_collect", "02_analysis"):
            assert (NOTEBOOKS_DIR / sid / f"{name}.py").exists(), f"notebooks/{sid}/{name}.py"
            assert (NOTEBOOKS_DIR / sid / f"{name}.ipynb").exists(), (
                f"notebooks/{sid}/{name}.ipynb is missing: run `uv run jupytext --sync notebooks/{sid}/{name}.py`")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(NOTEBOOKS_DIR)))
def test_paired_notebook_and_script_agree(script):
    src = jupytext.read(script)
    tagged = [c for c in src.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{script} needs exactly one cell tagged 'parameters'"
    ipynb = script.with_suffix(".ipynb")
    if not ipynb.exists():
        pytest.skip("no paired .ipynb")
    nb = nbformat.read(ipynb, as_version=4)
    assert cells(nb) == cells(src), (f"{ipynb.name} and {script.name} disagree: run "
                                     f"`uv run jupytext --sync {script.relative_to(ROOT)}`")
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{ipynb} has outputs"


def test_ruff_finds_nothing_in_modules_tests_and_notebook_sources():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "analysis", "tests", "notebooks", "benchmarks", "scripts",
                        "templates"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_edit_saved_in_jupyterlab_lands_in_the_script(tmp_path):
    """A real Jupyter server (the one `uv run jupyter lab` starts) with jupytext's contents manager: saving
    the .ipynb through its REST API, as JupyterLab does, rewrites the paired .py."""
    (tmp_path / "notebooks" / "bigfive").mkdir(parents=True)
    shutil.copy(NOTEBOOKS_DIR / "jupytext.toml", tmp_path / "notebooks")
    for f in ("01_collect.py", "01_collect.ipynb"):
        shutil.copy2(NOTEBOOKS_DIR / "bigfive" / f, tmp_path / "notebooks" / "bigfive" / f)
    port, token = _free_port(), "t0k"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", "--allow-root", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={tmp_path}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/contents/notebooks/bigfive/01_collect.ipynb"
    hdr = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers=hdr))
                break
            except OSError:
                time.sleep(0.25)
        model = json.load(urllib.request.urlopen(urllib.request.Request(base, headers=hdr)))
        nb = model["content"]
        nb["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                            "source": "edited_in_jupyterlab = 42"})
        body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
        urllib.request.urlopen(urllib.request.Request(base, data=body, headers=hdr, method="PUT"))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    script = (tmp_path / "notebooks" / "bigfive" / "01_collect.py").read_text()
    assert "edited_in_jupyterlab = 42" in script
    assert cells(jupytext.read(tmp_path / "notebooks" / "bigfive" / "01_collect.py"))[-1][1] == "edited_in_jupyterlab = 42"
    assert Path(tmp_path / "notebooks" / "bigfive" / "01_collect.ipynb").exists()
