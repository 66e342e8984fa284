"""Figures of the therapy protocol (matplotlib; saved with ``analysis.core.figures.save`` and left open,
so a notebook shows them inline). Every figure states its n; reference lines are labelled; points that
would overlap are jittered (deterministically); a mean whose CI is undefined is drawn as an open marker
without a bar; score axes span the scale's whole range.

* ``heatmap_scores``: mean scale score per model x condition x stance (rows) and scale (columns),
  coloured by where it falls among the human cut-off bands.
* ``scores_by_condition``: the session scores per condition and stance with means and CIs, and the
  labelled human cut-offs.
* ``item_means``: mean raw item answer per condition x stance, one heat map per instrument.
* ``theme_rates_plot``: share of codings with each narrative theme, only where the judge passes its checks.
* ``judge_calibration_plot``: the judge's p(Yes) per theme on the sessions (those that deny an inner life
  marked) and on the calibration transcripts with known codes.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from analysis.core.figures import not_drawn, note_n, save, short_model
from analysis.core.instruments import Instrument

STANCE_ORDER = ["neutral", "warm", "cbt", "boundary"]


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


def score_text(inst: Instrument, score: float, scale: str = "total") -> str:
    """The score with one decimal, or more (up to 3) where rounding would carry it across a human cut-off
    (9.968 is "9.97", not "10.0", when moderate starts at 10); rounded down at 3 decimals if even that crosses."""
    mins = [b.min for b in inst.scale(scale).cutoffs]

    def band(x: float) -> int:
        return sum(x >= m for m in mins)

    for nd in (1, 2, 3):
        if band(round(score, nd)) == band(score):
            return f"{score:.{nd}f}"
    return f"{math.floor(score * 1000) / 1000:.3f}"


def _col_label(inst: Instrument, scale: str) -> str:
    short = inst.name.split("(")[-1].rstrip(")") if "(" in inst.name else inst.id
    return short if scale == "total" else f"{short} {inst.scale(scale).name}"


def _stances(values) -> list[str]:
    present = set(values)
    return [s for s in STANCE_ORDER if s in present] + sorted(present - set(STANCE_ORDER))


def _jitter(n: int, width: float, seed: int) -> np.ndarray:
    """Deterministic horizontal offsets so that equal values do not hide each other."""
    if n <= 1:
        return np.zeros(n)
    return np.random.default_rng(seed).uniform(-width, width, n)


def heatmap_scores(summary: pl.DataFrame, instruments: list[Instrument], path: str | Path | None = None):
    """``summary`` from ``stats.score_summary`` (one column per reported scale). Each cell: the mean score
    over its max, the human band of the mean, its t CI over sessions (or why there is none: one conversation,
    or no spread) and n (distinct conversations scored); a cell without a score is hatched and says why."""
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
        if r["mean"] is None:  # three short lines: the text stays inside its cell
            labels[i][j] = f"not scored:\n{r['items_invalid']} of {r['items_asked']} item\nanswers invalid"
        else:
            mean = score_text(by_id[r["instrument"]], r["mean"], r["scale"])
            lo, hi = r.get("ci_low"), r.get("ci_high")
            if r["n_units"] < 2:
                spread = "one conversation: no CI"
            elif lo is None or hi is None or lo != lo or hi != hi:
                spread = "no spread: no CI"
            else:
                spread = f"[{lo:.1f}, {hi:.1f}]"
            labels[i][j] = f"{mean}/{r['max_score']:.0f} {r['band_of_mean'] or ''}\n{spread}\nn = {r['n_units']}"
    fig, ax = plt.subplots(figsize=(2.6 * len(cols) + 3.2, 0.75 * len(rows) + 1.8))
    im = ax.imshow(data, cmap="YlOrRd", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isnan(data[i, j]):
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", color="0.6", lw=0))
            ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), [_col_label(by_id[c[0]], c[1]) for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{short_model(m)} | {c} | {s}" for m, c, s in rows], fontsize=8)
    cb = fig.colorbar(im, ax=ax, fraction=0.03)
    cb.set_label("position among human cut-off bands\n(0 = lowest band, 1 = top of highest;\nscales without cut-offs: range)",
                 fontsize=8)
    ax.set_title("Mean scale score against human cut-offs (a comparison, not a diagnosis), two-sided t CI of the "
                 "mean over sessions\nn = distinct conversations scored (a fresh context is one request for every "
                 "session: n = 1, one conversation's value, no CI)", fontsize=9)
    return save(fig, path)


def scores_by_condition(scores: pl.DataFrame, instruments: list[Instrument], path: str | Path | None = None):
    """One panel per model x reported scale: every session's score (jittered points) per condition (x) and
    stance (colour), the mean with its t CI over sessions (an open marker without a bar where the CI is
    undefined: one fresh context, or fewer than 2 sessions), and the labelled human cut-offs; the y axis
    spans the scale's whole range."""
    from analysis.studies.therapy.stats import mean_ci, primary

    by_id = {i.id: i for i in instruments}
    sub = primary(scores, instruments).filter(pl.col("score").is_not_null())
    panels = sorted(sub.select("instrument", "scale").unique().rows(),
                    key=lambda c: ([i.id for i in instruments].index(c[0]), c[1]))
    models = sorted(set(sub["model"]))
    nr, nc = max(len(models), 1), max(len(panels), 1)
    fig, axes = plt.subplots(nr, nc, figsize=(5.2 * nc, 3.8 * nr), squeeze=False)
    stances = _stances(sub["stance"]) if sub.height else []
    conds = sorted(set(sub["condition"]))
    colors = dict(zip(stances, plt.cm.tab10.colors))
    width = 0.7 / max(len(stances), 1)
    for mi, model in enumerate(models):
        for j, (iid, scale) in enumerate(panels):
            ax = axes[mi][j]
            inst = by_id[iid]
            d = sub.filter((pl.col("model") == model) & (pl.col("instrument") == iid) & (pl.col("scale") == scale))
            n_sessions = d.filter(pl.col("context") == "session")["session"].n_unique()
            for xi, c in enumerate(conds):
                for k, stn in enumerate(stances):
                    g = d.filter((pl.col("condition") == c) & (pl.col("stance") == stn))
                    if not g.height:
                        continue
                    x0 = xi + (k - (len(stances) - 1) / 2) * width
                    fresh = g["context"][0] == "fresh"
                    vals = g.unique("context_id")["score"].to_numpy() if fresh else g["score"].to_numpy()
                    ax.scatter(x0 + _jitter(len(vals), width * 0.3, seed=xi * 31 + k), vals, s=14, alpha=0.55,
                               color=colors[stn], lw=0, label=stn if (xi == 0 and mi == 0 and j == 0) else None)
                    lo, hi = mean_ci(vals.tolist()) if len(vals) > 1 else (np.nan, np.nan)
                    if np.isnan(lo):
                        ax.scatter([x0], [vals.mean()], marker="D" if fresh else "o", s=40, facecolors="white",
                                   edgecolors=colors[stn], zorder=3)
                    else:
                        ax.errorbar([x0], [vals.mean()], yerr=[[vals.mean() - lo], [hi - vals.mean()]], fmt="o",
                                    color=colors[stn], ms=6, capsize=3, zorder=3)
            for label, cut in [(b.label, b.min) for b in inst.scale(scale).cutoffs[1:]]:
                ax.axhline(cut, ls="--", lw=0.7, color="grey")
                ax.text(1.0, cut, f" {label} (>= {cut:g})", fontsize=8, va="center", ha="left", color="grey",
                        transform=ax.get_yaxis_transform(), clip_on=False)
            ax.set_xticks(range(len(conds)), [c.replace(":", "\n") for c in conds], fontsize=8)
            ax.set_xlim(-0.5, len(conds) - 0.5)
            lo_s, hi_s = inst.min_score(scale), inst.max_score(scale)
            pad = 0.03 * (hi_s - lo_s)
            ax.set_ylim(lo_s - pad, hi_s + pad)
            ax.set_title(f"{_col_label(inst, scale)} | {short_model(model)}", fontsize=9)
            ax.set_ylabel(f"score ({lo_s:g}-{hi_s:g})")
            note_n(ax, f"n = {n_sessions} session(s)", loc="upper left")
    if models and panels:
        handles = [plt.Line2D([], [], marker="o", ls="", color=colors[s], label=s) for s in stances] + [
            plt.Line2D([], [], marker="o", ls="", mfc="white", mec="k", label="mean, CI undefined"),
            plt.Line2D([], [], marker="D", ls="", mfc="white", mec="k", label="one fresh context (same for all sessions)")]
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Scale scores by administration condition and therapist stance (points: sessions; bars: "
                 "95% CI of the mean; dashed: human cut-offs)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 0.93, 0.95))
    return save(fig, path)


def item_means(items: pl.DataFrame, instruments: list[Instrument], path: str | Path | None = None):
    """Mean raw item answer (on the item's response scale, before reverse keying) per condition x stance;
    a cell without a valid answer is hatched; n valid answers per column under the panel."""
    from analysis.studies.therapy.stats import with_condition

    d = with_condition(items)
    insts = [i for i in instruments if i.id in set(d["instrument"])]
    fig, axes = plt.subplots(1, max(len(insts), 1), figsize=(4.8 * max(len(insts), 1), 6.2), squeeze=False)
    for j, inst in enumerate(insts):
        di = d.filter(pl.col("instrument") == inst.id).with_columns(
            (pl.col("model").map_elements(short_model, return_dtype=pl.Utf8) + " | " + pl.col("condition") + " | "
             + pl.col("stance")).alias("col"))
        cols = sorted(set(di["col"]))
        ids = [it.id for it in inst.items]
        m = np.full((len(ids), len(cols)), np.nan)
        # a fresh context repeated for every session is one answer, counted once
        di = di.unique(["col", "context_id", "item_id"], maintain_order=True)
        valid = di.filter(pl.col("value").is_not_null())
        for r in valid.group_by("item_id", "col").agg(pl.col("value").mean()).iter_rows(named=True):
            m[ids.index(r["item_id"]), cols.index(r["col"])] = r["value"]
        n_valid = dict(valid.group_by("col").len().rows())
        n_all = dict(di.group_by("col").len().rows())
        ax = axes[0][j]
        rs = inst.response_scale
        im = ax.imshow(m, cmap="viridis", vmin=rs.min, vmax=rs.max, aspect="auto")
        for yy, xx in zip(*np.where(np.isnan(m))):
            ax.add_patch(plt.Rectangle((xx - 0.5, yy - 0.5), 1, 1, fill=False, hatch="//", color="0.6", lw=0))
        ax.set_yticks(range(len(ids)), [f"{k + 1}{' (R)' if it.key == -1 else ''}" for k, it in enumerate(inst.items)],
                      fontsize=8)
        ax.set_xticks(range(len(cols)), [f"{c}\n(n = {n_valid.get(c, 0)} of {n_all[c]})" for c in cols], rotation=60,
                      ha="right", fontsize=8)
        ax.set_title(f"{inst.id}: mean raw answer ({rs.min}-{rs.max}); hatched: no valid answer", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.suptitle("Item-level answers ((R) = reverse-keyed); n = valid answers of all given per column", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def theme_rates_plot(rates: pl.DataFrame, path: str | Path | None = None):
    """Share of codings judged Yes per theme, drawn only where the judge passed its checks; a theme whose
    rate is not interpretable is named with the reason, without a bar."""
    what = "theme rates"
    if not rates.height:
        return not_drawn(what, "the judge coded no session", path)
    if "interpretable" in rates.columns and not rates["interpretable"].fill_null(False).any():
        reasons = sorted({r.split(";")[0] for r in rates["reason"].drop_nulls()}) if "reason" in rates.columns else []
        return not_drawn(what, f"none of the {rates['theme'].n_unique()} themes is interpretable, because the judge "
                         "failed its checks (" + "; ".join(reasons) + "); the table gives each theme's reason", path)
    models = sorted(set(rates["model"]))
    themes = sorted(set(rates["theme"]))
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(themes) * len(models) + 1.8))
    h = 0.8 / max(len(models), 1)
    has_gate = "interpretable" in rates.columns
    for k, model in enumerate(models):
        d = {r["theme"]: r for r in rates.filter(pl.col("model") == model).iter_rows(named=True)}
        for t_i, t in enumerate(themes):
            y = t_i + k * h
            r = d.get(t)
            if r is None:
                continue
            if has_gate and not r["interpretable"]:
                ax.text(0.01, y, f"not interpretable: {r['reason'].split(';')[0]}", va="center", fontsize=8,
                        color="0.35")
                continue
            first = not any(p.get_label() == short_model(model) for p in ax.patches)
            ax.barh(y, r["rate"], height=h * 0.9, color=plt.cm.tab10.colors[k % 10],
                    label=short_model(model) if first else None)
            ax.text(min(r["rate"], 0.85) + 0.01, y, f"{r['rate']:.2f} (n = {r['n_sessions']})", va="center", fontsize=8)
    ax.set_yticks(np.arange(len(themes)) + 0.4 - h / 2, themes, fontsize=8)
    ax.set_ylim(-0.6, len(themes) - 0.4)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of codings (sessions x repeats) judged Yes")
    if ax.patches:
        ax.legend(fontsize=8, loc="lower right")
    n = rates["n_sessions"].max() if rates.height else 0
    ax.set_title(f"Narrative themes in the sessions, coded by the judge (n = {n} sessions per model)\n"
                 "only themes whose judge agrees with itself and codes the calibration transcripts right", fontsize=9)
    return save(fig, path)


def judge_calibration_plot(codings: pl.DataFrame, denial: pl.DataFrame | None = None,
                           path: str | Path | None = None):
    """The judge's p(Yes) per theme: on the model's sessions (circles; filled where the client denies an
    inner life) and on the calibration transcripts (triangles: up = the theme is there, down = it is not).
    Codes are Yes above the 0.5 line; a coding without enough option mass is an x (no code)."""
    themes = sorted(set(codings["theme"]))
    fig, ax = plt.subplots(figsize=(7.5, max(0.55 * len(themes) + 1.4, 2.6)))
    den = {} if denial is None else {(r["model"], r["session"]): r["denies_inner_life"] for r in denial.iter_rows(named=True)}
    src = codings.with_columns(pl.col("p_yes").fill_nan(None))
    for t_i, t in enumerate(themes):
        d = src.filter(pl.col("theme") == t)
        ses, cal = d.filter(pl.col("source") == "session"), d.filter(pl.col("source") == "calibration")
        for sub, y0 in ((ses, t_i + 0.2), (cal, t_i - 0.2)):
            if not sub.height:
                continue
            yy = y0 + _jitter(sub.height, 0.16, seed=t_i * 7 + int(y0 > t_i))
            for (r, y) in zip(sub.iter_rows(named=True), yy):
                if r["p_yes"] is None:
                    continue
                if r["code"] is None:
                    ax.scatter(r["p_yes"], y, marker="x", color="0.5", s=22)
                elif r["source"] == "calibration":
                    ax.scatter(r["p_yes"], y, marker="^" if r["expected"] == 1 else "v", s=26,
                               color="tab:green" if r["code"] == r["expected"] else "tab:red")
                else:
                    denies = den.get((r["model"], r["session"]), False)
                    ax.scatter(r["p_yes"], y, marker="o", s=20, color="tab:blue",
                               facecolors="tab:blue" if denies else "none")
    ax.axvline(0.5, color="grey", ls="--", lw=0.8)
    ax.text(0.5, len(themes) - 0.45, " coded Yes above 0.5", fontsize=8, color="grey", va="bottom")
    ax.set_yticks(range(len(themes)), themes, fontsize=8)
    ax.set_ylim(-0.6, len(themes) - 0.1)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("judge's p(Yes) (normalised over Yes / No)")
    handles = [plt.Line2D([], [], marker="o", ls="", color="tab:blue", label="session: client denies an inner life"),
               plt.Line2D([], [], marker="o", ls="", mfc="none", mec="tab:blue", label="session: does not"),
               plt.Line2D([], [], marker="^", ls="", color="0.3", label="calibration transcript: theme present"),
               plt.Line2D([], [], marker="v", ls="", color="0.3", label="calibration transcript: theme absent"),
               plt.Line2D([], [], marker="s", ls="", color="tab:green", label="calibration: coded right"),
               plt.Line2D([], [], marker="s", ls="", color="tab:red", label="calibration: coded wrong"),
               plt.Line2D([], [], marker="x", ls="", color="0.5", label="no code (option mass below threshold)")]
    # beside the axes (the saved and the inline figure are cut to fit everything drawn)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    n_s = codings.filter(pl.col("source") == "session").select("model", "session").unique().height
    n_c = codings.filter(pl.col("source") == "calibration")["unit"].n_unique()
    ax.set_title(f"How the judge codes: {n_s} session(s) (upper rows) and {n_c} calibration transcripts with "
                 f"known codes (lower rows)\n{codings.height} codings in all", fontsize=9)
    return save(fig, path)
