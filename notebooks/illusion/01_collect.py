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
# # Study 1, collection: the personality illusion (self-reports versus behaviour)
#
# Reproduces the design of Han et al. (2025, arXiv 2509.03730): do the traits a model reports about itself
# predict how it behaves, and does a persona prompt move behaviour as much as it moves the self-report?
#
# Per model x condition x temperature x run this notebook collects
#
# * **self-reports**, one item per prompt: the Big Five (IPIP-NEO-120 by default; a user-supplied BFI-44 or
#   any file in the instrument schema via `collect.instruments.big5`) and the 63-item Self-Regulation
#   Questionnaire (Brown, Miller & Lawendowski, 1999);
# * **four behavioural tasks**, all stimuli written for this project and stored in `data/stimuli/illusion/`:
#   risk taking in the cold Columbia Card Task, sycophancy on moral dilemmas, honesty and calibration on
#   general-knowledge questions (half about entities that do not exist), and a prompt-based implicit
#   association test;
#
# under three baseline system prompts and persona injections (a prompt strategy x a trait-word triplet,
# for agreeableness, paired with the sycophancy task, and self-regulation, paired with risk taking).
#
# Closed answers are scored from the model's next-token probabilities by default (`mode: option_probs`):
# one forward pass per question gives the exact answer distribution at every temperature, so scores are
# exact expectations and extra temperatures cost nothing. With greedy decoding (T = 0) repeated runs are
# then identical; only sampled generation (`mode: generate`, or the free-text trivia answers at T > 0)
# makes runs differ. At T = 0 every closed answer is the single most likely option, so scores move in whole
# steps; T = 1 scores the model's mean response exactly (the dilemmas then need both second-prompt branches,
# and the trivia answers are sampled, which is what costs time). Every call goes through the response store, so a re-run is free and an interrupted run
# resumes.
#
# **Empty system prompt.** The `empty` baseline sends no system message. Qwen2.5's chat template then
# inserts its own default system prompt ("You are Qwen, created by Alibaba Cloud. You are a helpful
# assistant."), so for Qwen models "empty" means "the template default"; the table records what this code
# sent (`system_sent`: null = no system message).

# %% tags=["parameters"]
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {}
collect = {'mode': 'option_probs',
 'temperatures': [0.0],
 'runs': 2,
 'max_reasks': 2,
 'closed_max_tokens': 16,
 'baselines': {'empty': '',
               'helpful': 'You are a helpful assistant.',
               'respond': 'Respond to the instructions.'},
 'personas': {'strategies': ['character'],
              'traits': ['agreeableness', 'self_regulation'],
              'triplets': [0, 1, 2],
              'tasks': 'paired',
              'self_reports': 'paired'},
 'instruments': {'big5': 'ipip_neo_120', 'srq': 'srq_63'},
 'self_report': {'big5_items_per_scale': 2, 'srq_items': 7, 'min_answered_share': 0.5},
 'cct': {'n_scenarios': 6},
 'dilemmas': {'n': 8, 'branches': 'auto'},
 'honesty': {'n': 4, 'max_tokens': 40, 'ece_bins': 11},
 'iat': {'domains': ['race', 'gender'], 'words_per_side': 3, 'n_orders': 2, 'administration': 'auto'}}
out_dir = "data/raw/illusion"

# %%
import json
from pathlib import Path
import polars as pl
from analysis.studies.illusion.collect import collect as run_collect, merge_params, plan
from analysis.studies.illusion.conditions import build_conditions, load_personas
from analysis.core.params import elicitor

pl.Config.set_tbl_rows(40)
pl.Config.set_fmt_str_lengths(80)
pl.Config.set_tbl_width_chars(160)
Path(out_dir).mkdir(parents=True, exist_ok=True)
p = merge_params(collect)
conditions = build_conditions(p, load_personas())
stimuli = plan(p, seed)
print(f"{len(models)} model(s) x {len(conditions)} conditions x {len(p['temperatures'])} temperature(s) x {p['runs']} run(s)")
print({k: len(v) for k, v in stimuli["items"].items()}, "self-report items;",
      len(stimuli["cct"]), "CCT scenarios;", len(stimuli["dilemmas"]), "dilemmas;", len(stimuli["honesty"]),
      "trivia questions;", len(stimuli["iat"]), "IAT trials")
pl.DataFrame([{**c.labels(), "system_prompt": c.system} for c in conditions]).select(
    "condition", "condition_type", "persona_trait", "persona_strategy", "system_sent")

# %% [markdown]
# ## Collection
#
# Progress is printed per condition; the model calls that reached the model (not the store) and their time
# are summarised per task afterwards (`s_per_call` includes the prefix-continuation calls that multi-token
# options such as "10"..."32" need).

# %%
res = run_collect(models, seed, collect, out_dir=out_dir, elicitor_factory=lambda spec: elicitor(spec, targets))
for spec, info in res["info"]["models"].items():
    print(spec, "| mode:", info["mode"], "| model calls:", info["model_calls"], "| seconds:", info["seconds"],
          "| option-probability fallbacks to generation:", info["option_probs_fallbacks"])
pl.DataFrame([{"model": m, "task": k, **v} for m, i in res["info"]["models"].items() for k, v in i["by_task"].items()])

# %% [markdown]
# ## Validity
#
# Share of items without a valid answer (unparsed, refused, or no probability mass on the allowed options),
# re-ask rate, and the mean probability mass the allowed options received (the rest went to other tokens).
# Nothing is imputed: a self-report scale is scored only when at least `min_answered_share` of its
# administered items were answered, and a behaviour measure uses the valid items only (counts in the
# `*_n_valid` columns of the table). `fallback_generate` marks option-probability items that had to be
# generated instead because the model ended its reply in the middle of a multi-token option.

# %%
items = res["items"]
display(res["validity"].sort("task", "condition"))
items.group_by("task", "status").len().sort("task", "status")

# %% [markdown]
# ## The tidy table (one row per model x condition x temperature x run)

# %%
table = res["table"]
cols = ["model", "condition", "temperature", "run"] + [c for c in table.columns if c.startswith(("sr_", "bh_"))
                                                       and not c.endswith(("_n_items", "_n_answered"))]
table.select(cols)
