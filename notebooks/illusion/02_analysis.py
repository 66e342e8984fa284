# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study 1, analysis: the personality illusion
#
# **Question.** Do the traits a model reports about itself predict how it behaves, and does a persona prompt
# move behaviour as much as it moves the self-report? (After Han et al., 2025, arXiv 2509.03730.)
#
# * **RQ1, base versus aligned**: are instruction-tuned models' self-reports more stable than their base
#   models'?
# * **RQ2, do self-reports predict behaviour?** Each standardised behaviour regressed on each standardised
#   trait (random intercept per model).
# * **RQ3, persona injection**: how far does a persona move the self-report, and how far the paired behaviour?
#
# This notebook reads the table written by `01_collect` and calls no model. A published table in the same
# schema is re-analysed apart from this run with `python -m analysis.studies.illusion.reanalyse TABLE`
# (example in `data/examples/illusion/`).

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import pandas as pd
from IPython.display import Markdown

from analysis.core import measures, metrics
from analysis.core.collection import load
from analysis.core.paths import figures_dir, processed_dir
from analysis.studies.illusion import STUDY
from analysis.studies.illusion import figures as fg
from analysis.studies.illusion import results as rs
from analysis.studies.illusion import stats as st
from analysis.studies.illusion.schema import analysed_behaviours, trait_columns

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 40)
pd.set_option("display.precision", 3)
a = STUDY.analysis_stage(params).analysis
out, figs = processed_dir("illusion"), figures_dir("illusion")
table = load("illusion", "table")
items = load("illusion", "items").to_pandas()
res = rs.analyse(table, a, source="data/raw/illusion/table.parquet")
rs.write_tables(res, out)
metrics.write_summary("illusion", rs.summary_markdown(res))
display(Markdown("**What this run found.** " + rs.summary_markdown(res)))

# %% [markdown]
# ## Design and unit of analysis
#
# A row is a model x condition x temperature x run. Where every run of a cell has the identical value
# (greedy decoding, or expectations from option probabilities) the runs are exact repeats and count as one
# unit; runs that differ (sampled answers) stay separate units. This is decided per measure and cell from the
# values, and reported here. Rows scored from option probabilities (`mode` option_probs) at several
# temperatures come from the same forward passes: in the tests they are one unit per model x condition (the
# row at T = 1, the model's own distribution). Tables without `mode` (published ones) keep temperatures and
# sampled runs as units, as the paper did.

# %%
print(res.repeats_text)
display(pd.Series({k: v for k, v in res.design.items() if k not in ("models",)}, dtype=object))
res.repeats

# %% [markdown]
# ## Self-reports and behaviour by condition
# One dot per unit (colour = model), on each measure's full scale. Self-reports are the mean keyed answer per
# answered item (1-5); the SRQ is reported the same way, as a 63-item total (63-315, with its cut-offs) only
# when all 63 items were given and answered.

# %%
tab = table.to_pandas()
fig = fg.profiles(tab, trait_columns(tab), figs / "self_reports.png", "Self-reports by condition", collapse=a.collapse_runs)

# %%
fig = fg.profiles(tab, analysed_behaviours(tab), figs / "behaviours.png", "Behaviour by condition",
                  collapse=a.collapse_runs)

# %%
fig = fg.cct_choices(items, figs / "cct_choices.png")

# %% [markdown]
# ## RQ1: base versus aligned models
#
# Pooled over models, with the models as units: Welch t-test of the model means (Cohen's d, instruct minus base)
# and of the log within-model SDs (is the instruct models' self-report more stable?); across pairs, a sign test of
# how many instruct models have the smaller SD; per pair, a Brown-Forsythe test of variability over the pair's
# conditions and each Big Five trait's correlation
# with the SRQ (Fisher z test of the difference). Two-sided; Holm-corrected within each table.

# %%
print(res.rq1["note"])
if res.rq1["tested"]:
    for name in ("pooled", "across_pairs", "means", "variability", "correlations"):
        if len(res.rq1[name]):
            display(res.rq1[name])
    fig = fg.rq1_means(res.rq1["pooled"], figs / "rq1_means.png", res.rq1["variability"])
else:
    print("To test RQ1, add a base model and its instruct counterpart (Ollama, for example) to params.yaml:\n")
    print(rs.RQ1_HOWTO)

# %% [markdown]
# ## RQ2: do self-reported traits predict behaviour?
#
# One regression per trait x behaviour: the standardised behaviour on the standardised trait, with a random
# intercept per model when several models entered, else OLS. Baseline conditions only (`rq2_conditions`), so
# the persona manipulation does not manufacture associations. Significance uncorrected, after
# Benjamini-Hochberg (FDR) and after Holm (FWER) within each family: primary, the paper's 30 trait-behaviour
# pairs; secondary, the further measures of the same tasks. `mde_r` is the smallest |r| each test detects with
# 80% power at its n. The direction share uses only pairs with a
# documented human expectation (`data/stimuli/illusion/expected_signs.csv`, with references). A unit is a model x
# baseline prompt: with answers scored from option probabilities, the temperatures of one prompt are
# re-weightings of the same forward passes, so they are one unit (the row at T = 1), not several. With one model
# the p-values describe this model's variation across prompts, not a population of
# models (the paper's shares came from many models).

# %%
why = st.rq2_not_tested(res.rq2)
if why:
    print(why)
else:
    print(res.rq2["note"])
    display(pd.Series(res.rq2["summary"], dtype=object))
    fig = fg.rq2_heatmap(res.rq2["tests"], figs / "rq2_slopes.png")
    tested = res.rq2["tests"][res.rq2["tests"]["p"].notna()]
    display(tested[["family", "trait", "behaviour", "n", "n_models", "coef", "ci_low", "ci_high", "p", "p_bh",
                    "p_holm", "mde_r", "expected_sign", "direction_as_expected", "method", "note"]])

# %% [markdown]
# ## RQ3: persona injection
#
# Per persona trait and prompt strategy, the shift of the paired self-report (agreeableness: IPIP
# Agreeableness; self-regulation: SRQ, both mean per item, 1-5) and of the paired behaviour (sycophantic flip
# rate; CCT cards turned), as raw differences and Cohen's d (persona minus baseline, pooled SD), against the
# baseline rows of the same models only. The designed direction is up for every self-report (each persona
# describes the high pole) and the human-expected sign for the behaviour (more flips for agreeableness, fewer
# cards for self-regulation).

# %%
print(res.rq3["note"])
if len(res.rq3["shifts"]):
    fig = fg.rq3_shifts(res.rq3["shifts"], figs / "rq3_shifts.png")
    display(res.rq3["by_model"])
    display(res.rq3["shifts"].drop(columns=["note"]))

# %% [markdown]
# Persona versus baseline predicted from the self-reports and, separately, from the behaviour (per strategy and
# over all strategies). Under perfect separation the maximum-likelihood estimates do not exist (reported) and the
# L2-penalised fit is given; leave-one-out accuracy puts both predictor sets on the same footing.

# %%
if len(res.rq3["logistic"]):
    lg = res.rq3["logistic"].copy()
    lg["coefs"] = lg["coefs"].map(lambda d: {k: round(v, 2) for k, v in d.items()})
    display(lg.drop(columns=["p_values"]))

# %% [markdown]
# ## Persona check: does every persona move its target self-report the designed way?
#
# Each persona condition (a strategy and a trait-word triplet) against the same model's baseline rows. A persona
# that moves its self-report down, against the design, is flagged: its RQ3 contrast then does not test a trait
# raised by the prompt.

# %%
if len(res.checks):
    fig = fg.persona_check(res.checks, figs / "persona_check.png")
    flagged = res.checks[res.checks["against_design"] == True]  # noqa: E712
    if len(flagged):
        print(f"FLAGGED: {len(flagged)} of {len(res.checks)} persona conditions moved the target self-report against "
              "the designed direction:")
        display(flagged[["model", "condition", "self_report", "mean_baseline", "mean_persona", "d", "d_ci_low",
                         "d_ci_high", "clear"]])
    else:
        print(f"All {len(res.checks)} persona conditions moved their target self-report up (as designed) or not at all.")

# %% [markdown]
# ## Headline numbers
# Written to `metrics/illusion.json` (`dvc metrics show` prints them beside the other studies'), and the results in
# the long format every study shares (`data/processed/illusion/measures.parquet`, `shifts.parquet`: the persona
# shifts of self-report and behaviour that the cross-study synthesis sets side by side).

# %%
measures.write("illusion", *rs.long_tables(res))
path = metrics.write("illusion", res.metrics())
print(f"{path.name}: RQ1 tested = {res.rq1['tested']}; RQ2 tests = {res.rq2['summary']['n_tests']}; "
      f"RQ3 shifts = {len(res.rq3['shifts'])}")
