"""Run one study notebook as a DVC stage: inject parameters from params.yaml, execute it with
papermill, and render it to HTML next to the executed notebook.

    python -m analysis.run_notebook notebooks/bigfive/01_collect.ipynb --params models,seed,targets,bigfive.collect

Each listed key becomes a papermill parameter named by its last component ('bigfive.collect' ->
``collect``). The notebook is executed in a temporary folder and moved into reports/ only when it
ran to the end, so a failed stage leaves no half-written report; a user-facing error inside the
notebook is printed as its one sentence.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from analysis.errors import UserError
from analysis.params import get, load_params
from analysis.paths import REPORTS_DIR, ROOT


def user_error_names() -> set[str]:
    """Names of every UserError subclass in the analysis package (their messages are shown as they are)."""
    import importlib
    import pkgutil

    import analysis

    for m in pkgutil.iter_modules(analysis.__path__):
        try:
            importlib.import_module(f"analysis.{m.name}")
        except Exception:  # pragma: no cover - a broken module must not hide the original error
            pass
    names, todo = set(), [UserError]
    while todo:
        c = todo.pop()
        names.add(c.__name__)
        todo.extend(c.__subclasses__())
    return names


def report_paths(notebook: Path) -> tuple[Path, Path]:
    rel = notebook.resolve().relative_to(ROOT / "notebooks")
    base = REPORTS_DIR / rel.parent / rel.stem
    return base.with_suffix(".ipynb"), base.with_suffix(".html")


def to_html(executed: Path, html: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    html.write_text(body, encoding="utf-8")


def run(notebook: str | Path, keys: list[str], params_file: str | Path | None = None) -> tuple[Path, Path]:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    params = load_params(params_file) if params_file else load_params()
    injected = {k.split(".")[-1]: get(params, k) for k in keys if k}
    out_nb, out_html = report_paths(notebook)
    with tempfile.TemporaryDirectory(prefix="psy-nb-") as tmp:
        tmp_nb, tmp_html = Path(tmp) / out_nb.name, Path(tmp) / out_html.name
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(notebook), str(tmp_nb), parameters=injected, cwd=str(ROOT), kernel_name="python3",
                                progress_bar=False, log_output=True, report_mode=False)
        except PapermillExecutionError as e:
            user = e.ename in user_error_names()
            keep = REPORTS_DIR / "failed" / out_nb.name
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_nb, keep)
            msg = e.evalue if user else f"{e.ename}: {e.evalue}"
            raise SystemExit(f"{notebook} failed: {msg} (executed notebook kept at {keep.relative_to(ROOT)})") from None
        to_html(tmp_nb, tmp_html)
        out_nb.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp_nb, out_nb)
        shutil.move(tmp_html, out_html)
        print(f"{notebook} ran in {time.perf_counter() - t0:.1f} s -> {out_html.relative_to(ROOT)}", file=sys.stderr)
    return out_nb, out_html


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("--params", default="", help="comma-separated params.yaml keys to inject")
    ap.add_argument("--params-file", default=None)
    a = ap.parse_args(argv)
    try:
        run(a.notebook, [k.strip() for k in a.params.split(",") if k.strip()], a.params_file)
    except UserError as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
