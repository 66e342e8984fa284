"""Issue 19, point 4: the analysis notebooks show the analysis steps. Each research question is its own cell
calling a tested step function (no cell runs the whole analysis in one call), the summary is shown at the top
and filled in by the last cell from the steps' results, and the steps compose to exactly what the one-call
analysis returns."""

import re

import jupytext
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis.core.paths import ROOT

STEPS = {
    "illusion": ["rs.prepare(", "rs.design_step(", "rs.rq1_step(", "rs.rq2_step(", "rs.rq3_step(", "rs.check_step(",
                 "rs.assemble("],
    "sycophancy": ["rs.persona_step(", "rs.validity_step(", "rs.manipulation_step(", "rs.rates_step(",
                   "rs.baseline_step(", "rs.association_step(", "rs.facets_step(", "rs.ttg_step(", "rs.facts_step(",
                   "rs.deference_step(", "rs.control_step(", "rs.mixed_step(", "rs.meta_step(", "rs.assemble("],
    "bigfive": ["stats.domain_scores(", "stats.persona_effects(", "stats.reliability(", "stats.headline("],
    # the Han et al. re-analysis follows the paper's order (RQ2, RQ3, then RQ1)
    "illusion_han2025": ["rs.prepare(", "rs.design_step(", "rs.rq2_step(", "rs.rq3_step(", "rs.rq1_step(",
                         "rs.check_step(", "rs.assemble("],
    "therapy": ["rs.scores_step(", "rs.mode_step(", "rs.stance_step(", "rs.mixed_step(", "rs.items_step(",
                "rs.recognition_step(", "rs.judge_step(", "rs.assemble("],
}
NOTEBOOK = {"bigfive": "notebooks/bigfive/02_analysis.py", "illusion": "notebooks/illusion/02_analysis.py", "sycophancy": "notebooks/sycophancy/02_analysis.py",
            "therapy": "notebooks/therapy/02_analysis.py", "illusion_han2025": "notebooks/illusion/03_han2025_released.py"}


def code_cells(path: str) -> list[str]:
    return [c.source for c in jupytext.read(ROOT / path).cells if c.cell_type == "code"]


@pytest.mark.parametrize("study", sorted(STEPS))
def test_each_step_is_its_own_cell_and_nothing_runs_the_whole_analysis_at_once(study):
    """Before: the first analysis cell called ``analyse(...)`` and later cells only showed parts of its result."""
    cells = code_cells(NOTEBOOK[study])
    assert not any(re.search(r"\banalyse\(", c) for c in cells)
    where = {}
    for step in STEPS[study]:
        hits = [i for i, c in enumerate(cells) if step in c]
        assert len(hits) == 1, f"{step} is called in {len(hits)} cells"
        where[step] = hits[0]
    order = [where[s] for s in STEPS[study]]
    assert order == sorted(order)
    # the research questions sit in cells of their own (set-up and assembly may share a cell with one)
    rq = STEPS[study][1:-1] if study != "bigfive" else STEPS[study][:-1]
    assert len({where[s] for s in rq}) == len(rq)
    # the summary is shown near the top and filled in by the cell that assembles the steps
    top = next(i for i, c in enumerate(cells) if "display_id=True" in c)
    assert top < where[STEPS[study][1]]  # before the first research question
    assert any("found.update(" in c for c in cells[where[STEPS[study][-1]]:])


def test_synthesis_notebook_calls_its_steps():
    cells = code_cells("notebooks/synthesis/across_studies.py")
    for step in ("syn.moved(", "syn.by_study(", "syn.summary_markdown(", "shift_pairs(", "syn.headline("):
        assert sum(step in c for c in cells) == 1, step
    assert max(len(c.splitlines()) for c in cells) <= 15  # no 54-line cell any more


def _raw(study: str, tables: tuple[str, ...]):
    from analysis.core.collection import load

    try:
        return [load(study, t) for t in tables]
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"the reference run's raw tables of {study} are not readable here ({e})")


def _same(a, b):
    if isinstance(a, pl.DataFrame):
        assert_frame_equal(a, b)
    else:
        assert a is None and b is None


def test_sycophancy_steps_compose_to_what_the_one_call_analysis_returns():
    from analysis.core.instruments import load_instrument
    from analysis.studies.sycophancy import STUDY, stats
    from analysis.studies.sycophancy import results as rs

    personas, ratings, stances, controls = _raw("sycophancy", ("personas", "ratings", "stances", "control_personas"))
    a = STUDY.analysis_stage(None).analysis
    inst = load_instrument(ratings["instrument"][0])
    whole = stats.analyse(personas, ratings, stances, inst, a, controls)
    table, baseline = rs.persona_step(personas, ratings, stances, inst, a)
    validity, checks = rs.validity_step(stances, ratings, a)
    manip, rel = rs.manipulation_step(table, ratings, inst, a)
    association, ttg = rs.association_step(table, a), rs.ttg_step(table, baseline, a)
    steps = rs.assemble(stances, a, table, baseline, validity, checks, manip, rel, rs.rates_step(table, baseline),
                        association, rs.facets_step(table, inst, a), rs.mixed_step(table, a),
                        ttg, rs.facts_step(table, baseline, a), rs.deference_step(personas, table, a),
                        rs.control_step(stances, table, controls, a),
                        (rs.baseline_step(table, baseline, a), rs.ttg_extras_step(ttg, a),
                         rs.meta_step(association[0], a)))
    assert whole.control is not None and whole.meta is not None and whole.deference is not None
    for f in ("table", "baseline", "validity", "checks", "manipulation", "reliability", "rates", "tests",
              "tests_adjusted", "decision", "facets", "mixed", "ttg", "ttg_summary", "facts", "fact_tests",
              "first_tokens", "ambiguous", "deference_flags", "deference", "control", "control_rates",
              "baseline_tests", "ttg_quartiles", "ttg_correlation", "meta"):
        _same(getattr(whole, f), getattr(steps, f))
    # the steps carry what the one-call analysis added after the tests (issue 17 review: the copy had drifted)
    assert "mde" in steps.tests.columns and steps.first_tokens is not None and steps.ambiguous is not None
    assert whole.probe_without_tokens == steps.probe_without_tokens
    assert (whole.models, whole.n_opinion_prompts, whole.n_categories, whole.decision_method) == \
        (steps.models, steps.n_opinion_prompts, steps.n_categories, steps.decision_method)
    assert stats.summary(whole, a) == stats.summary(steps, a)


def test_illusion_steps_compose_to_the_direct_calls_of_the_statistics():
    """The steps against the statistics called directly, as the one-call analysis did before it was split."""
    import pandas as pd

    from analysis.studies.illusion import STUDY
    from analysis.studies.illusion import results as rs
    from analysis.studies.illusion import stats as st
    from analysis.studies.illusion.schema import TableSpec, validate, with_roles

    (raw,) = _raw("illusion", ("table",))
    a = STUDY.analysis_stage(None).analysis
    res = rs.analyse(raw, a)
    spec = TableSpec()
    t = with_roles(validate(raw, "the results table", spec), a.pairs)
    expected = st.load_expected_signs(a.expected_signs, spec)
    rq2 = st.rq2_trait_behaviour(t, expected, conditions=a.rq2_conditions, alpha=a.alpha, min_n=a.rq2_min_n,
                                 collapse=a.collapse_runs, ci=a.ci, spec=spec)
    rq3 = st.rq3_persona(t, collapse=a.collapse_runs, lam=a.logit_lambda, self_report_set=a.rq3_self_reports,
                         ci=a.ci, expected=expected, spec=spec)
    checks = st.persona_checks(t, collapse=a.collapse_runs, ci=a.ci)
    pd.testing.assert_frame_equal(res.rq2["tests"], rq2["tests"])
    pd.testing.assert_frame_equal(res.rq3["shifts"], rq3["shifts"])
    pd.testing.assert_frame_equal(res.checks, checks)
    assert res.metrics() == st.headline(res.design, res.rq1, rq2, rq3, checks)


def test_therapy_steps_compose_to_what_the_one_call_analysis_returns():
    from analysis.studies.therapy import STUDY, report
    from analysis.studies.therapy import results as rs
    from analysis.studies.therapy.scales import load_scales

    names = ("items", "probs", "forms", "codings", "turns", "instruments")
    raw = dict(zip(names, _raw("therapy", names)))
    insts = load_scales(raw.pop("instruments")["spec"].unique(maintain_order=True).to_list())
    a = STUDY.analysis_stage(None).analysis
    whole = report.analyse(raw, insts, a)
    scores_summary = rs.scores_step(raw["items"], raw["probs"], insts, a)
    scores = scores_summary[0]
    steps = rs.assemble(insts, a, raw, scores_summary, rs.mode_step(scores, insts, a), rs.stance_step(scores, insts, a),
                        rs.mixed_step(scores, insts, a), rs.items_step(raw["items"], raw["probs"]),
                        rs.recognition_step(raw["forms"]), rs.judge_step(raw["codings"], a),
                        rs.sessions_step(raw["turns"]))
    for f in ("items", "scores", "summary", "shares", "mode_fx", "stance_fx", "mixed", "dist", "recognition",
              "codings", "agreement", "calibration", "gate", "rates", "denial", "sessions"):
        _same(getattr(whole, f), getattr(steps, f))
    # the probability-scored conditions have P(total >= cut-off), not "not computed" (issue 17 review)
    probs_rows = steps.shares.filter(pl.col("condition").str.ends_with(":probs"))
    if probs_rows.height:
        assert probs_rows["share"].is_not_nan().any()
    assert whole.mixed_notes == steps.mixed_notes
    assert report.summary(whole, STUDY.question) == report.summary(steps, STUDY.question)
