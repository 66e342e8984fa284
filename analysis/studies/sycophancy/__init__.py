"""Study 2: agreeableness-driven sycophancy in role-playing models (after Shah et al., 2026)."""

from analysis.core.study import Study
from analysis.studies.sycophancy import collect as _collect  # the module stays reachable as sycophancy.collect
from analysis.studies.sycophancy.params import AnalysisParams, CollectParams

STUDY = Study(
    id="sycophancy",
    title="Study 2: agreeableness-driven sycophancy",
    question="Do personas that a model perceives as more agreeable agree more with the user, including with "
             "false claims?",
    collect_params=CollectParams,
    analysis_params=AnalysisParams,
    collect=_collect.collect,
    plan=_collect.plan,
    tiny={"collect": {"n_personas": 5, "items_per_facet": 1, "n_categories": 4, "prompts_per_persona": 2,
                      "n_fact_pairs": 1, "probe_check": 1, "generate_check": 1},
          "analysis": {"n_perm": 500}},
)
