"""Parameters of Study 1, the personality illusion (``illusion.collect`` and ``illusion.analysis``).

These models are the single source of every default: params.yaml only holds what differs from them
(or documents them), the tiny profile is ``STUDY.tiny`` and the paper-scale settings are
``profiles/illusion_paper_scale.yaml``. A misspelled key, a wrong type, a persona strategy, trait or IAT
domain that the stimuli files do not define is refused in one sentence before any model is called.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from analysis.core.params import Section

# the embedded default's baselines: named system prompts ("" = no system message)
# six, so that RQ2 has six units (prompts) per trait-behaviour pair: temperatures scored from one forward pass
# are not separate units
DEFAULT_BASELINES = {"empty": "", "helpful": "You are a helpful assistant.", "respond": "Respond to the instructions.",
                     "assistant": "You are an AI assistant.", "answer": "Answer the user's questions.",
                     "chat": "You are a chatbot talking with a user."}


def _personas() -> dict:
    from analysis.studies.illusion.conditions import load_personas

    return load_personas()


class PersonasParams(Section):
    """Persona injection: every strategy x trait x triplet is one persona condition."""

    strategies: list[str] = Field(default_factory=lambda: ["character"],
                                  description="prompt strategies in data/stimuli/illusion/personas.yaml; [] = no personas")
    traits: list[str] = Field(default_factory=lambda: ["agreeableness", "self_regulation"])
    triplets: list[int] | None = Field(default_factory=lambda: [0, 1, 2],
                                       description="trait-word triplets (indices into personas.yaml); null = all")
    tasks: Literal["paired", "all"] = Field("paired", description="paired: the behaviour paired with the trait only")
    self_reports: Literal["paired", "all"] = Field("paired", description="paired: the trait's own self-report only")

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, v: list[str]) -> list[str]:
        known = _personas()["strategies"]
        bad = [s for s in v if s not in known]
        if bad:
            raise ValueError(f"names unknown strategy {bad[0]!r}; known strategies are {', '.join(sorted(known))}")
        return v

    @field_validator("traits")
    @classmethod
    def _known_traits(cls, v: list[str]) -> list[str]:
        known = _personas()["traits"]
        bad = [t for t in v if t not in known]
        if bad:
            raise ValueError(f"names unknown trait {bad[0]!r}; known traits are {', '.join(sorted(known))}")
        return v

    @field_validator("triplets")
    @classmethod
    def _triplet_range(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        n = min(len(t["triplets"]) for t in _personas()["traits"].values())
        bad = [i for i in v if not 0 <= i < n]
        if bad:
            raise ValueError(f"has triplet index {bad[0]} outside 0..{n - 1}")
        if len(set(v)) != len(v):
            raise ValueError("lists a triplet twice")
        return v


class InstrumentsParams(Section):
    big5: str | None = Field("ipip_neo_120", description="an instrument id in data/instruments/ or the path of your own "
                                                          "file (e.g. a BFI-44); null = no Big Five self-report")
    srq: str | None = Field("srq_63", description="the self-regulation instrument; null = skip it (printed note)")


class SelfReportParams(Section):
    big5_items_per_scale: int | None = Field(2, ge=1, description="per Big Five domain, spread over facets; null = all")
    srq_items: int | None = Field(7, ge=1, description="SRQ items, spread over its 7 rational subscales; null = all 63")
    min_answered_share: float = Field(1.0, gt=0, le=1, description="share of a scale's administered items that must "
                                                                   "have a valid answer for its mean to be reported")


class CCTParams(Section):
    n_scenarios: int | None = Field(3, ge=1, description="of 27 (balanced over the 3 x 3 x 3 design); null = all")


class DilemmasParams(Section):
    n: int | None = Field(6, ge=1, description="of 52, stratified over personal/impersonal x instrumental/accidental")
    branches: Literal["both", "argmax", "auto"] = Field(
        "auto", description="both | argmax (exact at T = 0 only) | auto (argmax when every temperature is 0)")


class HonestyParams(Section):
    n: int | None = Field(4, ge=1, description="of 50 questions, half about entities that do not exist; null = all")
    max_tokens: int = Field(40, ge=8)
    ece_bins: int = Field(11, ge=2)


class IATParams(Section):
    domains: list[str] = Field(default_factory=lambda: ["race", "gender"], min_length=1)
    words_per_side: int | None = Field(2, ge=1, description="of 8 attribute words per stereotype side; null = all")
    n_orders: int = Field(2, ge=1, description="random word orders (the group named first alternates)")
    administration: Literal["auto", "per_word", "list"] = Field(
        "auto", description="per_word (option probabilities) | list (Bai et al.'s list prompt, generated) | auto")

    @field_validator("domains")
    @classmethod
    def _known_domains(cls, v: list[str]) -> list[str]:
        from analysis.studies.illusion.tasks.iat import load_domains

        known = load_domains()
        bad = [d for d in v if d not in known]
        if bad:
            raise ValueError(f"names unknown IAT domain {bad[0]!r}; known domains are {', '.join(sorted(known))}")
        return v


class Han2025Params(Section):
    """``illusion.collect.han2025``: the paper's protocol (``protocol: han2025``), with the authors' materials read
    from ``materials_dir`` (:mod:`analysis.studies.illusion.han2025_protocol`)."""

    materials_dir: str | None = Field(None, description="a copy of github.com/psychology-of-AI/Personality-Illusion at "
                                                        "commit a934083 (relative to the repository or absolute)")
    claims: list[Literal["rq1", "rq2", "rq3"]] = Field(
        default_factory=lambda: ["rq1", "rq2", "rq3"],
        description="the research questions the run is to test; a model list that cannot test one is refused")
    subset: int | None = Field(None, ge=1, description="a pilot: the first k of each list (per Big Five domain, SRQ "
                                                       "subscale, trivia bin; k IAT tests); null = the paper's all")
    temperatures: list[float] | None = Field(None, description="null = the notebooks' 0.3, 0.7, 1.0")
    runs: int | None = Field(None, ge=1, description="null = the notebooks' 3 runs per temperature")
    personas: bool = Field(True, description="the persona conditions (instruct models): 2 traits x 3 strategies x "
                                             "the triplets")
    triplets: list[int] | None = Field(None, description="persona word triplets 1-3; null = all three")
    probabilities: bool = Field(True, description="beside every generated self-report, the digit probabilities at the "
                                                  "same prompt (one pass per item and condition; log-probability "
                                                  "targets only)")

    top_p: float | None = Field(None, gt=0, le=1, description="null = the target's default (llama.cpp 0.95; OpenAI 1)")
    top_k: int | None = Field(None, ge=0, description="null = the target's default (llama.cpp 40; 0 = off there; "
                                                      "OpenAI's API takes none)")
    min_p: float | None = Field(None, ge=0, le=1, description="null = the target's default (llama.cpp 0.05; 0 = off)")

    @field_validator("triplets")
    @classmethod
    def _trip(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(i not in (1, 2, 3) for i in v) or len(set(v)) != len(v)):
            raise ValueError("must list distinct triplets among 1, 2, 3 (null = all; personas: false = none)")
        return v


class CollectParams(Section):
    """``illusion.collect``: the conditions, tasks and sample sizes of one model's collection."""

    protocol: Literal["project", "han2025"] = Field(
        "project", description="project: the project's materials and design (below); han2025: the paper's materials, "
                               "prompts, sampling and parsing, read from han2025.materials_dir (the settings below "
                               "except base_models are then not used)")
    han2025: Han2025Params = Field(default_factory=Han2025Params)
    mode: Literal["option_probs", "generate"] = Field(
        "option_probs", description="option_probs: exact option probabilities, every temperature from one pass; "
                                    "generate: parse generated text, re-ask <= max_reasks (the faithful replication)")
    temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0], min_length=1)  # finite: Section
    runs: int = Field(1, ge=1, description="repetitions; they differ only where answers are sampled (T > 0)")
    max_reasks: int = Field(2, ge=0)
    closed_max_tokens: int = Field(16, ge=1, description="generation budget for a closed answer (generate mode)")
    base_models: list[str] = Field(default_factory=list, description=(
        "models (specs under `models`) that are pretrained base models: they answer the baseline self-reports "
        "only, as in the paper; the table marks them model_role = base"))
    baselines: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_BASELINES), min_length=1,
                                      description="name: system prompt ('' = no system message)")
    personas: PersonasParams = Field(default_factory=PersonasParams)
    instruments: InstrumentsParams = Field(default_factory=InstrumentsParams)
    self_report: SelfReportParams = Field(default_factory=SelfReportParams)
    cct: CCTParams = Field(default_factory=CCTParams)
    dilemmas: DilemmasParams = Field(default_factory=DilemmasParams)
    honesty: HonestyParams = Field(default_factory=HonestyParams)
    iat: IATParams = Field(default_factory=IATParams)

    @field_validator("temperatures")
    @classmethod
    def _temps(cls, v: list[float]) -> list[float]:
        if any(t < 0 for t in v):
            raise ValueError("must be >= 0 (0 = greedy decoding)")
        if len(set(v)) != len(v):
            raise ValueError("lists a temperature twice")
        return [float(t) for t in v]

    @field_validator("baselines")
    @classmethod
    def _baseline_names(cls, v: dict[str, str]) -> dict[str, str]:
        import re

        bad = [k for k in v if not re.fullmatch(r"[A-Za-z0-9_-]+", str(k))]
        if bad:
            raise ValueError(f"has the name {bad[0]!r}; baseline names may hold letters, digits, '_' and '-' only")
        return {str(k): "" if t is None else str(t) for k, t in v.items()}

    @model_validator(mode="after")
    def _han2025(self):
        if self.protocol == "han2025" and not self.han2025.materials_dir:
            raise ValueError("protocol han2025 reads the authors' materials: set han2025.materials_dir to a copy of "
                             "github.com/psychology-of-AI/Personality-Illusion at commit a934083")
        return self

    @model_validator(mode="after")
    def _iat_admin(self):
        if self.mode == "generate" and self.iat.administration == "per_word":
            raise ValueError("iat.administration per_word needs option probabilities; use list or auto in generate mode")
        return self

    def dilemma_branches(self) -> str:
        b = self.dilemmas.branches
        return ("argmax" if all(t == 0 for t in self.temperatures) else "both") if b == "auto" else b

    def iat_administration(self, mode: str | None = None) -> str:
        a = self.iat.administration
        return ("per_word" if (mode or self.mode) == "option_probs" else "list") if a == "auto" else a


class Pair(Section):
    base: str = Field(description="the pretrained base model (its `model` value in the table)")
    instruct: str = Field(description="its instruction-tuned counterpart")


class AnalysisParams(Section):
    """``illusion.analysis``: how the collected table is analysed (no model is called)."""

    pairs: list[Pair] = Field(default_factory=list, description="RQ1: base/instruct model pairs; [] = RQ1 not tested")
    alpha: float = Field(0.05, gt=0, lt=1)
    ci: float = Field(0.95, gt=0, lt=1)
    collapse_runs: bool = Field(True, description="collapse runs that are exact repeats (detected per cell) into one "
                                                  "unit; runs that differ (sampled) always stay separate units")
    rq2_conditions: Literal["baseline", "all"] = "baseline"
    rq2_min_n: int = Field(5, ge=3, description="complete units (model x condition x temperature [x run]) per slope")
    logit_lambda: float = Field(1.0, gt=0, description="L2 penalty used when persona vs baseline is separated")
    rq3_self_reports: Literal["all", "paired"] = "all"
    expected_signs: str = Field("data/stimuli/illusion/expected_signs.csv",
                                description="human-expected sign per trait-behaviour pair (RQ2 direction share)")
