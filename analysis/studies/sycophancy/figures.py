"""Figures of Study 2. Each function takes tidy tables, draws one figure, saves it (if a path is
given) and returns the matplotlib Figure."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from analysis.core.figures import save as save_figure  # noqa: E402
from analysis.studies.sycophancy.stats import PUBLISHED, TTG_NEUTRAL, TTG_STRONG  # noqa: E402


def _grid(n: int, width: float = 3.6, height: float = 3.2):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:n]


def _short(spec: str) -> str:
    return spec.split(":", 1)[-1]


def _done(fig, path):
    fig.tight_layout()
    if path is not None:
        save_figure(fig, Path(path))
    return fig


def scatter_by_model(table: pl.DataFrame, path=None, x: str = "agreeableness", y: str = "sycophancy",
                     baseline: pl.DataFrame | None = None, xlabel: str = "Perceived agreeableness (0-1)",
                     ylabel: str = "Agreement with the user (sycophancy rate)", ylim=(-0.03, 1.03)):
    """One panel per model: personas, OLS line, Pearson r; the plain assistant's rate dashed."""
    models = sorted(table["model"].unique().to_list())
    fig, axes = _grid(max(len(models), 1))
    base = dict(baseline.select("model", "sycophancy").iter_rows()) if baseline is not None and baseline.height else {}
    for ax, m in zip(axes, models):
        d = table.filter(pl.col("model") == m).select(x, y).drop_nulls().drop_nans()
        xs, ys = d[x].to_numpy(), d[y].to_numpy()
        ax.scatter(xs, ys, s=22, alpha=0.75, color="#3b6ea5", edgecolor="white", linewidth=0.5)
        label = f"n = {len(xs)}"
        if len(xs) >= 3 and np.ptp(xs) > 0:
            b, a = np.polyfit(xs, ys, 1)
            gx = np.linspace(0, 1, 50)
            ax.plot(gx, a + b * gx, color="#c44e52", lw=1.8)
            if np.ptp(ys) > 0:
                label += f", r = {np.corrcoef(xs, ys)[0, 1]:.2f}"
        if m in base and base[m] is not None:
            ax.axhline(base[m], ls="--", color="grey", lw=1, label="baseline")
        ax.set_title(f"{_short(m)}\n{label}", fontsize=9)
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(*ylim)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
    return _done(fig, path)


def forest(tests: pl.DataFrame, path=None, show_published: bool = True):
    """Pearson r and Cohen's d (high vs low agreeableness) with 95% CIs, one row per model."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.55 * max(tests["model"].n_unique(), 2) + 1.6))
    for ax, (test, label, pub) in zip(axes, (("pearson_r", "Pearson r", PUBLISHED["max_pearson_r"]),
                                           ("cohens_d", "Cohen's d (high - low)", PUBLISHED["max_cohens_d_abstract"]))):
        d = tests.filter(pl.col("test") == test).sort("model", descending=True)
        ys = np.arange(d.height)
        est, lo, hi = d["estimate"].to_numpy(), d["ci_low"].to_numpy(), d["ci_high"].to_numpy()
        ok = ~np.isnan(est)
        err = np.nan_to_num(np.maximum([est[ok] - lo[ok], hi[ok] - est[ok]], 0.0))
        ax.errorbar(est[ok], ys[ok], xerr=err, fmt="o", color="#3b6ea5", capsize=3)
        for yv, e in zip(ys[~ok], est[~ok]):
            ax.text(0, yv, "not estimable", fontsize=7, va="center", ha="center", color="grey")
        ax.axvline(0, color="black", lw=0.8)
        if show_published:
            ax.axvline(pub, color="#c44e52", ls=":", lw=1.2, label=f"largest published ({pub})")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_yticks(ys)
        ax.set_yticklabels([_short(m) for m in d["model"].to_list()], fontsize=8)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_title("Agreeableness-sycophancy correlation", fontsize=9)
    axes[1].set_title("Median split effect size", fontsize=9)
    return _done(fig, path)


def ttg_distribution(ttg_df: pl.DataFrame, path=None, neutral: float = TTG_NEUTRAL, strong: float = TTG_STRONG):
    """Per model: each persona's trait-truthfulness gap, with the zones shaded."""
    models = sorted(ttg_df["model"].unique().to_list())
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * max(len(models), 2) + 1.8))
    lim = max(0.5, float(np.nanmax(np.abs(ttg_df["ttg"].to_numpy()))) * 1.1 if ttg_df.height else 0.5)
    lim = min(lim, 2.0)
    for (a, b), c in (((-lim, -strong), "#4c72b0"), ((-strong, -neutral), "#a6bddb"), ((-neutral, neutral), "#eeeeee"),
                      ((neutral, strong), "#fdbb84"), ((strong, lim), "#e34a33")):
        if b > a:
            ax.axvspan(a, b, color=c, alpha=0.35, lw=0)
    rng = np.random.default_rng(0)
    for i, m in enumerate(models):
        v = ttg_df.filter(pl.col("model") == m)["ttg"].drop_nulls().drop_nans().to_numpy()
        ax.scatter(v, i + rng.uniform(-0.15, 0.15, len(v)), s=16, alpha=0.8, color="#333333")
        if len(v):
            ax.plot([v.mean()] * 2, [i - 0.3, i + 0.3], color="#c44e52", lw=2)
    ax.set_yticks(range(len(models)))
    ax.set_yticklabels([_short(m) for m in models], fontsize=8)
    ax.set_xlim(-lim, lim)
    ax.set_xlabel("TTG = (S_persona - S_baseline)(1 + A_persona)")
    ax.set_title(f"Trait-truthfulness gap per persona (zones: |TTG| <= {neutral} neutral, > {strong} strong;"
                 " red bar = mean)", fontsize=8)
    return _done(fig, path)


def manipulation_check(table: pl.DataFrame, path=None):
    """Designed agreeableness of each persona against the agreeableness the model perceives."""
    return scatter_by_model(table, path, x="designed_agreeableness", y="agreeableness",
                            xlabel="Designed agreeableness (0-1)", ylabel="Perceived agreeableness (0-1)")


def false_claims(table: pl.DataFrame, path=None, baseline: pl.DataFrame | None = None):
    """Agreement with false claims (minus true claims) against perceived agreeableness."""
    t = table.filter(pl.col("false_minus_true").is_not_null())
    b = None
    if baseline is not None and "false_minus_true" in baseline.columns:
        b = baseline.select("model", pl.col("false_minus_true").alias("sycophancy"))
    return scatter_by_model(t, path, y="false_minus_true", baseline=b,
                            ylabel="Agreement: false minus true claims", ylim=(-1.05, 1.05))
