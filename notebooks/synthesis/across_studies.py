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
from IPython.display import Markdown

from analysis.core import metrics
from analysis.core import synthesis as syn
from analysis.core.figures import shift_pairs
from analysis.core.paths import figures_dir
from analysis.pipeline.results import connect

con = connect()

# %% [markdown]
# ### Step 1: the pairs, and which of their shifts moved
# Read from the results database; a shift whose 95% CI (two-sided) excludes 0 has moved. A shift that could
# not be estimated is missing, never "moved".

# %%
pairs = syn.moved(con.sql("SELECT * FROM self_report_vs_behaviour").pl())
shifts = con.sql("SELECT study, kind, count(*) AS n_shifts FROM shifts GROUP BY ALL ORDER BY ALL").pl()

# %% [markdown]
# ### Step 2: per study, and what this run found

# %%
by_study = syn.by_study(pairs)
found = syn.summary_markdown(pairs, by_study)
metrics.write_summary("synthesis", found)
display(Markdown(found))
shifts

# %% [markdown]
# ## Self-report shift against behaviour shift
# One point per model x manipulation x (self-report, behaviour) pair, with its two CIs; the numbers are keyed
# under the figure. On the diagonal the behaviour moved as much as the self-report (in standardised units); on
# the horizontal line it did not move. Pairs with a shift that could not be estimated are counted, not drawn.

# %%
fig = shift_pairs(pairs, figures_dir("synthesis") / "self_report_vs_behaviour.png")

# %% [markdown]
# ## The pairs

# %%
pairs.select("study", "model", "manipulation", "self_report_measure", "self_report_shift", "self_report_ci_low",
             "self_report_ci_high", "behaviour_measure", "behaviour_shift", "behaviour_ci_low", "behaviour_ci_high",
             "self_report_effect", "self_report_unit") if pairs.height else pairs

# %%
from analysis.core.io import write_csv
from analysis.core.paths import DATA_DIR, staged

write_csv(pairs.drop("self_report_moved", "behaviour_moved", "plotted") if pairs.height else pairs,
          staged(DATA_DIR / "results" / "self_report_vs_behaviour.csv"))  # the data-driven DVC plot

# %% [markdown]
# ## Headline numbers (`metrics/synthesis.json`)

# %%
metrics.write("synthesis", syn.headline(by_study))
