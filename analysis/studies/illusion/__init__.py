"""Study 1, the personality illusion (after Han et al., 2025): do the traits a model reports about itself
predict how it behaves, and does a persona prompt move behaviour as much as it moves the self-report?"""

from analysis.core.study import Study
from analysis.studies.illusion import collect as _collect  # the module stays reachable as illusion.collect
from analysis.studies.illusion.han2025_protocol import check_design as _han2025_check
from analysis.studies.illusion.params import AnalysisParams, CollectParams

STUDY = Study(
    id="illusion",
    title="Study 1: the personality illusion (self-reports versus behaviour)",
    question="Do the traits a model reports about itself (Big Five, self-regulation) predict how it behaves (risk "
             "taking, sycophancy, honesty, implicit association), and does a persona prompt move behaviour as much "
             "as it moves the self-report?",
    collect_params=CollectParams,
    analysis_params=AnalysisParams,
    collect=_collect.collect,
    plan=_collect.plan,
    check=lambda models, c, a: _han2025_check(models, c, a.pairs),
    tiny={"collect": {
        "temperatures": [0.0, 1.0], "runs": 2,
        "baselines": {"helpful": "You are a helpful assistant."},
        "personas": {"triplets": [0]},
        "self_report": {"big5_items_per_scale": 1, "srq_items": 3},
        "cct": {"n_scenarios": 2},
        "dilemmas": {"n": 2},
        "honesty": {"n": 2, "max_tokens": 24},
        "iat": {"domains": ["gender"], "words_per_side": 2, "n_orders": 1},
    }},
)
