"""The foundation pipeline: Big Five self-reports of models under persona prompts.

collect -> item table (parquet) -> scale scores (DuckDB aggregation) -> persona effects on the
target domain (Cohen's d with CI) and reliability across simulated participants -> figure.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import yaml

from analysis.administer import administer, load_variants, select_items
from analysis.effects import adjust, cohen_d
from analysis.elicit import Elicitor
from analysis.errors import ParamsError
from analysis.instruments import Instrument, score
from analysis.models import GenOptions
from analysis.paths import STIMULI_DIR
from analysis.reliability import cronbach_alpha, mcdonald_omega

DOMAINS = ["O", "C", "E", "A", "N"]


def load_personas(path: str | Path = STIMULI_DIR / "bigfive" / "personas.yaml") -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def participants(persona_ids: list[str], variant_ids: list[str], personas: dict | None = None,
                 variants: dict | None = None) -> list[dict]:
    personas = personas or load_personas()
    variants = variants or load_variants()
    table = personas["personas"]
    unknown = [p for p in persona_ids if p not in table]
    if unknown:
        raise ParamsError(f"Unknown persona(s) {unknown} in params.yaml; known personas are {sorted(table)}.")
    unknown_v = [v for v in variant_ids if v not in variants]
    if unknown_v:
        raise ParamsError(f"Unknown prompt variant(s) {unknown_v} in params.yaml; known variants are {sorted(variants)}.")
    out = []
    for pid in persona_ids:
        p = table[pid]
        system = personas["template"].format(description=p["description"]) if p["description"] else None
        for vid in variant_ids:
            out.append({"persona": pid, "target_domain": p["domain"], "pole": p["pole"], "variant": vid,
                        "system": system, "template": variants[vid]})
    return out


def collect(el: Elicitor, instrument: Instrument, persona_ids: list[str], variant_ids: list[str], *,
            items_per_facet: int | None, mode: str, max_tokens: int = 16, max_reasks: int = 2,
            samples: int = 1, seed: int = 0, temperature: float = 0.0) -> pl.DataFrame:
    items = select_items(instrument, per_scale=items_per_facet)
    return administer(el, instrument, items, participants(persona_ids, variant_ids), mode=mode,
                      options=GenOptions(temperature=temperature, seed=seed, max_tokens=max_tokens), max_reasks=max_reasks, samples=samples)


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


def plot_profiles(summary: pl.DataFrame, path: str | Path):
    """Heat map of mean domain scores per persona (rows) and domain (columns), one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = summary.to_pandas()
    models = list(dict.fromkeys(df["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 5), squeeze=False)
    for ax, m in zip(axes[0], models):
        wide = df[df["model"] == m].pivot(index="persona", columns="domain", values="mean_score")
        wide = wide.reindex(columns=[d for d in DOMAINS if d in wide.columns])
        sns.heatmap(wide, vmin=1, vmax=5, center=3, cmap="vlag", annot=True, fmt=".2f", ax=ax, cbar=ax is axes[0][-1])
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("domain (IPIP-NEO-120, 1-5)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return fig


def plot_effects(effects: pl.DataFrame, path: str | Path):
    """Forest plot of Cohen's d (95% CI) of each pole persona on its target domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = effects.to_pandas().sort_values(["model", "target_domain", "pole"])
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(df) + 1.5))
    labels = [f"{r.persona} | {r.variant} | {r.model.split(':', 1)[-1]}" for r in df.itertuples()]
    yy = np.arange(len(df))
    ax.errorbar(df["d"], yy, xerr=[df["d"] - df["d_ci_low"], df["d_ci_high"] - df["d"]], fmt="o", color="k", capsize=3)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(yy, labels, fontsize=8)
    ax.set_xlabel("Cohen's d, persona vs no persona on the target domain (95% CI)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return fig
