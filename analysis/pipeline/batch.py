"""Batch mode from the command line (issue 21): the single-turn calls of the models named in ``targets.batch`` go
through their provider's Batch API (OpenAI Batch for ``openai:`` models, Message Batches for ``anthropic:`` ones), and
the answers into the response store (see :mod:`analysis.core.batch`).

    python -m analysis.pipeline.batch submit                 # every study's requests: one batch per model
    python -m analysis.pipeline.batch submit --study bigfive --wait --every 300
    python -m analysis.pipeline.batch poll [--wait]          # collect the batches that ended
    python -m analysis.pipeline.batch status                 # the ledger (no batch request is sent)
    python -m analysis.pipeline.batch abandon BATCH_ID       # cancel a batch at the provider, release the rest

``submit`` first polls what is open (a stopped run resumes there), then submits what the store lacks and no batch
holds; ``--retry-failed`` submits failed and expired requests again. Run it again after a batch is collected: the
requests that follow from its answers (re-asks, the next branch of a multi-token option) are the next round. The
collection stage (``dvc repro``) then takes every batched answer from the store and calls the rest interactively.
``status`` also says when a model's open batches were submitted under another digest than it is served as now (an
``anthropic:`` alias moved to a new snapshot: its name is resolved for that, as a stage does), as ``poll`` does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.core.errors import UserError
from analysis.core.paths import PARAMS_FILE, response_store_path


def _status(store) -> str:
    rows = store.batches()
    if not rows:
        return f"The ledger of {store.path} holds no batch."
    lines = [f"batches in {store.path}:"]
    for b in rows:
        counts = ", ".join(f"{n:,} {s}" for s, n in sorted(b["requests"].items()))
        lines.append(f"  {b['batch_id'] or b['submission'] + ' (not yet created)'}  {b['target_spec']} "
                     f"({b['digest']}) at "
                     f"{b['base_url']}: {b['state']} ({b['provider_status'] or '-'}), submitted {b['submitted_at']}; "
                     f"requests: {counts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Single-turn calls through a provider's Batch API (targets.batch).")
    ap.add_argument("command", choices=["submit", "poll", "status", "abandon"])
    ap.add_argument("batch_id", nargs="?", help="abandon: the batch to cancel at the provider (what it completed is "
                    "collected, its other open requests are released as failed)")
    ap.add_argument("--params", default=str(PARAMS_FILE), help="the params file (default: params.yaml)")
    ap.add_argument("--profile", help="'tiny' or a partial params.yaml merged on top (in memory; nothing is written)")
    ap.add_argument("--study", action="append", help="only this study (repeatable); default: every study")
    ap.add_argument("--store", help="the response store (default: PSY_STORE or data/cache/responses.sqlite)")
    ap.add_argument("--retry-failed", action="store_true", help="submit failed and expired requests again")
    ap.add_argument("--wait", action="store_true", help="poll until every batch of these models has ended")
    ap.add_argument("--every", type=float, default=60.0, help="seconds between polls with --wait (default 60)")
    a = ap.parse_args(argv)
    try:
        print(run(a))
    except UserError as e:
        raise SystemExit(str(e)) from None


def run(a: argparse.Namespace) -> str:
    from analysis.core import batch
    from analysis.core.store import ResponseStore

    path = Path(a.store) if a.store else response_store_path()
    if a.command == "status":
        if not path.exists():  # nothing to list, and no empty store is made for it
            return f"There is no response store at {path}, so no batch was submitted."
        store = ResponseStore(path)
        return "\n".join([_status(store), *_moved(a, store)])
    if a.command == "abandon" and not a.batch_id:
        raise UserError("abandon needs the batch id (`python -m analysis.pipeline.batch status` lists them).")
    store = ResponseStore(path)
    from analysis.core.params import elicitor, project, read_yaml
    from analysis.pipeline.params import validate_all
    from analysis.pipeline.plan import _stage_from
    from analysis.pipeline.profile import deep_merge, load_profile
    from analysis.studies import all_studies, get

    raw = read_yaml(a.params)
    source = str(a.params)
    if a.profile is not None:
        raw = deep_merge(raw, load_profile(a.profile))
        source = f"{a.params} with the profile applied"
    validate_all(raw, source)
    proj = project(raw, source)
    models = batch.batch_models(proj.models, proj.targets.batch)
    if not models:
        raise UserError(f"{source}: targets.batch names no model of models ({', '.join(proj.models)}); list there the "
                        "openai: or anthropic: models whose single-turn calls should go through the provider's Batch "
                        "API.")
    if a.command == "abandon":
        return _abandon(a.batch_id, store, [elicitor(spec, proj.targets, store) for spec in models])
    studies = [get(s) for s in a.study] if a.study else list(all_studies().values())
    out = []
    for spec in models:
        el = elicitor(spec, proj.targets, store)
        requests: list[batch.BatchRequest] = []
        interactive = 0
        if a.command == "submit":
            for st in studies:
                reqs, n = batch.stage_requests(st, _stage_from(st, raw, source), el)
                requests += reqs
                interactive += n
        rep = batch.run(batch.api_for(el.target), store, requests, retry_failed=a.retry_failed, wait=a.wait,
                        every_s=a.every)
        line = f"{el.target.spec}: " + rep.sentence()
        if interactive:
            line += (f" {interactive:,} requests continue a conversation or belong to a multi-turn session: "
                     "interactive only, made by the stage.")
        out.append(line)
    return "\n".join(out)


def _moved(a: argparse.Namespace, store) -> list[str]:
    """For each model of targets.batch with open batches of its spec: one sentence when they were submitted under
    another digest than the one it is served as now (its name resolved once: ``GET /v1/models/NAME``); a model that
    cannot be reached now says nothing (poll says it once it can)."""
    from analysis.core import batch
    from analysis.core.params import elicitor, project, read_yaml
    from analysis.pipeline.profile import deep_merge, load_profile

    specs = {b["target_spec"] for b in store.batches(open_only=True)}
    out = []
    try:
        raw = read_yaml(a.params) if specs else {}
        proj = project(deep_merge(raw, load_profile(a.profile)) if a.profile else raw, str(a.params))
        for spec in batch.batch_models(proj.models, proj.targets.batch) if specs else []:
            el = elicitor(spec, proj.targets, store)
            if el.target.spec in specs:
                out.append(batch.moved(batch.api_for(el.target), store) or "")
    except UserError:  # no params or no server now: the ledger is listed all the same
        pass
    return [x for x in out if x]


def _abandon(batch_id: str, store, elicitors: list) -> str:
    """Abandon one open batch through the Batch API of the model it was submitted for."""
    from analysis.core import batch

    b = next((x for x in store.batches(open_only=True) if batch_id in (x["batch_id"], x["submission"])), None)
    if b is None:
        raise UserError(f"No open batch {batch_id!r} in the ledger of {store.path}; `python -m "
                        "analysis.pipeline.batch status` lists the batches.")
    el = next((e for e in elicitors if batch.belongs_to(batch.api_for(e.target), b)), None)
    if el is None:
        raise UserError(f"Batch {batch_id} was submitted for {b['target_spec']} at {b['base_url']}, which is no "
                        "model of targets.batch now; put it back in models and targets.batch to abandon the batch.")
    rep = batch.abandon(batch.api_for(el.target), store, batch_id)
    return (f"Abandoned {batch_id}: {rep.collected:,} answers collected, {rep.failed + rep.expired:,} requests "
            "released as failed; `submit --retry-failed` submits them again.")


if __name__ == "__main__":
    main()
