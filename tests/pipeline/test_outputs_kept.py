"""No failure loses committed results (issue 20, point 2): a stage that fails, or is killed with SIGKILL,
leaves its outputs byte for byte as they were, both under DVC (`persist: true`: DVC no longer deletes them
first) and in the stage runner (outputs are written to a staging folder and moved into place only when the
notebook ran to the end); a successful run leaves no stale file of the previous one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeLlamaServer, copy_repo, sh, snapshot  # noqa: E402

ANALYSIS_OUTS = ["data/processed/bigfive", "figures/bigfive", "metrics/bigfive.json",
                 "reports/bigfive/02_analysis.html", "reports/bigfive/02_analysis.ipynb"]
COLLECT_OUTS = ["data/raw/bigfive", "reports/bigfive/01_collect.html", "reports/bigfive/01_collect.ipynb"]

HEADER = '# %% tags=["parameters"]\nparams = None\n\n# %%\n'
WRITES = """from analysis.core.paths import processed_dir, figures_dir, metrics_file
from analysis.core.io import write_text
write_text("new", processed_dir("bigfive") / "new.csv")
write_text("{}", metrics_file("bigfive"))
(figures_dir("bigfive") / "persona_effects.png").write_bytes(b"not the old figure")
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dst = tmp_path_factory.mktemp("outputs") / "repo"
    env = copy_repo(dst)
    return dst, env


@pytest.fixture
def analysis_notebook(repo):
    root, _ = repo
    nb = root / "notebooks" / "bigfive" / "02_analysis.py"
    original = nb.read_text()
    yield nb
    nb.write_text(original)


def run_stage(root: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.pipeline.run_notebook", "notebooks/bigfive/02_analysis.py"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900)


def kill_when(cmd: str, root: Path, env: dict, ready, timeout: float = 600) -> None:
    """Start ``cmd`` in its own process group, wait until ``ready()``, then SIGKILL the whole group."""
    proc = subprocess.Popen(cmd, cwd=root, env=env, shell=True, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"{cmd} ended (code {proc.returncode}) before it could be killed"
            assert time.monotonic() < deadline, f"{cmd} did not get far enough within {timeout} s"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(0.5)  # the kernel's lifeline stops it within 50 ms of its parent's death


def test_a_failing_analysis_leaves_every_output_as_it_was(repo, analysis_notebook):
    root, env = repo
    before = snapshot(root, ANALYSIS_OUTS)
    assert before
    analysis_notebook.write_text(HEADER + WRITES + "raise RuntimeError('failed after writing')\n")
    r = run_stage(root, env)
    assert r.returncode != 0 and "failed after writing" in r.stderr
    assert snapshot(root, ANALYSIS_OUTS) == before
    assert not (root / ".stage" / "bigfive" / "02_analysis").exists()  # the staging area is gone


def test_a_killed_analysis_leaves_every_output_as_it_was_and_a_success_leaves_nothing_stale(repo, analysis_notebook):
    root, env = repo
    before = snapshot(root, ANALYSIS_OUTS)
    marker = root / "wrote"
    analysis_notebook.write_text(HEADER + WRITES + f"open({str(marker)!r}, 'w').close()\nimport time\ntime.sleep(600)\n")
    cmd = f"{sys.executable} -m analysis.pipeline.run_notebook notebooks/bigfive/02_analysis.py"
    kill_when(cmd, root, env, marker.exists)
    assert snapshot(root, ANALYSIS_OUTS) == before
    # the next run succeeds: the outputs are exactly what it wrote (no file of the previous run survives)
    analysis_notebook.write_text(HEADER + WRITES)
    r = run_stage(root, env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (root / "data/processed/bigfive").iterdir()) == ["new.csv"]
    assert sorted(p.name for p in (root / "figures/bigfive").iterdir()) == ["persona_effects.png"]
    assert (root / "metrics/bigfive.json").read_text() == "{}"
    assert not (root / ".stage" / "bigfive" / "02_analysis").exists()


def _use(root: Path, spec: str) -> None:
    p = root / "params.yaml"
    raw = yaml.safe_load(p.read_text())
    raw["models"] = [spec]
    p.write_text(yaml.safe_dump(raw, sort_keys=False))


def test_dvc_keeps_the_collection_when_the_target_fails(repo):
    root, env = repo
    before = snapshot(root, COLLECT_OUTS)
    assert before
    with FakeLlamaServer(fail=True) as srv:
        _use(root, f"openai:qwen@{srv.base_url}")
        sh("dvc repro -s resolve", root, env)
        r = sh("dvc repro -f -s collect@bigfive", root, env, ok=False)
    assert r.returncode != 0 and "HTTP 400" in r.stdout + r.stderr
    assert snapshot(root, COLLECT_OUTS) == before


def test_dvc_keeps_the_collection_when_the_stage_is_killed(repo):
    root, env = repo
    before = snapshot(root, COLLECT_OUTS)
    with FakeLlamaServer(delay_s=0.5) as srv:
        _use(root, f"openai:qwen@{srv.base_url}")
        sh("dvc repro -s resolve", root, env)
        kill_when("dvc repro -f -s collect@bigfive", root, env, lambda: srv.chat_calls >= 3)
    assert snapshot(root, COLLECT_OUTS) == before


SYNTHESIS_OUTS = ["data/results/synthesis_summary.md", "data/results/self_report_vs_behaviour.csv",
                  "figures/synthesis", "metrics/synthesis.json"]


def test_a_failing_synthesis_leaves_its_summary_and_csv_as_they_were(repo):
    """The cross-study notebook, run to its end and then failing, replaces none of its outputs: the summary
    and the plot's CSV in data/results/ are staged like its figures and metrics."""
    root, env = repo
    for f in SYNTHESIS_OUTS[:2]:
        (root / f).write_text("the previous run's\n")  # differs from what the notebook writes
    before = snapshot(root, SYNTHESIS_OUTS)
    nb = root / "notebooks" / "synthesis" / "across_studies.py"
    original = nb.read_text()
    nb.write_text(original + "\n# %%\nraise RuntimeError('failed after writing')\n")
    try:
        r = subprocess.run([sys.executable, "-m", "analysis.pipeline.run_notebook", "notebooks/synthesis/across_studies.py"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=900)
    finally:
        nb.write_text(original)
    assert r.returncode != 0 and "failed after writing" in r.stdout + r.stderr, r.stderr[-2000:]
    assert snapshot(root, SYNTHESIS_OUTS) == before
