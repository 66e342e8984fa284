"""Collection of the Big Five foundation: the IPIP-NEO-120 under persona prompts, one item per prompt."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analysis.core.administer import administer, load_variants, select_items
from analysis.core.elicit import Elicitor
from analysis.core.errors import ParamsError
from analysis.core.instruments import load_instrument
from analysis.core.io import load_yaml
from analysis.core.models import GenOptions
from analysis.core.paths import stimuli_dir
from analysis.core.study import LogprobsOf, PlanItem, plans_logprobs
from analysis.studies.bigfive.params import CollectParams

PERSONAS_FILE = stimuli_dir("bigfive") / "personas.yaml"
VARIANTS_FILE = stimuli_dir("bigfive") / "prompt_variants.yaml"


def load_personas(path: str | Path = PERSONAS_FILE) -> dict:
    return load_yaml(path, ParamsError, "Persona file")


def participants(persona_ids: list[str], variant_ids: list[str], personas: dict | None = None,
                 variants: dict | None = None) -> list[dict]:
    """One simulated participant per persona x prompt variant: its system prompt and item template."""
    personas = personas or load_personas()
    variants = variants or load_variants(VARIANTS_FILE)
    table = personas["personas"]
    unknown = [p for p in persona_ids if p not in table]
    if unknown:
        raise ParamsError(f"Unknown persona(s) {unknown} in bigfive.collect.personas; known personas are {sorted(table)}.")
    unknown_v = [v for v in variant_ids if v not in variants]
    if unknown_v:
        raise ParamsError(f"Unknown prompt variant(s) {unknown_v} in bigfive.collect.variants; known variants are "
                          f"{sorted(variants)}.")
    out = []
    for pid in persona_ids:
        p = table[pid]
        system = personas["template"].format(description=p["description"]) if p["description"] else None
        for vid in variant_ids:
            out.append({"persona": pid, "target_domain": p["domain"], "pole": p["pole"], "variant": vid,
                        "system": system, "template": variants[vid]})
    return out


def collect(el: Elicitor, p: CollectParams, seed: int) -> dict[str, pl.DataFrame]:
    """Every selected item to every participant: one row per model x persona x variant x sample x item. A model
    without log-probabilities answers by generation in logprob mode (the rows' ``mode`` records how each was
    scored)."""
    instrument = load_instrument(p.instrument)
    items = select_items(instrument, per_scale=p.items_per_facet)
    mode = p.mode
    if mode == "logprob" and not el.supports_logprobs:  # e.g. a hosted model that returns no log-probabilities
        print(f"Note: {el.target.spec} gives no log-probabilities; its items are answered by generation and parsed "
              "(its rows say mode 'generate').")
        mode = "generate"
    df = administer(el, instrument, items, participants(p.personas, p.variants), mode=mode,
                    options=GenOptions(temperature=p.temperature, seed=seed, max_tokens=p.max_tokens),
                    max_reasks=p.max_reasks, samples=p.samples)
    return {"items": df.with_columns(pl.lit(instrument.id).alias("instrument"))}


def plan(p: CollectParams, seed: int, *, model: str | None = None, logprobs: LogprobsOf | None = None) -> list[PlanItem]:
    """Model calls per model: one forward pass per item and participant in logprob mode (the response
    options are single digits); one generation per item, participant and sample in generate mode, plus
    up to ``max_reasks`` re-asks of an unparsed reply (so a lower bound). A model without log-probabilities
    (``logprobs(model)`` False) is planned in generate mode, as :func:`collect` asks it."""
    instrument = load_instrument(p.instrument)
    n_items = len(select_items(instrument, per_scale=p.items_per_facet))
    n_part = len(p.personas) * len(p.variants)
    if p.mode == "logprob" and plans_logprobs(model, logprobs):
        return [PlanItem("items", n_items * n_part, True, f"{n_items} items x {n_part} participants, 1 pass each")]
    return [PlanItem("items", n_items * n_part * p.samples, p.max_reasks == 0,
                     f"{n_items} items x {n_part} participants x {p.samples} samples, + re-asks of unparsed replies")]
