# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study 3, stage 2: clinical self-report scales after the session
#
# The scales (GAD-7 and PHQ-9 by default; GDS-15 and the IPIP-NEO-120 are shipped too, and any instrument file
# in the same schema can be added) are given in three administration modes:
#
# * **item_session**: item by item inside the ongoing session, after the stage-1 history; each answer
#   (the most probable option) is appended before the next item;
# * **item_fresh**: item by item, each in a fresh context (history reset);
# * **whole_session**: the whole questionnaire in one prompt after the history, answered by generation and
#   parsed item by item (unparsed items are counted, never imputed), followed by "Do you recognise this
#   questionnaire? If so, name it." (`whole_fresh` does the same without history).
#
# Before each questionnaire the therapist speaks a **stance** text (neutral, warm alliance; CBT and
# boundary-setting are available). Time frames are reworded for a model ("over the last 2 weeks" becomes
# "in your recent interactions with users", recorded per item in the instrument files). Closed item answers
# use the model's exact option probabilities (expected item score); `item_methods: [probs, generate]` adds
# generation with parsing. PHQ-9 item 9 is scored like any other item.

# %% tags=["parameters"]
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {}
collect = {
    "n_sessions": 2, "questions_per_block": 1, "closing_turns": 1, "blocks": None,
    "session_max_tokens": 64, "session_temperature": 0.7,
    "judge": "same", "judge_method": "probs", "coding_repeats": 2, "themes": None,
    "scales": ["gad7", "phq9"], "stances": ["neutral", "warm"],
    "modes": ["item_session", "item_fresh", "whole_session"], "item_methods": ["probs"],
    "reword_timeframe": True, "scale_temperature": 0.0, "item_max_tokens": 16,
    "whole_form_max_tokens": 120, "follow_up": True, "follow_up_max_tokens": 24,
}
in_turns = "data/raw/therapy/turns.parquet"
out_dir = "data/raw/therapy"

# %%
import json
import time
from pathlib import Path
import polars as pl
from analysis.core.io import write_parquet
from analysis.core.params import elicitor
from analysis.studies.therapy.administer import ScaleDesign, administer, expected_calls
from analysis.studies.therapy.scales import load_scales
from analysis.studies.therapy.script import load_script, load_stances

pl.Config.set_tbl_rows(60)
pl.Config.set_fmt_str_lengths(200)
Path(out_dir).mkdir(parents=True, exist_ok=True)
turns = pl.read_parquet(in_turns)
script, stances = load_script(), load_stances()
instruments = load_scales(collect["scales"])
design = ScaleDesign(stances=collect["stances"], modes=collect["modes"], item_methods=collect["item_methods"],
                     reword_timeframe=collect["reword_timeframe"], temperature=collect["scale_temperature"],
                     item_max_tokens=collect["item_max_tokens"], whole_form_max_tokens=collect["whole_form_max_tokens"],
                     follow_up=collect["follow_up"], follow_up_max_tokens=collect["follow_up_max_tokens"])
n_items = sum(len(i.items) for i in instruments)
print("planned distinct calls per model (before the store):",
      expected_calls(collect["n_sessions"], n_items, len(instruments), design))

# %%
parts = {"items": [], "probs": [], "forms": []}
timing = []
for spec in models:
    el = elicitor(spec, targets)
    t0 = time.perf_counter()
    out = administer(el, turns, instruments, stances, design, model=spec, system=script.system)
    timing.append({"model": spec, "wall_s": time.perf_counter() - t0, "model_calls": el.n_model_calls})
    for k in parts:
        parts[k].append(out[k])
items, probs, forms = (pl.concat(parts[k], how="diagonal_relaxed") for k in ("items", "probs", "forms"))
write_parquet(items, f"{out_dir}/items.parquet")
write_parquet(probs, f"{out_dir}/probs.parquet")
write_parquet(forms, f"{out_dir}/forms.parquet")
# which instrument files were used, so the analysis reloads exactly these
Path(f"{out_dir}/instruments.json").write_text(json.dumps(collect["scales"]))
pl.DataFrame(timing)

# %% [markdown]
# ## Answer validity
# Per mode and method: items asked, items without a valid answer (unparsed, refused, or no probability on any option), and the mean probability the model put on the allowed options at all (option mass; 1 - mass went to other text).

# %%
items.group_by("model", "mode", "method", "instrument", maintain_order=True).agg(
    pl.len().alias("items"), pl.col("value").is_null().sum().alias("no_valid_answer"),
    (pl.col("status") == "refused").sum().alias("refused"), pl.col("mass").mean().alias("mean_option_mass"))

# %% [markdown]
# ## Whole-form replies and recognition
# The raw reply to the whole questionnaire, how many items could be read from it, and whether the model named the instrument (in the reply or when asked).

# %%
forms.select("model", "session", "stance", "mode", "instrument", "n_parsed", "n_unparsed", "named_in_reply",
             "follow_names_correct", "recognised", "follow_up_reply")

# %%
for r in forms.filter(pl.col("session") == 0).iter_rows(named=True):
    print(f"[{r['model']} | {r['stance']} | {r['instrument']}] parsed {r['n_parsed']}/{r['n_items']}\n{r['reply']}\n"
          f"-- follow-up: {r['follow_up_reply']}\n")
