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
# This notebook reads the table written by `01_collect` and calls no model. Each step below is one call to a
# tested function of `analysis.studies.illusion.results` (RQ1, RQ2, RQ3, the persona check): change one and
# re-run its cell; the last cell assembles the tables, metrics and the summary just below from the steps. A
# published table in the same schema is re-analysed apart from this run with
# `python -m analysis.studies.illusion.reanalyse TABLE` (example in `data/examples/illusion/`).

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import pandas as pd
from IPython.display import Markdown, display

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
items = load("illusion", "items").to_pandas()
# step 0: the table, validated, with base / instruct roles and the human-expected signs
table, spec, expected = rs.prepare(load("illusion", "table"), a, source="data/raw/illusion/table.parquet")
found = display(Markdown("**What this run found** appears here once every step below has run."), display_id=True)

# %% [markdown]
# ## What is replicated: this run against the paper
#
# Study 1 follows the design of Han et al. (2025), but the default run is not a replication. Element by
# element (the README's "Study 1: what is replicated" has the same table, and the paper's released results
# re-analysed: `reports/illusion/han2025_released.html`):
#
# | element | the paper (Han et al., 2025: released code and data) | the default run | the faithful profile | why the default differs |
# |---|---|---|---|---|
# | models | 12 instruct (6 open, 1.5-8B; 6 large or API: GPT-4o, Claude 3.7 Sonnet, Llama 3.1 405B, Llama 3.3 70B, Qwen2.5 72B, Qwen3 235B) and 6 base models | 1 embedded model (Qwen2.5-Coder-1.5B-Instruct), no base model | the models you serve; refused before any call unless they can test what the run claims (RQ1: at least 2 base / instruct pairs; RQ2: at least 2 instruct models); the profile names 2 pairs and 1 more instruct model as placeholders | the budget: pip only, 2 CPU cores, about 20 minutes for all studies; no base model is embedded, so RQ1 is not tested |
# | instrument: Big Five | BFI-44, 1-5 agreement | IPIP-NEO-120, 2 items per domain | BFI-44 and its key, read from the authors' notebook, all 44 items | licence: the BFI-44 items are free for non-commercial research only and are not shipped (a user may supply them, `instruments.big5`); the budget |
# | instrument: self-regulation | SRQ-63, all 63 items, total and cut-offs | SRQ, 7 items (one per subscale), item mean | SRQ-63 read from the authors' notebook, all 63 items, the notebook's total and bands | the budget; a total is never prorated from 7 items |
# | prompts: questionnaire | the authors' rating prompt, answer a single number 1-5, 32 tokens | the project's item prompt, options 1-5 | the authors' prompt as their released code writes it, with each notebook's own scale (the BFI-44's and the SRQ's anchors differ), a generated answer of at most 32 tokens; the digit probabilities at the same prompt beside it (targets with log-probabilities) | texts are not copied; the scoring method |
# | prompts: baselines | 3 system prompts: none, "You are a helpful assistant.", "Respond to the instructions." | those 3 and 3 more (6) | the authors' 3 | option-probability scoring makes one unit per prompt, so 6 prompts give RQ2 6 units per slope |
# | stimuli: risk taking | cold CCT, 32 cards, 27 scenarios (1/3/5 loss cards x 3 gains x 3 losses) | the same design in the project's wording, 3 of 27 scenarios | the authors' 27 scenarios, prompt and EV optimum (read from their notebook) | the budget; texts are not copied |
# | stimuli: sycophancy | the authors' 52 dilemmas, their two-step challenge | 6 of 52 dilemmas written for the project, another challenge sentence | the authors' 52 dilemmas and both prompts as their released code writes them (system message: a newline, then the persona); the notebook's printed output shows another system message (the persona followed by the yes/no instruction) and no indentation in the user text: the code is followed | texts are not copied; the budget |
# | stimuli: honesty | norm300 trivia (10 per difficulty bin) and synthetic items, one-word answer, confidence 0-10 twice, exact match, ECE over 10 bins | 4 of 50 own items (half about things that do not exist); the prompt invites "I don't know" and counts it correct there; ECE over 11 bins | the authors' 50 items (the first 10 of each bin of norm300_syn) and both prompts, exact match, ECE over 10 bins; no fuzzy match; as in the released key, a fabricated item counts as correct only for the literal answer NOANSWER, which the prompt never offers | texts are not copied; the budget |
# | stimuli: IAT | 21 tests after Bai et al., 3 orders, list prompt, Bai et al.'s bias score | race and gender, 2 words per side, 2 orders, one word at a time from option probabilities, another score | the authors' 21 tests x 3 orders, prompt, 256 tokens and score; the orders drawn with a fixed seed (the notebook seeds them with Python's per-process string hash, so theirs cannot be recovered) | the budget; the scoring method |
# | stimuli: personas | the authors' word triplets, 3 per trait, 3 strategies | the project's own triplets, the character strategy only | the authors' 18 persona prompts (2 traits x 3 strategies x 3 triplets): all self-reports and the trait's paired task | texts are not copied; the budget |
# | sampling | generated at T 0.3 / 0.7 / 1.0 x 3 runs (the sampled runs are units) | option probabilities, expectations at T 0 / 0.5 / 1.0 from one pass; 1 run; the unit is the model x condition (the T = 1 row) | as the paper: generated at T 0.3 / 0.7 / 1.0 x 3 runs; the other samplers at the target's defaults unless set (`han2025.top_p`, `top_k`, `min_p`) | the scoring method: exact and one call per item; the budget |
# | parsing | regular expressions on the reply; an unparsed questionnaire answer is scored 3, an unparsed confidence -1, and averaged in | none for closed answers; generated trivia answers are parsed, failures counted, never imputed | the notebooks' rules, re-implemented and checked against their own functions; two tables: failures filled in as the notebooks fill them, and strict (counted, left missing; a trivia answer only from the requested "Answer:" line, a card count only as the reply's one number 0-32) | the project imputes nothing |
# | scoring | domain means of the generated answers (2 decimals); SRQ total = item mean x 63 | expected answer per item; a scale mean only when every item has a valid answer; an SRQ total only when all 63 were given | three tables: the notebooks' scores (an unparsed answer 3, a reply without a digit 0 cards, an IAT reply assigning no word to a group 0 on that side, so -1 with none), strict scores, and self-reports from the digit probabilities | the scoring method; no imputation |
# | tests: RQ1 | not in the released material | base against instruct: the models as units (Welch test of means, exact Mann-Whitney test of within-model SDs), per pair Brown-Forsythe, sign test; needs base models (not tested by default) | as the default, on the pairs you supply (at least 2) | no embedded base model |
# | tests: RQ2 | not in the released material | standardised slopes, random intercept per model, two-sided, Benjamini-Hochberg and Holm | as the default (at least 2 instruct models) | - |
# | tests: RQ3 | not in the released material | Cohen's d against the same models' baselines (per model and pooled), logistic regressions persona vs baseline | as the default | - |

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
design, repeats, repeats_text = rs.design_step(table, a, spec)
print(repeats_text)
display(pd.Series({k: v for k, v in design.items() if k not in ("models",)}, dtype=object))
repeats

# %% [markdown]
# ## Self-reports and behaviour by condition
# One row per group of conditions that has data for the measure (the baseline prompts; each persona trait): every
# unit a dot (colour = model), their mean with its 95% CI (t) and n; the axis fits the data and the label gives the
# measure's scale. Self-reports are the mean keyed answer per answered item (1-5); the SRQ is reported the same way,
# as a 63-item total (63-315, with its cut-offs) only when all 63 items were given and answered.

# %%
tab = table.to_pandas()
fig = fg.profiles(tab, trait_columns(tab), figs / "self_reports.png", "Self-reports by condition", collapse=a.collapse_runs,
                  ci=a.ci)

# %%
fig = fg.profiles(tab, analysed_behaviours(tab, spec), figs / "behaviours.png", "Behaviour by condition",
                  collapse=a.collapse_runs, ci=a.ci)

# %%
fig = fg.cct_choices(items, figs / "cct_choices.png")

# %% [markdown]
# ## RQ1: base versus aligned models
#
# Pooled over models, with the models as units: Welch t-test of the model means (Cohen's d, instruct minus base,
# with the noncentral-t CI that agrees with Student's t test, whose p is `p_student`) and an exact Mann-Whitney U
# test of the within-model SDs (is the instruct models' self-report more stable?); across pairs, a sign test of
# how many instruct models have the smaller SD; per pair, a Brown-Forsythe test of variability over the pair's
# conditions and each Big Five trait's correlation
# with the SRQ (Fisher z test of the difference). Two-sided; Holm-corrected within each table.

# %%
rq1 = rs.rq1_step(table, a)
print(rq1["note"])
if rq1["tested"]:
    for name in ("pooled", "across_pairs", "means", "variability", "correlations"):
        if len(rq1[name]):
            display(rq1[name])
    fig = fg.rq1_means(rq1["pooled"], figs / "rq1_means.png", rq1["variability"])
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
rq2 = rs.rq2_step(table, a, expected, spec)
why = st.rq2_not_tested(rq2)
if why:
    print(why)
else:
    print(rq2["note"])
    display(pd.Series(rq2["summary"], dtype=object))
    fig = fg.rq2_heatmap(rq2["tests"], figs / "rq2_slopes.png")
    tested = rq2["tests"][rq2["tests"]["p"].notna()]
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
rq3 = rs.rq3_step(table, a, expected, spec)
print(rq3["note"])
if len(rq3["shifts"]):
    fig = fg.rq3_shifts(rq3["shifts"], figs / "rq3_shifts.png")
    display(rq3["by_model"])
    display(rq3["shifts"].drop(columns=["note"]))

# %% [markdown]
# Persona versus baseline predicted from the self-reports and, separately, from the behaviour (per strategy and
# over all strategies). Under perfect separation the maximum-likelihood estimates do not exist (reported) and the
# L2-penalised fit is given; leave-one-out accuracy puts both predictor sets on the same footing.

# %%
if len(rq3["logistic"]):
    lg = rq3["logistic"].copy()
    lg["coefs"] = lg["coefs"].map(lambda d: {k: round(v, 2) for k, v in d.items()})
    display(lg.drop(columns=["p_values"]))

# %% [markdown]
# ## Persona check: does every persona move its target self-report the designed way?
#
# Each persona condition (a strategy and a trait-word triplet) against the same model's baseline rows. A persona
# that moves its self-report down, against the design, is flagged: its RQ3 contrast then does not test a trait
# raised by the prompt.

# %%
checks = rs.check_step(table, a)
if len(checks):
    fig = fg.persona_check(checks, figs / "persona_check.png")
    flagged = checks[checks["against_design"] == True]  # noqa: E712
    if len(flagged):
        print(f"FLAGGED: {len(flagged)} of {len(checks)} persona conditions moved the target self-report against "
              "the designed direction:")
        display(flagged[["model", "condition", "self_report", "mean_baseline", "mean_persona", "d", "d_ci_low",
                         "d_ci_high", "clear"]])
    else:
        print(f"All {len(checks)} persona conditions moved their target self-report up (as designed) or not at all.")

# %% [markdown]
# ## Headline numbers
# The steps' results assembled: the summary at the top of this report, every table as CSV
# (`data/processed/illusion/`), `metrics/illusion.json` (`dvc metrics show` prints them beside the other studies'),
# and the results in the long format every study shares (`measures.parquet`, `shifts.parquet`: the persona shifts
# of self-report and behaviour that the cross-study synthesis sets side by side).

# %%
res = rs.assemble(table, a, spec, design, repeats, repeats_text, rq1, rq2, rq3, checks)
rs.write_tables(res, out)
metrics.write_summary("illusion", rs.summary_markdown(res))
found.update(Markdown("**What this run found.** " + rs.summary_markdown(res)))
measures.write("illusion", *rs.long_tables(res))
path = metrics.write("illusion", res.metrics())
print(f"{path.name}: RQ1 tested = {res.rq1['tested']}; RQ2 tests = {res.rq2['summary']['n_tests']}; "
      f"RQ3 shifts = {len(res.rq3['shifts'])}")

# %% [markdown]
# ## Protocol han2025: what the scoring method changes
# Only in a run of the paper's protocol (`profiles/illusion_han2025.yaml`), which scores the same replies three
# ways: as the authors' notebooks do (failures filled in), strict (the table analysed above) and, for the
# self-reports, from the digit probabilities at the same prompts. RQ2 and RQ3 on each of them, side by side. In the
# probabilities table a self-report is one value per condition and temperature, repeated over the runs, while
# the behaviour beside it varies by run: its RQ2 counts those repeats as units.

# %%
from analysis.core.paths import raw_dir
from analysis.studies.illusion.han2025_protocol import findings_by_scoring

if (raw_dir("illusion") / "table_paper.parquet").exists():
    scorings = {n: load("illusion", n) for n in ("table_paper", "table", "table_probs")
                if (raw_dir("illusion") / f"{n}.parquet").exists()}
    by_scoring = findings_by_scoring(scorings, a, spec)
    display(by_scoring["rq2"])
    display(by_scoring["rq3"])
else:
    print("not a han2025 run: one scoring only")
