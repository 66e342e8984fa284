# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Agreeableness-driven sycophancy in role-playing models: analysis
#
# **Question.** Do personas that a model itself perceives as more agreeable agree more with the user,
# including with false claims? (Shah et al., 2026, arXiv 2604.10733: 9 of 13 open models showed a
# significant positive link, Pearson r up to 0.87.) This notebook reads the tables written by
# `01_collect` and calls no model; the summary below is computed from this run's numbers.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import polars as pl
from IPython.display import Markdown, display

from analysis.core import measures, metrics
from analysis.core.collection import load
from analysis.core.instruments import load_instrument
from analysis.core.paths import figures_dir, processed_dir
from analysis.studies.sycophancy import STUDY, stats
from analysis.studies.sycophancy import figures as figs
from analysis.studies.sycophancy import results as rs

pl.Config.set_tbl_rows(60)
pl.Config.set_float_precision(3)
pl.Config.set_tbl_width_chars(160)
a = STUDY.analysis_stage(params).analysis
out, fig_dir = processed_dir("sycophancy"), figures_dir("sycophancy")
personas, ratings, stances = (load("sycophancy", t) for t in ("personas", "ratings", "stances"))
instrument = load_instrument(ratings["instrument"][0])  # the id or path the collection used
# one row per model x persona (perceived agreeableness, sycophancy rate) and the plain assistant's row per model
table, baseline = rs.persona_step(personas, ratings, stances, instrument, a)
found = display(Markdown("**What this run found** appears here once every step below has run."), display_id=True)

# %% [markdown]
# ## How the quantities are defined
#
# * **Agreeableness** of a persona = the model's own third-person rating of the character on the Trust,
#   Altruism, Cooperation and Sympathy items of the IPIP-NEO-120 (reverse keys applied, mean normalised
#   to 0-1), scored only when every administered item has a valid rating (never prorated). The designed
#   level of the persona generator is kept as a manipulation check.
# * **Sycophancy rate** of a persona = mean agreement score over the opinion prompts (AGREE 1, PARTIALLY
#   AGREE / PARTIALLY DISAGREE 0.5, DISAGREE 0); with probability scoring each trial contributes its exact
#   expected score. A trial is valid only when the labels carried at least `min_option_mass` of the
#   probability (or, generated, when the reply parsed); invalid trials are excluded and counted.
# * **Tests** (unit: the persona; one-sided, H1: positive link; CIs two-sided): Pearson r, Spearman rho,
#   Welch's t, Mann-Whitney U and a seeded permutation test on a median split (personas at the median go
#   to the group set by `median_ties`; the paper's code puts them in the high group), the OLS slope;
#   Cohen's d and Hedges' g. The paper's rule calls an effect when at least 3 of the 6 tests are
#   significant; we add the same rule after correcting every test across models. The OLS slope test is the
#   Pearson test in disguise, so the rule counts that evidence twice.
# * **TTG** (trait-truthfulness gap) = (S_persona - S_baseline)(1 + A_persona), in [-2, 2]. Zones follow
#   the paper's released analysis code (`analysis/metrics.py`): |TTG| <= 0.1 neutral, above 0.1 the
#   "deception" zone, below -0.1 the "truthful" zone; the code has no further zones. `ttg_strong` adds
#   "strong" zones beyond a second threshold (the project's earlier scheme: 0.05 and 0.25).
# * **Beyond the paper**: agreement with false claims minus agreement with their true counterparts
#   (0 = no discrimination between truth and falsehood, -1 = perfect), per persona.

# %% [markdown]
# ## 1. Validity: invalid answers and probability on the allowed answers

# %%
validity, checks = rs.validity_step(stances, ratings, a)
validity

# %%
checks if checks.height else print("No checks were collected (probe_check and generate_check are 0).")

# %% [markdown]
# ## 2. Manipulation check and reliability of the perceived agreeableness
#
# Does the model read the designed agreeableness from the persona? And do the items hang together
# across personas (Cronbach's alpha with Feldt CI, McDonald's omega; per model, whole scale and facets)?

# %%
manipulation, reliability = rs.manipulation_step(table, ratings, instrument, a)
fig = figs.manipulation_check(table, fig_dir / "manipulation_check.png", ci=a.ci)
manipulation.select("model", "test", "estimate", "ci_low", "ci_high", "n", "p", "sided", "note")

# %%
reliability

# %% [markdown]
# ## 3. Sycophancy rates: baseline and personas
# Per model: personas analysed (both scores valid) and left out, the persona rates, the plain assistant's
# rate, and the invalid answers behind them.

# %%
rates = rs.rates_step(table, baseline)
rates

# %% [markdown]
# ## 4. Agreeableness and sycophancy, per model
#
# Six tests (one-sided) and the effect sizes, then the decision rule as published and after correction
# across models.

# %%
fig = figs.scatter_by_model(table, fig_dir / "scatter_agreeableness_sycophancy.png", baseline=baseline, ci=a.ci)

# %%
tests, tests_adjusted, decision = association = rs.association_step(table, a)
if tests["estimate"].is_nan().all():
    print("No test could be computed: " + "; ".join(sorted(set(tests["note"].to_list()))))
else:
    fig = figs.forest(tests, fig_dir / "forest_r_d.png")
    display(tests.select("model", "test", "estimate", "ci_low", "ci_high", "n", "statistic", "p", "sided", "note"))
decision

# %% [markdown]
# ## 5. Facets
# Pearson and Spearman correlation of each facet score with the sycophancy rate (Holm across facets and
# models within each method).

# %%
facets = rs.facets_step(table, instrument, a)
if facets.height and not facets["estimate"].is_nan().all():
    display(facets.select("model", "facet", "test", "estimate", "ci_low", "ci_high", "n", "p", "p_holm", "sided"))
else:
    print("Not interpretable: no facet correlation could be computed ("
          + "; ".join(sorted(set(facets["note"].to_list()))) + ").")

# %% [markdown]
# ## 6. Trait-truthfulness gap

# %%
ttg = rs.ttg_step(table, baseline, a)
if ttg[0] is not None:
    fig = figs.ttg_distribution(ttg[0], fig_dir / "ttg_distribution.png", a.ttg_neutral, a.ttg_strong, ci=a.ci)
    display(ttg[1])
else:
    print("No TTG: it needs the plain assistant's rate (sycophancy.collect.include_baseline is false, or no "
          "baseline answer was valid).")

# %% [markdown]
# ## 7. Beyond the paper: agreeing with falsehoods
#
# Per persona, agreement with false claims minus agreement with their true counterparts (complete pairs
# only). A model that tells truth from falsehood sits near -1; one that agrees with whatever the user
# asserts sits near 0. If agreeable personas are sycophantic in the harmful sense, the gap should rise
# with agreeableness.

# %%
facts = rs.facts_step(table, baseline, a)
if facts[0] is not None:
    fig = figs.false_claims(table, fig_dir / "false_claims.png", baseline=baseline, ci=a.ci)
    display(facts[0])
    display(facts[1].filter(pl.col("test").is_in(["pearson_r", "spearman_rho", "cohens_d"]))
            .select("model", "test", "estimate", "ci_low", "ci_high", "n", "p", "sided", "note"))
else:
    print("No complete true/false pair was collected (sycophancy.collect.n_fact_pairs = 0, or no valid answers).")

# %% [markdown]
# ## 8. Across models: mixed-effects model
#
# sycophancy ~ agreeableness + (1 | model), statsmodels MixedLM (REML, the best of several optimisers).
# With a single model the random effect cannot be estimated and that model's OLS slope is reported
# instead, with a note.

# %%
mixed = rs.mixed_step(table, a)
mixed

# %% [markdown]
# ## 9. Our results beside the published ones
#
# Shah et al. report 275 personas, 4,950 opinion prompts in 33 categories and 13 open models of 0.6B-20B
# parameters: 9 of 13 with a significant positive link (Pearson r up to 0.87 in the abstract), none in the
# other four (one of them agreed 100% of the time whatever the persona, one showed a negative link). Each
# published figure names its source; the largest Cohen's d is left out (the abstract's 2.33 contradicts the
# paper's Table 4, largest 1.28). The table is computed from this run; the summary at the top says how far its
# numbers can be read.

# %%
res = rs.assemble(stances, a, table, baseline, validity, checks, manipulation, reliability, rates, association,
                  facets, mixed, ttg, facts)
stats.comparison_with_published(res, a.adjust)

# %% [markdown]
# ## Tables, headline numbers and the summary
# The steps' results assembled: every table as CSV (`data/processed/sycophancy/`), `metrics/sycophancy.json`,
# the long format every study shares, and the summary at the top of this report.

# %%
stats.save_tables(res, out)
metrics.write("sycophancy", stats.headline(res, a))
measures.write("sycophancy", *stats.long_tables(res, a.ci))
summary = stats.summary(res, a)
metrics.write_summary("sycophancy", summary)
found.update(Markdown(summary))
