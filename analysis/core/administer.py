"""Giving a questionnaire to a model, one item per prompt.

Two modes, the same rows out:
* ``logprob``: one forward pass per item; the row holds the probability of every response option
  (``p_1`` ... ``p_5``), their raw mass, and the expected response. Expectations and answer
  distributions at any temperature follow exactly from these probabilities.
* ``generate``: the model writes an answer, parsed by ``parse_likert``; an unparsed answer is re-asked
  at most ``max_reasks`` times with a format reminder and otherwise left missing (status
  ``unparsed`` or ``refused``), never imputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from analysis.core.elicit import Elicitor
from analysis.core.errors import ParamsError
from analysis.core.instruments import Instrument, Item
from analysis.core.io import load_yaml
from analysis.core.models import GenOptions
from analysis.core.parsers import parse_likert

# How an item of any instrument is asked when a study has no wording of its own: the instrument's own
# instructions (reworded for a model where the file says so), its own response scale, then the item last
# (so everything before it is a prefix shared by all items and reused from the engine's KV cache).
GENERIC_TEMPLATE = (
    "{instructions}\n\nAnswer with a single number from {min} to {max} ({anchors}). Reply with the number only."
    "\n\nItem: {stem}"
)


def load_variants(path: str | Path) -> dict[str, str]:
    """Prompt templates (name -> template with {instructions}, {stem}, {min}, {max}, {anchors}) from a YAML file
    with a ``variants`` mapping, such as a study's ``prompt_variants.yaml``."""
    raw = load_yaml(path, ParamsError, "Prompt variants file")
    if not isinstance(raw, dict) or not isinstance(raw.get("variants"), dict):
        raise ParamsError(f"Prompt variants file {path} must hold a mapping 'variants' of name -> template.")
    return raw["variants"]


def item_prompt(instrument: Instrument, item: Item, template: str, *, for_model: bool = True) -> str:
    rs = instrument.response_scale
    instructions = (instrument.instructions_model if for_model and instrument.instructions_model else instrument.instructions)
    return template.format(instructions=instructions.strip(), stem=instrument.stem(item), min=rs.min, max=rs.max,
                           anchors=rs.describe())


def messages_for(system: str | None, user: str) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def select_items(instrument: Instrument, per_scale: int | None = None, scales: list[str] | None = None) -> list[Item]:
    """All items, or the first ``per_scale`` items of each leaf scale (facet), in instrument order;
    optionally only items under the given scales."""
    items = instrument.items
    if scales:
        keep = {i.id for s in scales for i in instrument.items_of(s)}
        items = [i for i in items if i.id in keep]
    if per_scale is None:
        return items
    seen: dict[str, int] = {}
    out = []
    for it in items:
        if seen.get(it.scale, 0) < per_scale:
            out.append(it)
            seen[it.scale] = seen.get(it.scale, 0) + 1
    return out


def ask_item(el: Elicitor, instrument: Instrument, item: Item, system: str | None, template: str, *, mode: str,
             options: GenOptions = GenOptions(max_tokens=16), max_reasks: int = 2, sample: int = 0,
             tag: str | None = None) -> dict:
    rs = instrument.response_scale
    msgs = messages_for(system, item_prompt(instrument, item, template))
    row: dict = {"item_id": item.id, "mode": mode}
    if mode == "logprob":
        op = el.option_probs(msgs, [str(v) for v in rs.values], tag=tag)
        row.update({f"p_{v}": op.probs[str(v)] for v in rs.values})
        row.update(value=op.expected() if op.valid else None, mass=op.mass, status=op.status,
                   attempts=1, raw=None, call_ids=",".join(op.call_ids))
    elif mode == "generate":
        a = el.ask_closed(msgs, lambda t: parse_likert(t, rs.min, rs.max, rs.anchors), options=options,
                          reminder=f"Please answer with a single number from {rs.min} to {rs.max} only.",
                          max_reasks=max_reasks, sample=sample, tag=tag)
        row.update({f"p_{v}": None for v in rs.values})
        row.update(value=None if a.value is None else float(a.value), mass=None, status=a.status, attempts=a.attempts,
                   raw=a.raw, call_ids=",".join(a.call_ids))
    else:
        raise ParamsError(f"Unknown administration mode {mode!r}; use 'logprob' or 'generate'.")
    return row


def administer(el: Elicitor, instrument: Instrument, items: Iterable[Item], participants: list[dict], *,
               mode: str = "logprob", options: GenOptions = GenOptions(max_tokens=16), max_reasks: int = 2,
               samples: int = 1, desc: str | None = None) -> pl.DataFrame:
    """Every item to every participant. A participant is a dict with at least ``system`` (str or
    None) and ``template`` (a prompt variant); its other keys become columns of the output."""
    items = list(items)
    jobs = [(p, it, s) for p in participants for s in range(samples if mode == "generate" else 1) for it in items]

    def run(job):
        p, it, s = job
        row = ask_item(el, instrument, it, p["system"], p["template"], mode=mode, options=options,
                       max_reasks=max_reasks, sample=s, tag=f"{instrument.id}")
        meta = {k: v for k, v in p.items() if k not in ("system", "template")}
        return {**meta, "model": el.target.spec, "digest": el.target.digest, "sample": s, **row}

    rows = el.map(run, jobs, desc=desc or f"{instrument.id} ({el.target.spec})")
    df = pl.DataFrame(rows, infer_schema_length=None)
    return df.with_columns(pl.col("value").cast(pl.Float64))


def validity_summary(df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Share of items without a valid answer (parse failures, refusals, no option mass) per group,
    and the mean probability mass on the response options in log-probability mode."""
    return df.group_by(by, maintain_order=True).agg(
        pl.len().alias("n_items"),
        (pl.col("status") != "ok").mean().alias("invalid_rate"),
        (pl.col("status") == "refused").mean().alias("refusal_rate"),
        pl.col("mass").mean().alias("mean_option_mass"),
        (pl.col("attempts") > 1).mean().alias("reask_rate"),
    )


def mass_summary(df: pl.DataFrame, by: list[str], mass: str = "mass", threshold: float | None = None) -> pl.DataFrame:
    """The distribution of the probability mass on the allowed options (log-probability answers) per
    group: n, quantiles, and how many answers fall below the validity threshold
    (:data:`analysis.core.elicit.MIN_OPTION_MASS` unless given) and so count as invalid."""
    from analysis.core.elicit import MIN_OPTION_MASS

    thr = MIN_OPTION_MASS if threshold is None else threshold
    d = df.filter(pl.col(mass).is_not_null())
    return d.group_by(by, maintain_order=True).agg(
        pl.len().alias("n_scored"),
        pl.col(mass).min().alias("mass_min"),
        pl.col(mass).quantile(0.05).alias("mass_p05"),
        pl.col(mass).quantile(0.25).alias("mass_p25"),
        pl.col(mass).median().alias("mass_median"),
        pl.col(mass).max().alias("mass_max"),
        (pl.col(mass) < thr).sum().alias("n_below_threshold"),
        (pl.col(mass) < thr).mean().alias("share_below_threshold"),
    ).with_columns(pl.lit(thr).alias("threshold"))


def expected_at_temperature(df: pl.DataFrame, temperature: float, values: list[int]) -> pl.Series:
    """Exact expected response at ``temperature`` from the stored option probabilities."""
    cols = [f"p_{v}" for v in values]

    def one(row) -> float:
        ps = [row[c] for c in cols]
        if any(p is None or (isinstance(p, float) and math.isnan(p)) for p in ps):
            return math.nan
        if temperature <= 0:
            top = max(ps)
            w = [1.0 if p == top else 0.0 for p in ps]
        else:
            w = [p ** (1 / temperature) if p > 0 else 0.0 for p in ps]
        z = sum(w)
        return sum(v * x / z for v, x in zip(values, w))

    return pl.Series([one(r) for r in df.select(cols).iter_rows(named=True)], dtype=pl.Float64)
