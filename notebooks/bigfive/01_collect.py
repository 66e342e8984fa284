# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Big Five self-reports under persona prompts: collection
#
# Each model answers IPIP-NEO-120 items (Johnson, 2014; public domain) one item per prompt, once with no
# persona and once under each pole persona (high and low on each Big Five domain), in each prompt variant.
# In `logprob` mode an item costs one forward pass and yields the exact probability of every response
# option; in `generate` mode the answer is parsed from text, re-asked at most twice, and otherwise left
# missing, never imputed. Every call is recorded in the response store and re-runs are answered from it.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
from analysis.core import collection
from analysis.core.administer import mass_summary, validity_summary
from analysis.studies.bigfive import STUDY

p = STUDY.collect_stage(params)
run = collection.run(STUDY, p)
run.timing()

# %% [markdown]
# ## Validity of the answers
# Share of items without a valid answer, refusals, re-asks, and (log-probability mode) the mean
# probability the model put on the response options at all.

# %%
validity_summary(run["items"], ["model", "persona", "variant"])

# %% [markdown]
# Probability on the response options (log-probability mode): an answer counts only when the options carry
# at least half of the model's next-token probability; the rest went to other text (markup, "I", refusals).

# %%
mass_summary(run["items"], ["model"])
