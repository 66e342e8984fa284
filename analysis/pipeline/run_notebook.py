"""Run one study notebook as a DVC stage.

    python -m analysis.pipeline.run_notebook notebooks/<study>/01_collect.py

The notebook's source is its jupytext percent script. The runner validates every section of
params.yaml (all studies, before any model is called), injects this stage's parameters (collection:
``models``, ``seed``, ``targets`` and ``<study>.collect``; analysis: ``<study>.analysis``, with every
default filled in) as one ``params`` dict, executes the notebook with papermill and renders it to
HTML. The executed notebook shows the parameters actually used once: the notebook's own
``params = None`` placeholder cell is dropped from the report. The notebook is executed in a
temporary folder and moved into ``reports/<study>/`` only when it ran to the end, so a failed stage
leaves no half-written report; a user-facing error inside the notebook is printed as its one sentence.

A stage is mostly waiting on one core, so the runner overlaps its steps on the machine's second core: the
kernel starts first and imports the notebook's modules (:func:`start_kernel`) while the runner validates the
parameters and reads the notebook; the HTML exporter is prepared in a thread while the notebook runs; the kernel
exits while the report is written. Measured on 2 cores: 63 s -> 55 s for the replay's 14 stages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from analysis.core.errors import UserError
from analysis.core.io import clean_stale, temp_prefix
from analysis.core.paths import DATA_DIR, NOTEBOOKS_DIR, PARAMS_FILE, REPORTS_DIR, ROOT

# nbformat validates every notebook with jsonschema, whose format checker imports the optional module rfc3987_syntax
# when it is installed (jupyterlab's jupyter-events brings it): that import builds a grammar and took 2.1 s of every
# stage (python -X importtime). No notebook schema checks an IRI format, so the runner tells jsonschema that the
# optional module is absent (jsonschema then skips the "iri" format, as it does wherever the module is missing).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

KIND = {"01_collect": "collect", "02_analysis": "analysis"}
# notebooks that read every study's results (no study, no parameters)
CROSS_STUDY = "synthesis"
# a study's notebooks outside its two stages (no parameters): (study, notebook) -> the report's name
STANDALONE = {("illusion", "03_han2025_released"): "han2025_released"}
# the data outputs of those notebooks as dvc.yaml lists them (staged like every stage's: see stage_outputs)
STANDALONE_OUTPUTS = {("illusion", "03_han2025_released"): ("data/reanalysis/illusion/han2025", "figures/illusion_han2025",
                                                            "metrics/illusion_han2025.json")}


def user_error_names(study: str | None = None) -> set[str]:
    """Names of every UserError subclass in core and the stage's study (their messages are shown as they
    are). Only modules the stage itself depends on are imported."""
    import importlib
    import pkgutil

    import analysis.core

    pkgs = [analysis.core]
    if study and study != CROSS_STUDY:
        pkgs.append(importlib.import_module(f"analysis.studies.{study}"))
    for pkg in pkgs:
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            try:
                importlib.import_module(m.name)
            except Exception:  # pragma: no cover - a broken module must not hide the original error
                pass
    names, todo = set(), [UserError]
    while todo:
        c = todo.pop()
        names.add(c.__name__)
        todo.extend(c.__subclasses__())
    return names


class _env:
    """Set environment variables for the kernel this process starts (and restore them afterwards)."""

    def __init__(self, **values: str):
        self.values, self.saved = values, {}

    def __enter__(self):
        import os

        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc):
        import os

        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def locate(notebook: str | Path) -> tuple[str, str]:
    """notebooks/<study>/<name>.py -> (study id, notebook name)."""
    path = Path(notebook).resolve()
    try:
        rel = path.relative_to(NOTEBOOKS_DIR.resolve())
    except ValueError:
        raise UserError(f"{notebook} is not under notebooks/; study notebooks live in notebooks/<study>/.") from None
    if len(rel.parts) != 2:
        raise UserError(f"{notebook} is not a study notebook (expected notebooks/<study>/<name>.py).")
    return rel.parts[0], path.stem


def report_paths(study: str, name: str) -> tuple[Path, Path]:
    base = REPORTS_DIR / study / STANDALONE.get((study, name), name)
    return base.with_suffix(".ipynb"), base.with_suffix(".html")


def stage_parameters(study_id: str, name: str, params_file: str | Path = PARAMS_FILE) -> dict:
    """The papermill parameters of a stage. Every section of params.yaml (the project's and every
    study's) is validated, every default filled in, before the notebook starts, so no model is called
    while any parameter is wrong."""
    from analysis.core.params import read_yaml
    from analysis.pipeline.params import validate_all
    from analysis.studies import get

    if study_id == CROSS_STUDY or (study_id, name) in STANDALONE:
        return {"params": {}}
    raw = read_yaml(params_file)
    validate_all(raw, Path(params_file).name)
    study = get(study_id)
    kind = KIND.get(name)
    if kind == "collect":
        stage = study.collect_stage(raw_project_and_collect(raw, study_id))
    elif kind == "analysis":
        stage = study.analysis_stage({"analysis": (raw.get(study_id) or {}).get("analysis")})
    else:
        raise UserError(f"notebooks/{study_id}/{name}.py is not a stage notebook; a study has "
                        f"{' and '.join(KIND)}.")
    return stage.injected()


def raw_project_and_collect(raw: dict, study_id: str) -> dict:
    return {**{k: raw[k] for k in ("models", "seed", "targets") if k in raw},
            "collect": (raw.get(study_id) or {}).get("collect")}


LIFELINE_TAG = "stage-lifeline"
# The kernel talks to this process over TCP on 127.0.0.1 (IPC sockets would hide a dead kernel from nbclient,
# which then waits forever); its own log is kept to errors, so that ipykernel's warning about unencrypted
# TCP does not print on every stage. What a cell prints still goes into the report.
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
# the kernel's start, its warm-up imports included (:func:`start_kernel`), may take this long (papermill's default
# of 60 s covered the start alone)
KERNEL_START_S = 300


def notebook_imports(notebook: Path) -> list[str]:
    """The modules a notebook's import statements name, in the order they appear (``from a.b import c`` names
    ``a.b`` and, should ``c`` be a submodule, ``a.b.c``), those inside an ``if`` or a function too. Read from the
    percent script's syntax tree, without running it; a script that is not plain Python (a magic) names none."""
    import ast

    try:
        tree = ast.parse(Path(notebook).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))),
                       key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level and node.module != "__future__":
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
    return list(dict.fromkeys(names))


def warm_imports_line(modules: list[str]) -> str:
    """A line the kernel runs while it starts (IPython's ``exec_lines``). First the lifeline
    (:func:`analysis.core.lifeline.die_with_parent`, which the notebook's first cell also calls): a kernel whose
    stage is killed during the imports stops within 50 ms too. Then the notebook's modules, ahead of its first cell,
    so that the kernel's imports overlap the runner's own start instead of following it. It binds no name in the
    notebook's namespace (``__import__``, the loop variable deleted). A name that is not a module, or a module that
    fails, is passed over here: the notebook's own import statement then runs as before. What a module prints or
    warns while it is imported now happens before the first cell, so it is not in the report (no module of this
    project prints when imported). A Ctrl-C while the kernel imports stops the stage within about 3 s: the kernel
    answers no shutdown request before it has started, so jupyter_client ends it with a signal."""
    line = "__import__('analysis.core.lifeline', fromlist=['die_with_parent']).die_with_parent()"
    if modules:
        line += (f"\nfor _psy_m in {tuple(modules)!r}:\n"
                 "    try:\n        __import__(_psy_m)\n    except BaseException:\n        pass\n"
                 "del _psy_m")
    return line


def _kernel_manager():
    """jupyter_client's kernel manager, remembering the clients it makes (nbclient makes one for papermill and leaves
    it open on a kernel it does not own): the runner closes their channels (:func:`_close_clients`). An open
    heartbeat channel made the process abort in libzmq on its way out of a failed stage."""
    from jupyter_client.manager import AsyncKernelManager

    class StageKernelManager(AsyncKernelManager):
        def client(self, **kwargs):
            kc = super().client(**kwargs)
            self.__dict__.setdefault("_stage_clients", []).append(kc)
            return kc

    return StageKernelManager(kernel_name="python3")


def _close_clients(km) -> None:
    import inspect

    from jupyter_core.utils import run_sync

    async def wait(awaitable):
        await awaitable

    for kc in km.__dict__.pop("_stage_clients", []):
        done = kc.stop_channels()
        if inspect.isawaitable(done):
            run_sync(wait)(done)


def start_kernel(notebook: Path):
    """Start the notebook's kernel now, in the repository root, before the runner validates the parameters and
    reads the notebook: the kernel starts (and imports the notebook's modules, :func:`warm_imports_line`) on the
    machine's other core while the runner works. papermill then runs the notebook on it (``km=``); the runner
    stops it (:func:`request_stop` and :func:`stop_kernel` after a run, :func:`kill_kernel` after a failure). The
    arguments are those nbclient passes when it starts a kernel itself."""
    from jupyter_core.utils import run_sync

    km = _kernel_manager()
    args = [*KERNEL_ARGS, "--HistoryManager.hist_file=:memory:"]
    args.append(f"--IPKernelApp.exec_lines={warm_imports_line(notebook_imports(notebook))}")
    run_sync(km.start_kernel)(extra_arguments=args, cwd=str(ROOT))
    return km


def request_stop(km) -> None:
    """Ask the kernel, whose notebook has run, to shut down (it exits on its own, as nbclient's polite shutdown lets
    it); :func:`stop_kernel` then waits for it."""
    from jupyter_core.utils import run_sync

    run_sync(km.request_shutdown)()


def stop_kernel(km) -> None:
    """Wait until the kernel asked by :func:`request_stop` is gone (killed when it has not exited within
    jupyter_client's shutdown wait), then close the clients' channels."""
    from jupyter_core.utils import run_sync

    try:
        run_sync(km.finish_shutdown)()
    finally:
        run_sync(km.cleanup_resources)()
        _close_clients(km)


def kill_kernel(km) -> None:
    """End the kernel of a failed stage at once (SIGKILL, as the lifeline does): no cell is left to run, and a
    kernel still starting answers no shutdown request, while an interrupt (jupyter_client's polite shutdown sends
    one first) would print a traceback from the middle of its imports. A kernel already gone is no error."""
    import signal

    from jupyter_core.utils import run_sync

    try:
        if run_sync(km.is_alive)():
            run_sync(km.signal_kernel)(signal.SIGKILL)
            run_sync(km.finish_shutdown)()
    except RuntimeError as e:  # pragma: no cover - raced with the kernel's own exit
        if "No kernel is running!" not in str(e):
            raise
    finally:
        run_sync(km.cleanup_resources)()
        _close_clients(km)


def read_source(notebook: Path):
    """The notebook node of a percent script (or of an .ipynb), with a kernel to run it. A first cell makes
    the kernel stop within 50 ms when this stage process dies (``kill -9``), so an orphaned kernel cannot go
    on writing answers while a resumed run starts; it is dropped from the report."""
    import jupytext
    import nbformat

    nb = jupytext.read(notebook)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    cell = nbformat.v4.new_code_cell("from analysis.core.lifeline import die_with_parent\ndie_with_parent()")
    cell.metadata["tags"] = [LIFELINE_TAG]
    nb.cells.insert(0, cell)
    return nb


def drop_placeholder(nb) -> None:
    """Remove the notebook's own ``parameters`` cell once papermill has injected the real values, and the
    runner's lifeline cell: the report shows the notebook and the parameters actually used, once."""
    nb.cells = [c for c in nb.cells if LIFELINE_TAG not in c.metadata.get("tags", [])]
    if any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells):
        nb.cells = [c for c in nb.cells if "parameters" not in c.metadata.get("tags", [])]


# ---- the report a reader opens: its title, folded code, compact parameters, tables, no machine paths ----------
REPORT_SETUP_TAG = "report-setup"
MAX_TABLE_ROWS = 15  # a longer table shows its first rows and carries all of them as a CSV link
REPORT_CSS = """
body{font-size:15px}
.jp-Notebook{max-width:1240px;margin:0 auto}
details.psy-code>summary{cursor:pointer;color:#666;font-size:12px;margin:2px 0 2px 4px;font-family:monospace}
details.psy-code:not([open]) + .jp-Cell-outputWrapper{margin-top:0}
.jp-InputPrompt,.jp-OutputPrompt{display:none}
.jp-RenderedHTMLCommon table{font-size:12px;table-layout:auto;max-width:100%}
.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th{white-space:normal;padding:2px 6px}
.jp-RenderedHTMLCommon table.psy-small{font-size:10.5px}
.jp-RenderedHTMLCommon table.psy-small td,.jp-RenderedHTMLCommon table.psy-small th{padding:1px 3px}
.jp-RenderedHTMLCommon table.psy-tight td,.jp-RenderedHTMLCommon table.psy-tight th{overflow-wrap:anywhere}
.jp-OutputArea-output pre,.jp-RenderedText pre{white-space:pre-wrap;overflow-wrap:anywhere}
.jp-OutputArea-output{overflow-x:visible}
.jp-RenderedImage img{max-width:100%;height:auto}
.psy-note{color:#555;font-size:12px;margin:2px 0 10px}
table.psy-params{font-size:12px;border-collapse:collapse}
table.psy-params td{padding:1px 8px;border-bottom:1px solid #eee;vertical-align:top;overflow-wrap:anywhere}
"""
FOLDED_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_css -%}<style>""" + REPORT_CSS + """</style>{%- endblock html_head_css -%}
{% block footer_js %}<script>
// a table wider than its output area first gets a smaller font, then may break inside words: none scrolls sideways
for (const cls of ["psy-small", "psy-tight"]) {
  document.querySelectorAll(".jp-OutputArea-output table").forEach(t => {
    const box = t.closest(".jp-OutputArea-output");
    if (box && t.getBoundingClientRect().width > box.clientWidth + 1) t.classList.add(cls);
  });
}
</script>{% endblock footer_js %}
{% block input_group -%}
<details class="psy-code"><summary>code</summary>
{{ super() }}
</details>
{%- endblock input_group %}
"""


def add_report_setup(nb) -> None:
    """A first cell (dropped from the report) that makes the kernel show DataFrames as the report shows them."""
    import nbformat

    cell = nbformat.v4.new_code_cell("from analysis.pipeline.run_notebook import install_report_display\n"
                                     "install_report_display()")
    cell.metadata["tags"] = [REPORT_SETUP_TAG]
    first = nb.cells and LIFELINE_TAG in nb.cells[0].metadata.get("tags", [])
    nb.cells.insert(1 if first else 0, cell)


def _num(x) -> str:
    if isinstance(x, float):
        return "" if x != x else f"{x:.4g}"
    return str(x)


def _breakable(table: str) -> str:
    """Let long identifiers (column names, model specs) wrap after ``_``, ``:`` and ``/`` (never inside a number)."""
    import re

    return re.sub(r">([^<]+)<", lambda m: ">" + re.sub(r"([_:/])(?=\w)", r"\1<wbr>", m.group(1)) + "<", table)


def table_html(df, max_rows: int = MAX_TABLE_ROWS, name: str = "table") -> str:
    """A pandas or polars DataFrame as a plain HTML table (no dtype row, no "..." rows or columns): a table longer
    than ``max_rows`` + 5 rows shows its first ``max_rows`` and links to all of them as a CSV (inside the page)."""
    import base64

    import pandas as pd

    if not isinstance(df, pd.DataFrame):  # polars
        df = pd.DataFrame({c: df[c].to_list() for c in df.columns})
    n = len(df)
    cut = n > max_rows + 5
    shown = df.head(max_rows) if cut else df
    keep_index = not isinstance(df.index, pd.RangeIndex) or df.index.name is not None
    body = shown.to_html(max_rows=None, max_cols=None, index=keep_index, border=0, na_rep="", float_format=_num,
                         formatters=None, escape=True, classes="psy-table")
    body = _breakable(body)
    if not cut:
        return body
    csv = df.to_csv(index=keep_index).encode("utf-8")
    href = "data:text/csv;base64," + base64.b64encode(csv).decode("ascii")
    return (body + f"<p class='psy-note'>The first {max_rows} of {n:,} rows. <a download='{name}.csv' "
            f"href='{href}'>All {n:,} rows as CSV</a>.</p>")


def install_report_display(max_rows: int = MAX_TABLE_ROWS) -> None:
    """In the notebook's kernel: show pandas and polars DataFrames (and pandas Series) with :func:`table_html`."""
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None:
        return
    fmt = ip.display_formatter.formatters["text/html"]
    counter = iter(range(1, 10_000))

    def show(df):
        return table_html(df, max_rows, name=f"table_{next(counter)}")

    def show_series(sr):  # a Series as a two-column table, values whole (pandas' text cuts them with "...")
        return show(sr.to_frame(name=sr.name if sr.name is not None else "value"))

    import pandas as pd
    import polars as pl

    fmt.for_type(pd.DataFrame, show)  # by class: pandas reports its classes' module as "pandas"
    fmt.for_type(pd.Series, show_series)
    fmt.for_type(pl.DataFrame, show)


def machine_paths():
    """(pattern, replacement) pairs that turn this machine's absolute paths into paths relative to the
    repository (or ``~``, or a named temporary folder)."""
    import re

    root = re.escape(str(ROOT))
    home = re.escape(str(Path.home()))
    tmp = re.escape(tempfile.gettempdir())
    return [(re.compile(r"(?:Posix|Windows)?Path\((['\"])(.*?)\1\)"), lambda m: m.group(1) + m.group(2) + m.group(1)),
            (re.compile(root + r"/"), lambda m: ""), (re.compile(root + r"\b"), lambda m: "."),
            (re.compile(tmp + r"/[^\s'\"<>)]*"), lambda m: "(a temporary folder)"),
            (re.compile(home + r"(?=/)"), lambda m: "~")]


def strip_machine_paths(text: str, pairs=None) -> str:
    for pat, rep in pairs or machine_paths():
        text = pat.sub(rep, text)
    return text


def _strip_outputs(nb) -> None:
    pairs = machine_paths()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = strip_machine_paths(out["text"], pairs)
            for mime, val in (out.get("data") or {}).items():
                if isinstance(val, str) and mime.startswith("text/"):
                    out["data"][mime] = strip_machine_paths(val, pairs)
            if "traceback" in out:
                out["traceback"] = [strip_machine_paths(t, pairs) for t in out["traceback"]]


def notebook_title(nb) -> str | None:
    """The first level-1 heading of the notebook's markdown."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


def _flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict) and value:
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, value)]


def parameters_html(source: str) -> str | None:
    """The injected parameters (``params = {...}``) as a compact two-column table inside a folded box."""
    import ast
    import html

    rows: list[tuple[str, object]] = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            flat = _flatten(value)
            rows += [(k, v) for k, v in flat if k] if isinstance(value, dict) else [(node.targets[0].id, value)]
    if not rows:
        return None

    def show(v):
        if isinstance(v, (list, tuple)):
            return ", ".join(show(x) for x in v) if v else "(none)"
        return "null" if v is None else ("(none)" if v == {} else str(v))

    body = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(strip_machine_paths(show(v)))}</td></tr>"
                   for k, v in rows)
    return (f"<details class='psy-params'><summary>Parameters of this run ({len(rows)} values, from "
            f"<code>params.yaml</code> with every default filled in)</summary><table class='psy-params'>{body}</table>"
            "</details>")


def prepare_report(nb) -> None:
    """The report a reader opens: the runner's setup cell dropped, the notebook's own title, the injected
    parameters shown as a compact table, and no output showing a path of this machine."""
    import nbformat

    nb.cells = [c for c in nb.cells if REPORT_SETUP_TAG not in c.metadata.get("tags", [])]
    title = notebook_title(nb)
    if title:
        nb.metadata["title"] = title
    for cell in nb.cells:
        if cell.cell_type == "code" and "injected-parameters" in cell.metadata.get("tags", []):
            table = parameters_html(cell.source)
            if table:
                cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": table})]
    _strip_outputs(nb)


def report_exporter():
    """nbconvert's HTML exporter with the report's template, compiled (the template is loaded and compiled on first
    use: done here, so that the runner can prepare it in a thread while the kernel runs the notebook)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"psy_report.html.j2": FOLDED_TEMPLATE})])
    exporter.template_file = "psy_report.html.j2"
    exporter.from_notebook_node(_sample_notebook())  # compiles the templates, loads the highlighter and markdown
    return exporter


def _sample_notebook():
    """A small notebook with the kinds of cell and output a report has (rendered once, and thrown away, to prepare
    the exporter)."""
    from nbformat import v4

    code = v4.new_code_cell("x = 1\nprint(x)")
    code.outputs = [v4.new_output("stream", name="stdout", text="1\n"),
                    v4.new_output("execute_result", execution_count=1,
                                  data={"text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "1"}),
                    v4.new_output("display_data", data={"text/markdown": "**a** `b`", "text/plain": "a"}),
                    v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})]
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# a\n\n*b* [c](d)"), code])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


class _Prepared:
    """A value computed in a background thread; ``get()`` waits for it (and raises what the thread raised)."""

    def __init__(self, fn):
        import threading

        self.fn, self.value, self.error = fn, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as e:  # pragma: no cover - re-raised by get()
            self.error = e

    def get(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value


def to_html(nb, html: Path, exporter=None) -> None:
    exporter = exporter or report_exporter()
    body, _ = exporter.from_notebook_node(nb)
    html.write_text(body, encoding="utf-8")


# ---- outputs staged, then moved into place: a failed or killed stage loses no committed result ----------
# dvc.yaml marks these outputs `persist: true`, so DVC no longer deletes them before the stage runs; the
# stage writes into a staging folder instead (analysis.core.paths.staged reads the mapping from
# PSY_STAGE_OUTPUTS) and only a notebook that ran to the end replaces them, whole: files a previous run
# wrote and this one did not are gone afterwards, as if DVC had deleted the outputs first.
STAGING_DIR = ".stage"  # under the repository root (same file system, so the moves are renames); git-ignored


def stage_outputs(study: str, name: str) -> list[Path]:
    """The data outputs of a stage as dvc.yaml lists them (the reports are handled by ``run`` itself)."""
    if (study, name) in STANDALONE_OUTPUTS:
        return [ROOT / p for p in STANDALONE_OUTPUTS[study, name]]
    if study == CROSS_STUDY:
        return [ROOT / "figures" / study, ROOT / "metrics" / f"{study}.json",
                ROOT / "data" / "results" / "synthesis_summary.md", ROOT / "data" / "results" / "self_report_vs_behaviour.csv"]
    if KIND.get(name) == "collect":
        return [ROOT / "data" / "raw" / study]
    return [ROOT / "data" / "processed" / study, ROOT / "figures" / study, ROOT / "metrics" / f"{study}.json"]


def staging_area(study: str, name: str) -> Path:
    return ROOT / STAGING_DIR / study / name


def _staged_path(area: Path, real: Path, which: str) -> Path:
    return area / which / real.relative_to(ROOT)


def recover_outputs(area: Path, outputs: list[Path]) -> None:
    """Undo what a stage killed in the middle of ``publish_outputs`` left: an output moved aside and not yet
    replaced goes back. Then the staging area of the killed run is removed."""
    for real in outputs:
        old = _staged_path(area, real, "old")
        if old.exists() and not real.exists():
            real.parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, real)
    shutil.rmtree(area, ignore_errors=True)


def prepare_outputs(area: Path, outputs: list[Path]) -> dict[str, str]:
    """An empty staging place for each output (a folder for a folder output), and the mapping the kernel
    reads (``PSY_STAGE_OUTPUTS``)."""
    recover_outputs(area, outputs)
    mapping = {}
    for real in outputs:
        new = _staged_path(area, real, "new")
        (new if not real.suffix else new.parent).mkdir(parents=True, exist_ok=True)
        mapping[str(real)] = str(new)
    return mapping


def publish_outputs(area: Path, outputs: list[Path]) -> None:
    """Replace each output with what the stage wrote (renames; an output the stage did not write is removed,
    as DVC would have removed it before the run), then remove the staging area."""
    for real in outputs:
        new, old = _staged_path(area, real, "new"), _staged_path(area, real, "old")
        if real.exists():
            old.parent.mkdir(parents=True, exist_ok=True)
            os.replace(real, old)
        if new.exists():
            real.parent.mkdir(parents=True, exist_ok=True)
            os.replace(new, real)
    shutil.rmtree(area, ignore_errors=True)


class _Tail:
    """Copy what the kernel writes to the progress file onto this process's terminal, as it grows."""

    def __init__(self, path: Path):
        import threading

        self.path, self.stop = path, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pos = 0
        while True:
            stopping = self.stop.wait(0.5)
            try:
                with open(self.path, encoding="utf-8", errors="replace") as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos = f.tell()
            except OSError:
                chunk = ""
            if chunk:
                sys.stderr.write(chunk)
                sys.stderr.flush()
            if stopping:
                return

    def __enter__(self):
        self.path.touch()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


STAGE_TMP = DATA_DIR / "cache" / "tmp"  # git-ignored, beside the response store


class stage_tmp:
    """The stage's working folder, ``data/cache/tmp/.psy-nb-<study>-<name>.tmp<pid>.*``, not the system temp
    folder: removed when the stage ends, and a folder left by a stage killed with ``kill -9`` (which runs no
    clean-up) is removed when any stage starts again."""

    def __init__(self, study: str, name: str, base: Path | None = None):
        self.base, self.stem = Path(base or STAGE_TMP), f"psy-nb-{study}-{name}"

    def __enter__(self) -> str:
        self.base.mkdir(parents=True, exist_ok=True)
        for f in self.base.glob(".psy-nb-*.tmp*"):  # every stage's leftovers, not only this one's
            clean_stale(self.base, f.name[1:].split(".tmp")[0])
        self.path = tempfile.mkdtemp(dir=self.base, prefix=temp_prefix(self.stem))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def run(notebook: str | Path, params_file: str | Path = PARAMS_FILE) -> tuple[Path, Path]:
    notebook = Path(notebook)
    study, name = locate(notebook)
    out_nb, out_html = report_paths(study, name)
    outputs, area = stage_outputs(study, name), staging_area(study, name)
    t0 = time.perf_counter()
    with stage_tmp(study, name) as tmp:
        progress_file = Path(tmp) / "progress.log"
        tmp_nb, tmp_html = Path(tmp) / out_nb.name, Path(tmp) / out_html.name
        # outside the clean-up below: a recovery that fails halfway keeps the outputs it had moved aside
        staged = prepare_outputs(area, outputs)
        try:
            with _Tail(progress_file), _env(PSY_PROGRESS_FILE=str(progress_file),
                                            PSY_STAGE_OUTPUTS=json.dumps(staged)):
                km = start_kernel(notebook)  # starts on the other core while this process goes on
                try:
                    nb, exporter = _execute(notebook, study, name, params_file, tmp_nb, km)
                except BaseException:
                    try:
                        kill_kernel(km)
                    except Exception:  # noqa: S110 - the stage's own error is the one to show; the lifeline ends
                        pass  # the kernel when this process exits
                    raise
            try:
                request_stop(km)  # the kernel exits while the report is written
                drop_placeholder(nb)
                prepare_report(nb)
                nbformat_write(nb, tmp_nb)
                to_html(nb, tmp_html, exporter.get())
            finally:
                stop_kernel(km)  # waits for the kernel to be gone before anything is published
        except BaseException:
            shutil.rmtree(area, ignore_errors=True)  # nothing was published: the committed outputs are untouched
            raise
        publish_outputs(area, outputs)
        out_nb.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp_nb, out_nb)
        shutil.move(tmp_html, out_html)
        print(f"{notebook} ran in {time.perf_counter() - t0:.1f} s -> {out_html.relative_to(ROOT)}", file=sys.stderr)
    return out_nb, out_html


def nbformat_write(nb, path: Path) -> None:
    import nbformat

    nbformat.write(nb, path)


def _execute(notebook: Path, study: str, name: str, params_file, tmp_nb: Path, km):
    """Validate the parameters, read the notebook and run it on the started kernel ``km``; the HTML exporter is
    prepared in a thread meanwhile. Returns the executed notebook and the prepared exporter."""
    injected = stage_parameters(study, name, params_file)
    import nbformat
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    source = read_source(notebook)
    add_report_setup(source)
    exporter = _Prepared(report_exporter)
    dead = (f"{notebook} failed: the notebook's kernel died (killed, or out of memory: see `dmesg`); the answers "
            "it got are in the response store, so `dvc repro` resumes from there.")
    try:
        pm.execute_notebook(source, str(tmp_nb), parameters=injected, cwd=str(ROOT), kernel_name="python3",
                            progress_bar=False, log_output=True, report_mode=False,
                            request_save_on_cell_execute=False, km=km, start_timeout=KERNEL_START_S)
    except DeadKernelError:
        raise SystemExit(dead) from None
    except RuntimeError as e:  # jupyter_client's wait for a kernel that is starting (its imports included)
        if "Kernel died before replying" in str(e):
            raise SystemExit(f"{notebook} failed: the notebook's kernel died while it started and imported the "
                             "notebook's modules (a module that ends the process when imported, or out of memory: see "
                             "`dmesg`); no cell ran.") from None
        if "didn't respond in" in str(e):
            raise SystemExit(f"{notebook} failed: the notebook's kernel did not start within {KERNEL_START_S} s "
                             "(importing the notebook's modules included); run the stage again on a less busy "
                             "machine.") from None
        raise
    except PapermillExecutionError as e:
        user = e.ename in user_error_names(study)
        keep = REPORTS_DIR / "failed" / study / tmp_nb.name
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_nb, keep)
        msg = e.evalue if user else f"{e.ename}: {e.evalue}"
        raise SystemExit(f"{notebook} failed: {msg} (executed notebook kept at {keep.relative_to(ROOT)})") from None
    return nbformat.read(tmp_nb, as_version=4), exporter


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", help="notebooks/<study>/<name>.py")
    ap.add_argument("--params-file", default=str(PARAMS_FILE))
    a = ap.parse_args(argv)
    try:
        run(a.notebook, a.params_file)
    except UserError as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
    # The stage is over: its files are written, closed and moved into place, and its kernel has exited. The
    # interpreter's own teardown (finalizing some 135,000 objects and the libraries' thread pools) took 0.2 s of
    # every stage and does nothing a stage needs, so the process ends here (a failure above exits as before).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
