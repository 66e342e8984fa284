"""Adding a study is adding a folder: the commands of docs/ADD_A_STUDY.md, run word for word in a scratch
copy of the repository, make a questionnaire study that `dvc repro` collects and analyses on the tiny
profile (real 0.5B model), touching six files, and that reaches every shared view: its summary, the long
measures and shifts tables and the results database."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
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
    assert list(m) == ["model_1"] and m["model_1"]["model"] == "embedded:qwen2.5-coder-0.5b"  # position keys
    assert all(v["n"] >= 1 for cond in m["model_1"]["scores"].values() for v in cond.values())
    assert m["model_1"]["shifts"]["helpful"]["gad7__total"]["n_items"] == 3

    # every shared view sees the new study (issue 20, point 6): its computed summary where the report index
    # reads it, and rows in the long measures and shifts tables, hence in the results database
    import polars as pl

    from analysis.core import metrics

    summary = dst / metrics.summary_path("throwaway").relative_to(ROOT)
    assert summary.exists() and summary.read_text().startswith("**This run:** 1 model(s) answered gad7")
    measures = pl.read_parquet(dst / "data/processed/throwaway/measures.parquet")
    assert measures.height == 2 and set(measures["condition"]) == {"no_system_prompt", "helpful"}
    assert set(measures["kind"]) == {"clinical_scale"} and (measures["n"] == 1).all()
    shifts = pl.read_parquet(dst / "data/processed/throwaway/shifts.parquet")
    assert shifts.height == 1 and shifts["contrast"][0] == "helpful vs no_system_prompt"
    assert shifts["n_a"][0] == 3 and shifts["unit_of_analysis"][0] == "item (paired across conditions)"
    sh("python -m analysis.pipeline.results", dst, env)  # the `results` stage's command
    con = duckdb.connect(str(dst / "data/results/results.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM measures WHERE study = 'throwaway'").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM shifts WHERE study = 'throwaway'").fetchone()[0] == 1


def test_the_template_covers_a_second_instrument_and_persona_conditions_from_params_alone():
    """The guide's two extensions need only params.yaml: `instruments: [gad7, phq9]` and `personas:`; the
    plan counts them (every item of both forms under every condition) and persona conditions carry the
    template's system prompt."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "mystudy_template", ROOT / "templates/questionnaire/analysis/studies/mystudy/__init__.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # pydantic resolves the annotations through the module
    spec.loader.exec_module(mod)
    from analysis.core.instruments import load_instrument

    p = mod.CollectParams(instruments=["gad7", "phq9"], personas={"calm": "a calm, relaxed person"})
    parts = p.participants()
    assert [x["condition"] for x in parts] == ["no_system_prompt", "helpful", "calm"]
    assert parts[-1]["condition_kind"] == "persona" and "a calm, relaxed person" in parts[-1]["system"]
    (item,) = mod.plan(p, 0)
    assert item.calls == (len(load_instrument("gad7").items) + len(load_instrument("phq9").items)) * 3
    with pytest.raises(ValueError, match="twice"):
        mod.CollectParams(instruments=["gad7", "gad7"])
