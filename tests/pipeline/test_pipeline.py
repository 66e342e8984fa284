"""The DVC pipeline end to end on the real embedded 0.5B model with the tiny profile, in a temporary
copy of the repository: every output is produced; every figure a notebook draws is embedded in its
report; a second `dvc repro` runs no stage; changing an analysis-only parameter re-runs only analysis
stages and makes zero model calls."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.core.paths import ROOT
from analysis.core.store import ResponseStore
from analysis.studies import all_studies

pytestmark = pytest.mark.model


def sh(cmd, cwd, env):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=True)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dst = tmp_path_factory.mktemp("pipeline") / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        if (ROOT / f).is_file() and not f.startswith(("reports/", "figures/", "data/raw/", "data/processed/",
                                                       "metrics/", "dvc.lock")):
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PSY_STORE": str(dst / "store.sqlite"), "PYTHONPATH": str(dst),
           "PATH": f"{venv_bin}:{os.environ['PATH']}"}
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", dst, env)
    sh("python -m analysis.pipeline.profile tiny", dst, env)
    return dst, env


def ran(log: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", log)


def images_in(html: Path) -> int:
    return len(re.findall(r"<img[^>]*src=\"data:image/png;base64", html.read_text(encoding="utf-8")))


def test_repro_then_noop_then_analysis_only(repo):
    dst, env = repo
    log = sh("dvc repro", dst, env)
    studies = list(all_studies())
    assert sorted(ran(log)) == sorted([f"{k}@{s}" for s in studies for k in ("collect", "analyze")]
                                      + ["resolve", "results", "synthesis", "reanalyse_han2025", "render_index"])
    from dvc.repo import Repo

    with Repo(str(dst)) as r:
        for st in r.index.stages:
            for out in st.outs:
                assert (dst / str(out.def_path)).exists(), out.def_path
    index = (dst / "reports/index.html").read_text()
    for sid, study in all_studies().items():
        assert study.title in index
        m = json.loads((dst / "metrics" / f"{sid}.json").read_text())
        assert m, f"metrics/{sid}.json is empty"
        # every figure the analysis notebook wrote is shown in its rendered report
        pngs = list((dst / "figures" / sid).glob("*.png"))
        assert images_in(dst / "reports" / sid / "02_analysis.html") >= len(pngs), sid
        for html in (dst / "reports" / sid).glob("*.html"):
            text = html.read_text(encoding="utf-8")
            assert "it/s]" not in text and "s/it]" not in text, f"{html.name} holds progress-bar output"
            assert "&lt;Figure size" not in text, f"{html.name} shows a figure as text"
    n_calls = ResponseStore(dst / "store.sqlite").count()
    assert n_calls > 0

    log2 = sh("dvc repro", dst, env)
    assert ran(log2) == ["resolve"]  # it always runs; its lock files are unchanged, so nothing else runs

    params = yaml.safe_load((dst / "params.yaml").read_text())
    for sid, study in all_studies().items():
        fields = study.analysis_params.model_fields
        key = "ci" if "ci" in fields else "alpha"
        params.setdefault(sid, {}).setdefault("analysis", {})[key] = 0.9 if key == "ci" else 0.1
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log3 = sh("dvc repro", dst, env)
    again = ran(log3)
    assert again and all(s.startswith("analyze@") or s in ("resolve", "results", "synthesis", "render_index")
                         for s in again), again
    assert ResponseStore(dst / "store.sqlite").count() == n_calls


def test_replay_from_published_responses_makes_no_call_and_changes_no_table(repo):
    """Export the store as the published responses, start from an empty store seeded with them, and
    `dvc repro -f`: zero model calls, and every processed table and metric is byte for byte the same."""
    dst, env = repo
    sh("python -m analysis.pipeline.responses export", dst, env)
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm 'reference run'", dst, env)
    env2 = {**env, "PSY_STORE": str(dst / "fresh.sqlite")}
    sh("python -m analysis.pipeline.responses load", dst, env2)
    n = ResponseStore(dst / "fresh.sqlite").count()
    sh("dvc repro -f", dst, env2)
    assert ResponseStore(dst / "fresh.sqlite").count() == n  # nothing new was called
    changed = sh("git status --porcelain -- data/processed data/raw metrics", dst, env2).strip()
    assert changed == "", changed


def test_two_experiments_compare_in_dvc_exp_show(repo):
    """A sweep of two experiments over an analysis parameter: each re-runs only what depends on it, and
    `dvc exp show --json` lists both with their metrics side by side."""
    dst, env = repo
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm 'before experiments' --allow-empty", dst, env)
    n = ResponseStore(dst / "store.sqlite").count()
    for ci in ("0.8", "0.99"):
        log = sh(f"dvc exp run -S bigfive.analysis.ci={ci}", dst, env)
        assert not any(s.startswith("collect@") for s in ran(log)), ran(log)
    assert ResponseStore(dst / "store.sqlite").count() == n
    out = subprocess.run(["dvc", "exp", "show", "--json"], cwd=dst, env=env, capture_output=True, text=True, check=True)
    shown = json.loads(out.stdout)
    exps = [rev["data"] for entry in shown for e in (entry.get("experiments") or []) for rev in e["revs"]]
    assert len(exps) == 2
    cis = sorted(e["params"]["params.yaml"]["data"]["bigfive"]["analysis"]["ci"] for e in exps)
    assert cis == [0.8, 0.99]
    for e in exps:
        assert e["metrics"]["metrics/bigfive.json"]["data"], e["metrics"].keys()
        assert "metrics/synthesis.json" in e["metrics"]


def test_experiments_on_the_two_embedded_models_line_up_in_dvc_exp_show(repo):
    """Issue 20, point 3: runs on different models share their metric columns. The baseline (tiny profile,
    0.5B) and two experiments, one on each embedded model, give every metrics file the same flattened keys
    (no one-sided column in `dvc exp show` / `dvc metrics diff`); the model is the `model` field of
    `model_1`. The old metrics nested by model name, so the 1.5B run shared almost no column."""
    from dvc.utils.flatten import flatten

    dst, env = repo
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm 'before model experiments' --allow-empty",
       dst, env)
    models = {"on_05b": "embedded:qwen2.5-coder-0.5b", "on_15b": "embedded:qwen2.5-coder-1.5b"}
    for name, model in models.items():
        sh(f"dvc exp run -n {name} -S 'models=[\"{model}\"]'", dst, env)
    out = subprocess.run(["dvc", "exp", "show", "--json"], cwd=dst, env=env, capture_output=True, text=True, check=True)
    shown = json.loads(out.stdout)
    runs = {rev.get("name"): rev["data"] for entry in shown for e in (entry.get("experiments") or [])
            for rev in e["revs"] if rev.get("name") in models}
    assert set(runs) == set(models), list(runs)
    base = next(entry["data"] for entry in shown if entry.get("rev") != "workspace")
    runs["baseline"] = base
    files = set(base["metrics"])
    assert files and all(set(r["metrics"]) == files for r in runs.values())
    for f in sorted(files):
        cols = {n: flatten(r["metrics"][f]["data"]) for n, r in runs.items()}
        one_sided = set.union(*map(set, cols.values())) - set.intersection(*map(set, cols.values()))
        assert not one_sided, f"{f}: columns only some runs have: {sorted(one_sided)[:10]}"
        assert not [c for c in cols["on_15b"] if "qwen" in c], f
        if "model_1.model" in cols["on_15b"]:
            assert cols["on_15b"]["model_1.model"] == models["on_15b"]
            assert cols["on_05b"]["model_1.model"] == cols["baseline"]["model_1.model"] == models["on_05b"]
def test_summaries_agree_with_their_tables_on_a_fresh_run(repo):
    """The consistency check of tests/pipeline/test_consistency.py on this tiny fresh run: every number the
    illusion, sycophancy and synthesis summaries print equals its table's value, each effect with CI and n."""
    import importlib.util

    dst, env = repo
    sh("dvc repro", dst, env)  # nothing to do when the test above ran first
    spec = importlib.util.spec_from_file_location("consistency", Path(__file__).parent / "test_consistency.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    checked = mod.check_all(dst)
    assert set(checked) == {"illusion", "sycophancy", "synthesis"}
