"""The steps of the cross-study synthesis (``notebooks/synthesis/across_studies.py``), one function each so
that the notebook shows them one cell at a time: which pairs moved, the count per study, the opening summary
and the headline metrics. The input is the results database's view ``self_report_vs_behaviour`` (one row per
model x manipulation x self-report / behaviour pair, with each shift's CI); nothing here reads a study."""

from __future__ import annotations

import polars as pl


def excludes_zero(lo, hi):
    """True where the CI [lo, hi] excludes 0 (null where an end is unknown)."""
    return (lo > 0) | (hi < 0)


def moved(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` with an unestimable shift as null (not NaN: polars orders NaN above every number) and, per pair,
    whether the self-report and the behaviour moved (their two-sided CI excludes 0; null when unknown)."""
    if not pairs.height:
        return pairs
    p = pairs.with_columns(pl.col(pl.Float64).fill_nan(None))
    return p.with_columns(
        excludes_zero(pl.col("self_report_ci_low"), pl.col("self_report_ci_high")).alias("self_report_moved"),
        excludes_zero(pl.col("behaviour_ci_low"), pl.col("behaviour_ci_high")).alias("behaviour_moved"),
        (pl.col("self_report_shift").is_not_null() & pl.col("behaviour_shift").is_not_null()).alias("plotted"))


def by_study(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per study (the output of :func:`moved`): pairs, models, how many self-reports and behaviours moved, how
    many self-reports moved without the behaviour (the "illusion"), how many pairs are not estimable, and the
    median standardised shifts."""
    if not pairs.height:
        return pl.DataFrame()
    return pairs.group_by("study", maintain_order=True).agg(
        pl.len().alias("pairs"), pl.col("plotted").sum().alias("pairs_plotted"),
        pl.col("model").n_unique().alias("models"),
        pl.col("self_report_moved").sum().alias("self_report_moved"),
        pl.col("behaviour_moved").sum().alias("behaviour_moved"),
        (pl.col("self_report_moved") & pl.col("behaviour_moved").not_()).sum().alias("illusion"),  # null: unknown
        (pl.col("self_report_shift").is_null() | pl.col("behaviour_shift").is_null()).sum().alias("not_estimable"),
        pl.col("self_report_shift").median().alias("median_self_report_shift"),
        pl.col("behaviour_shift").median().alias("median_behaviour_shift"))


def _effect(r: dict, kind: str) -> str:
    """One shift of a pair as printed: measure, effect = estimate [CI], n (or why it is not estimable)."""
    x = r[f"{kind}_shift"]
    if x is None:
        return f"{r[f'{kind}_measure']} not estimable (n = {r[f'{kind}_n_a']} vs {r[f'{kind}_n_b']})"
    lo, hi = r[f"{kind}_ci_low"], r[f"{kind}_ci_high"]
    ci = f"[{lo:+.2f}, {hi:+.2f}]" if lo is not None and hi is not None else "(CI undefined)"
    return f"{r[f'{kind}_measure']} {r[f'{kind}_effect']} = {x:+.2f} {ci}, n = {r[f'{kind}_n_a']} vs {r[f'{kind}_n_b']}"


def summary_markdown(pairs: pl.DataFrame, studies: pl.DataFrame) -> str:
    """The report's opening (also the report index's box): what this run found, per study and per pair (each shift
    with its CI and n), how many pairs are plotted and how many only listed, with the caveat. Every number comes
    from the pairs that :func:`moved` marked (``tests/pipeline/test_consistency.py`` checks them)."""
    from analysis.core.figures import short_model

    if not pairs.height:
        return ("**This run has no self-report / behaviour pair:** no study wrote both kinds of shift for the same "
                "model and manipulation (see the table of shifts below).")
    n_plot = int(pairs["plotted"].sum())
    lines = [f"**This run:** {pairs.height} self-report / behaviour pairs from {pairs['study'].n_unique()} "
             f"studies and {pairs['model'].n_unique()} model(s); {n_plot} have both shifts estimated and are plotted, "
             f"{pairs.height - n_plot} are listed only (a shift could not be estimated)."]
    for r in studies.iter_rows(named=True):
        sub = pairs.filter(pl.col("study") == r["study"])
        manip = "; ".join(sorted(set(sub["manipulation"].to_list())))
        lines.append(f"* {r['study']} ({manip}): {r['pairs']} pair(s), {r['pairs_plotted']} plotted; the self-report "
                     f"moved (95% CI excludes 0) in {r['self_report_moved']}, the behaviour in {r['behaviour_moved']}; "
                     f"self-report moved without the behaviour in {r['illusion']}; {r['not_estimable']} with a shift "
                     "that could not be estimated.")
        for p in sub.iter_rows(named=True):
            lines.append(f"  * {short_model(p['model'])}, {p['contrast']}: self-report {_effect(p, 'self_report')}; "
                         f"behaviour {_effect(p, 'behaviour')}.")
    lines.append("")  # a blank line: the caveat is its own paragraph, not part of the last list item
    lines.append("*Caveat:* effects are standardised within each study (Cohen's d or Hedges' g, see the table's "
                 "`effect` columns) on different units of analysis (prompts, personas, sessions); compare directions and "
                 "intervals, not the exact sizes across studies.")
    return "\n".join(lines)


def headline(studies: pl.DataFrame) -> dict:
    """``metrics/synthesis.json``: the per-study counts of :func:`by_study` (``{"pairs": 0}`` without pairs)."""
    if not studies.height:
        return {"pairs": 0}
    return {r["study"]: {k: v for k, v in r.items() if k != "study"} for r in studies.iter_rows(named=True)}
