# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # mystudy: analysis
#
# Scale scores per model and condition from the items written by `01_collect` (no model is called here),
# next to each instrument's published cut-offs where it has them, and how far each condition moved each
# scale from the reference condition.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import matplotlib.pyplot as plt
import polars as pl
from IPython.display import Markdown

from analysis.core import measures, metrics
from analysis.core.collection import load
from analysis.core.figures import note_n, save, short_model
from analysis.core.io import write_csv
from analysis.core.paths import figures_dir, processed_dir
from analysis.studies import mystudy as study

STUDY = study.STUDY
a = STUDY.analysis_stage(params).analysis
items = load(STUDY.id, "items")
scores = study.scores(items, a)
shifts = study.shifts(items, a)
write_csv(scores, processed_dir(STUDY.id) / "scores.csv")
write_csv(shifts, processed_dir(STUDY.id) / "shifts.csv")
summary = study.summary(scores, shifts, a, items)
metrics.write_summary(STUDY.id, summary)  # the report index shows its first paragraph
Markdown(summary)

# %% [markdown]
# ## Scores by condition
# One point per model x condition x sample, one panel per instrument; a scale not scored (too few valid
# answers) is counted, not drawn. A sum-scored scale has a total (and a cut-off band) only when its whole
# published form was given and answered; when only some of its items were given (`items_per_scale`), the
# mean answer per item is shown instead, without the cut-offs, which are defined for totals only.

# %%
top = scores.filter(pl.col("top_level"))
insts = study.instruments_of(items)
fig, axes = plt.subplots(len(insts), 1, figsize=(6, 2.5 + 1.5 * len(insts)), squeeze=False)
for ax, (inst_id, instrument) in zip(axes[:, 0], insts.items()):
    d = top.filter(pl.col("instrument") == inst_id)
    scale = d["scale"][0]
    whole_form = bool(d["whole_form"].all())
    conds = d["condition"].unique(maintain_order=True).to_list()
    for i, cond in enumerate(conds):
        g = d.filter(pl.col("condition") == cond)
        ax.scatter(g["reported"].to_list(), [i] * g.height, label=f"{cond} (n = {g['reported'].drop_nulls().len()})")
    ax.set_yticks(range(len(conds)), conds)
    if whole_form:
        for b in instrument.scale(scale).cutoffs[1:]:
            ax.axvline(b.min, ls="--", color="grey", lw=0.8)
            ax.text(b.min, -0.4, f" {b.label}", fontsize=7, color="grey")
    ax.set_xlabel(f"{instrument.name}: {scale} " + ("score" if whole_form else
                  f"mean answer per item ({d['n_items'].max()} of {d['n_scale_items'].max()} items given; no total)"))
note_n(axes[-1, 0], f"{top['model'].n_unique()} model(s): {', '.join(short_model(m) for m in top['model'].unique())}")
fig.tight_layout()
fig = save(fig, figures_dir(STUDY.id) / "scores.png")

# %% [markdown]
# ## Shifts from the reference condition
# Per model, condition and scale: Hedges' g_av paired over the scale's items with its CI, the mean shift per
# item, and the two-sided paired t-test with Holm's adjustment across all comparisons of the run (unit of
# analysis: the item; a g needs at least 3 items answered in both conditions).

# %%
shifts

# %% [markdown]
# ## The shared views and the headline numbers
# The long `measures` and `shifts` tables (`data/processed/mystudy/measures.parquet`, `shifts.parquet`) put this
# study in the results database and the synthesis; `metrics/mystudy.json` is shown by `dvc metrics show`.

# %%
measures.write(STUDY.id, *study.long_tables(scores, shifts, a, items))
metrics.write(STUDY.id, study.headline(scores, shifts))
top
