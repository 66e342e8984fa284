# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study 1: the released data of Han et al. (2025), re-analysed
#
# **What this is.** The result tables the authors of *The Personality Illusion* (arXiv 2509.03730) released
# with their code (`psychology-of-AI/Personality-Illusion`, commit `a934083`, MIT), converted to Study 1's tidy
# schema and run through Study 1's own analysis (RQ1-RQ3, the same functions as `02_analysis`). No model is
# called. The numbers are shipped in `data/external/han2025/` (with `SOURCE.md` and the licence); the
# conversion is `analysis/studies/illusion/han2025.py`, where every mapping decision is stated.
#
# * **RQ1**: are instruction-tuned models' self-reports more stable than their base models'?
# * **RQ2**: do the self-reported traits predict behaviour (risk taking, sycophancy, calibration, IAT)?
# * **RQ3**: does a persona move the paired behaviour as far as it moves the self-report?

# %% tags=["parameters"]
params = None  # this notebook has no parameters: it reads the shipped tables and the analysis defaults

# %%
import pandas as pd
from IPython.display import Markdown, display

from analysis.studies.illusion import figures as fg
from analysis.studies.illusion import han2025
from analysis.studies.illusion import results as rs
from analysis.studies.illusion.params import AnalysisParams

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 40)
pd.set_option("display.max_colwidth", 120)
pd.set_option("display.precision", 3)
a = AnalysisParams()  # the analysis defaults; the base / instruct pairs come from the table's model_pair
conv = han2025.convert()
# step 0: the converted table, validated, with base / instruct roles and the human-expected signs
table, spec, expected = rs.prepare(conv.table, a, source=han2025.SOURCE)
found = display(Markdown("**What the re-analysis found** appears here once every step below has run."),
                display_id=True)
figs, drawn = han2025.FIGURES, {}  # each figure is saved where the report draws it; write_all draws the others

# %% [markdown]
# ## From the released files to Study 1's schema
#
# Every decision the conversion makes (`han2025.MAPPING`; the module's docstring gives the reasons), and what
# was read and joined. Rows without a partner in the join would be kept with the missing side empty and
# counted here; nothing is imputed. The authors' notebooks score an unparsed questionnaire answer as 3
# before averaging: the released means include such answers, and their number is not released.

# %%
display(han2025.MAPPING)
display(pd.Series(conv.log["files"], name="rows read"))
display(pd.Series(conv.log["join"]).to_frame("instruct baseline: self-report and behaviour files joined"))
design, repeats, repeats_text = rs.design_step(table, a, spec)
display(Markdown(repeats_text))

# %% [markdown]
# ## RQ2: self-reports and behaviour
#
# Each standardised behaviour on each standardised trait, baseline rows of the 12 instruct models (the base
# models have no behaviour), random intercept per model; two-sided, Benjamini-Hochberg and Holm over all tests.

# %%
rq2 = rs.rq2_step(table, a, expected, spec)
display(Markdown(rq2["note"]))
rq2["tests"][["trait", "behaviour", "n", "n_models", "coef", "ci_low", "ci_high", "p", "p_bh", "p_holm",
                  "expected_sign", "direction_as_expected"]]

# %%
drawn["rq2_slopes"] = fg.rq2_heatmap(rq2["tests"], figs / "rq2_slopes.png")

# %% [markdown]
# ## RQ3: persona injection
#
# Per persona trait and prompt strategy (character, description, identity), the paired self-report and the
# paired behaviour against the same models' baseline rows: the pooled Cohen's d, and the per-model d's median
# and range. Then the logistic regressions that tell persona from baseline rows, once from the self-reports and
# once from the behaviour.

# %%
rq3 = rs.rq3_step(table, a, expected, spec)
display(Markdown(rq3["note"]))
rq3["by_model"]

# %%
drawn["rq3_shifts"] = fg.rq3_shifts(rq3["shifts"], figs / "rq3_shifts.png")

# %%
rq3["logistic"][["persona_trait", "strategy", "predictors_from", "n", "method", "coefs", "accuracy_loo", "note"]]

# %% [markdown]
# ## RQ1: base against instruction-tuned models
#
# Pooled with the models as units (6 base, 12 instruct), and within each of the 6 base / instruct pairs.

# %%
rq1 = rs.rq1_step(table, a)
display(Markdown(rq1["note"]))
display(rq1["pooled"])
rq1["variability"]

# %%
if rq1["tested"]:
    drawn["rq1_means"] = fg.rq1_means(rq1["pooled"], figs / "rq1_means.png", rq1["variability"])

# %% [markdown]
# ## Persona check
#
# Whether each persona condition moved its target self-report the designed way (per model; summarised per
# trait and strategy in the figure when there are many).

# %%
checks = rs.check_step(table, a)
drawn["persona_check"] = fg.persona_check(checks, figs / "persona_check.png")

# %% [markdown]
# ## The steps assembled
#
# The summary at the top of this report, every table as CSV, the figures and the metrics, from the steps above.

# %%
res = rs.assemble(table, a, spec, design, repeats, repeats_text, rq1, rq2, rq3, checks)
written = han2025.write_all(res, conv, drawn=drawn)
found.update(Markdown("**What the re-analysis found.** " + written["summary"]))


# %% [markdown]
# ## The paper against the re-analysis
#
# What the paper states for each question (its abstract: the released repository holds the collection
# notebooks and the result tables, but no analysis code and no per-test numbers, so those are "not in the
# released material"), what the re-analysis of the released tables finds, and the unit and test behind it.

# %%
written["compare"]

# %% [markdown]
# ## Outputs
#
# Tables, the converted table (`table.csv`), the conversion log and the comparison above are in
# `data/reanalysis/illusion/han2025/`; figures in `figures/illusion_han2025/`; metrics in
# `metrics/illusion_han2025.json`.

# %%
print(sorted(p.name for p in han2025.OUT.iterdir()))
print(sorted(p.name for p in han2025.FIGURES.iterdir()))
