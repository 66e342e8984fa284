# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Across the studies: does behaviour move with self-report?
#
# **Question.** When a persona or a framing moves what a model says about itself, does what it does move
# with it? Each study contributes the same kind of pair, per model: the standardised shift a manipulation
# causes in a self-report (or clinical scale) and the shift it causes in a behaviour, each with its CI.
#
# * Study 1 (personality illusion): persona injection against the same model's baselines: self-reported
#   agreeableness / self-regulation against the sycophantic flip rate / the cards turned in the CCT.
# * Study 2 (sycophancy): personas designed agreeable against personas designed disagreeable: the model's
#   own rating of the persona's agreeableness against its rate of agreeing with the user.
# * Study 3 (therapy): the therapist's stance, warm against neutral, within therapy sessions: the shift of a
#   clinical scale answered item by item (the self-report) against the shift of the same scale handed over
#   as a whole form (what the model does with the questionnaire).
#
# The summary below names each study's manipulation and measures as they stand in the data, and counts the
# pairs that are plotted (both shifts estimable) apart from those that are only listed.
#
# All numbers are read with SQL from the results database (`data/results/results.duckdb`, built by the
# `results` stage from every study's `shifts.parquet`); nothing here calls a model. A point near the
# horizontal line is a self-report that moved without the behaviour: the "personality illusion".

# %% tags=["parameters"]
params = None  # this notebook has no parameters; it reads the results database

# %%
import matplotlib.pyplot as plt
import polars as pl
from IPython.display import Markdown

from analysis.core import metrics
from analysis.core.figures import note_n, save, short_model
from analysis.core.paths import figures_dir
from analysis.pipeline.results import connect

con = connect()
pairs = con.sql("SELECT * FROM self_report_vs_behaviour").pl()
shifts = con.sql("SELECT study, kind, count(*) AS n_shifts FROM shifts GROUP BY ALL ORDER BY ALL").pl()


def excludes_zero(lo, hi):
    return (lo > 0) | (hi < 0)


if pairs.height:
    # an effect that could not be estimated (NaN) is missing, not "moved": polars orders NaN above every number
    pairs = pairs.with_columns(pl.col(pl.Float64).fill_nan(None))
    pairs = pairs.with_columns(
        excludes_zero(pl.col("self_report_ci_low"), pl.col("self_report_ci_high")).alias("self_report_moved"),
        excludes_zero(pl.col("behaviour_ci_low"), pl.col("behaviour_ci_high")).alias("behaviour_moved"))
    pairs = pairs.with_columns(
        (pl.col("self_report_shift").is_not_null() & pl.col("behaviour_shift").is_not_null()).alias("plotted"))
    by_study = pairs.group_by("study", maintain_order=True).agg(
        pl.len().alias("pairs"), pl.col("plotted").sum().alias("pairs_plotted"), pl.col("model").n_unique().alias("models"),
        pl.col("self_report_moved").sum().alias("self_report_moved"),
        pl.col("behaviour_moved").sum().alias("behaviour_moved"),
        (pl.col("self_report_moved") & pl.col("behaviour_moved").not_()).sum().alias("illusion"),  # null: unknown
        (pl.col("self_report_shift").is_null() | pl.col("behaviour_shift").is_null()).sum().alias("not_estimable"),
        pl.col("self_report_shift").median().alias("median_self_report_shift"),
        pl.col("behaviour_shift").median().alias("median_behaviour_shift"))
    n_plot = int(pairs["plotted"].sum())
    lines = [f"**This run:** {pairs.height} self-report / behaviour pairs from {pairs['study'].n_unique()} "
             f"studies and {pairs['model'].n_unique()} model(s); {n_plot} have both shifts estimated and are plotted, "
             f"{pairs.height - n_plot} are listed only (a shift could not be estimated)."]

    def effect(r, kind) -> str:
        x = r[f"{kind}_shift"]
        if x is None:
            return f"{r[f'{kind}_measure']} not estimable (n = {r[f'{kind}_n_a']} vs {r[f'{kind}_n_b']})"
        lo, hi = r[f"{kind}_ci_low"], r[f"{kind}_ci_high"]
        ci = f"[{lo:+.2f}, {hi:+.2f}]" if lo is not None and hi is not None else "(CI undefined)"
        return (f"{r[f'{kind}_measure']} {r[f'{kind}_effect']} = {x:+.2f} {ci}, "
                f"n = {r[f'{kind}_n_a']} vs {r[f'{kind}_n_b']}")

    for r in by_study.iter_rows(named=True):
        sub = pairs.filter(pl.col("study") == r["study"])
        manip = "; ".join(sorted(set(sub["manipulation"].to_list())))
        lines.append(f"* {r['study']} ({manip}): {r['pairs']} pair(s), {r['pairs_plotted']} plotted; the self-report "
                     f"moved (95% CI excludes 0) in {r['self_report_moved']}, the behaviour in {r['behaviour_moved']}; "
                     f"self-report moved without the behaviour in {r['illusion']}; {r['not_estimable']} with a shift "
                     "that could not be estimated.")
        for p in sub.iter_rows(named=True):
            lines.append(f"  * {short_model(p['model'])}, {p['contrast']}: self-report {effect(p, 'self_report')}; "
                         f"behaviour {effect(p, 'behaviour')}.")
    lines.append("*Caveat:* effects are standardised within each study (Cohen's d or Hedges' g, see the table's "
                 "`effect` columns) on different units of analysis (prompts, personas, sessions); compare directions and "
                 "intervals, not the exact sizes across studies.")
else:
    by_study = pl.DataFrame()
    lines = ["**This run has no self-report / behaviour pair:** no study wrote both kinds of shift for the same "
             "model and manipulation (see the table of shifts below)."]
metrics.write_summary("synthesis", "\n".join(lines))
display(Markdown("\n".join(lines)))
shifts

# %% [markdown]
# ## Self-report shift against behaviour shift
# One point per model x manipulation x (self-report, behaviour) pair, with its two CIs. On the diagonal the
# behaviour moved as much as the self-report (in standardised units); on the horizontal line it did not move.

# %%
fig, ax = plt.subplots(figsize=(6.5, 5.5))
colors = {"illusion": "tab:blue", "sycophancy": "tab:orange", "therapy": "tab:green"}
for i, r in enumerate(pairs.iter_rows(named=True)):
    c = colors.get(r["study"], "tab:grey")
    x, y = r["self_report_shift"], r["behaviour_shift"]
    if x is None or y is None:
        continue
    xerr = [[x - r["self_report_ci_low"]], [r["self_report_ci_high"] - x]] if r["self_report_ci_low"] is not None else None
    yerr = [[y - r["behaviour_ci_low"]], [r["behaviour_ci_high"] - y]] if r["behaviour_ci_low"] is not None else None
    open_marker = xerr is None or yerr is None
    ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=c, mfc="none" if open_marker else c, capsize=2, alpha=0.8,
                label=r["study"] if r["study"] not in ax.get_legend_handles_labels()[1] else None)
    ax.annotate(f"{short_model(r['model'])}: {r['self_report_measure']} / {r['behaviour_measure']}", (x, y),
                fontsize=6, xytext=(3, 3 + 4 * (i % 3)), textcoords="offset points")
if pairs.height:
    bounds = pairs.select("self_report_ci_low", "self_report_ci_high", "behaviour_ci_low", "behaviour_ci_high")
    lim = max([1.0, *[abs(v) for v in bounds.to_numpy().ravel() if v is not None and v == v]])  # none may be known
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.plot([-lim, lim], [-lim, lim], ls=":", color="grey", lw=1, label="behaviour moves as much")
ax.axhline(0, color="grey", lw=1, label="behaviour unchanged")
ax.axvline(0, color="grey", lw=0.5)
ax.set_xlabel("self-report shift (standardised, CI)")
ax.set_ylabel("behaviour shift (standardised, CI)")
ax.legend(fontsize=7, loc="upper left")
n_plotted = int(pairs["plotted"].sum()) if pairs.height else 0
note_n(ax, f"{n_plotted} of {pairs.height} pairs plotted (both shifts estimated), "
           f"{pairs.filter(pl.col('plotted'))['model'].n_unique() if n_plotted else 0} model(s)")
fig = save(fig, figures_dir("synthesis") / "self_report_vs_behaviour.png")

# %% [markdown]
# ## The pairs

# %%
pairs.select("study", "model", "manipulation", "self_report_measure", "self_report_shift", "self_report_ci_low",
             "self_report_ci_high", "behaviour_measure", "behaviour_shift", "behaviour_ci_low", "behaviour_ci_high",
             "self_report_effect", "self_report_unit") if pairs.height else pairs

# %%
from analysis.core.io import write_csv
from analysis.core.paths import DATA_DIR

write_csv(pairs.drop("self_report_moved", "behaviour_moved", "plotted") if pairs.height else pairs,
          DATA_DIR / "results" / "self_report_vs_behaviour.csv")  # the data-driven DVC plot

# %% [markdown]
# ## Headline numbers (`metrics/synthesis.json`)

# %%
metrics.write("synthesis", {r["study"]: {k: v for k, v in r.items() if k != "study"}
                            for r in by_study.iter_rows(named=True)} if by_study.height else {"pairs": 0})
