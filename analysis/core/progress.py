"""Progress bars that stay on the terminal.

A stage runs its notebook in a Jupyter kernel, whose standard error becomes part of the rendered report.
The stage runner sets ``PSY_PROGRESS_FILE``; bars are then written to that file, which the runner copies
to its own terminal as they grow, so a report shows what was collected, not hundreds of progress lines.
Run by hand (JupyterLab, a script), bars go to standard error as usual.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm

ENV = "PSY_PROGRESS_FILE"


def stream():
    path = os.environ.get(ENV)
    if path:
        try:
            return open(path, "a", buffering=1, encoding="utf-8")
        except OSError:
            pass
    return sys.stderr


def bar(total: int, desc: str, *, disable: bool = False) -> tqdm:
    """A bar with rate and ETA (updated at most every 2 s)."""
    out = stream()
    b = tqdm(total=total, desc=desc, file=out, mininterval=2.0, disable=disable, dynamic_ncols=False, ncols=100)
    if out is not sys.stderr:
        close = b.close

        def close_both():
            close()
            out.close()

        b.close = close_both
    return b
