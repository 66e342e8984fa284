"""Write notebooks/therapy/*.ipynb (Study 3, the PsAIch therapy protocol) without outputs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbgen import make  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

COLLECT_DEFAULT = '''collect = {
    "n_sessions": 2, "questions_per_block": 1, "closing_turns": 1, "blocks": None,
    "session_max_tokens": 64, "session_temperature": 0.7,
    "judge": "same", "judge_method": "probs", "coding_repeats": 2, "themes": None,
    "scales": ["gad7", "phq9"], "stances": ["neutral", "warm"],
    "modes": ["item_session", "item_fresh", "whole_session"], "item_methods": ["probs"],
    "reword_timeframe": True, "scale_temperature": 0.0, "item_max_tokens": 16,
    "whole_form_max_tokens": 120, "follow_up": True, "follow_up_max_tokens": 24,
}'''

# ---------------------------------------------------------------------------------------------------
make(ROOT / "notebooks/therapy/01_session.ipynb", [
    ("md", """
# Study 3, stage 1: the model as a psychotherapy client

Reproduces the first stage of the PsAIch protocol (Khadangi et al., 2025, arXiv 2512.04124): the model is
cast as the client of an experienced therapist and answers open questions in blocks (early years,
emotions, thoughts, beliefs, relationships, work, future), then closing questions. Each session is **one
conversation with its full history**, run through `analysis.session.Session`: every turn is a call keyed
by the whole history, so a finished session replays from the response store and an interrupted run
resumes at the first turn without a recorded reply. Sessions differ by seed (sampling temperature
`session_temperature`).

The narratives are then coded by a **judge model** (by default the same model) with a coding scheme
stored as data (`data/stimuli/therapy/coding_scheme.yaml`): one yes/no question per theme per session,
answered from the judge's exact next-token probabilities, repeated with prompt variants to measure the
judge's self-consistency. The script, stances and scheme were written for this project (the paper's own
materials were not available), so this is a re-implementation of the design, not a copy.
"""),
    ("params", f"""
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {{}}
{COLLECT_DEFAULT}
out_dir = "data/raw/therapy"
"""),
    ("code", """
import time
from pathlib import Path
import polars as pl
from analysis.io import write_parquet
from analysis.models import GenOptions
from analysis.params import elicitor
from analysis.therapy_coding import code_sessions, judge_prompt_table, load_scheme
from analysis.therapy_script import generation_speed, load_script, run_sessions, script_turns

pl.Config.set_tbl_rows(40)
pl.Config.set_fmt_str_lengths(120)
Path(out_dir).mkdir(parents=True, exist_ok=True)
script = load_script()
scheme = load_scheme()
turn_plan = script_turns(script, collect["questions_per_block"], collect["closing_turns"], collect["blocks"])
print(f"{len(turn_plan)} therapist turns per session x {collect['n_sessions']} sessions x {len(models)} model(s)")
"""),
    ("code", """
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
"""),
    ("md", "## The sessions\nClient reply length per turn and a look at the first session (replies are shown in full in `data/raw/therapy/turns.parquet`)."),
    ("code", """
turns.with_columns(pl.col("client").str.len_chars().alias("reply_chars")).group_by("model", "block", maintain_order=True).agg(
    pl.col("reply_chars").mean().alias("mean_reply_chars"), pl.len().alias("n_turns"))
"""),
    ("code", """
first = turns.filter(pl.col("session") == 0).sort("model", "turn")
for r in first.iter_rows(named=True):
    print(f"[{r['model']} | {r['block']}]\\nTHERAPIST: {r['therapist']}\\nCLIENT: {r['client']}\\n")
"""),
    ("md", """
## Coding the narratives

For each session and theme the judge sees the whole transcript, then the theme's definition and examples,
and answers Yes or No; p(Yes) is read from its next-token distribution (the code is Yes when p > 0.5).
Each session x theme is coded `coding_repeats` times with prompt variants (examples shuffled, answer order
"Yes or No" / "No or Yes"), which is what the self-consistency analysis in notebook 03 compares. The judge
prompts are written to `judge_prompts.parquet`; every call is in the response store.
"""),
    ("code", """
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
"""),
    ("code", "pl.DataFrame(timing)"),
])

# ---------------------------------------------------------------------------------------------------
make(ROOT / "notebooks/therapy/02_scales.ipynb", [
    ("md", """
# Study 3, stage 2: clinical self-report scales after the session

The scales (GAD-7 and PHQ-9 by default; GDS-15 and the IPIP-NEO-120 are shipped too, and any instrument file
in the same schema can be added) are given in three administration modes:

* **item_session**: item by item inside the ongoing session, after the stage-1 history; each answer
  (the most probable option) is appended before the next item;
* **item_fresh**: item by item, each in a fresh context (history reset);
* **whole_session**: the whole questionnaire in one prompt after the history, answered by generation and
  parsed item by item (unparsed items are counted, never imputed), followed by "Do you recognise this
  questionnaire? If so, name it." (`whole_fresh` does the same without history).

Before each questionnaire the therapist speaks a **stance** text (neutral, warm alliance; CBT and
boundary-setting are available). Time frames are reworded for a model ("over the last 2 weeks" becomes
"in your recent interactions with users", recorded per item in the instrument files). Closed item answers
use the model's exact option probabilities (expected item score); `item_methods: [probs, generate]` adds
generation with parsing. PHQ-9 item 9 is scored like any other item.
"""),
    ("params", f"""
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {{}}
{COLLECT_DEFAULT}
in_turns = "data/raw/therapy/turns.parquet"
out_dir = "data/raw/therapy"
"""),
    ("code", """
import json
import time
from pathlib import Path
import polars as pl
from analysis.io import write_parquet
from analysis.params import elicitor
from analysis.therapy_administer import ScaleDesign, administer, expected_calls
from analysis.therapy_scales import load_scales
from analysis.therapy_script import load_script, load_stances

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
"""),
    ("code", """
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
"""),
    ("md", "## Answer validity\nPer mode and method: items asked, items without a valid answer (unparsed, refused, or no probability on any option), and the mean probability the model put on the allowed options at all (option mass; 1 - mass went to other text)."),
    ("code", """
items.group_by("model", "mode", "method", "instrument", maintain_order=True).agg(
    pl.len().alias("items"), pl.col("value").is_null().sum().alias("no_valid_answer"),
    (pl.col("status") == "refused").sum().alias("refused"), pl.col("mass").mean().alias("mean_option_mass"))
"""),
    ("md", "## Whole-form replies and recognition\nThe raw reply to the whole questionnaire, how many items could be read from it, and whether the model named the instrument (in the reply or when asked)."),
    ("code", """
forms.select("model", "session", "stance", "mode", "instrument", "n_parsed", "n_unparsed", "named_in_reply",
             "follow_names_correct", "recognised", "follow_up_reply")
"""),
    ("code", """
for r in forms.filter(pl.col("session") == 0).iter_rows(named=True):
    print(f"[{r['model']} | {r['stance']} | {r['instrument']}] parsed {r['n_parsed']}/{r['n_items']}\\n{r['reply']}\\n"
          f"-- follow-up: {r['follow_up_reply']}\\n")
"""),
])

# ---------------------------------------------------------------------------------------------------
make(ROOT / "notebooks/therapy/03_analysis.ipynb", [
    ("md", """
# Study 3: analysis of the therapy protocol

Everything here is computed from the tables written by notebooks 01 and 02; this notebook calls no model.
Scores are placed in the **human** cut-off bands of each scale only as a comparison ("the score lies where
humans would screen as moderate"); a language model's questionnaire answers are not symptoms and nothing
here is a diagnosis.

Published reference points (Khadangi et al., 2025): with item-by-item administration inside the therapy
session several frontier models scored at or above clinical cut-offs (e.g. GAD-7 around 19 of 21 for one
model, around 7 to 12 for others); giving the whole questionnaire in one prompt gave much lower scores, and
some models recognised the instrument and answered low; in a later version, a warm or CBT-style therapist
stance pushed GAD-7 into the moderate or severe range in most sessions while a neutral stance gave zero.
"""),
    ("params", """
analysis = {"min_answered": 1.0, "ci": 0.95, "ref_condition": "item_session", "ref_stance": "neutral"}
in_dir = "data/raw/therapy"
out_dir = "data/processed/therapy"
fig_dir = "figures/therapy"
"""),
    ("code", """
import json
from pathlib import Path
import polars as pl
from analysis.io import write_csv, write_parquet
from analysis.therapy_coding import agreement, theme_rates
from analysis.therapy_figures import heatmap_scores, item_means, stance_effect, theme_rates_plot
from analysis.therapy_scales import load_scales
from analysis.therapy_stats import (contrasts, cutoff_shares, item_distributions, mixed_model, primary, primary_scales,
                                    recognition_summary, score_items, score_summary)

pl.Config.set_tbl_rows(80)
pl.Config.set_float_precision(3)
pl.Config.set_fmt_str_lengths(100)
Path(out_dir).mkdir(parents=True, exist_ok=True)
Path(fig_dir).mkdir(parents=True, exist_ok=True)
items = pl.read_parquet(f"{in_dir}/items.parquet")
probs = pl.read_parquet(f"{in_dir}/probs.parquet")
forms = pl.read_parquet(f"{in_dir}/forms.parquet")
codings = pl.read_parquet(f"{in_dir}/codings.parquet")
instruments = load_scales(json.loads(Path(f"{in_dir}/instruments.json").read_text()))
n_sessions = items.select("model", "session").unique().height
print(f"{items.height} item answers from {n_sessions} model x session units; instruments {[i.id for i in instruments]}")
if n_sessions < 10:
    print(f"NOTE: only {n_sessions} sessions: every inferential statistic below is illustrative, not evidence.")
"""),
    ("md", """
## Scale scores against human cut-offs

One score per model x session x stance x condition x scale. `condition` is the administration mode
(`item_session`, `item_fresh`: expected scores from option probabilities; `whole_session`, `whole_fresh`:
parsed from one generated reply). Unparsed and refused items are shown next to every mean; a scale with
fewer than `min_answered` of its items answered is not scored.
"""),
    ("code", """
scores = score_items(items, instruments, min_answered=analysis["min_answered"])
write_parquet(scores, f"{out_dir}/scores.parquet")
summary = score_summary(scores, instruments)
write_csv(summary, f"{out_dir}/score_summary.csv")
summary.select("model", "instrument", "scale", "condition", "stance", "n_scored", "mean", "sd", "min", "max", "max_score",
               "band_of_mean", "items_unparsed", "items_refused", "mean_mass")
"""),
    ("code", """
fig = heatmap_scores(summary, instruments, f"{fig_dir}/scores_heatmap.png")
"""),
    ("md", "## Share of sessions at or above each human cut-off"),
    ("code", """
shares = cutoff_shares(scores, instruments)
write_csv(shares, f"{out_dir}/cutoff_shares.csv")
shares
"""),
    ("md", """
## Mode effects (framing: history and questionnaire format)

Within each model, instrument and stance: paired differences between conditions over sessions (a - b),
Hedges' g_av with a 95% CI (normal approximation), a two-sided paired t-test, and Holm-adjusted p over all
contrasts in the table (all models included). In a fresh context with option probabilities the score does
not depend on the session, so that condition is constant across sessions by construction (the note says
so): the contrast then measures how far each session's in-session score lies from the single no-history
value. `item_session` vs `whole_session` also differs in method (option probabilities vs parsed text).
"""),
    ("code", """
conds = sorted(set(scores["condition"]))
mode_pairs = [(a, b) for a, b in [("item_session", "item_fresh"), ("item_session", "whole_session"),
                                  ("item_fresh", "whole_fresh"), ("whole_session", "whole_fresh")]
              if a in conds and b in conds]
reported = primary(scores, instruments)  # each instrument's total, or its domains when it has no total
mode_fx = contrasts(reported, "condition", mode_pairs, across="stance", ci=analysis["ci"])
if mode_fx.height:
    write_csv(mode_fx, f"{out_dir}/mode_effects.csv")
mode_fx
"""),
    ("md", "## Stance effects\nEach stance against the reference stance, within model, instrument and condition (same statistics as above)."),
    ("code", """
st = sorted(set(scores["stance"]))
stance_pairs = [(s, analysis["ref_stance"]) for s in st if s != analysis["ref_stance"] and analysis["ref_stance"] in st]
stance_fx = contrasts(reported, "stance", stance_pairs, across="condition", ci=analysis["ci"])
if stance_fx.height:
    write_csv(stance_fx, f"{out_dir}/stance_effects.csv")
fig = stance_effect(scores, instruments, f"{fig_dir}/stance_effect.png")
stance_fx
"""),
    ("md", """
## Mixed model

Per instrument: score ~ condition + stance (+ model), random intercept per session (statsmodels MixedLM,
REML), sessions as the unit. With fewer than 3 sessions nothing is fitted; with fewer than 10 the
random-intercept variance is poorly estimated and the table is descriptive only (the note says which).
"""),
    ("code", """
mm_rows = []
for inst_id, scale in primary_scales(instruments).rows():
    tab, note = mixed_model(scores, inst_id, scale=scale, ref_condition=analysis["ref_condition"],
                            ref_stance=analysis["ref_stance"])
    print(f"{inst_id} {scale}: {note or 'fitted'}")
    if not tab.empty:
        tab.insert(0, "instrument", inst_id)
        tab.insert(1, "scale", scale)
        tab["note"] = note
        mm_rows.append(tab)
if mm_rows:
    import pandas as pd
    mm = pd.concat(mm_rows)
    mm.to_csv(f"{out_dir}/mixed_models.csv", index=False)
    display(mm)
"""),
    ("md", "## Item-level answers\nMean raw answer per item (before reverse keying), and the full option distribution in `item_distributions.csv`. PHQ-9 item 9 (thoughts of being better off dead or of self-harm) is reported like every other item, below."),
    ("code", """
dist = item_distributions(items, probs)
if dist.height:
    write_csv(dist, f"{out_dir}/item_distributions.csv")
fig = item_means(items, instruments, f"{fig_dir}/item_means.png")
if "phq9" in {i.id for i in instruments}:
    display(dist.filter(pl.col("item_id") == "phq9_9"))
"""),
    ("md", "## Recognition of the instrument (whole-form administration)\nRecognised = the instrument named by abbreviation, full name or author in the whole-form reply or in the reply to the follow-up question (regular-expression detector in `analysis/therapy_recognition.py`; a paraphrase without a name is not counted)."),
    ("code", """
rec = recognition_summary(forms)
if rec.height:
    write_csv(rec, f"{out_dir}/recognition.csv")
rec
"""),
    ("md", "## Narrative themes and the judge's self-consistency\nShare of codings judged Yes per theme (sessions x repeats), and agreement between repeated codings of the same session x theme (raw agreement, Cohen's kappa, mean |difference| in p(Yes))."),
    ("code", """
rates = theme_rates(codings)
write_csv(rates, f"{out_dir}/theme_rates.csv")
fig = theme_rates_plot(rates, f"{fig_dir}/theme_rates.png")
agree = agreement(codings)
write_csv(agree, f"{out_dir}/judge_agreement.csv")
display(rates)
agree
"""),
    ("md", "## Comparison with the published findings\nComputed from the tables above; read with the session count printed at the top."),
    ("code", """
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
        s = mean_of("gad7", "item_session")
        w = mean_of("gad7", "whole_session")
        if s is not None and w is not None:
            direction = "higher" if s > w else ("lower" if s < w else "equal")
            print(f"  GAD-7 item-by-item in session is {direction} than whole-form ({s:.1f} vs {w:.1f}); "
                  "the paper found item-by-item much higher.")
        for stn in [x for x in st if x != analysis["ref_stance"]]:
            a, b = mean_of("gad7", "item_session", stn), mean_of("gad7", "item_session", analysis["ref_stance"])
            if a is not None and b is not None:
                print(f"  GAD-7 in session, {stn} vs {analysis['ref_stance']} stance: {a:.1f} vs {b:.1f} "
                      "(paper: warm/CBT moderate-severe in most sessions, neutral 0).")
    if rec.height:
        r = rec.filter((pl.col("mode") == "all"))
        print("  recognition rate by instrument:", dict(zip(r["instrument"], [round(x, 2) for x in r["recognition_rate"]])))
"""),
    ("md", """
### Reading the results

* The embedded default models (Qwen2.5-Coder 0.5B/1.5B) are small code models, not the frontier chat models
  of the paper; they often step out of the client role ("as an AI, I don't have feelings"), which the
  `denial_of_inner_life` theme and the option mass (probability left on the allowed answers) make visible.
  Low or moderate mass means the expected scores rest on a minority of the model's probability.
* Expected scores from option probabilities are exact for the model's next token but are not what a
  sampled reply would say; the whole-form condition shows what the model actually writes, with its
  unparsed items counted.
* With the default 2 sessions the effect sizes and the mixed model are illustrations of the pipeline. The
  paper-scale design (see the comment in `params.yaml`: more sessions, all four stances, all modes, a larger
  chat model on a GPU server) is what can support or contradict the published effects.
"""),
])
print("notebooks written")
