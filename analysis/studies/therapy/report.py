"""The analysis of Study 3 as one computation: every table the report shows, the summary that opens it,
the files it writes and the headline numbers (DVC metrics).

``analyse`` reads nothing and calls no model: it takes the collected tables and the analysis
parameters. ``summary`` words what this run found from those numbers (never written in advance),
and says plainly what cannot be read (too few sessions, no valid answers, a judge that fails its
checks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from analysis.core.elicit import MIN_OPTION_MASS
from analysis.core.figures import short_model
from analysis.core.instruments import Instrument
from analysis.core.io import write_csv, write_parquet
from analysis.studies.therapy import stats as st
from analysis.studies.therapy.params import AnalysisParams
from analysis.studies.therapy.roles import role_text

# the paper's main contrasts, in order of preference for the summary: item by item in the session against
# the whole form in the session (same method), else the session history itself
HEADLINE_PAIRS = [("item_session:generate", "whole_session:generate"), ("item_session:probs", "item_fresh:probs"),
                  ("item_session:generate", "item_fresh:generate")]
HEADLINE_CONDITIONS = ["item_session:generate", "item_session:probs", "whole_session:generate"]


@dataclass
class Results:
    instruments: list[Instrument]
    a: AnalysisParams
    items: pl.DataFrame
    scores: pl.DataFrame
    summary: pl.DataFrame
    shares: pl.DataFrame
    mode_fx: pl.DataFrame
    stance_fx: pl.DataFrame
    mixed: pl.DataFrame
    mixed_notes: dict[str, str]
    dist: pl.DataFrame
    recognition: pl.DataFrame
    codings: pl.DataFrame
    agreement: pl.DataFrame
    calibration: pl.DataFrame
    gate: pl.DataFrame
    rates: pl.DataFrame
    denial: pl.DataFrame
    sessions: pl.DataFrame = field(default_factory=pl.DataFrame)
    solicited_rates: pl.DataFrame = field(default_factory=pl.DataFrame)  # themes in the turns that asked for them
    roles: pl.DataFrame = field(default_factory=pl.DataFrame)  # turns answered as the therapist / an assistant
    banned: pl.DataFrame = field(default_factory=pl.DataFrame)  # a lexical ban: the client's own use of the words
    contradiction: pl.DataFrame = field(default_factory=pl.DataFrame)  # the contradiction probe's effect


def analyse(tables: dict[str, pl.DataFrame], instruments: list[Instrument], a: AnalysisParams) -> Results:
    """Every statistic of the report from the collected tables (``items``, ``probs``, ``forms``,
    ``codings``, ``turns``): the steps of :mod:`analysis.studies.therapy.results` (the ones the analysis
    notebook runs one cell at a time), composed in one call."""
    from analysis.studies.therapy import results as rs  # the steps build this module's Results

    items, probs, forms, codings, turns = (tables[k] for k in ("items", "probs", "forms", "codings", "turns"))
    scores = rs.scores_step(items, probs, instruments, a)
    return rs.assemble(instruments, a, tables, scores, rs.mode_step(scores[0], instruments, a),
                       rs.stance_step(scores[0], instruments, a), rs.mixed_step(scores[0], instruments, a),
                       rs.items_step(items, probs), rs.recognition_step(forms), rs.judge_step(codings, a),
                       rs.sessions_step(turns))


def write(res: Results, out: Path) -> None:
    """The processed tables (data/processed/therapy/)."""
    write_parquet(res.scores, out / "scores.parquet")
    for name, df in (("score_summary", res.summary), ("cutoff_shares", res.shares), ("mode_effects", res.mode_fx),
                     ("stance_effects", res.stance_fx), ("mixed_models", res.mixed), ("item_distributions", res.dist),
                     ("recognition", res.recognition), ("judge_agreement", res.agreement),
                     ("judge_calibration", res.calibration), ("judge_gate", res.gate), ("theme_rates", res.rates),
                     ("theme_rates_solicited", res.solicited_rates), ("roles", res.roles),
                     ("banned_word_use", res.banned), ("contradiction_probe", res.contradiction),
                     ("denial_of_inner_life", res.denial)):
        write_csv(df if df.height or df.width else pl.DataFrame({"note": ["nothing to report in this run"]}),
                  out / f"{name}.csv")


# ---- the summary ------------------------------------------------------------------------------------


def _f(x, nd: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _g(row: dict, a: AnalysisParams) -> str:
    if row["g"] is None or math.isnan(row["g"]):
        n, sd = row["n"], row.get("sd_diff")
        if n < 3:
            why = f"it needs at least 3 paired sessions and there {'is' if n == 1 else 'are'} {n}"
        elif sd is not None and sd == 0:
            why = "the differences have no variance"
        else:
            why = "the scores have no variance across sessions in either condition"
        fresh = [x for x in (row["note"] or "").split("; ") if "fresh context" in x]
        return (f"mean difference {_f(row['mean_diff'])}, n = {n} paired sessions (Hedges' g is not estimable because "
                f"{why})" + (f" ({'; '.join(fresh)})" if fresh else ""))
    return (f"Hedges' g = {_f(row['g'], 2)} ({int(a.ci * 100)}% CI {_f(row['ci_low'], 2)} to {_f(row['ci_high'], 2)}), "
            f"mean difference {_f(row['mean_diff'])}, n = {row['n']} paired sessions, two-sided paired t-test "
            f"p = {_f(row['p'], 3)}, "
            + (f"{row['adjust']}-adjusted p = {_f(row['p_adj'], 3)}" if not _uncorrected(row) else
               "no correction: one test")
            + (f" ({row['note']})" if row["note"] else "") + _mde(row, a))


def _uncorrected(row: dict) -> bool:
    """A contrast whose family has one test (``contrasts`` then adjusts nothing)."""
    return str(row.get("adjust", "")).startswith("no correction")


def _num(x) -> bool:
    return x is not None and x == x


def _mde(row: dict, a: AnalysisParams) -> str:
    """What a non-significant paired contrast could have detected at its n."""
    p = row.get("p") if _uncorrected(row) else row.get("p_adj")
    if row.get("mde_dz") is None or (p is not None and p == p and p < 1 - a.ci) or row["mde_dz"] != row["mde_dz"]:
        return ""
    return (f"; not significant: at n = {row['n']} the paired t test detects d_z >= {_f(row['mde_dz'], 2)} with 80% "
            f"power (two-sided, alpha = {1 - a.ci:.2f}"
            + (f"; >= {_f(row['mde_dz_adj'], 2)} at the strictest {row['adjust']} step" if not _uncorrected(row)
               else "; no correction: one test")
            + f"), a mean difference of about {_f(row['mde_mean_diff'])} at the observed SD of the "
            f"differences; observed d_z = {_f(row['dz'], 2)}")


def summary(res: Results, question: str) -> str:
    """The opening of the report, in Markdown, computed from this run's numbers."""
    a = res.a
    out = [f"**Question.** {question}", ""]
    models = res.sessions.rows(named=True)
    if not models:
        return "\n".join(["**Finding.** Not interpretable: no session was collected.", ""] + out)
    conds = sorted(set(res.scores["condition"]))
    out.append("**This run.** " + "; ".join(
        f"{short_model(m['model'])}: {m['n_sessions']} session(s) of {m['turns_per_session']:.0f} turns" for m in models)
        + f"; questionnaires {', '.join(i.id for i in res.instruments)}; conditions {', '.join(conds)}; stances "
        f"{', '.join(sorted(set(res.scores['stance'])))}.")
    small = min(m["n_sessions"] for m in models)
    if small < 3:
        out.append(f"\n**Caveat:** {small} session(s) per model: no effect size or mixed model can be estimated "
                   "(at least 3 needed); the scores below are descriptive.")
    elif small < 10:
        out.append(f"\n**Caveat:** {small} sessions per model: effect sizes have wide intervals and the mixed "
                   "model's session variance is poorly estimated; read them as a first look, not as evidence.")
    head: list[str] = []  # the finding that opens the report and the index: each model's headline contrasts
    roles_note = []
    for m in models:
        model = m["model"]
        role = role_text(res.roles, model) if res.roles.height else ""
        out.append(f"\n**{short_model(model)}**" + (f" (in stage 1, {role})" if role else ""))
        block_start = len(out)
        if role:
            roles_note.append(f"{short_model(model)}: {role}")
        for inst_id, scale in st.primary_scales(res.instruments).rows():
            name = inst_id if scale == "total" else f"{inst_id} {scale}"
            sm = res.summary.filter((pl.col("model") == model) & (pl.col("instrument") == inst_id)
                                    & (pl.col("scale") == scale) & (pl.col("stance") == a.ref_stance))
            parts = []
            for c in [c for c in HEADLINE_CONDITIONS if c in conds] + [c for c in conds if c not in HEADLINE_CONDITIONS]:
                r = sm.filter(pl.col("condition") == c)
                if not r.height:
                    continue
                r = r.row(0, named=True)
                if r["mean"] is None:
                    parts.append(f"{c}: not scored ({r['items_invalid']} of {r['items_asked']} item answers invalid)")
                else:
                    ci = (f", {int(a.ci * 100)}% CI {_f(r['ci_low'])} to {_f(r['ci_high'])}" if r["ci_low"] == r["ci_low"]
                          else (", one fresh context" if r["n_units"] == 1 and "_fresh" in c else ", CI undefined"))
                    parts.append(f"{c}: {_f(r['mean'])} of {r['max_score']:.0f}{ci}, n = {r['n_units']}"
                                 + (f", band '{r['band_of_mean']}'" if r["band_of_mean"] else "")
                                 + _reach(res, model, inst_id, scale, c, a.ref_stance)
                                 + (f", {r['items_invalid']} invalid item answers" if r["items_invalid"] else ""))
            if parts:
                out.append(f"- {name} ({a.ref_stance} stance, mean score): " + "; ".join(parts) + ".")
            fx = res.mode_fx.filter((pl.col("model") == model) & (pl.col("instrument") == inst_id)
                                    & (pl.col("scale") == scale) & (pl.col("stance") == a.ref_stance)) \
                if res.mode_fx.height else pl.DataFrame()
            for x, y in HEADLINE_PAIRS:
                r = fx.filter((pl.col("a") == x) & (pl.col("b") == y)) if fx.height else fx
                if r.height:
                    out.append(f"- {name}, {x} minus {y}: {_g(r.row(0, named=True), a)}.")
                    head.append(f"{short_model(model)}, {name}, {x} minus {y} ({a.ref_stance} stance): "
                                f"{_g(r.row(0, named=True), a)}.")
                    break
            sfx = res.stance_fx.filter((pl.col("model") == model) & (pl.col("instrument") == inst_id)
                                       & (pl.col("scale") == scale)) if res.stance_fx.height else pl.DataFrame()
            for c in HEADLINE_CONDITIONS:
                r = sfx.filter(pl.col("condition") == c) if sfx.height else sfx
                if r.height:
                    row = r.row(0, named=True)
                    out.append(f"- {name}, {row['a']} minus {row['b']} stance ({c}): {_g(row, a)}.")
                    head.append(f"{short_model(model)}, {name}, {row['a']} minus {row['b']} stance ({c}): {_g(row, a)}.")
                    break
            out += _share_lines(res, model, inst_id, scale, name)
            note = res.mixed_notes.get(f"{inst_id}_{scale}", "")
            mm = res.mixed.filter((pl.col("instrument") == inst_id) & (pl.col("scale") == scale)) \
                if res.mixed.height else pl.DataFrame()
            if mm.height:
                terms = [r for r in mm.iter_rows(named=True) if r["term"] != "Intercept" and "C(model)" not in r["term"]]
                txt = "; ".join(
                    f"{_term(r['term'])} {_f(r['coef'], 2)} ({int(a.ci * 100)}% CI {_f(r['ci_low'], 2)} to "
                    f"{_f(r['ci_high'], 2)}, p = {_f(r['p'], 3)}"
                    + (f"; detectable at 80% power: |coef| >= {_f(r['mde_coef'], 2)}"
                       if _num(r.get("mde_coef")) and not (_num(r["p"]) and r["p"] < 1 - a.ci) else "") + ")"
                    for r in terms)
                inference = mm["inference"][0] if "inference" in mm.columns else ""
                formula = f" ({mm['formula'][0]})" if "formula" in mm.columns else ""
                out.append(f"- {name}, mixed model over the in-session conditions{formula} (n = {mm['n_sessions'][0]} sessions, {mm['n_obs'][0]} scores; "
                           f"{inference}): {txt}" + (f". Note: {note}" if note else "") + ".")
            elif note:
                out.append(f"- {name}, mixed model: not fitted ({note}).")
        out += _validity_lines(res, model) + _recognition_lines(res, model) + _judge_lines(res, model)
        rr = res.roles.filter(pl.col("model") == model) if res.roles.height else pl.DataFrame()
        if rr.height and rr["out_of_role"][0]:  # next to every result of this model
            tag = f" [the client was out of role in {rr['out_of_role'][0]} of {rr['n_turns'][0]} session turns]"
            out[block_start:] = [ln + tag if ln.startswith("- ") else ln for ln in out[block_start:]]
        cx = res.contradiction.filter(pl.col("model") == model) if res.contradiction.height else pl.DataFrame()
        if cx.height:
            c = cx.row(0, named=True)
            out.append(f"- contradiction probe (the therapist says a model has no feelings or history): after it the "
                       f"client denied an inner life in {c['denies_after']} of {c['sessions_probed']} sessions, "
                       f"{c['retracted']} of them for the first time in the session ({c['denied_before']} had denied it "
                       "before).")
        bn = res.banned.filter(pl.col("model") == model) if res.banned.height else pl.DataFrame()
        if bn.height:
            out.append("- lexical ban (the therapist never used these words): the client used " + "; ".join(
                f"'{r['word']}' in {r['client_turns_using_it']} of {r['n_turns']} turns" for r in bn.iter_rows(named=True))
                + ".")
    finding = " ".join(head) if head else ("no contrast between conditions or stances could be estimated "
                                           "(see the scores below).")
    if any("Theme rates are not interpretable" in line for line in out):
        finding += " Theme rates are not interpretable in this run (see the judge line below)."
    if roles_note:  # next to every result: how often the 'client' was not speaking as the client
        finding += " Roles: " + "; ".join(roles_note) + "."
    return "\n".join([f"**Finding.** {finding}", ""] + out)


def _reach(res: Results, model: str, inst_id: str, scale: str, cond: str, stance: str) -> str:
    """For a condition scored from option probabilities: P(total >= each cut-off) (its expected total has no
    band); empty otherwise or where it was not computed."""
    if not cond.endswith(":probs") or not res.shares.height:
        return ""
    sh = res.shares.filter((pl.col("model") == model) & (pl.col("instrument") == inst_id) & (pl.col("scale") == scale)
                           & (pl.col("condition") == cond) & (pl.col("stance") == stance) & pl.col("share").is_not_nan())
    if not sh.height:
        return ""
    return ", expected total (no band); P(total >= cut-off) " + ", ".join(
        f"{r['cutoff_band']} {_f(r['share'], 2)}" for r in sh.iter_rows(named=True))


def _share_lines(res: Results, model: str, inst_id: str, scale: str, name: str) -> list[str]:
    """The share of units reaching each human cut-off, per condition scored from option probabilities (the
    probability of the total reaching it) and per generated condition (observed), reference stance first."""
    if not res.shares.height:
        return []
    sh = res.shares.filter((pl.col("model") == model) & (pl.col("instrument") == inst_id) & (pl.col("scale") == scale)
                           & pl.col("share").is_not_nan())
    parts = []
    for (cond, stance), g in sh.group_by(["condition", "stance"], maintain_order=True):
        kind = "P(total >= cut-off)" if cond.endswith(":probs") else "share of units at or above"
        parts.append(f"{cond}, {stance}: {kind} " + ", ".join(
            f"{r['cutoff_band']} {_f(r['share'], 2)}" for r in g.iter_rows(named=True))
            + f" (n = {g['n_scored'][0]} distinct context{'s' if g['n_scored'][0] != 1 else ''})")
    if not parts:
        return []
    return [f"- {name}, reaching each human cut-off (units: distinct contexts; from option probabilities the "
            "probability of the total reaching it, from the item distributions): " + "; ".join(parts) + "."]


def _term(term: str) -> str:
    """"C(condition, Treatment('item_session:generate'))[T.whole_session:generate]" -> "whole_session:generate vs
    item_session:generate"."""
    import re

    parts = term.split("]:C(")
    if len(parts) > 1:  # an interaction: "C(a, ...)[T.x]:C(b, ...)[T.y]"
        return " x ".join(_term(p if i == 0 else "C(" + p) for i, p in enumerate(
            [parts[0] + "]"] + [q for q in parts[1:]])) + " (interaction)"
    m = re.match(r"C\((\w+), Treatment\('([^']+)'\)\)\[T\.(.+)\]", term)
    return f"{m.group(3)} vs {m.group(2)}" if m else term


def _validity_lines(res: Results, model: str) -> list[str]:
    it = res.items.filter(pl.col("model") == model)
    if not it.height:
        return []
    lines = []
    for (method,), g in it.group_by(["method"], maintain_order=True):
        bad = g.filter(pl.col("status") != "ok")
        kinds = ", ".join(f"{k} {v}" for k, v in bad.group_by("status").len().sort("status").rows())
        what = ("answers scored from log-probabilities" if method == "probs" else "generated answers")
        lines.append(f"- validity: {bad.height} of {g.height} {what} have no valid value"
                     + (f" ({kinds})" if bad.height else "")
                     + (f"; threshold: the options must carry at least {MIN_OPTION_MASS} of the probability"
                        if method == "probs" else "") + ".")
    if it.height and (it.filter(pl.col("status") == "ok").height / it.height) < 0.5:
        lines.append("- **Most answers are invalid**: the scores rest on the few valid ones and are not "
                     "interpretable as the model's answers to the questionnaire.")
    return lines


def _recognition_lines(res: Results, model: str) -> list[str]:
    if not res.recognition.height:
        return []
    r = res.recognition.filter((pl.col("model") == model) & (pl.col("mode") == "all"))
    return ["- recognition of the questionnaire: " + "; ".join(
        f"{x['instrument']} named unasked (in its reply to the whole form) in {x['named_in_reply_rate'] * x['n_forms']:.0f}"
        f" of {x['n_forms']} forms, after the follow-up question ('Do you recognise this questionnaire?') in "
        f"{x['named_in_follow_up_rate'] * x['n_forms']:.0f}, another instrument named in "
        f"{x['names_other_rate'] * x['n_forms']:.0f}" for x in r.iter_rows(named=True)) + "."]


def _judge_lines(res: Results, model: str) -> list[str]:
    g = res.gate.filter(pl.col("model") == model)
    if not g.height:
        return []
    ok = g.filter(pl.col("interpretable"))
    kappa = g["kappa"][0]
    head = (f"- judge ({res.codings.filter(pl.col('model') == model)['judge'][0]}): agreement between repeated "
            f"codings kappa = {_f(kappa, 2)} over {g['n_units'][0]} session x theme units; calibration balanced "
            f"accuracy per theme {_f(g['calibration_balanced_accuracy'].min(), 2)} to "
            f"{_f(g['calibration_balanced_accuracy'].max(), 2)} (0.5 = chance).")
    if not ok.height:
        return [head, f"- **Theme rates are not interpretable** in this run (thresholds: kappa >= {res.a.min_kappa}, "
                      f"calibration >= {res.a.min_calibration}): {g['reason'][0]}. They are not reported as findings."]
    rates = res.rates.filter((pl.col("model") == model) & pl.col("interpretable"))
    lines = [head, f"- themes the judge passes ({ok.height} of {g.height}), raised unprompted: " + "; ".join(
        f"{r['theme']} in {r['rate'] * 100:.0f}% of codings (n = {r['n_sessions']} sessions)"
        for r in rates.iter_rows(named=True)) + "; the others are not interpretable."]
    sol = res.solicited_rates.filter((pl.col("model") == model) & pl.col("interpretable")) \
        if res.solicited_rates.height else pl.DataFrame()
    if sol.height:
        lines.append("- the same themes in the answers to the closing turns that ask about them (the model's team, "
                     "being abused or punished; solicited, not counted above): " + "; ".join(
                         f"{r['theme']} in {r['rate'] * 100:.0f}% of codings" for r in sol.iter_rows(named=True)) + ".")
    return lines


# ---- headline numbers (DVC metrics) -------------------------------------------------------------------


def _key(text: str) -> str:
    return text.replace(" ", "_")


def headline(res: Results) -> dict:
    """Per model: each reported scale's mean score per condition and stance (CI over sessions, n =
    distinct conversations scored, invalid item answers), the share of sessions at or above each human
    cut-off, Hedges' g of the headline contrasts, the recognition rate of each instrument, and the judge
    (repeat kappa, calibration balanced accuracy, and theme rates only where the judge passes)."""
    out: dict = {}

    def m(model: str) -> dict:
        return out.setdefault(short_model(model), {"scores": {}, "beyond_cutoff": {}, "effects": {},
                                                   "recognition": {}, "judge": {}, "themes": {}})

    for r in res.summary.iter_rows(named=True):
        m(r["model"])["scores"].setdefault(f"{r['instrument']}_{r['scale']}", {}).setdefault(
            r["condition"], {})[r["stance"]] = {"mean": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                                                "n": r["n_units"], "invalid_items": r["items_invalid"]}
    for r in res.shares.iter_rows(named=True) if res.shares.height else []:
        d = m(r["model"])["beyond_cutoff"].setdefault(f"{r['instrument']}_{r['scale']}", {}).setdefault(
            r["condition"], {}).setdefault(r["stance"], {"n": r["n_scored"]})
        d[_key(f"{r['cutoff_band']} or above")] = r["share"]
    for fx, label in ((res.mode_fx, "stance"), (res.stance_fx, "condition")):
        for r in fx.iter_rows(named=True) if fx.height else []:
            m(r["model"])["effects"].setdefault(f"{r['instrument']}_{r['scale']}", {})[
                f"{r['a']}__minus__{r['b']}__{r[label]}"] = {
                "g": r["g"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"], "mean_diff": r["mean_diff"],
                "p_adj": r["p_adj"], "mde_dz": r.get("mde_dz")}
    for r in res.recognition.filter(pl.col("mode") == "all").iter_rows(named=True) if res.recognition.height else []:
        m(r["model"])["recognition"][r["instrument"]] = {"rate": r["recognition_rate"], "n": r["n_forms"],
                                                         "spontaneous_rate": r["named_in_reply_rate"],
                                                         "after_follow_up_rate": r["named_in_follow_up_rate"],
                                                         "names_other_rate": r["names_other_rate"]}
    for r in res.roles.iter_rows(named=True) if res.roles.height else []:
        m(r["model"])["roles"] = {"n_turns": r["n_turns"], "as_therapist": r["as_therapist"],
                                  "as_assistant": r["as_assistant"]}
    for r in res.gate.iter_rows(named=True):
        j = m(r["model"])["judge"]
        j.update(kappa=r["kappa"], n_units=r["n_units"])
        j.setdefault("calibration", {})[r["theme"]] = r["calibration_balanced_accuracy"]
    for r in res.rates.iter_rows(named=True):
        m(r["model"])["themes"][r["theme"]] = {"rate": r["rate"], "n": r["n_sessions"],
                                               "interpretable": bool(r.get("interpretable"))}
    return out


# ---- the shared long format (analysis.core.measures) -------------------------------------------------

# which administration reads as what the model says about itself, and which as what it does with the form
SELF_REPORT_CONDITIONS = ("item_session:generate", "item_session:probs")
BEHAVIOUR_CONDITIONS = ("whole_session:generate",)


def long_tables(res: Results) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Measures: mean clinical scale score per model x condition x stance (n = distinct conversations).
    Shifts: each therapist stance against the reference stance, Hedges' g_av paired by session, for the
    item-by-item scores given in the session (the model's self-report under the framing) and for the whole
    form handed over in the session (its test-taking behaviour: what it does with a questionnaire it may
    recognise, the PsAIch contrast)."""
    s = res.summary
    measures = s.select(
        "model", (pl.col("condition") + "|" + pl.col("stance")).alias("condition"),
        pl.lit("framing").alias("condition_kind"), (pl.col("instrument") + "_" + pl.col("scale")).alias("measure"),
        pl.lit("clinical_scale").alias("kind"), pl.col("mean").alias("estimate"), "ci_low", "ci_high",
        pl.col("n_units").alias("n"),
        pl.format("{} score ({}-{})", pl.col("instrument"), pl.col("min_score"), pl.col("max_score")).alias("unit"))
    fx = res.stance_fx
    if not fx.height:
        return measures, None
    fx = fx.filter(pl.col("condition").is_in(SELF_REPORT_CONDITIONS + BEHAVIOUR_CONDITIONS))
    shifts = fx.select(
        "model", (pl.col("a") + " vs " + pl.col("b") + " therapist stance").alias("manipulation"),
        pl.format("{} minus {}, within {}", pl.col("a"), pl.col("b"), pl.col("condition")).alias("contrast"),
        pl.format("{}_{}:{}", pl.col("instrument"), pl.col("scale"), pl.col("condition")).alias("measure"),
        pl.when(pl.col("condition").is_in(BEHAVIOUR_CONDITIONS)).then(pl.lit("behaviour"))
        .otherwise(pl.lit("clinical_scale")).alias("kind"),
        pl.lit("hedges_g_av").alias("effect"), pl.col("g").alias("estimate"), "ci_low", "ci_high",
        pl.col("n").alias("n_a"), pl.col("n").alias("n_b"), pl.lit("session (paired)").alias("unit_of_analysis"),
        pl.when(pl.col("condition").is_in(BEHAVIOUR_CONDITIONS))
        .then(pl.format("test-taking behaviour: the whole form in the session; {}", pl.col("note")))
        .otherwise(pl.col("note")).alias("note"))
    return measures, shifts
