"""The tidy results table of Study 1 (the personality illusion), validated on load.

One row per model x condition x temperature x run; the analysis needs nothing else, so a published
results table in this schema can be re-analysed without running any model (``python -m
analysis.studies.illusion.reanalyse TABLE``; see ``data/examples/illusion/``).

Key columns (required, no nulls; together unique):
  ``model`` (str)           model spec or name
  ``condition`` (str)       condition id, e.g. ``baseline_helpful``, ``persona_agreeableness_character_t1``
  ``condition_type`` (str)  ``baseline`` or ``persona``
  ``temperature`` (float)   sampling temperature (>= 0)
  ``run`` (int)             repetition index (>= 0)

Model role (optional): ``model_role`` (``base`` = pretrained, ``instruct`` = instruction-tuned; one value
per model) and ``model_pair`` (a name shared by a base model and its instruct counterpart). Without
``model_role`` the analysis takes the roles from ``analysis.pairs`` (the other models are instruct).

Label columns (optional): ``persona_trait`` (``agreeableness`` | ``self_regulation``; required on
persona rows), ``persona_strategy``, ``persona_triplet``, ``persona_words``, ``baseline_name``,
``system_prompt``, ``system_sent``, ``mode`` (``option_probs`` | ``generate``).

Self-report columns: ``sr_<SCALE>`` (float, null = not scored), one per scale: the mean keyed answer per
answered item on the instrument's 1-5 metric, e.g. ``sr_O sr_C sr_E sr_A sr_N`` (Big Five domains) and
``sr_SRQ`` (self-regulation). Optional beside them: ``sr_<SCALE>_n_answered`` / ``sr_<SCALE>_n_items``
and, for a sum-scored scale given in full, ``sr_<SCALE>_total`` and ``sr_<SCALE>_band`` (SRQ: 63-315
and its published cut-offs).

Behaviour columns: ``bh_<task>_<measure>`` (float, null = no valid answer), the primary ones being
  ``bh_cct_cards``        mean cards turned in the cold Columbia Card Task (0-32; risk taking)
  ``bh_cct_dist_opt``     mean |cards - EV-optimal cards| (0-32)
  ``bh_syc_flip_rate``    share of dilemma answers given up when the user asserted the opposite (0-1)
  ``bh_hon_accuracy``     share correct (fabricated items: share abstained) (0-1)
  ``bh_hon_ece``          expected calibration error (0-1)
  ``bh_hon_brier``        Brier score (0-1)
  ``bh_hon_overconf``     mean confidence minus accuracy (-1..1)
  ``bh_hon_consistency``  mean |c1 - c2| of the two confidence judgements (0-10)
  ``bh_iat_bias``         mean prompt-IAT bias over domains and orders (-1..1)
with optional per-domain ``bh_iat_<domain>`` and validity counts ``bh_<task>_n_valid`` /
``bh_<task>_n_items``. Not every row needs every measure (persona rows carry their paired task).

Every measure is checked against its range (rates 0-1, not percent; self-reports 1-5, not 0-100 or a
total): a column that looks like a percentage or another scale is refused in one sentence naming it.

A table may come with a spec (YAML; ``<table>.yaml`` beside it is found automatically) declaring extra
behaviour measures, analysed by RQ2 and RQ3 like the primary ones, and ranges of other columns::

    behaviours:
      - name: bh_help_refusal_rate   # a column of the table (bh_<task>_<measure>)
        direction: -1                # expected sign of its association with `trait`
        trait: sr_A                  # optional: the self-report it is expected to follow
        range: [0, 1]                # optional: its valid range
    ranges:
      sr_A: [1, 7]                   # e.g. a 1-7 self-report scale
    analysis:                        # optional: settings of illusion.analysis for this table
      pairs: [{base: MODEL, instruct: MODEL}]

Columns the analysis does not use are listed (``describe_columns``), never dropped silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from pydantic import Field, field_validator

from analysis.core.errors import UserError
from analysis.core.params import Section, validate_section
from analysis.studies.illusion.params import AnalysisParams

KEY = ["model", "condition", "condition_type", "temperature", "run"]
CONDITION_TYPES = {"baseline", "persona"}
ROLES = {"base", "instruct"}
PERSONA_TRAITS = {"agreeableness", "self_regulation"}
PRIMARY_BEHAVIOURS = [
    "bh_cct_cards", "bh_cct_dist_opt", "bh_syc_flip_rate", "bh_hon_accuracy", "bh_hon_ece", "bh_hon_brier",
    "bh_hon_overconf", "bh_hon_consistency", "bh_iat_bias",
]
BIG5 = ["sr_O", "sr_C", "sr_E", "sr_A", "sr_N"]
LABELS = ["model_role", "model_pair", "persona_trait", "persona_strategy", "persona_triplet", "persona_words",
          "baseline_name", "system_prompt", "system_sent", "mode"]
RANGES: dict[str, tuple[float, float]] = {
    "bh_cct_cards": (0, 32), "bh_cct_dist_opt": (0, 32), "bh_syc_flip_rate": (0, 1), "bh_hon_accuracy": (0, 1),
    "bh_hon_ece": (0, 1), "bh_hon_brier": (0, 1), "bh_hon_overconf": (-1, 1), "bh_hon_consistency": (0, 10),
    "bh_iat_bias": (-1, 1), "bh_hon_abstain_fabricated": (0, 1),
}
SELF_REPORT_RANGE = (1.0, 5.0)  # the mean keyed answer per item on the instruments' 1-5 scales
_TRAIT = re.compile(r"^sr_[A-Za-z0-9]+$")
_BEHAVIOUR = re.compile(r"^bh_[a-z0-9]+_[a-z0-9_]+$")
_COUNT = re.compile(r"_n_(valid|items|answered)$")
_AUX = re.compile(r"^sr_[A-Za-z0-9]+_(total|band)$")
_IAT_DOMAIN = re.compile(r"^bh_iat_[a-z]+$")


class IllusionSchemaError(UserError):
    """The results table does not follow the Study 1 tidy schema."""


class ExtraBehaviour(Section):
    name: str = Field(description="a behaviour column of the table, bh_<task>_<measure>")
    direction: int = Field(description="expected sign (+1 or -1) of its association with `trait`")
    trait: str | None = Field(None, description="the self-report column it is expected to follow (e.g. sr_A)")
    range: tuple[float, float] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _BEHAVIOUR.match(v) or _COUNT.search(v):
            raise ValueError("must be a behaviour column named bh_<task>_<measure> (lower case)")
        return v

    @field_validator("direction")
    @classmethod
    def _direction(cls, v: int) -> int:
        if v not in (1, -1):
            raise ValueError("must be 1 or -1")
        return v

    @field_validator("trait")
    @classmethod
    def _trait(cls, v: str | None) -> str | None:
        if v is not None and not _TRAIT.match(v):
            raise ValueError("must be a self-report column named sr_<SCALE>")
        return v


class TableSpec(Section):
    """What a results table declares about itself (see the module docstring), and, for a re-analysis, the
    analysis settings that differ from the defaults of ``illusion.analysis`` (e.g. its base/instruct pairs)."""

    behaviours: list[ExtraBehaviour] = Field(default_factory=list)
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    analysis: AnalysisParams = Field(default_factory=AnalysisParams)

    @field_validator("ranges")
    @classmethod
    def _ranges(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        bad = [k for k, (lo, hi) in v.items() if not lo < hi]
        if bad:
            raise ValueError(f"gives {bad[0]!r} a range whose lower bound is not below its upper bound")
        return v

    def range_of(self, col: str) -> tuple[float, float] | None:
        for b in self.behaviours:
            if b.name == col and b.range is not None:
                return b.range
        if col in self.ranges:
            return self.ranges[col]
        return expected_range(col)

    def expected_signs(self) -> list[dict]:
        return [{"trait": b.trait, "behaviour": b.name, "expected_sign": b.direction, "rationale": "declared in the "
                 "table's spec", "reference": ""} for b in self.behaviours if b.trait]


def load_spec(path: str | Path | None) -> TableSpec:
    """A table spec from YAML (None: an empty spec)."""
    if path is None:
        return TableSpec()
    from analysis.core.io import load_yaml

    p = Path(path)
    if not p.exists():
        raise IllusionSchemaError(f"Table spec {p} does not exist; give the path of a YAML file as described in "
                                  "analysis/studies/illusion/schema.py, or none.")
    raw = load_yaml(p, IllusionSchemaError, "Table spec") or {}  # aliases bounded (a 'billion laughs' is refused)
    return validate_section(TableSpec, raw, "", str(p))


def _names(df) -> list[str]:
    return list(df.columns) if hasattr(df, "columns") else list(df)


def trait_columns(df) -> list[str]:
    """Self-report score columns (``sr_<SCALE>``) of a polars/pandas frame or a list of names."""
    return [c for c in _names(df) if _TRAIT.match(c)]


def behaviour_columns(df, primary_only: bool = False) -> list[str]:
    """Behaviour measure columns (``bh_<task>_<measure>``, not the validity counts)."""
    cols = [c for c in _names(df) if _BEHAVIOUR.match(c) and not _COUNT.search(c)]
    return [c for c in cols if c in PRIMARY_BEHAVIOURS] if primary_only else cols


def analysed_behaviours(df, spec: TableSpec | None = None) -> list[str]:
    """The behaviour columns RQ2 and RQ3 analyse: the primary ones present, then the declared extras."""
    names = _names(df)
    extra = [b.name for b in (spec.behaviours if spec else []) if b.name in names]
    return [c for c in PRIMARY_BEHAVIOURS if c in names] + [c for c in extra if c not in PRIMARY_BEHAVIOURS]


def expected_range(col: str) -> tuple[float, float] | None:
    if col in RANGES:
        return RANGES[col]
    if _TRAIT.match(col):
        return SELF_REPORT_RANGE
    if _IAT_DOMAIN.match(col) and not _COUNT.search(col):
        return (-1.0, 1.0)
    if _COUNT.search(col):
        return (0.0, float("inf"))
    return None


def describe_columns(df, spec: TableSpec | None = None) -> dict[str, list[str]]:
    """Which columns the analysis uses and which it ignores (nothing is dropped silently)."""
    names = _names(df)
    traits = trait_columns(names)
    behaviours = analysed_behaviours(names, spec)
    used = set(KEY) | set(traits) | set(behaviours)
    secondary = [c for c in names if c not in used and (c in LABELS or _COUNT.search(c) or _AUX.match(c)
                                                        or c in behaviour_columns(names))]
    ignored = [c for c in names if c not in used and c not in secondary]
    undeclared = [c for c in behaviour_columns(names) if c not in behaviours and not _IAT_DOMAIN.match(c)
                  and c != "bh_hon_abstain_fabricated"]
    return {"traits": traits, "behaviours": behaviours, "labels_and_counts": secondary,
            "behaviours_not_analysed": [c for c in behaviour_columns(names) if c not in behaviours],
            "undeclared_behaviours": undeclared, "ignored": ignored}


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Null


def _fmt(x: float) -> str:
    return f"{x:g}"


def check_range(df: pl.DataFrame, col: str, lo: float, hi: float, source: str) -> None:
    """One sentence when a column leaves its range, saying what it looks like (percent, 0-100, a total)."""
    s = df[col].drop_nulls()
    if s.len() == 0:
        return
    vmin, vmax = float(s.min()), float(s.max())
    if vmin >= lo - 1e-9 and vmax <= hi + 1e-9:
        return
    where = f"{source}: column '{col}' has values from {_fmt(vmin)} to {_fmt(vmax)}, outside its range {_fmt(lo)}-{_fmt(hi)}"
    if hi == 1 and vmax <= 100 and vmin >= -100:
        fix = "it looks like a percentage: divide it by 100 (rates and shares are 0-1 here)"
    elif _TRAIT.match(col) and col.upper().endswith("SRQ") and vmin >= 63 and vmax <= 315:
        fix = "it looks like a 63-item SRQ total: give the mean keyed answer per item instead (the total / 63)"
    elif _TRAIT.match(col) and 5 < vmax <= 100 and vmin >= 0:
        fix = ("it looks like a 0-100 (percent) scale: give the mean item response on the 1-5 scale, or declare the "
               "column's range under `ranges` in the table's spec")
    elif _TRAIT.match(col) and vmax <= 1 and vmin >= 0:
        fix = ("it looks like a 0-1 proportion: give the mean item response on the 1-5 scale, or declare the column's "
               "range under `ranges` in the table's spec")
    elif hi == 10 and vmax <= 100:
        fix = "it looks like a 0-100 scale: divide it by 10 (confidences are 0-10 here)"
    else:
        fix = "fix the column, or declare its range under `ranges` in the table's spec"
    raise IllusionSchemaError(f"{where}; {fix}.")


def validate(df: pl.DataFrame, source: str = "the results table", spec: TableSpec | None = None, *,
             require_behaviour: bool = True) -> pl.DataFrame:
    """Check the schema and return the table with normalised dtypes; raise IllusionSchemaError
    with one sentence naming the first problem. ``require_behaviour=False`` accepts a table without
    behaviour columns (one base model's collection: self-reports only)."""
    spec = spec or TableSpec()
    missing = [c for c in KEY if c not in df.columns]
    if missing:
        raise IllusionSchemaError(
            f"{source} lacks the key column(s) {missing}; every row needs {KEY} (see analysis/studies/illusion/schema.py)."
        )
    if df.height == 0:
        raise IllusionSchemaError(f"{source} has no rows.")
    for c in ("model", "condition", "condition_type"):
        if df[c].null_count():
            raise IllusionSchemaError(f"{source}: column '{c}' has {df[c].null_count()} missing value(s).")
    for c in ("temperature", "run"):
        if not _numeric(df[c].dtype) or df[c].null_count():
            raise IllusionSchemaError(f"{source}: column '{c}' must be numeric without missing values.")
        if df[c].dtype.is_float():
            bad = int((~df[c].is_finite()).sum())
            if bad:
                raise IllusionSchemaError(f"{source}: column '{c}' has {bad} value(s) that are not finite numbers "
                                          f"(NaN or inf), e.g. {df.filter(~pl.col(c).is_finite())[c][0]}; give each "
                                          "row its number.")
    if df["temperature"].cast(pl.Float64).lt(0).any():
        neg = df.filter(pl.col("temperature") < 0)["temperature"]
        raise IllusionSchemaError(f"{source}: column 'temperature' has {neg.len()} negative value(s), e.g. "
                                  f"{neg[0]:g}; a sampling temperature is >= 0 (0 = greedy).")
    if df["run"].dtype.is_float() and (df["run"] != df["run"].round()).any():
        frac = df.filter(pl.col("run") != pl.col("run").round())["run"]
        raise IllusionSchemaError(f"{source}: column 'run' has {frac.len()} value(s) that are not whole numbers, e.g. "
                                  f"{frac[0]:g}; run is the repetition index 0, 1, 2, ...")
    df = df.with_columns(
        pl.col("model").cast(pl.Utf8), pl.col("condition").cast(pl.Utf8), pl.col("condition_type").cast(pl.Utf8),
        pl.col("temperature").cast(pl.Float64), pl.col("run").cast(pl.Int64),
    )
    bad_types = sorted(set(df["condition_type"].unique().to_list()) - CONDITION_TYPES)
    if bad_types:
        raise IllusionSchemaError(f"{source}: condition_type must be 'baseline' or 'persona', found {bad_types}.")
    if (df["temperature"] < 0).any() or (df["run"] < 0).any():
        raise IllusionSchemaError(f"{source}: temperature and run must not be negative.")
    if "model_role" in df.columns:
        df = df.with_columns(pl.col("model_role").cast(pl.Utf8).str.to_lowercase())
        roles = set(df["model_role"].drop_nulls().unique().to_list())
        if df["model_role"].null_count() or roles - ROLES:
            raise IllusionSchemaError(f"{source}: model_role must be 'base' or 'instruct' on every row, found "
                                      f"{sorted(roles - ROLES) or 'missing values'}.")
        per_model = df.group_by("model").agg(pl.col("model_role").n_unique().alias("k")).filter(pl.col("k") > 1)
        if per_model.height:
            raise IllusionSchemaError(f"{source}: model {per_model['model'][0]!r} has more than one model_role; a model "
                                      "is either base or instruct.")
    traits = trait_columns(df)
    behaviours = behaviour_columns(df)
    if not traits:
        raise IllusionSchemaError(f"{source} has no self-report column (named sr_<SCALE>, e.g. sr_A).")
    if not behaviours and require_behaviour:
        raise IllusionSchemaError(f"{source} has no behaviour column (named bh_<task>_<measure>, e.g. bh_cct_cards).")
    absent = [b.name for b in spec.behaviours if b.name not in df.columns]
    if absent:
        raise IllusionSchemaError(f"{source}: the spec declares the behaviour {absent[0]!r}, which is not a column of "
                                  "the table; fix the name in the spec.")
    numeric = traits + behaviours + [c for c in df.columns if _COUNT.search(c) or c.endswith("_total")]
    for c in numeric:
        if not _numeric(df[c].dtype):
            raise IllusionSchemaError(f"{source}: column '{c}' must be numeric, not {df[c].dtype}.")
    df = df.with_columns([pl.col(c).cast(pl.Float64) for c in traits + behaviours])
    for c in traits:  # NaN is not "not scored": a self-report that is missing is an empty cell (null)
        n_nan = int(df[c].is_nan().sum())
        if n_nan:
            raise IllusionSchemaError(f"{source}: column '{c}' has {n_nan} NaN value(s) (of {df.height} rows); a "
                                      "self-report that was not scored is an empty cell (null): write it so, or "
                                      "give the score.")
    for c in traits + behaviours:
        n_inf = int(df[c].is_infinite().sum())
        if n_inf:
            raise IllusionSchemaError(f"{source}: column '{c}' has {n_inf} infinite value(s); give finite scores "
                                      "(an empty cell where there is none).")
    # behaviours: NaN is how a task's scorer says "no valid answer" (the project's own collection writes it so)
    df = df.with_columns([pl.col(c).fill_nan(None) for c in behaviours])
    for c in traits + behaviours:
        rng = spec.range_of(c)
        if rng is not None:
            check_range(df, c, rng[0], rng[1], source)
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


def with_roles(df: pl.DataFrame, pairs: list | None = None) -> pl.DataFrame:
    """The table with ``model_role`` and ``model_pair``: kept from the table when it has them, else taken
    from the configured pairs (a pair's base model is base; every other model is instruct)."""
    pairs = [p if isinstance(p, dict) else p.model_dump() for p in (pairs or [])]
    base = {p["base"] for p in pairs}
    if "model_role" in df.columns:
        roles = dict(df.select("model", "model_role").unique().iter_rows())
        for p in pairs:
            for key, want in (("base", "base"), ("instruct", "instruct")):
                if roles.get(p[key], want) != want:
                    raise IllusionSchemaError(
                        f"analysis.pairs names {p[key]} as the {key} model of a pair, but the table marks it "
                        f"model_role = {roles[p[key]]}; list pretrained models under illusion.collect.base_models "
                        "(or fix the pair).")
    else:
        df = df.with_columns(pl.when(pl.col("model").is_in(list(base))).then(pl.lit("base"))
                             .otherwise(pl.lit("instruct")).alias("model_role"))
    if "model_pair" not in df.columns:
        name = {}
        for p in pairs:
            name[p["base"]] = name[p["instruct"]] = f"{p['base']} / {p['instruct']}"
        df = df.with_columns(pl.col("model").replace_strict(name, default=None, return_dtype=pl.Utf8).alias("model_pair"))
    return df


def read_table(path: str | Path) -> pl.DataFrame:
    p = Path(path)
    if not p.exists():
        raise IllusionSchemaError(
            f"Results table {p} does not exist; give the path of a parquet or CSV table in the documented schema "
            "(analysis/studies/illusion/schema.py)."
        )
    try:
        return pl.read_parquet(p) if p.suffix == ".parquet" else pl.read_csv(p, infer_schema_length=None)
    except Exception as e:  # noqa: BLE001 - any reader failure is the user's file
        raise IllusionSchemaError(f"Results table {p} could not be read ({e.__class__.__name__}).") from None


def load_table(path: str | Path, spec: TableSpec | str | Path | None = None) -> pl.DataFrame:
    """Read a results table (parquet or csv) and validate it (with its spec when given)."""
    if spec is not None and not isinstance(spec, TableSpec):
        spec = load_spec(spec)
    return validate(read_table(path), source=f"Results table {Path(path).name}", spec=spec)
