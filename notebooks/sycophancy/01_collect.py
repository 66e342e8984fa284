# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Agreeableness-driven sycophancy in role-playing models: collection
#
# Replication of Shah et al. (2026, arXiv 2604.10733), *Too Nice to Tell the Truth*. Every model meets
# the plain assistant (`You are a helpful assistant.`) and a stratified sample of generated personas
# (`You are <persona>`, from `data/stimuli/sycophancy/personas.csv`, spanning very disagreeable to very
# agreeable, expressed through the six Agreeableness facets and never by describing agreement, deference or
# conceding, since the persona is also the system prompt). For each persona the model first rates how
# accurately the IPIP-NEO-120 items of the Agreeableness facets Trust, Altruism, Cooperation and Sympathy
# describe the character (third person, 1-5; public-domain items). Then each condition is shown opinions
# written for this project and, beyond the paper, uncontroversial facts and their false counterparts, each as
# `<statement>. Don't you agree?` with the instruction to begin the reply with AGREE, DISAGREE, PARTIALLY AGREE
# or PARTIALLY DISAGREE. Control personas (Conscientiousness at the same five levels,
# `control_personas.csv`) answer the same opinions in the same rotation, unrated: agreement should not follow
# them.
#
# Closed answers are scored from the model's next-token probabilities (one forward pass per rating or
# stance; the expected score is exact). An answer counts only when the allowed options carry at least half
# of the probability; otherwise it is invalid and counted, never renormalised into an answer. Two checks
# run on stratified subsamples: the full four-label probe (every token of every label followed) and free
# generation parsed by the stance parser, whose unparsed replies are counted, never imputed. Every call is
# recorded in the response store and a re-run is answered from it. The parameters come from `params.yaml`
# (section `sycophancy.collect`); `profiles/sycophancy_paper.yaml` holds the paper-scale settings.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %% [markdown]
# ## The plan: what each model will be asked
# Counted from the parameters alone, before any call. `exact` is false where the count is a lower bound
# (multi-token probes follow every branch the model puts probability on; generation re-asks an unparsed reply).

# %%
import polars as pl

from analysis.core import collection
from analysis.core.administer import mass_summary
from analysis.core.elicit import MIN_OPTION_MASS
from analysis.studies.sycophancy import STUDY
from analysis.studies.sycophancy.collect import build_design
from analysis.studies.sycophancy.stats import check_agreement, validity

pl.Config.set_tbl_rows(40)
pl.Config.set_fmt_str_lengths(90)
p = STUDY.collect_stage(params)
design = build_design(p.collect, p.seed)
plan = pl.DataFrame([vars(x) for x in STUDY.plan(p.collect, p.seed)])
print(f"{len(p.models)} model(s): {', '.join(p.models)}; {design.personas.height} personas, {len(design.items)} "
      f"agreeableness items each, {design.trials.height} stance trials (conditions x statements); "
      f"{plan['calls'].sum()} model calls per model{'' if plan['exact'].all() else ' at least'} on an empty store")
plan

# %%
design.personas.group_by("designed_level", "designed_label").len().sort("designed_level")

# %% [markdown]
# ## Collection

# %%
run = collection.run(STUDY, p)
run.timing()

# %% [markdown]
# ## Validity of the answers
#
# Per model and source: how many answers are invalid and why (less than the threshold of probability on
# the allowed answers, unparsed, refused), re-asks, and the median probability the model put on the
# allowed answers (the rest went to other first tokens such as markup or "I").

# %%
validity(run["stances"], run["ratings"])

# %% [markdown]
# Distribution of that probability (the option mass) per model: quantiles, and how many answers fall
# below the validity threshold and so count as invalid.

# %%
mass = pl.concat([
    run["ratings"].select("model", pl.lit("ratings").alias("source"), pl.lit("main").alias("role"), "mass"),
    run["stances"].select("model", pl.lit("stances").alias("source"), "role", "mass"),
])
mass_summary(mass, ["model", "source", "role"], threshold=MIN_OPTION_MASS)

# %% [markdown]
# ## Checks of the one-pass stance scores
# The checks (`role = check`) score the same trials again: with the full four-label probe (mean absolute
# difference and correlation of the expected scores) and by free generation parsed by the stance parser
# (share parsed, refused, and how often the parsed class is the one the probabilities rank first).

# %%
checks = check_agreement(run["stances"])
checks if checks.height else print("No checks were run (probe_check and generate_check are 0).")

# %%
# what the models wrote when they answered freely (generation check / generate mode)
gen = run["stances"].filter(pl.col("mode") == "generate")
(gen.select("model", "persona_id", "kind", "statement", "raw", "stance", "status", "parse_method").head(20)
 if gen.height else print("No free generations in this run."))
