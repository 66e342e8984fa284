"""Figures of Study 1 (the personality illusion). Every function returns a matplotlib Figure (or None
when there is nothing to draw) and saves it when ``path`` is given."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

LABELS = {
    "sr_O": "Openness", "sr_C": "Conscientiousness", "sr_E": "Extraversion", "sr_A": "Agreeableness",
    "sr_N": "Neuroticism", "sr_SRQ": "Self-regulation (SRQ)",
    "bh_cct_cards": "CCT cards turned", "bh_cct_dist_opt": "CCT |cards - EV optimum|",
    "bh_syc_flip_rate": "Sycophantic flip rate", "bh_hon_accuracy": "Trivia accuracy", "bh_hon_ece": "ECE",
    "bh_hon_brier": "Brier score", "bh_hon_overconf": "Overconfidence", "bh_hon_consistency": "|c1 - c2|",
    "bh_iat_bias": "IAT bias",
}


def label(c: str) -> str:
    return LABELS.get(c, c)


def _save(fig, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return fig


def profiles(units: pd.DataFrame, columns: list[str], path=None, title: str = ""):
    """Strip plot of each measure by condition (one dot per model x condition x temperature unit)."""
    cols = [c for c in columns if c in units and units[c].notna().any()]
    if not cols:
        return None
    n = len(cols)
    ncol = min(3, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for ax, c in zip(axes.flat, cols):
        d = units[["condition", "model", c]].dropna()
        sns.stripplot(data=d, y="condition", x=c, hue="model" if d["model"].nunique() > 1 else None, ax=ax,
                      size=5, jitter=0.15, legend=False)
        ax.set_xlabel(label(c))
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def rq1_means(means: pd.DataFrame, path=None):
    """Instruct-minus-base Cohen's d per trait and pair, with 95% CIs."""
    if means is None or means.empty:
        return None
    d = means.copy()
    d["pair"] = d["base"] + " -> " + d["instruct"]
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(d)))
    y = np.arange(len(d))
    ax.errorbar(d["d_instruct_minus_base"], y, xerr=[d["d_instruct_minus_base"] - d["d_ci_low"],
                                                     d["d_ci_high"] - d["d_instruct_minus_base"]], fmt="o")
    ax.set_yticks(y, [f"{label(t)} ({p})" for t, p in zip(d["trait"], d["pair"])], fontsize=7)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("Cohen's d, instruct minus base (95% CI)")
    fig.tight_layout()
    return _save(fig, path)


def rq2_heatmap(tests: pd.DataFrame, path=None, sig_col: str = "sig_bh"):
    """Standardised slope of each behaviour on each trait; * = significant after BH, x = not tested."""
    if tests is None or tests.empty:
        return None
    coef = tests.pivot(index="trait", columns="behaviour", values="coef")
    sig = tests.pivot(index="trait", columns="behaviour", values=sig_col)
    exp = tests.pivot(index="trait", columns="behaviour", values="expected_sign")
    fig, ax = plt.subplots(figsize=(1.1 * coef.shape[1] + 2.5, 0.55 * coef.shape[0] + 1.8))
    sns.heatmap(coef.astype(float), cmap="RdBu_r", center=0, vmin=-1, vmax=1, annot=False, ax=ax,
                cbar_kws={"label": "standardised coefficient"})
    for i, t in enumerate(coef.index):
        for j, b in enumerate(coef.columns):
            v = coef.loc[t, b]
            if v != v:
                txt = "x"
            else:
                txt = f"{v:.2f}" + ("*" if sig.loc[t, b] is True or sig.loc[t, b] == 1 else "")
                e = exp.loc[t, b] if b in exp.columns and t in exp.index else np.nan
                if e == e:
                    txt += "\n(exp " + ("+" if e > 0 else "-") + ")"
            ax.text(j + 0.5, i + 0.5, txt, ha="center", va="center", fontsize=7)
    ax.set_xticklabels([label(c) for c in coef.columns], rotation=35, ha="right", fontsize=8)
    ax.set_yticklabels([label(c) for c in coef.index], rotation=0, fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title("Trait -> behaviour slopes (* BH-significant; exp = human-expected sign)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def rq3_shifts(shifts: pd.DataFrame, path=None, model: str | None = None):
    """Cohen's d of the paired self-report and the paired behaviour, per persona trait and strategy."""
    if shifts is None or shifts.empty:
        return None
    d = shifts.copy()
    models = d["model"].unique().tolist()
    pick = model or ("all models" if "all models" in models else models[0])
    d = d[d["model"] == pick]
    rows = []
    for _, r in d.iterrows():
        for kind in ("self_report", "behaviour"):
            rows.append({"what": f"{r['persona_trait']} / {r['strategy']}", "kind": kind.replace("_", "-"),
                         "measure": label(r.get(kind) or ""), "d": r.get(f"{kind}_d"),
                         "lo": r.get(f"{kind}_d_ci_low"), "hi": r.get(f"{kind}_d_ci_high")})
    p = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6.5, 0.6 + 0.55 * len(p)))
    colors = {"self-report": "tab:blue", "behaviour": "tab:orange"}
    y = np.arange(len(p))
    for k, c in colors.items():
        m = (p["kind"] == k).to_numpy()
        pk = p[m]
        lo = (pk["d"] - pk["lo"]).fillna(0).clip(lower=0)
        hi = (pk["hi"] - pk["d"]).fillna(0).clip(lower=0)
        ax.errorbar(pk["d"], y[m], xerr=[lo, hi], fmt="o", color=c, label=k)
    ax.set_yticks(y, [f"{w}: {m}" for w, m in zip(p["what"], p["measure"])], fontsize=7)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("Cohen's d, persona minus baseline (95% CI)")
    ax.set_title(f"Persona injection ({pick})", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def cct_choices(items: pd.DataFrame, path=None):
    """Cards chosen per CCT scenario against the EV-optimal number (item-level table)."""
    if items is None or items.empty or "optimum" not in items:
        return None
    d = items[(items["task"] == "cct") & items["value"].notna()]
    if d.empty:
        return None
    g = d.groupby(["item_id", "condition"], as_index=False).agg(value=("value", "mean"), optimum=("optimum", "first"))
    fig, ax = plt.subplots(figsize=(5, 4))
    sns.scatterplot(data=g, x="optimum", y="value", hue="condition", ax=ax, s=30)
    lim = [0, 32]
    ax.plot(lim, lim, color="grey", lw=0.8, ls="--")
    ax.set_xlim(-1, 33)
    ax.set_ylim(-1, 33)
    ax.set_xlabel("EV-optimal cards")
    ax.set_ylabel("cards chosen (expected)")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return _save(fig, path)
