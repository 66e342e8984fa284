"""params.yaml: loading, validation with one clear sentence per problem, and model access from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from analysis.errors import ParamsError
from analysis.models import parse_spec
from analysis.paths import PARAMS_FILE


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} does not exist; copy params.yaml from the repository root.")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamsError(f"{path} is not valid YAML{where}: {getattr(e, 'problem', e)}; fix the indentation or quoting there.") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path} must be a mapping of sections (models, seed, targets, one section per study).")
    validate(params, path)
    return params


def validate(params: dict[str, Any], path: str | Path = "params.yaml") -> None:
    models = params.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise ParamsError(f"{path}: 'models' must be a non-empty list of model spec strings, e.g. ['embedded:qwen2.5-coder-1.5b'].")
    for m in models:
        parse_spec(m)  # raises ModelSpecError naming the valid forms
    if not isinstance(params.get("seed"), int):
        raise ParamsError(f"{path}: 'seed' must be an integer.")


def get(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"params.yaml has no key {dotted!r} (missing {part!r}); add it or check the spelling.")
        node = node[part]
    return node


def elicitor(spec: str, targets: dict[str, Any] | None = None):
    """An Elicitor for one model spec, with host lists and timeouts from the params 'targets' section."""
    from analysis.elicit import Elicitor

    t = targets or {}
    return Elicitor.from_spec(
        spec,
        ollama_hosts=t.get("ollama_hosts"),
        timeout_s=float(t.get("timeout_s", 600)),
        per_host_concurrency=int(t.get("per_host_concurrency", 1)),
        cache_prompt=bool(t.get("cache_prompt", True)),
    )
