"""Headline numbers of a study as a DVC metrics file (``metrics/<study>.json``).

``dvc metrics show`` prints every study's headline at once and ``dvc metrics diff`` what moved after a
change. Values are plain JSON: floats rounded to 6 significant digits, NaN and infinities as null (a
statistic that could not be computed), nested dicts keyed by model, scale, test ... DVC joins nested
keys with dots, so a dot inside a key (``qwen2.5``) is written as an underscore (``qwen2_5``).
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


def write(study: str, metrics: dict, path: str | Path | None = None) -> Path:
    return write_text(json.dumps(clean(metrics), indent=2, sort_keys=False) + "\n", path or metrics_file(study))


def summary_path(study: str) -> Path:
    """Where a study's computed summary is kept (the cross-study synthesis keeps its own beside the results
    database it reads, so that no stage writes into another stage's inputs)."""
    from analysis.core.paths import DATA_DIR, processed_dir

    return DATA_DIR / "results" / "synthesis_summary.md" if study == "synthesis" else processed_dir(study) / "summary.md"


def write_summary(study: str, markdown: str) -> Path:
    """The computed summary an analysis report opens with, also written to a file so the report index can
    show each study's first line."""
    return write_text(markdown.strip() + "\n", summary_path(study))


def first_line(markdown: str, limit: int = 400) -> str:
    """The first paragraph of a summary, without markdown emphasis, cut at ``limit`` characters."""
    import re

    para = markdown.strip().split("\n\n")[0].replace("\n", " ")
    para = re.sub(r"[*_`]", "", para).strip()
    return para if len(para) <= limit else para[: limit - 1].rsplit(" ", 1)[0] + " ..."
