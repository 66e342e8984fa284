"""Validate every section of params.yaml at once (the project sections and every registered study),
so a problem anywhere is reported before any model is called."""

from __future__ import annotations

from pathlib import Path

from analysis.core.errors import ParamsError, UserError
from analysis.core.params import PARAMS_FILE, project, read_yaml
from analysis.studies import all_studies

TOP_LEVEL = ("models", "seed", "targets")


def validate_all(raw: dict, source: str = "params.yaml") -> None:
    studies = all_studies()
    unknown = [k for k in raw if k not in TOP_LEVEL and k not in studies]
    if unknown:
        raise ParamsError(f"{source}: unknown top-level section(s) {unknown}; valid sections are "
                          f"{', '.join([*TOP_LEVEL, *studies])}.")
    project(raw, source)
    for sid, study in studies.items():
        for kind in ("collect", "analysis"):
            study.section(raw, kind, source)
        if study.check is not None:
            try:
                study.check(list(raw.get("models") or []), study.section(raw, "collect", source),
                            study.section(raw, "analysis", source))
            except UserError as e:
                raise ParamsError(f"{source}: {e}") from None
        extra = [k for k in (raw.get(sid) or {}) if k not in ("collect", "analysis")]
        if extra:
            raise ParamsError(f"{source}: {sid} has no section {extra[0]!r}; a study has 'collect' and 'analysis'.")


def load_all(path: str | Path = PARAMS_FILE) -> dict:
    raw = read_yaml(path)
    validate_all(raw, str(Path(path).name) if Path(path) == PARAMS_FILE else str(path))
    return raw
