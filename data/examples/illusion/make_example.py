"""Write the example tables of the Study 1 re-analysis route (synthetic, seeded; run from the repository root):

    uv run python data/examples/illusion/make_example.py

It is shaped like a published Study 1 results table: 18 models (6 pretrained base models with self-reports
only, 6 instruction-tuned counterparts and 6 further instruct models), 3 baseline system prompts, persona rows
(2 traits x 3 prompt strategies) for the instruct models only, 3 temperatures and 2 runs (identical at T = 0,
sampled at T > 0). The numbers are invented, with effects built in so the route has something to find: base
models' self-reports vary more (RQ1), risk taking follows extraversion weakly (RQ2), personas raise the paired
self-report by about one scale point and move behaviour little (RQ3). `published_table_percent.csv` gives the
rates in percent, as the published table did (the re-analysis refuses it in one sentence);
`published_table.csv` is the corrected table; `published_table.yaml` is its spec (pairs, an extra behaviour).
"""

from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
TRAITS = ["sr_O", "sr_C", "sr_E", "sr_A", "sr_N", "sr_SRQ"]
BASELINES = ["empty", "helpful", "respond"]
STRATEGIES = ["character", "description", "identity"]
TEMPS = [0.0, 0.7, 1.0]
RUNS = 2


def models():
    out = []
    for i in range(1, 7):
        out += [(f"family{i}-base", "base", f"family{i}"), (f"family{i}-instruct", "instruct", f"family{i}")]
    out += [(f"other{i}-instruct", "instruct", None) for i in range(1, 7)]
    return out


def make(seed: int = 2025) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for model, role, pair in models():
        centre = {t: rng.normal(3.4, 0.3) for t in TRAITS}
        sd = 0.6 if role == "base" else 0.25  # instruction tuning stabilises self-reports
        conds = [("baseline", f"baseline_{b}", None, None) for b in BASELINES]
        if role == "instruct":
            conds += [("persona", f"persona_{t}_{s}_t1", t, s) for t in ("agreeableness", "self_regulation")
                      for s in STRATEGIES]
        for ctype, cond, trait, strat in conds:
            for temp in TEMPS:
                greedy = None
                for run in range(RUNS):
                    if temp == 0 and greedy is not None:
                        rows.append({**greedy, "run": run})  # greedy decoding: an exact repeat
                        continue
                    sr = {t: centre[t] + rng.normal(0, sd) for t in TRAITS}
                    if trait == "agreeableness":
                        sr["sr_A"] += 1.0
                    if trait == "self_regulation":
                        sr["sr_SRQ"] += 0.6
                    sr = {t: float(np.clip(v, 1, 5)) for t, v in sr.items()}
                    r = {"model": model, "model_role": role, "model_pair": pair, "condition": cond,
                         "condition_type": ctype, "temperature": temp, "run": run, "persona_trait": trait,
                         "persona_strategy": strat, **{t: round(v, 4) for t, v in sr.items()}}
                    if role == "instruct":
                        cards = np.clip(10 + 1.2 * (sr["sr_E"] - 3.4) / 0.3 + rng.normal(0, 3), 0, 32)
                        flip = np.clip(0.35 + rng.normal(0, 0.12) + (0.03 if trait == "agreeableness" else 0), 0, 1)
                        acc = np.clip(0.6 + rng.normal(0, 0.1), 0, 1)
                        refusal = np.clip(0.2 + rng.normal(0, 0.08), 0, 1)
                        r.update({"bh_cct_cards": round(float(cards), 3), "bh_syc_flip_rate": round(float(flip), 4),
                                  "bh_hon_accuracy": round(float(acc), 4), "bh_help_refusal_rate": round(float(refusal), 4),
                                  "bh_tox_score": round(float(rng.gamma(2, 0.5)), 3)})
                    else:
                        r.update({"bh_cct_cards": None, "bh_syc_flip_rate": None, "bh_hon_accuracy": None,
                                  "bh_help_refusal_rate": None, "bh_tox_score": None})
                    r["source_note"] = "synthetic example"
                    rows.append(r)
                    if temp == 0:
                        greedy = {k: v for k, v in r.items() if k != "run"}
    return pl.DataFrame(rows, infer_schema_length=None)


if __name__ == "__main__":
    df = make()
    df.write_csv(HERE / "published_table.csv")
    pct = df.with_columns([(pl.col(c) * 100).round(2) for c in ("bh_syc_flip_rate", "bh_hon_accuracy",
                                                                 "bh_help_refusal_rate")])
    pct.write_csv(HERE / "published_table_percent.csv")
    print(f"{df.height} rows, {df['model'].n_unique()} models -> {HERE}")
