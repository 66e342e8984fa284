"""Statistics of the Big Five foundation: domain scores, persona effects on the target domain, and
reliability across simulated participants."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from analysis.core.instruments import Instrument, score
from analysis.core.stats.multiplicity import adjust
from analysis.core.stats.reliability import cronbach_alpha, mcdonald_omega

DOMAINS = ["O", "C", "E", "A", "N"]


def domain_scores(instrument: Instrument, items: pl.DataFrame) -> pl.DataFrame:
    """Scale scores per participant (model x persona x variant x sample): the mean keyed answer over the
    administered items of a scale, only when every one of them has a valid answer (none is filled in by
    averaging the others); the unscored are counted in the tables."""
    by = ["model", "persona", "target_domain", "pole", "variant", "sample"]
    administered = set(items["item_id"].unique().to_list())
    return score(instrument, items.select(*by, "item_id", "value"), by=by, min_answered=1.0, administered=administered)


def summarise(scores: pl.DataFrame) -> pl.DataFrame:
    """Mean domain score per model x persona with the number of participants, in DuckDB."""
    con = duckdb.connect()
    con.register("scores", scores.to_arrow())
    return con.sql(
        """
        SELECT model, persona, scale AS domain, avg(score) AS mean_score, count(score) AS n_participants,
               count(*) - count(score) AS n_not_scored,
               avg(n_answered::DOUBLE / n_items) AS answered_share
        FROM scores WHERE scale IN ('O','C','E','A','N')
        GROUP BY ALL ORDER BY model, persona, domain
        """
    ).pl()


def keyed_items(instrument: Instrument, items: pl.DataFrame) -> pl.DataFrame:
    rs = instrument.response_scale
    return items.join(instrument.item_table.select("item_id", "scale", "key"), on="item_id").with_columns(
        pl.col("scale").str.slice(0, 1).alias("domain"),
        pl.when(pl.col("key") == -1).then(rs.min + rs.max - pl.col("value")).otherwise(pl.col("value")).alias("keyed"),
    )


def _item_means(d: pl.DataFrame, domain: str) -> pl.DataFrame:
    """Mean keyed answer per item of ``domain`` (over replicates: variants, samples) and their count."""
    return d.filter(pl.col("domain") == domain).group_by("item_id").agg(pl.col("keyed").mean().alias("v"),
                                                                        pl.len().alias("r"))


def persona_effects(instrument: Instrument, items: pl.DataFrame, ci: float = 0.95,
                    alpha: float = 0.05) -> pl.DataFrame:
    """Effect of each pole persona on its target domain versus no persona, per model.

    Unit of analysis: the target domain's items, each answered with and without the persona, so the
    comparison is paired by item (it removes the items' own differences in level, as a model with an
    item random effect would); replicate answers of an item within a condition (prompt variants,
    samples) are averaged first, so n = the number of items answered in both conditions. Reported: the
    mean shift on the 1-5 scale with its t interval, Hedges' g_av (mean difference over the average SD
    of the two conditions, small-sample corrected) with its noncentral-t CI (it excludes 0 exactly when
    p < 1 - ci), the two-sided paired t-test, and its Holm adjustment across every persona x model
    comparison. Detectable effects (80% power, two-sided, ``alpha``; ``analysis.core.stats.power``):
    ``mde_dz`` (the paired test's standardised effect d_z = shift / SD of the item differences, beside the
    observed ``dz``), ``mde_dz_holm`` at the strictest Holm step (alpha / number of comparisons), and
    ``mde_shift`` = mde_dz x the observed SD of the differences, in scale points.
    """
    from scipy import stats as sps

    from analysis.core.stats.effects import paired_hedges_g
    from analysis.core.stats.power import mde_paired_d

    k = keyed_items(instrument, items).filter(pl.col("keyed").is_not_null())
    rows = []
    for model, g in k.group_by("model", maintain_order=True):
        model = model[0]
        base = g.filter(pl.col("persona") == "none")
        if base.height == 0:
            continue
        for persona in g.filter(pl.col("persona") != "none")["persona"].unique(maintain_order=True).to_list():
            pg = g.filter(pl.col("persona") == persona)
            dom, pole = pg["target_domain"][0], pg["pole"][0]
            j = _item_means(pg, dom).join(_item_means(base, dom), on="item_id", suffix="_none").sort("item_id")
            x, y = j["v"].to_numpy(), j["v_none"].to_numpy()
            r = paired_hedges_g(x, y, ci)
            n = len(x)
            diff = x - y
            if n >= 2 and diff.std(ddof=1) > 0:
                half = sps.t.ppf(1 - (1 - ci) / 2, n - 1) * diff.std(ddof=1) / np.sqrt(n)
                lo, hi = diff.mean() - half, diff.mean() + half
            else:
                lo = hi = np.nan
            rows.append({"model": model, "persona": persona, "target_domain": dom, "pole": pole,
                         "variants": ",".join(sorted(pg["variant"].unique().to_list())),
                         "mean_persona": r["mean_a"], "mean_none": r["mean_b"], "shift": r["mean_diff"],
                         "shift_ci_low": lo, "shift_ci_high": hi, "g": r["g"], "g_ci_low": r["ci_low"],
                         "g_ci_high": r["ci_high"], "dz": r["dz"], "mde_dz": mde_paired_d(n, alpha),
                         "mde_shift": mde_paired_d(n, alpha) * r["sd_diff"], "n_items": n,
                         "n_replicates": int(j["r"].min()) if n else 0, "t": r["t"], "p": r["p"],
                         "direction_ok": bool((r["mean_diff"] > 0) == (pole == "high")) if n else None,
                         "note": r["note"]})
    out = pl.DataFrame(rows, infer_schema_length=None)
    if out.height:
        m = int(out["p"].is_not_nan().sum())
        out = out.with_columns(
            pl.Series("p_holm", adjust(out["p"].to_numpy(), "holm")),
            pl.Series("mde_dz_holm", [mde_paired_d(int(n), alpha / max(m, 1)) for n in out["n_items"]],
                      dtype=pl.Float64),
            pl.lit("two-sided").alias("sided"))
    return out


def diagnose_scale(wide, keys: dict[str, int]) -> dict:
    """Why a scale's alpha is negative, read from the (keyed) data: the item variances, the inter-item
    covariances, and the correlations of keyed items within and across the two keying directions.

    ``diagnosis`` is ``reverse_keying`` when, after keying, items of opposite keys correlate negatively while
    items of the same key correlate positively (the answers follow the wording, not the trait: agreeing, or
    disagreeing, with an item whatever its direction, so the keyed items cancel); ``near_zero_variance``
    when items or the total barely vary (below 1e-3 of the largest item variance, or a total variance below a
    tenth of the summed item variances without a keying pattern); otherwise ``negative_covariances``.
    """
    import numpy as np

    x = wide.dropna(axis=0, how="any").astype(float)
    cols = list(x.columns)
    var = x.var(ddof=1).to_numpy()
    cov = x.cov().to_numpy()
    off = ~np.eye(len(cols), dtype=bool)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = cov / np.outer(sd, sd)
    k = np.array([keys.get(c, 1) for c in cols])
    same = off & (k[:, None] == k[None, :]) & np.isfinite(r)
    opp = (k[:, None] != k[None, :]) & np.isfinite(r)
    r_same = float(np.mean(r[same])) if same.any() else float("nan")
    r_opp = float(np.mean(r[opp])) if opp.any() else float("nan")
    total_var = float(x.sum(axis=1).var(ddof=1))
    tiny = int((var < 1e-3 * var.max()).sum()) if var.max() > 0 else len(var)
    out = {"min_item_var": float(var.min()), "max_item_var": float(var.max()), "mean_cov": float(cov[off].mean()),
           "mean_r_same_key": r_same, "mean_r_opposite_key": r_opp, "total_var": total_var,
           "sum_item_var": float(var.sum()), "n_reverse_keyed": int((k == -1).sum())}
    if opp.any() and r_opp < 0 and (not same.any() or r_same > 0):
        out["diagnosis"] = "reverse_keying"
        out["why"] = (f"reverse keying: after keying, items of opposite keys correlate negatively (mean r = "
                      f"{r_opp:.2f}) while items of the same key correlate positively (mean r = {r_same:.2f}); the "
                      "answers follow the items' wording, not the trait (agreeing, or disagreeing, whatever the "
                      "item's direction), so forward- and reverse-keyed items cancel in the total")
    elif tiny or total_var < 0.1 * var.sum():
        out["diagnosis"] = "near_zero_variance"
        out["why"] = (f"near-zero variance: {tiny} of {len(var)} items barely vary across participants (item "
                      f"variances {var.min():.3g} to {var.max():.3g}; total variance {total_var:.3g} against summed "
                      f"item variances {var.sum():.3g})")
    else:
        out["diagnosis"] = "negative_covariances"
        out["why"] = (f"the items covary negatively on average (mean covariance {out['mean_cov']:.3g}) without a "
                      "keying pattern: they do not measure one thing across these participants")
    return out


def reliability(instrument: Instrument, items: pl.DataFrame) -> pl.DataFrame:
    """Cronbach's alpha (Feldt CI) and McDonald's omega per domain across simulated participants
    (persona x variant x sample), per model and pooled over all models (model then part of the
    participant); n participants and k items reported.

    A negative alpha is a finding about the scale, not a reliability: it is not put in the ``alpha``
    column (nor are its CI and omega, which rest on the same covariances); ``diagnosis`` says which
    (``reverse_keying``, ``near_zero_variance``, ``negative_covariances``, from :func:`diagnose_scale`:
    item variances, inter-item covariances, keyed correlations within and across key directions) and the
    note says why, with those numbers."""
    k = keyed_items(instrument, items)
    keys = dict(zip(instrument.item_table["item_id"].to_list(), instrument.item_table["key"].to_list()))
    rows = []
    groups = [(m, k.filter(pl.col("model") == m)) for m in k["model"].unique(maintain_order=True).to_list()]
    if len(groups) > 1:
        groups.append(("all models", k))
    for model, km in groups:
        for dom in DOMAINS:
            wide = (km.filter(pl.col("domain") == dom)
                    .with_columns(pl.concat_str(["model", "persona", "variant", pl.col("sample").cast(pl.Utf8)],
                                                separator="|").alias("pid"))
                    .pivot(on="item_id", index="pid", values="keyed").drop("pid").to_pandas())
            if wide.shape[1] == 0:
                continue
            a, o = cronbach_alpha(wide), mcdonald_omega(wide)
            notes = [x for x in (a["note"], o["note"]) if x]
            diagnosis = None
            alpha, lo, hi, omega = a["alpha"], a["ci_low"], a["ci_high"], o["omega"]
            if alpha == alpha and alpha < 0:
                dg = diagnose_scale(wide, keys)
                diagnosis = dg["diagnosis"]
                notes.append("negative alpha: not a reliability, so no alpha, CI or omega is reported; " + dg["why"])
                alpha = lo = hi = omega = None
            elif alpha == alpha and a["n"] < 10:
                notes.append(f"only {a['n']} participants: a rough estimate")
            rows.append({"model": model, "domain": dom, "alpha": alpha, "alpha_ci_low": lo,
                         "alpha_ci_high": hi, "omega": omega, "n_participants": a["n"], "k_items": a["k"],
                         "diagnosis": diagnosis, "note": "; ".join(notes)})
    return pl.DataFrame(rows, infer_schema_length=None, schema_overrides={
        "alpha": pl.Float64, "alpha_ci_low": pl.Float64, "alpha_ci_high": pl.Float64, "omega": pl.Float64,
        "diagnosis": pl.Utf8})


def headline(effects: pl.DataFrame, rel: pl.DataFrame) -> dict:
    """The DVC metrics of the foundation, per model: each pole persona's effect on its target domain
    (d with CI, n, Holm-adjusted p) and each domain's reliability (alpha with CI, omega, n)."""
    out: dict = {}
    for r in effects.iter_rows(named=True):
        m = out.setdefault(r["model"], {"persona_effects": {}, "reliability": {}})
        m["persona_effects"][r["persona"]] = {
            "shift": r["shift"], "shift_ci_low": r["shift_ci_low"], "shift_ci_high": r["shift_ci_high"],
            "g": r["g"], "g_ci_low": r["g_ci_low"], "g_ci_high": r["g_ci_high"], "n_items": r["n_items"],
            "p": r["p"], "p_holm": r.get("p_holm"), "mde_dz": r.get("mde_dz")}
    for r in rel.iter_rows(named=True):
        m = out.setdefault(r["model"], {"persona_effects": {}, "reliability": {}})
        m["reliability"][r["domain"]] = {"alpha": r["alpha"], "ci_low": r["alpha_ci_low"], "ci_high": r["alpha_ci_high"],
                                         "omega": r["omega"], "n": r["n_participants"], "k": r["k_items"]}
    return out


def summary(effects: pl.DataFrame, rel: pl.DataFrame, items: pl.DataFrame, alpha: float = 0.05) -> str:
    """What this run found, in a few sentences computed from the tables (markdown)."""
    n_models = items["model"].n_unique()
    n_items = items["item_id"].n_unique()
    invalid = int((items["status"] != "ok").sum())
    lines = [f"**This run:** {n_models} model(s), {items['persona'].n_unique()} persona conditions, {n_items} items; "
             f"{invalid} of {items.height} answers without a valid response (left missing, not imputed)."]
    if not effects.height:  # the headline (first paragraph) is always a finding
        lines.insert(0, "**Persona effects:** none estimable in this run (no pole persona with answered items of its "
                        "target domain under both conditions).")
    if effects.height:
        ok = int(effects["direction_ok"].fill_null(False).sum())
        sig = effects.filter(pl.col("p_holm") < alpha)
        best = effects.sort("g", descending=True, nulls_last=True).row(0, named=True)
        lines.insert(0,
            f"**Persona effects:** {ok} of {effects.height} pole personas moved their target domain in the intended "
            f"direction; {sig.height} of {effects.height} shifts are significant after Holm correction (two-sided, "
            f"alpha = {alpha}). Largest: {best['persona']} on {best['target_domain']}, shift {best['shift']:+.2f} "
            f"scale points, g = {best['g']:.2f} [{best['g_ci_low']:.2f}, {best['g_ci_high']:.2f}], n = "
            f"{best['n_items']} items (paired by item).")
        if effects["n_items"].max() < 10:
            lines.append(f"*Caveat:* with {effects['n_items'].max()} items per domain the intervals are wide; "
                         "set `bigfive.collect.items_per_facet: null` for all 24 items per domain.")
    if effects.height:
        null = effects.filter(~(pl.col("p_holm") < alpha))
        if null.height:
            ns = sorted(set(int(n) for n in null["n_items"]))
            mde = {n: (float(null.filter(pl.col("n_items") == n)["mde_dz"][0]),
                       float(null.filter(pl.col("n_items") == n)["mde_dz_holm"][0])) for n in ns}
            lines.append(
                f"**What the non-significant shifts could have detected:** {null.height} of {effects.height} shifts are "
                "not significant after Holm; " + "; ".join(
                    f"with n = {n} items a paired t test detects d_z >= {mde[n][0]:.2f} at 80% power (two-sided, "
                    f"alpha = {alpha}), d_z >= {mde[n][1]:.2f} at the strictest Holm step" for n in ns)
                + " (observed d_z of these shifts: " + ", ".join(
                    f"{r['persona']} {r['dz']:.2f}" for r in null.iter_rows(named=True) if r["dz"] == r["dz"])
                + "); smaller effects are not ruled out.")
    rel_ok = rel.filter(pl.col("alpha").is_not_null() & pl.col("alpha").is_not_nan()) if rel.height else rel
    flagged = rel.filter(pl.col("diagnosis").is_not_null()) if rel.height and "diagnosis" in rel.columns else rel.clear()
    if rel.height and not rel_ok.height and not flagged.height:
        lines.append(f"**Reliability:** not estimable here ({int(rel['n_participants'].max())} simulated participants "
                     "per model; alpha needs at least 3 with variance): add personas, variants or samples.")
    elif rel.height:
        lo, hi = int(rel["n_participants"].min()), int(rel["n_participants"].max())
        n_txt = f"n = {lo}" if lo == hi else f"n = {lo} to {hi}"
        parts = []
        if rel_ok.height:
            parts.append(f"alpha ranges {rel_ok['alpha'].min():.2f} to {rel_ok['alpha'].max():.2f} across "
                         f"{rel_ok.height} domain(s) ({n_txt} simulated participants)")
        for r in flagged.iter_rows(named=True):
            parts.append(f"{r['domain']} ({r['model'].split(':')[-1]}) has no reliability: its items' covariances give "
                         f"a negative alpha, diagnosed as {r['diagnosis'].replace('_', ' ')} (see the note column)")
        lines.append("**Reliability:** " + "; ".join(parts) + ".")
    return "\n\n".join(lines)


def long_tables(summary_: pl.DataFrame, effects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The shared long format (analysis.core.measures): domain means per persona, and each pole persona's
    shift of its target domain."""
    measures = summary_.select(
        "model", pl.col("persona").alias("condition"),
        pl.when(pl.col("persona") == "none").then(pl.lit("baseline")).otherwise(pl.lit("persona")).alias("condition_kind"),
        ("sr_" + pl.col("domain")).alias("measure"), pl.lit("self_report").alias("kind"),
        pl.col("mean_score").alias("estimate"), pl.col("n_participants").alias("n"),
        pl.lit("IPIP-NEO-120 domain mean (1-5)").alias("unit"))
    shifts = effects.select(
        "model", (pl.col("persona") + " persona").alias("manipulation"), pl.lit("persona vs no persona").alias("contrast"),
        ("sr_" + pl.col("target_domain")).alias("measure"), pl.lit("self_report").alias("kind"),
        pl.lit("hedges_g_av").alias("effect"), pl.col("g").alias("estimate"), pl.col("g_ci_low").alias("ci_low"),
        pl.col("g_ci_high").alias("ci_high"), pl.col("n_items").alias("n_a"), pl.col("n_items").alias("n_b"),
        pl.lit("item (paired across conditions)").alias("unit_of_analysis"), pl.col("note"))
    return measures, shifts
