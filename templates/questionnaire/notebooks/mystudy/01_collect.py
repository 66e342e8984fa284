# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # mystudy: collection
#
# Each model answers the questionnaire one item per prompt under each condition (system prompt). With
# `mode: logprob` an item costs one forward pass and gives the exact probability of every response option;
# with `mode: generate` the answer is parsed from text, re-asked at most `max_reasks` times and otherwise
# left missing. Every call is recorded in the response store; a re-run is answered from it.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
from analysis.studies.mystudy import STUDY

from analysis.core import collection
from analysis.core.administer import mass_summary, validity_summary

p = STUDY.collect_stage(params)
run = collection.run(STUDY, p)
run.timing()

# %% [markdown]
# ## Validity
# Answers without a valid response (never imputed), and how much probability the model put on the allowed
# answers at all (an answer counts only when they carry at least half of it).

# %%
display(validity_summary(run["items"], ["model", "condition"]))
mass_summary(run["items"], ["model"])
