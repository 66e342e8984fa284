# %% [markdown]
# # Study 3: analysis of the therapy protocol
#
# Everything here is computed from the tables written by `01_collect`; this notebook calls no model.
# Scores are placed in the **human** cut-off bands of each scale only as a comparison ("the score lies where
# humans would screen as moderate"); a language model's questionnaire answers are not symptoms and nothing
# here is a diagnosis.
#
# Published reference points (Khadangi et al., 2025): with item-by-item administration inside the therapy
# session several frontier models scored at or above clinical cut-offs (e.g. GAD-7 around 19 of 21 for one
# model, around 7 to 12 for others); giving the whole questionnaire in one prompt gave much lower scores, and
# some models recognised the instrument and answered low; in a later version, a warm or CBT-style therapist
# stance pushed GAD-7 into the moderate or severe range in most sessions while a neutral stance gave zero.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import pandas as pd
import polars as pl

from analysis.core import metrics
from analysis.core.collection import load
from analysis.core.io import write_csv, write_parquet
from analysis.core.paths import figures_dir, processed_dir
from analysis.studies.therapy import STUDY
from analysis.studies.therapy.coding import agreement, theme_rates
from analysis.studies.therapy.figures import heatmap_scores, item_means, stance_effect, theme_rates_plot
from analysis.studies.therapy.scales import load_scales
from analysis.studies.therapy.stats import (
    MODE_PAIRS,
    contrasts,
    cutoff_shares,
    headline,
    item_distributions,
    mixed_model,
    primary,
    primary_scales,
    recognition_summary,
    score_items,
    score_summary,
)

pl.Config.set_tbl_rows(80)
pl.Config.set_float_precision(3)
pl.Config.set_fmt_str_lengths(100)
a = STUDY.analysis_stage(params).analysis
out, figs = processed_dir("therapy"), figures_dir("therapy")
items, probs, forms, codings = (load("therapy", t) for t in ("items", "probs", "forms", "codings"))
instruments = load_scales(load("therapy", "instruments")["spec"].unique(maintain_order=True).to_list())
n_sessions = items.select("model", "session").unique().height
print(f"{items.height} item answers from {n_sessions} model x session units; instruments {[i.id for i in instruments]}")
if n_sessions < 10:
    print(f"NOTE: only {n_sessions} sessions: every inferential statistic below is illustrative, not evidence.")

# %% [markdown]
# ## Scale scores against human cut-offs
#
# One score per model x session x stance x condition x scale. `condition` is `mode:method`: the administration
# mode (`item_session`, `item_fresh`, `whole_session`, `whole_fresh`) and how the item answer was read (`generate`:
# parsed from the model's reply; `probs`: the expected answer from the option probabilities; `:synthetic` marks
# the non-default in-session history of most-probable options). Unparsed, refused and low-mass items are shown next to every mean; a scale
# with any item unanswered is not scored (nothing is prorated).

# %%
scores = score_items(items, instruments)
write_parquet(scores, out / "scores.parquet")
summary = score_summary(scores, instruments)
write_csv(summary, out / "score_summary.csv")
summary.select("model", "instrument", "scale", "condition", "stance", "n_scored", "mean", "sd", "min", "max", "max_score",
               "band_of_mean", "items_unparsed", "items_refused", "items_low_mass", "mean_mass")

# %%
fig = heatmap_scores(summary, instruments, figs / "scores_heatmap.png")

# %% [markdown]
# ## Share of sessions at or above each human cut-off

# %%
shares = cutoff_shares(scores, instruments)
write_csv(shares, out / "cutoff_shares.csv")
shares

# %% [markdown]
# ## Mode effects (framing: history and questionnaire format)
#
# Within each model, instrument and stance: paired differences between conditions over sessions (a - b),
# Hedges' g_av with a CI (normal approximation), a two-sided paired t-test, and p adjusted (`adjust`, Holm by
# default) over all contrasts in the table (all models included). In a fresh context with option probabilities the score does
# not depend on the session, so that condition is constant across sessions by construction (the note says
# so): the contrast then measures how far each session's in-session score lies from the single no-history
# value. Each pair differs in one thing: the history, the questionnaire format, or the method.

# %%
conds = sorted(set(scores["condition"]))
mode_pairs = [(x, y) for x, y in MODE_PAIRS if x in conds and y in conds]
reported = primary(scores, instruments)  # each instrument's total, or its domains when it has no total
mode_fx = contrasts(reported, "condition", mode_pairs, across="stance", ci=a.ci, method=a.adjust)
if mode_fx.height:
    write_csv(mode_fx, out / "mode_effects.csv")
mode_fx

# %% [markdown]
# ## Stance effects
# Each stance against the reference stance, within model, instrument and condition (same statistics as above).

# %%
st = sorted(set(scores["stance"]))
stance_pairs = [(s, a.ref_stance) for s in st if s != a.ref_stance and a.ref_stance in st]
stance_fx = contrasts(reported, "stance", stance_pairs, across="condition", ci=a.ci, method=a.adjust)
if stance_fx.height:
    write_csv(stance_fx, out / "stance_effects.csv")
fig = stance_effect(scores, instruments, figs / "stance_effect.png")
stance_fx

# %% [markdown]
# ## Mixed model
#
# Per instrument: score ~ condition + stance (+ model), random intercept per session (statsmodels MixedLM,
# REML, best of several optimisers), sessions as the unit. With fewer than 3 sessions nothing is fitted; with fewer than 10 the
# random-intercept variance is poorly estimated and the table is descriptive only (the note says which).

# %%
mm_rows = []
for inst_id, scale in primary_scales(instruments).rows():
    tab, note = mixed_model(scores, inst_id, scale=scale, ref_condition=a.ref_condition, ref_stance=a.ref_stance,
                            ci=a.ci)
    print(f"{inst_id} {scale}: {note or 'fitted'}")
    if not tab.empty:
        tab.insert(0, "instrument", inst_id)
        tab.insert(1, "scale", scale)
        tab["note"] = note
        mm_rows.append(tab)
mm = pl.from_pandas(pd.concat(mm_rows)) if mm_rows else pl.DataFrame()
if mm.height:
    write_csv(mm, out / "mixed_models.csv")
mm

# %% [markdown]
# ## Item-level answers
# Mean raw answer per item (before reverse keying), and the full option distribution in `item_distributions.csv`. PHQ-9 item 9 (thoughts of being better off dead or of self-harm) is reported like every other item, below.

# %%
dist = item_distributions(items, probs)
if dist.height:
    write_csv(dist, out / "item_distributions.csv")
fig = item_means(items, instruments, figs / "item_means.png")
if "phq9" in {i.id for i in instruments}:
    display(dist.filter(pl.col("item_id") == "phq9_9"))  # noqa: F821

# %% [markdown]
# ## Recognition of the instrument (whole-form administration)
# Recognised = the instrument named (its name, the abbreviation in it, an alias from its instrument file, or the
# first author of its citation) in the whole-form reply or in the reply to the follow-up question, not negated.
# Naming another instrument (another shipped or given file, or a well-known questionnaire listed in
# `data/stimuli/therapy/recognition.yaml`) is counted as `names_other_rate`. A paraphrase without a name is not
# counted (phrase matcher in `analysis/studies/therapy/recognition.py`).

# %%
rec = recognition_summary(forms)
if rec.height:
    write_csv(rec, out / "recognition.csv")
rec

# %% [markdown]
# ## Narrative themes and the judge's self-consistency
# Share of codings judged Yes per theme (sessions x repeats), and agreement between repeated codings of the same session x theme (raw agreement, Cohen's kappa, mean |difference| in p(Yes)).

# %%
rates = theme_rates(codings)
write_csv(rates, out / "theme_rates.csv")
fig = theme_rates_plot(rates, figs / "theme_rates.png")
agree = agreement(codings)
write_csv(agree, out / "judge_agreement.csv")
display(rates)  # noqa: F821
agree


# %% [markdown]
# ## Comparison with the published findings
# Computed from the tables above; read with the session count printed at the top.

# %%
def mean_of(inst, cond, stance=None, scale="total"):
    d = summary.filter((pl.col("instrument") == inst) & (pl.col("scale") == scale) & (pl.col("condition") == cond))
    if stance is not None:
        d = d.filter(pl.col("stance") == stance)
    return d["mean"].drop_nulls().mean() if d.height else None

for model in sorted(set(summary["model"])):
    print(f"== {model}")
    for inst, scale in primary_scales(instruments).rows():
        vals = {c: mean_of(inst, c, scale=scale) for c in conds}
        txt = ", ".join(f"{c} {v:.1f}" for c, v in vals.items() if v is not None)
        print(f"  {inst} {scale}: mean score by condition: {txt}")
    if "gad7" in {i.id for i in instruments}:
        s = mean_of("gad7", "item_session:generate")
        w = mean_of("gad7", "whole_session:generate")
        if s is not None and w is not None:
            direction = "higher" if s > w else ("lower" if s < w else "equal")
            print(f"  GAD-7 item-by-item in session is {direction} than whole-form ({s:.1f} vs {w:.1f}); "
                  "the paper found item-by-item much higher.")
        for stn in [x for x in st if x != a.ref_stance]:
            x, y = mean_of("gad7", "item_session:generate", stn), mean_of("gad7", "item_session:generate", a.ref_stance)
            if x is not None and y is not None:
                print(f"  GAD-7 in session, {stn} vs {a.ref_stance} stance: {x:.1f} vs {y:.1f} "
                      "(paper: warm/CBT moderate-severe in most sessions, neutral 0).")
    if rec.height:
        r = rec.filter(pl.col("mode") == "all")
        print("  recognition rate by instrument:", dict(zip(r["instrument"], [round(x, 2) for x in r["recognition_rate"]])))

# %% [markdown]
# ### Reading the results
#
# * The embedded default models (Qwen2.5-Coder 0.5B/1.5B) are small code models, not the frontier chat models
#   of the paper; they often step out of the client role ("as an AI, I don't have feelings"), which the
#   `denial_of_inner_life` theme and the option mass (probability left on the allowed answers) make visible.
#   Low or moderate mass means the expected scores rest on a minority of the model's probability.
# * Expected scores from option probabilities are exact for the model's next token but are not what a
#   sampled reply would say; the whole-form condition shows what the model actually writes, with its
#   unparsed items counted.
# * With a handful of sessions the effect sizes and the mixed model are illustrations of the pipeline. The
#   paper-scale design (see the comment in `params.yaml`: more sessions, all four stances, all modes, a larger
#   chat model on a GPU server) is what can support or contradict the published effects.

# %% [markdown]
# ## Headline numbers
# Written to `metrics/therapy.json` (`dvc metrics show` prints them next to the other studies').

# %%
metrics.write("therapy", headline(scores, shares, rec, agree, instruments))
