"""Throughput against a real llama.cpp server, and the project's per-call cost over a bare request.

    uv run python benchmarks/bench_servers.py                      # the 0.5B
    uv run python benchmarks/bench_servers.py --models qwen2.5-coder-0.5b qwen2.5-coder-1.5b

llama-server (built from the pinned llama.cpp source, analysis.core.servers) serves an embedded GGUF on
127.0.0.1. The workload is the Big Five items under no persona, exactly as the study sends them, in two
kinds of call: one log-probability pass (max_tokens 1, top 20 log-probabilities: how every questionnaire
item is scored) and a short greedy generation (max_tokens 32). Measured:

1. throughput at concurrency 1, 2, 4 through the project (Elicitor.map over an ``openai:`` target with
   ``per_host_concurrency`` c, a fresh store, so every call reaches the server), the server started with
   as many slots (``--parallel c``);
2. one base URL versus two: two servers (each with 1 slot and half the cores) behind one spec, against
   one such server alone (the control: same threads per server) and one server with all cores;
3. the project's per-call time (Elicitor.generate as option_probs calls it, fresh store: request key,
   store lookup and write, parsing) against a bare HTTP request with the same body to the same server,
   one call at a time, alternating rounds so both see the same machine; and the project's own time per
   call outside the HTTP request (measured around the target's ``chat``), which server noise cannot hide.

Every configuration runs a warm-up of the whole prompt set first (so the prompt-prefix cache is in the
same state for all), then the timed rounds. The results go to benchmarks/results/servers.json and are
printed as Markdown tables. Load from other processes distorts the numbers: the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

from analysis.core.administer import item_prompt, messages_for, select_items
from analysis.core.elicit import Elicitor
from analysis.core.instruments import load_instrument
from analysis.core.models import GenOptions, make_target
from analysis.core.models.embedded import gguf_path
from analysis.core.servers import LlamaServer, build_llama_server
from analysis.core.store import ResponseStore
from analysis.studies.bigfive.collect import participants

OUT = Path(__file__).parent / "results" / "servers.json"
KINDS = {"logprob": {"max_tokens": 1, "top_logprobs": 20}, "generate": {"max_tokens": 32, "top_logprobs": 0}}


def prompts(n: int) -> list[list[dict]]:
    inst = load_instrument("ipip_neo_120")
    part = participants(["none"], ["rate"])[0]
    items = select_items(inst, per_scale=None)[:n]
    return [messages_for(part["system"], item_prompt(inst, it, part["template"])) for it in items]


def bare_body(alias: str, msgs: list[dict], kind: str) -> dict:
    """The body the project's OpenAI target sends (see analysis/core/models/openai_target.py)."""
    k = KINDS[kind]
    body = {"model": alias, "messages": msgs, "temperature": 0.0, "seed": 0, "max_tokens": k["max_tokens"]}
    if k["top_logprobs"]:
        body.update(logprobs=True, top_logprobs=k["top_logprobs"])
    return body


def project_call(el: Elicitor, msgs: list[dict], kind: str):
    k = KINDS[kind]
    return el.generate(msgs, GenOptions(temperature=0.0, seed=0, max_tokens=k["max_tokens"]),
                       top_logprobs=k["top_logprobs"])


def elicitor(spec: str, conc: int, store_dir: str) -> Elicitor:
    t = make_target(spec, per_host_concurrency=conc, timeout_s=600)
    return Elicitor(t, ResponseStore(Path(tempfile.mkdtemp(dir=store_dir)) / "s.sqlite"), progress=False)


def throughput(spec: str, conc: int, msgs: list[list[dict]], kind: str, store_dir: str, rounds: int) -> dict:
    """Calls per second through the project at ``conc`` calls in flight (each round on a fresh store)."""
    rates = []
    for r in range(rounds + 1):  # round 0 warms the server's prefix cache and is not counted
        el = elicitor(spec, conc, store_dir)
        t0 = time.perf_counter()
        el.map(lambda m, el=el: project_call(el, m, kind), msgs)
        dt = time.perf_counter() - t0
        assert el.n_model_calls == len(msgs), "every call must reach the server (fresh store)"
        if r:
            rates.append(len(msgs) / dt)
    return {"calls": len(msgs), "rounds": rounds, "calls_per_s": statistics.median(rates), "all": rates}


class _TimedChat:
    """Wraps a target: the time spent inside ``chat`` (the HTTP request and its parsing) is recorded, so the
    project's own time per call (request key, store lookup and write) is the rest."""

    def __init__(self, target):
        self._t = target
        self.last = 0.0

    def __getattr__(self, name):
        return getattr(self._t, name)

    def chat(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return self._t.chat(*a, **kw)
        finally:
            self.last = time.perf_counter() - t0


def overhead(alias: str, root: str, spec: str, msgs: list[list[dict]], kind: str, store_dir: str,
             rounds: int) -> dict:
    """Seconds per call, one at a time: a bare HTTP request vs the project on the same prompts. Rounds
    alternate (all prompts bare, then all through the project on a fresh store), so both meet the prefix
    cache in the same state; differences are paired by prompt and round."""
    bare, proj, own = [], [], []
    with httpx.Client(base_url=root + "/v1", timeout=600) as client:
        for m in msgs:  # warm-up
            client.post("/chat/completions", json=bare_body(alias, m, kind)).raise_for_status()
        for _ in range(rounds):
            for m in msgs:
                t0 = time.perf_counter()
                r = client.post("/chat/completions", json=bare_body(alias, m, kind))
                r.raise_for_status()
                r.json()
                bare.append(time.perf_counter() - t0)
            el = elicitor(spec, 1, store_dir)
            timed = _TimedChat(el.target)
            el.target = timed
            for m in msgs:
                t0 = time.perf_counter()
                project_call(el, m, kind)
                proj.append(time.perf_counter() - t0)
                own.append(proj[-1] - timed.last)
    b, p = statistics.median(bare), statistics.median(proj)
    paired = statistics.median(x - y for x, y in zip(proj, bare))
    return {"bare_ms": 1000 * b, "project_ms": 1000 * p, "paired_diff_ms": 1000 * paired,
            "outside_http_ms": 1000 * statistics.median(own), "n": len(bare)}


def bench_model(name: str, binary: Path, n_prompts: int, rounds: int, store_dir: str) -> dict:
    gguf = gguf_path(name)
    cores = os.cpu_count() or 1
    msgs = prompts(n_prompts)
    res: dict = {"model": name, "cores": cores, "prompts": len(msgs), "throughput": {}, "urls": {}, "overhead": {}}
    print(f"== {name}: {len(msgs)} prompts, {rounds} timed rounds", file=sys.stderr)
    for conc in (1, 2, 4):
        with LlamaServer(gguf, alias=name, slots=conc, binary=binary) as srv:
            spec = f"openai:{name}@{srv.base_url}"
            for kind in KINDS:
                r = throughput(spec, conc, msgs, kind, store_dir, rounds)
                res["throughput"][f"{kind}/c{conc}"] = r
                print(f"  {kind:8s} concurrency {conc}: {r['calls_per_s']:.2f} calls/s", file=sys.stderr)
            if conc == 1:
                for kind in KINDS:
                    o = overhead(name, srv.root, spec, msgs, kind, store_dir, rounds)
                    res["overhead"][kind] = o
                    print(f"  {kind:8s} bare {o['bare_ms']:.1f} ms, project {o['project_ms']:.1f} ms, own "
                          f"{o['outside_http_ms']:.2f} ms", file=sys.stderr)
    # two base URLs: two servers, each with one slot and half of the cores, behind one spec; and, as the
    # control for it, one such server alone (so a gain is from the second server, not from fewer threads)
    half = max(1, cores // 2)
    with LlamaServer(gguf, alias=name, slots=1, threads=half, binary=binary) as s1:
        spec = f"openai:{name}@{s1.base_url}"
        for kind in KINDS:
            r = throughput(spec, 1, msgs, kind, store_dir, rounds)
            res["urls"][f"{kind}/1url-{half}t"] = r
            print(f"  {kind:8s} one URL ({half} threads): {r['calls_per_s']:.2f} calls/s", file=sys.stderr)
    with LlamaServer(gguf, alias=name, slots=1, threads=half, binary=binary) as s1, \
            LlamaServer(gguf, alias=name, slots=1, threads=half, binary=binary) as s2:
        spec = f"openai:{name}@{s1.base_url},{s2.base_url}"
        for kind in KINDS:
            r = throughput(spec, 1, msgs, kind, store_dir, rounds)  # 1 per URL -> 2 in flight
            res["urls"][f"{kind}/2urls"] = r
            print(f"  {kind:8s} two URLs ({half} threads each): {r['calls_per_s']:.2f} calls/s", file=sys.stderr)
    return res


def table(results: list[dict]) -> str:
    half = max(1, (results[0]["cores"] if results else 2) // 2)
    lines = [f"| model | call | c=1 | c=2 | c=4 | one URL, {half} thread | two URLs, {half} thread each | bare request, ms "
             "| project, ms | paired difference | project's own time outside HTTP |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for kind in KINDS:
            t = r["throughput"]
            o = r["overhead"][kind]
            lines.append(
                f"| {r['model']} | {kind} | " + " | ".join(f"{t[f'{kind}/c{c}']['calls_per_s']:.2f}" for c in (1, 2, 4))
                + f" | {r['urls'][f'{kind}/1url-{half}t']['calls_per_s']:.2f}"
                + f" | {r['urls'][f'{kind}/2urls']['calls_per_s']:.2f} | {o['bare_ms']:.0f} | {o['project_ms']:.0f} | "
                f"{o['paired_diff_ms']:+.1f} ms | {o['outside_http_ms']:.1f} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b"])
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    # the OpenAI target warns that a server with several slots is not bit-reproducible: known, and the point here
    warnings.filterwarnings("ignore", message=".*slots.*")
    binary = build_llama_server(log=lambda m: print(m, file=sys.stderr))
    info = json.loads((binary.parent / "build_info.json").read_text()) if (binary.parent / "build_info.json").exists() else {}
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as store_dir:
        results = [bench_model(m, binary, a.prompts, a.rounds, store_dir) for m in a.models]
    doc = {"llama_server_build": info, "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
           "seconds": round(time.perf_counter() - t0, 1), "results": results}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=2))
    print(table(results))
    print(f"\ncalls per second; {a.prompts} Big Five item prompts, {a.rounds} rounds (median); "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; {doc['seconds']:.0f} s in all")


if __name__ == "__main__":
    main()
