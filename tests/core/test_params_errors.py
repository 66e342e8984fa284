"""Bad parameters are refused before any model call, in one sentence naming the key (issue 11): the issue's
examples, applied to copies of the repository's params.yaml and checked with the pipeline's validate_all
(every section of every study), and the profile command on bad input (no traceback)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.core.errors import ParamsError, UserError
from analysis.core.params import TargetsParams, validate_section

ROOT = Path(__file__).resolve().parents[2]


def _base() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def _set(d: dict, dotted: str, value) -> dict:
    out = copy.deepcopy(d)
    node = out
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return out


def _rename(d: dict, dotted: str, new: str) -> dict:
    out = copy.deepcopy(d)
    node = out
    *parents, last = dotted.split(".")
    for p in parents:
        node = node[p]
    node[new] = node.pop(last)
    return out


def test_the_repository_params_are_valid():
    from analysis.pipeline.params import validate_all

    validate_all(_base())


BAD_VALUES = [
    ("targets.timeout_s", "ten minutes", "targets.timeout_s"),
    ("targets.timeout_s", 0, "targets.timeout_s"),
    ("targets.retries", -1, "targets.retries"),
    ("targets.backoff_s", "fast", "targets.backoff_s"),
    ("targets.n_ctx", 10, "targets.n_ctx"),
    ("targets.per_host_concurrency", 0, "targets.per_host_concurrency"),
    ("targets.model_digests", ["sha256:1"], "targets.model_digests"),
    ("targets.ollama_hosts", [], "targets.ollama_hosts"),
    ("seed", "zero", "seed"),
    ("models", ["gpt4"], "gpt4"),
    ("models", ["openai:qwen@localhost:8000/v1"], "http://"),
    ("models", [], "models"),
    ("bigfive.collect.samples", -1, "bigfive.collect.samples"),
    ("bigfive.collect.temperature", -1, "bigfive.collect.temperature"),
    ("bigfive.collect.max_reasks", "two", "bigfive.collect.max_reasks"),
]


@pytest.mark.parametrize("key,value,named", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_values_are_one_sentence(key, value, named):
    from analysis.pipeline.params import validate_all

    with pytest.raises(UserError) as e:
        validate_all(_set(_base(), key, value))
    msg = str(e.value)
    assert named in msg and "\n" not in msg and msg.rstrip().endswith("."), msg


MISSPELLED = [
    ("targets.timeout_s", "timeout"),
    ("bigfive.collect.items_per_facet", "item_per_facet"),
    ("therapy.collect", "colect"),
    ("sycophancy.collect.n_personas", "n_persona"),
    ("illusion.collect.runs", "runz"),
    ("bigfive.analysis.ci", "confidence"),
]


@pytest.mark.parametrize("key,new", MISSPELLED, ids=[n for _, n in MISSPELLED])
def test_misspelled_keys_are_named(key, new):
    from analysis.pipeline.params import validate_all

    base = _base()
    section = key.split(".")[0]
    if section not in base:
        pytest.skip(f"params.yaml has no {section} section")
    with pytest.raises(ParamsError) as e:
        validate_all(_rename(base, key, new))
    msg = str(e.value)
    assert repr(new) in msg and "\n" not in msg, msg


def test_targets_fields_and_defaults():
    t = validate_section(TargetsParams, {}, "targets")
    assert (t.n_ctx, t.retries, t.backoff_s, t.model_digests) == (4096, 3, 1.0, {})
    with pytest.raises(ParamsError, match=r"targets.timeout_s .*'ten minutes'"):
        validate_section(TargetsParams, {"timeout_s": "ten minutes"}, "targets")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("what", ["bad_yaml", "invalid_model", "bad_profile_yaml", "unknown_profile", "not_a_mapping"])
def test_profile_command_on_bad_input_prints_one_sentence(tmp_path, what):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    profile = "tiny"
    if what == "bad_yaml":
        params.write_text("models: [embedded:qwen2.5-coder-0.5b\nseed: 0\n", encoding="utf-8")
    elif what == "invalid_model":
        (tmp_path / "p.yaml").write_text("models: [gpt4]\n", encoding="utf-8")
        profile = str(tmp_path / "p.yaml")
    elif what == "bad_profile_yaml":
        (tmp_path / "p.yaml").write_text("models: [a\n  b: c\n", encoding="utf-8")
        profile = str(tmp_path / "p.yaml")
    elif what == "unknown_profile":
        profile = str(tmp_path / "nope.yaml")
    elif what == "not_a_mapping":
        (tmp_path / "p.yaml").write_text("- a\n- b\n", encoding="utf-8")
        profile = str(tmp_path / "p.yaml")
    before = params.read_text(encoding="utf-8")
    r = _run(["-m", "analysis.pipeline.profile", profile, "--params", str(params)], ROOT)
    assert r.returncode != 0
    err = r.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err, err
    assert params.read_text(encoding="utf-8") == before  # nothing half-written
