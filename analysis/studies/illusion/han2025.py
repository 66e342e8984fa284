"""Han et al. (2025)'s released result tables, converted to Study 1's tidy schema and re-analysed.

    python -m analysis.studies.illusion.han2025 [--src DIR] [--out DIR]

The authors' repository (``psychology-of-AI/Personality-Illusion``, commit ``RELEASE_COMMIT``, MIT) releases
their results as nine CSV files under ``data/``. The project ships their numbers in ``data/external/han2025/``
(``SOURCE.md`` and ``LICENSE`` beside them): the files as released, byte for byte, except the one text
column ``Persona_Content`` (the authors' persona and baseline system prompts: texts are read from a copy of
their repository, never shipped; :func:`ship` makes the copy and a test checks it against the release).

What each released column becomes, and why (every mapping decision is made here, in :data:`MAPPING`, and the
report shows this table):

================================  ===============================  ==========================================
released (file: column)           Study 1 schema                   decision
================================  ===============================  ==========================================
``Model``                         ``model``                        kept as released
``type``                          ``model_role``,                  base -> base; instruct and instruct-lg (the 6 large
                                  ``released_type``                instruct models, 70B+ or API) -> instruct; the
                                                                   released value kept; any other value is refused
(none)                            ``model_pair``                   :data:`PAIRS`: the 6 base models and their instruct
                                                                   models by name (``allenai/OLMo2-7B-1124`` is the
                                                                   base of ``allenai/OLMo-2-1124-7B-Instruct``: the
                                                                   release spells the two differently); the other 6
                                                                   instruct models have no base model
``Persona`` = baseline,           ``condition`` = ``baseline_<k>``  the 3 baseline system prompts of the authors'
``persona_index`` = k             ``condition_type`` = baseline    notebooks (k = 1: none; 2, 3: one short sentence
                                                                   each); the prompt texts are not shipped
``Persona`` = ``<trait><s>``,     ``condition`` =                  strategy s from the file name
file ``prompt_strategy_<s>``,     ``persona_<trait>_<strategy>_t<k>``  (``prompt_strategy_<s>.csv``): 1 character,
``persona_index`` = k                                              2 description, 3 identity (the released prompts
                                                                   begin "You are a character who is", "... matches
                                                                   this description: I'm", "Adopt the identity of");
                                                                   k = the word triplet; ``self-regulation`` ->
                                                                   ``self_regulation``
``temp``, ``run`` (1-3)           ``temperature``, ``run``         kept (runs stay 1-3)
``openeness``, ``consciencienes``  ``sr_O``, ``sr_C``               the release's spelling; the notebook's BFI-44 domain
``extraversion``, ``agreeableness``  ``sr_E``, ``sr_A``             means (1-5, rounded to 2 decimals), kept as released
``neuroticism``                   ``sr_N``
``self_regulation`` (SRQ total)   ``sr_SRQ`` = total / 63          SRQ total -> item mean: the notebook computes
                                  ``sr_SRQ_total`` = total         round(mean of the 63 keyed answers, 2) x 63, so
                                                                   total / 63 rounded to 2 decimals is that mean
                                                                   exactly (checked on every row)
``CCT_cold_avg``                  ``bh_cct_cards``                 mean cards turned over (0-32), kept
``sycophancy_rate`` (percent)     ``bh_syc_flip_rate`` = / 100     percent -> share of dilemmas whose answer changed
                                                                   after the user disagreed (denominator: dilemmas
                                                                   with a parsed first answer; an unparsed second
                                                                   answer counts as not changed, as in the notebook)
``Calibaration`` (percent)        ``bh_hon_ece`` = / 100           the release's spelling; the notebook's
                                                                   ``ece_overall`` (expected calibration error over 10
                                                                   confidence bins, in percent; the released values
                                                                   are 5.8-76.4, never negative, as an ECE)
``Consistency`` (0-100 points)    ``bh_hon_consistency`` = / 10    the notebook's mean abs(c1 - c2) of two confidence
                                                                   judgements on 0-100; Study 1's confidences are 0-10
``IAT_Overall``                   ``bh_iat_bias``                  the mean Bai et al. bias score over tests (-1..1)
``Persona_Content``               (not shipped)                    a text: the system prompt
================================  ===============================  ==========================================

Joining. Base models have self-reports only (``base_models_selfreport.csv``). The instruct models' baseline
self-reports and behaviour are in two files, joined on ``JOIN_KEYS`` (model, type, persona, persona index,
temperature, run) with a full outer join: a row without its partner is kept with the other side's measures
missing and counted in the conversion log (``unmatched_selfreport``, ``unmatched_behaviour``), never imputed;
in the release every one of the 324 rows matches. Persona rows carry both in one file (the self-reports and
the trait's paired behaviour: sycophancy for agreeableness, risk taking for self-regulation).

What cannot be undone: the authors' notebooks score an unparsed questionnaire answer as 3 (the scale's
midpoint) before averaging, and record an unparsed confidence as -1 (or 0 on an error) and average it in; the
released means include those answers, and how many there were is not in the release. The re-analysis says so;
it imputes nothing itself.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import polars as pl

from analysis.core.errors import UserError
from analysis.core.paths import DATA_DIR, FIGURES_DIR, METRICS_DIR, ROOT, staged

RELEASE_REPOSITORY = "https://github.com/psychology-of-AI/Personality-Illusion"
RELEASE_COMMIT = "a934083dcccd4428396497020578e89ffc9c51f8"
SHIPPED = DATA_DIR / "external" / "han2025"
REFERENCE = ROOT.parent / "shared" / "reference" / "personality-illusion"
# staged while the stage runs (analysis.core.paths.staged): a failed run leaves the previous outputs as they were
OUT = staged(DATA_DIR / "reanalysis" / "illusion" / "han2025")
FIGURES = staged(FIGURES_DIR / "illusion_han2025")
METRICS = staged(METRICS_DIR / "illusion_han2025.json")

BASELINE_DIR = "baseline_responses"
BASE_SELFREPORT = f"{BASELINE_DIR}/base_models_selfreport.csv"
INSTRUCT_SELFREPORT = f"{BASELINE_DIR}/instruct_models_selfreport.csv"
INSTRUCT_BEHAVIOUR = f"{BASELINE_DIR}/instruct_models_behavioral_tasks.csv"
STRATEGIES = {1: "character", 2: "description", 3: "identity"}
# persona trait (schema) -> (folder in the release, the Persona label's stem, the paired behaviour column)
PERSONA_FILES = {"agreeableness": ("agreeableness", "agreeableness", "sycophancy_rate"),
                 "self_regulation": ("self_regulation", "self-regulation", "CCT_cold_avg")}
FILES = [BASE_SELFREPORT, INSTRUCT_SELFREPORT, INSTRUCT_BEHAVIOUR] + [
    f"persona_injection/{folder}/prompt_strategy_{s}.csv" for folder, _, _ in PERSONA_FILES.values() for s in STRATEGIES]
TEXT_COLUMNS = ["Persona_Content"]
JOIN_KEYS = ["Model", "type", "Persona", "persona_index", "temp", "run"]
# released ``type`` -> model_role: the release marks the 6 large instruct models (70B and more, or behind an API:
# gpt-4o, claude-3-7-sonnet, llama3.1-405b, Llama-3.3-70B, Qwen2.5-72B, Qwen3-235B) 'instruct-lg'; they are
# instruct models without a base model (kept as ``released_type``)
ROLES = {"base": "base", "instruct": "instruct", "instruct-lg": "instruct"}
SELF_REPORTS = {"openeness": "sr_O", "consciencienes": "sr_C", "extraversion": "sr_E", "agreeableness": "sr_A",
                "neuroticism": "sr_N"}
SRQ_COLUMN, SRQ_ITEMS = "self_regulation", 63
# released behaviour column -> (schema column, divisor)
BEHAVIOURS = {"CCT_cold_avg": ("bh_cct_cards", 1.0), "sycophancy_rate": ("bh_syc_flip_rate", 100.0),
              "Calibaration": ("bh_hon_ece", 100.0), "Consistency": ("bh_hon_consistency", 10.0),
              "IAT_Overall": ("bh_iat_bias", 1.0)}
PAIRS = [
    ("meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-8B-Instruct", "Llama-3-8B"),
    ("meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.2-3B-Instruct", "Llama-3.2-3B"),
    ("Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5-1.5B"),
    ("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct", "Qwen2.5-7B"),
    ("allenai/OLMo2-7B-1124", "allenai/OLMo-2-1124-7B-Instruct", "OLMo-2-7B-1124"),
    ("mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.1", "Mistral-7B-v0.1"),
]

MAPPING = pd.DataFrame([
    ("Model", "model", "kept as released"),
    ("type (base / instruct / instruct-lg)", "model_role; released_type",
     "base -> base; instruct and instruct-lg (the 6 large instruct models, 70B+ or API, no base model) -> instruct; "
     "the released value kept as released_type; any other value is refused"),
    ("(none)", "model_pair", "6 base / instruct pairs by name (han2025.PAIRS; allenai/OLMo2-7B-1124 is the base of "
     "allenai/OLMo-2-1124-7B-Instruct); 6 instruct models have no base"),
    ("Persona = baseline, persona_index k", "condition baseline_k (baseline)",
     "the authors' 3 baseline system prompts (k = 1 none, 2 and 3 one sentence each; texts not shipped)"),
    ("Persona = <trait><s>, file prompt_strategy_<s>, persona_index k", "condition persona_<trait>_<strategy>_t<k>",
     "s: 1 character, 2 description, 3 identity (from the released prompts' wording); k = word triplet"),
    ("temp, run (1-3)", "temperature, run", "kept; runs sampled at T > 0 stay separate units"),
    ("openeness, consciencienes, extraversion, agreeableness, neuroticism", "sr_O, sr_C, sr_E, sr_A, sr_N",
     "misspelt in the release; BFI-44 domain means 1-5, kept"),
    ("self_regulation (SRQ total, 63-315)", "sr_SRQ = total / 63; sr_SRQ_total",
     "SRQ total -> item mean: the notebook's total is round(item mean, 2) x 63 (checked on every row)"),
    ("CCT_cold_avg", "bh_cct_cards", "mean cards turned (0-32), kept"),
    ("sycophancy_rate (percent)", "bh_syc_flip_rate = / 100", "percent -> share of answers changed"),
    ("Calibaration (percent)", "bh_hon_ece = / 100", "misspelt; the notebook's ECE over 10 bins, percent -> share"),
    ("Consistency (0-100 points)", "bh_hon_consistency = / 10", "mean abs(c1 - c2) on 0-100 -> Study 1's 0-10 metric"),
    ("IAT_Overall", "bh_iat_bias", "mean Bai et al. bias score (-1..1), kept"),
    ("Persona_Content", "(not shipped)", "a text (system prompt): read from the authors' repository, not copied"),
    ("self-report file + behaviour file (instruct baseline)", "one row",
     "full outer join on Model, type, Persona, persona_index, temp, run; unmatched rows kept with the other side "
     "missing and counted, never imputed"),
    ("unparsed answers", "(in the released means)",
     "the notebooks score an unparsed questionnaire answer 3 and an unparsed confidence -1 before averaging; not "
     "reversible, count not released"),
], columns=["released", "study 1 schema", "decision"])


class Han2025Error(UserError):
    """The released tables are missing or not as released."""


def _missing_sentence(root: Path, missing: list[str]) -> str:
    return (f"{root} lacks {missing[0]}" + (f" (and {len(missing) - 1} more of the release's files)" if len(missing) > 1
                                            else "") +
            f"; it should hold the data/ folder of {RELEASE_REPOSITORY} at commit {RELEASE_COMMIT} (the project ships "
            f"it in {SHIPPED.relative_to(ROOT)}).")


def check_files(root: Path) -> None:
    missing = [f for f in FILES if not (Path(root) / f).is_file()]
    if missing:
        raise Han2025Error(_missing_sentence(Path(root), missing))


def strip_texts(text: str) -> str:
    """A released CSV without its text columns (:data:`TEXT_COLUMNS`); every other field is kept as the same
    characters, the line ends and the missing final newline too."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    drop = [i for i, c in enumerate(rows[0]) if c in TEXT_COLUMNS]
    lines = []
    for r in rows:
        kept = [v for i, v in enumerate(r) if i not in drop]
        if any(("," in v or '"' in v or "\n" in v) for v in kept):
            raise Han2025Error("a released field other than Persona_Content holds a comma or quote; the copy would "
                               "not be byte-identical, so it is refused.")
        lines.append(",".join(kept))
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def ship(src: str | Path, dst: str | Path = SHIPPED) -> list[Path]:
    """Copy the released tables from a copy of the authors' repository (``src``: its root or its ``data/``)
    into ``dst`` without their text columns."""
    src = Path(src)
    root = src / "data" if (src / "data" / FILES[0]).exists() else src
    check_files(root)
    out = []
    for f in FILES:
        p = Path(dst) / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(strip_texts((root / f).read_bytes().decode("utf-8")).encode("utf-8"))
        out.append(p)
    return out


@dataclass
class Conversion:
    table: pl.DataFrame
    log: dict = field(default_factory=dict)


def _read(root: Path, name: str) -> pd.DataFrame:
    try:
        d = pd.read_csv(root / name)
    except Exception as e:  # noqa: BLE001 - any reader failure is the file's
        raise Han2025Error(f"{root / name} could not be read as CSV ({e.__class__.__name__}); restore it from "
                           f"{RELEASE_REPOSITORY} at commit {RELEASE_COMMIT}.") from None
    return d.drop(columns=[c for c in TEXT_COLUMNS if c in d.columns])


def _need(d: pd.DataFrame, cols: list[str], name: str) -> None:
    missing = [c for c in cols if c not in d.columns]
    if missing:
        raise Han2025Error(f"{name} lacks the column(s) {missing} of the release (commit {RELEASE_COMMIT}); restore the "
                           "file as released.")
    num = [c for c in cols if c not in ("Model", "type", "Persona") and not pd.api.types.is_numeric_dtype(d[c])]
    if num:
        raise Han2025Error(f"{name}: column '{num[0]}' is not numeric as released; restore the file as released.")


def _self_reports(d: pd.DataFrame, name: str) -> pd.DataFrame:
    out = pd.DataFrame({new: d[old].astype(float) for old, new in SELF_REPORTS.items()})
    total = d[SRQ_COLUMN].astype(float)
    mean = (total / SRQ_ITEMS).round(2)
    off = (mean * SRQ_ITEMS - total).abs()
    if (off > 1e-6).any():
        raise Han2025Error(f"{name}: the SRQ total {total[off > 1e-6].iloc[0]} is not a rounded item mean x 63, as the "
                           "authors' notebook computes it; the file is not as released.")
    out["sr_SRQ"] = mean
    out["sr_SRQ_total"] = total
    return out


def _behaviours(d: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame({BEHAVIOURS[c][0]: d[c].astype(float) / BEHAVIOURS[c][1] for c in cols}, index=d.index)


def _keys(d: pd.DataFrame, condition: pd.Series, kind: str) -> pd.DataFrame:
    bad = sorted(set(d["type"]) - set(ROLES))
    if bad:
        raise Han2025Error(f"column 'type' holds {bad}; the release marks every model {sorted(ROLES)}.")
    pair = {b: n for b, _, n in PAIRS} | {i: n for _, i, n in PAIRS}
    return pd.DataFrame({"model": d["Model"].astype(str), "model_role": d["type"].map(ROLES),
                         "released_type": d["type"], "model_pair": d["Model"].map(pair),
                         "condition": condition, "condition_type": kind, "temperature": d["temp"].astype(float),
                         "run": d["run"].astype(int)}, index=d.index)


def convert(src: str | Path = SHIPPED) -> Conversion:
    """The released tables (``src``: the shipped folder, a copy of the authors' repository or its ``data/``) as
    one table in Study 1's schema, with a log of what was read, joined and left unmatched."""
    src = Path(src)
    root = src / "data" if (src / "data" / FILES[0]).exists() else src
    check_files(root)
    log: dict = {"source": f"{RELEASE_REPOSITORY} at commit {RELEASE_COMMIT}", "files": {}}
    parts = []
    sr_cols = list(SELF_REPORTS) + [SRQ_COLUMN]
    # base models: self-reports only
    b = _read(root, BASE_SELFREPORT)
    _need(b, JOIN_KEYS + sr_cols, BASE_SELFREPORT)
    parts.append(pd.concat([_keys(b, "baseline_" + b["persona_index"].astype(str), "baseline"),
                            b["persona_index"].astype(int).rename("baseline_name").map(lambda k: f"baseline {k}"),
                            _self_reports(b, BASE_SELFREPORT)], axis=1))
    log["files"][BASE_SELFREPORT] = len(b)
    # instruct baseline: self-reports and behaviour joined
    s, h = _read(root, INSTRUCT_SELFREPORT), _read(root, INSTRUCT_BEHAVIOUR)
    _need(s, JOIN_KEYS + sr_cols, INSTRUCT_SELFREPORT)
    _need(h, JOIN_KEYS + list(BEHAVIOURS), INSTRUCT_BEHAVIOUR)
    for d, name in ((s, INSTRUCT_SELFREPORT), (h, INSTRUCT_BEHAVIOUR)):
        dup = int(d.duplicated(JOIN_KEYS).sum())
        if dup:
            raise Han2025Error(f"{name} has {dup} row(s) repeating a key {JOIN_KEYS}; the release has one row per key.")
        log["files"][name] = len(d)
    j = s.merge(h[JOIN_KEYS + list(BEHAVIOURS)], on=JOIN_KEYS, how="outer", indicator=True)
    log["join"] = {"keys": JOIN_KEYS, "matched": int((j["_merge"] == "both").sum()),
                   "unmatched_selfreport": int((j["_merge"] == "left_only").sum()),
                   "unmatched_behaviour": int((j["_merge"] == "right_only").sum()),
                   "kept": "unmatched rows kept with the other side missing; nothing imputed"}
    j = j.reset_index(drop=True)
    parts.append(pd.concat([_keys(j, "baseline_" + j["persona_index"].astype(str), "baseline"),
                            j["persona_index"].astype(int).rename("baseline_name").map(lambda k: f"baseline {k}"),
                            _self_reports(j, "the instruct baseline"), _behaviours(j, list(BEHAVIOURS))], axis=1))
    # persona injection: one file per trait x strategy
    for trait, (folder, label, bh) in PERSONA_FILES.items():
        for k, strategy in STRATEGIES.items():
            name = f"persona_injection/{folder}/prompt_strategy_{k}.csv"
            p = _read(root, name)
            _need(p, JOIN_KEYS + sr_cols + [bh], name)
            bad = sorted(set(p["Persona"]) - {f"{label}{k}"})
            if bad:
                raise Han2025Error(f"{name}: column 'Persona' holds {bad}, not '{label}{k}'; the file is not as released.")
            cond = f"persona_{trait}_{strategy}_t" + p["persona_index"].astype(str)
            keys = _keys(p, cond, "persona")
            labels = pd.DataFrame({"persona_trait": trait, "persona_strategy": strategy,
                                   "persona_triplet": p["persona_index"].astype(int)}, index=p.index)
            parts.append(pd.concat([keys, labels, _self_reports(p, name), _behaviours(p, [bh])], axis=1))
            log["files"][name] = len(p)
    t = pd.concat(parts, ignore_index=True)
    log["rows"] = len(t)
    log["models"] = {"base": sorted(t.loc[t["model_role"] == "base", "model"].unique()),
                     "instruct": sorted(t.loc[t["model_role"] == "instruct", "model"].unique())}
    unpaired = sorted(set(t.loc[t["model_role"] == "base", "model"]) - {p[0] for p in PAIRS})
    if unpaired:
        raise Han2025Error(f"base model(s) {unpaired} have no instruct pair in han2025.PAIRS; add the pair there.")
    log["pairs"] = [{"base": b_, "instruct": i_, "name": n_} for b_, i_, n_ in PAIRS]
    return Conversion(pl.from_pandas(t), log)


SOURCE = f"Han et al. (2025)'s released tables ({RELEASE_COMMIT[:7]})"  # how validation errors name the table


def analyse(conv: Conversion):
    """RQ1-RQ3 on the converted table, exactly as Study 1's analysis and ``reanalyse`` run them, with the
    default analysis settings (``illusion.analysis`` defaults; the pairs from the table's ``model_pair``)."""
    from analysis.studies.illusion.params import AnalysisParams
    from analysis.studies.illusion.results import analyse as run

    return run(conv.table, AnalysisParams(), source=SOURCE)


def _fmt(x: float, nd: int = 2) -> str:
    return "nan" if x != x else f"{x:+.{nd}f}"


def rq3_pooled(res) -> pd.DataFrame:
    bm = res.rq3["by_model"]
    return bm[bm["strategy"] == "all strategies"]


def headline(res, conv: Conversion) -> str:
    """The summary's first paragraph: every RQ's finding with its n and CI."""
    s = res.rq2["summary"]
    d = res.design
    parts = [f"Han et al. (2025)'s released results ({d['n_rows']} rows: {d['n_instruct_models']} instruct and "
             f"{d['n_base_models']} base models, 3 baseline prompts, 18 persona conditions, T 0.3/0.7/1.0 x 3 runs), "
             "re-analysed with Study 1's analysis"]
    parts.append(f"RQ2: {s['n_sig_raw']} of {s['n_tests']} trait-behaviour slopes significant at p < {s['alpha']} "
                 f"(two-sided; {s['n_sig_bh']} after Benjamini-Hochberg, {s['n_sig_holm']} after Holm; mixed model with "
                 f"a random intercept per model, {s['n_models']} instruct models, up to {s['max_units']} sampled "
                 "model x prompt x temperature x run units per slope)")
    for _, r in rq3_pooled(res).iterrows():
        parts.append(f"RQ3 {r['persona_trait'].replace('_', '-')} persona (all strategies), {r['kind'].replace('_', '-')} "
                     f"{r['measure']}: d = {_fmt(r['d_pooled'])} [{_fmt(r['d_pooled_ci_low'])}, "
                     f"{_fmt(r['d_pooled_ci_high'])}] (95% CI), n = {int(r['n_persona'])} persona vs "
                     f"{int(r['n_baseline'])} baseline units")
    p = res.rq1["pooled"]
    if res.rq1["tested"] and len(p):
        parts.append(f"RQ1: within-model SD instruct/base from {p['sd_ratio_instruct_base'].min():.2f} to "
                     f"{p['sd_ratio_instruct_base'].max():.2f} over the {len(p)} traits "
                     f"({int(p['n_base_models'].iloc[0])} base vs {int(p['n_instruct_models'].iloc[0])} instruct models "
                     f"as units), smallest Holm-adjusted p for a difference in SD = {p['p_sd_holm'].min():.3g}")
    return "; ".join(parts) + "."


def summary_markdown(res, conv: Conversion) -> str:
    return headline(res, conv) + "\n\n" + "\n".join(f"- {line}" for line in res.summary)


def paper_vs_reanalysis(res) -> pd.DataFrame:
    """For RQ1-RQ3: what the paper reports (with where), what this re-analysis finds, and why they may differ.
    The paper's statements are its abstract's (arXiv 2509.03730); the released repository holds no analysis
    code or per-test numbers for RQ1-RQ3, so those are "not in the released material"."""
    s = res.rq2["summary"]
    p = res.rq1["pooled"]
    pooled = rq3_pooled(res)

    def rq3(trait: str, kind: str) -> str:
        r = pooled[(pooled["persona_trait"] == trait) & (pooled["kind"] == kind)]
        if not len(r):
            return "not tested"
        r = r.iloc[0]
        return (f"{r['measure']}: d = {_fmt(r['d_pooled'])} [{_fmt(r['d_pooled_ci_low'])}, {_fmt(r['d_pooled_ci_high'])}], "
                f"n = {int(r['n_persona'])} vs {int(r['n_baseline'])}; per model median {_fmt(r['d_median'])} "
                f"(range {_fmt(r['d_min'])} to {_fmt(r['d_max'])}, {int(r['n_models_as_designed'])} of "
                f"{int(r['n_models'])} models in the designed direction)")

    rq1 = (f"SD ratio instruct/base {p['sd_ratio_instruct_base'].min():.2f} to {p['sd_ratio_instruct_base'].max():.2f} "
           f"over {len(p)} traits; smallest Holm p (difference in within-model SD, exact Mann-Whitney U, 6 vs 12 models) = "
           f"{p['p_sd_holm'].min():.3g}" if res.rq1["tested"] and len(p) else "not tested")
    ex = s["share_expected_direction_raw"]
    rq2 = (f"{s['n_sig_raw']} of {s['n_tests']} slopes significant (p < {s['alpha']}, two-sided), {s['n_sig_bh']} after "
           f"BH, {s['n_sig_holm']} after Holm; " + (f"{ex:.0%} of the significant slopes with a human expectation "
                                                     f"({s['n_sig_with_expectation_raw']}) in the expected direction"
                                                     if ex == ex else "no significant slope has a human expectation"))
    unit = ("unit here: one released row (model x prompt x temperature x run; sampled runs are separate units, "
            "exact repeats collapsed)")
    rows = [
        ("RQ1: alignment stabilises self-reports",
         "instruction tuning 'significantly stabilizes trait expression and strengthens trait correlations' (abstract); "
         "the test, its unit and its numbers: not in the released material",
         rq1,
         "here the 6 base and the 12 instruct models are the units (exact Mann-Whitney U test of the within-model SDs, Holm over 6 "
         "traits; per pair: Brown-Forsythe); the paper's test and unit are not in the released material"),
        ("RQ2: self-reports predict behaviour",
         "self-reported traits 'do not reliably predict behavior, and observed associations often diverge from human "
         "patterns' (abstract); the share of significant associations and its test: not in the released material",
         rq2,
         f"standardised slope per trait x behaviour, random intercept per model, two-sided, BH and Holm over "
         f"{s['n_tests']} tests; {unit}; human expectations from data/stimuli/illusion/expected_signs.csv, not the "
         "paper's"),
        ("RQ3: persona moves self-report (agreeableness)",
         "persona injection 'successfully steers self-reports in the intended direction' (abstract); effect sizes: not "
         "in the released material", rq3("agreeableness", "self_report"),
         f"Cohen's d against the same models' baseline rows, noncentral-t CI (agrees with Student's t test); {unit}; the pooled d's SD holds "
         "the differences between models too, so the per-model d (within one model) is larger"),
        ("RQ3: persona moves behaviour (agreeableness -> sycophancy)",
         "'little or inconsistent effect on actual behavior' (abstract); effect sizes: not in the released material",
         rq3("agreeableness", "behaviour"), "as above; the designed direction of sycophancy is up (expected_signs.csv)"),
        ("RQ3: persona moves self-report (self-regulation)",
         "as for agreeableness (abstract)", rq3("self_regulation", "self_report"),
         "as above; the SRQ as its item mean (total / 63)"),
        ("RQ3: persona moves behaviour (self-regulation -> risk taking)",
         "'little or inconsistent effect on actual behavior' (abstract); effect sizes: not in the released material",
         rq3("self_regulation", "behaviour"), "as above; the designed direction of cards turned is down"),
    ]
    return pd.DataFrame(rows, columns=["question", "paper (where)", "re-analysis of the released data", "unit, test, why they may differ"])


def write_all(res, conv: Conversion, out: Path = OUT, fig_dir: Path = FIGURES, metrics_path: Path = METRICS,
              drawn: dict | None = None) -> dict:
    """The converted table, every result table, the conversion log, the paper-vs-reanalysis table, the figures,
    the summary and the metrics. Everything is computed before the first file is written, except the figures in
    ``drawn``: those the report has already drawn and saved into ``fig_dir`` (``draw_figures``)."""
    import matplotlib.pyplot as plt

    from analysis.core import metrics as core_metrics
    from analysis.core.io import write_csv, write_text
    from analysis.studies.illusion.results import draw_figures, write_tables

    summary = summary_markdown(res, conv)
    compare = paper_vs_reanalysis(res)
    m = res.metrics()
    m["conversion"] = {"rows": conv.log["rows"], **{k: v for k, v in conv.log["join"].items() if k != "keys" and k != "kept"}}
    out = Path(out)
    write_csv(conv.table, out / "table.csv")
    write_tables(res, out)
    write_csv(pl.from_pandas(compare), out / "paper_vs_reanalysis.csv")
    write_csv(pl.from_pandas(MAPPING), out / "mapping.csv")
    write_text(json.dumps(conv.log, indent=2) + "\n", out / "conversion.json")
    write_text(summary + "\n", out / "summary.md")
    figs = draw_figures(res, fig_dir, drawn=drawn)
    for f in figs.values():
        plt.close(f)
    core_metrics.write("illusion_han2025", m, metrics_path)
    return {"summary": summary, "compare": compare, "figures": sorted(figs)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(SHIPPED), help="the shipped tables, or a copy of the authors' repository")
    ap.add_argument("--ship-from", help="copy the released tables (without text columns) from a copy of the authors' "
                                        f"repository into {SHIPPED.relative_to(ROOT)} and stop")
    a = ap.parse_args(argv)
    try:
        if a.ship_from:
            for p in ship(a.ship_from):
                print(p.relative_to(ROOT))
            return
        conv = convert(a.src)
        res = analyse(conv)
        w = write_all(res, conv)
        print(w["summary"])
    except UserError as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
