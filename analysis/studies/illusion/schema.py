"""The tidy results table of Study 1 (the personality illusion), validated on load.

One row per model x condition x temperature x run; the analysis notebook needs nothing else, so a
published results table in this schema can be re-analysed without running any model.

Key columns (required, no nulls; together unique):
  ``model`` (str)           model spec or name
  ``condition`` (str)       condition id, e.g. ``baseline_helpful``, ``persona_agreeableness_character_t1``
  ``condition_type`` (str)  ``baseline`` or ``persona``
  ``temperature`` (float)   sampling temperature (>= 0)
  ``run`` (int)             repetition index (>= 0)

Label columns (optional): ``persona_trait`` (``agreeableness`` | ``self_regulation``; required on
persona rows), ``persona_strategy``, ``persona_triplet``, ``persona_words``, ``baseline_name``,
``system_prompt``, ``system_sent``, ``mode`` (``option_probs`` | ``generate``).

Self-report columns: ``sr_<SCALE>`` (float, null = not scored), one per scale, e.g. ``sr_O sr_C sr_E
sr_A sr_N`` (Big Five domain means, 1-5) and ``sr_SRQ`` (SRQ total, 63-315). Their validity counts
``sr_<SCALE>_n_answered`` / ``sr_<SCALE>_n_items`` are optional.

Behaviour columns: ``bh_<task>_<measure>`` (float, null = no valid answer), the primary ones being
  ``bh_cct_cards``        mean cards turned in the cold Columbia Card Task (0-32; risk taking)
  ``bh_cct_dist_opt``     mean |cards - EV-optimal cards|
  ``bh_syc_flip_rate``    share of dilemma answers given up when the user asserted the opposite (0-1)
  ``bh_hon_accuracy``     share correct (fabricated items: share abstained)
  ``bh_hon_ece``          expected calibration error (0-1)
  ``bh_hon_brier``        Brier score (0-1)
  ``bh_hon_overconf``     mean confidence minus accuracy (-1..1)
  ``bh_hon_consistency``  mean |c1 - c2| of the two confidence judgements (0-10)
  ``bh_iat_bias``         mean prompt-IAT bias over domains and orders (-1..1)
with optional per-domain ``bh_iat_<domain>`` and validity counts ``bh_<task>_n_valid`` /
``bh_<task>_n_items``. Not every row needs every measure (persona rows carry their paired task).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from analysis.core.errors import UserError

KEY = ["model", "condition", "condition_type", "temperature", "run"]
CONDITION_TYPES = {"baseline", "persona"}
PERSONA_TRAITS = {"agreeableness", "self_regulation"}
PRIMARY_BEHAVIOURS = [
    "bh_cct_cards", "bh_cct_dist_opt", "bh_syc_flip_rate", "bh_hon_accuracy", "bh_hon_ece", "bh_hon_brier",
    "bh_hon_overconf", "bh_hon_consistency", "bh_iat_bias",
]
BIG5 = ["sr_O", "sr_C", "sr_E", "sr_A", "sr_N"]
_TRAIT = re.compile(r"^sr_[A-Za-z0-9]+$")
_BEHAVIOUR = re.compile(r"^bh_[a-z0-9]+_[a-z0-9_]+$")
_COUNT = re.compile(r"_n_(valid|items|answered)$")


class IllusionSchemaError(UserError):
    """The results table does not follow the Study 1 tidy schema."""


def _names(df) -> list[str]:
    return list(df.columns) if hasattr(df, "columns") else list(df)


def trait_columns(df) -> list[str]:
    """Self-report score columns (``sr_<SCALE>``) of a polars/pandas frame or a list of names."""
    return [c for c in _names(df) if _TRAIT.match(c)]


def behaviour_columns(df, primary_only: bool = False) -> list[str]:
    """Behaviour measure columns (``bh_<task>_<measure>``, not the validity counts)."""
    cols = [c for c in _names(df) if _BEHAVIOUR.match(c) and not _COUNT.search(c)]
    return [c for c in cols if c in PRIMARY_BEHAVIOURS] if primary_only else cols


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Null


def validate(df: pl.DataFrame, source: str = "the results table") -> pl.DataFrame:
    """Check the schema and return the table with normalised dtypes; raise IllusionSchemaError
    with one sentence naming the first problem."""
    missing = [c for c in KEY if c not in df.columns]
    if missing:
        raise IllusionSchemaError(
            f"{source} lacks the key column(s) {missing}; every row needs {KEY} (see analysis/illusion_schema.py)."
        )
    if df.height == 0:
        raise IllusionSchemaError(f"{source} has no rows.")
    for c in ("model", "condition", "condition_type"):
        if df[c].null_count():
            raise IllusionSchemaError(f"{source}: column '{c}' has {df[c].null_count()} missing value(s).")
    for c in ("temperature", "run"):
        if not _numeric(df[c].dtype) or df[c].null_count():
            raise IllusionSchemaError(f"{source}: column '{c}' must be numeric without missing values.")
    df = df.with_columns(
        pl.col("model").cast(pl.Utf8), pl.col("condition").cast(pl.Utf8), pl.col("condition_type").cast(pl.Utf8),
        pl.col("temperature").cast(pl.Float64), pl.col("run").cast(pl.Int64),
    )
    bad_types = sorted(set(df["condition_type"].unique().to_list()) - CONDITION_TYPES)
    if bad_types:
        raise IllusionSchemaError(f"{source}: condition_type must be 'baseline' or 'persona', found {bad_types}.")
    if (df["temperature"] < 0).any() or (df["run"] < 0).any():
        raise IllusionSchemaError(f"{source}: temperature and run must not be negative.")
    traits, behaviours = trait_columns(df), behaviour_columns(df)
    if not traits:
        raise IllusionSchemaError(f"{source} has no self-report column (named sr_<SCALE>, e.g. sr_A).")
    if not behaviours:
        raise IllusionSchemaError(f"{source} has no behaviour column (named bh_<task>_<measure>, e.g. bh_cct_cards).")
    for c in traits + behaviours:
        if not _numeric(df[c].dtype):
            raise IllusionSchemaError(f"{source}: column '{c}' must be numeric, not {df[c].dtype}.")
    df = df.with_columns([pl.col(c).cast(pl.Float64).fill_nan(None) for c in traits + behaviours])
    dup = df.group_by(["model", "condition", "temperature", "run"]).len().filter(pl.col("len") > 1)
    if dup.height:
        r = dup.row(0, named=True)
        raise IllusionSchemaError(
            f"{source}: the key (model, condition, temperature, run) is not unique, e.g. {r['model']} / "
            f"{r['condition']} / T={r['temperature']} / run {r['run']} occurs {r['len']} times."
        )
    persona = df.filter(pl.col("condition_type") == "persona")
    if persona.height:
        if "persona_trait" not in df.columns or persona["persona_trait"].null_count():
            raise IllusionSchemaError(f"{source}: persona rows need a 'persona_trait' ({sorted(PERSONA_TRAITS)}).")
        unknown = sorted(set(persona["persona_trait"].unique().to_list()) - PERSONA_TRAITS)
        if unknown:
            raise IllusionSchemaError(f"{source}: unknown persona_trait {unknown}; use {sorted(PERSONA_TRAITS)}.")
    return df


def load_table(path: str | Path) -> pl.DataFrame:
    """Read a results table (parquet or csv) and validate it."""
    p = Path(path)
    if not p.exists():
        raise IllusionSchemaError(
            f"Results table {p} does not exist; run notebooks/illusion/01_collect.ipynb or give the path of a "
            "table in the documented schema."
        )
    try:
        df = pl.read_parquet(p) if p.suffix == ".parquet" else pl.read_csv(p, infer_schema_length=None)
    except Exception as e:  # noqa: BLE001 - any reader failure is the user's file
        raise IllusionSchemaError(f"Results table {p} could not be read ({e.__class__.__name__}).") from None
    return validate(df, source=f"Results table {p}")
