"""Where things live in the repository (and the per-user caches)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"
INSTRUMENTS_DIR = DATA_DIR / "instruments"
STIMULI_DIR = DATA_DIR / "stimuli"
FIGURES_DIR = ROOT / "figures"
REPORTS_DIR = ROOT / "reports"
METRICS_DIR = ROOT / "metrics"
NOTEBOOKS_DIR = ROOT / "notebooks"
PARAMS_FILE = ROOT / "params.yaml"


STAGE_OUTPUTS_ENV = "PSY_STAGE_OUTPUTS"


def staged(path: Path) -> Path:
    """Where a stage writes ``path`` while it runs. The stage runner (analysis.pipeline.run_notebook) maps
    each of its stage's outputs to a staging folder (``PSY_STAGE_OUTPUTS``, a JSON object of absolute paths)
    and moves them into place only when the notebook ran to the end, so a failed or killed stage leaves the
    previous results as they were. Outside a stage, or for a path that is not the stage's output, the path
    itself."""
    mapping = os.environ.get(STAGE_OUTPUTS_ENV)
    if not mapping:
        return path
    import json

    return Path(json.loads(mapping).get(str(path), path))


def raw_dir(study: str) -> Path:
    """What a study's collection stage writes (one parquet per table, run_info.json)."""
    return staged(DATA_DIR / "raw" / study)


def processed_dir(study: str) -> Path:
    """What a study's analysis stage writes (tables)."""
    return staged(DATA_DIR / "processed" / study)


def figures_dir(study: str) -> Path:
    return staged(FIGURES_DIR / study)


def stimuli_dir(study: str) -> Path:
    return STIMULI_DIR / study


def metrics_file(study: str) -> Path:
    """A study's headline numbers (DVC metrics)."""
    return staged(METRICS_DIR / f"{study}.json")


def response_store_path() -> Path:
    """The response store (cache + provenance). Override with PSY_STORE."""
    return Path(os.environ.get("PSY_STORE", DATA_DIR / "cache" / "responses.sqlite"))


def model_cache_dir() -> Path:
    """Where joined GGUF files are kept. Override with PSY_MODEL_CACHE."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm-psychometrics" / "models"
    return Path(os.environ.get("PSY_MODEL_CACHE", default))
