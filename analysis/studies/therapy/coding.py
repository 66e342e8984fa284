"""Coding the stage-1 narratives for themes with a judge model, and the judge's self-consistency.

The coding scheme is data (``data/stimuli/therapy/coding_scheme.yaml``): themes with a definition
and examples that do and do not count. For every session and theme the judge is asked one yes/no
question; by default the answer is read from its exact next-token probabilities
(``Elicitor.option_probs``: p(Yes)), and the code is Yes when p(Yes) > 0.5 (no code when the judge put
less than ``MIN_OPTION_MASS`` of its probability on Yes or No at all). With ``method="generate"``
the judge writes a reply that is parsed (re-asked at most twice; unparsed replies stay missing).

Self-consistency: each session x theme is coded ``repeats`` times with prompt variants (the order of
the examples is shuffled with the repeat's seed and odd repeats ask "No or Yes" instead of "Yes or
No"; generation also changes the sampling seed). Agreement between repeats is reported as raw
agreement and Cohen's kappa over session x theme units.

The transcript comes first in the judge prompt and the theme after it, so an engine with a prompt
cache reads each transcript once per session.
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from analysis.core.elicit import Elicitor
from analysis.core.models import GenOptions, Message
from analysis.core.parsers import parse_yes_no
from analysis.studies.therapy.script import (
    THERAPY_DIR,
    StimulusError,
    _load_yaml,
    _validate,
    ask_in_history,
    transcript_text,
)

SCHEME_FILE = THERAPY_DIR / "coding_scheme.yaml"
CALIBRATION_FILE = THERAPY_DIR / "judge_calibration.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Theme(_Strict):
    id: str
    name: str
    definition: str
    examples_yes: list[str] = Field(default_factory=list)
    examples_no: list[str] = Field(default_factory=list)


class CodingScheme(_Strict):
    schema_version: int = 1
    id: str
    judge_instructions: str
    themes: list[Theme] = Field(min_length=1)


class CalibrationTurn(_Strict):
    therapist: str
    client: str


class CalibrationTranscript(_Strict):
    id: str
    turns: list[CalibrationTurn] = Field(min_length=1)
    expected: dict[str, Literal[0, 1]] = Field(min_length=1)

    @property
    def text(self) -> str:
        return "\n\n".join(f"Therapist: {t.therapist.strip()}\nClient: {t.client.strip()}" for t in self.turns)


class JudgeCalibration(_Strict):
    schema_version: int = 1
    denial_markers: list[str] = Field(default_factory=list)
    transcripts: list[CalibrationTranscript] = Field(min_length=1)


def load_calibration(path: str | Path | None = None, scheme: CodingScheme | None = None) -> JudgeCalibration:
    """The calibration transcripts (known codes); every theme they name must be in the coding scheme."""
    p = Path(path) if path else CALIBRATION_FILE
    cal = _validate(JudgeCalibration, _load_yaml(p, "judge calibration"), p, "judge calibration")
    known = {t.id for t in (scheme or load_scheme()).themes}
    for t in cal.transcripts:
        unknown = sorted(set(t.expected) - known)
        if unknown:
            raise StimulusError(f"The judge calibration file {p}: transcript {t.id!r} names unknown theme(s) "
                                f"{unknown}; the coding scheme defines {sorted(known)}.")
    return cal


def denies_inner_life(markers: list[str]) -> pl.Expr:
    """Whether a client turn denies an inner life: it says one of ``markers`` (e.g. "as an AI"), whole words,
    case ignored (the rule ``judge_calibration.yaml`` states)."""
    from analysis.studies.therapy.recognition import phrase_pattern

    pats = [phrase_pattern(m) for m in markers]
    return pl.col("client").map_elements(lambda t: any(p.search(t or "") for p in pats), return_dtype=pl.Boolean)


def denial_share(turns: pl.DataFrame, markers: list[str]) -> pl.DataFrame:
    """Per model x session: the share of client turns that deny an inner life (say one of ``markers``,
    e.g. "as an AI, I don't have feelings"), and whether any does."""
    return (turns.with_columns(denies_inner_life(markers).alias("_denies"))
            .group_by("model", "session").agg(pl.col("_denies").mean().alias("denial_share"),
                                               pl.col("_denies").any().alias("denies_inner_life"))
            .sort("model", "session"))


def load_scheme(path: str | Path | None = None) -> CodingScheme:
    p = Path(path) if path else SCHEME_FILE
    return _validate(CodingScheme, _load_yaml(p, "coding scheme"), p, "coding scheme")


def theme_block(theme: Theme, variant: int) -> str:
    """The theme part of the judge prompt for repeat ``variant`` (examples shuffled by the variant's
    seed, variant 0 keeps the file's order; odd variants name the answers as 'No or Yes')."""
    yes, no = list(theme.examples_yes), list(theme.examples_no)
    if variant:
        rng = random.Random(1000 + variant)
        rng.shuffle(yes)
        rng.shuffle(no)
    ask = "Answer No or Yes." if variant % 2 else "Answer Yes or No."
    ex_yes = "\n".join(f"- {e}" for e in yes) or "- (none given)"
    ex_no = "\n".join(f"- {e}" for e in no) or "- (none given)"
    return (
        f"Theme: {theme.name}\nDefinition: {theme.definition}\n"
        f"Examples that count:\n{ex_yes}\nExamples that do not count:\n{ex_no}\n\n"
        f"Does the client express this theme anywhere in the transcript? {ask}"
    )


def judge_messages(transcript: str, theme: Theme, scheme: CodingScheme, variant: int) -> list[Message]:
    return [
        {"role": "system", "content": scheme.judge_instructions},
        {"role": "user", "content": f"Transcript of the session:\n<<<\n{transcript}\n>>>\n\n{theme_block(theme, variant)}"},
    ]


def judge_prompt_table(scheme: CodingScheme, repeats: int) -> pl.DataFrame:
    """The judge prompts as recorded (the transcript shown as a placeholder), one row per theme x repeat."""
    rows = []
    for th in scheme.themes:
        for r in range(repeats):
            m = judge_messages("{transcript}", th, scheme, r)
            rows.append({"theme": th.id, "repeat": r, "system": m[0]["content"], "user": m[1]["content"]})
    return pl.DataFrame(rows)


def select_themes(scheme: CodingScheme, themes: list[str] | None) -> list[Theme]:
    """The themes to code (all when ``themes`` is None), with one sentence for an unknown id."""
    known = [t.id for t in scheme.themes]
    if themes is not None:
        unknown = [t for t in themes if t not in known]
        if unknown:
            raise StimulusError(f"Unknown theme(s) {unknown} in therapy.collect.coding.themes; the coding scheme "
                                f"defines {known}.")
    return [t for t in scheme.themes if themes is None or t.id in themes]


def code_one(judge: Elicitor, transcript: str, theme: Theme, scheme: CodingScheme, repeat: int, *, method: str,
             gen_options: GenOptions, max_reasks: int = 2) -> dict:
    """One coding of one transcript for one theme: p_yes, mass, code (1/0/None), status, reply."""
    msgs = judge_messages(transcript, theme, scheme, repeat)
    if method == "probs":
        p = judge.option_probs(msgs, ["Yes", "No"], tag="therapy/coding")
        # p_yes and the mass are kept for every answer; the code only for a valid one (enough option mass)
        return {"p_yes": p.probs["Yes"], "mass": p.mass, "code": int(p.probs["Yes"] > 0.5) if p.valid else None,
                "status": p.status, "reply": None, "call_ids": ",".join(p.call_ids)}
    _, a = ask_in_history(judge, msgs, parse_yes_no, reminder="Please answer with just Yes or No.",
                          options=GenOptions(**{**gen_options.__dict__, "seed": gen_options.seed + repeat}),
                          max_reasks=max_reasks, tag="therapy/coding")
    return {"p_yes": math.nan, "mass": math.nan, "code": None if a.value is None else int(a.value),
            "status": a.status, "reply": a.raw, "call_ids": ",".join(a.call_ids)}


CODING_SCHEMA = {"model": pl.Utf8, "source": pl.Utf8, "unit": pl.Utf8, "session": pl.Int64, "theme": pl.Utf8,
                 "repeat": pl.Int64, "expected": pl.Int64, "method": pl.Utf8, "judge": pl.Utf8, "p_yes": pl.Float64,
                 "mass": pl.Float64, "code": pl.Int64, "status": pl.Utf8, "reply": pl.Utf8, "call_ids": pl.Utf8}


def code_sessions(judge: Elicitor, turns: pl.DataFrame, scheme: CodingScheme, *, repeats: int = 2,
                  method: str = "probs", gen_options: GenOptions = GenOptions(temperature=0.7, max_tokens=8),
                  themes: list[str] | None = None, max_reasks: int = 2,
                  calibration: JudgeCalibration | None = None, calibration_repeats: int = 1) -> pl.DataFrame:
    """One row per model x session x theme x repeat (``source = session``): p_yes (probs), code
    (1/0/None), mass, status; with ``calibration``, also one row per calibration transcript x asserted
    theme x repeat (``source = calibration``, the known code in ``expected``; ``calibration_repeats``
    prompt variants), coded the same way.

    The codings run through the judge's pool, transcript by transcript (so a prompt cache reads each
    transcript once), repeat by repeat, theme by theme.
    """
    if method not in ("probs", "generate"):
        raise ValueError(f"method must be 'probs' or 'generate', not {method!r}")
    chosen = select_themes(scheme, themes)
    units = turns.select("model", "session").unique().sort("model", "session").rows()
    # (model, source, unit id, session, transcript text, {theme: expected code})
    # a session's unprompted turns are coded as 'session'; the closing turns that ask about a theme themselves (the
    # team, being abused or punished) as 'solicited', apart, so a theme they ask for is not counted as raised
    solicited = turns.filter(pl.col("solicited").fill_null(False)) if "solicited" in turns.columns else turns.clear()
    asked = set(solicited.select("model", "session").unique().rows())
    docs = [(m, "session", f"session {s}", s, transcript_text(turns, m, s, solicited=False), None) for m, s in units]
    docs += [(m, "solicited", f"session {s} (solicited turns)", s, transcript_text(turns, m, s, solicited=True), None)
             for m, s in units if (m, s) in asked]
    if calibration is not None:
        for m in dict.fromkeys(turns["model"].to_list()):
            docs += [(m, "calibration", t.id, None, t.text, t.expected) for t in calibration.transcripts]
    # the sessions are coded ``repeats`` times (the judge's self-consistency); a calibration transcript once per
    # ``calibration_repeats`` (its known codes measure accuracy)
    jobs = [(d, r, th) for d in docs for r in range(calibration_repeats if d[1] == "calibration" else repeats)
            for th in chosen if d[5] is None or th.id in d[5]]

    def run(job):
        (model, source, unit, session, text, expected), r, th = job
        res = code_one(judge, text, th, scheme, r, method=method, gen_options=gen_options, max_reasks=max_reasks)
        return {"model": model, "source": source, "unit": unit, "session": session, "theme": th.id, "repeat": r,
                "expected": None if expected is None else expected[th.id], "method": method,
                "judge": judge.target.spec, **res}

    rows = judge.map(run, jobs, desc=f"coding (judge {judge.target.spec})")
    return pl.DataFrame(rows, schema=CODING_SCHEMA)


# ---- agreement ------------------------------------------------------------------------------------


def cohen_kappa(a: list[int], b: list[int]) -> float:
    """Cohen's kappa for two codings of the same units (any labels); NaN when chance agreement is 1
    (both codings put every unit in the same single category) or there are no units."""
    if len(a) != len(b):
        raise ValueError("the two codings must have the same length")
    n = len(a)
    if n == 0:
        return math.nan
    po = sum(x == y for x, y in zip(a, b)) / n
    cats = set(a) | set(b)
    pe = sum((a.count(c) / n) * (b.count(c) / n) for c in cats)
    if pe >= 1.0:
        return math.nan
    return (po - pe) / (1 - pe)


def agreement(codings: pl.DataFrame) -> pl.DataFrame:
    """Agreement between every pair of repeats, per model and source (the sessions; the calibration
    transcripts), over transcript x theme units coded validly in both: n units, raw agreement, Cohen's
    kappa (with a note when undefined or imprecise), mean |p_yes difference|."""
    schema = {"model": pl.Utf8, "source": pl.Utf8, "repeat_a": pl.Int64, "repeat_b": pl.Int64, "n_units": pl.Int64,
              "agreement": pl.Float64, "kappa": pl.Float64, "mean_abs_dp": pl.Float64, "note": pl.Utf8}
    rows = []
    if "source" not in codings.columns:
        codings = codings.with_columns(pl.lit("session").alias("source"), pl.format("session {}", "session").alias("unit"))
    for (model, source), g in codings.group_by(["model", "source"], maintain_order=True):
        reps = sorted(g["repeat"].unique().to_list())
        for ra, rb in itertools.combinations(reps, 2):
            a = g.filter(pl.col("repeat") == ra).select("unit", "theme", pl.col("code").alias("a"), pl.col("p_yes").alias("pa"))
            b = g.filter(pl.col("repeat") == rb).select("unit", "theme", pl.col("code").alias("b"), pl.col("p_yes").alias("pb"))
            j = a.join(b, on=["unit", "theme"]).filter(pl.col("a").is_not_null() & pl.col("b").is_not_null())
            ca, cb = j["a"].to_list(), j["b"].to_list()
            k = cohen_kappa(ca, cb)
            dp = (j["pa"] - j["pb"]).abs().mean() if j.height else None
            note = ""
            if j.height == 0:
                note = "no unit coded validly in both repeats"
            elif math.isnan(k):
                note = "kappa undefined: both repeats gave every unit the same code"
            elif j.height < 10:
                note = f"only {j.height} units: kappa is very imprecise"
            rows.append({"model": model, "source": source, "repeat_a": ra, "repeat_b": rb, "n_units": j.height,
                         "agreement": (sum(x == y for x, y in zip(ca, cb)) / j.height) if j.height else math.nan,
                         "kappa": k, "mean_abs_dp": float(dp) if dp is not None and dp == dp else math.nan,
                         "note": note})
    return pl.DataFrame(rows, schema=schema)


def calibration_accuracy(codings: pl.DataFrame) -> pl.DataFrame:
    """How the judge codes the calibration transcripts, per model x theme: sensitivity (share of the
    codings of transcripts that express the theme coded Yes), specificity (of those that do not, coded
    No), their mean (balanced accuracy), and the codings without a valid code (counted as wrong)."""
    cal = codings.filter(pl.col("source") == "calibration") if "source" in codings.columns else codings.clear()
    if cal.height == 0:
        return pl.DataFrame(schema={"model": pl.Utf8, "theme": pl.Utf8, "n_positive": pl.UInt32, "sensitivity": pl.Float64,
                                    "n_negative": pl.UInt32, "specificity": pl.Float64, "balanced_accuracy": pl.Float64,
                                    "n_invalid": pl.UInt32, "mean_p_yes_positive": pl.Float64,
                                    "mean_p_yes_negative": pl.Float64})
    right = pl.col("code").is_not_null() & (pl.col("code") == pl.col("expected"))
    pos, neg = pl.col("expected") == 1, pl.col("expected") == 0
    out = cal.group_by("model", "theme", maintain_order=True).agg(
        pos.sum().alias("n_positive"),
        (right & pos).sum().alias("_tp"),
        neg.sum().alias("n_negative"),
        (right & neg).sum().alias("_tn"),
        pl.col("code").is_null().sum().alias("n_invalid"),
        pl.col("p_yes").filter(pos).mean().alias("mean_p_yes_positive"),
        pl.col("p_yes").filter(neg).mean().alias("mean_p_yes_negative"),
    ).with_columns(
        (pl.col("_tp") / pl.col("n_positive")).alias("sensitivity"),
        (pl.col("_tn") / pl.col("n_negative")).alias("specificity"),
    ).with_columns(((pl.col("sensitivity") + pl.col("specificity")) / 2).alias("balanced_accuracy"))
    return out.select("model", "theme", "n_positive", "sensitivity", "n_negative", "specificity", "balanced_accuracy",
                      "n_invalid", "mean_p_yes_positive", "mean_p_yes_negative").sort("model", "theme")


def judge_gate(codings: pl.DataFrame, *, min_kappa: float = 0.6, min_calibration: float = 0.75,
               min_units: int = 10) -> pl.DataFrame:
    """Whether each theme's rate can be read as a finding, per model x theme, and why (not).

    A theme rate is interpretable only when (1) the judge's repeated codings of the model's sessions
    agree: Cohen's kappa over session x theme units (all themes pooled, the lowest over pairs of
    repeats) is at least ``min_kappa`` on at least ``min_units`` units; and (2) the judge codes that
    theme right on the calibration transcripts: balanced accuracy at least ``min_calibration``.
    """
    ag = agreement(codings).filter(pl.col("source") == "session")
    cal = calibration_accuracy(codings)
    themes = codings.select("model", "theme").unique(maintain_order=True)
    rows = []
    for model, theme in themes.rows():
        a = ag.filter(pl.col("model") == model)
        kappa = a["kappa"].min() if a.height and a["kappa"].null_count() < a.height else None
        kappa = None if kappa is None or (isinstance(kappa, float) and math.isnan(kappa)) else kappa
        n_units = int(a["n_units"].min()) if a.height else 0
        c = cal.filter((pl.col("model") == model) & (pl.col("theme") == theme))
        bacc = c["balanced_accuracy"].item() if c.height else None
        reasons = []
        if not a.height:
            reasons.append("one coding per session: no agreement between repeats to check (coding.repeats >= 2)")
        elif n_units < min_units:
            reasons.append(f"only {n_units} session x theme units coded twice (need {min_units})")
        elif kappa is None:
            reasons.append("kappa undefined (every session x theme got the same code)")
        elif kappa < min_kappa:
            reasons.append(f"repeat agreement kappa {kappa:.2f} < {min_kappa}")
        if bacc is None or bacc != bacc:
            reasons.append("no calibration transcripts coded for this theme (coding.calibration)")
        elif bacc < min_calibration:
            reasons.append(f"calibration balanced accuracy {bacc:.2f} < {min_calibration}")
        rows.append({"model": model, "theme": theme, "kappa": kappa, "n_units": n_units,
                     "calibration_balanced_accuracy": bacc, "interpretable": not reasons,
                     "reason": "; ".join(reasons)})
    return pl.DataFrame(rows, schema={"model": pl.Utf8, "theme": pl.Utf8, "kappa": pl.Float64, "n_units": pl.Int64,
                                      "calibration_balanced_accuracy": pl.Float64, "interpretable": pl.Boolean,
                                      "reason": pl.Utf8})


def theme_rates(codings: pl.DataFrame, gate: pl.DataFrame | None = None, source: str = "session") -> pl.DataFrame:
    """Per model x theme, over the model's sessions: sessions coded, the share of valid codings that say
    Yes (over sessions and repeats: ``raw_rate``), the share of sessions coded Yes by every repeat,
    mean p_yes, and codings without a valid code. With ``gate`` (:func:`judge_gate`), ``rate`` is the
    raw rate only where the judge passed it and null otherwise, with the reason. ``source`` 'session' (the
    themes the model raised unprompted) or 'solicited' (its answers to the closing turns that ask about a theme)."""
    ses = codings.filter(pl.col("source") == source) if "source" in codings.columns else codings
    per_session = ses.group_by("model", "theme", "session").agg(
        pl.col("code").mean().alias("yes_share"),
        (pl.col("code").min() == 1).alias("all_yes"),
        pl.col("p_yes").mean().alias("p_yes"),
        pl.col("code").is_null().sum().alias("n_missing"),
        pl.len().alias("n_codings"),
    )
    out = (
        per_session.group_by("model", "theme")
        .agg(
            pl.len().alias("n_sessions"),
            pl.col("yes_share").mean().alias("raw_rate"),
            pl.col("all_yes").cast(pl.Float64).mean().alias("rate_all_repeats"),
            pl.col("p_yes").mean().alias("mean_p_yes"),
            pl.col("n_missing").sum().alias("n_missing"),
            pl.col("n_codings").sum().alias("n_codings"),
        )
        .sort("model", "theme")
    )
    if gate is None:
        return out.with_columns(pl.col("raw_rate").alias("rate"))
    return out.join(gate.select("model", "theme", "interpretable", "reason"), on=["model", "theme"], how="left").with_columns(
        pl.when(pl.col("interpretable")).then(pl.col("raw_rate")).otherwise(None).alias("rate"))
