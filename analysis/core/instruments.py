"""Questionnaires as data: one schema for every instrument, validated on load, and scoring.

An instrument is a YAML file (see ``data/instruments/README.md`` for the schema). Items belong to
a scale (a facet, or the total); scales may have a parent (a domain), whose score pools the items
of its children. Reverse-keyed items are reflected on the response scale (min + max - x) before
scoring. Scales may carry cut-off bands (human norms) that a score is placed in.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.core.errors import InstrumentError
from analysis.core.io import SHOWN_CHARS, load_yaml
from analysis.core.paths import INSTRUMENTS_DIR


class _Strict(BaseModel):
    # NaN/inf (YAML .nan, .inf) in a band's min or max would make every comparison false: refused
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ResponseScale(_Strict):
    min: int
    max: int
    anchors: dict[int, str]

    @model_validator(mode="after")
    def _check(self) -> ResponseScale:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        missing = [v for v in (self.min, self.max) if v not in self.anchors]
        if missing:
            raise ValueError(f"anchors must label at least the end points; missing {missing}")
        outside = [k for k in self.anchors if not self.min <= k <= self.max]
        if outside:
            raise ValueError(f"anchors {outside} lie outside {self.min}..{self.max}")
        return self

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))

    def describe(self) -> str:
        """'1 = Very inaccurate, ..., 5 = Very accurate' for prompts."""
        return ", ".join(f"{k} = {v}" for k, v in sorted(self.anchors.items()))


class Band(_Strict):
    min: float
    max: float
    label: str


class Scale(_Strict):
    id: str
    name: str
    parent: str | None = None
    rule: Literal["sum", "mean"] | None = None  # overrides the instrument's rule
    cutoffs: list[Band] = Field(default_factory=list)

    @field_validator("cutoffs")
    @classmethod
    def _ordered(cls, bands: list[Band]) -> list[Band]:
        for a, b in zip(bands, bands[1:]):
            if b.min <= a.min:
                raise ValueError(f"cut-off bands overlap or are out of order: {a.label!r} and {b.label!r}")
        return bands


class Item(_Strict):
    id: str
    text: str
    scale: str
    key: Literal[1, -1] = 1
    # the original time frame and its rewording for a model, where an item has one
    timeframe_original: str | None = None
    timeframe_model: str | None = None

    @field_validator("text")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("item text is empty")
        return v


class Instrument(_Strict):
    schema_version: Literal[1] = 1
    id: str
    name: str
    # other names, abbreviations and spellings the instrument is known by (e.g. to tell whether a model
    # named the questionnaire it was given); the name, the abbreviation in its parentheses and the first
    # author of the citation count without being listed here
    aliases: list[str] = Field(default_factory=list)
    citation: str
    source: str
    licence: str
    instructions: str
    instructions_model: str | None = None  # instructions reworded for a model, if they differ
    item_stem: str = "{text}"  # how an item is shown, e.g. 'I {text_lower}.'
    perspective: Literal["self", "third_person"] = "self"
    response_scale: ResponseScale
    rule: Literal["sum", "mean"] = "mean"
    scales: list[Scale]
    items: list[Item]
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [i.id for i in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate item ids {dup}")
        sids = [s.id for s in self.scales]
        dups = sorted({i for i in sids if sids.count(i) > 1})
        if dups:
            raise ValueError(f"duplicate scale ids {dups}")
        known = set(sids)
        for s in self.scales:
            if s.parent is not None and s.parent not in known:
                raise ValueError(f"scale {s.id!r} names an unknown parent {s.parent!r}")
        for it in self.items:
            if it.scale not in known:
                raise ValueError(f"item {it.id!r} names an unknown scale {it.scale!r}")
        for s in self.scales:
            if not self.items_of(s.id):
                raise ValueError(f"scale {s.id!r} has no items")
        return self

    # ---- structure -------------------------------------------------------------------------
    def children(self, scale_id: str) -> list[str]:
        return [s.id for s in self.scales if s.parent == scale_id]

    def items_of(self, scale_id: str) -> list[Item]:
        """Items of a scale, including those of its descendant scales."""
        wanted = {scale_id}
        frontier = [scale_id]
        while frontier:
            kids = self.children(frontier.pop())
            wanted.update(kids)
            frontier.extend(kids)
        return [i for i in self.items if i.scale in wanted]

    def scale(self, scale_id: str) -> Scale:
        for s in self.scales:
            if s.id == scale_id:
                return s
        raise KeyError(scale_id)

    @cached_property
    def item_table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "item_id": [i.id for i in self.items],
                "text": [i.text for i in self.items],
                "scale": [i.scale for i in self.items],
                "key": [i.key for i in self.items],
            }
        )

    def band(self, scale_id: str, score: float | None) -> str | None:
        if score is None or score != score:  # NaN
            return None
        # bands are matched by their lower bound, so a fractional (expected) score between the
        # integer bounds of two published bands falls into the upper one only once it reaches it
        label = None
        for b in self.scale(scale_id).cutoffs:
            if score >= b.min:
                label = b.label
        return label

    def stem(self, item: Item) -> str:
        text = item.text
        return self.item_stem.format(
            text=text, text_lower=text[0].lower() + text[1:] if text else text
        )

    def max_score(self, scale_id: str) -> float:
        rule = self.scale(scale_id).rule or self.rule
        n = len(self.items_of(scale_id))
        return self.response_scale.max * (n if rule == "sum" else 1)

    def min_score(self, scale_id: str) -> float:
        rule = self.scale(scale_id).rule or self.rule
        n = len(self.items_of(scale_id))
        return self.response_scale.min * (n if rule == "sum" else 1)


def _format_validation_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    n = len(err.errors())
    more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
    if first["type"] == "extra_forbidden":  # name the keys that are valid there (through lists of items)
        from analysis.core.params import explain

        return f"{explain(err, Instrument, '', f'Instrument file {path}')[:-1]}; see data/instruments/README.md."
    msg = first["msg"] if len(first["msg"]) <= SHOWN_CHARS else first["msg"][:SHOWN_CHARS] + "..."
    return f"Instrument file {path}: field '{loc}': {msg}{more}. Fix the file against data/instruments/README.md."


def load_instrument(name_or_path: str | Path) -> Instrument:
    """Load and validate an instrument by id (a file in data/instruments/) or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = INSTRUMENTS_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        shipped = sorted(p.stem for p in INSTRUMENTS_DIR.glob("*.yaml"))
        raise InstrumentError(
            f"Instrument {str(name_or_path)!r} not found at {path}; shipped instruments are {shipped}, "
            "or give the path of your own file in the same schema."
        )
    raw = load_yaml(path, InstrumentError, "Instrument file")  # names the file and line, aliases bounded
    if not isinstance(raw, dict):
        raise InstrumentError(f"Instrument file {path} must hold a mapping at the top level, not {type(raw).__name__}.")
    try:
        return Instrument.model_validate(raw)
    except ValidationError as e:
        raise InstrumentError(_format_validation_error(path, e)) from None


# ---- scoring ----------------------------------------------------------------------------------


def score(
    instrument: Instrument,
    responses: pl.DataFrame,
    by: list[str],
    value: str = "value",
    min_answered: float = 1.0,
    administered: set[str] | None = None,
) -> pl.DataFrame:
    """Score every scale of an instrument for each participant.

    ``responses``: one row per participant x item with columns ``by``, ``item_id`` and ``value``
    (raw responses on the instrument's scale, possibly fractional expectations; null = no valid
    answer). Reverse keys are applied here. ``administered`` names the items that were given (default:
    all); scales with no administered item are left out.

    Nothing is imputed. ``mean_item`` is the mean keyed answer over the answered administered items of
    the scale, given when at least ``min_answered`` of the administered items have a valid answer.
    ``score`` is the scale's score on its published metric: for a mean-rule scale it is ``mean_item``; for
    a sum-rule scale it is the sum of the items and exists only when every item of the published scale
    was administered and answered (a total from fewer items would be a prorated, imputed total), and so
    does ``band`` (the cut-off band, where the scale has one). Returns one row per participant x scale
    with ``score``, ``mean_item``, ``n_answered``, ``n_items`` (administered), ``n_scale_items`` (in the
    published scale), ``band``.
    """
    rs = instrument.response_scale
    unknown = set(responses["item_id"].unique().to_list()) - {i.id for i in instrument.items}
    if unknown:
        raise InstrumentError(f"Responses name items not in instrument {instrument.id!r}: {sorted(unknown)[:5]}.")
    bad = responses.filter(
        pl.col(value).is_not_null() & ((pl.col(value) < rs.min) | (pl.col(value) > rs.max))
    )
    if bad.height:
        raise ValueError(f"{bad.height} responses lie outside the scale {rs.min}..{rs.max}")
    keyed = responses.join(instrument.item_table.select("item_id", "key"), on="item_id").with_columns(
        pl.when(pl.col("key") == -1)
        .then(rs.min + rs.max - pl.col(value))
        .otherwise(pl.col(value))
        .alias("_keyed")
    )
    parts = []
    for s in instrument.scales:
        all_ids = [i.id for i in instrument.items_of(s.id)]
        ids = [i for i in all_ids if administered is None or i in administered]
        if not ids:
            continue
        n_items, n_full = len(ids), len(all_ids)
        rule = s.rule or instrument.rule
        mean_ok = pl.col("n_answered") >= min_answered * n_items
        agg = (
            keyed.filter(pl.col("item_id").is_in(ids))
            .group_by(by, maintain_order=True)
            .agg(
                pl.col("_keyed").mean().alias("_mean"),
                pl.col("_keyed").sum().alias("_sum"),
                pl.col("_keyed").is_not_null().sum().alias("n_answered"),
            )
            .with_columns(
                pl.lit(s.id).alias("scale"),
                pl.lit(n_items).alias("n_items"),
                pl.lit(n_full).alias("n_scale_items"),
                pl.when(mean_ok).then(pl.col("_mean")).otherwise(None).alias("mean_item"),
            )
            .with_columns(
                (pl.when(pl.col("n_answered") == n_full).then(pl.col("_sum")).otherwise(None) if rule == "sum"
                 else pl.col("mean_item")).cast(pl.Float64).alias("score")
            )
            .drop("_mean", "_sum")
        )
        parts.append(agg)
    out = pl.concat(parts, how="vertical_relaxed")
    bands = {s.id: s for s in instrument.scales if s.cutoffs}
    if bands:
        out = out.with_columns(
            pl.struct("scale", "score")
            .map_elements(lambda r: instrument.band(r["scale"], r["score"]), return_dtype=pl.Utf8)
            .alias("band")
        )
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.Utf8).alias("band"))
    return out.select(*by, "scale", "score", "mean_item", "n_answered", "n_items", "n_scale_items", "band")
