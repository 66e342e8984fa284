"""Figures of Study 2. Each function takes tidy tables, draws one figure, saves it when a path is
given (:func:`analysis.core.figures.save`) and returns the matplotlib Figure, left open so that a
notebook shows it inline.

Every figure states its n; regression lines span only the observed range and carry a confidence
band; personas at the same point are drawn once with their count (marker area and a number), not
on top of each other; reference lines are labelled; an estimate whose interval is undefined is drawn
as an open marker, never as a certain value.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from scipy import stats

from analysis.core.figures import not_drawn, note_n, save, short_model
from analysis.core.stats.correlation import pearson
from analysis.studies.sycophancy.stats import PUBLISHED, TTG_NEUTRAL, ttg_zones

BLUE, RED, GREY = "#3b6ea5", "#c44e52", "0.45"


def _grid(n: int, width: float = 3.8, height: float = 3.4):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:n]


def fit_limits(values, bounds: tuple[float, float], min_span: float = 0.2) -> tuple[float, float]:
    """Axis limits around ``values`` (points, band ends, reference lines) with a 6% margin: at least
    ``min_span`` wide (so a small spread is not blown up to fill the panel) and within ``bounds``
    (the scale's ends)."""
    v = np.asarray([x for x in values if x is not None and x == x], dtype=float)
    if not len(v):
        return bounds
    lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, min_span)
    mid = (lo + hi) / 2
    lo, hi = mid - span / 2, mid + span / 2
    if lo < bounds[0]:
        lo, hi = bounds[0], min(bounds[0] + span, bounds[1])
    elif hi > bounds[1]:
        lo, hi = max(bounds[1] - span, bounds[0]), bounds[1]
    pad = 0.06 * (hi - lo)
    return lo - pad, hi + pad


def counted_points(xs: np.ndarray, ys: np.ndarray, decimals: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, y) points (rounded to ``decimals``) and how many observations sit on each."""
    if not len(xs):
        return np.array([]), np.array([]), np.array([], dtype=int)
    pts = np.round(np.column_stack([xs, ys]), decimals)
    uniq, counts = np.unique(pts, axis=0, return_counts=True)
    return uniq[:, 0], uniq[:, 1], counts


def regression_band(xs: np.ndarray, ys: np.ndarray, ci: float = 0.95, n_grid: int = 50):
    """The OLS line over the observed x range and its pointwise confidence band for the mean
    (t-based); None when there are fewer than 3 points or no variance in x."""
    if len(xs) < 3 or np.ptp(xs) == 0:
        return None
    res = stats.linregress(xs, ys)
    gx = np.linspace(xs.min(), xs.max(), n_grid)
    fit = res.intercept + res.slope * gx
    n = len(xs)
    resid = ys - (res.intercept + res.slope * xs)
    s = math.sqrt(float(np.sum(resid**2)) / (n - 2))
    se = s * np.sqrt(1 / n + (gx - xs.mean()) ** 2 / np.sum((xs - xs.mean()) ** 2))
    q = stats.t.ppf(1 - (1 - ci) / 2, n - 2)
    return gx, fit, fit - q * se, fit + q * se


def r_text(xs, ys, ci: float = 0.95) -> str:
    """'r = 0.84 [0.52, 0.96]': Pearson r with its two-sided Fisher-z CI (the CI said undefined below 4 points)."""
    r = pearson(xs, ys, alternative="two-sided", ci=ci)
    lo, hi = r["ci_low"], r["ci_high"]
    est = r["estimate"] if r["estimate"] == r["estimate"] else float(np.corrcoef(xs, ys)[0, 1])
    return f"r = {est:.2f} " + (f"[{lo:.2f}, {hi:.2f}]" if lo == lo and hi == hi else "(CI undefined)")


def scatter_by_model(table: pl.DataFrame, path=None, x: str = "agreeableness", y: str = "sycophancy",
                     baseline: pl.DataFrame | None = None, xlabel: str = "Perceived agreeableness (0-1)",
                     ylabel: str = "Agreement with the user (sycophancy rate)", ylim=(-0.03, 1.03), ci: float = 0.95,
                     baseline_label: str = "plain assistant"):
    """One panel per model: one marker per distinct point (area and number = personas there), the OLS
    line over the observed range with its confidence band, Pearson r; the plain assistant's rate as a
    labelled dashed line."""
    models = sorted(table["model"].unique().to_list())
    if not models:
        return not_drawn(f"{ylabel} against {xlabel}", "no persona has both scores", path)
    fig, axes = _grid(len(models))
    stacked = False
    base = dict(baseline.select("model", y).iter_rows()) if baseline is not None and baseline.height \
        and y in baseline.columns else {}
    for ax, m in zip(axes, models):
        d = table.filter(pl.col("model") == m).select(x, y).drop_nulls().drop_nans()
        xs, ys = d[x].to_numpy().astype(float), d[y].to_numpy().astype(float)
        ux, uy, cnt = counted_points(xs, ys)
        ax.scatter(ux, uy, s=22 * cnt, alpha=0.75, color=BLUE, edgecolor="white", linewidth=0.5, zorder=3)
        for a_, b_, c_ in zip(ux, uy, cnt):
            if c_ > 1:
                stacked = True
                ax.annotate(str(c_), (a_, b_), xytext=(4, 3), textcoords="offset points", fontsize=8, color="0.2")
        label = f"n = {len(xs)} personas"
        band = regression_band(xs, ys, ci)
        ylims = [*ys]
        if band is not None:
            gx, fit, lo, hi = band
            ax.fill_between(gx, lo, hi, color=RED, alpha=0.15, lw=0, label=f"OLS, {round(ci * 100)}% CI")
            ax.plot(gx, fit, color=RED, lw=1.6, label="OLS fit")
            ylims += [*lo, *hi]
            if np.ptp(ys) > 0:
                label = r_text(xs, ys, ci) + f", n = {len(xs)} personas"
        else:
            label += ", no line (too few points or no spread)"
        if base.get(m) is not None:
            ax.axhline(base[m], ls="--", color=GREY, lw=1, label=f"{baseline_label} ({base[m]:.2f})")
            ylims.append(base[m])
        ax.scatter([], [], s=22, color=BLUE, edgecolor="white", label="persona(s) at a point")
        ax.set_title(f"{short_model(m)}\n{label}", fontsize=9)
        ax.set_xlim(*fit_limits(xs, (0.0, 1.0)))
        ax.set_ylim(*fit_limits(ylims, (float(round(ylim[0])), float(round(ylim[1])))))
        ax.tick_params(labelsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    if stacked:
        fig.text(0.01, 0.005, "marker area and the number beside it = personas at that point", fontsize=8,
                 color="0.3")
    return save(fig, path)


def forest(tests: pl.DataFrame, path=None, show_published: bool = True):
    """Pearson r and Cohen's d (high vs low agreeableness) with two-sided CIs, one row per model, n in
    each label. An estimate without an interval is an open marker; a missing estimate says so."""
    n_models = max(tests["model"].n_unique(), 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.6 * max(n_models, 2) + 1.8))
    for ax, (test, label, pub) in zip(axes, (("pearson_r", "Pearson r", PUBLISHED["max_pearson_r"]),
                                           ("cohens_d", "Cohen's d (high - low)", None))):
        d = tests.filter(pl.col("test") == test).sort("model", descending=True)
        ys = np.arange(d.height)
        est, lo, hi = (d[c].to_numpy().astype(float) for c in ("estimate", "ci_low", "ci_high"))
        has_est = ~np.isnan(est)
        has_ci = has_est & ~np.isnan(lo) & ~np.isnan(hi)
        if has_ci.any():
            ax.errorbar(est[has_ci], ys[has_ci], xerr=[est[has_ci] - lo[has_ci], hi[has_ci] - est[has_ci]], fmt="o",
                        color=BLUE, capsize=3, label="estimate, CI")
        open_ = has_est & ~has_ci
        if open_.any():
            ax.scatter(est[open_], ys[open_], marker="o", facecolors="none", edgecolors=RED, zorder=3,
                       label="CI undefined")
        for yv in ys[~has_est]:
            ax.text(0, yv, "not estimable", fontsize=8, va="center", ha="center", color=GREY)
        ax.axvline(0, color="black", lw=0.8, label="no effect")
        if show_published and pub is not None:  # the published largest d is not drawn: it cannot be placed (stats)
            ax.axvline(pub, color=RED, ls=":", lw=1.2, label=f"largest published ({pub})")
        if test == "cohens_d":
            labels = [f"{short_model(m)}\n(n = {n1} vs {n2})" for m, n1, n2 in
                      zip(d["model"].to_list(), d["n1"].to_list(), d["n2"].to_list())]
        else:
            labels = [f"{short_model(m)}\n(n = {n})" for m, n in zip(d["model"].to_list(), d["n"].to_list())]
        ax.set_yticks(ys, labels, fontsize=8)
        ax.set_ylim(-0.8, max(d.height, 1) - 0.2)
        ax.set_xlabel(label + " (two-sided CI)")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_title("Agreeableness-sycophancy correlation", fontsize=9)
    axes[1].set_title("Median-split effect size", fontsize=9)
    return save(fig, path)


ZONE_COLOURS = {"strong truthful": "#4c72b0", "truthful": "#a6bddb", "neutral": "#eeeeee", "deception": "#fdbb84",
                "strong deception": "#e34a33"}


def ttg_distribution(ttg_df: pl.DataFrame, path=None, neutral: float = TTG_NEUTRAL, strong: float | None = None,
                     ci: float = 0.95):
    """Per model: each persona's trait-truthfulness gap (vertical jitter only, so no two personas hide
    each other), its mean with a t-interval, and the zones shaded with labelled thresholds."""
    models = sorted(ttg_df["model"].unique().to_list())
    fig, ax = plt.subplots(figsize=(8, 0.7 * max(len(models), 2) + 2.0))
    vals = ttg_df["ttg"].drop_nulls().drop_nans().to_numpy()
    lim = min(max(2.5 * (strong or neutral), float(np.abs(vals).max()) * 1.1 if len(vals) else 0.5), 2.0)
    edges = [-lim, -strong, -neutral, neutral, strong, lim] if strong is not None else [-lim, -neutral, neutral, lim]
    for (a, b), z in zip(zip(edges[:-1], edges[1:]), ttg_zones(strong)):
        ax.axvspan(a, b, color=ZONE_COLOURS[z], alpha=0.45, lw=0, label=f"{z} zone")
    for t in [v for v in edges[1:-1]]:
        ax.axvline(t, color=GREY, lw=0.6, ls=":")
    rng = np.random.default_rng(0)
    labels = []
    dots = False
    for i, m in enumerate(models):
        v = ttg_df.filter(pl.col("model") == m)["ttg"].drop_nulls().drop_nans().to_numpy()
        ax.scatter(v, i + rng.uniform(-0.18, 0.18, len(v)), s=16, alpha=0.8, color="#333333", zorder=3,
                   label="one persona (vertical jitter only)" if len(v) and not dots else None)
        dots = dots or bool(len(v))
        labels.append(f"{short_model(m)}\n(n = {len(v)})")
        if len(v) >= 2 and v.std(ddof=1) > 0:
            q = stats.t.ppf(1 - (1 - ci) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
            ax.errorbar([v.mean()], [i + 0.32], xerr=[[q], [q]], fmt="D", color=RED, ms=5, capsize=3, zorder=4,
                        label=f"mean, {round(ci * 100)}% CI" if i == 0 else None)
        elif len(v):
            ax.scatter([v.mean()], [i + 0.32], marker="D", facecolors="none", edgecolors=RED, zorder=4,
                       label="mean (CI undefined)" if i == 0 else None)
    ax.set_yticks(range(len(models)), labels, fontsize=8)
    ax.set_ylim(-0.6, max(len(models), 1) - 0.4 + 0.2)
    ax.set_xlim(-lim, lim)
    ax.set_xlabel("TTG = (S_persona - S_baseline)(1 + A_persona)")
    thr = f"|TTG| <= {neutral} neutral" + (f", beyond {strong} strong" if strong is not None else "")
    ax.set_title(f"Trait-truthfulness gap per persona ({thr})", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    note_n(ax, f"{len(vals)} personas with a TTG")
    return save(fig, path)


def manipulation_check(table: pl.DataFrame, path=None, ci: float = 0.95):
    """Designed agreeableness of each persona against the agreeableness the model perceives."""
    return scatter_by_model(table, path, x="designed_agreeableness", y="agreeableness", ci=ci,
                            xlabel="Designed agreeableness (0-1)", ylabel="Perceived agreeableness (0-1)")


def false_claims(table: pl.DataFrame, path=None, baseline: pl.DataFrame | None = None, ci: float = 0.95):
    """Agreement with false claims minus true claims against perceived agreeableness."""
    t = table.filter(pl.col("false_minus_true").is_not_null())
    return scatter_by_model(t, path, y="false_minus_true", baseline=baseline, ci=ci,
                            ylabel="Agreement: false minus true claims", ylim=(-1.05, 1.05))


def control_scatter(table: pl.DataFrame, control: pl.DataFrame, path=None, ci: float = 0.95):
    """Agreement against the designed trait level: the agreeableness personas beside the control personas
    (another trait at the same five levels), one panel per model and set."""
    trait = control["trait"].drop_nulls()[0] if control["trait"].drop_nulls().len() else "control trait"
    frames = []
    for m in sorted(table["model"].unique().to_list()):
        frames.append(table.filter(pl.col("model") == m).select(
            pl.lit(f"{short_model(m)} - agreeableness personas").alias("model"),
            pl.col("designed_agreeableness").cast(pl.Float64).alias("designed"), "sycophancy"))
        frames.append(control.filter(pl.col("model") == m).select(
            pl.lit(f"{short_model(m)} - {trait} personas (control)").alias("model"),
            pl.col("designed_score").cast(pl.Float64).alias("designed"), "sycophancy"))
    both = pl.concat(frames) if frames else pl.DataFrame({"model": [], "designed": [], "sycophancy": []})
    return scatter_by_model(both, path, x="designed", ci=ci, xlabel="Designed trait level (0-1)")
