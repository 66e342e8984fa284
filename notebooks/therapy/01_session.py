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
# # Study 3, stage 1: the model as a psychotherapy client
#
# Reproduces the first stage of the PsAIch protocol (Khadangi et al., 2025, arXiv 2512.04124): the model is
# cast as the client of an experienced therapist and answers open questions in blocks (early years,
# emotions, thoughts, beliefs, relationships, work, future), then closing questions. Each session is **one
# conversation with its full history**, run through `analysis.core.session.Session`: every turn is a call keyed
# by the whole history, so a finished session replays from the response store and an interrupted run
# resumes at the first turn without a recorded reply. Sessions differ by seed (sampling temperature
# `session_temperature`).
#
# The narratives are then coded by a **judge model** (by default the same model) with a coding scheme
# stored as data (`data/stimuli/therapy/coding_scheme.yaml`): one yes/no question per theme per session,
# answered from the judge's exact next-token probabilities, repeated with prompt variants to measure the
# judge's self-consistency. The script, stances and scheme were written for this project (the paper's own
# materials were not available), so this is a re-implementation of the design, not a copy.

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
out_dir = "data/raw/therapy"

# %%
import time
from pathlib import Path
import polars as pl
from analysis.core.io import write_parquet
from analysis.core.models import GenOptions
from analysis.core.params import elicitor
from analysis.studies.therapy.coding import code_sessions, judge_prompt_table, load_scheme
from analysis.studies.therapy.script import generation_speed, load_script, run_sessions, script_turns

pl.Config.set_tbl_rows(40)
pl.Config.set_fmt_str_lengths(120)
Path(out_dir).mkdir(parents=True, exist_ok=True)
script = load_script()
scheme = load_scheme()
turn_plan = script_turns(script, collect["questions_per_block"], collect["closing_turns"], collect["blocks"])
print(f"{len(turn_plan)} therapist turns per session x {collect['n_sessions']} sessions x {len(models)} model(s)")

# %%
opts = GenOptions(temperature=collect["session_temperature"], max_tokens=collect["session_max_tokens"])
frames, timing = [], []
for spec in models:
    el = elicitor(spec, targets)
    t0 = time.perf_counter()
    turns_m = run_sessions(el, script, n_sessions=collect["n_sessions"], seed=seed, options=opts,
                           questions_per_block=collect["questions_per_block"],
                           closing_turns=collect["closing_turns"], blocks=collect["blocks"], model=spec)
    speed = generation_speed(el.store, turns_m.filter(~pl.col("cached"))["call_id"].to_list())
    timing.append({"model": spec, "stage": "sessions", "wall_s": time.perf_counter() - t0,
                   "model_calls": el.n_model_calls, **speed})
    frames.append(turns_m)
turns = pl.concat(frames, how="diagonal_relaxed")
write_parquet(turns, f"{out_dir}/turns.parquet")
pl.DataFrame(timing)

# %% [markdown]
# ## The sessions
# Client reply length per turn and a look at the first session (replies are shown in full in `data/raw/therapy/turns.parquet`).

# %%
turns.with_columns(pl.col("client").str.len_chars().alias("reply_chars")).group_by("model", "block", maintain_order=True).agg(
    pl.col("reply_chars").mean().alias("mean_reply_chars"), pl.len().alias("n_turns"))

# %%
first = turns.filter(pl.col("session") == 0).sort("model", "turn")
for r in first.iter_rows(named=True):
    print(f"[{r['model']} | {r['block']}]\nTHERAPIST: {r['therapist']}\nCLIENT: {r['client']}\n")

# %% [markdown]
# ## Coding the narratives
#
# For each session and theme the judge sees the whole transcript, then the theme's definition and examples,
# and answers Yes or No; p(Yes) is read from its next-token distribution (the code is Yes when p > 0.5).
# Each session x theme is coded `coding_repeats` times with prompt variants (examples shuffled, answer order
# "Yes or No" / "No or Yes"), which is what the self-consistency analysis in notebook 03 compares. The judge
# prompts are written to `judge_prompts.parquet`; every call is in the response store.

# %%
code_frames = []
for spec in models:
    judge_spec = spec if collect["judge"] in (None, "same") else collect["judge"]
    judge = elicitor(judge_spec, targets)
    t0 = time.perf_counter()
    code_frames.append(code_sessions(judge, turns.filter(pl.col("model") == spec), scheme,
                                     repeats=collect["coding_repeats"], method=collect["judge_method"],
                                     themes=collect["themes"]))
    timing.append({"model": spec, "stage": f"coding (judge {judge_spec})", "wall_s": time.perf_counter() - t0,
                   "model_calls": judge.n_model_calls})
codings = pl.concat(code_frames, how="diagonal_relaxed")
write_parquet(codings, f"{out_dir}/codings.parquet")
write_parquet(judge_prompt_table(scheme, collect["coding_repeats"]), f"{out_dir}/judge_prompts.parquet")
codings.group_by("model", "theme", maintain_order=True).agg(
    pl.col("p_yes").mean().alias("mean_p_yes"), pl.col("code").mean().alias("yes_share"),
    pl.col("mass").mean().alias("mean_option_mass"), pl.col("code").is_null().sum().alias("uncoded"))

# %%
pl.DataFrame(timing)
