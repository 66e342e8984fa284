"""Threads of the no-build xllamacpp server (``python -m analysis.core.servers xllamacpp-serve``): 1 against 2.

    uv run --frozen python benchmarks/bench_threads.py [--prompts 24] [--rounds 3]

Two servers of the embedded 0.5B run side by side on 127.0.0.1, one with ``--threads 1`` and one with
``--threads 2`` (1 slot each). Each round sends the same Big Five item prompts (one log-probability pass
each, as questionnaire items are scored: max_tokens 1, top 20 log-probabilities) one at a time to each
server in turn, first on the machine as it is ("no added load"), then with ``--burners`` busy-looping
processes running beside it ("added load"). Rounds interleave the two servers and both conditions, so
they meet the same machine; the ratio 2 threads / 1 thread is computed per round and its median reported.
The machine's load average is recorded (other users' work is load too). Results go to
benchmarks/results/threads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from analysis.core.models.embedded import gguf_path
from analysis.core.servers import XllamaServer

sys.path.insert(0, str(Path(__file__).parent))
from bench_servers import bare_body, prompts  # noqa: E402

OUT = Path(__file__).parent / "results" / "threads.json"
MODEL = "qwen2.5-coder-0.5b"


def rate(root: str, msgs: list[list[dict]]) -> float:
    with httpx.Client(base_url=root + "/v1", timeout=600) as c:
        t0 = time.perf_counter()
        for m in msgs:
            c.post("/chat/completions", json=bare_body(MODEL, m, "logprob")).raise_for_status()
        return len(msgs) / (time.perf_counter() - t0)


def burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def save(res: dict, rates: dict[str, list[float]], rounds_done: int) -> None:
    res["rounds_done"], res["loadavg_end"] = rounds_done, os.getloadavg()
    for k, v in rates.items():
        if v:
            res["calls_per_s"][k] = {"median": statistics.median(v), "all": v}
    for cond in ("quiet", "load"):
        ratios = [b / a_ for a_, b in zip(rates[f"{cond}/1t"], rates[f"{cond}/2t"])]
        if ratios:
            res[f"ratio_2t_over_1t/{cond}"] = {"median": statistics.median(ratios), "all": ratios}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burners", type=int, default=2, help="busy-looping processes of the 'added load' condition")
    a = ap.parse_args(argv)
    msgs = prompts(a.prompts)
    gguf = gguf_path(MODEL)
    res = {"model": MODEL, "cores": os.cpu_count(), "prompts": len(msgs), "rounds": a.rounds,
           "burners": a.burners, "loadavg_start": os.getloadavg(), "calls_per_s": {}}
    rates: dict[str, list[float]] = {f"{c}/{t}t": [] for c in ("quiet", "load") for t in (1, 2)}
    with XllamaServer(gguf, alias=MODEL, threads=1) as s1, XllamaServer(gguf, alias=MODEL, threads=2) as s2:
        servers = {1: s1.root, 2: s2.root}
        for root in servers.values():
            rate(root, msgs)  # warm-up: the prefix cache in the same state for both
        for r in range(a.rounds):
            for cond in ("quiet", "load"):
                procs = burners(a.burners) if cond == "load" else []
                try:
                    order = (1, 2) if r % 2 == 0 else (2, 1)
                    for t in order:
                        rates[f"{cond}/{t}t"].append(rate(servers[t], msgs))
                finally:
                    for p in procs:
                        p.kill()
                        p.wait()
                print(f"round {r} {cond}: " + ", ".join(f"{t} thread(s) {rates[f'{cond}/{t}t'][-1]:.2f}/s"
                                                          for t in (1, 2)), file=sys.stderr)
                save(res, rates, r + 1)  # after every round: a long run stopped early keeps what it measured
    print(json.dumps({k: v for k, v in res.items() if k.startswith("ratio") or k == "calls_per_s"}, indent=1))


if __name__ == "__main__":
    main()
