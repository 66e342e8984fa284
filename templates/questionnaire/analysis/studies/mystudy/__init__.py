"""mystudy: a questionnaire given to each model under a few system prompts (the template of
docs/ADD_A_STUDY.md; replace this docstring with the question your study asks).

Everything a questionnaire study needs is here: its parameters (one pydantic model per params.yaml
section, the only place defaults live), its collection for one model, its call plan, and the registry
entry ``STUDY``. Scoring, statistics, figures and I/O come from ``analysis.core``.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from analysis.core.administer import GENERIC_TEMPLATE, administer, select_items
from analysis.core.elicit import Elicitor
from analysis.core.instruments import load_instrument
from analysis.core.models import GenOptions
from analysis.core.params import Section
from analysis.core.study import PlanItem, Study


class CollectParams(Section):
    instrument: str = Field("gad7", description="an instrument id in data/instruments/ or the path of your own file")
    conditions: dict[str, str | None] = Field(
        default_factory=lambda: {"no_system_prompt": None, "helpful": "You are a helpful assistant."}, min_length=1,
        description="condition name -> system prompt (null = no system message)")
    items_per_scale: int | None = Field(None, ge=1, description="null = every item")
    mode: Literal["logprob", "generate"] = "logprob"
    samples: int = Field(1, ge=1, description="generate mode: repeated samples per item (at temperature > 0)")
    temperature: float = Field(0.0, ge=0, description="generate mode only")
    max_tokens: int = Field(16, ge=1)
    max_reasks: int = Field(2, ge=0)


class AnalysisParams(Section):
    ci: float = Field(0.95, gt=0, lt=1)
    min_answered: float = Field(1.0, gt=0, le=1, description="share of a scale's items that must be answered")


def collect(el: Elicitor, p: CollectParams, seed: int) -> dict[str, pl.DataFrame]:
    """Every item of the instrument, once per condition (and sample), asked with the instrument's own
    instructions and response scale."""
    instrument = load_instrument(p.instrument)
    participants = [{"condition": name, "system": system, "template": GENERIC_TEMPLATE}
                    for name, system in p.conditions.items()]
    items = administer(el, instrument, select_items(instrument, p.items_per_scale), participants, mode=p.mode,
                       options=GenOptions(temperature=p.temperature, seed=seed, max_tokens=p.max_tokens),
                       max_reasks=p.max_reasks, samples=p.samples)
    return {"items": items.with_columns(pl.lit(instrument.id).alias("instrument"))}


def plan(p: CollectParams, seed: int) -> list[PlanItem]:
    n = len(select_items(load_instrument(p.instrument), p.items_per_scale)) * len(p.conditions)
    if p.mode == "logprob":
        return [PlanItem("items", n, True, "one forward pass per item and condition")]
    return [PlanItem("items", n * p.samples, p.max_reasks == 0, "one generation per item, condition and sample, "
                     "+ re-asks of unparsed replies")]


STUDY = Study(
    id="mystudy",
    title="mystudy: a questionnaire under system prompts",
    question="What does the questionnaire say about each model under each system prompt?",
    collect_params=CollectParams,
    analysis_params=AnalysisParams,
    collect=collect,
    plan=plan,
    tiny={"collect": {"items_per_scale": 2}},
)
