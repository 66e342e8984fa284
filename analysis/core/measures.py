"""One long format for every study's results, so they can be queried together (DuckDB) and set side by
side (the synthesis across studies).

Each analysis stage writes two tables to ``data/processed/<study>/``:

* ``measures.parquet``: one row per model x condition x measure: what a model said about itself (kind
  ``self_report``: a trait scale, a persona's rated trait), did (``behaviour``: a rate, a choice) or scored
  on a clinical scale (``clinical_scale``), with the estimate, its CI where there is one, and n.
* ``shifts.parquet``: one row per model x manipulation x measure: how far a manipulation (a persona, a
  framing) moved the measure, as a standardised effect (Cohen's d or Hedges' g, stated in ``effect``) with
  its CI, the two group sizes and the unit of analysis. The synthesis plots self-report shifts against
  behaviour shifts from these rows.
"""

from __future__ import annotations

import polars as pl

from analysis.core.errors import UserError
from analysis.core.io import write_parquet
from analysis.core.paths import processed_dir

KINDS = ("self_report", "behaviour", "clinical_scale")

MEASURES = {"study": pl.Utf8, "model": pl.Utf8, "condition": pl.Utf8, "condition_kind": pl.Utf8, "measure": pl.Utf8,
            "kind": pl.Utf8, "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n": pl.Int64,
            "unit": pl.Utf8}
SHIFTS = {"study": pl.Utf8, "model": pl.Utf8, "manipulation": pl.Utf8, "contrast": pl.Utf8, "measure": pl.Utf8,
          "kind": pl.Utf8, "effect": pl.Utf8, "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
          "n_a": pl.Int64, "n_b": pl.Int64, "unit_of_analysis": pl.Utf8, "note": pl.Utf8}


class MeasuresError(UserError):
    """A study's long-format results do not follow the shared schema."""


def conform(df: pl.DataFrame, schema: dict, what: str) -> pl.DataFrame:
    """``df`` with exactly the schema's columns, in order and type (missing optional columns as null)."""
    required = [c for c in schema if c not in ("ci_low", "ci_high", "unit", "note", "n_b")]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise MeasuresError(f"The {what} table lacks the column(s) {missing}; see analysis/core/measures.py.")
    out = df.select([(pl.col(c) if c in df.columns else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()])
    bad = sorted(set(out["kind"].drop_nulls().to_list()) - set(KINDS))
    if bad:
        raise MeasuresError(f"The {what} table has kind(s) {bad}; a kind is one of {list(KINDS)}.")
    return out


def write(study: str, measures: pl.DataFrame, shifts: pl.DataFrame | None = None) -> dict:
    """Write a study's measures (and shifts) in the shared long format; returns the paths."""
    out = processed_dir(study)
    m = conform(measures.with_columns(pl.lit(study).alias("study")), MEASURES, f"{study} measures")
    paths = {"measures": write_parquet(m.sort("model", "condition", "measure"), out / "measures.parquet")}
    s = shifts if shifts is not None else pl.DataFrame(schema=SHIFTS)
    s = conform(s.with_columns(pl.lit(study).alias("study")), SHIFTS, f"{study} shifts")
    paths["shifts"] = write_parquet(s.sort("model", "manipulation", "measure"), out / "shifts.parquet")
    return paths
