"""Study 3's analysis as steps, one per question of the report, so that the analysis notebook runs each in its
own cell and a researcher can change one and re-run it. Each step composes the tested functions of
:mod:`analysis.studies.therapy.stats` and :mod:`analysis.studies.therapy.coding` with the analysis parameters
``a``; :func:`assemble` puts the results together into a :class:`report.Results`, and
:func:`analysis.studies.therapy.report.analyse` is these steps in one call. No statistic is computed here."""

from __future__ import annotations

import pandas as pd
import polars as pl

from analysis.core.instruments import Instrument
from analysis.studies.therapy import coding as cod
from analysis.studies.therapy import stats as st
from analysis.studies.therapy.params import AnalysisParams
from analysis.studies.therapy.report import Results


def scores_step(items: pl.DataFrame, probs: pl.DataFrame, instruments: list[Instrument], a: AnalysisParams):
    """Scale scores per model x session x stance x condition, their summary against the human cut-offs and the
    share of sessions at or above each cut-off (scores, summary, shares); ``probs`` (the option probabilities)
    gives P(total >= cut-off) for the conditions scored from them."""
    scores = st.score_items(items, instruments)
    return scores, st.score_summary(scores, instruments, a.ci), st.cutoff_shares(scores, instruments, probs)


def mode_step(scores: pl.DataFrame, instruments: list[Instrument], a: AnalysisParams) -> pl.DataFrame:
    """Framing: paired contrasts between conditions (history, questionnaire format, method)."""
    conds = set(scores["condition"])
    pairs = [(x, y) for x, y in st.MODE_PAIRS if x in conds and y in conds]
    return st.contrasts(st.primary(scores, instruments), "condition", pairs, across="stance", ci=a.ci, method=a.adjust)


def stance_step(scores: pl.DataFrame, instruments: list[Instrument], a: AnalysisParams) -> pl.DataFrame:
    """Each therapist stance against the reference stance."""
    stances = sorted(set(scores["stance"]))
    pairs = [(s, a.ref_stance) for s in stances if s != a.ref_stance and a.ref_stance in stances]
    return st.contrasts(st.primary(scores, instruments), "stance", pairs, across="condition", ci=a.ci,
                        method=a.adjust)


def mixed_step(scores: pl.DataFrame, instruments: list[Instrument], a: AnalysisParams):
    """Per instrument, over the conditions measured inside each session (fresh contexts are one request repeated for
    every session: they carry no session-level variation): score ~ condition x stance (+ model), random intercept
    per session (the table, and each fit's note)."""
    in_session = scores.filter(pl.col("context") == "session")
    mm, notes = [], {}
    for inst_id, scale in st.primary_scales(instruments).rows():
        tab, note = st.mixed_model(in_session, inst_id, scale=scale, ref_condition=a.ref_condition,
                                   ref_stance=a.ref_stance, ci=a.ci)
        notes[f"{inst_id}_{scale}"] = note
        if not tab.empty:
            tab.insert(0, "instrument", inst_id)
            tab.insert(1, "scale", scale)
            tab["note"] = note
            mm.append(tab)
    return (pl.from_pandas(pd.concat(mm)) if mm else pl.DataFrame()), notes


def items_step(items: pl.DataFrame, probs: pl.DataFrame) -> pl.DataFrame:
    """The distribution of the answers to every item."""
    return st.item_distributions(items, probs)


def recognition_step(forms: pl.DataFrame) -> pl.DataFrame:
    """Whether the model named the instrument when handed the whole form."""
    return st.recognition_summary(forms)


def judge_step(codings: pl.DataFrame, a: AnalysisParams):
    """The judge: agreement of its repeats, accuracy on the calibration transcripts, the gate, and the theme
    rates where it passes (agreement, calibration, gate, rates)."""
    gate = cod.judge_gate(codings, min_kappa=a.min_kappa, min_calibration=a.min_calibration, min_units=a.min_units)
    return (cod.agreement(codings), cod.calibration_accuracy(codings), gate, cod.theme_rates(codings, gate),
            cod.theme_rates(codings, gate, source="solicited"))


def sessions_step(turns: pl.DataFrame):
    """Which sessions deny an inner life, the sessions per model, the turns in which the client answered as
    the therapist or as an assistant, under a lexical ban the client's own use of the banned words, and the
    contradiction probe's effect (denial, sessions, roles, banned, contradiction)."""
    from analysis.studies.therapy.roles import banned_word_use, contradiction_effect, role_counts

    sessions = (turns.group_by("model").agg(pl.col("session").n_unique().alias("n_sessions"),
                                            (pl.len() / pl.col("session").n_unique()).alias("turns_per_session"))
                .sort("model"))
    return (cod.denial_share(turns, cod.load_calibration().denial_markers), sessions, role_counts(turns),
            banned_word_use(turns), contradiction_effect(turns))


def assemble(instruments: list[Instrument], a: AnalysisParams, tables: dict[str, pl.DataFrame], scores_summary,
             mode_fx, stance_fx, mixed, dist, recognition, judge, sessions) -> Results:
    """The steps' results as one :class:`report.Results` (what :func:`report.analyse` returns)."""
    scores, summary, shares = scores_summary
    agreement, calibration, gate, rates, solicited = judge
    denial, per_model, roles, banned, contradiction = sessions
    return Results(instruments=instruments, a=a, items=tables["items"], scores=scores, summary=summary,
                   shares=shares, mode_fx=mode_fx, stance_fx=stance_fx, mixed=mixed[0], mixed_notes=mixed[1],
                   dist=dist, recognition=recognition, codings=tables["codings"],
                   agreement=agreement, calibration=calibration, gate=gate, rates=rates, denial=denial,
                   sessions=per_model, solicited_rates=solicited, roles=roles, banned=banned,
                   contradiction=contradiction)
