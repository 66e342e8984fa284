"""Adding a study is adding a folder: the commands of docs/ADD_A_STUDY.md, run word for word in a scratch
copy of the repository, make a questionnaire study that `dvc repro` collects and analyses on the tiny
profile (real 0.5B model), touching six files."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.core.paths import ROOT

pytestmark = pytest.mark.model


def guide_commands(new: str) -> list[str]:
    text = (ROOT / "docs" / "ADD_A_STUDY.md").read_text()
    block = re.search(r"run, word for word, by tests/pipeline/test_new_study.py -->\n```bash\n(.*?)```", text, re.S)
    assert block, "docs/ADD_A_STUDY.md lost its tested command block"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    assert lines[0].startswith("NEW=")
    return [f"NEW={new}"] + lines[1:]


def sh(cmd: str, cwd: Path, env: dict) -> str:
    r = subprocess.run(["bash", "-ec", cmd], cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


def test_a_throwaway_study_from_the_template_runs_through_dvc(tmp_path):
    dst = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PSY_STORE": str(tmp_path / "store.sqlite"), "PATH": f"{venv_bin}:{os.environ['PATH']}",
           "PYTHONPATH": str(dst)}
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", dst, env)

    cmds = guide_commands("throwaway")
    *setup, repro = cmds
    assert repro == "uv run dvc repro analyze@$NEW"
    sh("\n".join(setup), dst, env)
    changed = sh("git status --porcelain -uall", dst, env).splitlines()
    assert len(changed) == 6, changed

    sh("python -m analysis.pipeline.profile tiny", dst, env)
    log = sh("dvc repro analyze@throwaway", dst, env)
    assert "collect@throwaway" in log and "analyze@throwaway" in log
    for out in ("data/raw/throwaway/items.parquet", "metrics/throwaway.json", "figures/throwaway/scores.png",
                "reports/throwaway/01_collect.html", "reports/throwaway/02_analysis.html"):
        assert (dst / out).exists(), out
    import json

    m = json.loads((dst / "metrics/throwaway.json").read_text())
    (model,) = m
    assert model.startswith("embedded:qwen2_5-coder-0_5b") or "0_5b" in model
    assert all(v["n"] >= 1 for v in m[model].values())
