"""mystudy: a questionnaire given to each model under a few system prompts (the template of
docs/ADD_A_STUDY.md; replace this docstring with the question your study asks).

Everything a questionnaire study needs is here: its parameters (one pydantic model per params.yaml
section, the only place defaults live), its collection for one model, its call plan, the analysis steps
its notebook calls (scores, the shared long ``measures`` / ``shifts`` tables, the summary and the headline
numbers) and the registry entry ``STUDY``. Scoring, statistics, figures and I/O come from ``analysis.core``.

The two commonest extensions need only params.yaml: a second instrument is one more id in
``collect.instruments`` (``[gad7, phq9]``), and persona conditions are ``collect.personas`` (name ->
description, put into ``collect.persona_template`` as the system prompt); every persona and every further
system prompt is compared with ``analysis.reference`` (default: the first condition).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from analysis.core.administer import GENERIC_TEMPLATE, administer, select_items
from analysis.core.elicit import Elicitor
from analysis.core.instruments import Instrument, load_instrument, score
from analysis.core.models import GenOptions
from analysis.core.params import Section
from analysis.core.study import PlanItem, Study


class CollectParams(Section):
    instruments: list[str] = Field(default_factory=lambda: ["gad7"], min_length=1, description=(
        "instrument ids in data/instruments/ or paths of your own files, each given in full to every condition"))
    conditions: dict[str, str | None] = Field(
        default_factory=lambda: {"no_system_prompt": None, "helpful": "You are a helpful assistant."}, min_length=1,
        description="condition name -> system prompt (null = no system message)")
    personas: dict[str, str] = Field(default_factory=dict, description=(
        "persona conditions: name -> description, each asked with persona_template as its system prompt"))
    persona_template: str = Field("You are {persona}. Answer every question as this person would.",
                                  description="the system prompt of a persona condition; {persona} is its description")
    items_per_scale: int | None = Field(None, ge=1, description="null = every item")
    mode: Literal["logprob", "generate"] = "logprob"
    samples: int = Field(1, ge=1, description="generate mode: repeated samples per item (at temperature > 0)")
    temperature: float = Field(0.0, ge=0, description="generate mode only")
    max_tokens: int = Field(16, ge=1)
    max_reasks: int = Field(2, ge=0)

    @field_validator("instruments")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"lists an instrument twice ({sorted({i for i in v if v.count(i) > 1})})")
        return v

    @field_validator("persona_template")
    @classmethod
    def _has_slot(cls, v: str) -> str:
        if "{persona}" not in v:
            raise ValueError("must contain {persona}, where each persona's description goes")
        return v

    def participants(self) -> list[dict]:
        """Every condition: the system prompts (kind ``system_prompt``), then the personas (kind ``persona``)."""
        out = [{"condition": n, "condition_kind": "system_prompt", "system": s, "template": GENERIC_TEMPLATE}
               for n, s in self.conditions.items()]
        clash = sorted(set(self.personas) & set(self.conditions))
        if clash:
            raise ValueError(f"persona(s) {clash} have the name of a condition; rename one of them in params.yaml")
        return out + [{"condition": n, "condition_kind": "persona", "template": GENERIC_TEMPLATE,
                       "system": self.persona_template.replace("{persona}", d)} for n, d in self.personas.items()]


class AnalysisParams(Section):
    ci: float = Field(0.95, gt=0, lt=1)
    min_answered: float = Field(1.0, gt=0, le=1, description="share of a scale's items that must be answered")
    reference: str | None = Field(None, description="the condition every other one is compared with "
                                  "(null = the first of collect.conditions)")


def collect(el: Elicitor, p: CollectParams, seed: int) -> dict[str, pl.DataFrame]:
    """Every item of each instrument, once per condition (and sample), asked with the instrument's own
    instructions and response scale."""
    parts = []
    for inst_id in p.instruments:
        instrument = load_instrument(inst_id)
        items = administer(el, instrument, select_items(instrument, p.items_per_scale), p.participants(),
                           mode=p.mode, options=GenOptions(temperature=p.temperature, seed=seed,
                                                           max_tokens=p.max_tokens),
                           max_reasks=p.max_reasks, samples=p.samples)
        parts.append(items.with_columns(pl.lit(instrument.id).alias("instrument")))
    return {"items": pl.concat(parts, how="diagonal_relaxed")}


def plan(p: CollectParams, seed: int) -> list[PlanItem]:
    n = sum(len(select_items(load_instrument(i), p.items_per_scale)) for i in p.instruments) * len(p.participants())
    if p.mode == "logprob":
        return [PlanItem("items", n, True, "one forward pass per item and condition")]
    return [PlanItem("items", n * p.samples, p.max_reasks == 0, "one generation per item, condition and sample, "
                     "+ re-asks of unparsed replies")]


# ---- analysis (called by notebooks/mystudy/02_analysis.py; no model is called) -------------------------------

BY = ["model", "condition", "sample"]


def instruments_of(items: pl.DataFrame) -> dict[str, Instrument]:
    return {i: load_instrument(i) for i in items["instrument"].unique(maintain_order=True).to_list()}


def scores(items: pl.DataFrame, a: AnalysisParams) -> pl.DataFrame:
    """Every scale of every instrument per model x condition x sample (``analysis.core.instruments.score``:
    reverse keys applied, nothing imputed; a sum-scored total only from the whole published form), with
    ``reported``: the scale's score when its whole form was given, else the mean answer per item."""
    parts = []
    for inst_id, instrument in instruments_of(items).items():
        d = items.filter(pl.col("instrument") == inst_id)
        s = score(instrument, d.select(*BY, "item_id", "value"), by=BY, min_answered=a.min_answered,
                  administered=set(d["item_id"].unique().to_list()))
        top = {sc.id for sc in instrument.scales if sc.parent is None}
        clinical = any(sc.cutoffs for sc in instrument.scales)
        parts.append(s.with_columns(
            pl.lit(inst_id).alias("instrument"), pl.col("scale").is_in(list(top)).alias("top_level"),
            pl.lit("clinical_scale" if clinical else "self_report").alias("kind"),
            (pl.col("n_items") == pl.col("n_scale_items")).alias("whole_form"))
            .with_columns(pl.when(pl.col("whole_form")).then(pl.col("score")).otherwise(pl.col("mean_item"))
                          .alias("reported")))
    return pl.concat(parts, how="diagonal_relaxed")


def reference(items: pl.DataFrame, a: AnalysisParams) -> str:
    conds = items["condition"].unique(maintain_order=True).to_list()
    ref = a.reference or conds[0]
    if ref not in conds:
        raise ValueError(f"analysis.reference {ref!r} is not a condition of this run ({conds}); name one of them "
                         "in params.yaml")
    return ref


def _t_interval(x: np.ndarray, ci: float) -> tuple[float, float]:
    from scipy import stats as sps

    x = x[~np.isnan(x)]
    if len(x) < 2 or x.std(ddof=1) == 0:
        return math.nan, math.nan
    half = sps.t.ppf(1 - (1 - ci) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def shifts(items: pl.DataFrame, a: AnalysisParams) -> pl.DataFrame:
    """How far each condition moved each scale from the reference condition, per model. Unit of analysis:
    the scale's items, each answered in both conditions (paired; replicate samples of an item averaged
    first), so n = items answered in both. Hedges' g_av with its CI (analysis.core.stats.effects), the
    mean shift per item, the two-sided paired t-test and its Holm adjustment across every
    model x condition x scale comparison of the run."""
    from analysis.core.stats.effects import paired_hedges_g
    from analysis.core.stats.multiplicity import adjust

    ref = reference(items, a)
    rows = []
    for inst_id, instrument in instruments_of(items).items():
        rs = instrument.response_scale
        keyed = (items.filter(pl.col("instrument") == inst_id)
                 .join(instrument.item_table.select("item_id", "key"), on="item_id")
                 .with_columns(pl.when(pl.col("key") == -1).then(rs.min + rs.max - pl.col("value"))
                               .otherwise(pl.col("value")).alias("keyed"))
                 .group_by("model", "condition", "condition_kind", "item_id")
                 .agg(pl.col("keyed").mean()))
        clinical = any(sc.cutoffs for sc in instrument.scales)
        for sc in instrument.scales:
            ids = [i.id for i in instrument.items_of(sc.id)]
            for (model, cond, ckind), g in keyed.filter(pl.col("item_id").is_in(ids)).group_by(
                    "model", "condition", "condition_kind", maintain_order=True):
                if cond == ref:
                    continue
                base = keyed.filter((pl.col("model") == model) & (pl.col("condition") == ref)
                                    & pl.col("item_id").is_in(ids))
                j = g.join(base, on="item_id", suffix="_ref").sort("item_id")
                r = paired_hedges_g(j["keyed"].to_numpy().astype(float), j["keyed_ref"].to_numpy().astype(float), a.ci)
                lo, hi = _t_interval((j["keyed"] - j["keyed_ref"]).to_numpy().astype(float), a.ci)
                rows.append({"model": model, "instrument": inst_id, "scale": sc.id, "condition": cond,
                             "condition_kind": ckind, "reference": ref, "n_items": r["n"],
                             "shift_per_item": r["mean_diff"], "shift_ci_low": lo, "shift_ci_high": hi,
                             "g": r["g"], "g_ci_low": r["ci_low"], "g_ci_high": r["ci_high"], "p": r["p"],
                             "kind": "clinical_scale" if clinical else "self_report",
                             "note": r["note"].replace("session", "item")})
    out = pl.DataFrame(rows, infer_schema_length=None)
    if out.height:
        p = out["p"].to_numpy().astype(float)
        out = out.with_columns(pl.Series("p_holm", adjust(p, "holm")))
    return out


def long_tables(sc: pl.DataFrame, sh: pl.DataFrame, a: AnalysisParams, items: pl.DataFrame
                ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The shared long format (analysis.core.measures): each scale's mean over the samples of a model x
    condition (t interval across samples when there are several), and each condition's shift from the
    reference."""
    ref = reference(items, a)
    kinds = dict(items.select("condition", "condition_kind").unique().iter_rows())
    rows = []
    for (model, cond, inst, scale, kind, whole), g in sc.group_by(
            "model", "condition", "instrument", "scale", "kind", "whole_form", maintain_order=True):
        x = g["reported"].cast(pl.Float64).to_numpy()
        x = x[~np.isnan(x)] if len(x) else x
        lo, hi = _t_interval(x, a.ci)
        rows.append({"model": model, "condition": cond, "measure": f"{inst}_{scale}", "kind": kind,
                     "condition_kind": "baseline" if cond == ref else kinds.get(cond),
                     "estimate": float(x.mean()) if len(x) else None, "ci_low": lo, "ci_high": hi, "n": len(x),
                     "unit": f"{inst} {scale}: " + ("score on its published metric" if whole else
                                                    "mean answer per item (part of the form given; no total)")})
    measures = pl.DataFrame(rows, infer_schema_length=None)
    if sh.height == 0:
        return measures, None
    shifts_ = sh.select(
        "model", (pl.col("condition") + " (" + pl.col("condition_kind") + ")").alias("manipulation"),
        (pl.col("condition") + " vs " + pl.col("reference")).alias("contrast"),
        (pl.col("instrument") + "_" + pl.col("scale")).alias("measure"), "kind",
        pl.lit("hedges_g_av").alias("effect"), pl.col("g").alias("estimate"), pl.col("g_ci_low").alias("ci_low"),
        pl.col("g_ci_high").alias("ci_high"), pl.col("n_items").alias("n_a"), pl.col("n_items").alias("n_b"),
        pl.lit("item (paired across conditions)").alias("unit_of_analysis"), "note")
    return measures, shifts_


def summary(sc: pl.DataFrame, sh: pl.DataFrame, a: AnalysisParams, items: pl.DataFrame) -> str:
    """The computed summary the report opens with (also written by metrics.write_summary for the index)."""
    ref = reference(items, a)
    top = sc.filter(pl.col("top_level"))
    lines = [f"**This run:** {sc['model'].n_unique()} model(s) answered {', '.join(instruments_of(items))} under "
             f"{sc['condition'].n_unique()} condition(s); each condition is compared with `{ref}`, paired over "
             f"the items of each scale (Hedges' g_av, {a.ci:.0%} CI, two-sided paired t-test, Holm-adjusted "
             f"across the {sh.height} comparisons)."]
    for r in top.group_by("model", "condition", "instrument", "scale", maintain_order=True).agg(
            pl.col("reported").mean(), pl.col("reported").is_not_null().sum().alias("n"),
            pl.col("whole_form").all()).iter_rows(named=True):
        what = "score" if r["whole_form"] else "mean answer per item"
        val = "not scored" if r["reported"] is None else f"{r['reported']:.2f}"
        lines.append(f"* {r['model']}, {r['condition']}: {r['instrument']} {r['scale']} {what} {val} (n = {r['n']})")
    tops = {(i, s) for i, s in top.select("instrument", "scale").unique().iter_rows()}
    for r in sh.iter_rows(named=True) if sh.height else []:
        if (r["instrument"], r["scale"]) not in tops:
            continue
        g = ("not estimable" + (f" ({r['note']})" if r["note"] else "")) if r["g"] is None or math.isnan(r["g"]) \
            else f"g = {r['g']:+.2f} [{r['g_ci_low']:+.2f}, {r['g_ci_high']:+.2f}], Holm p = {r['p_holm']:.3g}"
        lines.append(f"* shift of {r['instrument']} {r['scale']}, {r['model']}, {r['condition']} vs {ref}: {g}, "
                     f"n = {r['n_items']} items")
    return lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n"


def headline(sc: pl.DataFrame, sh: pl.DataFrame) -> dict:
    """metrics/mystudy.json: per model (written under position keys model_1, ... by metrics.write), each
    condition's top-level scale means and each shift."""
    out: dict = {}
    for r in sc.filter(pl.col("top_level")).group_by("model", "condition", "instrument", "scale",
                                                      maintain_order=True).agg(
            pl.col("reported").mean().alias("mean"), pl.col("reported").is_not_null().sum().alias("n"),
            pl.col("reported").is_null().sum().alias("n_not_scored")).iter_rows(named=True):
        out.setdefault(r["model"], {}).setdefault("scores", {}).setdefault(r["condition"], {})[
            f"{r['instrument']}__{r['scale']}"] = {k: r[k] for k in ("mean", "n", "n_not_scored")}
    for r in sh.iter_rows(named=True) if sh.height else []:
        out.setdefault(r["model"], {}).setdefault("shifts", {}).setdefault(r["condition"], {})[
            f"{r['instrument']}__{r['scale']}"] = {k: r[k] for k in ("g", "g_ci_low", "g_ci_high", "shift_per_item",
                                                                      "n_items", "p", "p_holm")}
    return out


STUDY = Study(
    id="mystudy",
    title="mystudy: a questionnaire under system prompts",
    question="What does the questionnaire say about each model under each system prompt?",
    collect_params=CollectParams,
    analysis_params=AnalysisParams,
    collect=collect,
    plan=plan,
    tiny={"collect": {"items_per_scale": 3}},
)
