"""Parameter profiles: partial params.yaml files applied on top of params.yaml.

    python -m analysis.pipeline.profile tiny             # the registry's tiny settings of every study
    python -m analysis.pipeline.profile profiles/x.yaml  # any partial params file
    python -m analysis.pipeline.profile tiny --set-args | xargs dvc exp run   # the profile as an experiment

Mappings are merged key by key; any other value in the profile replaces the one in params.yaml. The
file is edited in place with a round-trip YAML writer, so its comments (the paper-scale settings among
them) are kept. The merged result is validated against every study's parameter models before anything
is written. The ``tiny`` profile is not a hand-kept file: it is the 0.5B embedded model plus each
registered study's ``tiny`` settings (``STUDY.tiny``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.core.errors import ParamsError, UserError
from analysis.core.paths import PARAMS_FILE

TINY_MODELS = ["embedded:qwen2.5-coder-0.5b"]


def tiny() -> dict:
    from analysis.studies import all_studies

    prof: dict = {"models": list(TINY_MODELS)}
    for sid, study in all_studies().items():
        if study.tiny:
            prof[sid] = json.loads(json.dumps(study.tiny))
    return prof


def load_profile(profile: str | Path) -> dict:
    if str(profile) == "tiny":
        return tiny()
    from analysis.core.io import load_yaml

    path = Path(profile)
    if not path.exists():
        raise ParamsError(f"Profile {profile} does not exist; give 'tiny' or the path of a partial params.yaml.")
    data = load_yaml(path, ParamsError, "Profile") or {}
    if not isinstance(data, dict):
        raise ParamsError(f"Profile {path} must be a mapping of params.yaml sections.")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _merge_into(node, over: dict) -> None:
    """Merge ``over`` into a ruamel mapping in place (comments on untouched keys survive)."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(node.get(k), dict):
            _merge_into(node[k], v)
        else:
            node[k] = v


def shared_changes(base: dict, prof: dict) -> list[str]:
    """One line per project-wide key (``models``, ``seed``, ``targets``) the profile changes: those apply to
    every study, so a profile written for one study also switches the others. A profile is applied whole
    (what it sets is what the study's paper-scale run needs), and this says what it changes beyond its own
    study sections."""
    from analysis.pipeline.params import TOP_LEVEL
    from analysis.studies import all_studies

    own = [k for k in prof if k not in TOP_LEVEL]
    others = [sid for sid in all_studies() if sid not in own]
    out = []
    for key in TOP_LEVEL:
        if key in prof:
            new = deep_merge(base.get(key) or {}, prof[key]) if isinstance(prof[key], dict) else prof[key]
            if new != base.get(key):
                out.append(f"the profile also changes `{key}` for every study"
                           + (f" (so for {', '.join(others)} too)" if others else "")
                           + f": {json.dumps(base.get(key))} -> {json.dumps(new)}")
    return out


def set_args(prof: dict, prefix: str = "") -> list[str]:
    """The profile as `dvc exp run -S ++key=value` arguments (values as compact JSON literals, which DVC's
    Hydra override grammar reads as YAML flow values). ``++`` adds a key params.yaml does not have yet and
    overrides one it has (a bare ``key=value`` is refused for a new key such as
    ``illusion.collect.baselines.helpful``, and ``+key=value`` for an existing one)."""
    out = []
    for k, v in prof.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += set_args(v, key + ".")
        else:
            out += ["-S", f"++{key}={json.dumps(v, separators=(',', ':'))}"]
    return out


def apply(profile: str | Path | dict, params_file: str | Path = PARAMS_FILE) -> dict:
    from ruamel.yaml import YAML

    from analysis.core.params import read_yaml
    from analysis.pipeline.params import validate_all

    prof = profile if isinstance(profile, dict) else load_profile(profile)
    base = read_yaml(params_file)
    merged = deep_merge(base, prof)
    validate_all(merged, f"{params_file} with the profile applied")
    for line in shared_changes(base, prof):
        print(line, file=sys.stderr)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 110
    path = Path(params_file)
    doc = yaml.load(path.read_text(encoding="utf-8"))
    _merge_into(doc, prof)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(doc, f)
    return merged


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Apply a parameter profile on top of params.yaml.")
    ap.add_argument("profile", help="'tiny' or the path of a partial params.yaml")
    ap.add_argument("--params", default=str(PARAMS_FILE))
    ap.add_argument("--set-args", action="store_true", help="print the profile as `dvc exp run -S` arguments, "
                    "shell-quoted for xargs: `... --set-args | xargs dvc exp run` (values may hold spaces, "
                    "so `$(...)` would split them)")
    a = ap.parse_args(argv)
    try:
        if a.set_args:
            import shlex

            print(" ".join(shlex.quote(x) for x in set_args(load_profile(a.profile))))
            return
        apply(a.profile, a.params)
    except UserError as e:
        raise SystemExit(str(e)) from None
    print(f"applied {a.profile} to {a.params}", file=sys.stderr)


if __name__ == "__main__":
    main()
