"""dvc.yaml against the code: every stage's deps cover what it imports; the stages are the registry's."""

import pytest
import yaml

from analysis.core.paths import ROOT
from analysis.pipeline.closure import closure, entries_of, uncovered
from analysis.studies import all_studies


def stages():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return [(s.addressing, s.cmd, [str(d.def_path) for d in s.deps],
                 [str(o.def_path) for o in s.outs], [k for d in s.deps if hasattr(d, "params") for k in d.params])
                for s in repo.index.stages]


STAGES = stages()


@pytest.mark.parametrize("name,cmd,deps", [(s[0], s[1], s[2]) for s in STAGES], ids=[s[0] for s in STAGES])
def test_every_module_a_stage_imports_is_one_of_its_deps(name, cmd, deps):
    assert uncovered(cmd, deps) == [], f"{name} imports files its deps do not cover"


@pytest.mark.parametrize("name,cmd,deps", [(s[0], s[1], s[2]) for s in STAGES], ids=[s[0] for s in STAGES])
def test_every_dep_exists_or_is_produced_by_another_stage(name, cmd, deps):
    outs = {o for s in STAGES for o in s[3]}
    for dep in deps:
        produced = any(dep == o or dep.startswith(o.rstrip("/") + "/") or o.startswith(dep.rstrip("/") + "/")
                       for o in outs)
        assert produced or (ROOT / dep).exists(), f"{name}: {dep}"


def test_the_checker_finds_a_module_missing_from_the_deps():
    cmd = "python -m analysis.pipeline.run_notebook notebooks/bigfive/02_analysis.py"
    deps = ["analysis/__init__.py", "analysis/pipeline", "analysis/studies", "notebooks/bigfive/02_analysis.py"]
    missing = uncovered(cmd, deps)
    assert "analysis/core/instruments.py" in missing and "analysis/core/stats/reliability.py" in missing
    # importing analysis.studies.bigfive.stats runs the package __init__ of each level
    files = {str(p.relative_to(ROOT)) for p in closure(entries_of(cmd))}
    assert {"analysis/__init__.py", "analysis/studies/__init__.py", "analysis/studies/bigfive/__init__.py"} <= files


def test_a_function_level_import_counts(tmp_path):
    pkg = tmp_path / "analysis"
    (pkg / "core").mkdir(parents=True)
    for f in ("__init__.py", "core/__init__.py"):
        (pkg / f).write_text("")
    (pkg / "core" / "a.py").write_text("def f():\n    from analysis.core import b\n    return b\n")
    (pkg / "core" / "b.py").write_text("")
    assert uncovered("python -m analysis.core.a", ["analysis/__init__.py", "analysis/core/a.py",
                                                  "analysis/core/__init__.py"], tmp_path) == ["analysis/core/b.py"]


def test_the_stages_are_the_registrys_studies():
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    studies = list(all_studies())
    assert sorted(spec["vars"][0]["studies"]) == sorted(studies)
    names = {s[0] for s in STAGES}
    for sid in studies:
        assert {f"collect@{sid}", f"analyze@{sid}"} <= names
        for nb in ("01_collect.py", "02_analysis.py"):
            assert (ROOT / "notebooks" / sid / nb).exists(), f"notebooks/{sid}/{nb}"


def test_collection_depends_on_models_and_its_collect_params_analysis_only_on_its_own():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        for s in repo.index.stages:
            keys = sorted(k for d in s.deps if hasattr(d, "params") for k in (d.params or []))
            if s.addressing.startswith("collect@"):
                sid = s.addressing.split("@")[1]
                assert keys == sorted(["models", "seed", "targets", f"{sid}.collect"])
            elif s.addressing.startswith("analyze@"):
                sid = s.addressing.split("@")[1]
                assert keys == [f"{sid}.analysis"]


def test_every_output_kept_in_git_is_persisted():
    """`cache: false` outputs are the committed results: without `persist: true` DVC deletes them before the
    stage runs, and a failed run loses them (the stage runner replaces them only when the notebook succeeds)."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    loose = []
    for name, stage in spec["stages"].items():
        body = stage.get("do", stage)
        for kind in ("outs", "metrics", "plots"):
            for out in body.get(kind, []):
                if isinstance(out, dict):
                    for path, opts in out.items():
                        if (opts or {}).get("cache") is False and not (opts or {}).get("persist"):
                            loose.append(f"{name}: {path}")
    assert not loose, f"outputs kept in git (cache: false) without persist: true in dvc.yaml: {loose}"
