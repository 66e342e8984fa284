"""Study 1's notebook sources: thin percent scripts with one parameters cell, markdown that a renderer
shows as written (a placeholder such as "You are <persona>" is swallowed as an HTML tag), no dead pointers."""

import re

import jupytext
import pytest

from analysis.core.paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks" / "illusion").glob("*.py"))


def test_two_stage_notebooks_and_no_ipynb_copies_to_hand_edit():
    assert [p.name for p in NOTEBOOKS] == ["01_collect.py", "02_analysis.py", "03_han2025_released.py"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_and_markdown(path):
    nb = jupytext.read(path)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0].source.startswith("params = None")
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        text = re.sub(r"`[^`]*`", "", c.source)  # code spans are shown literally
        assert not re.search(r"<[A-Za-z/][^>]*>", text), f"an HTML-like placeholder in markdown: {c.source[:120]!r}"


@pytest.mark.parametrize("root", ["analysis/studies/illusion", "notebooks/illusion", "data/stimuli/illusion",
                                  "params.yaml", "profiles/illusion_paper_scale.yaml"])
def test_no_pointer_to_the_missing_fragment(root):
    paths = [ROOT / root] if (ROOT / root).is_file() else [p for p in (ROOT / root).rglob("*") if p.is_file()]
    for p in paths:
        if p.suffix in (".py", ".md", ".yaml", ".yml", ".csv"):
            assert "dvc_fragments" not in p.read_text(encoding="utf-8"), p
