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
# Scores, persona effects and reliability from the item table written by `01_collect`. This notebook
# calls no model: changing its parameters re-runs only this stage.

# %% tags=["parameters"]
params = None  # injected by `dvc repro` from params.yaml; when None (run by hand), params.yaml is read

# %%
import polars as pl

from analysis.core.administer import expected_at_temperature, validity_summary
from analysis.core.collection import load
from analysis.core.instruments import load_instrument
from analysis.core.io import write_csv, write_parquet
from analysis.core.paths import figures_dir, processed_dir
from analysis.studies.bigfive import STUDY
from analysis.studies.bigfive import figures, stats

pl.Config.set_tbl_rows(60)
pl.Config.set_float_precision(3)
a = STUDY.analysis_stage(params).analysis
out, figs = processed_dir("bigfive"), figures_dir("bigfive")
items = load("bigfive", "items")
instrument = load_instrument(items["instrument"][0])
scores = stats.domain_scores(instrument, items)
write_parquet(scores, out / "scores.parquet")
summary = stats.summarise(scores)
write_csv(summary, out / "domain_means.csv")
validity = validity_summary(items, ["model", "persona"])
summary.join(validity.select("model", "persona", "invalid_rate", "mean_option_mass"), on=["model", "persona"])

# %% [markdown]
# ## Profiles
# Mean domain score (1-5) per persona; the invalid-answer rate and option mass of each persona are in the
# table above.

# %%
fig = figures.plot_profiles(summary, figs / "profiles.png")

# %% [markdown]
# ## Does each persona move its target domain?
# Cohen's d of the keyed item responses on the persona's target domain against the no-persona responses
# to the same items (unit: item; two-sided CI; Welch p-values Holm-adjusted across all comparisons).

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
          f"{sig} of {n} shifts are significant after Holm correction; median |d| = {effects['d'].abs().median():.2f}.")

# %% [markdown]
# ## Reliability across simulated participants
# Cronbach's alpha (Feldt CI) and McDonald's omega per domain; participants are model x persona x variant x
# sample, so reliability here measures how consistently the items of a domain move together across
# personas, not a human-style test-retest property.

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
# Written to `metrics/bigfive.json` (`dvc metrics show` prints them next to the other studies').

# %%
from analysis.core import metrics

metrics.write("bigfive", stats.headline(effects, rel))
