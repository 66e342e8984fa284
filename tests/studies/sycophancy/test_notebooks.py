"""The Study 2 notebooks are output-free, have a papermill parameters cell, and their parameter names
agree with params.yaml and with CollectParams."""

import ast
from pathlib import Path

import nbformat
import yaml

from analysis.studies.sycophancy.collect import CollectParams

from analysis.core.paths import ROOT  # noqa: E402
FRAGMENT = {"params": yaml.safe_load((ROOT / "params.yaml").read_text())}


def _params(nb_path: Path) -> dict:
    nb = nbformat.read(nb_path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1 and nb.cells.index(cells[0]) <= 1
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None
    ns: dict = {}
    exec(compile(ast.parse(cells[0].source), str(nb_path), "exec"), ns)
    return ns


def test_collect_notebook_parameters():
    ns = _params(ROOT / "notebooks/sycophancy/01_collect.ipynb")
    assert {"models", "seed", "targets", "collect"} <= set(ns)
    frag = FRAGMENT["params"]["sycophancy"]["collect"]
    assert set(ns["collect"]) == set(frag)
    CollectParams.from_dict(ns["collect"])
    CollectParams.from_dict(frag)


def test_analysis_notebook_parameters():
    ns = _params(ROOT / "notebooks/sycophancy/02_analysis.ipynb")
    assert set(ns["analysis"]) == set(FRAGMENT["params"]["sycophancy"]["analysis"])
