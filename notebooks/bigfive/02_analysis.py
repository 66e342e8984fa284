# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Big Five self-reports under persona prompts: analysis
#
# **Question.** When a system prompt describes a persona at one pole of a Big Five domain ("a person who
# is kind, warm, trusting..."), does the model's self-report on the IPIP-NEO-120 move that domain in the
# intended direction, and do the items of a domain hang together across simulated participants?
#
# Scores, persona effects and reliability come from the item table written by `01_collect`. This notebook
# calls no model: changing its parameters re-runs only this stage.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import polars as pl
from IPython.display import Markdown, display

from analysis.core import measures, metrics
from analysis.core.administer import expected_at_temperature, validity_summary
from analysis.core.collection import load
from analysis.core.instruments import load_instrument
from analysis.core.io import write_csv, write_parquet
from analysis.core.paths import figures_dir, processed_dir
from analysis.studies.bigfive import STUDY, figures, stats

pl.Config.set_tbl_rows(60)
pl.Config.set_float_precision(3)
a = STUDY.analysis_stage(params).analysis
out, figs = processed_dir("bigfive"), figures_dir("bigfive")
items = load("bigfive", "items")
instrument = load_instrument(items["instrument"][0])
found = display(Markdown("**What this run found** appears here once every step below has run."), display_id=True)

# %% [markdown]
# ## Domain means per persona
# Mean domain score (1-5) per persona with the share of items answered, the invalid-answer rate and the
# mean probability on the response options.

# %%
scores = stats.domain_scores(instrument, items)
summary = stats.summarise(scores)
validity = validity_summary(items, ["model", "persona"])
write_parquet(scores, out / "scores.parquet")
write_csv(summary, out / "domain_means.csv")
summary.join(validity.select("model", "persona", "invalid_rate", "mean_option_mass"), on=["model", "persona"])

# %% [markdown]
# ## Profiles
# Mean domain score (1-5) per persona and domain. A persona that raises every domain at once shifts a
# general response level rather than its own trait.

# %%
fig = figures.plot_profiles(summary, figs / "profiles.png")

# %% [markdown]
# ## Does each persona move its target domain?
# Unit: the items of the persona's target domain, each answered with and without the persona (paired by
# item; answers to the same item under several prompt variants or samples are averaged first). Shift on the
# 1-5 scale with its t interval, Hedges' g_av with its CI, two-sided paired t-test, Holm-adjusted across all
# persona x model comparisons.

# %%
effects = stats.persona_effects(instrument, items, ci=a.ci)
write_csv(effects, out / "persona_effects.csv")
if effects.height:
    fig = figures.plot_effects(effects, figs / "persona_effects.png")
effects

# %%
if effects.height:
    n, ok = effects.height, int(effects["direction_ok"].sum())
    sig = int((effects["p_holm"] < 0.05).sum())
    print(f"{ok} of {n} pole personas moved their target domain in the intended direction; "
          f"{sig} of {n} shifts are significant after Holm correction; median |g| = {effects['g'].abs().median():.2f}.")

# %% [markdown]
# ## Reliability across simulated participants
# Cronbach's alpha (Feldt CI) and McDonald's omega per domain; participants are persona x variant x sample
# within each model, and model x persona x variant x sample when pooled over models. Reliability here
# measures how consistently the items of a domain move together across personas, not a human-style
# test-retest property; the note column says when a value cannot be read as a reliability.

# %%
rel = stats.reliability(instrument, items)
write_csv(rel, out / "reliability.csv")
rel

# %% [markdown]
# ## Temperature
# In log-probability mode the expected domain score under sampling at each temperature is exact (no
# sampling): the option probabilities are re-weighted as p^(1/T).

# %%
if (items["mode"] == "logprob").all():
    rs = instrument.response_scale
    temp = pl.concat([
        items.with_columns(expected_at_temperature(items, t, rs.values).alias("value"), pl.lit(t).alias("temperature"))
        for t in a.temperatures])
    k = stats.keyed_items(instrument, temp)
    by_t = (k.group_by("model", "persona", "domain", "temperature").agg(pl.col("keyed").mean().alias("expected_score"))
             .filter(pl.col("domain") == pl.col("persona").str.slice(0, 1)).sort("model", "persona", "temperature"))
    write_csv(by_t, out / "target_domain_by_temperature.csv")
    display(by_t)  # noqa: F821 (IPython)
else:
    print("generation mode: temperature effects need sampled runs (set collect.samples and a temperature)")

# %% [markdown]
# ## Headline numbers
# Assembled from the steps' results: `metrics/bigfive.json` (`dvc metrics show` prints them next to the other
# studies'), the long format every study shares, and the summary at the top of this report.

# %%
metrics.write("bigfive", stats.headline(effects, rel))
measures.write("bigfive", *stats.long_tables(summary, effects))
text = stats.summary(effects, rel, items)
metrics.write_summary("bigfive", text)
found.update(Markdown(text))
