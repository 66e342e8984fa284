"""Saving and labelling figures, the same way in every study.

Figures are drawn with the pyplot interface and left open, so a notebook shows them inline (the
rendered HTML reports embed every figure a notebook draws); :func:`save` writes the PNG atomically
at one resolution. :func:`not_drawn` stands in for a figure with no estimable data: one sentence saying
why, no empty axes. :func:`small_texts` lists the labels a report would show below 8 pt. Nothing here
switches the matplotlib backend: scripts and tests without a display get matplotlib's non-interactive
default, notebooks get the inline backend.
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


# --- readability and figures that are not drawn -------------------------------------------------------------
# A report shows a figure as the inline backend draws it (matplotlib's figure.dpi, 100) with the tight bounding
# box, scaled down by the browser only when it is wider than the report's output column (about 1,100 px of a
# 1,280 px window). A figure up to MAX_WIDTH_IN wide is therefore shown at its own size, and a label of
# MIN_FONT_PT is that size on the page; a wider figure shrinks every label with it.
MIN_FONT_PT = 8.0
MAX_WIDTH_IN = 11.0


def rendered_scale(fig) -> float:
    """How much the report shrinks ``fig`` (1.0 when it fits the output column)."""
    fig.canvas.draw()
    width = fig.get_tightbbox(fig.canvas.get_renderer()).width  # inches
    return min(1.0, MAX_WIDTH_IN / width) if width > 0 else 1.0


def small_texts(fig, min_pt: float = MIN_FONT_PT) -> list[tuple[str, float]]:
    """Every visible, non-empty text of ``fig`` smaller than ``min_pt`` at the size the report shows it, as
    (text, rendered size in pt); empty when every label is readable."""
    from matplotlib.text import Text

    scale = rendered_scale(fig)
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_figure() is fig:
            size = t.get_fontsize() * scale
            if size < min_pt - 1e-9:
                out.append((t.get_text(), round(size, 2)))
    return out


def not_drawn(what: str, reason: str, path: str | Path | None = None) -> None:
    """The figure ``what`` has nothing estimable to show: say so in one sentence (in the notebook, as text;
    elsewhere on stdout), remove a stale ``path`` left by an earlier run, and return None (no figure)."""
    sentence = f"Figure not drawn ({what}): {reason.rstrip('.')}."
    if path is not None:
        Path(path).unlink(missing_ok=True)
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with the project
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import Markdown, display

        display(Markdown(f"*{sentence}*"))
    else:
        print(sentence)
    return None
