"""The Study 2 notebook sources: thin, one injected parameters cell, the analysis report opens with
the question, and no markdown text that a renderer would swallow (`You are <persona>` shows as
"You are " when the placeholder is outside a code span)."""

import re

import jupytext
import pytest

from analysis.core.paths import NOTEBOOKS_DIR, ROOT

NOTEBOOKS = [NOTEBOOKS_DIR / "sycophancy" / n for n in ("01_collect.py", "02_analysis.py")]
# an HTML-like tag outside `code spans`: what a markdown renderer hides
TAG = re.compile(r"<[A-Za-z][^>\n]*>")


def _outside_code(text: str) -> str:
    return re.sub(r"`[^`\n]*`", "", text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_source_shape(path):
    nb = jupytext.read(path)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0].source.startswith("params = None")
    assert nb.cells[0].cell_type == "markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_hides_no_placeholder(path):
    nb = jupytext.read(path)
    for c in nb.cells:
        if c.cell_type == "markdown":
            assert not TAG.search(_outside_code(c.source)), c.source[:200]
    if path.name == "01_collect.py":
        assert "`You are <persona>`" in path.read_text(encoding="utf-8")  # it is there, inside a code span


def test_the_check_would_catch_the_old_text():
    old = 'and each persona, "You are <persona>") answers'
    assert TAG.search(_outside_code(old))
    assert not TAG.search(_outside_code("the persona (`You are <persona>`)"))


def test_analysis_report_opens_with_the_question_then_the_computed_summary():
    nb = jupytext.read(NOTEBOOKS[1])
    assert "**Question.**" in nb.cells[0].source
    first_code = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])][0]
    # the summary's place is the first output; the cell that assembles the steps computes it and fills it in
    assert "display(Markdown(" in first_code.source and "display_id=True" in first_code.source
    last = [c.source for c in nb.cells if c.cell_type == "code" and "found.update(" in c.source]
    assert len(last) == 1 and "stats.summary(res, a)" in last[0]


def test_no_private_figure_saver_or_backend_switch():
    src = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "analysis" / "studies" / "sycophancy").glob("*.py"))
    assert "matplotlib.use(" not in src and "savefig(" not in src
