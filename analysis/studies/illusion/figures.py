"""Figures of Study 1 (the personality illusion). Every function returns a matplotlib Figure (or None
when there is nothing to draw) and saves it through :func:`analysis.core.figures.save` when ``path`` is
given. Every figure states its n; axes span each measure's full scale (so a constant does not look
like a result); an estimate whose CI is undefined is drawn as an open marker without a bar, never as a
certain value; reference lines are labelled.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.core.figures import note_n, save, short_model
from analysis.studies.illusion.schema import expected_range

LABELS = {
    "sr_O": "Openness", "sr_C": "Conscientiousness", "sr_E": "Extraversion", "sr_A": "Agreeableness",
    "sr_N": "Neuroticism", "sr_SRQ": "Self-regulation (SRQ, mean per item)",
    "bh_cct_cards": "CCT cards turned", "bh_cct_dist_opt": "CCT |cards - EV optimum|",
    "bh_syc_flip_rate": "Sycophantic flip rate", "bh_hon_accuracy": "Trivia accuracy", "bh_hon_ece": "ECE",
    "bh_hon_brier": "Brier score", "bh_hon_overconf": "Overconfidence", "bh_hon_consistency": "|c1 - c2|",
    "bh_iat_bias": "IAT bias",
}


def label(c: str) -> str:
    return LABELS.get(c, c)


def _limits(col: str, values: pd.Series) -> tuple[float, float]:
    rng = expected_range(col)
    lo, hi = (rng if rng and np.isfinite(rng[1]) else (float(values.min()), float(values.max())))
    pad = 0.04 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def profiles(table: pd.DataFrame, columns: list[str], path=None, title: str = "", seed: int = 0,
             collapse: bool = True):
    """Strip plot of each measure by condition: one dot per unit, as in the tests (:func:`stats.units`: model x
    condition x temperature x run with exact repeats collapsed; one row per model x condition in option_probs
    mode), jittered vertically, colour = model; the x axis
    spans the measure's scale; n per panel."""
    from analysis.studies.illusion.stats import units as make_units

    units = table
    cols = [c for c in columns if c in units and units[c].notna().any()]
    if not cols:
        return None
    rng = np.random.default_rng(seed)
    n = len(cols)
    ncol = min(3, n)
    nrow = int(np.ceil(n / ncol))
    conds = list(dict.fromkeys(units.sort_values(["condition_type", "condition"])["condition"]))
    models = list(dict.fromkeys(units["model"]))
    cmap = plt.cm.tab10 if len(models) <= 10 else plt.cm.tab20
    colours = {m: cmap(i % cmap.N) for i, m in enumerate(models)}
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 0.28 * len(conds) * nrow + 1.6 * nrow), squeeze=False)
    for ax, c in zip(axes.flat, cols):
        d = make_units(units, [c], collapse)[["condition", "model", c]]
        y = d["condition"].map({k: i for i, k in enumerate(conds)}).to_numpy(float)
        ax.scatter(d[c], y + rng.uniform(-0.25, 0.25, len(d)), s=14, alpha=0.7,
                   c=[colours[m] for m in d["model"]], edgecolors="none")
        ax.set_yticks(range(len(conds)), conds, fontsize=6)
        ax.set_ylim(-0.6, len(conds) - 0.4)
        ax.set_xlim(*_limits(c, d[c]))
        ax.set_xlabel(label(c), fontsize=8)
        ax.set_title(f"n = {len(d)} units", fontsize=7, color="0.3")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if len(models) > 1:
        handles = [plt.Line2D([], [], marker="o", ls="", color=colours[m], label=short_model(m)) for m in models]
        fig.legend(handles=handles, fontsize=7, loc="upper center", ncol=min(4, len(models)), bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def _forest(ax, d: pd.DataFrame, y: np.ndarray, est: str, lo: str, hi: str, colour: str, lab: str):
    """Points with CI bars where the CI is defined; open markers without a bar where it is not; an
    undefined estimate is not drawn (its row says so)."""
    has = d[est].notna() & d[lo].notna() & d[hi].notna()
    ok = d[has]
    if len(ok):
        ax.errorbar(ok[est], y[has.to_numpy()], xerr=[(ok[est] - ok[lo]).clip(lower=0), (ok[hi] - ok[est]).clip(lower=0)],
                    fmt="o", color=colour, capsize=3, label=f"{lab} (CI)")
    und = d[~has & d[est].notna()]
    if len(und):
        ax.scatter(und[est], y[(~has & d[est].notna()).to_numpy()], marker="o", facecolors="none", edgecolors=colour,
                   label=f"{lab}, CI undefined")


def rq1_means(means: pd.DataFrame, path=None, variability: pd.DataFrame | None = None):
    """Left: instruct-minus-base Cohen's d per trait (pooled over models, or per pair), with CIs and n. Right
    (when ``variability`` is given): the SD ratio instruct / base per trait, one point per pair and the pooled
    ratio as a diamond, on a log scale with the line of equal variability."""
    if means is None or means.empty:
        return None
    d = means.reset_index(drop=True).copy()
    pair = (d["base"].map(short_model) + " -> " + d["instruct"].map(short_model)) if "base" in d else \
        pd.Series(["all base -> all instruct"] * len(d))
    two = variability is not None and len(variability) > 0
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(12 if two else 7, 0.45 * len(d) + 1.6), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]} if two else None)
    ax = axes[0][0]
    y = np.arange(len(d))
    _forest(ax, d, y, "d_instruct_minus_base", "d_ci_low", "d_ci_high", "k", "d")
    ax.set_yticks(y, [f"{label(t)} ({p}; n = {int(b)} vs {int(i)})" for t, p, b, i in
                      zip(d["trait"], pair, d["n_base"], d["n_instruct"])], fontsize=7)
    ax.axvline(0, color="grey", lw=0.8, label="no difference")
    ax.set_xlabel("Cohen's d, instruct minus base (two-sided CI)")
    ax.legend(fontsize=7, loc="best")
    if two:
        ax2 = axes[0][1]
        pos = {t: i for i, t in enumerate(d["trait"])}
        v = variability[variability["trait"].isin(pos) & variability["sd_ratio_instruct_base"].notna()]
        ax2.scatter(v["sd_ratio_instruct_base"], v["trait"].map(pos),
                    s=18, alpha=0.6, color="tab:blue", label=f"one pair ({v[['base', 'instruct']].drop_duplicates().shape[0]} pairs)")
        if "sd_ratio_instruct_base" in d:
            ax2.scatter(d["sd_ratio_instruct_base"], y, marker="D", s=40, color="k", label="pooled")
        ax2.axvline(1, color="grey", lw=0.8, label="equal variability")
        ax2.set_xscale("log")
        vals = pd.concat([v["sd_ratio_instruct_base"], d.get("sd_ratio_instruct_base", pd.Series(dtype=float))]).dropna()
        lo, hi = min(float(vals.min()), 0.5) / 1.3, max(float(vals.max()), 2.0) * 1.3
        ax2.set_xlim(lo, hi)
        ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if lo <= t <= hi]
        ax2.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax2.minorticks_off()
        ax2.set_yticks(y, [label(t) for t in d["trait"]], fontsize=7)
        ax2.set_xlabel("SD ratio, instruct / base (log scale; < 1 = more stable)")
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save(fig, path)


def rq2_heatmap(tests: pd.DataFrame, path=None, sig_col: str = "sig_bh"):
    """Standardised slope of each behaviour on each trait for the tested pairs; * = significant after BH;
    (+)/(-) = the human-expected sign; n units per cell; blank = not tested. None when nothing was tested."""
    if tests is None or tests.empty or tests["p"].notna().sum() == 0:
        return None
    t = tests.copy()
    coef = t.pivot(index="trait", columns="behaviour", values="coef").astype(float)
    tested = t.pivot(index="trait", columns="behaviour", values="p").notna()
    coef = coef.where(tested)
    fig, ax = plt.subplots(figsize=(1.2 * coef.shape[1] + 2.8, 0.6 * coef.shape[0] + 2.0))
    im = ax.imshow(coef.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    fig.colorbar(im, ax=ax, label="standardised coefficient")
    look = t.set_index(["trait", "behaviour"])
    for i, tr in enumerate(coef.index):
        for j, b in enumerate(coef.columns):
            r = look.loc[(tr, b)]
            if not tested.loc[tr, b]:
                ax.text(j, i, f"not tested\nn = {int(r['n'])}", ha="center", va="center", fontsize=6, color="0.4")
                continue
            txt = f"{r['coef']:.2f}" + ("*" if bool(r[sig_col]) else "") + f"\nn = {int(r['n'])}"
            e = r.get("expected_sign", np.nan)
            if e == e:
                txt += " (" + ("+" if e > 0 else "-") + ")"
            ax.text(j, i, txt, ha="center", va="center", fontsize=6)
    ax.set_xticks(range(coef.shape[1]), [label(c) for c in coef.columns], rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(coef.shape[0]), [label(c) for c in coef.index], fontsize=7)
    ax.set_title("Trait -> behaviour slopes (* BH-significant; (+)/(-) human-expected sign)", fontsize=9)
    return save(fig, path)


def rq3_shifts(shifts: pd.DataFrame, path=None, model: str | None = None):
    """Cohen's d of the paired self-report and the paired behaviour, per persona trait and strategy,
    with n per row; open markers where the CI is undefined."""
    if shifts is None or shifts.empty:
        return None
    d = shifts.copy()
    models = d["model"].unique().tolist()
    pick = model or ("all models" if "all models" in models else models[0])
    d = d[d["model"] == pick].reset_index(drop=True)
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(d) + 1.5))
    y = np.arange(len(d))
    for kind, colour in (("self_report", "tab:blue"), ("behaviour", "tab:orange")):
        m = (d["kind"] == kind).to_numpy()
        if m.any():
            _forest(ax, d[m], y[m], "d", "d_ci_low", "d_ci_high", colour, kind.replace("_", "-"))
    labels = [f"{r.persona_trait} / {r.strategy}: {label(r.measure)} (n = {int(r.n_persona)} vs {int(r.n_baseline)})"
              + ("" if r.d == r.d else " - d undefined") for r in d.itertuples()]
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(0, color="grey", lw=0.8, label="no shift")
    ax.set_xlabel("Cohen's d, persona minus baseline of the same models (two-sided CI)")
    ax.set_title(f"Persona injection ({short_model(pick) if pick != 'all models' else pick})", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return save(fig, path)


def cct_choices(items: pd.DataFrame, path=None):
    """Mean cards chosen per CCT scenario and condition type against the EV-optimal number; marker size =
    number of units; the identity line is labelled."""
    if items is None or items.empty or "optimum" not in items:
        return None
    d = items[(items["task"] == "cct") & items["value"].notna()]
    if d.empty:
        return None
    ctype = d["condition"].str.split("_").str[0]
    g = (d.assign(ctype=ctype).groupby(["item_id", "ctype"], as_index=False)
         .agg(value=("value", "mean"), optimum=("optimum", "first"), n=("value", "size")))
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    for (ct, sub), colour in zip(g.groupby("ctype"), ("tab:blue", "tab:orange", "tab:green")):
        ax.scatter(sub["optimum"] + (0.3 if ct == "persona" else -0.3), sub["value"], s=12 + 4 * sub["n"], alpha=0.7,
                   color=colour, label=f"{ct} conditions")
    ax.plot([0, 32], [0, 32], color="grey", lw=0.8, ls="--", label="choice = EV optimum")
    ax.set_xlim(-1, 33)
    ax.set_ylim(-1, 33)
    ax.set_xlabel("EV-optimal cards (offset by condition type)")
    ax.set_ylabel("cards chosen (expected, mean over units)")
    ax.legend(fontsize=7, loc="upper left")
    note_n(ax, f"{d['item_id'].nunique()} scenarios, {len(g)} points from {len(d)} scored rows")
    return save(fig, path)


def persona_check(checks: pd.DataFrame, path=None):
    """Each persona condition's shift of its target self-report (d with CI) per model; red = against the
    designed (upward) direction."""
    if checks is None or checks.empty:
        return None
    d = checks.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(d) + 1.4))
    y = np.arange(len(d))
    up = (d["against_design"] != True).to_numpy()  # noqa: E712
    if up.any():
        _forest(ax, d[up], y[up], "d", "d_ci_low", "d_ci_high", "tab:blue", "as designed (up)")
    if (~up).any():
        _forest(ax, d[~up], y[~up], "d", "d_ci_low", "d_ci_high", "tab:red", "against the design")
    ax.set_yticks(y, [f"{r.condition} | {short_model(r.model)} (n = {int(r.n_persona)} vs {int(r.n_baseline)})"
                      for r in d.itertuples()], fontsize=7)
    ax.axvline(0, color="grey", lw=0.8, label="no shift")
    ax.set_xlabel("Cohen's d of the target self-report, persona minus baseline (two-sided CI)")
    ax.legend(fontsize=7, loc="best")
    return save(fig, path)
