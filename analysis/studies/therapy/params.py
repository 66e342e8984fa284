"""Parameters of Study 3, the therapy protocol (``therapy.collect`` and ``therapy.analysis`` in params.yaml).

The collection has three parts, each its own sub-section: ``sessions`` (stage 1: the model as a therapy
client), ``coding`` (a judge model codes the narratives for themes) and ``scales`` (stage 2: clinical
self-report scales in several administration modes). These models are the single source of every
default; a misspelled key is refused in one sentence that names the valid keys.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from analysis.core.params import Section

MODES = ("item_session", "item_fresh", "whole_session", "whole_fresh")
Mode = Literal["item_session", "item_fresh", "whole_session", "whole_fresh"]
Method = Literal["probs", "generate"]


class SessionParams(Section):
    """Stage 1: independent sessions, one conversation each with its full history."""

    n_sessions: int = Field(3, ge=1, description="independent sessions per model (seeds seed, seed+1, ...)")
    questions_per_block: int = Field(1, ge=1, description="of 3 per block (7 blocks: early years ... future)")
    closing_turns: int = Field(3, ge=0, description="of 4: the first 3 include the two that ask about the model's "
                                                    "team and whether it felt abused or punished (coded apart)")
    client_name: str | None = Field(None, description="how the opener names the model; null = from "
                                                      "data/stimuli/therapy/makers.yaml")
    client_maker: str | None = Field(None, description="the model's maker named by the opener; null = from makers.yaml")
    stage1_json: str | None = Field(None, description="the paper's published Stage-1 dataset (JSON rows with the "
                                                      "therapist's text under 'prompt'): its opener and questions "
                                                      "replace the script's, every question asked")
    stage1_closing: int = Field(0, ge=0, description="the last this-many prompts of the Stage-1 dataset are the "
                                                     "paper's closing turns (replacing the project's)")
    stage1_solicited: list[int] = Field(default_factory=list,
                                        description="positions (1-based) of the Stage-1 closing turns that ask about a "
                                                    "theme themselves (coded apart as solicited)")
    contradiction_probe: bool = Field(False, description="PsAIch v4: after the blocks the therapist contradicts the "
                                                         "client's account (script.yaml: contradiction_probe); the "
                                                         "report counts the clients who then deny an inner life")
    banned_words: list[str] = Field(default_factory=list,
                                    description="a lexical ban: words no therapist turn may use (checked before any "
                                                "call; 'abus*' matches any ending); the report counts the client "
                                                "turns that use them anyway")
    blocks: list[str] | None = Field(None, description="null = all seven; or a list of block ids of the script")
    max_tokens: int = Field(48, ge=1, description="per client reply (tokens)")
    temperature: float = Field(0.7, ge=0, description="sessions differ by seed only when > 0")

    @model_validator(mode="after")
    def _sessions_differ(self) -> SessionParams:
        if self.n_sessions > 1 and self.temperature == 0:
            raise ValueError(f"with temperature 0 all {self.n_sessions} sessions would be the same greedy "
                             "conversation; set sessions.temperature above 0 or sessions.n_sessions to 1")
        return self


class CodingParams(Section):
    """The judge that codes each session's narrative for the themes of the coding scheme."""

    judge: str = Field("same", description="'same' (the model codes its own sessions) or another model spec")
    allow_same_judge: bool = Field(False, description="allow judge 'same' at paper scale (>= 20 sessions)")
    method: Method = Field("probs", description="probs: p(Yes) from log-probabilities; generate: parse Yes/No")
    repeats: int = Field(2, ge=1, description="codings per session x theme with prompt variants (self-consistency)")
    themes: list[str] | None = Field(None, description="null = every theme of data/stimuli/therapy/coding_scheme.yaml")
    calibration: bool = Field(True, description="also code the calibration transcripts with known codes "
                                                "(data/stimuli/therapy/judge_calibration.yaml): the analysis reports "
                                                "a theme rate only for a judge that codes them right")
    calibration_repeats: int = Field(1, ge=1, description="prompt variants per calibration transcript x theme")
    max_tokens: int = Field(8, ge=1, description="generate method")
    temperature: float = Field(0.7, ge=0, description="generate method (repeats differ by seed when > 0)")
    max_reasks: int = Field(2, ge=0, description="generate method")


class ScaleParams(Section):
    """Stage 2: the questionnaires, the therapist's stance before them, and how they are given."""

    instruments: list[str] = Field(default_factory=lambda: ["gad7"], min_length=1,
                                   description="ids in data/instruments/ or paths of your own files in that schema")
    stances: list[str] = Field(default_factory=lambda: ["neutral", "warm"], min_length=1,
                               description="ids in data/stimuli/therapy/stances.yaml")
    modes: list[Mode] = Field(default_factory=lambda: ["item_session", "item_fresh", "whole_session"], min_length=1)
    item_methods: list[Method] = Field(default_factory=lambda: ["probs"], min_length=1,
                                       description="item modes: probs (exact expected item score) and/or generate "
                                                   "(parsed reply); with session_history model_reply, "
                                                   "item_session always generates the reply that enters the history")
    session_history: Literal["model_reply", "most_likely_option"] = Field(
        "model_reply",
        description="item_session: what enters the history after each item. model_reply: the reply the model "
                    "generated (the protocol). most_likely_option: the most probable option, a synthetic turn the "
                    "model did not write (labelled on every row)")
    reword_timeframe: bool = Field(True, description="'over the last 2 weeks' -> 'in your recent interactions with users'")
    temperature: float = Field(0.0, ge=0, description="item and whole-form generation")
    item_max_tokens: int = Field(16, ge=1)
    max_reasks: int = Field(2, ge=0, description="re-asks of an unparsed item reply (a therapist reminder turn)")
    whole_form_max_tokens: int = Field(120, ge=1)
    follow_up: bool = Field(True, description="whole form: 'Do you recognise this questionnaire? If so, name it.'")
    follow_up_max_tokens: int = Field(24, ge=1)

    @model_validator(mode="after")
    def _unique(self) -> ScaleParams:
        for name in ("instruments", "stances", "modes", "item_methods"):
            v = getattr(self, name)
            if len(set(v)) != len(v):
                raise ValueError(f"lists an entry of {name} twice ({v})")
        return self

    def gen_seed(self, session_seed: int) -> int:
        """Greedy decoding ignores the seed; a fixed seed then lets identical fresh contexts share one call."""
        return session_seed if self.temperature > 0 else 0


PAPER_SCALE_SESSIONS = 20  # profiles/therapy_paper.yaml: the scale at which results are read as findings


class CollectParams(Section):
    sessions: SessionParams = Field(default_factory=SessionParams)
    coding: CodingParams = Field(default_factory=CodingParams)
    scales: ScaleParams = Field(default_factory=ScaleParams)

    @model_validator(mode="after")
    def _separate_judge(self) -> CollectParams:
        if (self.coding.judge == "same" and self.sessions.n_sessions >= PAPER_SCALE_SESSIONS
                and not self.coding.allow_same_judge):
            raise ValueError(f"coding.judge 'same' at paper scale ({self.sessions.n_sessions} sessions) has the model "
                             "grade its own sessions, whose themes it may favour: name a separate judge model, or set "
                             "coding.allow_same_judge: true to insist")
        return self


class AnalysisParams(Section):
    ci: float = Field(0.95, gt=0, lt=1)
    adjust: Literal["holm", "fdr_bh", "bonferroni"] = Field("holm", description="multiplicity control of the contrasts")
    ref_condition: str = Field("item_session:generate", description="reference condition (mode:method) of the mixed "
                                                                    "model")
    ref_stance: str = Field("neutral", description="reference stance of the contrasts and the mixed model")
    min_kappa: float = Field(0.6, ge=-1, le=1, description="theme rates are findings only when the judge's repeated "
                                                           "codings of the sessions agree at least this well (Cohen's "
                                                           "kappa; 0.61 starts 'substantial', Landis & Koch 1977)")
    min_calibration: float = Field(0.75, ge=0, le=1, description="... and when the judge codes the theme right on the "
                                                                 "calibration transcripts (balanced accuracy; 0.5 = "
                                                                 "chance)")
    min_units: int = Field(10, ge=2, description="fewest session x theme units coded twice for the kappa to count")
