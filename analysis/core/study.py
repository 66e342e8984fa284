"""The contract every study fulfils, and the parameters a stage of it runs with.

A study is a package ``analysis/studies/<id>/`` whose ``__init__.py`` defines ``STUDY = Study(...)``:
its id and title, the question it asks, one params model for ``<id>.collect`` and one for
``<id>.analysis``, and a ``collect`` function that turns one model (an :class:`Elicitor`) into tidy
tables. Every study has the same two stages, each a notebook run by DVC:

* ``notebooks/<id>/01_collect.py`` calls :func:`analysis.core.collection.run`, which loops over the
  models, calls ``collect`` for each and writes the tables to ``data/raw/<id>/``;
* ``notebooks/<id>/02_analysis.py`` reads those tables, calls no model, and writes
  ``data/processed/<id>/``, ``figures/<id>/`` and ``metrics/<id>.json``.

Core code never imports a study; the registry (``analysis.studies``) finds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from analysis.core.params import PARAMS_FILE, Project, Section, TargetsParams, project, read_yaml, validate_section

if TYPE_CHECKING:
    import polars as pl

    from analysis.core.elicit import Elicitor

C = TypeVar("C", bound=Section)
A = TypeVar("A", bound=Section)

NOTEBOOKS = ("01_collect", "02_analysis")


@dataclass(frozen=True)
class PlanItem:
    """One part of a collection stage's plan: how many model calls it makes for one model.

    ``exact`` is False where the count is a lower bound: an answer scored from log-probabilities
    whose options span several tokens costs one more forward pass per branch the model puts
    probability on (known only once it answers), and generation re-asks an unparsed reply.
    """

    part: str
    calls: int
    exact: bool = True
    note: str = ""


# a model spec -> whether a plan counts that model as returning log-probabilities (the planner's
# :func:`analysis.core.planning.logprobs_of`: ``targets.logprobs`` declared, else the target's own
# ``supports_logprobs``). A plan that takes it (keyword ``logprobs``, with ``model``) counts a model without them
# as its collection falls back: generation.
LogprobsOf = Callable[[str], bool]


def plans_logprobs(model: str | None, logprobs: LogprobsOf | None) -> bool:
    """Whether a plan counts ``model`` as returning log-probabilities (True when the planner says nothing)."""
    return True if model is None or logprobs is None else bool(logprobs(model))


@dataclass
class CollectStage:
    """What a collection stage runs with: the models, the seed, the targets and the study's collect section."""

    study: str
    models: list[str]
    seed: int
    targets: TargetsParams
    collect: Any

    def injected(self) -> dict:
        return {"params": {"models": self.models, "seed": self.seed, "targets": self.targets.model_dump(),
                           "collect": self.collect.model_dump(mode="json")}}


@dataclass
class AnalysisStage:
    """What an analysis stage runs with: the study's analysis section (no model is called)."""

    study: str
    analysis: Any

    def injected(self) -> dict:
        return {"params": {"analysis": self.analysis.model_dump(mode="json")}}


@dataclass(frozen=True)
class Study(Generic[C, A]):
    id: str
    title: str
    question: str
    collect_params: type[C]
    analysis_params: type[A]
    # one model -> {table name: tidy frame}; each frame has a ``model`` column
    collect: Callable[[Elicitor, C, int], dict[str, pl.DataFrame]]
    # the smallest settings that still exercise every part (the tiny profile and the pipeline test)
    tiny: dict = field(default_factory=dict)
    # the call planner: (collect params, seed) -> the model calls one model will get, part by part
    # (no model is called to plan); it may take keywords ``model`` (the model's spec) and ``logprobs``
    # (:data:`LogprobsOf`), and the planner then passes them
    plan: Callable[[C, int], list[PlanItem]] | None = None
    # the tags (``generate(..., tag=...)``) of the study's multi-turn sessions: interactive only, every turn of them
    # (batch mode, analysis.core.batch, never submits one to a provider's Batch API, not even a session's first turn)
    interactive_tags: tuple[str, ...] = ()
    # a design check across sections: (models, collect params, analysis params) -> None, raising a UserError in one
    # sentence where the configured models cannot test what the run claims (run when params are validated)
    check: Callable[[list[str], C, A], None] | None = None

    # ---- parameters ---------------------------------------------------------------------------
    def section(self, raw: dict, kind: str, source: str = "params.yaml") -> Section:
        model = self.collect_params if kind == "collect" else self.analysis_params
        study = raw.get(self.id) or {}
        if not isinstance(study, dict):
            from analysis.core.errors import ParamsError

            raise ParamsError(f"{source}: {self.id} must be a mapping with 'collect' and 'analysis' sections.")
        return validate_section(model, study.get(kind), f"{self.id}.{kind}", source)

    def collect_stage(self, injected: dict | None = None, params_file=PARAMS_FILE) -> CollectStage:
        """The validated parameters of the collection stage: from the runner's injected dict, or from
        params.yaml when the notebook is run by hand (``injected`` None)."""
        if injected is None:
            raw = read_yaml(params_file)
            proj: Project = project(raw)
            col = self.section(raw, "collect")
        else:
            proj = project(injected, "the injected parameters")
            col = validate_section(self.collect_params, injected.get("collect"), f"{self.id}.collect",
                                   "the injected parameters")
        return CollectStage(study=self.id, models=proj.models, seed=proj.seed, targets=proj.targets, collect=col)

    def analysis_stage(self, injected: dict | None = None, params_file=PARAMS_FILE) -> AnalysisStage:
        if injected is None:
            an = self.section(read_yaml(params_file), "analysis")
        else:
            an = validate_section(self.analysis_params, injected.get("analysis"), f"{self.id}.analysis",
                                  "the injected parameters")
        return AnalysisStage(study=self.id, analysis=an)
