"""Statistics of the Big Five foundation: domain scores, persona effects on the target domain, and
reliability across simulated participants."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from analysis.core.instruments import Instrument, score
from analysis.core.stats.effects import cohen_d
from analysis.core.stats.multiplicity import adjust
from analysis.core.stats.reliability import cronbach_alpha, mcdonald_omega

DOMAINS = ["O", "C", "E", "A", "N"]


def domain_scores(instrument: Instrument, items: pl.DataFrame) -> pl.DataFrame:
    """Scale scores per participant (model x persona x variant x sample)."""
    by = ["model", "persona", "target_domain", "pole", "variant", "sample"]
    administered = set(items["item_id"].unique().to_list())
    return score(instrument, items.select(*by, "item_id", "value"), by=by, min_answered=0.5, administered=administered)


def summarise(scores: pl.DataFrame) -> pl.DataFrame:
    """Mean domain score per model x persona with the number of participants, in DuckDB."""
    con = duckdb.connect()
    con.register("scores", scores.to_arrow())
    return con.sql(
        """
        SELECT model, persona, scale AS domain, avg(score) AS mean_score, count(score) AS n_participants,
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


def persona_effects(instrument: Instrument, items: pl.DataFrame, ci: float = 0.95) -> pl.DataFrame:
    """Effect of each pole persona on its target domain versus no persona, per model and variant.

    The unit is the keyed item response on the target domain's items (so n = items answered), the
    persona's responses against the no-persona responses to the same items; two-sided CIs; Holm
    adjustment of the Welch p-values across all persona x model x variant comparisons.
    """
    from scipy import stats

    k = keyed_items(instrument, items)
    rows = []
    for (model, variant), g in k.group_by(["model", "variant"], maintain_order=True):
        base = g.filter(pl.col("persona") == "none")
        if base.height == 0:
            continue
        for persona in g.filter(pl.col("persona") != "none")["persona"].unique(maintain_order=True):
            pg = g.filter(pl.col("persona") == persona)
            dom = pg["target_domain"][0]
            x = pg.filter(pl.col("domain") == dom)["keyed"].drop_nulls().to_numpy()
            y = base.filter(pl.col("domain") == dom)["keyed"].drop_nulls().to_numpy()
            d = cohen_d(x, y, ci)
            p = stats.ttest_ind(x, y, equal_var=False).pvalue if len(x) > 1 and len(y) > 1 else np.nan
            rows.append({"model": model, "variant": variant, "persona": persona, "target_domain": dom,
                         "pole": pg["pole"][0], "mean_persona": d["mean1"], "mean_none": d["mean2"],
                         "shift": d["mean1"] - d["mean2"], "d": d["d"], "d_ci_low": d["d_ci_low"],
                         "d_ci_high": d["d_ci_high"], "n_persona": d["n1"], "n_none": d["n2"], "p_welch": p,
                         "direction_ok": (d["mean1"] > d["mean2"]) == (pg["pole"][0] == "high")})
    out = pl.DataFrame(rows)
    if out.height:
        out = out.with_columns(pl.Series("p_holm", adjust(out["p_welch"].to_numpy(), "holm")))
    return out


def reliability(instrument: Instrument, items: pl.DataFrame) -> pl.DataFrame:
    """Cronbach's alpha (Feldt CI) and McDonald's omega per domain across simulated participants
    (model x persona x variant x sample); n participants and k items reported."""
    k = keyed_items(instrument, items)
    rows = []
    for model in k["model"].unique(maintain_order=True):
        km = k.filter(pl.col("model") == model)
        for dom in DOMAINS:
            wide = (km.filter(pl.col("domain") == dom)
                    .with_columns(pl.concat_str(["persona", "variant", pl.col("sample").cast(pl.Utf8)], separator="|").alias("pid"))
                    .pivot(on="item_id", index="pid", values="keyed").drop("pid").to_pandas())
            if wide.shape[1] == 0:
                continue
            a, o = cronbach_alpha(wide), mcdonald_omega(wide)
            rows.append({"model": model, "domain": dom, "alpha": a["alpha"], "alpha_ci_low": a["ci_low"],
                         "alpha_ci_high": a["ci_high"], "omega": o["omega"], "n_participants": a["n"], "k_items": a["k"],
                         "note": "; ".join(x for x in (a["note"], o["note"]) if x)})
    return pl.DataFrame(rows)


def headline(effects: pl.DataFrame, rel: pl.DataFrame) -> dict:
    """The DVC metrics of the foundation, per model: each pole persona's effect on its target domain
    (d with CI, n, Holm-adjusted p) and each domain's reliability (alpha with CI, omega, n)."""
    out: dict = {}
    for r in effects.iter_rows(named=True):
        m = out.setdefault(r["model"], {"persona_effects": {}, "reliability": {}})
        m["persona_effects"][f"{r['persona']}|{r['variant']}"] = {
            "d": r["d"], "ci_low": r["d_ci_low"], "ci_high": r["d_ci_high"], "shift": r["shift"],
            "n_persona": r["n_persona"], "n_none": r["n_none"], "p_holm": r.get("p_holm")}
    for r in rel.iter_rows(named=True):
        m = out.setdefault(r["model"], {"persona_effects": {}, "reliability": {}})
        m["reliability"][r["domain"]] = {"alpha": r["alpha"], "ci_low": r["alpha_ci_low"], "ci_high": r["alpha_ci_high"],
                                         "omega": r["omega"], "n": r["n_participants"], "k": r["k_items"]}
    return out
