"""Saving and labelling figures, the same way in every study.

Figures are drawn with the pyplot interface and left open, so a notebook shows them inline (the
rendered HTML reports embed every figure a notebook draws); :func:`save` writes the PNG atomically
at one resolution. Nothing here switches the matplotlib backend: scripts and tests without a display
get matplotlib's non-interactive default, notebooks get the inline backend.
"""

from __future__ import annotations

from pathlib import Path

from analysis.core.io import atomic

DPI = 130


def save(fig, path: str | Path | None, *, dpi: int = DPI):
    """Write ``fig`` to ``path`` (PNG, tight bounding box) when a path is given; return the figure."""
    if path is not None:
        fig.tight_layout()
        atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png"))
    return fig


def short_model(spec: str) -> str:
    """'embedded:qwen2.5-coder-1.5b' -> 'qwen2.5-coder-1.5b' (figure labels)."""
    return spec.split(":", 1)[-1].split("@", 1)[0]


def note_n(ax, text: str, *, loc: str = "lower right", fontsize: float = 8) -> None:
    """Write the sample size (or any short note) in a corner of the axes."""
    x, ha = (0.98, "right") if "right" in loc else (0.02, "left")
    y, va = (0.02, "bottom") if "lower" in loc else (0.98, "top")
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=fontsize, color="0.3")
