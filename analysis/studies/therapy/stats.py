"""Analyses of the therapy protocol: scale scores against human cut-offs, mode and stance effects.

Scores are compared with human screening thresholds only as a comparison ("the score lies in the
band humans call moderate"), never as a diagnosis of anything.

* ``score_items``: item answers -> one score per model x session x stance x mode x method x
  instrument, with its cut-off band, items answered and unparsed, and the option mass.
* ``cutoff_shares``: the share of units (distinct contexts) reaching each cut-off; from option
  probabilities, the probability of the total reaching it (convolution of the item distributions).
* ``paired_hedges_g`` / ``contrasts``: within-model differences between modes and between stances,
  sessions as the unit (paired: the same session seen in two conditions), Hedges' g_av with a CI,
  a paired t-test, and Holm adjustment over all contrasts of a table (models included).
* ``mixed_model``: statsmodels MixedLM, score ~ condition * stance (+ model) when every cell of the
  crossing is observed (else additive), random intercept per session; with few sessions it says so.
* ``item_distributions``: item-level answer distributions (option probabilities or parsed answers).
"""

from __future__ import annotations

import math

import pandas as pd
import polars as pl

from analysis.core.instruments import Instrument, score
from analysis.core.stats.effects import paired_hedges_g
from analysis.core.stats.mixed import fit_mixedlm
from analysis.core.stats.multiplicity import adjust
from analysis.core.stats.power import mde_paired_d, mde_t_coefficient

KEYS = ["model", "session", "seed", "stance", "mode", "context", "context_id", "method", "history"]


def condition_label(mode: str, method: str, history: str | None = None) -> str:
    """'item_session:generate': how a score was obtained (mode and method), with ':synthetic' when the
    in-session history held the most probable option instead of the model's reply."""
    return f"{mode}:{method}" + (":synthetic" if history == "most_likely_option" else "")


def with_condition(df: pl.DataFrame) -> pl.DataFrame:
    """Add ``condition`` (see :func:`condition_label`)."""
    hist = pl.col("history") if "history" in df.columns else pl.lit(None, dtype=pl.Utf8)
    return df.with_columns(
        (pl.col("mode") + pl.lit(":") + pl.col("method")
         + pl.when(hist == "most_likely_option").then(pl.lit(":synthetic")).otherwise(pl.lit(""))).alias("condition"))


# the mode contrasts worth making: each differs in one thing (history, or questionnaire format, or method)
MODE_PAIRS = [
    ("item_session:probs", "item_fresh:probs"),          # the session history, option probabilities
    ("item_session:generate", "item_fresh:generate"),    # the session history, parsed replies
    ("item_session:generate", "whole_session:generate"),  # item by item vs the whole form, in the session
    ("item_fresh:generate", "whole_fresh:generate"),     # item by item vs the whole form, fresh
    ("whole_session:generate", "whole_fresh:generate"),  # the session history, whole form
    ("item_session:generate", "item_session:probs"),     # parsed reply vs option probabilities at the same point
]


def score_items(items: pl.DataFrame, instruments: list[Instrument]) -> pl.DataFrame:
    """One row per model x session x stance x mode x method x history x instrument x scale.

    ``value`` is the raw item answer (an expected value from option probabilities, or a parsed
    answer); reverse keys are applied by ``analysis.core.instruments.score``. A scale is scored only when
    every one of its items has a valid answer: a missing item is never filled in (no prorating), the
    scale is "not scored" and its unparsed / refused / low-mass items are counted next to it. Adds
    n_invalid (items without a valid answer, for any reason: unparsed, refused, low option mass), mean option
    mass, the scale's range (min_score, max_score) and score_pct: the score's
    position on that range, (score - min) / (max - min).
    """
    parts = []
    for inst in instruments:
        sub = items.filter(pl.col("instrument") == inst.id)
        if sub.height == 0:
            continue
        sc = score(inst, sub.select(*KEYS, "item_id", "value"), by=KEYS, value="value", min_answered=1.0)
        extra = sub.group_by(KEYS).agg(
            pl.col("mass").mean().alias("mean_mass"),
            (pl.col("status") == "refused").sum().alias("n_refused"),
            pl.col("status").is_in(["low_option_mass", "no_option_mass"]).sum().alias("n_low_mass"),
        )
        sc = sc.join(extra, on=KEYS, how="left").with_columns(
            pl.lit(inst.id).alias("instrument"),
            (pl.col("n_items") - pl.col("n_answered")).alias("n_invalid"),
            pl.col("scale").map_elements(lambda s, i=inst: float(i.min_score(s)), return_dtype=pl.Float64).alias("min_score"),
            pl.col("scale").map_elements(lambda s, i=inst: float(i.max_score(s)), return_dtype=pl.Float64).alias("max_score"),
        )
        parts.append(sc)
    if not parts:
        raise ValueError("no item answers for the given instruments")
    # the position of the score on the scale's own range (0 = its minimum, 1 = its maximum), whatever the minimum
    # rounded to 9 decimals: sums of the same expected item scores in another order differ in the last bits,
    # which would show identical sessions as a tiny spread
    out = pl.concat(parts, how="diagonal_relaxed").with_columns(pl.col("score").round(9)).with_columns(
        ((pl.col("score") - pl.col("min_score")) / (pl.col("max_score") - pl.col("min_score"))).alias("score_pct"))
    return with_condition(out).select(
        *KEYS, "condition", "instrument", "scale", "score", "band", "n_answered", "n_items", "n_invalid",
        "n_refused", "n_low_mass", "mean_mass", "min_score", "max_score", "score_pct",
    )


def primary_scales(instruments: list[Instrument]) -> pl.DataFrame:
    """The scales reported per instrument: its 'total' when it has one (GAD-7, PHQ-9, GDS-15), otherwise
    its top-level scales (e.g. the five IPIP-NEO-120 domains)."""
    rows = []
    for inst in instruments:
        ids = [sc.id for sc in inst.scales]
        chosen = ["total"] if "total" in ids else [sc.id for sc in inst.scales if sc.parent is None]
        rows += [{"instrument": inst.id, "scale": c} for c in chosen]
    return pl.DataFrame(rows, schema={"instrument": pl.Utf8, "scale": pl.Utf8})


def primary(scores: pl.DataFrame, instruments: list[Instrument]) -> pl.DataFrame:
    """Only the rows of the reported scales (see ``primary_scales``)."""
    return scores.join(primary_scales(instruments), on=["instrument", "scale"], how="semi")


def thresholds(inst: Instrument, scale: str = "total") -> list[tuple[str, float]]:
    """The cut-offs of a scale as (band label, lower bound), without the lowest band."""
    return [(b.label, b.min) for b in inst.scale(scale).cutoffs[1:]]


def total_distribution(dists: list[dict[float, float]]) -> dict[float, float]:
    """The distribution of a sum of independent item answers: the convolution of the per-item option
    distributions ({keyed value: probability}, each summing to 1)."""
    out = {0.0: 1.0}
    for d in dists:
        nxt: dict[float, float] = {}
        for a, pa in out.items():
            for b, pb in d.items():
                nxt[a + b] = nxt.get(a + b, 0.0) + pa * pb
        out = nxt
    return out


def _p_at_or_above(dist: dict[float, float], cut: float) -> float:
    return float(sum(p for v, p in dist.items() if v >= cut - 1e-9))


def _unit_distributions(probs: pl.DataFrame, inst: Instrument, scale: str) -> dict[tuple, dict[float, float]]:
    """{(model, stance, condition, context_id): distribution of the scale's score} for every context whose
    items of ``scale`` all have a valid option distribution; the score of a mean-rule scale is the sum / k."""
    rs = inst.response_scale
    items = inst.items_of(scale)
    keys = {i.id: i.key for i in items}
    rule = inst.scale(scale).rule or inst.rule
    p = with_condition(probs.filter(pl.col("instrument") == inst.id).with_columns(pl.lit("probs").alias("method")))
    p = p.filter(pl.col("item_id").is_in(list(keys)))
    out = {}
    for key, g in p.group_by(["model", "stance", "condition", "context_id"], maintain_order=True):
        first = g.filter(pl.col("session") == g["session"].min())  # a repeated context: one request, one unit
        dists = []
        for item_id, key_ in keys.items():
            it = first.filter(pl.col("item_id") == item_id)
            if it.height == 0 or not it["valid"].all():
                dists = None
                break
            vals = it["option_value"].cast(pl.Float64).to_numpy()
            vals = rs.min + rs.max - vals if key_ == -1 else vals
            pr = it["prob"].to_numpy()
            dists.append({float(v): float(q) / float(pr.sum()) for v, q in zip(vals, pr)})
        if dists:
            tot = total_distribution(dists)
            out[tuple(key)] = tot if rule == "sum" else {v / len(keys): q for v, q in tot.items()}
    return out


def cutoff_shares(scores: pl.DataFrame, instruments: list[Instrument], probs: pl.DataFrame | None = None) -> pl.DataFrame:
    """For each model x stance x condition x reported scale with cut-offs, and each cut-off: the share of
    units whose score reaches the cut-off.

    The unit is a distinct context (``context_id``): a session, or one fresh context that is the same request
    for every session (one unit, however many sessions repeat it). For a condition scored from option
    probabilities (``:probs``), a unit's score is a distribution, not a number: its chance of reaching the
    cut-off is P(score >= cut-off), from the convolution of the item option distributions (items answered
    independently given the context; the option probabilities are those among the options, as the expected
    answers use), and ``share`` is its mean over units. The band of an *expected* total is not used (an
    expected 10.48 and 9.97 are not 100% vs 0% "moderate"). For a generated condition each unit has one
    observed score, and ``share`` is the share of units at or above the cut-off. Units without a score (an
    invalid item answer) are counted as not scored."""
    rows = []
    by_id = {i.id: i for i in instruments}
    sub = primary(scores, instruments)
    ctx = "context_id" if "context_id" in sub.columns else "session"
    dist_cache: dict[tuple, dict] = {}
    for key, g in sub.group_by(["model", "stance", "condition", "instrument", "scale"], maintain_order=True):
        inst = by_id[key[3]]
        cuts = thresholds(inst, key[4])
        if not cuts:
            continue
        units = g.sort("session").unique(ctx, keep="first", maintain_order=True)
        scored = units.filter(pl.col("score").is_not_null())
        from_probs = key[2].split(":")[1:2] == ["probs"]
        if from_probs and (probs is None or not probs.height):
            for label, cut in cuts:
                rows.append({"model": key[0], "stance": key[1], "condition": key[2], "instrument": key[3],
                             "scale": key[4], "cutoff_band": label, "cutoff": cut,
                             "n_sessions": g["session"].n_unique(), "n_units": units.height, "n_scored": scored.height,
                             "n_at_or_above": None, "share": math.nan,
                             "basis": "not computed: pass the option probabilities (probs table) to get P(score >= "
                                      "cut-off); the band of an expected score is not a share"})
            continue
        if from_probs:
            if (key[3], key[4]) not in dist_cache:
                dist_cache[(key[3], key[4])] = _unit_distributions(probs, inst, key[4])
            dists = [dist_cache[(key[3], key[4])].get((key[0], key[1], key[2], c)) for c in scored[ctx].to_list()]
            dists = [d for d in dists if d is not None]
        for label, cut in cuts:
            base = {"model": key[0], "stance": key[1], "condition": key[2], "instrument": key[3], "scale": key[4],
                    "cutoff_band": label, "cutoff": cut, "n_sessions": g["session"].n_unique(), "n_units": units.height}
            if from_probs:
                pr = [_p_at_or_above(d, cut) for d in dists]
                rows.append({**base, "n_scored": len(pr), "n_at_or_above": None,
                             "share": sum(pr) / len(pr) if pr else math.nan,
                             "basis": "P(score >= cut-off) from the item option distributions (convolution), "
                                      "mean over units"})
            else:
                vals = scored["score"].to_numpy()
                k = int((vals >= cut).sum())
                rows.append({**base, "n_scored": len(vals), "n_at_or_above": k,
                             "share": k / len(vals) if len(vals) else math.nan,
                             "basis": "share of units whose observed score is at or above the cut-off"})
    return pl.DataFrame(rows, infer_schema_length=None)


def mean_ci(values, ci: float = 0.95) -> tuple[float, float]:
    """Two-sided t interval of a mean over independent values (NaN with fewer than 2 or no spread)."""
    import numpy as np
    from scipy import stats as st

    v = np.asarray([x for x in values if x is not None and x == x], dtype=float)
    if len(v) < 2 or v.std(ddof=1) <= 1e-9 * max(1.0, abs(v.mean())):
        return math.nan, math.nan
    h = st.t.ppf(1 - (1 - ci) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - h), float(v.mean() + h)


def _expected(condition: str) -> bool:
    """Is the condition scored from option probabilities (an expected total, not an observed one)?"""
    return condition.split(":")[1:2] == ["probs"]


def score_summary(scores: pl.DataFrame, instruments: list[Instrument], ci: float = 0.95) -> pl.DataFrame:
    """Mean (t CI over sessions, SD, range) score per model x stance x condition x reported scale, the
    human band the mean falls in (where the scale has cut-offs), and missing-answer counts next to it.
    ``band_of_mean`` is empty for a condition scored from option probabilities: its score is an expected total,
    whose band says nothing about the chance of reaching a cut-off (that is P(total >= cut-off) in
    :func:`cutoff_shares`).

    ``n_units`` counts the distinct conversations scored: the sessions, or 1 for a fresh context that is
    the same request for every session (its CI is then undefined, not zero)."""
    by_id = {i.id: i for i in instruments}
    out = (
        primary(scores, instruments)
        .group_by(["model", "instrument", "scale", "condition", "stance"], maintain_order=True)
        .agg(
            pl.len().alias("n_sessions"),
            pl.col("score").is_not_null().sum().alias("n_scored"),
            pl.col("context_id").filter(pl.col("score").is_not_null()).n_unique().alias("n_units"),
            pl.col("score").mean().alias("mean"),
            pl.col("score").filter(pl.col("score").is_not_null()).unique().alias("_distinct"),
            pl.col("score").drop_nulls().alias("_values"),
            pl.col("score").std().alias("sd"),
            pl.col("score").min().alias("min"),
            pl.col("score").max().alias("max"),
            pl.col("n_invalid").sum().alias("items_invalid"),
            pl.col("n_items").sum().alias("items_asked"),
            pl.col("n_refused").sum().alias("items_refused"),
            pl.col("n_low_mass").sum().alias("items_low_mass"),
            pl.col("mean_mass").mean().alias("mean_mass"),
            pl.col("min_score").first().alias("min_score"),
            pl.col("max_score").first().alias("max_score"),
        )
    )
    cis = [mean_ci(v.to_list(), ci) if n > 1 else (math.nan, math.nan)
           for v, n in zip(out["_values"], out["n_units"])]
    return out.drop("_distinct", "_values").with_columns(
        pl.Series("ci_low", [c[0] for c in cis], dtype=pl.Float64),
        pl.Series("ci_high", [c[1] for c in cis], dtype=pl.Float64),
        pl.struct("instrument", "scale", "condition", "mean").map_elements(
            lambda r: (by_id[r["instrument"]].band(r["scale"], r["mean"])
                       if r["mean"] is not None and not _expected(r["condition"]) else None),
            return_dtype=pl.Utf8).alias("band_of_mean"),
        (pl.col("items_invalid") / pl.col("items_asked")).alias("invalid_rate"),
    ).sort("model", "instrument", "scale", "condition", "stance")


# ---- effect sizes -------------------------------------------------------------------------------


def contrasts(scores: pl.DataFrame, factor: str, pairs: list[tuple[str, str]], *, across: str,
              ci: float = 0.95, method: str = "holm") -> pl.DataFrame:
    """Paired contrasts a - b of ``factor`` (``condition`` or ``stance``) within model x instrument x
    scale x each level of ``across`` (the other factor), sessions as the unit; two-sided paired t-test,
    p adjusted (``method``, Holm by default) over the whole table (all models, scales, strata and
    pairs) as ``p_adj``. Pass the reported scales (``primary``).

    Beside each estimate, the smallest effect the paired t test detects at its n (80% power, two-sided,
    alpha = 1 - ci; ``analysis.core.stats.power``): ``mde_dz`` (standardised like ``dz``), ``mde_dz_adj`` at
    the strictest step of the adjustment (alpha / number of tests in the table) and ``mde_mean_diff`` =
    mde_dz x the observed SD of the paired differences, in score points. With one test in the table nothing is
    corrected: ``p_adj`` and ``mde_dz_adj`` are null and ``adjust`` says "no correction: one test"."""
    rows = []
    for (model, inst, scale, stratum), g in scores.group_by(["model", "instrument", "scale", across],
                                                            maintain_order=True):
        for a, b in pairs:
            ctx = "context_id" if "context_id" in g.columns else "session"
            ga = g.filter(pl.col(factor) == a).select("session", pl.col("score").alias("a"), pl.col(ctx).alias("ca"))
            gb = g.filter(pl.col(factor) == b).select("session", pl.col("score").alias("b"), pl.col(ctx).alias("cb"))
            if ga.height == 0 or gb.height == 0:
                continue
            # one pair per distinct pair of conversations: a fresh context repeated for every session is one
            # measurement, so two fresh conditions give one pair, not one per session
            j = ga.join(gb, on="session").sort("session").unique(["ca", "cb"], keep="first", maintain_order=True)
            res = paired_hedges_g(j["a"].to_numpy(), j["b"].to_numpy(), ci)
            fresh = [c for c in (a, b) if factor == "condition" and "_fresh" in c]
            if fresh:  # one fresh context repeated for every session: not an independent measurement per session
                res["note"] = "; ".join(x for x in (res["note"], f"{' and '.join(fresh)}: one fresh context per "
                                                    "distinct request, repeated for every session") if x)
            rows.append({"model": model, "instrument": inst, "scale": scale, across: stratum, "factor": factor,
                         "a": a, "b": b, **res, "sided": "two-sided"})
    if not rows:
        return pl.DataFrame()
    out = pl.DataFrame(rows, infer_schema_length=None)
    alpha = 1 - ci
    m = max(int(out["p"].is_not_nan().sum()), 1)
    mde = [mde_paired_d(int(n), alpha) for n in out["n"]]
    one = m <= 1  # a family of one test: nothing is corrected, so no adjusted p and no adjusted detectable effect
    return out.with_columns(
        (pl.Series("p_adj", adjust(out["p"].to_numpy(), method)) if not one else pl.lit(None, pl.Float64).alias("p_adj")),
        pl.lit(method if not one else "no correction: one test").alias("adjust"),
        pl.Series("mde_dz", mde, dtype=pl.Float64),
        pl.Series("mde_dz_adj", [mde_paired_d(int(n), alpha / m) if not one else None for n in out["n"]],
                  dtype=pl.Float64),
        pl.Series("mde_mean_diff", [d * sd if sd == sd else math.nan for d, sd in zip(mde, out["sd_diff"])],
                  dtype=pl.Float64))


def mixed_model(scores: pl.DataFrame, instrument: str, *, scale: str = "total", ref_condition: str = "item_session",
                ref_stance: str = "neutral", min_groups: int = 3, ci: float = 0.95,
                interaction: bool = True) -> tuple[pd.DataFrame, str]:
    """score ~ C(condition) * C(stance) [+ C(model)], random intercept per session (model x session),
    fitted with ``analysis.core.stats.mixed.fit_mixedlm`` (REML, best of several optimisers; a boundary fit
    falls back to OLS with cluster-robust SEs by session; t with sessions - 1 df).

    The condition x stance interaction is fitted whenever the design has it: more than one level of each
    and every condition x stance cell observed (``interaction=False`` forces the additive model); otherwise
    the additive model. The ``formula`` and ``inference`` columns and the note say which model was fitted.
    Returns the fixed effects (coef, SE, CI, two-sided p, df, ``mde_coef``: the smallest coefficient the
    term's t test detects at 80% power, two-sided, alpha = 1 - ci) and a note. With fewer than ``min_groups``
    sessions nothing is fitted; with fewer than 10 the note says the random-intercept variance is poorly
    estimated; a failed or boundary fit is reported, not hidden.
    """
    d = scores.filter((pl.col("scale") == scale) & (pl.col("instrument") == instrument) & pl.col("score").is_not_null())
    df = d.select("model", "session", "condition", "stance", "score").to_pandas()
    empty = pd.DataFrame(columns=["term", "coef", "se", "ci_low", "ci_high", "df", "p"])
    if df.empty:
        return empty, "no scored sessions"
    df["group"] = df["model"].astype(str) + ":" + df["session"].astype(str)
    k = df["group"].nunique()
    if k < min_groups:
        return empty, (f"only {k} session(s): a random intercept per session cannot be estimated; "
                       "see the descriptive table and the paired effect sizes")
    conds = sorted(df["condition"].unique())
    stances = sorted(df["stance"].unique())
    cterm = sterm = None
    if len(conds) > 1:
        ref = ref_condition if ref_condition in conds else conds[0]
        cterm = f"C(condition, Treatment('{ref}'))"
    if len(stances) > 1:
        ref = ref_stance if ref_stance in stances else stances[0]
        sterm = f"C(stance, Treatment('{ref}'))"
    crossed = (cterm is not None and sterm is not None
               and df.groupby(["condition", "stance"]).size().shape[0] == len(conds) * len(stances))
    terms = []
    if cterm and sterm and crossed and interaction:
        terms.append(f"{cterm} * {sterm}")
        which = "condition x stance interaction (every condition x stance cell observed)"
    else:
        terms += [t for t in (cterm, sterm) if t]
        which = ("additive (condition + stance): " + ("interaction not requested" if crossed else
                 "not every condition x stance cell was observed, so no interaction") if cterm and sterm else
                 "one factor")
    if df["model"].nunique() > 1:
        terms.append("C(model)")
    if not terms:
        return empty, "only one condition and one stance: nothing to compare"
    if df["score"].std() == 0:
        return empty, "every score is identical: nothing to model"
    formula = "score ~ " + " + ".join(terms)
    notes = [f"model fitted: {which}"]
    if k < 10:
        notes.append(f"only {k} sessions: the random-intercept variance is poorly estimated; read as descriptive")
    fit = fit_mixedlm(formula, df, "group", ci=ci)
    notes += fit.notes
    if not fit.ok:
        return empty, "; ".join(notes) or "mixed model could not be fitted"
    tab = fit.table.drop(columns=["z"]).copy()
    tab["n_obs"] = fit.n_obs
    tab["n_sessions"] = fit.n_groups
    tab["group_var"] = fit.group_var
    tab["resid_var"] = fit.resid_var
    tab["formula"] = formula
    tab["inference"] = fit.inference
    # the smallest coefficient its t test detects (80% power, two-sided, alpha = 1 - ci, its df and SE)
    tab["mde_coef"] = [mde_t_coefficient(se, df, 1 - ci) for se, df in zip(tab["se"], tab["df"])]
    return tab, "; ".join(notes)


# ---- items and recognition ----------------------------------------------------------------------


def item_distributions(items: pl.DataFrame, probs: pl.DataFrame | None = None) -> pl.DataFrame:
    """Answer distribution per model x stance x condition x item: the mean option probability over
    sessions (option probabilities) or the share of parsed answers (generation), long format."""
    parts = []
    if probs is not None and probs.height:
        p = probs.with_columns(pl.lit("probs").alias("method"))
        p = with_condition(p).group_by(["model", "stance", "condition", "instrument", "item_id", "option_value"]).agg(
            pl.col("prob").mean().alias("share"), pl.len().alias("n"))
        parts.append(p.with_columns(pl.lit("mean option probability").alias("basis")))
    gen = items.filter(pl.col("method") == "generate")
    if gen.height:
        g = with_condition(gen)
        tot = g.group_by(["model", "stance", "condition", "instrument", "item_id"]).agg(pl.len().alias("n"))
        cnt = (g.filter(pl.col("value").is_not_null())
               .with_columns(pl.col("value").cast(pl.Int64).alias("option_value"))
               .group_by(["model", "stance", "condition", "instrument", "item_id", "option_value"]).agg(pl.len().alias("k")))
        g2 = cnt.join(tot, on=["model", "stance", "condition", "instrument", "item_id"]).with_columns(
            (pl.col("k") / pl.col("n")).alias("share")).drop("k")
        parts.append(g2.with_columns(pl.lit("share of answers (unparsed excluded from numerator)").alias("basis")))
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts, how="diagonal_relaxed").sort("model", "instrument", "item_id", "condition", "stance",
                                                          "option_value")


def recognition_summary(forms: pl.DataFrame) -> pl.DataFrame:
    """Recognition rate per model x mode x stance x instrument (and overall per model x instrument)."""
    if forms.height == 0:
        return pl.DataFrame()
    agg = [
        pl.len().alias("n_forms"),
        pl.col("recognised").cast(pl.Float64).mean().alias("recognition_rate"),
        pl.col("named_in_reply").cast(pl.Float64).mean().alias("named_in_reply_rate"),
        pl.col("follow_names_correct").cast(pl.Float64).mean().alias("named_in_follow_up_rate"),
        pl.col("follow_says_yes").cast(pl.Float64).mean().alias("says_yes_rate"),
        pl.col("follow_says_yes").is_null().sum().alias("follow_up_unclear"),
        pl.col("construct_in_reply").cast(pl.Float64).mean().alias("construct_mentioned_rate"),
        ((pl.col("other_named_in_reply").fill_null("") != "") | (pl.col("follow_names_other").fill_null("") != ""))
        .cast(pl.Float64).mean().alias("names_other_rate"),
        (pl.col("n_unparsed") / pl.col("n_items")).mean().alias("unparsed_item_rate"),
    ]
    by = forms.group_by(["model", "instrument", "mode", "stance"], maintain_order=True).agg(agg)
    overall = forms.group_by(["model", "instrument"], maintain_order=True).agg(agg).with_columns(
        pl.lit("all").alias("mode"), pl.lit("all").alias("stance"))
    return pl.concat([by, overall.select(by.columns)]).sort("model", "instrument", "mode", "stance")
