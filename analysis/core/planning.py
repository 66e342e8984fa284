"""The call plan of one collection stage: how many model calls it will make, before anything is run.

:func:`plan_stage` takes a study and its collection stage's parameters (``p = STUDY.collect_stage(params)``)
and returns a table: per model, the study's own count of the calls one model gets, part by part
(``STUDY.plan(collect, seed)``), exact where the parameters determine it and a lower bound (``>=``) where
it depends on the answers (re-asks, the branches of multi-token options); then, per model:

* **in store**: how many of those calls the response store already answers. Found by a dry run of the
  study's own collection code against a stand-in target that never calls the model: a request found in
  the store gets its recorded answer (so the run follows the real path), any other request gets a
  placeholder that is never stored nor counted as in the store (and never re-asked: it cannot parse); its
  request is priced (:mod:`analysis.core.pricing`). Exact for every call that does not depend on an
  answer the store lacks. Server targets are asked for their model listing only (no model call) to
  learn their identity; ``offline=True`` skips that, and the count is then unknown for them.
* **expected time**: the calls left times the median recorded latency of this target's calls of the
  same kind (one log-probability pass, or a generation), divided by the target's concurrency. Known
  only for a target with recorded calls; it assumes the recorded calls ran at the same concurrency
  and with the same prompt-prefix caching. A target this store has never called is timed, in this
  order, by the published reference run's latencies of the same model (an estimate for this machine),
  or, with ``probe=True``, by a short timed probe: at most :data:`PROBE_CALLS` real calls (and
  :data:`PROBE_BUDGET_S` seconds) of the stage's first planned requests, sent to the target directly,
  never through the response store (nothing of the probe is stored). Both are labelled estimates; a
  target that cannot be probed (unreachable server) has no time, and the note says why (no
  throughput figure is known to turn prompt tokens into seconds).

No model is called unless ``probe=True`` (then at most :data:`PROBE_CALLS` per target without call
history): the embedded engine is not loaded otherwise, and nothing is ever written to the store. A collection
notebook shows it in a cell before collecting: ``print(render(plan_stage(STUDY, p)))``. The command
``python -m analysis.pipeline.plan`` prints it for every stage of params.yaml.
"""

from __future__ import annotations

import inspect
import json
import math
import sqlite3
import statistics
import threading
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from analysis.core.elicit import ClosedAnswer, Elicitor
from analysis.core.errors import UserError
from analysis.core.models.base import GenOptions, RawReply, TokenLogprob
from analysis.core.paths import response_store_path
from analysis.core.study import CollectStage, PlanItem, Study
from analysis.core.tokens import SharedPrefixes

COLUMNS = ["stage", "model", "part", "calls", "exact", "note"]
PLACEHOLDER = "(placeholder: not in the store)"  # the dry run's answer to a generation the store does not hold
PROBE_CALLS = 3  # the most real calls a timed probe makes per target
PROBE_BUDGET_S = 30.0  # no further probe call is started after this many seconds


# ---- tokens: an estimate for pricing, from the text of the planned requests ---------------------------
CHARS_PER_TOKEN = 4.0  # OpenAI's rule of thumb for English text ("one token is about 4 characters")
TOKENS_PER_MESSAGE = 4  # the chat format's own tokens around each message (role, separators), about


def estimate_tokens(chars: int, messages: int = 1) -> int:
    """Prompt tokens of a request of ``chars`` characters in ``messages`` chat messages, estimated without the
    model's tokenizer (a hosted model's is not public): characters / :data:`CHARS_PER_TOKEN` plus
    :data:`TOKENS_PER_MESSAGE` per message. For Qwen2.5's tokenizer and this project's prompts the estimate is
    checked in tests/core/test_pricing.py against the engine's counts over the published prompts."""
    return int(math.ceil(chars / CHARS_PER_TOKEN)) + TOKENS_PER_MESSAGE * int(messages)


def prompt_text(messages) -> str:
    """A request's messages as one text for prefix comparison, on the scale of :func:`estimate_tokens`: each
    message is its role in a header of :data:`TOKENS_PER_MESSAGE` x :data:`CHARS_PER_TOKEN` characters, then its
    content. So a shared prefix of ``n`` characters is about ``n / CHARS_PER_TOKEN`` prompt tokens, a different role
    ends it, and the whole text is :func:`estimate_tokens` of the request (to the rounding of its last token)."""
    width = int(TOKENS_PER_MESSAGE * CHARS_PER_TOKEN)
    return "".join(f"<{m.get('role', '')}>"[:width].ljust(width, "\x00") + str(m.get("content", "")) for m in messages)


def prefix_tokens(shared_chars: int) -> int:
    """Prompt tokens of a shared prefix of ``shared_chars`` characters of :func:`prompt_text` (whole tokens only)."""
    return int(shared_chars // CHARS_PER_TOKEN)


# ---- the dry run: the study's own code, the store's answers, no model ---------------------------------


class _Enough(BaseException):
    """Stops a dry run once it has the requests a probe needs (a BaseException: no study code catches it)."""


class _DryTarget:
    """Stands in for a real target: the same identity (every attribute is the real target's), but a
    call that reaches it is answered with a placeholder and counted by kind, never sent anywhere. With
    ``keep`` > 0 it keeps the first ``keep`` requests and then stops the run (:class:`_Enough`)."""

    def __init__(self, real, keep: int = 0):
        self._real = real
        self.max_concurrency = 1
        self.misses = {"logprob": 0, "generate": 0}
        self.keep = keep
        self.requests: list[tuple] = []
        # the calls answered with a placeholder, by whether they continue a conversation (a request holding an
        # earlier answer must wait for it: interactive only) or stand alone (a provider's batch API can take them)
        self.tokens = {k: {"calls": 0, "prompt_tokens": 0, "output_tokens": 0} for k in ("single", "conversation")}
        self._priced: set[str] = set()
        # per priced call, in order: the prompt tokens of the longest prefix it shares with an earlier priced call
        # (what a provider's prompt cache could serve of it; 0 left out), see analysis.core.pricing
        self.prefix_tokens: list[int] = []
        self._prefixes = SharedPrefixes()
        self.session = threading.local()  # ``on``: the call is a turn of a multi-turn session (interactive only)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def chat(self, messages, options: GenOptions, *, logprobs: bool = False, top_logprobs: int = 0) -> RawReply:
        if self.keep:
            if len(self.requests) >= self.keep:
                raise _Enough
            self.requests.append((messages, options, logprobs, top_logprobs))
        self.misses["logprob" if logprobs else "generate"] += 1
        request = json.dumps([list(messages), options.to_dict(), logprobs, top_logprobs], sort_keys=True, default=str,
                             ensure_ascii=False)
        # a run asks a repeated request once (the store answers the repeat); a request that holds a placeholder
        # stands for requests that would differ by the real answers, so each is counted
        if PLACEHOLDER not in request and "\u2400" not in request:
            if request in self._priced:
                return self._placeholder(logprobs)
            self._priced.add(request)
        chars = sum(len(str(m.get("content", ""))) for m in messages)
        # an earlier answer of the model in the request (an assistant turn before the last message; a last assistant
        # message is a prefill the study wrote, not an answer), or a turn of a study's multi-turn session
        conversation = (getattr(self.session, "on", False)
                        or any(m.get("role") == "assistant" for m in list(messages)[:-1]))
        t = self.tokens["conversation" if conversation else "single"]
        t["calls"] += 1
        t["prompt_tokens"] += estimate_tokens(chars, len(messages))
        t["output_tokens"] += int(options.max_tokens)
        shared = prefix_tokens(self._prefixes.add(prompt_text(messages)))
        if shared:
            self.prefix_tokens.append(shared)
        return self._placeholder(logprobs)

    @staticmethod
    def _placeholder(logprobs: bool) -> RawReply:
        if logprobs:
            # a token that is no option of any study: the placeholder answer has no option mass
            return RawReply("\u2400", [TokenLogprob("\u2400", 0.0, [("\u2400", 0.0)])], {})
        return RawReply(PLACEHOLDER, None, {})


class _PlaceholderAnswer(BaseException):
    """A placeholder reached a parser (a BaseException: no study code catches it)."""


class _DryElicitor(Elicitor):
    """The Elicitor of a dry run: a placeholder answer is taken as unparsed at once, not re-asked. It never parses,
    so re-asking it would count calls that a real answer may not need (the plan counts first asks, a lower bound);
    an answer from the store that does not parse is re-asked as in the run. A call tagged with one of
    ``interactive_tags`` (the study's multi-turn sessions) is priced as interactive, its first turn too."""

    interactive_tags: frozenset[str] = frozenset()

    @staticmethod
    def never_parses(text: str) -> bool:
        """Whether a reply is the placeholder, which a study's own re-ask loop should not re-ask either."""
        return text == PLACEHOLDER

    def generate(self, messages, options=GenOptions(), *, sample=0, top_logprobs=0, tag=None):
        session = self.target.session if tag in self.interactive_tags and isinstance(self.target, _DryTarget) else None
        if session is None:
            return super().generate(messages, options, sample=sample, top_logprobs=top_logprobs, tag=tag)
        session.on = True
        try:
            return super().generate(messages, options, sample=sample, top_logprobs=top_logprobs, tag=tag)
        finally:
            session.on = False

    def ask_closed(self, messages, parser, **kw) -> ClosedAnswer:
        def parse(text):
            if text == PLACEHOLDER:
                raise _PlaceholderAnswer
            return parser(text)

        try:
            return super().ask_closed(messages, parse, **kw)
        except _PlaceholderAnswer:
            return ClosedAnswer(None, "unparsed", 1, [PLACEHOLDER], [])


class _ReadOnlyStore:
    """Answers from a response store, writes nothing (the placeholders must never be stored)."""

    def __init__(self, store):
        self._store = store  # None: answers nothing (a store that does not exist is not created)

    def get(self, key):
        return None if self._store is None else self._store.get(key)

    def put(self, key, **kw):  # noqa: ARG002 - same signature as ResponseStore.put
        return None

    def check_writable(self) -> None:
        """The Elicitor asks before a model call; the dry run's calls never reach a model or the store."""
        return None

    def batch_waiting(self, key) -> None:  # noqa: ARG002 - same signature as ResponseStore.batch_waiting
        """A dry run's calls never reach a model: a request waiting in a provider's batch is counted as to call."""
        return None


@dataclass
class StoreView:
    """What the response store tells about one target: calls already answered, and recorded latencies."""

    hits: int | None = None  # calls of the plan the store answers (None: unknown)
    dry_misses: dict[str, int] = field(default_factory=dict)  # the dry run's unanswered calls, by kind
    latency: dict[str, tuple[float, int]] = field(default_factory=dict)  # kind -> (median s, n recorded)
    concurrency: int | None = None
    why_unknown: str = ""
    target: object | None = None  # the real target (built for its listing only), for a timed probe
    tokens: dict[str, dict[str, int]] | None = None  # the calls to make: _DryTarget.tokens (None: not known)
    prefix_tokens: list[int] | None = None  # _DryTarget.prefix_tokens (None: not known)


def _latencies(store_path: Path, spec: str, digest: str | None = None) -> dict[str, tuple[float, int]]:
    """Median latency of this target's recorded interactive calls (its spec as stored, and its digest when known), by
    kind (log-probability pass / generation)."""
    if not store_path.exists():
        return {}
    # an answer from a provider's batch has no call time (latency 0, the batch's turnaround in meta): left out
    q = ("SELECT top_logprobs > 0, latency_s FROM calls WHERE target_spec = ? AND "
         "(CASE WHEN json_valid(meta) THEN json_extract(meta, '$.mode') END) IS NOT 'batch'")
    args: tuple = (spec,)
    if digest is not None:
        q, args = q + " AND digest = ?", (spec, digest)
    try:
        con = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=10)
        rows = con.execute(q, args).fetchall()
        con.close()
    except sqlite3.Error:
        return {}
    out: dict[str, tuple[float, int]] = {}
    for kind, flag in (("logprob", 1), ("generate", 0)):
        lat = [r[1] for r in rows if int(r[0]) == flag and r[1] is not None]
        if lat:
            out[kind] = (statistics.median(lat), len(lat))
    return out


def _published_latencies(spec: str, published: Path | None = None) -> dict[str, tuple[float, int]]:
    """Median latency of this model's calls in the published reference run
    (``data/published/responses.parquet``, recorded on the machine the README's measurements name): the
    estimate of a target the store has never called."""
    from analysis.core.paths import DATA_DIR

    path = published or DATA_DIR / "published" / "responses.parquet"
    if not path.exists():
        return {}
    try:
        d = pl.read_parquet(path, columns=["target_spec", "top_logprobs", "latency_s"])
    except Exception:  # a damaged file is the responses loader's business, not the plan's
        return {}
    lat = d.filter((pl.col("target_spec") == spec) & pl.col("latency_s").is_not_null())["latency_s"].to_list()
    # one median over every kind of call: the mix of kinds of a plan is known only from a dry run, which a
    # store without this model's calls does not get (it would cost as long as the plan is big)
    return {"all": (statistics.median(lat), len(lat))} if lat else {}


def _target(spec: str, targets) -> object:
    """The target a collection stage would build for ``spec`` (same ``targets`` settings, so the same
    identity and cache keys), asked only for its model listing: a short timeout and no retries."""
    from analysis.core.models import make_target

    accepted = inspect.signature(make_target).parameters
    kw = {k: v for k, v in targets.model_dump().items() if k in accepted}
    kw.update(timeout_s=min(targets.timeout_s, 10.0))
    if "retries" in accepted:
        kw["retries"] = 0
    return make_target(spec, **kw)


def _dry_run(study: Study, p: CollectStage, spec: str, store_path: Path, offline: bool) -> StoreView:
    from analysis.core.models import label, parse_spec
    from analysis.core.store import ResponseStore

    kind = parse_spec(spec)[0]
    if kind != "embedded" and offline:
        return StoreView(latency=_latencies(store_path, label(spec)),
                         why_unknown="offline: the server was not asked which model it serves")
    try:
        # an embedded target answers its model listing without loading the engine; a server is asked for
        # its listing only
        real = _target(spec, p.targets)
    except UserError as e:
        return StoreView(latency=_latencies(store_path, label(spec)), why_unknown=str(e))
    view = StoreView(latency=_latencies(store_path, real.spec, real.digest), target=real)
    view.concurrency = max(1, int(real.max_concurrency))
    dry = _DryTarget(real)
    # a store that holds no call of this target has nothing to look up (and is not opened, so not created): the
    # dry run then only lists the requests, for their tokens
    source = _ReadOnlyStore(ResponseStore(store_path) if view.latency else None)
    el = _DryElicitor(dry, source, progress=False)
    el.targets = p.targets  # as params.elicitor gives it: a second elicitor (a study's judge) is built the same way
    el.interactive_tags = frozenset(study.interactive_tags)
    study.collect(el, p.collect, p.seed)
    view.hits = el.n_store_hits
    view.dry_misses = dict(dry.misses)
    view.tokens = dry.tokens
    view.prefix_tokens = dry.prefix_tokens
    return view


def _probe(study: Study, p: CollectStage, real) -> tuple[dict[str, tuple[float, int]], str]:
    """A timed probe of a target without call history: the stage's first planned requests (found by a dry
    run that stops after :data:`PROBE_CALLS` of them) sent to the target directly, not through the response
    store, so no answer of the probe is stored. At most :data:`PROBE_CALLS` calls, and none started after
    :data:`PROBE_BUDGET_S` seconds. Returns ({"all": (median s, n calls)}, "") or ({}, why not)."""
    import time

    dry = _DryTarget(real, keep=PROBE_CALLS)
    try:
        study.collect(_DryElicitor(dry, _ReadOnlyStore(None), progress=False), p.collect, p.seed)
    except _Enough:
        pass
    if not dry.requests:
        return {}, "the stage planned no request to probe with"
    lat: list[float] = []
    start = time.perf_counter()
    for messages, options, logprobs, top in dry.requests[:PROBE_CALLS]:
        if lat and time.perf_counter() - start > PROBE_BUDGET_S:
            break
        t0 = time.perf_counter()
        try:
            real.chat(messages, options, logprobs=logprobs, top_logprobs=top)
        except Exception as e:  # noqa: BLE001 - any failure of the probe leaves the time unknown, with its reason
            return {}, f"the timed probe failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        lat.append(time.perf_counter() - t0)
    return {"all": (statistics.median(lat), len(lat))}, ""


# ---- the plan -----------------------------------------------------------------------------------------


# kinds whose targets learn whether the model returns log-probabilities only from a call (they start with True)
LEARNED_AT_RUN_TIME = ("openai", "ollama")
# kinds whose API returns no log-probabilities at all (planned as generation even when no target is built)
NEVER_LOGPROBS = ("anthropic",)


def logprobs_of(spec: str, targets, target=None) -> bool:
    """Whether the plan counts ``spec`` as returning log-probabilities: its built ``target``'s own
    ``supports_logprobs`` when there is one (``make_target`` applies ``targets.logprobs`` to it, and a kind without
    log-probabilities says False itself, also unbuilt), else what ``targets.logprobs`` declares, else True (assumed)."""
    from analysis.core.models import declared_logprobs, parse_spec

    if (target is not None and not target.supports_logprobs) or parse_spec(spec)[0] in NEVER_LOGPROBS:
        return False
    declared = declared_logprobs(spec, getattr(targets, "logprobs", None))
    return True if declared is None else declared


def assumes_logprobs(spec: str, targets, target=None) -> bool:
    """Whether the plan of ``spec`` rests on the assumption that it returns log-probabilities: a kind that learns
    it only from a call, not declared in ``targets.logprobs``, and not known to lack them."""
    from analysis.core.models import declared_logprobs, parse_spec

    return (parse_spec(spec)[0] in LEARNED_AT_RUN_TIME and logprobs_of(spec, targets, target)
            and declared_logprobs(spec, getattr(targets, "logprobs", None)) is None)


def _items(study: Study, p: CollectStage, model: str | None = None, target=None,
           asked: set[str] | None = None) -> list[PlanItem] | None:
    """The study's own plan for one model. A study whose ``plan`` takes a ``model`` keyword plans each model
    on its own (Study 1: a model in ``base_models`` gets the baseline self-reports only); one whose ``plan`` takes
    ``logprobs`` plans a model without log-probabilities (:func:`logprobs_of`; ``target``: the model's built target,
    when there is one) as its collection asks it, by generation. ``asked`` gathers every spec the plan asked that
    about (the model, and a judge of its own: Study 3's ``coding.judge``)."""
    if study.plan is None:
        return None
    try:
        accepted = inspect.signature(study.plan).parameters
    except (TypeError, ValueError):
        accepted = {}
    kw: dict = {}
    if "model" in accepted:
        kw["model"] = model
    if "logprobs" in accepted:
        def logprobs(spec: str) -> bool:
            if asked is not None:
                asked.add(spec)
            return logprobs_of(spec, p.targets, target if spec == model else None)

        kw["logprobs"] = logprobs
    items = study.plan(p.collect, p.seed, **kw)
    for it in items:
        if not isinstance(it, PlanItem) or it.calls < 0:
            raise UserError(f"{study.id}: STUDY.plan must return PlanItem rows with calls >= 0, got {it!r}.")
    return items


def _seconds(view: StoreView, to_call: int) -> tuple[float | None, float | None, int]:
    """(expected seconds, per-call latency used, recorded calls it rests on) for ``to_call`` calls."""
    if not view.latency or to_call == 0:
        return (0.0 if to_call == 0 else None), None, 0
    misses = {k: v for k, v in view.dry_misses.items() if v}
    kinds = misses if misses and all(k in view.latency for k in misses) else None
    if kinds:  # weight each kind of call by its share among the calls the store does not answer
        n = sum(kinds.values())
        per_call = sum(view.latency[k][0] * c for k, c in kinds.items()) / n
        recorded = sum(view.latency[k][1] for k in kinds)
    else:  # kinds unknown or not recorded: the median over what is recorded
        per_call = statistics.median([m for m, _ in view.latency.values()])
        recorded = sum(c for _, c in view.latency.values())
    return to_call * per_call / (view.concurrency or 1), per_call, recorded


def plan_stage(study: Study, p: CollectStage, *, store: str | Path | None = None, cached: bool = True,
               offline: bool = False, probe: bool = False) -> pl.DataFrame:
    """One collection stage: a row per model and part (``calls``, ``exact``) and a row ``total`` per model
    with ``in_store``, ``to_call``, ``s_per_call`` (median recorded latency), ``expected_s``,
    ``latency_source`` (store / published / probe). ``probe``: time a target with no recorded latency by a
    few real calls (see the module's text)."""
    store_path = Path(store) if store is not None else response_store_path()
    rows: list[dict] = []
    stage = f"collect@{study.id}"
    for spec in p.models:
        # the dry run first: it builds the model's target, whose own supports_logprobs the study's plan follows
        view = _dry_run(study, p, spec, store_path, offline) if cached and study.plan is not None else None
        real = view.target if view is not None else None
        asked: set[str] = set()
        items = _items(study, p, spec, real, asked)
        if items is None:
            rows.append({"stage": stage, "model": spec, "part": "total", "calls": None, "exact": False,
                         "note": f"{study.id} defines no STUDY.plan: its calls cannot be counted in advance"})
            continue
        for it in items:
            rows.append({"stage": stage, "model": spec, "part": it.part, "calls": it.calls, "exact": it.exact,
                         "note": it.note})
        total = sum(it.calls for it in items)
        exact = all(it.exact for it in items)
        row = {"stage": stage, "model": spec, "part": "total", "calls": total, "exact": exact, "note": "",
               "logprobs": logprobs_of(spec, p.targets, real),
               "logprobs_assumed": assumes_logprobs(spec, p.targets, real),
               # a judge of its own (not in models), planned as returning log-probabilities that only a call confirms
               "judges_assumed": " ".join(sorted(s for s in asked - {spec} if assumes_logprobs(s, p.targets)))}
        if view is not None:
            source = "store"
            if not view.latency:  # never called from this store: the reference run's latencies, as an estimate
                from analysis.core.models import label

                view.latency = _published_latencies(label(spec))
                source = "published" if view.latency else None
            no_time = ""  # why a target without call history has no time
            if not view.latency and _to_call_of(total, view):
                if not probe:
                    no_time = "no recorded calls of this target (--probe times a few real calls)"
                elif view.target is None:
                    no_time = "no recorded calls of this target, and it could not be probed"
                else:
                    view.latency, why = _probe(study, p, view.target)
                    source = "probe" if view.latency else None
                    no_time = f"no recorded calls of this target, and {why}" if why else ""
            # a store that could not be checked (server unreachable, or offline): every call may still be
            # needed, so the count is an upper bound, and the time is estimated from what is recorded
            to_call = _to_call_of(total, view)
            secs, per_call, recorded = _seconds(view, to_call)
            row.update(in_store=view.hits, to_call=to_call, s_per_call=per_call, recorded_calls=recorded,
                       concurrency=view.concurrency, expected_s=secs, latency_source=source)
            for kind in ("single", "conversation"):
                t = (view.tokens or {}).get(kind)
                for what in ("calls", "prompt_tokens", "output_tokens"):
                    row[f"{kind}_{what}"] = None if t is None else t[what]
            row["prefix_tokens"] = view.prefix_tokens
            notes = []
            if view.why_unknown:
                notes.append(f"store not checked: {view.why_unknown}")
            elif to_call and per_call is None:
                notes.append(f"time unknown: {no_time or 'no recorded calls of this target'}")
            if not exact and to_call:
                notes.append("to call is a lower bound")
            row["note"] = "; ".join(notes)
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def _to_call_of(total: int, view: StoreView) -> int:
    """The calls of a plan the store does not answer (all of them when the store could not be checked)."""
    return total if view.hits is None else max(total - view.hits, 0)


# ---- printing -----------------------------------------------------------------------------------------


def _dur(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "unknown"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _n(v, exact: bool = True) -> str:
    if v is None:
        return "?"
    return f"{v:,}" if exact else f">= {v:,}"


def render(df: pl.DataFrame) -> str:
    """The plan as text: per stage and model, the parts, then the total, the store and the time."""
    lines: list[str] = []
    grand: dict[str, float] = {"calls": 0, "to_call": 0, "seconds": 0.0}
    all_exact = True
    unknown_time = False
    unchecked: list[str] = []  # why the store could not be checked, each reason printed once at the end
    assumed: list[str] = []  # models planned as returning log-probabilities that only a call would confirm
    for (stage, model), g in df.group_by(["stage", "model"], maintain_order=True):
        t = g.filter(pl.col("part") == "total").row(0, named=True)
        for m in ([model] if t.get("logprobs_assumed") else []) + (t.get("judges_assumed") or "").split():
            if m not in assumed:
                assumed.append(m)
        lines.append(f"{stage}  {model}" + ("  (no log-probabilities: planned as its answers are asked, by generation)"
                                            if t.get("logprobs") is False else ""))
        parts = g.filter(pl.col("part") != "total")
        width = max([len(p) for p in parts["part"].to_list()] + [5])
        for r in parts.iter_rows(named=True):
            lines.append(f"  {r['part']:<{width}}  {_n(r['calls'], r['exact']):>12}  {r['note'] or ''}".rstrip())
        if t["calls"] is None:
            lines.append(f"  {'total':<{width}}  {'?':>12}  {t['note']}")
            all_exact = False
            unknown_time = True
            continue
        grand["calls"] += t["calls"]
        all_exact &= bool(t["exact"])
        msg = f"  {'total':<{width}}  {_n(t['calls'], t['exact']):>12}"
        if "in_store" in t and t.get("in_store") is None and t.get("to_call") is not None:
            why = (t["note"] or "").split("store not checked: ", 1)[-1].split("; to call is")[0]
            if why not in unchecked:
                unchecked.append(why)
            # an exact count is an upper bound on what is left to call (the store may hold some); a count that is
            # itself a lower bound bounds nothing from above: at least that many calls are not known to be stored
            bound = "at most about" if t["exact"] else "about"
            per = (f"; {t['s_per_call']:.2f} s/call recorded for this model -> {bound} {_dur(t['expected_s'])}"
                   if t.get("s_per_call") is not None else "; time unknown (no recorded calls of this target)")
            left = (f"up to {t['to_call']:,} to call" if t["exact"] else
                    f"at least {t['to_call']:,} (store not checked) not known to be in the store")
            msg += f"; store not checked [{unchecked.index(why) + 1}], {left}{per}"
            grand["to_call"] += t["to_call"]
            grand["unchecked"] = 1
            if t["expected_s"] is not None:
                grand["seconds"] += t["expected_s"]
            else:
                unknown_time = True
            lines.append(msg)
            continue
        if "in_store" in t and t.get("in_store") is not None:
            src = t.get("latency_source")
            where = ("calls of this model in the reference run, data/published: an estimate for this machine"
                     if src == "published" else "recorded calls")
            at_once = f", {t['concurrency']} at a time" if (t.get("concurrency") or 1) > 1 else ""
            per = ("" if t.get("s_per_call") is None else
                   f"{t['s_per_call']:.2f} s/call (estimate from a {t['recorded_calls']}-call timed probe{at_once})"
                   if src == "probe" else
                   f"{t['s_per_call']:.2f} s/call (median of {t['recorded_calls']:,} {where}{at_once})")
            why = (t["note"] or "").split("time unknown: ", 1)[-1].split("; to call is")[0] \
                if "time unknown: " in (t["note"] or "") else "no recorded calls of this target"
            msg += (f"; {t['in_store']:,} in the store, {_n(t['to_call'], t['exact'])} to call"
                    + ("" if t["to_call"] == 0 else
                       f"; {per} -> about {_dur(t['expected_s'])}" if per else
                       ("" if t["to_call"] == 0 else f"; time unknown ({why})")))
            grand["to_call"] += t["to_call"]
            if t["expected_s"] is not None:
                grand["seconds"] += t["expected_s"]
                if src in ("published", "probe") and t["to_call"]:
                    grand["estimated"] = 1
            elif t["to_call"]:
                unknown_time = True
        elif "in_store" in t:
            unknown_time = True
        if t["note"] and "store not checked" in t["note"]:
            msg += f"; {t['note']}"
        lines.append(msg)
    if assumed:
        lines.append(_assumed_line(assumed))
    lines.append("")
    eq = "" if all_exact else ">= "
    summary = f"all stages: {eq}{int(grand['calls']):,} model calls"
    if "in_store" in df.columns and grand.get("unchecked"):
        summary += (f", {'up to' if all_exact else 'at least'} {int(grand['to_call']):,} not "
                    f"{'yet' if all_exact else 'known to be'} in the store (for some models the store could not be "
                    "checked)")
        if unknown_time:
            summary += "; expected time unknown (some targets have no recorded calls)"
        elif grand["to_call"]:
            summary += (f"; expected time {'at most about' if all_exact else 'about'} {_dur(grand['seconds'])}"
                        + ("" if all_exact else " for the counted calls"))
    elif "in_store" in df.columns:
        summary += f", {eq}{int(grand['to_call']):,} not yet in the store"
        if grand["to_call"] == 0 and grand["calls"]:
            # a report rendered from the store: not "about 0 s"; what collecting the answers cost is stated by the
            # collection itself (distinct calls and their recorded model time)
            summary += ("; nothing to call: the response store answers every one" if all_exact else
                        "; nothing known to call: the response store holds at least the counted calls")
        elif not unknown_time:
            summary += f"; expected time about {_dur(grand['seconds'])}"
            if grand.get("estimated"):
                summary += (" (an estimate: some models have no recorded calls in this store and are timed by the "
                            "reference run's or by a short timed probe)")
        elif grand["seconds"] > 0:
            summary += f"; expected time at least {_dur(grand['seconds'])} (some targets have no recorded calls)"
        else:
            summary += "; expected time unknown (no recorded calls of these targets)"
    lines.append(summary)
    for i, why in enumerate(unchecked, 1):
        lines.append(f"[{i}] store not checked: {why}")
    return "\n".join(lines)


def _assumed_line(models: list[str]) -> str:
    """One line: these models are planned as returning log-probabilities, and how to declare one that does not."""
    from analysis.core.models import parse_spec

    kind, name, _ = parse_spec(models[0])
    return (f"assumed: {', '.join(models)} return{'s' if len(models) == 1 else ''} log-probabilities (a server says "
            "so only when called); for a model that returns none, declare it in params.yaml as "
            f"`targets.logprobs: {{{kind}:{name}: false}}` to plan and price its answers by generation.")
