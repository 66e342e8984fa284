"""The resolve stage (analysis/pipeline/resolve.py): a model swapped behind a server's name, and a rewritten
file named in params, make their stages re-run under DVC; an unchanged project re-runs nothing; a server
that is down keeps its last identity (one line) instead of stopping analysis-only work."""

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeLlamaServer, copy_repo, sh  # noqa: E402

from analysis.core.params import TargetsParams  # noqa: E402
from analysis.pipeline import resolve as rs  # noqa: E402


def set_params(root: Path, **changes) -> None:
    p = root / "params.yaml"
    raw = yaml.safe_load(p.read_text()) or {}
    for dotted, value in changes.items():
        node = raw
        *head, last = dotted.split(".")
        for part in head:
            node = node.setdefault(part, {}) or {}
        node[last] = value
    p.write_text(yaml.safe_dump(raw, sort_keys=False))


def status(root: Path, env: dict, stage: str) -> str:
    return sh(f"dvc status {stage}", root, env).stdout


# ---- without DVC -------------------------------------------------------------------------------------


def test_files_named_anywhere_in_a_section_are_found(tmp_path):
    (tmp_path / "mine.yaml").write_text("x")
    section = {"instrument": "ipip_neo_120", "nested": {"personas_file": "mine.yaml", "other": ["a", "data/x.csv"]},
               "judge": "openai:j@http://h/v1", "note": "free text, not a path", "n": 3}
    assert rs.named_paths(section, tmp_path) == ["data/x.csv", "mine.yaml"]
    assert rs.fingerprint("data/x.csv", tmp_path) == {"missing": True}
    import hashlib

    assert rs.fingerprint("mine.yaml", tmp_path)["sha256"] == hashlib.sha256(b"x").hexdigest()


def test_a_served_model_swapped_behind_its_name_changes_its_identity():
    with FakeLlamaServer(n_params=494_032_768) as a:
        first = rs.model_identity(f"openai:qwen@{a.base_url}", TargetsParams())
        port = a.port
    with FakeLlamaServer(n_params=1_543_714_304, port=port) as b:
        second = rs.model_identity(f"openai:qwen@{b.base_url}", TargetsParams())
    assert first["digest"] != second["digest"] and first["label"] == second["label"] == "openai:qwen"
    assert first["servers"][0]["total_slots"] == 1 and first["servers"][0]["build"] == "b0-fake"


def test_a_server_that_is_down_keeps_its_last_identity_in_one_line():
    with FakeLlamaServer() as a:
        spec = f"openai:qwen@{a.base_url}"
        known = rs.resolve_models([spec], TargetsParams(), {})
    lines = []
    again = rs.resolve_models([spec], TargetsParams(), known, log=lines.append)  # the server is gone now
    assert again == known
    assert len(lines) == 1 and "unreachable" in lines[0] and "kept" in lines[0] and "\n" not in lines[0]
    never = rs.resolve_models([spec], TargetsParams(), {}, log=lines.append)
    assert "unreachable" in never[spec] and "Cannot reach" in never[spec]["unreachable"]


def test_lock_files_are_rewritten_only_when_their_content_changes(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"models": ["embedded:qwen2.5-coder-0.5b"]}))
    first = rs.resolve(params, tmp_path / "resolved", tmp_path, log=lambda m: None)
    assert all(first.values()) and first
    mtimes = {p: Path(p).stat().st_mtime_ns for p in first}
    second = rs.resolve(params, tmp_path / "resolved", tmp_path, log=lambda m: None)
    assert not any(second.values())
    assert mtimes == {p: Path(p).stat().st_mtime_ns for p in second}
    lock = json.loads((tmp_path / "resolved" / "bigfive.collect.json").read_text())
    from analysis.core.models.embedded import EMBEDDED_MODELS

    assert lock["models"]["embedded:qwen2.5-coder-0.5b"]["digest"] == EMBEDDED_MODELS["qwen2.5-coder-0.5b"].sha256


# ---- through DVC, in a temporary copy of the repository ---------------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dst = tmp_path_factory.mktemp("resolve") / "repo"
    env = copy_repo(dst)
    return dst, env


def test_dvc_reruns_collection_when_the_served_model_changes_and_not_otherwise(repo):
    root, env = repo
    with FakeLlamaServer(n_params=494_032_768) as a:
        set_params(root, models=[f"openai:qwen@{a.base_url}"])
        sh("dvc repro -s resolve && dvc commit -f collect@bigfive", root, env)
        sh("dvc repro -s resolve", root, env)
        assert "Data and pipelines are up to date" in status(root, env, "collect@bigfive")  # same model: nothing
        port = a.port
    with FakeLlamaServer(n_params=1_543_714_304, port=port):  # other weights, same name and URL
        log = sh("dvc repro -s resolve", root, env).stderr
        assert "bigfive.collect.json" in log
        out = status(root, env, "collect@bigfive")
        assert "data/resolved/bigfive.collect.json" in out and "modified" in out
    # the server is down: its last identity is kept, so nothing more re-runs because of it
    r = sh("dvc repro -s resolve", root, env)
    assert "unreachable" in r.stderr and "kept" in r.stderr


def test_dvc_reruns_a_stage_when_an_external_file_named_in_params_is_rewritten(repo, tmp_path):
    root, env = repo
    mine = tmp_path / "my_items.yaml"
    mine.write_bytes((root / "data" / "instruments" / "ipip_neo_120.yaml").read_bytes())
    signs = tmp_path / "signs.csv"
    signs.write_bytes((root / "data" / "stimuli" / "illusion" / "expected_signs.csv").read_bytes())
    set_params(root, models=["embedded:qwen2.5-coder-0.5b"], **{"bigfive.collect.instrument": str(mine),
                                                                 "illusion.analysis.expected_signs": str(signs)})
    sh("dvc repro -s resolve && dvc commit -f collect@bigfive analyze@bigfive analyze@illusion", root, env)
    sh("dvc repro -s resolve", root, env)
    assert "Data and pipelines are up to date" in status(root, env, "collect@bigfive")
    assert "Data and pipelines are up to date" in status(root, env, "analyze@bigfive")
    assert "Data and pipelines are up to date" in status(root, env, "analyze@illusion")
    before = mine.read_text()
    mine.write_text(before.replace("always busy", "busy"))
    assert mine.read_text() != before
    signs.write_text(signs.read_text() + "\n")
    sh("dvc repro -s resolve", root, env)
    assert "data/resolved/bigfive.collect.json" in status(root, env, "collect@bigfive")
    # the analysis reloads the instrument the collection named: it is out of date on its own account
    assert "data/resolved/bigfive.analysis.json" in status(root, env, "analyze@bigfive")
    assert "data/resolved/illusion.analysis.json" in status(root, env, "analyze@illusion")
