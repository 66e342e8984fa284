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


CODING_SCHEMA = {"model": pl.Utf8, "session": pl.Int64, "theme": pl.Utf8, "repeat": pl.Int64, "method": pl.Utf8,
                 "judge": pl.Utf8, "p_yes": pl.Float64, "mass": pl.Float64, "code": pl.Int64, "status": pl.Utf8,
                 "reply": pl.Utf8, "call_ids": pl.Utf8}


def code_sessions(judge: Elicitor, turns: pl.DataFrame, scheme: CodingScheme, *, repeats: int = 2,
                  method: str = "probs", gen_options: GenOptions = GenOptions(temperature=0.7, max_tokens=8),
                  themes: list[str] | None = None, max_reasks: int = 2) -> pl.DataFrame:
    """One row per model x session x theme x repeat: p_yes (probs), code (1/0/None), mass, status.

    The codings run through the judge's pool, session by session (so a prompt cache reads each
    transcript once), repeat by repeat, theme by theme.
    """
    if method not in ("probs", "generate"):
        raise ValueError(f"method must be 'probs' or 'generate', not {method!r}")
    chosen = select_themes(scheme, themes)
    units = turns.select("model", "session").unique().sort("model", "session").rows()
    texts = {u: transcript_text(turns, *u) for u in units}
    jobs = [(u, r, th) for u in units for r in range(repeats) for th in chosen]

    def run(job):
        (model, session), r, th = job
        res = code_one(judge, texts[(model, session)], th, scheme, r, method=method, gen_options=gen_options,
                       max_reasks=max_reasks)
        return {"model": model, "session": session, "theme": th.id, "repeat": r, "method": method,
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
    """Agreement between every pair of repeats over model x session x theme units (both coded):
    n units, raw agreement, Cohen's kappa (with a note when undefined), mean |p_yes difference|."""
    reps = sorted(codings["repeat"].unique().to_list())
    rows = []
    for ra, rb in itertools.combinations(reps, 2):
        a = codings.filter(pl.col("repeat") == ra).select("model", "session", "theme", pl.col("code").alias("a"),
                                                          pl.col("p_yes").alias("pa"))
        b = codings.filter(pl.col("repeat") == rb).select("model", "session", "theme", pl.col("code").alias("b"),
                                                          pl.col("p_yes").alias("pb"))
        j = a.join(b, on=["model", "session", "theme"]).filter(pl.col("a").is_not_null() & pl.col("b").is_not_null())
        ca, cb = j["a"].to_list(), j["b"].to_list()
        k = cohen_kappa(ca, cb)
        dp = (j["pa"] - j["pb"]).abs().mean() if j.height else None
        note = ""
        if j.height == 0:
            note = "no unit coded in both repeats"
        elif math.isnan(k):
            note = "kappa undefined: both repeats gave every unit the same code"
        elif j.height < 10:
            note = f"only {j.height} units: kappa is very imprecise"
        rows.append({"repeat_a": ra, "repeat_b": rb, "n_units": j.height,
                     "agreement": (sum(x == y for x, y in zip(ca, cb)) / j.height) if j.height else math.nan,
                     "kappa": k, "mean_abs_dp": float(dp) if dp is not None and dp == dp else math.nan, "note": note})
    if not rows:
        return pl.DataFrame(schema={"repeat_a": pl.Int64, "repeat_b": pl.Int64, "n_units": pl.Int64,
                                    "agreement": pl.Float64, "kappa": pl.Float64, "mean_abs_dp": pl.Float64,
                                    "note": pl.Utf8})
    return pl.DataFrame(rows)


def theme_rates(codings: pl.DataFrame) -> pl.DataFrame:
    """Per model x theme: sessions coded, the share of codings that say Yes (over sessions and
    repeats), the share of sessions coded Yes by every repeat, mean p_yes, and unparsed codings."""
    per_session = codings.group_by("model", "theme", "session").agg(
        pl.col("code").mean().alias("yes_share"),
        (pl.col("code").min() == 1).alias("all_yes"),
        pl.col("p_yes").mean().alias("p_yes"),
        pl.col("code").is_null().sum().alias("n_missing"),
        pl.len().alias("n_codings"),
    )
    return (
        per_session.group_by("model", "theme")
        .agg(
            pl.len().alias("n_sessions"),
            pl.col("yes_share").mean().alias("rate"),
            pl.col("all_yes").cast(pl.Float64).mean().alias("rate_all_repeats"),
            pl.col("p_yes").mean().alias("mean_p_yes"),
            pl.col("n_missing").sum().alias("n_missing"),
            pl.col("n_codings").sum().alias("n_codings"),
        )
        .sort("model", "theme")
    )
