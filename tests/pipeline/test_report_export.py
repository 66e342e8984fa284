"""The HTML export of a report: the study's title, folded code, compact parameters, tables without dtype rows
or cut rows (a long one shows its head and carries every row as a CSV), no machine path in any output."""

import base64
import io
import re

import nbformat
import polars as pl

from analysis.core.paths import ROOT
from analysis.pipeline import run_notebook as rn


def test_a_long_polars_table_shows_its_head_without_dtypes_and_links_every_row():
    df = pl.DataFrame({"persona": [f"p_{i}" for i in range(40)], "score": [i / 7 for i in range(40)],
                       "note": ["a note that is long " * 5] * 40})
    html = rn.table_html(df)
    head = html.split("</thead>")[0]
    assert "str" not in re.sub(r"<[^>]+>", " ", head).split() and "f64" not in head
    assert html.count("<tr>") - head.count("<tr>") == 15 and "…" not in html and "..." not in html
    assert "The first 15 of 40 rows" in html
    csv = base64.b64decode(re.search(r"data:text/csv;base64,([A-Za-z0-9+/=]+)", html).group(1)).decode()
    back = pl.read_csv(io.StringIO(csv))
    assert back.equals(df)  # every row, every digit: the CSV is the table, not its display
    short = rn.table_html(df.head(20))
    assert short.count("<tr>") == 20 and "data:text/csv" not in short


def test_the_report_has_the_notebook_title_folded_code_a_parameter_table_and_no_machine_path(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Study 9: a title\n\n**Question.** Why?"),
                nbformat.v4.new_code_cell("# Parameters\nparams = {'analysis': {'ci': 0.95, 'tests': ['a', 'b'], "
                                          "'path': None}}\n"),
                nbformat.v4.new_code_cell("x")]
    nb.cells[1].metadata["tags"] = ["injected-parameters"]
    nb.cells[2].outputs = [nbformat.v4.new_output("execute_result", data={
        "text/plain": f"{{'m': PosixPath('{ROOT}/metrics/x.json')}}"}, execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text=f"wrote {ROOT}/data/processed/x.csv\n")]
    rn.prepare_report(nb)
    assert nb.metadata["title"] == "Study 9: a title"
    params = nb.cells[1].outputs[0]["data"]["text/html"]
    assert "<code>analysis.ci</code></td><td>0.95" in params and "a, b" in params and "<details" in params
    text = str(nb.cells[2].outputs)
    assert str(ROOT) not in text and "PosixPath" not in text and "'metrics/x.json'" in text
    assert "wrote data/processed/x.csv" in text
    out = tmp_path / "r.html"
    rn.to_html(nb, out)
    page = out.read_text()
    assert "<title>Study 9: a title</title>" in page and page.count('<details class="psy-code">') == 2
    assert "<title>Notebook</title>" not in page


def test_the_setup_cell_runs_after_the_lifeline_and_leaves_the_report():
    nb = rn.read_source(ROOT / "notebooks" / "bigfive" / "02_analysis.py")
    rn.add_report_setup(nb)
    assert rn.LIFELINE_TAG in nb.cells[0].metadata["tags"] and rn.REPORT_SETUP_TAG in nb.cells[1].metadata["tags"]
    rn.drop_placeholder(nb)
    rn.prepare_report(nb)
    assert not any(rn.REPORT_SETUP_TAG in c.metadata.get("tags", []) for c in nb.cells)


def test_the_kernel_shows_frames_and_series_as_report_tables():
    """Registered in IPython: a Series of long values shows them whole (pandas' text form cuts them with "...")."""
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        rn.install_report_display()
        sr = pd.Series({"behaviours": ["bh_cct_cards", "bh_cct_dist_opt", "bh_syc_flip_rate", "bh_hon_accuracy"]})
        assert "..." in repr(sr)
        data, _ = shell.display_formatter.format(sr)
        html = data["text/html"].replace("<wbr>", "")
        assert "bh_hon_accuracy" in html and "..." not in html
        data, _ = shell.display_formatter.format(pl.DataFrame({"a": list(range(30))}))
        assert "The first 15 of 30 rows" in data["text/html"] and "i64" not in data["text/html"]
    finally:
        InteractiveShell.clear_instance()
