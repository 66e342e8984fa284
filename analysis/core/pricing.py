"""What the calls a plan has left would cost: a price table the user edits, and the plan's token estimates.

The price table (``data/prices.yaml`` by default; ``python -m analysis.pipeline.plan --prices FILE``) gives, per
model, the provider's price per million prompt (``input``) and generated (``output``) tokens, and optionally
its Batch API prices (``batch_input``, ``batch_output``) and its price of prompt tokens read from its prompt cache
(``cached_input``; ``cache_min_tokens``, default 1024 as OpenAI documents: the shortest prefix it caches). No price
ships filled in: prices change and differ by
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

With a ``cached_input`` price, one more cost is given: interactive at best, with the prompt tokens a provider's
cache could serve at that price. Those are, per call of the dry run in its order, the tokens of the longest prefix its
prompt shares with an earlier priced prompt of the same model and stage (on the characters / 4 scale of the
estimate: :func:`analysis.core.planning.prompt_text`), counted where that prefix reaches ``cache_min_tokens``. The
cache serves at most that many (it expires within minutes to an hour and may be missed, and serves whole blocks only:
OpenAI 128-token increments), so the cost with them is a best case: a lower bound on the interactive cost, on the
token estimate's scale. An ``anthropic:`` model reads from its cache only the prefixes a request marks with
``cache_control``, and no request here carries one: it gets no cached cost (the line says so). Batch prices are given
without it.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from analysis.core.errors import ParamsError
from analysis.core.io import load_yaml
from analysis.core.paths import DATA_DIR

PRICES_FILE = DATA_DIR / "prices.yaml"
FIELDS = ("input", "output", "batch_input", "batch_output", "cached_input", "cache_min_tokens", "source", "as_of")
PRICES = ("input", "output", "batch_input", "batch_output", "cached_input")  # USD per million tokens
PER_TOKENS = 1_000_000
CACHE_MIN_TOKENS = 1024  # OpenAI: prompts of at least 1,024 tokens are cached (the default of cache_min_tokens)
# Anthropic caches only the prefixes a request marks with cache_control, and none of this project's requests does
NO_CACHE = "no cached cost: its requests carry no cache_control, so Anthropic reads nothing from its cache"


def load_prices(path: str | Path | None = None) -> dict[str, dict]:
    """{model: {input, output, batch_input?, batch_output?, cached_input?, cache_min_tokens?}} in USD per million
    tokens (``cache_min_tokens``: a number of tokens) (``path``: the default table,
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
        for k in PRICES:
            v = entry.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                                  or v < 0):
                raise ParamsError(f"{path}: {model!r} {k} is {v!r}; give a number >= 0 (USD per million tokens).")
        m = entry.get("cache_min_tokens")
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ParamsError(f"{path}: {model!r} cache_min_tokens is {m!r}; give a whole number of tokens >= 1 (the "
                              f"shortest prompt prefix the provider caches; default {CACHE_MIN_TOKENS}).")
        if "cache_min_tokens" in entry and entry.get("cached_input") is None:
            raise ParamsError(f"{path}: {model!r} gives cache_min_tokens but no cached_input price; give cached_input "
                              "(USD per million prompt tokens read from the provider's cache) or leave both out.")
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


def cached_tokens(prefix_tokens: list[int] | None, min_tokens: int = CACHE_MIN_TOKENS) -> int:
    """Prompt tokens a provider's cache could serve: the shared prefixes (the plan's ``prefix_tokens``, one per call
    that shares one with an earlier call) that reach ``min_tokens``, summed. An upper bound (see the module)."""
    return sum(n for n in prefix_tokens or [] if n >= min_tokens)


def costs(plan: pl.DataFrame, prices: dict[str, dict]) -> pl.DataFrame:
    """Per stage and model (the plan's ``total`` rows): the calls still to make, their estimated prompt tokens, the
    upper bound of their output tokens, and their cost interactive and with a Batch API (``None``: no price); with a
    ``cached_input`` price, the prompt tokens a prompt cache could serve at most (``cached_tokens``) and the
    interactive cost with them (``usd_cached``: a best case), or for an ``anthropic:`` model why there is none
    (``cache_note``)."""
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
               "prompt_tokens": tin, "output_tokens_max": tout, "usd": None, "usd_batch": None, "cached_tokens": None,
               "usd_cached": None, "cache_note": None, "note": ""}
        if t["model"].startswith("embedded:"):
            row.update(usd=0.0, usd_batch=0.0, note="embedded: runs on this machine, no charge")
        else:
            p = price_of(t["model"], prices)
            if p is None:
                row["note"] = f"no price for this model in {PRICES_FILE.name}"
            else:
                row["usd"] = _usd(tin, tout, p["input"], p["output"])
                if p.get("cached_input") is not None and t["model"].startswith("anthropic:"):
                    row["cache_note"] = NO_CACHE
                elif p.get("cached_input") is not None:
                    cached = min(cached_tokens(t.get("prefix_tokens"), p.get("cache_min_tokens", CACHE_MIN_TOKENS)), tin)
                    row["cached_tokens"] = cached
                    row["usd_cached"] = _usd(tin - cached, tout, p["input"], p["output"]) + _usd(cached, 0,
                                                                                                 p["cached_input"], 0)
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
    total = {"usd": 0.0, "usd_batch": 0.0, "usd_cached": 0.0}
    missing = False
    any_cached = False
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
        if r.get("cache_note"):
            cached = f"; {r['cache_note']}"
        elif r.get("usd_cached") is not None:
            cached = (f", ${r['usd_cached']:,.2f} interactive at best with a prompt cache (a lower bound: it serves at "
                      f"most the ~{r['cached_tokens']:,} prompt tokens shared with earlier prompts, estimated from "
                      "characters / 4)")
        else:
            cached = ""
        lines.append(f"  {r['stage']}  {r['model']}: {r['calls']:,} calls{conv}, ~{r['prompt_tokens']:,} prompt "
                     f"tokens, <= {r['output_tokens_max']:,} output tokens; {usd}{batch}{cached}"
                     + (f" ({r['note']})" if r["note"] else ""))
        if r["usd"] is None:
            missing = True
        else:
            total["usd"] += r["usd"]
            total["usd_batch"] += r["usd_batch"] if r["usd_batch"] is not None else r["usd"]
            total["usd_cached"] += r["usd_cached"] if r.get("usd_cached") is not None else r["usd"]
            any_cached |= r.get("usd_cached") is not None
    lines.append(f"  all: ${total['usd']:,.2f} interactive, ${total['usd_batch']:,.2f} with Batch APIs where given"
                 + (f", ${total['usd_cached']:,.2f} interactive at best with cached input where a cached price "
                    "is given (a lower bound)" if any_cached else "")
                 + (" (models without a price are not included)" if missing else ""))
    return "\n".join(lines)
