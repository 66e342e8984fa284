# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # STUDY TITLE: collection (template)
#
# Copy this notebook to `notebooks/<study>/01_collect.ipynb`, register a stage in `dvc.yaml` and its
# parameters in `params.yaml` (see docs/ADD_A_STUDY.md), then run `dvc repro`. Keep the notebook thin:
# parameters, calls into `analysis`, tables, figures and prose that interprets them.

# %% tags=["parameters"]
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {}
collect = {"instrument": "ipip_neo_120", "items_per_facet": 1}
out_items = "data/raw/mystudy/items.parquet"

# %%
import polars as pl
from analysis.core.administer import administer, load_variants, select_items, validity_summary
from analysis.core.instruments import load_instrument
from analysis.core.io import write_parquet
from analysis.core.params import elicitor

instrument = load_instrument(collect["instrument"])
participants = [{"condition": "baseline", "system": None, "template": load_variants()["rate"]}]
frames = [administer(elicitor(spec, targets), instrument, select_items(instrument, collect["items_per_facet"]),
                     participants, mode="logprob") for spec in models]
items = pl.concat(frames, how="diagonal_relaxed")
write_parquet(items, out_items)
validity_summary(items, ["model", "condition"])

# %% [markdown]
# ## Interpretation
# Say what the numbers mean, next to the published result, whatever they are.
