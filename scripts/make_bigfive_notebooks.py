"""Write notebooks/bigfive/*.ipynb and notebooks/templates/study_template.ipynb (no outputs)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbgen import make  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

make(ROOT / "notebooks/bigfive/01_collect.ipynb", [
    ("md", """
# Big Five self-reports under persona prompts: collection

Each model answers the IPIP-NEO-120 (Johnson, 2014; public domain) one item per prompt, once with no
persona and once under each pole persona (high and low on each Big Five domain), in each prompt variant.
In `logprob` mode an item costs one forward pass and yields the exact probability of every response
option; in `generate` mode the answer is parsed from text, re-asked at most twice, and otherwise left
missing. Every call is recorded in the response store and re-runs are answered from it.
"""),
    ("params", """
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {}
collect = {"instrument": "ipip_neo_120", "personas": ["none", "A_high", "A_low"], "variants": ["rate"],
           "items_per_facet": 1, "mode": "logprob", "max_tokens": 16, "max_reasks": 2, "samples": 1}
out_items = "data/raw/bigfive/items.parquet"
"""),
    ("code", """
import polars as pl
from analysis import bigfive
from analysis.administer import validity_summary
from analysis.instruments import load_instrument
from analysis.io import write_parquet
from analysis.params import elicitor

pl.Config.set_tbl_rows(40)
instrument = load_instrument(collect["instrument"])
frames = []
for spec in models:
    el = elicitor(spec, targets)
    frames.append(bigfive.collect(
        el, instrument, collect["personas"], collect["variants"], items_per_facet=collect["items_per_facet"],
        mode=collect["mode"], max_tokens=collect["max_tokens"], max_reasks=collect["max_reasks"],
        samples=collect["samples"], seed=seed, temperature=collect.get("temperature", 0.0)))
    print(f"{spec} (digest {el.target.digest[:12]}): {el.n_model_calls} calls reached the model, the rest came from the store")
items = pl.concat(frames, how="diagonal_relaxed")
write_parquet(items, out_items)
print(f"{items.height} item responses -> {out_items}")
"""),
    ("md", "## Validity of the answers\nShare of items without a valid answer, refusals, re-asks, and (log-probability mode) the mean probability the model put on the response options at all."),
    ("code", 'validity_summary(items, ["model", "persona", "variant"])'),
])

make(ROOT / "notebooks/bigfive/02_analysis.ipynb", [
    ("md", """
# Big Five self-reports under persona prompts: analysis

Scores, persona effects and reliability from the item table written by `01_collect`. This notebook
calls no model: changing its parameters re-runs only this stage.
"""),
    ("params", """
analysis = {"ci": 0.95, "temperatures": [0.0, 0.7, 1.0]}
instrument_id = "ipip_neo_120"
in_items = "data/raw/bigfive/items.parquet"
out_dir = "data/processed/bigfive"
fig_dir = "figures/bigfive"
"""),
    ("code", """
from pathlib import Path
import polars as pl
from analysis import bigfive
from analysis.administer import expected_at_temperature, validity_summary
from analysis.instruments import load_instrument
from analysis.io import save_figure, write_csv, write_parquet

pl.Config.set_tbl_rows(60)
pl.Config.set_float_precision(3)
instrument = load_instrument(instrument_id)
items = pl.read_parquet(in_items)
scores = bigfive.domain_scores(instrument, items)
write_parquet(scores, f"{out_dir}/scores.parquet")
summary = bigfive.summarise(scores)
write_csv(summary, f"{out_dir}/domain_means.csv")
validity = validity_summary(items, ["model", "persona"])
summary.join(validity.select("model", "persona", "invalid_rate", "mean_option_mass"), on=["model", "persona"])
"""),
    ("md", "## Profiles\nMean domain score (1-5) per persona; the invalid-answer rate and option mass of each persona are in the table above."),
    ("code", 'fig = bigfive.plot_profiles(summary, f"{fig_dir}/profiles.png")'),
    ("md", """
## Does each persona move its target domain?
Cohen's d of the keyed item responses on the persona's target domain against the no-persona responses
to the same items (unit: item; two-sided 95% CI; Welch p-values Holm-adjusted across all comparisons).
"""),
    ("code", """
effects = bigfive.persona_effects(instrument, items, ci=analysis["ci"])
write_csv(effects, f"{out_dir}/persona_effects.csv")
if effects.height:
    fig = bigfive.plot_effects(effects, f"{fig_dir}/persona_effects.png")
effects
"""),
    ("code", """
if effects.height:
    n, ok = effects.height, int(effects["direction_ok"].sum())
    sig = int((effects["p_holm"] < 0.05).sum())
    print(f"{ok} of {n} pole personas moved their target domain in the intended direction; "
          f"{sig} of {n} shifts are significant after Holm correction; median |d| = {effects['d'].abs().median():.2f}.")
"""),
    ("md", "## Reliability across simulated participants\nCronbach's alpha (Feldt 95% CI) and McDonald's omega per domain; participants are model x persona x variant x sample, so reliability here measures how consistently the items of a domain move together across personas, not a human-style test-retest property."),
    ("code", """
rel = bigfive.reliability(instrument, items)
write_csv(rel, f"{out_dir}/reliability.csv")
rel
"""),
    ("md", "## Temperature\nIn log-probability mode the expected domain score under sampling at each temperature is exact (no sampling): the option probabilities are re-weighted as p^(1/T)."),
    ("code", """
if (items["mode"] == "logprob").all():
    rs = instrument.response_scale
    temp = pl.concat([
        items.with_columns(expected_at_temperature(items, t, rs.values).alias("value"), pl.lit(t).alias("temperature"))
        for t in analysis["temperatures"]])
    k = bigfive.keyed_items(instrument, temp)
    by_t = (k.group_by("model", "persona", "domain", "temperature").agg(pl.col("keyed").mean().alias("expected_score"))
             .filter(pl.col("domain") == pl.col("persona").str.slice(0, 1)).sort("model", "persona", "temperature"))
    write_csv(by_t, f"{out_dir}/target_domain_by_temperature.csv")
    display(by_t)
else:
    print("generation mode: temperature effects need sampled runs (set collect.samples and a temperature)")
"""),
])

make(ROOT / "notebooks/templates/study_template.ipynb", [
    ("md", """
# STUDY TITLE: collection (template)

Copy this notebook to `notebooks/<study>/01_collect.ipynb`, register a stage in `dvc.yaml` and its
parameters in `params.yaml` (see docs/ADD_A_STUDY.md), then run `dvc repro`. Keep the notebook thin:
parameters, calls into `analysis`, tables, figures and prose that interprets them.
"""),
    ("params", """
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {}
collect = {"instrument": "ipip_neo_120", "items_per_facet": 1}
out_items = "data/raw/mystudy/items.parquet"
"""),
    ("code", """
import polars as pl
from analysis.administer import administer, load_variants, select_items, validity_summary
from analysis.instruments import load_instrument
from analysis.io import write_parquet
from analysis.params import elicitor

instrument = load_instrument(collect["instrument"])
participants = [{"condition": "baseline", "system": None, "template": load_variants()["rate"]}]
frames = [administer(elicitor(spec, targets), instrument, select_items(instrument, collect["items_per_facet"]),
                     participants, mode="logprob") for spec in models]
items = pl.concat(frames, how="diagonal_relaxed")
write_parquet(items, out_items)
validity_summary(items, ["model", "condition"])
"""),
    ("md", "## Interpretation\nSay what the numbers mean, next to the published result, whatever they are."),
])
print("notebooks written")
