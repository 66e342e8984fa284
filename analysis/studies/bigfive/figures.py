"""Figures of the Big Five foundation."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import seaborn as sns

from analysis.core.figures import note_n, save, short_model
from analysis.studies.bigfive.stats import DOMAINS


def plot_profiles(summary: pl.DataFrame, path: str | Path | None = None):
    """Heat map of mean domain scores per persona (rows) and domain (columns), one panel per model;
    the number of simulated participants per cell is given under each panel."""
    df = summary.to_pandas()
    models = list(dict.fromkeys(df["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 5), squeeze=False)
    for ax, m in zip(axes[0], models):
        sub = df[df["model"] == m]
        wide = sub.pivot(index="persona", columns="domain", values="mean_score")
        wide = wide.reindex(columns=[d for d in DOMAINS if d in wide.columns])
        sns.heatmap(wide, vmin=1, vmax=5, center=3, cmap="vlag", annot=True, fmt=".2f", ax=ax, cbar=ax is axes[0][-1])
        ax.set_title(short_model(m), fontsize=9)
        n = sub["n_participants"]
        n_txt = f"n = {int(n.min())}" if n.min() == n.max() else f"n = {int(n.min())}-{int(n.max())}"
        ax.set_xlabel(f"domain (IPIP-NEO-120, 1-5); {n_txt} participant(s) per cell")
    return save(fig, path)


def plot_effects(effects: pl.DataFrame, path: str | Path | None = None):
    """Forest plot of Hedges' g_av (CI) of each pole persona on its target domain, with n per row (items
    answered with and without the persona). A g whose interval is undefined (too few items or no
    variance) is drawn as an open marker without a bar, never as a certain value."""
    df = effects.to_pandas().sort_values(["model", "target_domain", "pole"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(df) + 1.6))
    labels = [f"{r.persona} | {short_model(r.model)}  (n = {r.n_items} items)" for r in df.itertuples()]
    yy = np.arange(len(df))
    has_ci = df["g_ci_low"].notna() & df["g_ci_high"].notna() & df["g"].notna()
    ok = df[has_ci]
    ax.errorbar(ok["g"], yy[has_ci.to_numpy()], xerr=[ok["g"] - ok["g_ci_low"], ok["g_ci_high"] - ok["g"]], fmt="o",
                color="k", capsize=3, label="g with CI")
    undefined = df[~has_ci]
    if len(undefined):
        ax.scatter(undefined["shift"].fillna(0.0) * 0, yy[(~has_ci).to_numpy()], marker="o", facecolors="none",
                   edgecolors="tab:red", label="g undefined (drawn at 0)")
    ax.axvline(0, color="grey", lw=1, label="no effect")
    ax.set_yticks(yy, labels, fontsize=8)
    ax.set_xlabel("Hedges' g_av, persona vs no persona on the target domain's items (paired by item, CI)")
    ax.legend(fontsize=8, loc="best")
    note_n(ax, f"{len(df)} persona x model comparisons")
    return save(fig, path)
