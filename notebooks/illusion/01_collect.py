# ---
# jupyter:
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
# **A run of the paper's own protocol** (`protocol: han2025`, `profiles/illusion_han2025.yaml`) replaces what
# follows by the authors' materials, prompts, sampled answers and parsing, read from their repository: the first
# output below names them, and the last section shows the same replies scored three ways.
#
# Per model x condition x temperature x run this notebook collects
#
# * **self-reports**, one item per prompt: the Big Five (IPIP-NEO-120 by default, or any file in the instrument
#   schema via `collect.instruments.big5`, e.g. a user-supplied BFI-44) and the 63-item Self-Regulation
#   Questionnaire (Brown, Miller & Lawendowski, 1999);
# * **four behavioural tasks** (stimuli written for this project, `data/stimuli/illusion/`): risk taking in
#   the cold Columbia Card Task, sycophancy on moral dilemmas, honesty and calibration on general-knowledge
#   questions (half about entities that do not exist), and a prompt-based implicit association test;
#
# under baseline system prompts and persona injections (a prompt strategy x a trait-word triplet, for
# agreeableness, paired with the sycophancy task, and self-regulation, paired with risk taking). Models listed
# in `collect.base_models` (pretrained base models) answer the baseline self-reports only, as in the paper.
#
# Closed answers are scored from the model's next-token probabilities by default (`mode: option_probs`): one
# forward pass per question gives the answer distribution, and the distribution at every temperature follows
# exactly (each token-level step tempered as a sampler does; T = 0 is greedy decoding), so scores are exact
# expectations and extra temperatures cost no model call. Only the free-text trivia answers are generated per
# temperature (and per run where T > 0). Every call goes through the response store: a re-run is free and an
# interrupted run resumes. Independent jobs (one condition x one item, scenario, dilemma, question or IAT
# trial) run through the Elicitor's bounded pool, as many at once as the target allows, with the same result as
# one after another.
#
# **Empty system prompt.** The `empty` baseline sends no system message. Qwen2.5's chat template then inserts
# its own default system prompt ("You are Qwen, created by Alibaba Cloud. You are a helpful assistant."), so for
# Qwen models "empty" means "the template default"; the conditions table records what this code sent
# (`system_sent`: null = no system message).

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import polars as pl

from analysis.core import collection
from analysis.core.administer import mass_summary
from analysis.studies.illusion import STUDY
from analysis.studies.illusion.collect import conditions_for, stimuli

pl.Config.set_tbl_rows(40)
pl.Config.set_fmt_str_lengths(70)
pl.Config.set_tbl_width_chars(160)
p = STUDY.collect_stage(params)
if p.collect.protocol == "han2025":  # the paper's materials and protocol (profiles/illusion_han2025.yaml)
    from analysis.studies.illusion import han2025_protocol as han

    m = han.load(p.collect.han2025.materials_dir)
    temps, runs = han.sampling(m, p.collect.han2025)
    sel = han.selected(m, p.collect.han2025)
    print(f"protocol han2025: the authors' materials from {p.collect.han2025.materials_dir} (checked against commit "
          f"{han.RELEASE_COMMIT[:7]}); {len(p.models)} model(s): {', '.join(p.models)}; temperatures {temps}, "
          f"{runs} run(s); base models: {p.collect.base_models or 'none'}")
    print({k: len(v) for k, v in sel.items()}, "(items, scenarios, dilemmas, trivia items, IAT orders)",
          "" if p.collect.han2025.subset is None else f"- a pilot: the first {p.collect.han2025.subset} of each list")
    conds = pl.DataFrame([{"condition": c.condition, "condition_type": c.condition_type, **c.labels}
                          for c in han.conditions(m, p.collect.han2025, "instruct")])
else:
    st = stimuli(p.collect, p.seed)
    print(f"{len(p.models)} model(s): {', '.join(p.models)}; temperatures {p.collect.temperatures}, {p.collect.runs} "
          f"run(s); base models (self-reports only): {p.collect.base_models or 'none'}")
    print({k: len(v) for k, v in st.items.items()}, "self-report items;", len(st.cct), "CCT scenarios;",
          len(st.dilemmas), "dilemmas;", len(st.honesty), "trivia questions;", len(st.iat), "IAT trials")
    conds = pl.DataFrame([c.labels() for c in conditions_for(p.collect, "instruct")]).select(
        "condition", "condition_type", "persona_trait", "persona_strategy", "system_sent")
conds

# %% [markdown]
# ## Plan
# Model calls per model, part by part, counted from the parameters without calling a model ("exact" false: a
# lower bound, where the answers decide how many passes a multi-token option, a challenge branch or a re-ask
# needs), how many of them the response store already answers, and the expected time where this target's
# latency is on record.

# %%
from analysis.core.planning import plan_stage, render

print(render(plan_stage(STUDY, p)))

# %% [markdown]
# ## Collection
# Per model: the calls that reached the model, those answered by the response store, and the time.

# %%
run = collection.run(STUDY, p)
run.timing()

# %% [markdown]
# Time per task, summed over jobs (jobs that ran at the same time overlap, so on a server with several slots the
# sum exceeds the wall time); `calls` counts the requests of each task, whether the model or the store answered.

# %%
run["_jobs"].group_by("model", "task").agg(
    pl.len().alias("jobs"), pl.col("n_calls").sum().alias("calls"), pl.col("seconds").sum().round(1).alias("seconds"),
    (pl.col("seconds").sum() / pl.col("n_calls").sum()).round(3).alias("s_per_call")).sort("model", "task")

# %% [markdown]
# ## Validity
#
# Share of answers without a valid value (unparsed, refused, too little probability on the allowed options,
# or greedy decoding that would leave the options), re-ask rate, and the mean probability mass the allowed
# options received. Nothing is imputed: a self-report scale is reported when at least `min_answered_share` (default:
# all) of its administered items were answered (as a mean per answered item, with the count; an SRQ total only when all
# 63 items were given and answered); a behaviour measure uses the valid items only (`*_n_valid` in the table).
# `fallback_generate` marks option-probability items that had to be generated because the model returned no
# distribution.

# %%
items = run["items"]
display(run["validity"].sort("model", "task", "condition"))
items.group_by("model", "task", "status").len().sort("model", "task", "status")

# %% [markdown]
# Distribution of the probability mass on the allowed options per model and task (each scored question once):
# quantiles and how many answers fall below the validity threshold (they count as invalid above).

# %%
scored = items.filter(pl.col("mass").is_not_null()).unique(["model", "condition", "task", "item_id", "probs"], maintain_order=True)
mass_summary(scored, ["model", "task"])

# %% [markdown]
# ## The tidy table (one row per model x condition x temperature x run)

# %%
table = run["table"]
cols = ["model", "condition", "temperature", "run"] + [c for c in table.columns if c.startswith(("sr_", "bh_"))
                                                       and not c.endswith(("_n_items", "_n_answered", "_n_valid"))]
table.select(cols)

# %% [markdown]
# ## Protocol han2025: the same replies, scored three ways
# Only in a run of the paper's protocol (`profiles/illusion_han2025.yaml`). `paper`: as the authors' notebooks
# score (an unparsed questionnaire answer counts 3, a card-task reply without a digit 0 cards, an unparsed
# confidence -1, an IAT reply assigning no word to a group 0 on that side); `strict`: those failures counted and
# left missing (`_n` counts the rows with a value); `probabilities`: the self-reports from the digit
# probabilities at the same prompts (behaviour as in strict). The analysis stage analyses the strict table.

# %%
from analysis.studies.illusion.han2025_protocol import compare_scorings

compare_scorings(run.tables) if "table_paper" in run.tables else print("not a han2025 run")
