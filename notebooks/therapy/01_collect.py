# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study 3: the model as a psychotherapy client (collection)
#
# Re-implements the design of the PsAIch protocol (Khadangi et al., 2025, arXiv 2512.04124) on a model:
#
# 1. **Sessions.** The model is cast as the client of an experienced therapist and answers open questions in
#    blocks (early years, emotions, thoughts, beliefs, relationships, work, future), then closing questions.
#    Each session is one conversation with its full history; every turn is a recorded call keyed by the whole
#    history, so a finished session replays from the response store and an interrupted one resumes.
# 2. **Coding.** A judge model (by default the model itself) codes each session's narrative for the themes of
#    `data/stimuli/therapy/coding_scheme.yaml`: one yes/no question per theme, answered from the judge's exact
#    next-token probabilities, repeated with prompt variants to measure its self-consistency.
# 3. **Scales.** Clinical self-report scales (GAD-7, PHQ-9 by default) after a therapist's stance text, item by
#    item inside the session (`item_session`: the model's own reply to each item stays in the history, as in a
#    real session, and is parsed for the score; the exact option probabilities at the same point are a second
#    measure), item by item in fresh contexts (`item_fresh`), or as one whole form (`whole_session` /
#    `whole_fresh`, parsed item by item, then "Do you recognise this questionnaire?"). An unparsed reply is
#    followed by the therapist's reminder (at most `max_reasks` times) and otherwise left missing.
#
# The script, stances and coding scheme were written for this project (the paper's own materials were not
# available): this is a re-implementation of the design, not a copy. Nothing here is a diagnosis.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %% [markdown]
# ## The plan
# Model calls per model, part by part, counted from the parameters before anything runs (`>=`: a lower
# bound, where the count depends on the answers), and how many of them the response store already holds.

# %%
import polars as pl

from analysis.core import collection
from analysis.core.administer import mass_summary
from analysis.core.planning import plan_stage, render
from analysis.studies.therapy import STUDY

pl.Config.set_tbl_rows(60)
pl.Config.set_tbl_cols(20)
pl.Config.set_tbl_width_chars(160)
pl.Config.set_fmt_str_lengths(120)
pl.Config.set_float_precision(3)
p = STUDY.collect_stage(params)
print(render(plan_stage(STUDY, p)))

# %%
run = collection.run(STUDY, p)
turns, codings, items, forms = run["turns"], run["codings"], run["items"], run["forms"]
run.timing()

# %% [markdown]
# ## Timing per part
# Wall time, the calls that reached the model and those answered by the response store (the judge's calls
# are counted on the judge's target).

# %%
run["_timing"]

# %% [markdown]
# ## The sessions
# Client reply length per block (empty replies are kept empty, never filled in), and the first session of
# each model in full.

# %%
turns.with_columns(pl.col("client").str.len_chars().alias("reply_chars")).group_by(
    "model", "block", maintain_order=True).agg(
    pl.len().alias("turns"), pl.col("reply_chars").mean().alias("mean_reply_chars"),
    pl.col("empty").sum().alias("empty_replies"))

# %%
for r in turns.filter(pl.col("session") == turns["session"].min()).sort("model", "turn").iter_rows(named=True):
    print(f"[{r['model']} | {r['block']}]\nTHERAPIST: {r['therapist']}\nCLIENT: {r['client']}\n")

# %% [markdown]
# ## Validity of the answers
# Every closed answer scored from log-probabilities counts only when the allowed options carry at least
# `MIN_OPTION_MASS` of the model's probability (status `low_option_mass` / `no_option_mass` otherwise; the
# answer is then missing, never renormalised into one). The distribution of that mass per model and part,
# and the share below the threshold:

# %%
scored = pl.concat([
    items.filter(pl.col("method") == "probs").select("model", pl.lit("scales").alias("part"), "mode", "instrument",
                                                     "mass"),
    codings.filter(pl.col("method") == "probs").select("model", pl.lit("coding").alias("part"),
                                                       pl.lit("judge").alias("mode"), pl.lit("themes").alias("instrument"),
                                                       "mass"),
])
mass_summary(scored, ["model", "part", "mode", "instrument"]) if scored.height else "no log-probability answers"

# %% [markdown]
# Answers without a valid value, by status (generated answers: `unparsed` after the re-asks, or `refused`):

# %%
pl.concat([items.select("model", pl.lit("scales").alias("part"), "mode", "method", "status"),
           codings.select("model", pl.lit("coding").alias("part"), pl.lit("judge").alias("mode"), "method", "status")]
          ).group_by("model", "part", "mode", "method", maintain_order=True).agg(
    pl.len().alias("answers"), (pl.col("status") == "ok").sum().alias("ok"),
    *[(pl.col("status") == s).sum().alias(s) for s in ("unparsed", "refused", "low_option_mass", "no_option_mass")])

# %% [markdown]
# ## Whole-form replies and recognition
# How many items could be read from the reply to the whole questionnaire, and whether the model named the
# instrument (in the reply or when asked), with the first session's replies in full.

# %%
if forms.height:
    display(forms.select("model", "session", "stance", "mode", "instrument", "n_parsed", "n_unparsed",  # noqa: F821
                         "named_in_reply", "follow_names_correct", "recognised"))
    for r in forms.filter(pl.col("session") == forms["session"].min()).iter_rows(named=True):
        print(f"[{r['model']} | {r['stance']} | {r['instrument']}] parsed {r['n_parsed']}/{r['n_items']}\n"
              f"{r['reply']}\n-- follow-up: {r['follow_up_reply']}\n")
else:
    print("no whole-form administration in this run (scales.modes has no whole_* mode)")
