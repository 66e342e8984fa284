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
from analysis.core.paths import NOTEBOOKS_DIR, PARAMS_FILE, REPORTS_DIR, ROOT

KIND = {"01_collect": "collect", "02_analysis": "analysis"}
# notebooks that read every study's results (no study, no parameters)
CROSS_STUDY = "synthesis"


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
    base = REPORTS_DIR / study / name
    return base.with_suffix(".ipynb"), base.with_suffix(".html")


def stage_parameters(study_id: str, name: str, params_file: str | Path = PARAMS_FILE) -> dict:
    """The papermill parameters of a stage. Every section of params.yaml (the project's and every
    study's) is validated, every default filled in, before the notebook starts, so no model is called
    while any parameter is wrong."""
    from analysis.core.params import read_yaml
    from analysis.pipeline.params import validate_all
    from analysis.studies import get

    if study_id == CROSS_STUDY:
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


def to_html(nb, html: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    html.write_text(body, encoding="utf-8")


# ---- outputs staged, then moved into place: a failed or killed stage loses no committed result ----------
# dvc.yaml marks these outputs `persist: true`, so DVC no longer deletes them before the stage runs; the
# stage writes into a staging folder instead (analysis.core.paths.staged reads the mapping from
# PSY_STAGE_OUTPUTS) and only a notebook that ran to the end replaces them, whole: files a previous run
# wrote and this one did not are gone afterwards, as if DVC had deleted the outputs first.
STAGING_DIR = ".stage"  # under the repository root (same file system, so the moves are renames); git-ignored


def stage_outputs(study: str, name: str) -> list[Path]:
    """The data outputs of a stage as dvc.yaml lists them (the reports are handled by ``run`` itself)."""
    if study == CROSS_STUDY:
        return [ROOT / "figures" / study, ROOT / "metrics" / f"{study}.json"]
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


def run(notebook: str | Path, params_file: str | Path = PARAMS_FILE) -> tuple[Path, Path]:
    import nbformat
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    study, name = locate(notebook)
    injected = stage_parameters(study, name, params_file)
    out_nb, out_html = report_paths(study, name)
    outputs, area = stage_outputs(study, name), staging_area(study, name)
    staged = prepare_outputs(area, outputs)
    with tempfile.TemporaryDirectory(prefix="psy-nb-") as tmp:
        tmp_nb, tmp_html = Path(tmp) / out_nb.name, Path(tmp) / out_html.name
        t0 = time.perf_counter()
        progress_file = Path(tmp) / "progress.log"
        try:
            with _Tail(progress_file), _env(PSY_PROGRESS_FILE=str(progress_file),
                                            PSY_STAGE_OUTPUTS=json.dumps(staged)):
                pm.execute_notebook(read_source(notebook), str(tmp_nb), parameters=injected, cwd=str(ROOT),
                                    kernel_name="python3", progress_bar=False, log_output=True, report_mode=False,
                                    extra_arguments=KERNEL_ARGS)
        except DeadKernelError:
            shutil.rmtree(area, ignore_errors=True)
            raise SystemExit(f"{notebook} failed: the notebook's kernel died (killed, or out of memory: see "
                             "`dmesg`); the answers it got are in the response store, so `dvc repro` resumes "
                             "from there.") from None
        except PapermillExecutionError as e:
            shutil.rmtree(area, ignore_errors=True)
            user = e.ename in user_error_names(study)
            keep = REPORTS_DIR / "failed" / study / out_nb.name
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_nb, keep)
            msg = e.evalue if user else f"{e.ename}: {e.evalue}"
            raise SystemExit(f"{notebook} failed: {msg} (executed notebook kept at {keep.relative_to(ROOT)})") from None
        nb = nbformat.read(tmp_nb, as_version=4)
        drop_placeholder(nb)
        nbformat.write(nb, tmp_nb)
        to_html(nb, tmp_html)
        publish_outputs(area, outputs)
        out_nb.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp_nb, out_nb)
        shutil.move(tmp_html, out_html)
        print(f"{notebook} ran in {time.perf_counter() - t0:.1f} s -> {out_html.relative_to(ROOT)}", file=sys.stderr)
    return out_nb, out_html


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
