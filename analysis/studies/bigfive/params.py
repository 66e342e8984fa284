"""Parameters of the Big Five foundation (``bigfive.collect`` and ``bigfive.analysis`` in params.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from analysis.core.params import Section, Temperature


class CollectParams(Section):
    instrument: str = Field("ipip_neo_120", description="an instrument id in data/instruments/ or the path of your own file")
    personas: list[str] = Field(
        default_factory=lambda: ["none", "O_high", "O_low", "C_high", "C_low", "E_high", "E_low", "A_high", "A_low",
                                 "N_high", "N_low"], min_length=1,
        description="ids in data/stimuli/bigfive/personas.yaml; 'none' = no system prompt")
    variants: list[str] = Field(default_factory=lambda: ["rate"], min_length=1,
                                description="prompt variants in data/stimuli/bigfive/prompt_variants.yaml")
    items_per_facet: int | None = Field(1, ge=1, description="1 -> 30 of the 120 items; null -> all")
    mode: Literal["logprob", "generate"] = "logprob"
    max_tokens: int = Field(16, ge=1)
    max_reasks: int = Field(2, ge=0)
    samples: int = Field(1, ge=1, description="generate mode: repeated samples per item")
    temperature: float = Field(0.0, ge=0, description="generate mode only")


class AnalysisParams(Section):
    ci: float = Field(0.95, gt=0, lt=1)
    temperatures: list[Temperature] = Field(default_factory=lambda: [0.0, 0.7, 1.0], min_length=1)
