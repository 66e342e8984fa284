"""Writing outputs so that a failed run leaves nothing half-written behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import polars as pl


def _atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` (same suffix), then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_parquet(df: pl.DataFrame, path: str | Path) -> Path:
    return _atomic(path, df.write_parquet)


def write_csv(df: pl.DataFrame, path: str | Path) -> Path:
    return _atomic(path, df.write_csv)


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    return _atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight"))
