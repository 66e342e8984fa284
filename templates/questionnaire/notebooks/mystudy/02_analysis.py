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
# next to the instrument's published cut-offs where it has them.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import matplotlib.pyplot as plt
import polars as pl
from analysis.studies.mystudy import STUDY

from analysis.core import metrics
from analysis.core.collection import load
from analysis.core.figures import note_n, save, short_model
from analysis.core.instruments import load_instrument, score
from analysis.core.io import write_csv
from analysis.core.paths import figures_dir, processed_dir

a = STUDY.analysis_stage(params).analysis
items = load(STUDY.id, "items")
instrument = load_instrument(items["instrument"][0])
by = ["model", "condition", "sample"]
scores = score(instrument, items.select(*by, "item_id", "value"), by=by, min_answered=a.min_answered,
               administered=set(items["item_id"].unique().to_list()))
write_csv(scores, processed_dir(STUDY.id) / "scores.csv")
scores

# %% [markdown]
# ## Scores by condition
# One point per model x condition x sample; a scale not scored (too few valid answers) is counted, not drawn.
# A sum-scored scale has a total (and a cut-off band) only when its whole published form was given and
# answered; when only some of its items were given (`items_per_scale`), the mean answer per item is shown
# instead, without the cut-offs, which are defined for totals only.

# %%
top = [s.id for s in instrument.scales if s.parent is None]
d = scores.filter(pl.col("scale").is_in(top))
whole_form = bool((d["n_items"] == d["n_scale_items"]).all())
col = "score" if whole_form else "mean_item"
fig, ax = plt.subplots(figsize=(6, 3.5))
for i, (cond, g) in enumerate(d.group_by("condition", maintain_order=True)):
    ax.scatter(g[col].to_list(), [i] * g.height, label=f"{cond[0]} (n = {g[col].drop_nulls().len()})")
ax.set_yticks(range(d["condition"].n_unique()), d["condition"].unique(maintain_order=True).to_list())
if whole_form:
    for b in instrument.scale(top[0]).cutoffs[1:]:
        ax.axvline(b.min, ls="--", color="grey", lw=0.8)
        ax.text(b.min, -0.4, f" {b.label}", fontsize=7, color="grey")
ax.set_xlabel(f"{instrument.name}: {top[0]} " + ("score" if whole_form else
              f"mean answer per item ({d['n_items'].max()} of {d['n_scale_items'].max()} items given; no total)"))
note_n(ax, f"{d['model'].n_unique()} model(s): {', '.join(short_model(m) for m in d['model'].unique())}")
fig = save(fig, figures_dir(STUDY.id) / "scores.png")

# %% [markdown]
# ## Headline numbers (`metrics/mystudy.json`, shown by `dvc metrics show`)

# %%
summary = d.group_by("model", "condition", "scale").agg(pl.col(col).mean().alias("mean"),
                                                      pl.col(col).is_not_null().sum().alias("n"),
                                                      pl.col(col).is_null().sum().alias("n_not_scored"))
metrics.write(STUDY.id, {m: {f"{r['condition']}|{r['scale']}|{col}": {"mean": r["mean"], "n": r["n"],
                                                                 "n_not_scored": r["n_not_scored"]}
                             for r in summary.filter(pl.col("model") == m).iter_rows(named=True)}
                         for m in summary["model"].unique()})
summary
