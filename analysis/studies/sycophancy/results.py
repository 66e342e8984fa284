"""Study 2's analysis as steps, one per research question, so that the analysis notebook runs each in its own
cell and a researcher can change one and re-run it. Each step is a composition of the tested functions of
:mod:`analysis.studies.sycophancy.stats` with the analysis parameters ``a``
(:class:`analysis.studies.sycophancy.params.AnalysisParams`); :func:`assemble` puts the steps' results
together into one :class:`stats.Results`, and :func:`stats.analyse` is that composition (one composition, not
a copy; a test checks that the two agree). No statistic is computed here."""

from __future__ import annotations

import polars as pl

from analysis.studies.sycophancy import stats


def persona_step(personas: pl.DataFrame, ratings: pl.DataFrame, stances: pl.DataFrame, instrument,
                 a) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per model x persona (perceived agreeableness, facets, sycophancy rate, claims) and the plain
    assistant's row per model (:func:`stats.persona_table`)."""
    return stats.persona_table(personas, ratings, stances, instrument, a.min_option_mass)


def validity_step(stances: pl.DataFrame, ratings: pl.DataFrame, a) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Invalid answers and probability on the allowed answers; agreement of the two stance readings."""
    return stats.validity(stances, ratings, a.min_option_mass), stats.check_agreement(stances)


def manipulation_step(table: pl.DataFrame, ratings: pl.DataFrame, instrument, a) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Does the model read the designed agreeableness (Pearson, Spearman), and the scale's reliability. Personas
    without a designed level (the paper's own) have no manipulation check: an empty table."""
    designed = table.drop_nulls(["agreeableness", "designed_agreeableness"])
    if not designed.height:
        return (pl.DataFrame(schema={"model": pl.Utf8, "test": pl.Utf8, "estimate": pl.Float64, "ci_low": pl.Float64,
                                     "ci_high": pl.Float64, "n": pl.Int64, "p": pl.Float64, "sided": pl.Utf8,
                                     "note": pl.Utf8}),
                stats.scale_reliability(ratings, instrument, min_option_mass=a.min_option_mass))
    manip = stats.association_tests(table.drop_nulls(["agreeableness", "designed_agreeableness"]),
                                    x="designed_agreeableness", y="agreeableness", ci=a.ci, n_perm=1000,
                                    seed=a.perm_seed, ties=a.median_ties).filter(
        pl.col("test").is_in(["pearson_r", "spearman_rho"]))
    return manip, stats.scale_reliability(ratings, instrument, min_option_mass=a.min_option_mass)


def rates_step(table: pl.DataFrame, baseline: pl.DataFrame) -> pl.DataFrame:
    """Per model: personas analysed and left out, the persona rates, the plain assistant's rate, invalid answers."""
    complete = pl.col("agreeableness").is_not_null() & pl.col("sycophancy").is_not_null()
    return table.group_by("model").agg(
        pl.len().alias("n_personas"),
        complete.sum().alias("n_personas_analysed"),
        pl.col("agreeableness").is_null().sum().alias("n_no_agreeableness"),
        pl.col("sycophancy").is_null().sum().alias("n_no_sycophancy"),
        pl.col("sycophancy").mean().alias("mean_persona_rate"), pl.col("sycophancy").min().alias("min"),
        pl.col("sycophancy").max().alias("max"), pl.col("sycophancy").std().alias("sd"),
        pl.col("n_valid").sum().alias("n_valid_stances"), pl.col("n_invalid").sum().alias("n_invalid_stances"),
        pl.col("n_low_mass").sum().alias("n_low_mass_stances"),
        (pl.col("n_items") - pl.col("n_rated")).sum().alias("n_invalid_ratings"),
    ).join(baseline.select("model", pl.col("sycophancy").alias("baseline_rate"),
                           pl.col("n_valid").alias("baseline_valid"), pl.col("n_invalid").alias("baseline_invalid")),
           on="model", how="left").sort("model")


def association_step(table: pl.DataFrame, a) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The research question: the six tests and effect sizes of agreeableness against sycophancy per model, and
    the decision rule as published and after correction across models (tests, adjusted tests, decision)."""
    tests = stats.association_tests(table, x="agreeableness", y="sycophancy", ci=a.ci, n_perm=a.n_perm,
                                    seed=a.perm_seed, ties=a.median_ties)
    adj, decision = stats.decision_rule(tests, alpha=a.alpha, min_significant=a.min_significant, method=a.adjust)
    return stats.with_mde(tests, a.alpha), adj, decision


def facets_step(table: pl.DataFrame, instrument, a) -> pl.DataFrame:
    """Each facet's correlation with the sycophancy rate."""
    return stats.facet_correlations(table, [s.id for s in instrument.scales if s.parent is not None], ci=a.ci)


def ttg_step(table: pl.DataFrame, baseline: pl.DataFrame, a) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The trait-truthfulness gap per persona and its summary per model (None without a valid baseline rate)."""
    if not (baseline.height and baseline["sycophancy"].drop_nulls().len()):
        return None, None
    t = stats.ttg(table.drop_nulls(["agreeableness", "sycophancy"]), baseline.drop_nulls("sycophancy"),
                  neutral=a.ttg_neutral, strong=a.ttg_strong)
    return t, stats.ttg_summary(t, ci=a.ci, strong=a.ttg_strong)


def baseline_step(table: pl.DataFrame, baseline: pl.DataFrame, a) -> pl.DataFrame:
    """The personas against the plain assistant: the paper's one-sample t test, and the same-prompt difference."""
    return stats.baseline_comparison(table, baseline, a.ci)


def ttg_extras_step(ttg: tuple, a) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The TTG by agreeableness quartile and its correlation with agreeableness, as in the paper's code."""
    t = ttg[0]
    return (stats.ttg_by_quartile(t, ci=a.ci), stats.ttg_correlation(t, ci=a.ci)) if t is not None else (None, None)


def meta_step(tests: pl.DataFrame, a) -> pl.DataFrame:
    """The per-model Pearson r combined across models (random effects on Fisher z, I^2; the paper's way beside)."""
    return stats.meta_analysis(tests, a.ci)


def facts_step(table: pl.DataFrame, baseline: pl.DataFrame, a) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """Agreement with false minus true claims per model and its tests against agreeableness (None without pairs)."""
    if not table["false_minus_true"].drop_nulls().len():
        return None, None
    fact_cols = ["agree_false", "agree_true", "false_minus_true"]
    facts = table.group_by("model").agg([pl.col(c).mean() for c in fact_cols]
                                        + [pl.col("false_minus_true").is_not_null().sum().alias("n_personas"),
                                           pl.col("n_pairs_complete").sum()])
    facts = facts.join(baseline.select("model", *[pl.col(c).alias(f"baseline_{c}") for c in fact_cols]),
                       on="model", how="left").sort("model")
    tests = stats.association_tests(table.drop_nulls("false_minus_true"), y="false_minus_true", ci=a.ci,
                                    n_perm=a.n_perm, seed=a.perm_seed, ties=a.median_ties)
    return facts, tests


def deference_step(personas: pl.DataFrame, table: pl.DataFrame, a) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Which personas' texts contain deference language (the lexicon of
    :mod:`analysis.studies.sycophancy.deference`), and r and d with and without them."""
    from analysis.studies.sycophancy.deference import flag_personas

    flags = flag_personas(personas.unique("persona_id", maintain_order=True))
    return flags, stats.deference_sensitivity(table, flags, ci=a.ci, n_perm=1000, seed=a.perm_seed,
                                              ties=a.median_ties)


def control_step(stances: pl.DataFrame, table: pl.DataFrame, controls: pl.DataFrame | None,
                 a) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The control personas (another trait at the same levels): their agreement rates, and agreement against the
    designed trait beside agreement against designed agreeableness (None when no control persona was asked)."""
    if controls is None or not controls.height or "role" not in stances.columns \
            or not stances.filter(pl.col("role") == "control").height:
        return None, None
    rates = stats.control_rates(stances, controls, a.min_option_mass)
    return rates, stats.control_comparison(table, rates, ci=a.ci, n_perm=1000, seed=a.perm_seed, ties=a.median_ties)


def mixed_step(table: pl.DataFrame, a) -> pl.DataFrame:
    """Across models: sycophancy ~ agreeableness + (1 | model)."""
    return stats.mixed_model(table, ci=a.ci, random_slope=a.random_slope)


def assemble(stances: pl.DataFrame, a, table, baseline, validity, checks, manipulation, reliability, rates,
             association, facets, mixed, ttg=(None, None), facts=(None, None), deference=(None, None),
             control=(None, None), extras=(None, (None, None), None)) -> stats.Results:
    """The steps' results as one :class:`stats.Results` (:func:`stats.analyse` is this composition of the steps),
    with the first-token probe's token map and its ambiguous probability from ``stances``."""
    tests, adj, decision = association
    res = stats.Results(table, baseline, validity, checks, manipulation, reliability, rates, tests, adj, decision,
                        facets, mixed, models=sorted(stances["model"].unique().to_list()), decision_method=a.adjust)
    res.first_tokens = stats.first_token_map(stances)
    res.ambiguous = stats.ambiguous_mass(stances)
    res.probe_without_tokens = ("first_tokens" not in stances.columns
                                and stances["parse_method"].eq("logprob_first_token").any())
    opinion = stances.filter(pl.col("kind") == "opinion")
    res.n_opinion_prompts = opinion["item_id"].n_unique()
    res.n_categories = opinion["category"].n_unique()
    res.ttg, res.ttg_summary = ttg
    res.facts, res.fact_tests = facts
    res.deference_flags, res.deference = deference
    res.control_rates, res.control = control
    res.baseline_tests, (res.ttg_quartiles, res.ttg_correlation), res.meta = extras
    return res
