"""Issue 21, part 1: how far the engine's prompt evaluation is from the least the prompts allow, and what a call
costs through the project against a bare engine call.

    uv run python benchmarks/bench_tokens.py                      # the published reference run, no model call
    uv run python benchmarks/bench_tokens.py --store data/cache/responses.sqlite   # your own store
    uv run python benchmarks/bench_tokens.py --live 40            # + a live run on the embedded 0.5B

Without ``--live`` nothing calls a model. Per collection stage it prints: calls, prompt tokens (tokenized with
the GGUF file's own tokenizer and chat template; the column ``agree`` counts the calls whose count equals the
engine's recorded one), the prompt tokens a single slot with prompt caching evaluates in the recorded call order
(the engine's own counts where the calls recorded them, ``measured``, else simulated), the minimum (the nodes of
the prefix trie of the stage's prompts), and their ratio, the target being <= 1.2.

``--live N`` takes the first N prompts of the illusion stage of the published run, in their recorded order, and
runs them on the embedded model (default the 0.5B): one untimed bare pass, then four passes alternating a bare engine call
(``EmbeddedEngine.chat_completions``) with the same request through ``Elicitor.generate`` and a fresh temporary
store, so both see the same machine load. It prints the median time per call of each and their ratio, and checks
the engine's reported evaluated tokens against the single-slot simulation.

Writes benchmarks/results/tokens.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from analysis.core.models.embedded import EMBEDDED_MODELS, gguf_path
from analysis.core.paths import ROOT
from analysis.core.tokens import GGUFTokenizer, single_slot_evaluated, stage_of, stage_table

PUBLISHED = ROOT / "data/published/responses.parquet"
OUT = ROOT / "benchmarks/results/tokens.json"


def calls_from(store: Path | None) -> pl.DataFrame:
    if store is None:
        return pl.read_parquet(PUBLISHED)
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        cur = con.execute("SELECT created_at, model, messages, text, latency_s, meta, tag FROM calls")
        cols = [d[0] for d in cur.description]
        return pl.DataFrame(cur.fetchall(), schema=cols, orient="row", infer_schema_length=None)
    finally:
        con.close()


def live(n: int, model: str, tok: GGUFTokenizer) -> dict:
    from analysis.core.elicit import Elicitor
    from analysis.core.models import GenOptions
    from analysis.core.models.embedded import EmbeddedEngine
    from analysis.core.store import ResponseStore

    pub = pl.read_parquet(PUBLISHED).sort("created_at")
    pub = pub.filter(pl.col("tag").map_elements(stage_of, return_dtype=pl.String) == "illusion").head(n)
    reqs = [(json.loads(r["messages"]), json.loads(r["options"]), r["top_logprobs"]) for r in pub.iter_rows(named=True)]
    engine = EmbeddedEngine.get(model)
    times: dict[str, list[float]] = {"bare": [], "elicitor": []}
    blocks: list[tuple[str, float]] = []
    measured: list[int] = []
    replies: list[list[int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # block 0 is a bare pass that is not timed (the engine's first calls of each shape allocate buffers: it
        # took 1.6x a later pass here); its engine counts are checked against the simulation
        for block in range(5):
            kind = "bare" if block % 2 == 0 else "elicitor"
            n_before = len(times[kind])
            el = Elicitor.from_spec(f"embedded:{model}", ResponseStore(Path(tmp) / f"s{block}.sqlite"))
            el.progress = False
            engine.chat_completions({"messages": [{"role": "user", "content": "reset"}], "max_tokens": 1})
            for msgs, opts, top in reqs:
                t0 = time.perf_counter()
                if kind == "bare":
                    body = {"messages": msgs, "temperature": opts.get("temperature", 0.0), "seed": opts.get("seed", 0),
                            "max_tokens": opts.get("max_tokens", 16), "cache_prompt": True}
                    if top:
                        body |= {"logprobs": True, "top_logprobs": top}
                    out = engine.chat_completions(body)
                    times[kind].append(time.perf_counter() - t0)
                    if block == 0:
                        measured.append(out["timings"]["prompt_n"])
                        text = out["choices"][0]["message"].get("content") or ""
                        if msgs[-1]["role"] == "assistant" and text.startswith(msgs[-1]["content"]):
                            text = text[len(msgs[-1]["content"]):]
                        replies.append(tok.ids(text))
                else:
                    el.generate(msgs, GenOptions(**{k: (tuple(v) if k == "stop" else v) for k, v in opts.items()}),
                                top_logprobs=top)
                    times[kind].append(time.perf_counter() - t0)
            if block == 0:
                del times["bare"][:]
            else:
                blocks.append((kind, round(sum(times[kind][n_before:]), 2)))
    prompts = [tok.prompt_ids(m) for m, _, _ in reqs]
    reset = tok.prompt_ids([{"role": "user", "content": "reset"}])
    # the cache after a call holds its prompt and its reply (re-tokenized from the text here)
    reset_reply = [[]]
    sim = single_slot_evaluated([reset, *prompts], reset_reply + replies) - len(reset)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"model": model, "calls": n, "median_s_bare": round(med["bare"], 4),
            "median_s_elicitor": round(med["elicitor"], 4), "ratio_elicitor_to_bare": round(med["elicitor"] / med["bare"], 3),
            "sum_s_bare": round(sum(times["bare"]), 2), "sum_s_elicitor": round(sum(times["elicitor"]), 2),
            "blocks_s": blocks, "evaluated_engine": sum(measured), "evaluated_simulated": sim}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, help="a response store (SQLite) instead of the published responses")
    ap.add_argument("--live", type=int, default=0, metavar="N", help="also time N calls on the embedded model")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", choices=sorted(EMBEDDED_MODELS))
    a = ap.parse_args()
    calls = calls_from(a.store)
    names = sorted(set(calls["model"].to_list()))
    name = names[0] if len(names) == 1 and names[0] in EMBEDDED_MODELS else "qwen2.5-coder-1.5b"
    t0 = time.perf_counter()
    tok = GGUFTokenizer(gguf_path(name))
    tab = stage_table(calls, tok)
    with pl.Config(tbl_rows=50, tbl_cols=20, tbl_width_chars=200):
        print(f"{a.store or PUBLISHED.relative_to(ROOT)}: {calls.height} calls of {names}; tokenizer of {name} "
              f"({time.perf_counter() - t0:.1f} s)")
        print(tab)
    tot = tab.select(pl.col("prompt_tokens", "evaluated_simulated", "minimum", "calls", "engine_prompt_tokens_agree")
                     .sum())
    r = tot.row(0, named=True)
    print(f"all stages: {r['prompt_tokens']:,} prompt tokens, {r['evaluated_simulated']:,} evaluated (simulated, "
          f"recorded order), minimum {r['minimum']:,}: ratio {r['evaluated_simulated'] / r['minimum']:.3f}; "
          f"tokenizer agrees with the engine on {r['engine_prompt_tokens_agree']} of {r['calls']} calls")
    result = {"source": str(a.store or PUBLISHED.relative_to(ROOT)), "stages": tab.to_dicts()}
    if a.live:
        lv = live(a.live, a.model, GGUFTokenizer(gguf_path(a.model)) if a.model != name else tok)
        print(json.dumps(lv, indent=2))
        result["live"] = lv
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
