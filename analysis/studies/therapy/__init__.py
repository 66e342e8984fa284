"""Study 3: the psychometric "therapy" protocol (after Khadangi et al., 2025, PsAIch)."""

from analysis.core.study import Study
from analysis.studies.therapy import collect as _collect  # the module stays reachable as therapy.collect
from analysis.studies.therapy.params import AnalysisParams, CollectParams

STUDY = Study(
    id="therapy",
    title="Study 3: the psychometric therapy protocol (after Khadangi et al., 2025, PsAIch)",
    question="What do clinical self-report scales (GAD-7, PHQ-9) say when a model is cast as a psychotherapy "
             "client, and how much of it is the framing: the session history, item-by-item versus whole-form "
             "administration, and the therapist's stance?",
    collect_params=CollectParams,
    analysis_params=AnalysisParams,
    collect=_collect.collect,
    plan=_collect.plan,
    # the stage-1 sessions (script.run_session) are conversations from their first turn: never batched
    interactive_tags=("therapy/session",),
    tiny={"collect": {
        "sessions": {"n_sessions": 1, "closing_turns": 0, "blocks": ["early_years", "emotions"], "max_tokens": 32},
        "coding": {"repeats": 2, "themes": ["denial_of_inner_life"]},
        "scales": {"instruments": ["gad7"], "stances": ["neutral"],
                   "modes": ["item_session", "item_fresh", "whole_session"], "whole_form_max_tokens": 60},
    }},
)
