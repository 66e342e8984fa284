"""The analysis report of Study 3: a summary computed from the run's numbers, plain words where a result
is not interpretable, headline metrics, and figures that follow the standards (checked on the artists)."""

import json

import matplotlib

matplotlib.use("Agg")  # tests only: the figure modules never switch the backend themselves

import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402

from analysis.core.elicit import Elicitor  # noqa: E402
from analysis.core.metrics import clean  # noqa: E402
from analysis.core.models.scripted import ScriptedTarget  # noqa: E402
from analysis.core.params import validate_section  # noqa: E402
from analysis.core.store import ResponseStore  # noqa: E402
from analysis.studies.therapy import STUDY, figures, report  # noqa: E402
from analysis.studies.therapy.params import AnalysisParams, CollectParams  # noqa: E402
from analysis.studies.therapy.scales import load_scales  # noqa: E402

from .conftest import client_probs  # noqa: E402
from .test_coding import reading_judge  # noqa: E402


def varied_reply(messages, options):
    """A client whose item answers depend on the session (its seed) and whose whole forms answer lower."""
    last = messages[-1]["content"]
    if "Answer every item" in last:
        n = sum(1 for line in last.splitlines() if line[:1].isdigit() and ". " in line)
        return "\n".join(f"{k}. {0 if k % 2 else 1}" for k in range(1, n + 1))
    if last.startswith("Do you recognise"):
        return "No, I don't recognise it."
    if "number" in last:  # depends on the session (its first reply) and the item
        first = next(m["content"] for m in messages if m["role"] == "assistant")
        return str((sum(map(ord, first)) + len(messages)) % 4)
    return f"I worry about mistakes (seed {options.seed})." if options.seed % 2 else "As an AI, I don't have feelings."


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    el = Elicitor(ScriptedTarget(varied_reply, client_probs), ResponseStore(d / "s.sqlite"), progress=False)
    judge = Elicitor(ScriptedTarget(lambda m, o: "No", reading_judge), el.store, progress=False)
    p = validate_section(CollectParams, {"sessions": {"n_sessions": 4, "blocks": ["early_years"]},
                                         "scales": {"instruments": ["gad7"]}}, "therapy.collect")
    tables = STUDY.collect(el, p, 0, judge=judge)
    insts = load_scales(tables["instruments"]["spec"].to_list())
    return tables, insts, report.analyse(tables, insts, AnalysisParams())


def test_the_summary_is_computed_from_the_numbers(run):
    tables, insts, res = run
    text = report.summary(res, STUDY.question)
    finding, rest = text.split("\n\n", 1)  # the first paragraph is the headline the report index shows, whole
    assert finding.startswith("**Finding.** ") and rest.startswith(f"**Question.** {STUDY.question}")
    assert "Hedges' g = " in finding and "95% CI " in finding and "n = 4 paired sessions" in finding
    assert "4 session(s) of 5 turns" in text  # opening, 1 question, 3 closing turns
    r = res.summary.filter((pl.col("condition") == "item_session:generate") & (pl.col("stance") == "neutral")).row(
        0, named=True)
    assert f"item_session:generate: {r['mean']:.1f} of 21, 95% CI {r['ci_low']:.1f} to {r['ci_high']:.1f}, n = 4" in text
    fx = res.mode_fx.filter((pl.col("a") == "item_session:generate") & (pl.col("b") == "whole_session:generate")
                            & (pl.col("stance") == "neutral")).row(0, named=True)
    assert f"Hedges' g = {fx['g']:.2f}" in text and "n = 4 paired sessions" in text
    assert "mixed model over the in-session conditions" in text
    # other numbers, other words: halve every in-session generated answer
    items = tables["items"].with_columns(
        pl.when((pl.col("mode") == "item_session") & (pl.col("method") == "generate")).then(pl.col("value") * 0)
        .otherwise(pl.col("value")).alias("value"))
    res2 = report.analyse({**tables, "items": items}, insts, AnalysisParams())
    text2 = report.summary(res2, STUDY.question)
    assert "item_session:generate: 0.0 of 21" in text2 and text2 != text


def test_a_judge_that_passes_reports_its_themes_and_one_at_chance_does_not(run):
    tables, insts, res = run
    text = report.summary(res, STUDY.question)
    assert "themes the judge passes" in text and "not interpretable" not in text.split("judge (")[1].split("\n")[0]
    chance = tables["codings"].with_columns(pl.lit(0.6).alias("p_yes"), pl.lit(1, dtype=pl.Int64).alias("code"))
    res2 = report.analyse({**tables, "codings": chance}, insts, AnalysisParams())
    text2 = report.summary(res2, STUDY.question)
    assert "**Theme rates are not interpretable**" in text2 and "They are not reported as findings" in text2
    assert res2.rates["rate"].null_count() == res2.rates.height
    assert all(v["rate"] is None for v in clean(report.headline(res2))["scripted"]["themes"].values())


def test_too_few_sessions_or_invalid_answers_are_said_plainly(run):
    tables, insts, res = run
    one = {k: (v.filter(pl.col("session") == 0) if "session" in v.columns and k != "codings" else v)
           for k, v in tables.items()}
    text = report.summary(report.analyse(one, insts, AnalysisParams()), STUDY.question)
    assert "1 session(s) per model: no effect size or mixed model can be estimated" in text
    bad = tables["items"].with_columns(pl.lit(None, dtype=pl.Float64).alias("value"),
                                       pl.lit("low_option_mass").alias("status"))
    text = report.summary(report.analyse({**tables, "items": bad}, insts, AnalysisParams()), STUDY.question)
    assert "not scored (28 of 28 item answers invalid)" in text and "**Most answers are invalid**" in text


def test_headline_metrics_have_no_dots_in_keys_and_carry_n(run):
    _, _, res = run
    h = clean(report.headline(res))

    def keys(d):
        for k, v in d.items():
            yield k
            if isinstance(v, dict):
                yield from keys(v)

    assert not [k for k in keys(h) if "." in k]
    m = h["scripted"]
    assert m["scores"]["gad7_total"]["item_session:generate"]["neutral"]["n"] == 4
    assert "moderate_or_above" in m["beyond_cutoff"]["gad7_total"]["whole_session:generate"]["neutral"]
    assert m["judge"]["kappa"] == 1.0 and m["recognition"]["gad7"]["n"] == 8
    json.dumps(h)


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes] + \
        [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_xlabel() for ax in fig.axes] + \
        [lb.get_text() for ax in fig.axes for lb in ax.get_xticklabels()]


def test_every_figure_states_n(run, tmp_path):
    _, insts, res = run
    for fig in (figures.heatmap_scores(res.summary, insts), figures.scores_by_condition(res.scores, insts),
                figures.item_means(res.items, insts), figures.theme_rates_plot(res.rates),
                figures.judge_calibration_plot(res.codings, res.denial)):
        if fig is None:  # theme rates when the judge fails its checks: not drawn (tested below)
            continue
        assert any("n = " in t or "codings in all" in t for t in _texts(fig)), fig
        plt.close(fig)


def test_scores_figure_labels_cutoffs_spans_the_range_and_marks_undefined_cis(run):
    _, insts, res = run
    fig = figures.scores_by_condition(res.scores, insts)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] < 0 < 21 < ax.get_ylim()[1]
    labels = [t.get_text() for t in ax.texts]
    assert {" mild (>= 5)", " moderate (>= 10)", " severe (>= 15)"} <= set(labels)
    # item_fresh:probs is one fresh context: an open diamond, no error bar
    open_markers = [c for c in ax.collections if len(c.get_facecolors()) and (c.get_facecolors()[0][:3] == 1).all()]
    assert open_markers
    plt.close(fig)


def test_theme_figure_draws_no_bar_for_a_theme_the_judge_fails(run):
    _, _, res = run
    rates = res.rates.with_columns(pl.when(pl.col("theme") == "denial_of_inner_life").then(False)
                                   .otherwise(pl.col("interpretable")).alias("interpretable"),
                                   pl.lit("repeat agreement kappa 0.10 < 0.6").alias("reason"))
    fig = figures.theme_rates_plot(rates)
    ax = fig.axes[0]
    assert len(ax.patches) == rates.height - 1
    assert any(t.get_text().startswith("not interpretable: repeat agreement kappa 0.10") for t in ax.texts)
    plt.close(fig)


def test_theme_figure_is_not_drawn_when_no_theme_is_interpretable_and_says_why(run, tmp_path, capsys):
    """The reference run's theme-rates figure was an empty frame: every theme failed the judge's checks."""
    _, _, res = run
    rates = res.rates.with_columns(pl.lit(False).alias("interpretable"),
                                   pl.lit("repeat agreement kappa 0.00 < 0.6; calibration 0.50 < 0.75").alias("reason"))
    assert figures.theme_rates_plot(rates, tmp_path / "t.png") is None
    said = capsys.readouterr().out
    assert "not drawn (theme rates)" in said and "repeat agreement kappa 0.00 < 0.6" in said
    assert not (tmp_path / "t.png").exists()


def test_labels_are_at_least_8_pt_as_a_report_shows_them(run):
    from analysis.core.figures import small_texts

    _, insts, res = run
    for fig in (figures.heatmap_scores(res.summary, insts), figures.scores_by_condition(res.scores, insts),
                figures.item_means(res.items, insts), figures.theme_rates_plot(res.rates),
                figures.judge_calibration_plot(res.codings, res.denial)):
        if fig is not None:
            assert small_texts(fig) == [], fig
            plt.close(fig)


def test_long_tables_pair_item_by_item_and_whole_form_stance_effects(tmp_path, monkeypatch):
    import analysis.core.measures as cm
    from analysis.studies.therapy import report as rep

    monkeypatch.setattr(cm, "processed_dir", lambda s: tmp_path / s)
    fx = pl.DataFrame({
        "model": ["m"] * 3, "instrument": ["gad7"] * 3, "scale": ["total"] * 3,
        "condition": ["item_session:generate", "whole_session:generate", "item_fresh:probs"],
        "factor": ["stance"] * 3, "a": ["warm"] * 3, "b": ["neutral"] * 3, "n": [3, 3, 1],
        "g": [0.9, 0.1, None], "ci_low": [-0.4, -1.0, None], "ci_high": [2.3, 1.2, None], "note": ["", "", "n = 1"]})
    summ = pl.DataFrame({"model": ["m"], "instrument": ["gad7"], "scale": ["total"], "condition": ["item_session:generate"],
                         "stance": ["warm"], "n_units": [3], "mean": [4.7], "ci_low": [0.1], "ci_high": [9.0],
                         "min_score": [0.0], "max_score": [21.0]})

    class R:
        summary, stance_fx = summ, fx

    m, s = rep.long_tables(R())
    paths = cm.write("therapy", m, s)
    s = pl.read_parquet(paths["shifts"])
    assert s.height == 2  # the fresh-context contrast (one measurement) is not a paired shift
    kinds = dict(zip(s["measure"], s["kind"]))
    assert kinds == {"gad7_total:item_session:generate": "clinical_scale", "gad7_total:whole_session:generate": "behaviour"}
    assert pl.read_parquet(paths["measures"])["unit"][0] == "gad7 score (0.0-21.0)"


def test_summary_reports_cutoff_probabilities_detectable_effects_and_the_model_fitted(run):
    """Issue 17: the summary gives the probability of reaching each cut-off per distinct context, what a
    non-significant contrast could have detected at its n, and which mixed model was fitted."""
    from analysis.core.stats.power import mde_paired_d

    tables, insts, res = run
    text = report.summary(res, STUDY.question)
    probs_rows = res.shares.filter(pl.col("condition").str.ends_with(":probs") & pl.col("share").is_not_nan())
    assert probs_rows.height and "P(total >= cut-off)" in text
    r = probs_rows.row(0, named=True)
    assert f"{r['cutoff_band']} {r['share']:.2f}" in text
    # the mean-score lines give no band for an expected total, and cite P(total >= cut-off) instead
    for line in text.splitlines():
        if "mean score" in line:
            for part in line.split("; "):
                if ":probs:" in part:
                    assert "band '" not in part, part
    assert "expected total (no band); P(total >= cut-off)" in text
    fresh = res.shares.filter(pl.col("condition").str.starts_with("item_fresh"))
    assert set(fresh["n_units"]) == {1}  # one fresh context repeated for 4 sessions is one unit
    for fx in (res.mode_fx, res.stance_fx):
        for row in fx.iter_rows(named=True):
            assert row["mde_dz"] == pytest.approx(mde_paired_d(row["n"], 0.05), nan_ok=True)
    nonsig = [row for row in res.stance_fx.iter_rows(named=True) if not (row["p"] if row["p_adj"] is None else row["p_adj"]) < 0.05 and row["n"] >= 2]
    if nonsig:
        assert "not significant: at n = " in text
    assert "score ~ C(condition" in text and "t with" in text
    assert "mde_coef" in res.mixed.columns


def test_summary_survives_a_mixed_term_without_a_test(run):
    """A term with no variation has no SE, p or CI (core.stats.mixed); the summary prints n/a, not a crash."""
    import dataclasses

    _, _, res = run
    mixed = res.mixed.with_columns(pl.lit(None, dtype=pl.Float64).alias("p"), pl.lit(None, dtype=pl.Float64).alias("se"),
                                   pl.lit(None, dtype=pl.Float64).alias("mde_coef"))
    text = report.summary(dataclasses.replace(res, mixed=mixed), STUDY.question)
    assert "p = n/a" in text


def test_a_g_that_is_not_estimable_is_said_in_words_not_with_the_table_note():
    """The index box printed the table note: '...: g undefined (see mean_diff)'."""
    row = {"g": float("nan"), "mean_diff": 0.0, "n": 3, "sd_diff": 0.0,
           "note": "no variance across sessions in either condition: g undefined (see mean_diff)"}
    text = report._g(row, AnalysisParams())
    assert text == ("mean difference 0.0, n = 3 paired sessions (Hedges' g is not estimable because the differences "
                    "have no variance)")
    assert "see mean_diff" not in report._g({**row, "n": 2, "sd_diff": 1.0}, AnalysisParams())
    assert "at least 3 paired sessions and there are 2" in report._g({**row, "n": 2, "sd_diff": 1.0}, AnalysisParams())
