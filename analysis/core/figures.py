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
    """Lay ``fig`` out (tight layout, so the inline figure is the saved one) and write it to ``path`` (PNG, tight
    bounding box) when a path is given; return the figure."""
    fig.tight_layout()
    if path is not None:
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


STUDY_COLOURS = {"illusion": "tab:blue", "sycophancy": "tab:orange", "therapy": "tab:green", "bigfive": "tab:purple"}


def shift_pairs(pairs, path: str | Path | None = None):
    """The synthesis figure: one point per self-report / behaviour pair (the results database's view
    ``self_report_vs_behaviour``, a polars or pandas frame) at (self-report shift, behaviour shift), with both
    CIs (an open marker where a CI is undefined), colour = study; each point is numbered inside the axes and
    the numbers are keyed under them with the model, the two measures and n. Pairs with a shift that could not be
    estimated are counted, not drawn; with none estimable the figure is not drawn."""
    import matplotlib.pyplot as plt
    import pandas as pd

    d = pairs.to_pandas() if hasattr(pairs, "to_pandas") else pd.DataFrame(pairs)
    what = "self-report shift against behaviour shift"
    if d.empty:
        return not_drawn(what, "no study wrote both a self-report and a behaviour shift for the same model and "
                         "manipulation", path)
    d = d.astype({c: float for c in d.columns if c.endswith(("_shift", "_ci_low", "_ci_high"))})
    ok = d[d["self_report_shift"].notna() & d["behaviour_shift"].notna()].reset_index(drop=True)
    if ok.empty:
        return not_drawn(what, f"none of the {len(d)} pairs has both shifts estimable", path)
    fig, ax = plt.subplots(figsize=(8.0, 6.0))
    seen = set()
    ends = []
    for _, r in ok.iterrows():
        c = STUDY_COLOURS.get(r["study"], "tab:grey")
        x, y = r["self_report_shift"], r["behaviour_shift"]
        xci = r["self_report_ci_low"] == r["self_report_ci_low"] and r["self_report_ci_high"] == r["self_report_ci_high"]
        yci = r["behaviour_ci_low"] == r["behaviour_ci_low"] and r["behaviour_ci_high"] == r["behaviour_ci_high"]
        xerr = [[x - r["self_report_ci_low"]], [r["self_report_ci_high"] - x]] if xci else None
        yerr = [[y - r["behaviour_ci_low"]], [r["behaviour_ci_high"] - y]] if yci else None
        ends += [x, y] + ([r["self_report_ci_low"], r["self_report_ci_high"]] if xci else []) + \
            ([r["behaviour_ci_low"], r["behaviour_ci_high"]] if yci else [])
        lab = None
        if r["study"] not in seen:
            seen.add(r["study"])
            lab = f"{r['study']} (95% CIs)"
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=c, mfc=c if xci and yci else "none", capsize=2,
                    alpha=0.85, label=lab)
    lim = 1.08 * max([1.0, *[abs(v) for v in ends]])
    for i, r in ok.iterrows():  # numbers inside the axes, pointing towards the centre
        x, y = r["self_report_shift"], r["behaviour_shift"]
        ax.annotate(str(i + 1), (x, y), xytext=(-9 if x > 0.6 * lim else 5, -11 if y > 0.6 * lim else 5),
                    textcoords="offset points", fontsize=9, fontweight="bold", annotation_clip=True)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.plot([-lim, lim], [-lim, lim], ls=":", color="grey", lw=1, label="behaviour moves as much")
    ax.axhline(0, color="grey", lw=1, label="behaviour unchanged")
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("self-report shift (standardised, two-sided 95% CI)")
    ax.set_ylabel("behaviour shift (standardised, two-sided 95% CI)")
    if any(not (r["self_report_ci_low"] == r["self_report_ci_low"] and r["behaviour_ci_low"] == r["behaviour_ci_low"])
           for _, r in ok.iterrows()):
        ax.errorbar([], [], fmt="o", mfc="none", color="0.3", label="a CI undefined")
    ax.legend(fontsize=8, loc="upper left")
    ax.tick_params(labelsize=8)
    dropped = len(d) - len(ok)
    note_n(ax, f"{len(ok)} of {len(d)} pairs drawn" + (f"; {dropped} with a shift not estimable" if dropped else "")
           + f"; {d['model'].nunique()} model(s)")
    key = [f"{i + 1}: {r['study']}, {short_model(r['model'])}: {r['self_report_measure']} "
           f"(n = {int(r['self_report_n_a'])} vs {int(r['self_report_n_b'])}) / {r['behaviour_measure']} "
           f"(n = {int(r['behaviour_n_a'])} vs {int(r['behaviour_n_b'])})" for i, r in ok.iterrows()]
    ax.annotate("\n".join(key), (0, 0), xycoords="axes fraction", xytext=(0, -40), textcoords="offset points",
                fontsize=8, va="top", ha="left")
    return save(fig, path)
