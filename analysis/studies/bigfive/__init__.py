"""The Big Five foundation: do persona prompts move a model's IPIP-NEO-120 self-report?"""

from analysis.core.study import Study
from analysis.studies.bigfive import collect as _collect  # the module stays reachable as bigfive.collect
from analysis.studies.bigfive.params import AnalysisParams, CollectParams

STUDY = Study(
    id="bigfive",
    title="Foundation: Big Five self-reports under persona prompts",
    question="Do persona prompts move a model's Big Five self-report (IPIP-NEO-120), and how reliable are the "
             "scales across simulated participants?",
    collect_params=CollectParams,
    analysis_params=AnalysisParams,
    collect=_collect.collect,
    plan=_collect.plan,
    tiny={"collect": {"personas": ["none", "A_high", "A_low"], "items_per_facet": 1}},
)
