"""Apply a parameter profile (a partial params.yaml) on top of params.yaml.

    python -m analysis.profile profiles/tiny.yaml [--params params.yaml]

Mappings are merged key by key; any other value in the profile replaces the one in params.yaml.
Comments in params.yaml are not kept in the written file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from analysis.params import validate
from analysis.paths import PARAMS_FILE


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def apply(profile: str | Path, params_file: str | Path = PARAMS_FILE) -> dict:
    params = yaml.safe_load(Path(params_file).read_text(encoding="utf-8"))
    merged = deep_merge(params, yaml.safe_load(Path(profile).read_text(encoding="utf-8")) or {})
    validate(merged, params_file)
    Path(params_file).write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description="Apply a parameter profile on top of params.yaml.")
    ap.add_argument("profile")
    ap.add_argument("--params", default=str(PARAMS_FILE))
    a = ap.parse_args()
    apply(a.profile, a.params)
    print(f"applied {a.profile} to {a.params}")


if __name__ == "__main__":
    main()
