"""Figures of Study 1 (the personality illusion). Every function returns a matplotlib Figure (or None
when there is nothing to draw) and saves it through :func:`analysis.core.figures.save` when ``path`` is
given. A figure with nothing estimable is not drawn: :func:`analysis.core.figures.not_drawn` says why in one
sentence. Every figure states its n; axes fit the data (at least a quarter of a measure's scale, so a
constant does not look like a result); labels are at least 8 pt as a report shows them; an estimate whose CI is undefined is drawn as an open marker without a bar, never as a
certain value; reference lines are labelled.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.core.figures import not_drawn, save, short_model
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


def _limits(col: str, lows, highs, min_share: float = 0.25) -> tuple[float, float]:
    """Axis limits that fit the data (``lows`` .. ``highs``: points and CI ends) with a margin. The span is at
    least ``min_share`` of the measure's scale (so a difference of a hundredth does not fill the panel) and
    stays within the scale."""
    lo_d, hi_d = float(np.nanmin(lows)), float(np.nanmax(highs))
    rng = expected_range(col)
    full = (rng[1] - rng[0]) if rng and np.isfinite(rng[0]) and np.isfinite(rng[1]) else 0.0
    span = max(hi_d - lo_d, min_share * full, 1e-9 if full else abs(hi_d) * 0.1 or 1.0)
    mid = (lo_d + hi_d) / 2
    lo, hi = mid - span / 2, mid + span / 2
    if full:  # shift the window back inside the scale where it sticks out at one end
        if lo < rng[0]:
            lo, hi = rng[0], min(rng[0] + span, rng[1])
        elif hi > rng[1]:
            lo, hi = max(rng[1] - span, rng[0]), rng[1]
    pad = 0.06 * (hi - lo)
    return lo - pad, hi + pad


def _mean_ci(x: np.ndarray, ci: float) -> tuple[float, float, float]:
    """Mean and t-based CI of the units' values (NaN ends when fewer than 2 units or no spread)."""
    from scipy import stats as sps

    m = float(np.mean(x))
    if len(x) < 2 or np.std(x, ddof=1) == 0:
        return m, float("nan"), float("nan")
    h = float(sps.t.ppf(1 - (1 - ci) / 2, len(x) - 1) * np.std(x, ddof=1) / np.sqrt(len(x)))
    return m, m - h, m + h


def _group(d: pd.DataFrame) -> pd.Series:
    """The row a unit is drawn in: its condition type, and for personas the persona's trait."""
    kind = d["condition_type"].astype(str) if "condition_type" in d else pd.Series("condition", index=d.index)
    trait = d["persona_trait"] if "persona_trait" in d else pd.Series(None, index=d.index, dtype=object)
    return pd.Series(np.where(kind.eq("persona") & trait.notna(), trait.astype(str).str.replace("_", "-") + " persona",
                              kind + " prompts"), index=d.index)


def profiles(table: pd.DataFrame, columns: list[str], path=None, title: str = "", seed: int = 0,
             collapse: bool = True, ci: float = 0.95):
    """One panel per measure, one row per group of conditions that has data for it (the baseline prompts;
    each persona trait; groups without data are left out and named): every unit as a dot (:func:`stats.units`:
    exact repeats collapsed, one row per model x condition in option_probs mode; colour = model) and the
    units' mean with its t-based CI (open marker where it is undefined), n per row; the x axis fits the data
    (at least a quarter of the measure's scale, which the label gives)."""
    from analysis.studies.illusion.stats import units as make_units

    what = title or "profiles"
    cols = [c for c in columns if c in table and table[c].notna().any()]
    if not cols:
        return not_drawn(what, "no measure has a value in any condition", path)
    rng = np.random.default_rng(seed)
    order = list(dict.fromkeys(_group(table.sort_values(["condition_type", "condition"], ascending=[False, True]))))
    models = list(dict.fromkeys(table["model"]))
    cmap = plt.cm.tab10 if len(models) <= 10 else plt.cm.tab20
    colours = {m: cmap(i % cmap.N) for i, m in enumerate(models)}
    per = {}
    for c in cols:
        u = make_units(table, [c], collapse)
        per[c] = u.assign(_group=_group(u))[["_group", "condition", "model", c]]
    rows = {c: [k for k in order if (per[c]["_group"] == k).any()] for c in cols}
    ncol = min(2, len(cols))
    nrow = int(np.ceil(len(cols) / ncol))
    height = [0.42 * max(max(len(rows[c]) for c in cols[r * ncol:(r + 1) * ncol]), 1) + 1.2 for r in range(nrow)]
    fig, axes = plt.subplots(nrow, ncol, figsize=(10.5 if ncol == 2 else 6.5, sum(height)), squeeze=False,
                             gridspec_kw={"height_ratios": height})
    off = {m: (i - (len(models) - 1) / 2) * min(0.5 / max(len(models), 1), 0.2) for i, m in enumerate(models)}
    for ax, c in zip(axes.flat, cols):
        d, groups = per[c], rows[c]
        lows, highs, labels = [d[c].min()], [d[c].max()], []
        # drawn in one call per kind of mark and panel (the same marks, in the same order, as one call per model
        # and group would draw: hundreds of calls made a figure take seconds)
        dots_x, dots_y, dots_c, bars, open_ = [], [], [], [], []
        for i, k in enumerate(groups):
            g = d[d["_group"] == k]
            labels.append(f"{k}\n({g['condition'].nunique()} conditions, n = {len(g)})")
            for m, gm in g.groupby("model", sort=False):
                y = i + off[m]
                x = gm[c].to_numpy(float)
                dots_x.append(x)
                dots_y.append(y + 0.12 + rng.uniform(-0.05, 0.05, len(x)))
                dots_c += [colours[m]] * len(x)
                mean, lo, hi = _mean_ci(x, ci)
                if lo == lo:
                    bars.append((mean, y - 0.12, mean - lo, hi - mean))
                    lows.append(lo)
                    highs.append(hi)
                else:
                    open_.append((mean, y - 0.12))
        if dots_x:
            ax.scatter(np.concatenate(dots_x), np.concatenate(dots_y), s=12, alpha=0.55, c=dots_c, edgecolors="none")
        if bars:
            bx, by, blo, bhi = (list(v) for v in zip(*bars))
            ax.errorbar(bx, by, xerr=[blo, bhi], fmt="D", ms=4, color="k", capsize=2, lw=1, ls="none")
        if open_:
            ox, oy = zip(*open_)
            ax.scatter(ox, oy, marker="D", s=18, facecolors="none", edgecolors="k", zorder=3)
        ax.set_yticks(range(len(groups)), labels, fontsize=8)
        ax.set_ylim(-0.6, len(groups) - 0.4)
        ax.invert_yaxis()
        ax.set_xlim(*_limits(c, lows, highs))
        scale = expected_range(c)
        ax.set_xlabel(label(c) + (f" (scale {scale[0]:g} to {scale[1]:g})" if scale and np.isfinite(scale[1]) else ""),
                      fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        missing = [k for k in order if k not in groups]
        ax.set_title(f"{len(d)} units" + (f"\nno data under: {', '.join(missing)}" if missing else ""),
                     fontsize=8, color="0.3")
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colours[m], alpha=0.6,
                          label=f"one unit ({short_model(m)})" if len(models) > 1 else "one unit (a condition)")
               for m in models]
    handles += [plt.Line2D([], [], marker="D", color="k", ms=4, label=f"mean, {round(ci * 100)}% CI (t)"),
                plt.Line2D([], [], marker="D", ls="", mfc="none", mec="k", ms=4,
                           label="mean, CI undefined (n < 2 or no spread)")]
    fig.legend(handles=handles, fontsize=8, loc="upper center", ncol=min(3, len(handles)), bbox_to_anchor=(0.5, 0.0),
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def _estimable(d: pd.DataFrame, est: str = "d") -> pd.DataFrame:
    return d[d[est].notna()] if est in d else d.iloc[0:0]


MAX_ROWS = 30  # a figure with more rows is summarised (or not drawn): a forest of hundreds of rows is unreadable
MAX_HEIGHT = 14.0  # inches


def _dropped_note(ax, n_dropped: int, what: str) -> None:
    if n_dropped:
        ax.annotate(f"{n_dropped} {what} without an estimable d not shown", (0, 0), xycoords="axes fraction",
                    xytext=(0, -36), textcoords="offset points", fontsize=8, color="0.3", va="top")


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
        return not_drawn("RQ1, base versus aligned", "RQ1 was not tested (no base model and its instruct counterpart)")
    no_d = _estimable(means, "d_instruct_minus_base").empty
    has_ratio = variability is not None and len(variability) > 0 and \
        variability.get("sd_ratio_instruct_base", pd.Series(dtype=float)).notna().any()
    if no_d and not has_ratio:
        return not_drawn("RQ1, base versus aligned", f"none of the {len(means)} trait contrasts has an estimable d "
                         "or SD ratio", path)
    d = means.reset_index(drop=True).copy()
    pair = (d["base"].map(short_model) + " -> " + d["instruct"].map(short_model)) if "base" in d else \
        pd.Series(["all base -> all instruct"] * len(d))
    two = variability is not None and len(variability) > 0
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(10 if two else 7, 0.45 * len(d) + 2.2), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]} if two else None)
    ax = axes[0][0]
    y = np.arange(len(d))
    _forest(ax, d, y, "d_instruct_minus_base", "d_ci_low", "d_ci_high", "k", "d")
    ax.set_yticks(y, [f"{label(t)} ({p}; n = {int(b)} vs {int(i)})" for t, p, b, i in
                      zip(d["trait"], pair, d["n_base"], d["n_instruct"])], fontsize=8)
    ax.axvline(0, color="grey", lw=0.8, label="no difference")
    if no_d:
        ax.text(0.5, 0.5, "no d estimable\n(too few models per role)", transform=ax.transAxes, ha="center",
                va="center", fontsize=9, color="0.3")
    ax.set_xlabel("Cohen's d, instruct minus base (two-sided CI)")
    ax.legend(fontsize=8, loc="best")
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
        ax2.set_yticks(y, [label(t) for t in d["trait"]], fontsize=8)
        ax2.set_xlabel("SD ratio, instruct / base (log scale; < 1 = more stable)")
        ax2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    return save(fig, path)


def rq2_heatmap(tests: pd.DataFrame, path=None, sig_col: str = "sig_bh"):
    """Standardised slope of each behaviour on each trait for the tested pairs, with its two-sided CI and n units
    per cell ("CI undefined" where the fit gave none); * = significant after BH; (+)/(-) = the human-expected
    sign; untested cells say so with their n. None when nothing was tested."""
    if tests is None or tests.empty or tests["p"].notna().sum() == 0:
        return not_drawn("RQ2, trait -> behaviour slopes", "no trait-behaviour pair had enough units to be tested")
    t = tests.copy()
    coef = t.pivot(index="trait", columns="behaviour", values="coef").astype(float)
    tested = t.pivot(index="trait", columns="behaviour", values="p").notna()
    coef = coef.where(tested)
    fig, ax = plt.subplots(figsize=(min(1.15 * coef.shape[1] + 2.6, 11.0), 0.8 * coef.shape[0] + 2.0))
    im = ax.imshow(coef.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    fig.colorbar(im, ax=ax, label="standardised coefficient")
    look = t.set_index(["trait", "behaviour"])
    for i, tr in enumerate(coef.index):
        for j, b in enumerate(coef.columns):
            r = look.loc[(tr, b)]
            if not tested.loc[tr, b]:
                ax.text(j, i, f"not tested\nn = {int(r['n'])}", ha="center", va="center", fontsize=8, color="0.4")
                continue
            lo, hi = float(r.get("ci_low", np.nan)), float(r.get("ci_high", np.nan))
            ci_txt = f"[{lo:.2f}, {hi:.2f}]" if lo == lo and hi == hi else "CI undefined"
            txt = f"{r['coef']:+.2f}" + ("*" if bool(r[sig_col]) else "") + f"\n{ci_txt}\nn = {int(r['n'])}"
            e = r.get("expected_sign", np.nan)
            if e == e:
                txt += " (" + ("+" if e > 0 else "-") + ")"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="white" if abs(r["coef"]) > 0.6 else "black")
    ax.set_xticks(range(coef.shape[1]), [label(c) for c in coef.columns], rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(coef.shape[0]), [label(c) for c in coef.index], fontsize=8)
    ax.set_title("Trait -> behaviour slopes with two-sided CI and n units (* BH-significant; (+)/(-) human-expected "
                 "sign)", fontsize=9)
    return save(fig, path)


def rq3_shifts(shifts: pd.DataFrame, path=None, model: str | None = None):
    """Cohen's d of the paired self-report and the paired behaviour, per persona trait and strategy,
    with n per row; open markers where the CI is undefined."""
    what = "RQ3, persona injection"
    if shifts is None or shifts.empty:
        return not_drawn(what, "there are no persona rows to compare with the baselines", path)
    d = shifts.copy()
    models = d["model"].unique().tolist()
    pick = model or ("all models" if "all models" in models else models[0])
    d = d[d["model"] == pick].reset_index(drop=True)
    if d.empty:
        return not_drawn(what, f"no shift for {pick}", path)
    n_all = len(d)
    d = _estimable(d).reset_index(drop=True)
    if d.empty:
        return not_drawn(what, f"none of the {n_all} shifts has an estimable d ({shifts['note'].dropna().iloc[0] if 'note' in shifts and shifts['note'].dropna().any() else 'too few units'})", path)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(d) + 1.5))
    y = np.arange(len(d))
    for kind, colour in (("self_report", "tab:blue"), ("behaviour", "tab:orange")):
        m = (d["kind"] == kind).to_numpy()
        if m.any():
            _forest(ax, d[m], y[m], "d", "d_ci_low", "d_ci_high", colour, kind.replace("_", "-"))
    labels = [f"{r.persona_trait} / {r.strategy}: {label(r.measure)} (n = {int(r.n_persona)} vs {int(r.n_baseline)})"
              for r in d.itertuples()]
    ax.set_yticks(y, labels, fontsize=8)
    _dropped_note(ax, n_all - len(d), "shift(s)")
    ax.axvline(0, color="grey", lw=0.8, label="no shift")
    ax.set_xlabel("Cohen's d, persona minus baseline of the same models (two-sided CI)")
    ax.set_title(f"Persona injection ({short_model(pick) if pick != 'all models' else pick})", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    return save(fig, path)


def cct_choices(items: pd.DataFrame, path=None, ci: float = 0.95):
    """Mean cards chosen per CCT scenario and condition type against the EV-optimal number, with the t-based
    CI of the mean over the scored rows (none drawn where fewer than 2 rows or no spread) and n per point;
    the axes fit the data (points, CI ends, optima) with a margin, and the identity line is labelled."""
    if items is None or items.empty or "optimum" not in items:
        return not_drawn("CCT choices", "the item table has no CCT scenarios with an EV optimum", path)
    d = items[(items["task"] == "cct") & items["value"].notna()]
    if d.empty:
        return not_drawn("CCT choices", "no CCT scenario has a scored answer", path)
    d = d.assign(ctype=d["condition"].str.split("_").str[0])
    rows = []
    for (item, ct), sub in d.groupby(["item_id", "ctype"]):
        m, lo, hi = _mean_ci(sub["value"].to_numpy(float), ci)
        rows.append({"item_id": item, "ctype": ct, "value": m, "lo": lo, "hi": hi, "n": len(sub),
                     "optimum": float(sub["optimum"].iloc[0])})
    g = pd.DataFrame(rows)
    g["x"] = g["optimum"] + np.where(g["ctype"] == "persona", 0.3, -0.3)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    for (ct, sub), colour in zip(g.groupby("ctype"), ("tab:blue", "tab:orange", "tab:green")):
        has = sub["lo"].notna().to_numpy()
        ax.scatter(sub["x"], sub["value"], s=12 + 4 * sub["n"], alpha=0.7, color=colour,
                   label=f"{ct} conditions (n = {int(sub['n'].min())}-{int(sub['n'].max())} rows per point)")
        if has.any():
            s2 = sub[has]
            ax.errorbar(s2["x"], s2["value"], yerr=[s2["value"] - s2["lo"], s2["hi"] - s2["value"]], fmt="none",
                        ecolor=colour, elinewidth=1, capsize=2)
    xlim = _limits("bh_cct_cards", g["x"], g["x"], 0.1)
    ylim = _limits("bh_cct_cards", pd.concat([g["value"], g["lo"]]), pd.concat([g["value"], g["hi"]]), 0.1)
    lo_i, hi_i = min(xlim[0], ylim[0]), max(xlim[1], ylim[1])
    ax.plot([lo_i, hi_i], [lo_i, hi_i], color="grey", lw=0.8, ls="--", label="choice = EV optimum")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("EV-optimal cards (offset by condition type)")
    ax.set_ylabel(f"cards chosen (expected, mean with {ci:.0%} CI)")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{d['item_id'].nunique()} scenarios, {len(g)} points from {len(d)} scored rows; "
                 f"{int(g['lo'].isna().sum())} without a CI (under 2 rows or no spread)", fontsize=8)
    return save(fig, path)


def persona_check(checks: pd.DataFrame, path=None):
    """Each persona condition's shift of its target self-report (d with CI) per model; red = against the
    designed (upward) direction."""
    what = "persona check"
    if checks is None or checks.empty:
        return not_drawn(what, "there are no persona conditions", path)
    d = _estimable(checks).reset_index(drop=True)
    if d.empty:
        ns = sorted({int(n) for n in checks["n_persona"]})
        notes = sorted({str(x) for x in checks.get("note", pd.Series(dtype=object)).dropna() if str(x)})
        return not_drawn(what, f"none of the {len(checks)} persona conditions has an estimable d: each has "
                         f"{' or '.join(map(str, ns))} unit(s)" + (f" ({'; '.join(notes)})" if notes else "")
                         , path)
    if len(d) > MAX_ROWS:
        return _persona_check_summary(d, len(checks), path)
    fig, ax = plt.subplots(figsize=(7, min(0.4 * len(d) + 1.4, MAX_HEIGHT)))
    y = np.arange(len(d))
    up = (d["against_design"] != True).to_numpy()  # noqa: E712
    if up.any():
        _forest(ax, d[up], y[up], "d", "d_ci_low", "d_ci_high", "tab:blue", "as designed (up)")
    if (~up).any():
        _forest(ax, d[~up], y[~up], "d", "d_ci_low", "d_ci_high", "tab:red", "against the design")
    ax.set_yticks(y, [f"{r.condition} | {short_model(r.model)} (n = {int(r.n_persona)} vs {int(r.n_baseline)})"
                      for r in d.itertuples()], fontsize=8)
    _dropped_note(ax, len(checks) - len(d), "persona condition(s)")
    ax.axvline(0, color="grey", lw=0.8, label="no shift")
    ax.set_xlabel("Cohen's d of the target self-report, persona minus baseline (two-sided CI)")
    ax.legend(fontsize=8, loc="best")
    return save(fig, path)


def _strategy(d: pd.DataFrame) -> pd.Series:
    """The persona strategy of each condition ``persona_<trait>_<strategy>_t<k>`` (the whole rest if it has no
    triplet suffix)."""
    rest = [c.removeprefix(f"persona_{t}_") for c, t in zip(d["condition"].astype(str), d["persona_trait"].astype(str))]
    return pd.Series(rest, index=d.index).str.replace(r"_t\d+$", "", regex=True)


def _persona_check_summary(d: pd.DataFrame, n_checks: int, path=None):
    """More than MAX_ROWS estimable checks: one row per persona trait x strategy, the median d with its range
    (min to max over the models' conditions), n models and n conditions; drawn only if that fits."""
    what = "persona check"
    g = (d.assign(strategy=_strategy(d))
         .groupby(["persona_trait", "strategy"], as_index=False)
         .agg(d=("d", "median"), lo=("d", "min"), hi=("d", "max"), n_models=("model", "nunique"),
              n_cond=("d", "size"), against=("against_design", lambda x: int((x == True).sum()))))  # noqa: E712
    if len(g) > MAX_ROWS:
        return not_drawn(what, f"{len(d)} estimable persona conditions in {len(g)} trait x strategy groups are too "
                         f"many rows for one figure (at most {MAX_ROWS}); the table lists them", path)
    fig, ax = plt.subplots(figsize=(7, min(0.4 * len(g) + 1.8, MAX_HEIGHT)))
    y = np.arange(len(g))
    ax.errorbar(g["d"], y, xerr=[g["d"] - g["lo"], g["hi"] - g["d"]], fmt="o", color="tab:blue", ms=4, capsize=2,
                label="median d, bar = range over the conditions (not a CI)")
    bad = g["against"] > 0
    if bad.any():
        ax.scatter(g.loc[bad, "d"], y[bad.to_numpy()], color="tab:red", zorder=3, s=20,
                   label="some condition against the design")
    ax.set_yticks(y, [f"{r.persona_trait} / {r.strategy} (n = {r.n_models} models, {r.n_cond} conditions"
                      + (f", {r.against} against" if r.against else "") + ")" for r in g.itertuples()], fontsize=8)
    ax.invert_yaxis()
    _dropped_note(ax, n_checks - len(d), "persona condition(s)")
    ax.axvline(0, color="grey", lw=0.8, label="no shift")
    ax.set_xlabel("Cohen's d of the target self-report, persona minus baseline: median over models x triplets")
    ax.set_title(f"Persona check: {len(d)} conditions summarised per trait x strategy (per-condition table: "
                 "persona_checks.csv)", fontsize=8)
    ax.legend(fontsize=7, loc="best")
    return save(fig, path)
