"""Writing outputs so that a failed run leaves nothing half-written behind.

Every writer goes through :func:`atomic`: the content is written to a temporary file beside the
target and renamed into place. The file gets the permissions an ordinary ``open(path, "w")`` would
give (0666 minus the umask), not the private 0600 of a temporary file, so collaborators can read it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl


def _umask() -> int:
    """The process umask, read without changing it (os.umask(0) would, for a moment, let files that other
    threads create meanwhile be world-writable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc (macOS): set a safe mask for the moment it takes to read the old one
    os.umask(mask)
    return mask


def atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` (same suffix), then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_parquet(df: pl.DataFrame, path: str | Path) -> Path:
    return atomic(path, df.write_parquet)


def write_csv(df: pl.DataFrame, path: str | Path) -> Path:
    return atomic(path, df.write_csv)


def write_text(text: str, path: str | Path) -> Path:
    return atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
