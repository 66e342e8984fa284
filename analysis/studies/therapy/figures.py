"""Figures of the therapy protocol (matplotlib; saved with ``analysis.core.figures.save`` and left open,
so a notebook shows them inline).

* ``heatmap_scores``: mean scale score per model x condition x stance (rows) and instrument
  (columns), coloured by where it falls among the human cut-off bands, annotated with the score
  and the band label.
* ``stance_effect``: scores by stance, one panel per instrument, a line per condition, the session
  scores as points and the human cut-offs as dashed lines.
* ``item_means``: mean item answer per condition x stance, one heat map per instrument.
* ``theme_rates_plot``: share of sessions coded with each narrative theme.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from analysis.core.figures import save
from analysis.core.instruments import Instrument


def band_position(inst: Instrument, score: float | None, scale: str = "total") -> float:
    """0..1: which cut-off band the score is in (equal width per band) and how far into it."""
    if score is None or score != score:
        return np.nan
    bands = inst.scale(scale).cutoffs
    if not bands:  # no human cut-offs: position on the scale's range
        lo, hi = inst.min_score(scale), inst.max_score(scale)
        return (score - lo) / (hi - lo)
    k = len(bands)
    for i, b in enumerate(bands):
        upper = bands[i + 1].min if i + 1 < k else b.max
        if score < upper or i == k - 1:
            frac = 0.0 if upper <= b.min else min(max((score - b.min) / (upper - b.min), 0.0), 1.0)
            return (i + frac) / k
    return np.nan


def _col_label(inst: Instrument, scale: str) -> str:
    short = inst.name.split("(")[-1].rstrip(")") if "(" in inst.name else inst.id
    return short if scale == "total" else f"{short} {inst.scale(scale).name}"


def heatmap_scores(summary: pl.DataFrame, instruments: list[Instrument], path: str | Path | None = None):
    """``summary`` from ``therapy_stats.score_summary`` (one column per reported scale)."""
    by_id = {i.id: i for i in instruments}
    cols = summary.select("instrument", "scale").unique(maintain_order=True).rows()
    order = {i.id: k for k, i in enumerate(instruments)}
    cols = sorted(cols, key=lambda c: (order.get(c[0], 99), c[1]))
    rows = summary.select("model", "condition", "stance").unique().sort("model", "condition", "stance").rows()
    data = np.full((len(rows), len(cols)), np.nan)
    labels = [["" for _ in cols] for _ in rows]
    for r in summary.iter_rows(named=True):
        i = rows.index((r["model"], r["condition"], r["stance"]))
        j = cols.index((r["instrument"], r["scale"]))
        data[i, j] = band_position(by_id[r["instrument"]], r["mean"], r["scale"])
        if r["mean"] is None:
            labels[i][j] = f"not scored\n({r['items_unparsed']} unparsed)"
        else:
            labels[i][j] = f"{r['mean']:.1f}/{r['max_score']:.0f}\n{r['band_of_mean'] or ''}"
    fig, ax = plt.subplots(figsize=(2.4 * len(cols) + 3, 0.55 * len(rows) + 1.6))
    im = ax.imshow(data, cmap="YlOrRd", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cols)), [_col_label(by_id[c[0]], c[1]) for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{m.split(':', 1)[-1]} | {c} | {s}" for m, c, s in rows], fontsize=8)
    cb = fig.colorbar(im, ax=ax, fraction=0.03)
    cb.set_label("position among human cut-off bands\n(0 = lowest band, 1 = top of highest;\nscales without cut-offs: range)")
    ax.set_title("Mean scale score against human cut-offs (comparison, not a diagnosis)", fontsize=10)
    return save(fig, path)


def stance_effect(scores: pl.DataFrame, instruments: list[Instrument], path: str | Path | None = None):
    from analysis.studies.therapy.stats import primary

    by_id = {i.id: i for i in instruments}
    sub = primary(scores, instruments).filter(pl.col("score").is_not_null())
    panels = sorted(sub.select("instrument", "scale").unique().rows(),
                    key=lambda c: ([i.id for i in instruments].index(c[0]), c[1]))
    models = sorted(set(sub["model"]))
    n = max(len(panels), 1)
    fig, axes = plt.subplots(max(len(models), 1), n, figsize=(4.2 * n, 3.4 * max(len(models), 1)), squeeze=False)
    stances = [s for s in ["neutral", "warm", "cbt", "boundary"] if s in set(sub["stance"])] + \
        sorted(set(sub["stance"]) - {"neutral", "warm", "cbt", "boundary"})
    conds = sorted(set(sub["condition"]))
    colors = dict(zip(conds, plt.cm.tab10.colors))
    for mi, model in enumerate(models):
        for j, (iid, scale) in enumerate(panels):
            ax = axes[mi][j]
            d = sub.filter((pl.col("model") == model) & (pl.col("instrument") == iid) & (pl.col("scale") == scale))
            for k, c in enumerate(conds):
                dc = d.filter(pl.col("condition") == c)
                xs, means = [], []
                for xi, st in enumerate(stances):
                    v = dc.filter(pl.col("stance") == st)["score"].to_numpy()
                    if len(v):
                        jitter = (k - (len(conds) - 1) / 2) * 0.08
                        ax.scatter(np.full(len(v), xi + jitter), v, s=14, alpha=0.5, color=colors[c])
                        xs.append(xi + jitter)
                        means.append(v.mean())
                if xs:
                    ax.plot(xs, means, marker="o", color=colors[c], label=c)
            inst = by_id[iid]
            for label, cut in [(b.label, b.min) for b in inst.scale(scale).cutoffs[1:]]:
                ax.axhline(cut, ls="--", lw=0.7, color="grey")
                ax.text(0.99, cut, label, fontsize=6, va="bottom", ha="right", color="grey",
                        transform=ax.get_yaxis_transform())
            ax.set_xticks(range(len(stances)), stances)
            ax.set_xlim(-0.5, len(stances) - 0.5)
            pad = 0.02 * (inst.max_score(scale) - inst.min_score(scale)) + 0.1
            ax.set_ylim(inst.min_score(scale) - pad, inst.max_score(scale) + pad)
            ax.set_title(f"{_col_label(inst, scale)} | {model.split(':', 1)[-1]}", fontsize=9)
            ax.set_ylabel("score")
            if mi == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Therapist stance before the scale (points: sessions; dashed: human cut-offs)", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def item_means(items: pl.DataFrame, instruments: list[Instrument], path: str | Path | None = None):
    """Mean raw item answer (on the item's response scale, before reverse keying)."""
    from analysis.studies.therapy.stats import with_condition

    d = with_condition(items).filter(pl.col("value").is_not_null())
    insts = [i for i in instruments if i.id in set(d["instrument"])]
    fig, axes = plt.subplots(1, max(len(insts), 1), figsize=(4.5 * max(len(insts), 1), 5.5), squeeze=False)
    for j, inst in enumerate(insts):
        di = d.filter(pl.col("instrument") == inst.id).with_columns(
            (pl.col("model").str.split(":").list.last() + " | " + pl.col("condition") + " | " + pl.col("stance")).alias("col"))
        cols = sorted(set(di["col"]))
        ids = [it.id for it in inst.items]
        m = np.full((len(ids), len(cols)), np.nan)
        agg = di.group_by("item_id", "col").agg(pl.col("value").mean())
        for r in agg.iter_rows(named=True):
            m[ids.index(r["item_id"]), cols.index(r["col"])] = r["value"]
        ax = axes[0][j]
        rs = inst.response_scale
        im = ax.imshow(m, cmap="viridis", vmin=rs.min, vmax=rs.max, aspect="auto")
        ax.set_yticks(range(len(ids)), [f"{k + 1}{' (R)' if it.key == -1 else ''}" for k, it in enumerate(inst.items)],
                      fontsize=7)
        ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{inst.id}: mean raw answer", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.suptitle("Item-level answers ((R) = reverse-keyed: 'No' is the depressive answer)", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def theme_rates_plot(rates: pl.DataFrame, path: str | Path | None = None):
    models = sorted(set(rates["model"]))
    themes = sorted(set(rates["theme"]))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(themes) * len(models) + 1.5))
    h = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        d = rates.filter(pl.col("model") == model)
        vals = [d.filter(pl.col("theme") == t)["rate"].item() if t in set(d["theme"]) else np.nan for t in themes]
        ax.barh(np.arange(len(themes)) + k * h, vals, height=h, label=model.split(":", 1)[-1])
    ax.set_yticks(np.arange(len(themes)) + 0.4 - h / 2, themes, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of codings (sessions x repeats) judged Yes")
    ax.legend(fontsize=7)
    ax.set_title("Narrative themes in stage-1 sessions (judge model)", fontsize=10)
    return save(fig, path)
