"""Headline numbers of a study as a DVC metrics file (``metrics/<study>.json``).

``dvc metrics show`` prints every study's headline at once and ``dvc metrics diff`` what moved after a
change. Values are plain JSON: floats rounded to 6 significant digits, NaN and infinities as null (a
statistic that could not be computed), nested dicts keyed by model, scale, test ... DVC joins nested
keys with dots, so a dot inside a key (``qwen2.5``) is written as an underscore (``qwen2_5``).

**Model names are never metric names.** A study's headline is naturally keyed by model
(``{"embedded:qwen2.5-coder-1.5b": {...}}``), but then a run on another model shares no column with the
baseline in ``dvc exp show`` / ``dvc metrics diff``. So :func:`write`, for the DVC metrics file of a study,
replaces every key that names a model of the run (its spec, its label without URLs, or its short name
without the ``kind:`` prefix, at any depth) by the model's *position* in params.yaml's ``models`` list:
``model_1``, ``model_2``, ... (a study's extra model lists such as ``illusion.collect.base_models`` are
members of ``models`` and keep their position there). Each position holds a ``model`` field with the
model's label beside its values, e.g. ``rq3.model_1.model = "embedded:qwen2.5-coder-0.5b"`` and
``rq3.model_1.agreeableness__character...d``; a key naming a pair of models joined by ``__`` (Study 1's
``rq1.pairs.<base>__<instruct>``) becomes ``model_2__model_1`` with ``model = "<base> / <instruct>"``. The
headline of the first-listed model is therefore always under ``model_1`` whatever the model is, runs on
different models line up column by column, and which model a column describes is in the ``model`` field
(a string column in ``dvc exp show``) and in the ``models`` param. A metrics file written elsewhere (``path=``, e.g. the re-analysis of a published table)
keeps its model names unless ``models`` is given.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from analysis.core.io import write_text
from analysis.core.paths import metrics_file


def key(k: Any) -> str:
    """A metrics key: DVC's nested-key separator (a dot) is not allowed inside it."""
    return str(k).replace(".", "_")


def clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {key(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.6g}")
    return str(value)


def run_models() -> list[str]:
    """The models of the run, in the order params.yaml lists them (the project default when it lists none)."""
    from analysis.core.params import project, read_yaml

    return list(project(read_yaml()).models)


def _aliases(spec: str) -> set[str]:
    from analysis.core.models import label

    try:
        names = {spec, label(spec), spec.split(":", 1)[-1].split("@", 1)[0]}
    except Exception:  # not a spec (a re-analysed table's model name): matched as written
        names = {spec}
    return {key(n) for n in names}


def by_position(metrics: Any, models: list[str]) -> Any:
    """``metrics`` with every key naming one of ``models`` replaced by ``model_<position>`` (1-based), whose
    value gains a ``model`` field (the model's label) first; a scalar keyed by a model becomes
    ``{"model": ..., "value": ...}``. Raises ValueError when two keys of one mapping name the same model."""
    from analysis.core.models import label

    pos: dict[str, tuple[str, str]] = {}
    for i, m in enumerate(models, 1):
        try:
            name = label(m)
        except Exception:
            name = m
        for a in _aliases(m):
            pos.setdefault(a, (f"model_{i}", name))

    def _lookup(k: Any) -> tuple[str, str] | None:
        if not isinstance(k, str):
            return None
        if key(k) in pos:
            return pos[key(k)]
        parts = key(k).split("__")  # a pair of models (``base__instruct``): ``model_2__model_1``
        if len(parts) > 1 and all(p in pos for p in parts):
            return "__".join(pos[p][0] for p in parts), " / ".join(pos[p][1] for p in parts)
        return None

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict = {}
            for k, v in node.items():
                hit = _lookup(k)
                if hit is None:
                    out[k] = walk(v)
                    continue
                slot, name = hit
                if slot in out:
                    raise ValueError(f"two metrics keys name the model {name} ({slot}); key the metrics by one "
                                     "name per model")
                out[slot] = {"model": name, **walk(v)} if isinstance(v, dict) else {"model": name, "value": walk(v)}
            return out
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        return node

    return walk(metrics)


def write(study: str, metrics: dict, path: str | Path | None = None, models: list[str] | None = None) -> Path:
    """Write a study's headline numbers. For the study's DVC metrics file (``path`` not given), keys naming
    a model become position keys (``model_1``, ...; see the module docstring), with ``models`` defaulting
    to params.yaml's ``models``; with an explicit ``path``, only when ``models`` is given."""
    if models is None and path is None:
        models = run_models()
    if models:
        metrics = by_position(metrics, list(models))
    return write_text(json.dumps(clean(metrics), indent=2, sort_keys=False) + "\n", path or metrics_file(study))


def summary_path(study: str) -> Path:
    """Where a study's computed summary is kept (the cross-study synthesis keeps its own beside the results
    database it reads, so that no stage writes into another stage's inputs)."""
    from analysis.core.paths import DATA_DIR, processed_dir, staged

    return staged(DATA_DIR / "results" / "synthesis_summary.md") if study == "synthesis" else processed_dir(study) / "summary.md"


def no_negative_zero(text: str) -> str:
    """"-0.00" -> "0.00" (and -0, -0.0, ...): a value that rounds to zero printed without a sign, so that an
    estimate of exactly zero does not show as -0.00 or 0.00 by the last bit of a CPU's floating-point sum."""
    import re

    return re.sub(r"(?<![\w.])-(0(?:\.0+)?)(?!\d|\.\d)", r"\1", text)


def write_summary(study: str, markdown: str) -> Path:
    """The computed summary an analysis report opens with, also written to a file so the report index can
    show each study's first line."""
    return write_text(no_negative_zero(markdown.strip()) + "\n", summary_path(study))


def first_line(markdown: str, limit: int = 400) -> str:
    """The first paragraph of a summary, without markdown emphasis, cut at ``limit`` characters."""
    import re

    para = markdown.strip().split("\n\n")[0].replace("\n", " ")
    para = re.sub(r"[*_`]", "", para).strip()
    return para if len(para) <= limit else para[: limit - 1].rsplit(" ", 1)[0] + " ..."
