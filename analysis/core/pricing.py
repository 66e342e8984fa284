"""What the calls a plan has left would cost: a price table the user edits, and the plan's token estimates.

The price table (``data/prices.yaml`` by default; ``python -m analysis.pipeline.plan --prices FILE``) gives, per
model, the provider's price per million prompt (``input``) and generated (``output``) tokens, and optionally
its Batch API prices (``batch_input``, ``batch_output``). No price ships filled in: prices change and differ by
provider, so the user enters the ones of their contract, with the date they read them. Models are named as in
params.yaml ``models`` (the URLs after ``@`` may be left out). Embedded models run on this machine: no charge.

The tokens are the plan's estimates (:func:`analysis.core.planning.estimate_tokens`: characters / 4 plus a few
per message, not a provider's tokenizer); the output is an upper bound (every call's ``max_tokens``, reached).
Requests that hold an earlier answer of the model (a conversation's later turns) must wait for it, so they are
priced interactive in both columns; the rest could go through a provider's Batch API. The requests are those of the
plan's dry run (the study's own collection code against a stand-in that answers what the store lacks with a
placeholder): a placeholder is never usable, so where the calls depend on the answers the dry run makes every
fallback and follow-up that an unusable answer triggers (not the re-asks of an unparsed reply), and the priced
calls can exceed the plan's lower bound (the cost lines then give both); a conversation's later prompts hold a
placeholder in place of each missing answer, so their prompt tokens are a lower bound. A request asked twice is
priced once, as the response store answers the repeat.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from analysis.core.errors import ParamsError
from analysis.core.io import load_yaml
from analysis.core.paths import DATA_DIR

PRICES_FILE = DATA_DIR / "prices.yaml"
FIELDS = ("input", "output", "batch_input", "batch_output", "source", "as_of")
PER_TOKENS = 1_000_000


def load_prices(path: str | Path | None = None) -> dict[str, dict]:
    """{model: {input, output, batch_input?, batch_output?}} in USD per million tokens (``path``: the default table,
    {} when it is absent; a given path must exist). A malformed table is one sentence naming the file, the model and what is valid."""
    if path is None:
        if not PRICES_FILE.exists():
            return {}
        path = PRICES_FILE
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} does not exist; give a price table like {PRICES_FILE.relative_to(DATA_DIR.parent)}.")
    raw = load_yaml(path, ParamsError) or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("models", {}) or {}, dict):
        raise ParamsError(f"{path} must be a mapping with a 'models' mapping (model -> its prices); see "
                          f"{PRICES_FILE.name} in the repository for the form.")
    out = {}
    for model, entry in (raw.get("models") or {}).items():
        if not isinstance(entry, dict):
            raise ParamsError(f"{path}: the prices of {model!r} must be a mapping with input and output (USD per "
                              "million tokens).")
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            raise ParamsError(f"{path}: {model!r} has unknown key(s) {', '.join(unknown)}; valid keys are "
                              f"{', '.join(FIELDS)}.")
        for k in ("input", "output"):
            if k not in entry:
                raise ParamsError(f"{path}: {model!r} has no {k} price; give input and output in USD per million "
                                  "tokens.")
        for k in ("input", "output", "batch_input", "batch_output"):
            v = entry.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                                  or v < 0):
                raise ParamsError(f"{path}: {model!r} {k} is {v!r}; give a number >= 0 (USD per million tokens).")
        if ("batch_input" in entry) != ("batch_output" in entry):
            raise ParamsError(f"{path}: {model!r} gives only one of batch_input and batch_output; give both or "
                              "neither.")
        out[str(model)] = entry
    return out


def price_of(model: str, prices: dict[str, dict]) -> dict | None:
    """The entry for ``model`` (its spec, or its spec without the URLs after ``@``)."""
    return prices.get(model) or prices.get(model.split("@", 1)[0])


def _usd(tokens_in: int, tokens_out: int, p_in: float, p_out: float) -> float:
    return (tokens_in * p_in + tokens_out * p_out) / PER_TOKENS


def costs(plan: pl.DataFrame, prices: dict[str, dict]) -> pl.DataFrame:
    """Per stage and model (the plan's ``total`` rows): the calls still to make, their estimated prompt tokens, the
    upper bound of their output tokens, and their cost interactive and with a Batch API (``None``: no price)."""
    rows = []
    need = {"single_calls", "conversation_calls"}
    if not need <= set(plan.columns):
        return pl.DataFrame()
    for t in plan.filter(pl.col("part") == "total").iter_rows(named=True):
        if t["single_calls"] is None:
            rows.append({"stage": t["stage"], "model": t["model"], "note": "requests not known (store not checked)"})
            continue
        calls = t["single_calls"] + t["conversation_calls"]
        tin = t["single_prompt_tokens"] + t["conversation_prompt_tokens"]
        tout = t["single_output_tokens"] + t["conversation_output_tokens"]
        row = {"stage": t["stage"], "model": t["model"], "calls": calls, "planned": t.get("to_call"),
               "planned_exact": t.get("exact"), "conversation_calls": t["conversation_calls"],
               "prompt_tokens": tin, "output_tokens_max": tout, "usd": None, "usd_batch": None, "note": ""}
        if t["model"].startswith("embedded:"):
            row.update(usd=0.0, usd_batch=0.0, note="embedded: runs on this machine, no charge")
        else:
            p = price_of(t["model"], prices)
            if p is None:
                row["note"] = f"no price for this model in {PRICES_FILE.name}"
            else:
                row["usd"] = _usd(tin, tout, p["input"], p["output"])
                if "batch_input" in p:
                    row["usd_batch"] = (_usd(t["single_prompt_tokens"], t["single_output_tokens"], p["batch_input"],
                                             p["batch_output"])
                                        + _usd(t["conversation_prompt_tokens"], t["conversation_output_tokens"],
                                               p["input"], p["output"]))
                else:
                    row["note"] = "no batch price given"
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def render_costs(df: pl.DataFrame) -> str:
    """The cost table as text, with what its numbers are."""
    if df.is_empty():
        return ""
    lines = ["", "tokens and cost of the calls not yet in the store (tokens estimated: characters / 4 plus 4 per "
                 "message; output at most max_tokens per call; USD from the price table)"]
    total = {"usd": 0.0, "usd_batch": 0.0}
    missing = False
    for r in df.iter_rows(named=True):
        if r.get("calls") is None:
            lines.append(f"  {r['stage']}  {r['model']}: {r['note']}")
            missing = True
            continue
        conv = f" ({r['conversation_calls']:,} continue a conversation: interactive only)" if r["conversation_calls"] else ""
        if r.get("planned") is not None and r["planned"] != r["calls"]:
            # the plan's count is a lower bound where answers decide; the dry run prices the case where no answer
            # it lacks is usable (every fallback and follow-up made; re-asks of unparsed replies not)
            conv += (f" [the plan counts {'' if r['planned_exact'] else '>= '}{r['planned']:,}: these are the calls "
                     "if no answer not yet in the store is usable]")
        usd = "price unknown" if r["usd"] is None else f"${r['usd']:,.2f} interactive"
        batch = "" if r["usd"] is None else ("; batch price unknown" if r["usd_batch"] is None else
                                             f", ${r['usd_batch']:,.2f} with a Batch API")
        lines.append(f"  {r['stage']}  {r['model']}: {r['calls']:,} calls{conv}, ~{r['prompt_tokens']:,} prompt "
                     f"tokens, <= {r['output_tokens_max']:,} output tokens; {usd}{batch}"
                     + (f" ({r['note']})" if r["note"] else ""))
        if r["usd"] is None:
            missing = True
        else:
            total["usd"] += r["usd"]
            total["usd_batch"] += r["usd_batch"] if r["usd_batch"] is not None else r["usd"]
    lines.append(f"  all: ${total['usd']:,.2f} interactive, ${total['usd_batch']:,.2f} with Batch APIs where given"
                 + (" (models without a price are not included)" if missing else ""))
    return "\n".join(lines)
