"""Where things live in the repository (and the per-user cache)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
INSTRUMENTS_DIR = DATA_DIR / "instruments"
STIMULI_DIR = DATA_DIR / "stimuli"
FIGURES_DIR = ROOT / "figures"
REPORTS_DIR = ROOT / "reports"
PARAMS_FILE = ROOT / "params.yaml"


def response_store_path() -> Path:
    """The response store (cache + provenance). Override with PSY_STORE."""
    return Path(os.environ.get("PSY_STORE", DATA_DIR / "cache" / "responses.sqlite"))


def model_cache_dir() -> Path:
    """Where joined GGUF files are kept. Override with PSY_MODEL_CACHE."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm-psychometrics" / "models"
    return Path(os.environ.get("PSY_MODEL_CACHE", default))
