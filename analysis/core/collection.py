"""The one collection loop: for each model, an elicitor, the study's tidy frames, written at the end.

Every study's ``01_collect`` notebook calls :func:`run`. The tables of all models are concatenated
and written to ``data/raw/<study>/<table>.parquet`` together with ``run_info.json``. All
files are written only after every model has finished, each atomically, so a failed stage leaves the
previous outputs as they were. Everything written is what a replay from the response store reproduces
byte for byte: ``run_info.json`` holds digests, row counts and the recorded cost of the answers (distinct calls
and the model time recorded when each was made, the same on a replay), and a study's run-only tables (a name
starting with ``_``: timings per job) are returned for the collection report but not written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from analysis.core.io import write_parquet, write_text
from analysis.core.params import elicitor as make_elicitor
from analysis.core.paths import ROOT, raw_dir
from analysis.core.study import CollectStage, Study


@dataclass
class Collected:
    tables: dict[str, pl.DataFrame]
    info: dict
    paths: dict[str, Path] = field(default_factory=dict)

    def timing(self) -> pl.DataFrame:
        """One row per model: digest, model calls, calls answered from the store, seconds, s per model call, and
        the prompt tokens the engine reported for the calls made in this run (all, evaluated, from its cache)."""
        rows = []
        for m, i in self.info["models"].items():
            row = {"model": m, **{k: v for k, v in i.items() if not isinstance(v, dict)}}
            pt = i.get("prompt_tokens") or {}
            if pt.get("calls_reporting"):  # the engine's prompt-token counts of the calls made in this run
                row |= {"prompt_tokens": pt["total"], "prompt_evaluated": pt["evaluated"],
                        "prompt_cached": pt["cached"]}
            rows.append(row)
        return pl.DataFrame(rows, infer_schema_length=None)

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def run(study: Study, p: CollectStage, *, out_dir: str | Path | None = None, elicitor_factory: Callable | None = None,
        log: Callable[[str], None] = print) -> Collected:
    """Collect from every model in ``p.models`` and write the tables (``out_dir`` defaults to
    ``data/raw/<study>``; None-like ``out_dir=False`` writes nothing)."""
    if elicitor_factory is None:  # every named API key is there before the first model is called
        from analysis.core.models import check_api_keys

        t = p.targets
        check_api_keys(p.models, t.get("api_key_env") if isinstance(t, dict) else getattr(t, "api_key_env", None))
    factory = elicitor_factory or (lambda spec: make_elicitor(spec, p.targets))
    frames: dict[str, list[pl.DataFrame]] = {}
    info: dict = {"study": study.id, "seed": p.seed, "models": {}}
    el = None
    for spec in p.models:
        el = factory(spec)
        t0 = time.perf_counter()
        out = study.collect(el, p.collect, p.seed)
        wall = time.perf_counter() - t0
        for name, df in out.items():
            if "model" not in df.columns:  # the target's spec: where a model is served is not part of its name
                df = df.with_columns(pl.lit(el.target.spec).alias("model"))
            frames.setdefault(name, []).append(df)
        n = el.n_model_calls
        n_rec, s_rec = el.recorded_cost() if hasattr(el, "recorded_cost") else (None, None)
        info["models"][spec] = {"digest": el.target.digest, "model_calls": n, "store_hits": el.n_store_hits,
                                "seconds": round(wall, 1), "s_per_model_call": round(wall / n, 3) if n else None,
                                "calls_recorded": n_rec,
                                "model_seconds_recorded": None if s_rec is None else round(s_rec, 1)}
        pt = getattr(el, "prompt_tokens", None)
        if pt and n:
            info["models"][spec]["prompt_tokens"] = dict(pt)
        log(f"{spec} (digest {el.target.digest[:12]}): {n} calls reached the model, {el.n_store_hits} came from "
            f"the response store, {wall:.1f} s" + cost_sentence(n_rec, s_rec) + token_sentence(pt, n))
    if any(i["store_hits"] for i in info["models"].values()) and el is not None:
        info["published"] = published_note(el.store)
        log(info["published"])
    tables = {k: pl.concat(v, how="diagonal_relaxed") for k, v in frames.items()}
    paths: dict[str, Path] = {}
    if out_dir is not False:
        out = Path(out_dir) if out_dir else raw_dir(study.id)
        for name, df in tables.items():
            if name.startswith("_"):  # run-only (timings per job): shown in the report, not a result
                continue
            paths[name] = write_parquet(df, out / f"{name}.parquet")
        # only what a re-run from the response store reproduces exactly (timings and call counts go to the
        # collection report), so a replay leaves data/raw/ byte for byte as it was
        stable = {"study": study.id, "seed": p.seed,
                  "models": {m: {"digest": i["digest"], "calls_recorded": i["calls_recorded"],
                                 "model_seconds_recorded": i["model_seconds_recorded"]}
                             for m, i in info["models"].items()},
                  "tables": {k: v.height for k, v in tables.items() if not k.startswith("_")}}
        paths["run_info"] = write_text(json.dumps(stable, indent=2, default=str), out / "run_info.json")
    return Collected(tables, info, paths)


def cost_sentence(calls: int | None, seconds: float | None) -> str:
    """What collecting the answers cost when they were made: distinct calls and their recorded model time (the
    same whether this run called the model or took every answer from the response store)."""
    if calls is None:
        return ""
    return (f"; the answers rest on {calls:,} distinct model calls that took {seconds:,.1f} s of model time "
            "when they were made (recorded latencies)")


def token_sentence(pt: dict | None, n_calls: int) -> str:
    """The prompt tokens of this run's model calls as the engine reported them: evaluated versus taken from its
    prompt cache (benchmarks/bench_tokens.py compares the evaluated tokens with the least the prompts allow)."""
    if not pt or not n_calls:
        return ""
    if not pt["calls_reporting"]:
        return f"; the engine reported no prompt-token counts for these {n_calls:,} calls"
    share = pt["cached"] / pt["total"] if pt["total"] else float("nan")
    missing = n_calls - pt["calls_reporting"]
    return (f"; prompt tokens: {pt['total']:,}, of which the engine evaluated {pt['evaluated']:,} and took "
            f"{pt['cached']:,} ({share:.0%}) from its prompt cache"
            + (f" ({missing:,} calls reported no counts)" if missing else ""))


def published_note(store) -> str:
    """One sentence for a collection report: which published response file (and manifest) the response store
    was seeded from, as the store recorded it at ``python -m analysis.pipeline.responses load``."""
    loads = store.published_loads() if hasattr(store, "published_loads") else []
    if not loads:
        return (f"The response store {store.path} was not seeded from a published response file: the answers it "
                "served are calls it recorded itself.")
    last = loads[-1]
    name = Path(last["file"]).name
    if last.get("manifest_sha256"):
        checked = (f"every row checked against its key and against the manifest {Path(last['manifest']).name} "
                   f"(sha256 {last['manifest_sha256'][:16]}, {last['rows']} rows)")
    else:
        checked = "every row checked against its key only (loaded --unverified: no manifest)"
    more = f"; {len(loads) - 1} earlier load(s) recorded" if len(loads) > 1 else ""
    loose = [x for x in loads[:-1] if not x.get("manifest_sha256")]
    if loose:
        more += (f", {len(loose)} of them unverified (--unverified, keys only, first on {loose[0]['loaded_at']}): "
                 "calls they added under keys that are not in the last file were never checked against a manifest")
    if last.get("replaced"):
        more += f"; this load replaced {last['replaced']} call(s) the store held with other answers"
    return (f"The response store {store.path} was seeded from {name} on {last['loaded_at']}, {checked}{more}.")


def load(study: str, name: str) -> pl.DataFrame:
    """A table the collection stage of ``study`` wrote, with one sentence when it is not there yet."""
    from analysis.core.errors import UserError

    path = raw_dir(study) / f"{name}.parquet"
    if not path.exists():
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        raise UserError(f"{shown} does not exist yet: run the collection stage first "
                        f"(`uv run dvc repro collect@{study}`).")
    return pl.read_parquet(path)


def load_info(study: str) -> dict:
    path = raw_dir(study) / "run_info.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
