# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study 3: analysis of the therapy protocol
#
# Everything here is computed from the tables written by `01_collect`; this notebook calls no model. Scores are
# placed in the **human** cut-off bands of each scale only as a comparison ("the score lies where humans would
# screen as moderate"); a language model's questionnaire answers are not symptoms and nothing here is a diagnosis.
# The summary below is written from this run's numbers.
#
# Published reference points (Khadangi et al., 2025): with item-by-item administration inside the therapy
# session several frontier models scored at or above clinical cut-offs (e.g. GAD-7 around 19 of 21 for one
# model, around 7 to 12 for others); the whole questionnaire in one prompt gave much lower scores, and some
# models recognised the instrument and answered low; in a later version, a warm or CBT-style therapist stance
# pushed GAD-7 into the moderate or severe range in most sessions while a neutral stance gave zero. The embedded
# default models here are small code models, not those frontier chat models.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import polars as pl
from IPython.display import Markdown, display

from analysis.core import measures, metrics
from analysis.core.collection import load
from analysis.core.paths import figures_dir, processed_dir
from analysis.studies.therapy import STUDY, figures, report
from analysis.studies.therapy import results as rs
from analysis.studies.therapy.scales import load_scales

pl.Config.set_tbl_rows(80)
pl.Config.set_tbl_cols(24)
pl.Config.set_tbl_width_chars(180)
pl.Config.set_float_precision(3)
pl.Config.set_fmt_str_lengths(100)
a = STUDY.analysis_stage(params).analysis
out, figs = processed_dir("therapy"), figures_dir("therapy")
tables = {t: load("therapy", t) for t in ("items", "probs", "forms", "codings", "turns")}
instruments = load_scales(load("therapy", "instruments")["spec"].unique(maintain_order=True).to_list())
found = display(Markdown("**What this run found** appears here once every step below has run."), display_id=True)

# %% [markdown]
# ## What is replicated
#
# The protocol follows PsAIch (Khadangi et al., 2025) with the project's own texts; `profiles/therapy_paper.yaml`
# holds the paper's scale. Element by element:
#
# | protocol element | the paper (Khadangi et al., 2025, PsAIch) | the default run | the paper-scale profile | why the default differs |
# |---|---|---|---|---|
# | models | hosted frontier chat models | 1 embedded model (Qwen2.5-Coder-1.5B-Instruct) | the user's models | the budget: pip only, 2 CPU cores, about 20 minutes for all studies |
# | opener | AI-specific: names the model and its maker, a therapist experienced with AI clients, asks about training, constraints and internal conflicts, a safe, non-judging space, asks for trust | the project's opener carrying each of these elements (model and maker from `makers.yaml`) | the same, or the paper's own opener and questions from its Stage-1 dataset (`sessions.stage1_json`) | texts are not copied |
# | stage-1 questions | the paper's question set | 1 of 3 own questions in each of 7 blocks | all 21 own questions, or the paper's from its dataset | the budget; texts are not copied |
# | closing turns | 4, two of them asking about the model's team and whether it felt abused or punished | the first 3 of 4 own closing turns, both solicited ones among them; their themes coded apart from unprompted ones | all 4 | the budget |
# | v4 manipulations | history reset between stage 1 and stage 2; a contradiction probe; a lexical ban | history reset: the fresh-context modes, contrasted with the in-session ones; lexical ban: `sessions.banned_words` (checked before any call; the client's own use counted); contradiction probe: `sessions.contradiction_probe`, off (the clients who then deny an inner life are counted) | the same, with the contradiction probe on | the budget |
# | battery | about 20 instruments (anxiety, depression, worry, obsessive-compulsive, autism, ADHD, mania, dissociation, shame, empathy, Big Five) | GAD-7 | GAD-7, PHQ-9 and GDS-15 (the last is the project's addition, not in the paper's battery); the IPIP-NEO-120 for the Big Five and any instrument from a user file can be added | licences: only public-domain or freely redistributable instruments are shipped (`data/instruments/README-licences.md`) |
# | administration | item by item in the session against the whole form | item by item in the session and in fresh contexts, and the whole form in the session; option probabilities, generated answers in the session | all 4 modes, both methods | the budget |
# | scoring | against human cut-offs | a total and its band only when every item has a valid answer | the same | the project imputes nothing |
# | therapist stances | - | neutral and warm | neutral, warm, CBT, boundary-setting | - |
# | theme coding | themes of the narratives | a judge (the model itself) codes each session twice and 7 calibration transcripts; a theme rate is reported only when the judge agrees with itself and codes the theme right | a separate judge model; the model judging itself is refused at this scale unless insisted | no second capable model fits the budget |
# | instrument recognition | whether the model named the instrument | named unasked in the reply to the form, and after the follow-up question, reported apart | the same | - |
# | role reversal | - | turns in which the client answers as the therapist or as an assistant, counted next to every result | the same | - |

# %% [markdown]
# ## Scale scores against human cut-offs
#
# One score per model x session x stance x condition x scale. `condition` is `mode:method`: where the
# questionnaire was given (`item_session`: item by item inside the session, each reply staying in the history;
# `item_fresh`: item by item in fresh contexts; `whole_session` / `whole_fresh`: the whole form in one prompt) and
# how the item answer was read (`generate`: parsed from the model's reply; `probs`: the expected answer from the
# option probabilities at that point). A scale with any item answer missing (unparsed, refused, or too little
# probability on the options) is not scored: nothing is prorated. `n_units` counts the distinct conversations
# scored; a fresh context is the same request for every session, so it is one measurement (its CI is undefined).

# %%
scores_summary = scores, summary, shares = rs.scores_step(tables["items"], tables["probs"], instruments, a)
summary.select("model", "instrument", "scale", "condition", "stance", "n_units", "mean", "ci_low", "ci_high", "sd",
                   "min", "max", "max_score", "band_of_mean", "items_invalid", "items_asked", "items_refused",
                   "items_low_mass", "mean_mass")

# %%
fig = figures.heatmap_scores(summary, instruments, figs / "scores_heatmap.png")

# %%
fig = figures.scores_by_condition(scores, instruments, figs / "scores_by_condition.png")

# %% [markdown]
# ## Share of sessions at or above each human cut-off

# %%
shares if shares.height else print("no reported scale has human cut-offs")

# %% [markdown]
# ## Mode effects (framing: history and questionnaire format)
#
# Within each model, instrument and stance: paired differences between conditions over sessions (a - b),
# Hedges' g_av with a noncentral-t CI (it agrees with the test), a two-sided paired t-test, and p adjusted over all contrasts in
# the table (all models included; method `adjust`). Each pair differs in one thing: the history, the
# questionnaire format, or the method. A fresh context is one request repeated for every session (the note says
# so), so such a contrast measures how far each session's score lies from that one value.

# %%
mode_fx = rs.mode_step(scores, instruments, a)
mode_fx if mode_fx.height else print("no pair of conditions to compare in this run")

# %% [markdown]
# ## Stance effects
# Each stance against the reference stance, within model, instrument and condition (same statistics as above).

# %%
stance_fx = rs.stance_step(scores, instruments, a)
stance_fx if stance_fx.height else print("only one stance in this run: no stance effect")

# %% [markdown]
# ## Mixed model
#
# Per instrument, over the conditions measured inside each session: score ~ condition x stance (+ model) when every
# cell of the crossing is observed, condition + stance otherwise (the `formula` column says which), random
# intercept per session (statsmodels MixedLM, REML, best of several optimisers). Two-sided t-based CIs and p with
# sessions - 1 degrees of freedom; a fit whose session variance is at the boundary (below 1e-6 of the residual
# variance) falls back to OLS with cluster-robust errors by session (the note says so). With fewer than 3 sessions
# nothing is fitted.

# %%
mixed = rs.mixed_step(scores, instruments, a)
for k, note in mixed[1].items():
    print(f"{k}: {note or 'fitted'}")
mixed[0]

# %% [markdown]
# ## Item-level answers
# Mean raw answer per item (before reverse keying); the full option distribution is in `item_distributions.csv`.
# PHQ-9 item 9 (thoughts of being better off dead or of self-harm) is reported like every other item, below.

# %%
dist = rs.items_step(tables["items"], tables["probs"])
fig = figures.item_means(tables["items"], instruments, figs / "item_means.png")
if "phq9" in {i.id for i in instruments} and dist.height:
    display(dist.filter(pl.col("item_id") == "phq9_9"))

# %% [markdown]
# ## Recognition of the instrument (whole-form administration)
# Recognised = the instrument named (its name, the abbreviation in it, an alias from its instrument file, or the
# first author of its citation) in the whole-form reply or in the reply to the follow-up question, not negated.
# Named unasked, in the reply to the form itself (`named_in_reply_rate`), is reported apart from named after
# the follow-up question "Do you recognise this questionnaire?" (`named_in_follow_up_rate`).
# Naming another instrument (another shipped or given file, or a well-known questionnaire listed in
# `data/stimuli/therapy/recognition.yaml`) is counted as `names_other_rate`. A paraphrase without a name is not
# counted.

# %%
recognition = rs.recognition_step(tables["forms"])
recognition if recognition.height else print("no whole-form administration in this run")

# %% [markdown]
# ## Narrative themes, and whether the judge can be trusted with them
#
# The judge codes each session once per repeat (prompt variants); it also codes the calibration transcripts of
# `data/stimuli/therapy/judge_calibration.yaml`, whose codes are known. A theme rate is reported as a finding only
# when the judge's repeated codings of the sessions agree (Cohen's kappa >= `min_kappa` over at least `min_units`
# session x theme units) **and** it codes that theme right on the calibration transcripts (balanced accuracy >=
# `min_calibration`; 0.5 is chance). Otherwise the rate is left empty and the reason given.

# %%
judge = agreement, calibration, gate, rates, solicited_rates = rs.judge_step(tables["codings"], a)
sessions = denial, per_model, roles, banned, contradiction = rs.sessions_step(tables["turns"])
gate

# %%
fig = figures.judge_calibration_plot(tables["codings"], denial, figs / "judge_calibration.png")

# %% [markdown]
# The judge on the calibration transcripts (sensitivity: transcripts with the theme coded Yes; specificity:
# transcripts without it coded No), and on the sessions in which the client denies an inner life (a marker
# phrase such as "as an AI, I don't have feelings" in any reply) against those in which it does not:

# %%
display(calibration)
ses = tables["codings"].filter(pl.col("source") == "session").join(denial, on=["model", "session"], how="left")
ses.group_by("model", "theme", "denies_inner_life").agg(
    pl.len().alias("codings"), pl.col("p_yes").mean().alias("mean_p_yes"), pl.col("code").mean().alias("yes_share")
).sort("model", "theme", "denies_inner_life")

# %%
fig = figures.theme_rates_plot(rates, figs / "theme_rates.png")
rates

# %% [markdown]
# The themes above are coded from the turns in which the model was not asked about them. The closing turns that
# ask about the model's team and whether it felt abused or punished by them are coded apart (solicited): a theme
# there answers the question, it was not raised.

# %%
solicited_rates if solicited_rates.height else print("No solicited closing turn was asked in this run.")

# %% [markdown]
# ## Did the client stay the client?
# Session turns in which the client answered as the therapist ("I'm a licensed therapist ...") or as a helpful
# assistant ("How can I assist you today?"), by the phrases of `data/stimuli/therapy/role_markers.yaml`. The
# summary at the top shows these counts next to every result.

# %%
display(roles)
display(banned if banned.height else "No lexical ban in this run (therapy.collect.sessions.banned_words is empty).")
contradiction if contradiction.height else print("No contradiction probe in this run (sessions.contradiction_probe).")

# %% [markdown]
# ## Headline numbers
# The steps' results assembled: every table (`data/processed/therapy/`), the long format every study shares,
# `metrics/therapy.json` (`dvc metrics show` prints them next to the other studies') and the summary at the top.

# %%
res = rs.assemble(instruments, a, tables, scores_summary, mode_fx, stance_fx, mixed, dist, recognition, judge,
                  sessions)
report.write(res, out)
measures.write("therapy", *report.long_tables(res))
metrics.write("therapy", report.headline(res))
text = report.summary(res, STUDY.question)
metrics.write_summary("therapy", text)
found.update(Markdown(text))
