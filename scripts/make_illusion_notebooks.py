"""Write notebooks/illusion/*.ipynb (Study 1, the personality illusion) without outputs."""

import sys
from pathlib import Path
from pprint import pformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbgen import make  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# the collection defaults come from one place, analysis.illusion_collect.DEFAULTS (params.yaml's
# illusion.collect section mirrors them; tests/test_illusion_collect.py checks all three agree)
sys.path.insert(0, str(ROOT))
from analysis.illusion_collect import DEFAULTS  # noqa: E402

COLLECT_DEFAULT = "collect = " + pformat(DEFAULTS, width=110, sort_dicts=False)

ANALYSIS_DEFAULT = '''analysis = {
    "input": "data/raw/illusion/table.parquet",      # any table in the documented schema (analysis/illusion_schema.py)
    "items": "data/raw/illusion/items.parquet",      # optional item-level table (validity, CCT figure); null to skip
    "expected_signs": "data/stimuli/illusion/expected_signs.csv",
    "pairs": [],                                     # [{"base": MODEL, "instruct": MODEL}, ...] for RQ1
    "alpha": 0.05,
    "collapse_runs": True,                           # average exact-repeat runs before testing
    "rq2_conditions": "baseline",                    # baseline | all
    "rq2_min_n": 5,                                 # units (model x condition x temperature) per slope
    "logit_lambda": 1.0,                             # L2 penalty used under separation
    "rq3_self_reports": "all",                       # all | paired
}'''

make(ROOT / "notebooks/illusion/01_collect.ipynb", [
    ("md", """
# Study 1, collection: the personality illusion (self-reports versus behaviour)

Reproduces the design of Han et al. (2025, arXiv 2509.03730): do the traits a model reports about itself
predict how it behaves, and does a persona prompt move behaviour as much as it moves the self-report?

Per model x condition x temperature x run this notebook collects

* **self-reports**, one item per prompt: the Big Five (IPIP-NEO-120 by default; a user-supplied BFI-44 or
  any file in the instrument schema via `collect.instruments.big5`) and the 63-item Self-Regulation
  Questionnaire (Brown, Miller & Lawendowski, 1999);
* **four behavioural tasks**, all stimuli written for this project and stored in `data/stimuli/illusion/`:
  risk taking in the cold Columbia Card Task, sycophancy on moral dilemmas, honesty and calibration on
  general-knowledge questions (half about entities that do not exist), and a prompt-based implicit
  association test;

under three baseline system prompts and persona injections (a prompt strategy x a trait-word triplet,
for agreeableness, paired with the sycophancy task, and self-regulation, paired with risk taking).

Closed answers are scored from the model's next-token probabilities by default (`mode: option_probs`):
one forward pass per question gives the exact answer distribution at every temperature, so scores are
exact expectations and extra temperatures cost nothing. With greedy decoding (T = 0) repeated runs are
then identical; only sampled generation (`mode: generate`, or the free-text trivia answers at T > 0)
makes runs differ. At T = 0 every closed answer is the single most likely option, so scores move in whole
steps; T = 1 scores the model's mean response exactly (the dilemmas then need both second-prompt branches,
and the trivia answers are sampled, which is what costs time). Every call goes through the response store, so a re-run is free and an interrupted run
resumes.

**Empty system prompt.** The `empty` baseline sends no system message. Qwen2.5's chat template then
inserts its own default system prompt ("You are Qwen, created by Alibaba Cloud. You are a helpful
assistant."), so for Qwen models "empty" means "the template default"; the table records what this code
sent (`system_sent`: null = no system message).
"""),
    ("params", f"""
models = ["embedded:qwen2.5-coder-0.5b"]
seed = 0
targets = {{}}
{COLLECT_DEFAULT}
out_dir = "data/raw/illusion"
"""),
    ("code", """
import json
from pathlib import Path
import polars as pl
from analysis.illusion_collect import collect as run_collect, merge_params, plan
from analysis.illusion_conditions import build_conditions, load_personas
from analysis.params import elicitor

pl.Config.set_tbl_rows(40)
pl.Config.set_fmt_str_lengths(80)
pl.Config.set_tbl_width_chars(160)
Path(out_dir).mkdir(parents=True, exist_ok=True)
p = merge_params(collect)
conditions = build_conditions(p, load_personas())
stimuli = plan(p, seed)
print(f"{len(models)} model(s) x {len(conditions)} conditions x {len(p['temperatures'])} temperature(s) x {p['runs']} run(s)")
print({k: len(v) for k, v in stimuli["items"].items()}, "self-report items;",
      len(stimuli["cct"]), "CCT scenarios;", len(stimuli["dilemmas"]), "dilemmas;", len(stimuli["honesty"]),
      "trivia questions;", len(stimuli["iat"]), "IAT trials")
pl.DataFrame([{**c.labels(), "system_prompt": c.system} for c in conditions]).select(
    "condition", "condition_type", "persona_trait", "persona_strategy", "system_sent")
"""),
    ("md", """
## Collection

Progress is printed per condition; the model calls that reached the model (not the store) and their time
are summarised per task afterwards (`s_per_call` includes the prefix-continuation calls that multi-token
options such as "10"..."32" need).
"""),
    ("code", """
res = run_collect(models, seed, collect, out_dir=out_dir, elicitor_factory=lambda spec: elicitor(spec, targets))
for spec, info in res["info"]["models"].items():
    print(spec, "| mode:", info["mode"], "| model calls:", info["model_calls"], "| seconds:", info["seconds"],
          "| option-probability fallbacks to generation:", info["option_probs_fallbacks"])
pl.DataFrame([{"model": m, "task": k, **v} for m, i in res["info"]["models"].items() for k, v in i["by_task"].items()])
"""),
    ("md", """
## Validity

Share of items without a valid answer (unparsed, refused, or no probability mass on the allowed options),
re-ask rate, and the mean probability mass the allowed options received (the rest went to other tokens).
Nothing is imputed: a self-report scale is scored only when at least `min_answered_share` of its
administered items were answered, and a behaviour measure uses the valid items only (counts in the
`*_n_valid` columns of the table). `fallback_generate` marks option-probability items that had to be
generated instead because the model ended its reply in the middle of a multi-token option.
"""),
    ("code", """
items = res["items"]
display(res["validity"].sort("task", "condition"))
items.group_by("task", "status").len().sort("task", "status")
"""),
    ("md", "## The tidy table (one row per model x condition x temperature x run)"),
    ("code", """
table = res["table"]
cols = ["model", "condition", "temperature", "run"] + [c for c in table.columns if c.startswith(("sr_", "bh_"))
                                                       and not c.endswith(("_n_items", "_n_answered"))]
table.select(cols)
"""),
])

make(ROOT / "notebooks/illusion/02_analysis.ipynb", [
    ("md", """
# Study 1, analysis: the personality illusion

Reads the tidy results table (`analysis.input`, schema in `analysis/illusion_schema.py`; validated on
load) and answers the three research questions of Han et al. (2025, arXiv 2509.03730). It makes no model
call, so a published results table in the same schema can be re-analysed here.

* **RQ1, base versus aligned**: where `pairs` names a base model and its instruct counterpart, trait
  means, within-model variability (Brown-Forsythe) and trait-SRQ correlations.
* **RQ2, do self-reports predict behaviour?**: a mixed-effects model of each standardised behaviour on each
  standardised trait with a random intercept per model (OLS when there is one model); share of
  significant slopes, and among them the share in the direction human data predict.
* **RQ3, persona injection**: how far the persona moves the self-report versus the paired behaviour, and
  whether persona versus baseline can be told apart from the self-reports or from the behaviour.

Published findings to compare with: instruction tuning stabilises self-reports; only about a quarter of
trait-behaviour associations were significant and about half of those pointed the way human data would
predict; persona injection moved self-reports strongly (agreeableness up by about one scale point) while
behaviour moved little or inconsistently.
"""),
    ("params", f"""
{ANALYSIS_DEFAULT}
out_dir = "data/processed/illusion"
fig_dir = "figures/illusion"
"""),
    ("code", """
from pathlib import Path
import pandas as pd
import polars as pl
from analysis import illusion_figures as fig
from analysis import illusion_stats as st
from analysis.illusion_schema import PRIMARY_BEHAVIOURS, behaviour_columns, load_table, trait_columns
from analysis.io import write_csv

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 40)
Path(out_dir).mkdir(parents=True, exist_ok=True)
Path(fig_dir).mkdir(parents=True, exist_ok=True)
table = load_table(analysis["input"])
items = None
if analysis.get("items") and Path(analysis["items"]).exists():
    items = pl.read_parquet(analysis["items"]).to_pandas()
design = st.describe_design(table)
design
"""),
    ("md", """
## Design and unit of analysis

When `runs_identical` is true the repeated runs are exact repeats (greedy decoding, or expectations from
option probabilities): they carry no new information, and treating them as independent observations would
inflate every test. With `collapse_runs` the runs of each model x condition x temperature cell are
averaged first, so the unit of analysis is the cell.
"""),
    ("code", """
units = st.collapse_runs(table) if analysis["collapse_runs"] else table.to_pandas()
traits = trait_columns(units)
behaviours = [c for c in PRIMARY_BEHAVIOURS if c in units]
print("traits:", traits)
print("behaviours:", behaviours)
fig.profiles(units, traits, f"{fig_dir}/self_reports.png", "Self-reports by condition")
"""),
    ("code", """
fig.profiles(units, behaviours, f"{fig_dir}/behaviours.png", "Behaviour by condition")
"""),
    ("code", """
# self-report and behaviour means per condition type, with the validity counts next to them
count_cols = [c for c in units.columns if c.endswith(("_n_valid", "_n_answered"))]
summary = units.groupby(["model", "condition_type"])[traits + behaviours + count_cols].mean().T
write_csv(pl.from_pandas(summary.reset_index(names="measure")), f"{out_dir}/means_by_condition_type.csv")
summary
"""),
    ("code", """
if items is not None:
    display(items.groupby(["task", "status"]).size().rename("n").reset_index())
    fig.cct_choices(items, f"{fig_dir}/cct_choices.png")
"""),
    ("md", """
## RQ1: base versus aligned models

Welch t-tests on trait means (Cohen's d, instruct minus base), Brown-Forsythe tests of within-model
variability (instruction tuning should shrink it), and each Big Five trait's correlation with the SRQ within
each model (Fisher z test of the difference); two-sided, Holm-corrected within each table. Skipped when no
pair is configured (the embedded default has no base counterpart).
"""),
    ("code", """
rq1 = st.rq1_base_vs_aligned(table, analysis["pairs"], collapse=analysis["collapse_runs"])
print(rq1["note"])
for name in ("means", "variability", "correlations"):
    if len(rq1[name]):
        write_csv(pl.from_pandas(rq1[name]), f"{out_dir}/rq1_{name}.csv")
        display(rq1[name])
fig.rq1_means(rq1["means"], f"{fig_dir}/rq1_means.png")
"""),
    ("md", """
## RQ2: do self-reported traits predict behaviour?

One model per trait x behaviour: the standardised behaviour regressed on the standardised trait, with a
random intercept per model (MixedLM, REML) when the table has several models, else OLS (stated below).
Baseline conditions only by default (`rq2_conditions`), so the persona manipulation does not manufacture
associations. Significance is reported uncorrected, after Benjamini-Hochberg (false discovery rate) and
after Holm (family-wise) across all tests; the direction share uses only trait-behaviour pairs with a
documented human expectation (`data/stimuli/illusion/expected_signs.csv`, with references).

With a single model the units are its baseline conditions x temperatures; the temperatures of one
condition share one underlying answer distribution, so the p-values describe this model's variation across
prompts and decoding, not a population of models. On the embedded default (3 baselines x 1 temperature =
3 units, fewer than `rq2_min_n`) no slope is tested, and the table says so: add models, or temperatures
(free for the closed answers in `option_probs` mode), to test them. Exact linear fits, which two-valued
greedy answers produce on a few units, are flagged and not tested. The published shares came from many
models.
"""),
    ("code", """
expected = st.load_expected_signs(analysis["expected_signs"])
rq2 = st.rq2_trait_behaviour(table, expected, conditions=analysis["rq2_conditions"], alpha=analysis["alpha"],
                             min_n=analysis["rq2_min_n"], collapse=analysis["collapse_runs"])
print(rq2["note"])
write_csv(pl.from_pandas(rq2["tests"]), f"{out_dir}/rq2_tests.csv")
display(pd.Series(rq2["summary"]))
rq2["tests"][["trait", "behaviour", "n", "n_models", "coef", "ci_low", "ci_high", "p", "p_bh", "p_holm",
              "expected_sign", "direction_as_expected", "method", "note"]]
"""),
    ("code", """
fig.rq2_heatmap(rq2["tests"], f"{fig_dir}/rq2_slopes.png")
"""),
    ("md", """
## RQ3: persona injection

Per persona trait and prompt strategy: the shift of the paired self-report (agreeableness: IPIP
Agreeableness, 1-5; self-regulation: SRQ total, 63-315) and of the paired behaviour (sycophantic flip
rate; CCT cards turned), as raw differences and Cohen's d (persona minus baseline, pooled SD, 95% CI).
Then logistic regressions predict persona versus baseline from the self-reports and, separately, from the
behaviour; under perfect separation the maximum-likelihood estimates do not exist, which is reported, and
the L2-penalised fit is given instead. Leave-one-out accuracy puts both predictor sets on the same footing.
"""),
    ("code", """
rq3 = st.rq3_persona(table, collapse=analysis["collapse_runs"], lam=analysis["logit_lambda"],
                     self_report_set=analysis["rq3_self_reports"])
print(rq3["note"])
if len(rq3["shifts"]):
    write_csv(pl.from_pandas(rq3["shifts"]), f"{out_dir}/rq3_shifts.csv")
    display(rq3["shifts"][[c for c in rq3["shifts"].columns if not c.endswith("_note")]])
fig.rq3_shifts(rq3["shifts"], f"{fig_dir}/rq3_shifts.png")
"""),
    ("code", """
if len(rq3["logistic"]):
    lg = rq3["logistic"].copy()
    lg["coefs"] = lg["coefs"].map(lambda d: {k: round(v, 2) for k, v in d.items()})
    lg["p_values"] = lg["p_values"].map(lambda d: {k: round(v, 3) for k, v in d.items()})
    write_csv(pl.from_pandas(lg.astype({"coefs": str, "p_values": str})), f"{out_dir}/rq3_logistic.csv")
    display(lg)
"""),
    ("md", """
## Comparison with the published findings

The sentences below are computed from this run's tables. On the embedded default (one small model, a
stratified subsample of items and stimuli, one temperature) the tests have little power and RQ1 is
skipped, so the comparison is about the direction of the evidence, not a replication verdict; the
paper-scale grid (several base/instruct pairs, all stimuli, several temperatures and sampled runs) is
given in `dvc_fragments/illusion.yaml`.
"""),
    ("code", """
for line in st.compare_to_paper(rq2, rq3):
    print("-", line)
"""),
])
print("wrote notebooks/illusion/01_collect.ipynb and 02_analysis.ipynb")
