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


def _kernels_of_this_process() -> list[int]:
    """Child processes of this test process that run an IPython kernel."""
    import os
    from pathlib import Path

    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and "ipykernel" in cmd:
            found.append(int(p.name))
    return found


def test_the_notebooks_modules_are_imported_while_its_kernel_starts(sandbox):
    """The kernel starts before the runner validates the parameters, and imports the modules the notebook's
    import statements name meanwhile: the first cell finds its module already imported, and no name of that
    warm-up is left in the notebook's namespace."""
    root, params = sandbox
    (root / "psy_probe_module.py").write_text("VALUE = 41\n")
    nb = notebook(root, "02_analysis", "import json, sys\n"
                                       "warm = 'psy_probe_module' in sys.modules\n"
                                       "from psy_probe_module import VALUE\n"
                                       "left = sorted(n for n in dir() if n.startswith('_psy'))\n"
                                       "open('out.json', 'w').write(json.dumps([warm, VALUE + 1, left]))")
    rn.run(nb, params)
    assert json.loads((root / "out.json").read_text()) == [True, 42, []]
    assert not _kernels_of_this_process()


def test_a_module_that_fails_fails_in_the_notebooks_own_cell(sandbox):
    root, params = sandbox
    nb = notebook(root, "02_analysis", "import psy_no_such_module_anywhere")
    with pytest.raises(SystemExit, match="ModuleNotFoundError: No module named 'psy_no_such_module_anywhere'"):
        rn.run(nb, params)
    assert not (root / "reports/bigfive/02_analysis.html").exists()
    assert not _kernels_of_this_process()


def test_refused_parameters_stop_the_kernel_already_started_and_leave_no_staging(sandbox):
    root, params = sandbox
    params.write_text(yaml.safe_dump({"models": ["embedded:qwen2.5-coder-0.5b"], "bigfive": {"analysis": {"cii": 1}}}))
    nb = notebook(root, "02_analysis", "open('ran', 'w').write('x')")
    with pytest.raises(ParamsError):
        rn.run(nb, params)
    assert not _kernels_of_this_process()
    assert not rn.staging_area("bigfive", "02_analysis").exists()


def test_notebook_imports_are_read_from_the_script_without_running_it(tmp_path):
    script = tmp_path / "nb.py"
    script.write_text("# %%\nimport os, polars as pl\nfrom analysis.core import io, paths as p\nfrom . import x\n"
                      "if True:\n    from analysis.studies.illusion import han2025_protocol as han\n"
                      "from __future__ import annotations\nopen('ran', 'w')\n")
    assert rn.notebook_imports(script) == ["os", "polars", "analysis.core", "analysis.core.io", "analysis.core.paths",
                                           "analysis.studies.illusion", "analysis.studies.illusion.han2025_protocol"]
    assert not (tmp_path / "ran").exists()
    script.write_text("# %%\n%matplotlib inline\nimport os\n")
    assert rn.notebook_imports(script) == []


def test_a_kernel_killed_with_its_stage_during_the_imports_stops_at_once(tmp_path):
    """The lifeline is the first thing the kernel runs (before the notebook's imports): a stage killed while its
    kernel still imports leaves no kernel behind for more than a moment."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    probe = tmp_path / "slow_probe_module.py"
    probe.write_text("import time\ntime.sleep(30)\n")
    script = tmp_path / "stage.py"
    script.write_text(
        "import sys, time\nsys.path.insert(0, sys.argv[1])\n"
        "from jupyter_core.utils import run_sync\n"
        "from jupyter_client.manager import AsyncKernelManager\n"
        "from analysis.pipeline.run_notebook import KERNEL_ARGS, warm_imports_line\n"
        "km = AsyncKernelManager(kernel_name='python3')\n"
        "line = warm_imports_line(['slow_probe_module'])\n"
        "run_sync(km.start_kernel)(extra_arguments=[*KERNEL_ARGS, f'--IPKernelApp.exec_lines={line}'], cwd=sys.argv[1])\n"
        "print(km.provisioner.pid, flush=True)\ntime.sleep(60)\n")
    stage = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    kernel = int(stage.stdout.readline())
    time.sleep(3)  # the kernel is importing the slow module now
    os.kill(stage.pid, signal.SIGKILL)
    stage.wait()
    def running() -> bool:  # a killed process stays a zombie until its new parent reaps it
        try:
            return (Path(f"/proc/{kernel}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
        except (OSError, IndexError):
            return False

    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:
        if not running():
            break
        time.sleep(0.02)
    else:
        os.kill(kernel, signal.SIGKILL)
        pytest.fail("the kernel outlived its stage by 5 s")
    assert time.monotonic() - t0 < 0.5


def test_a_kernel_that_dies_while_it_imports_is_one_sentence(sandbox):
    """A module that ends the process when imported kills the kernel during its start (the warm-up imports):
    one sentence, no report, no kernel, no staging left."""
    root, params = sandbox
    (root / "psy_exit_probe.py").write_text("import os\nos._exit(3)\n")
    nb = notebook(root, "02_analysis", "import psy_exit_probe")
    with pytest.raises(SystemExit) as e:
        rn.run(nb, params)
    msg = str(e.value)
    assert "kernel died while it started" in msg and "\n" not in msg and "Traceback" not in msg
    assert not (root / "reports/bigfive/02_analysis.html").exists()
    assert not _kernels_of_this_process()
    assert not rn.staging_area("bigfive", "02_analysis").exists()
