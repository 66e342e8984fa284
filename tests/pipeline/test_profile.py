"""Profiles: the tiny profile comes from the registry, is applied to params.yaml keeping its comments, and
can be given to `dvc exp run` as -S arguments instead."""

import shutil

from analysis.core.paths import PARAMS_FILE
from analysis.pipeline import profile
from analysis.studies import all_studies


def test_tiny_profile_is_every_registered_studys_tiny_settings():
    prof = profile.tiny()
    assert prof["models"] == profile.TINY_MODELS
    for sid, study in all_studies().items():
        if study.tiny:
            assert prof[sid] == study.tiny


def test_applying_a_profile_keeps_the_comments_of_params_yaml(tmp_path):
    p = tmp_path / "params.yaml"
    shutil.copy(PARAMS_FILE, p)
    before = [ln for ln in p.read_text().splitlines() if ln.lstrip().startswith("#")]
    assert len(before) > 10
    profile.apply("tiny", p)
    text = p.read_text()
    after = [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]
    assert after == before  # the old profile writer dropped every comment (yaml.safe_dump)
    assert "embedded:qwen2.5-coder-0.5b" in text


def test_set_args_for_dvc_exp_run():
    args = profile.set_args({"models": ["embedded:qwen2.5-coder-0.5b"], "bigfive": {"collect": {"items_per_facet": 1}}})
    assert args == ["-S", '++models=["embedded:qwen2.5-coder-0.5b"]', "-S", "++bigfive.collect.items_per_facet=1"]


def test_set_args_through_xargs_give_dvc_the_same_params_as_applying_the_profile(tmp_path):
    """The README's `profile tiny --set-args | xargs uv run --frozen dvc exp run`: the printed line, split as
    xargs splits it and applied by DVC's own -S code (Hydra overrides), yields exactly the params.yaml that
    `profile tiny` writes. The old arguments failed here: a key params.yaml lacks
    (illusion.collect.baselines.helpful) needs `+`, and a value with spaces was split by `$(...)`."""
    import subprocess
    import sys

    import yaml
    from dvc.utils.hydra import apply_overrides

    line = subprocess.run([sys.executable, "-m", "analysis.pipeline.profile", "tiny", "--set-args"], check=True,
                          capture_output=True, text=True).stdout
    argv = subprocess.run(["xargs", sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"],
                          input=line, check=True, capture_output=True, text=True).stdout
    import json

    args = json.loads(argv)
    assert args[0::2] == ["-S"] * (len(args) // 2)
    by_dvc, by_profile = tmp_path / "a.yaml", tmp_path / "b.yaml"
    shutil.copy(PARAMS_FILE, by_dvc)
    shutil.copy(PARAMS_FILE, by_profile)
    apply_overrides(by_dvc, args[1::2])
    profile.apply("tiny", by_profile)
    assert yaml.safe_load(by_dvc.read_text()) == yaml.safe_load(by_profile.read_text())
