"""The DVC pipeline end to end on the real embedded 0.5B model with the tiny profile, in a temporary
copy of the repository: every output is produced; a second `dvc repro` runs no stage; changing an
analysis-only parameter re-runs only analysis stages and makes zero model calls."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from analysis.core.paths import ROOT
from analysis.pipeline.profile import apply
from analysis.core.store import ResponseStore

pytestmark = pytest.mark.model


def sh(cmd, cwd, env):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=True)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dst = tmp_path_factory.mktemp("pipeline") / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).exists():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    env = {**os.environ, "PSY_STORE": str(dst / "store.sqlite"), "PYTHONPATH": str(dst)}
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", dst, env)
    apply(ROOT / "profiles" / "tiny.yaml", dst / "params.yaml")
    return dst, env


def ran(log: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", log)


def test_repro_then_noop_then_analysis_only(repo):
    dst, env = repo
    stages = list(yaml.safe_load((dst / "dvc.yaml").read_text())["stages"])
    log = sh("dvc repro", dst, env)
    assert sorted(ran(log)) == sorted(stages)
    dvc = yaml.safe_load((dst / "dvc.yaml").read_text())["stages"]
    for st in dvc.values():
        for out in st["outs"]:
            assert (dst / out).exists(), out
    assert (dst / "reports/index.html").exists()
    n_calls = ResponseStore(dst / "store.sqlite").count()
    assert n_calls > 0

    log2 = sh("dvc repro", dst, env)
    assert ran(log2) == []

    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["bigfive"]["analysis"]["ci"] = 0.9
    params["sycophancy"]["analysis"]["ci"] = 0.9
    params["therapy"]["analysis"]["ci"] = 0.9
    params["illusion"]["analysis"]["alpha"] = 0.1
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log3 = sh("dvc repro", dst, env)
    again = ran(log3)
    assert again and all(s.endswith("_analyze") or s == "render_index" for s in again), again
    assert ResponseStore(dst / "store.sqlite").count() == n_calls
