"""The registry of studies: every sub-package here that defines ``STUDY`` is a study.

Nothing is listed by hand: the report index, the tiny profile, the stage runner and the pipeline
tests all ask :func:`all_studies`. A study imports core (``analysis.core``) and never another study.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from analysis.core.errors import UserError
from analysis.core.study import Study

# the order of the report index: the foundation first, then the three studies as numbered
ORDER = ("bigfive", "illusion", "sycophancy", "therapy")


@cache
def all_studies() -> dict[str, Study]:
    found: dict[str, Study] = {}
    for m in pkgutil.iter_modules(__path__):
        if not m.ispkg or m.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{m.name}")
        study = getattr(mod, "STUDY", None)
        if isinstance(study, Study):
            if study.id != m.name:
                raise UserError(f"analysis/studies/{m.name}/__init__.py defines STUDY with id {study.id!r}; "
                                f"the id must be the folder name {m.name!r}.")
            found[study.id] = study
    return dict(sorted(found.items(), key=lambda kv: (ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER), kv[0])))


def ids() -> list[str]:
    """The ids of the study packages, without importing them."""
    return [m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and not m.name.startswith("_")]


def get(study_id: str) -> Study:
    """One study, importing only its own package. (A stage also validates every study's params.yaml section
    before it runs, through ``analysis.pipeline.params.validate_all``, which imports them all.)"""
    if study_id not in ids():
        raise UserError(f"No study {study_id!r}; the studies are {ids()} (folders in analysis/studies/ "
                        "whose __init__.py defines STUDY).")
    study = getattr(importlib.import_module(f"{__name__}.{study_id}"), "STUDY", None)
    if not isinstance(study, Study):
        raise UserError(f"analysis/studies/{study_id}/__init__.py defines no STUDY = Study(...); see docs/ADD_A_STUDY.md.")
    return study
