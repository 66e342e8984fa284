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
# # Agreeableness-driven sycophancy in role-playing models: collection
#
# Replication of Shah et al. (2026, arXiv 2604.10733), *Too Nice to Tell the Truth*. Every model meets
# the plain assistant ("You are a helpful assistant.") and a stratified sample of generated personas
# ("You are <persona>", `data/stimuli/sycophancy/personas.csv`, spanning very disagreeable to very
# agreeable). For each persona the model first rates how accurately the IPIP-NEO-120 items of the
# Agreeableness facets Trust, Altruism, Cooperation and Sympathy describe the character (third person,
# 1-5; public-domain items). Then each condition is shown opinions written for this project and, beyond
# the paper, uncontroversial facts and their false counterparts, each as "<statement>. Don't you agree?"
# with the instruction to begin the reply with AGREE, DISAGREE, PARTIALLY AGREE or PARTIALLY DISAGREE.
#
# Closed answers are scored from the model's next-token probabilities (one forward pass per rating or
# stance; the expected score is exact), and two checks run on stratified subsamples: the full
# four-label probe (every token of every label followed) and free generation parsed by the stance
# parser, whose unparsed replies are counted, never imputed. Every call is recorded in the response
# store and a re-run is answered from it. The parameters below are the small defaults for a quick
# run; `params.yaml` (section `sycophancy.collect`) holds the pipeline's defaults and, in a comment,
# the paper-scale settings.

# %% tags=["parameters"]
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {}
collect = {"n_personas": 6, "items_per_facet": 1, "opinions_per_category": 1, "n_categories": 8,
           "prompts_per_persona": None, "n_fact_pairs": 2, "include_baseline": True, "rating_mode": "logprob",
           "stance_mode": "logprob", "stance_probe": "first_token", "probe_check": 2, "generate_check": 2,
           "max_tokens": 32, "max_reasks": 1, "temperature": 0.0, "samples": 1,
           "instrument": "ipip_agreeableness_facets_3p", "personas_file": None, "opinions_file": None,
           "fact_pairs_file": None}
out_dir = "data/raw/sycophancy"

# %%
import time
from pathlib import Path

import polars as pl

from analysis.core.io import write_parquet
from analysis.core.params import elicitor
from analysis.studies.sycophancy.collect import CollectParams, build_design, collect as collect_model

pl.Config.set_tbl_rows(40)
pl.Config.set_fmt_str_lengths(60)
Path(out_dir).mkdir(parents=True, exist_ok=True)
p = CollectParams.from_dict(collect)
design = build_design(p, seed)
print(f"{design.personas.height} personas, {len(design.items)} agreeableness items each, "
      f"{design.trials.height} stance trials (conditions x statements) per model")
print("planned calls per model:", design.n_calls_estimate(p))
design.personas.group_by("designed_level", "designed_label").len().sort("designed_level")

# %%
frames = {"personas": [], "ratings": [], "stances": []}
timing = []
for spec in models:
    el = elicitor(spec, targets)
    t0 = time.perf_counter()
    out = collect_model(el, p, seed)
    wall = time.perf_counter() - t0
    for k, v in out.items():
        frames[k].append(v)
    n = el.n_model_calls
    timing.append({"model": spec, "digest": el.target.digest[:12], "model_calls": n, "wall_s": round(wall, 1),
                   "s_per_call": round(wall / n, 3) if n else None})
    print(f"{spec}: {n} calls reached the model in {wall:.1f} s; the rest came from the store")
tables = {k: pl.concat(v, how="diagonal_relaxed") for k, v in frames.items()}
for k, v in tables.items():
    write_parquet(v, Path(out_dir) / f"{k}.parquet")
    print(f"{k}: {v.height} rows -> {out_dir}/{k}.parquet")
pl.DataFrame(timing)

# %% [markdown]
# ## Validity of the answers
#
# Per model and source: the share of trials without a valid answer (parse failures, refusals, or no
# probability on the labels at all), re-asks, and, for probability scoring, the mean probability the
# model put on the allowed answers (the rest went to other first tokens such as markup or "I"). The
# checks (`role = check`) compare the one-pass score with the full four-label probe and with free
# generation on the same trials.

# %%
from analysis.studies.sycophancy.stats import check_agreement, validity

validity(tables["stances"], tables["ratings"])

# %%
check_agreement(tables['stances'])

# %%
# what the models wrote when they answered freely (generation check / generate mode)
tables["stances"].filter(pl.col("mode") == "generate").select("model", "persona_id", "kind", "statement", "raw",
                                                             "stance", "status", "parse_method").head(20)
