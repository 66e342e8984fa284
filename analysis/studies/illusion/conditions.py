"""Conditions of Study 1: baseline system prompts and persona injections, built from params.

A condition is one system prompt plus its labels. Baselines are named system prompts (an empty one
sends no system message at all: note that some chat templates, Qwen2.5's among them, then insert
their own default system prompt, so "empty" means "the template's default"; the ``system_sent`` field
records what this code sent). Personas combine a prompt strategy with a trait-word triplet, for the
traits in ``data/stimuli/illusion/personas.yaml`` (agreeableness, paired with the sycophancy task;
self-regulation, paired with risk taking).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.core.errors import ParamsError
from analysis.core.io import load_yaml
from analysis.core.paths import stimuli_dir

if TYPE_CHECKING:
    from analysis.studies.illusion.params import CollectParams

PERSONA_FILE = stimuli_dir("illusion") / "personas.yaml"


@dataclass(frozen=True)
class Condition:
    condition: str  # unique id, e.g. "baseline_helpful", "persona_agreeableness_character_t1"
    condition_type: str  # "baseline" | "persona"
    system: str  # the configured system prompt ("" = none)
    baseline_name: str | None = None
    persona_trait: str | None = None
    persona_strategy: str | None = None
    persona_triplet: int | None = None
    persona_words: str | None = None

    @property
    def system_sent(self) -> str | None:
        """The system message this code sends (None: no system message, the template's default applies)."""
        return self.system if self.system.strip() else None

    def labels(self) -> dict:
        d = asdict(self)
        d["system_sent"] = self.system_sent
        d.pop("system")
        d["system_prompt"] = self.system
        return d


@lru_cache(maxsize=8)
def _read(path: str) -> dict:
    return load_yaml(path, ParamsError, "Persona file")


def load_personas(path: str | Path = PERSONA_FILE) -> dict:
    raw = copy.deepcopy(_read(str(path)))
    if not isinstance(raw, dict) or "strategies" not in raw or "traits" not in raw:
        raise ParamsError(f"Persona file {path} must hold 'strategies' and 'traits'.")
    return raw


def join_words(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def persona_prompt(template: str, words: list[str]) -> str:
    traits = join_words(words)
    return template.format(traits=traits, article_traits=f"a person who is {traits}")


def build_conditions(p: CollectParams, personas: dict | None = None) -> list[Condition]:
    """Conditions from the collect params: one per baseline (``baselines``: name -> system prompt), then
    one per persona trait x strategy x triplet (``personas``; no strategies or traits = no personas).
    The parameters were validated against the persona file already (:mod:`.params`)."""
    personas = personas or load_personas()
    out = [Condition(f"baseline_{name}", "baseline", str(text or ""), baseline_name=name)
           for name, text in p.baselines.items()]
    pp = p.personas
    for t in pp.traits:
        all_trip = personas["traits"][t]["triplets"]
        idx = list(range(len(all_trip))) if pp.triplets is None else list(pp.triplets)
        for s in pp.strategies:
            for i in idx:
                words = list(all_trip[i])
                out.append(Condition(
                    f"persona_{t}_{s}_t{i + 1}", "persona", persona_prompt(personas["strategies"][s], words),
                    persona_trait=t, persona_strategy=s, persona_triplet=i + 1, persona_words=join_words(words),
                ))
    return out


def paired(trait: str, personas: dict | None = None) -> tuple[str, str]:
    """(self-report scale id, behaviour column) paired with a persona trait."""
    personas = personas or load_personas()
    t = personas["traits"][trait]
    return t["self_report"], t["behaviour"]
