"""The call plan of every collection stage, before anything is run (no model is called).

    python -m analysis.pipeline.plan                       # params.yaml
    python -m analysis.pipeline.plan --profile tiny        # params.yaml with a profile applied (not written)
    python -m analysis.pipeline.plan --study bigfive --offline
    python -m analysis.pipeline.plan --probe               # time a model without call history by <= 3 real calls
    python -m analysis.pipeline.plan --prices my_prices.yaml  # the cost lines from another price table

For every registered study (stage ``collect@<study>``) and every model in ``models``: the study's own
count of the calls one model gets, part by part (exact, or a lower bound ``>=``), how many the response
store already answers, and the expected time from the latencies recorded there (for a model never called
from this store: the published reference run's latencies, or with ``--probe`` a timed probe of at most 3
real calls that are not stored; both labelled estimates); then, for the calls not yet in the store, the
estimated prompt tokens, the output tokens at most, and the cost interactive and with a Batch API from the price
table (``data/prices.yaml``: see :mod:`analysis.core.pricing`), and interactive with cached input where the table
gives a ``cached_input`` price. A model declared in ``targets.logprobs: {MODEL: false}`` (or whose target says it
has no log-probabilities) is counted and priced by generation, as its collection asks it; an undeclared
``openai:`` model is counted with log-probabilities, and one line says so. The table of one stage
comes from :func:`analysis.core.planning.plan_stage` (import it from there in a notebook: a collection
stage depends on analysis/core, not on this module); see that module for how each number is found.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from analysis.core.errors import UserError
from analysis.core.paths import PARAMS_FILE
from analysis.core.planning import COLUMNS, plan_stage, render
from analysis.core.study import CollectStage, Study

__all__ = ["plan", "plan_stage", "render", "main"]


def plan(params_file: str | Path = PARAMS_FILE, profile: str | Path | dict | None = None,
         studies: list[str] | None = None, *, store: str | Path | None = None, cached: bool = True,
         offline: bool = False, probe: bool = False) -> pl.DataFrame:
    """Every collection stage of params.yaml (with ``profile`` merged on top, in memory only)."""
    from analysis.core.params import read_yaml
    from analysis.pipeline.params import validate_all
    from analysis.pipeline.profile import deep_merge, load_profile
    from analysis.studies import all_studies, get

    raw = read_yaml(params_file)
    source = str(params_file)
    if profile is not None:
        import sys

        from analysis.pipeline.profile import shared_changes

        prof = profile if isinstance(profile, dict) else load_profile(profile)
        for line in shared_changes(raw, prof):
            print(line, file=sys.stderr)
        raw = deep_merge(raw, prof)
        source = f"{params_file} with the profile applied"
    validate_all(raw, source)
    chosen = [get(s) for s in studies] if studies else list(all_studies().values())
    frames = []
    for st in chosen:
        frames.append(plan_stage(st, _stage_from(st, raw, source), store=store, cached=cached, offline=offline,
                                 probe=probe))
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=COLUMNS)


def _stage_from(study: Study, raw: dict, source: str) -> CollectStage:
    from analysis.core.params import project

    proj = project(raw, source)
    return CollectStage(study=study.id, models=proj.models, seed=proj.seed, targets=proj.targets,
                        collect=study.section(raw, "collect", source))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Print the model calls each collection stage will make (no model is called, except by --probe).")
    ap.add_argument("--params", default=str(PARAMS_FILE), help="the params file (default: params.yaml)")
    ap.add_argument("--profile", help="'tiny' or a partial params.yaml merged on top (in memory; nothing is written)")
    ap.add_argument("--study", action="append", help="only this study (repeatable); default: every study")
    ap.add_argument("--store", help="the response store (default: PSY_STORE or data/cache/responses.sqlite)")
    ap.add_argument("--no-store", action="store_true", help="count calls only; do not look into the store")
    ap.add_argument("--offline", action="store_true", help="do not ask servers for their model listing")
    ap.add_argument("--probe", action="store_true",
                    help="time a model with no recorded calls by a short probe (at most 3 real calls, 30 s; not stored)")
    ap.add_argument("--prices", help="the price table for the cost lines (default: data/prices.yaml; USD per "
                                     "million tokens: interactive, batch and cached input)")
    a = ap.parse_args(argv)
    from analysis.core.pricing import costs, load_prices, render_costs

    try:
        prices = load_prices(a.prices)
        df = plan(a.params, a.profile, a.study, store=a.store, cached=not a.no_store, offline=a.offline,
                  probe=a.probe)
    except UserError as e:
        raise SystemExit(str(e)) from None
    print(render(df))
    if not a.no_store:
        print(render_costs(costs(df, prices)))


if __name__ == "__main__":
    main()
