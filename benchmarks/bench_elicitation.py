"""Items per second for generation versus log-probability scoring, and a cold versus a fully cached
run, measured in one run on the same model.

    uv run python benchmarks/bench_elicitation.py [--model embedded:qwen2.5-coder-1.5b] [--items 30]

Uses a fresh temporary response store, so nothing is answered from an earlier run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from analysis.core.administer import administer, select_items
from analysis.core.elicit import Elicitor
from analysis.core.instruments import load_instrument
from analysis.core.models import GenOptions
from analysis.core.store import ResponseStore
from analysis.studies.bigfive.collect import participants


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded:qwen2.5-coder-1.5b")
    ap.add_argument("--items", type=int, default=30, help="IPIP-NEO-120 items (one per facet up to 30)")
    ap.add_argument("--persona", default="A_high")
    a = ap.parse_args()
    inst = load_instrument("ipip_neo_120")
    items = select_items(inst, per_scale=max(1, -(-a.items // 30)))[: a.items]
    parts = participants([a.persona], ["rate"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cache_prompt in (True, False):
            store = ResponseStore(os.path.join(tmp, f"s{cache_prompt}.sqlite"))
            el = Elicitor.from_spec(a.model, store, cache_prompt=cache_prompt)
            el.progress = False
            # load the model before timing
            el.generate([{"role": "user", "content": "Say OK."}], GenOptions(max_tokens=2))
            lp, t_lp = timed(lambda el=el: administer(el, inst, items, parts, mode="logprob"))
            calls_lp = sum(len(c.split(",")) for c in lp["call_ids"])
            gen, t_gen = timed(lambda el=el: administer(el, inst, items, parts, mode="generate",
                                                  options=GenOptions(max_tokens=8)))
            calls_gen = sum(len(c.split(",")) for c in gen["call_ids"] if c)
            n_before = el.n_model_calls
            _, t_cached = timed(lambda el=el: (administer(el, inst, items, parts, mode="logprob"),
                                         administer(el, inst, items, parts, mode="generate", options=GenOptions(max_tokens=8))))
            assert el.n_model_calls == n_before, "cached re-run reached the model"
            tag = "prefix cache on" if cache_prompt else "prefix cache off"
            rows.append((f"log-prob scoring ({tag})", len(items), calls_lp, t_lp))
            rows.append((f"generation + parse ({tag})", len(items), calls_gen, t_gen))
            rows.append((f"cached re-run of both ({tag})", 2 * len(items), 0, t_cached))
            valid = int((gen["status"] == "ok").sum())
            rows.append((f"  generation valid answers ({tag})", valid, 0, float("nan")))
    print(f"model: {a.model}   items: {len(items)}   cores: {os.cpu_count()}")
    print(f"{'what':45s} {'items':>6s} {'calls':>6s} {'seconds':>8s} {'items/s':>8s}")
    for name, n, calls, t in rows:
        rate = n / t if t == t and t > 0 else float("nan")
        print(f"{name:45s} {n:6d} {calls:6d} {t:8.2f} {rate:8.1f}")


if __name__ == "__main__":
    main()
