"""Collection for Study 1 (the personality illusion): one model's self-reports and four behavioural
tasks per condition x temperature x run, as a long item table and a tidy table.

Two modes for closed answers (``collect.mode``):

* ``option_probs`` (default): one forward pass per closed question gives the probability of every
  allowed answer; the answer distribution at each temperature follows exactly (``at_temperature``
  tempers every token-level step of the option tree, T = 0 is greedy decoding), so extra temperatures
  cost no calls and every score is an exact expectation. Repeated runs are then identical for closed
  answers; only the free-text trivia answers are sampled per run (at T > 0).
* ``generate``: the faithful replication; every closed answer is generated at the temperature with the
  run as sample index, parsed, re-asked at most ``max_reasks`` times, never imputed.

Free-text answers (the trivia answer with its confidence) are always generated. A target without
log-probabilities falls back to ``generate`` (stated in the ``mode`` column).

Persona conditions get the self-report scale(s) and the behaviour paired with their trait
(``personas.tasks: paired``; ``all`` gives them every task), baselines get everything. Models listed in
``base_models`` (pretrained base models) answer the baseline self-reports only, as in the paper.

Every independent unit of work (one condition x one stimulus: an item, a CCT scenario, a dilemma with
its challenge branches, a trivia question with its confidence judgements, an IAT trial) is one job of
the Elicitor's bounded pool (``el.map``): up to ``target.max_concurrency`` jobs run at once, results come
back in job order, so the tables equal a sequential run's. Calls inside a job stay in order (a
challenge depends on the first answer; repeated samples of one question are asked one after another, so
a request repeated inside a job is answered by the store, never sent twice at once).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from analysis.core.elicit import Elicitor, OptionProbs
from analysis.core.errors import EmptyReply
from analysis.core.instruments import Instrument, Item, load_instrument
from analysis.core.models import GenOptions
from analysis.core.parsers import parse_likert
from analysis.core.study import LogprobsOf, PlanItem, plans_logprobs
from analysis.studies.illusion.conditions import Condition, build_conditions, load_personas
from analysis.studies.illusion.params import CollectParams
from analysis.studies.illusion.tasks import cct as cct
from analysis.studies.illusion.tasks import dilemmas as dil
from analysis.studies.illusion.tasks import honesty as hon
from analysis.studies.illusion.tasks import iat as iat

KEYS = ["model", "condition", "temperature", "run"]
# the 63-item SRQ total (and its published cut-offs) is reported only when every item of the scale was
# administered and answered: a total from fewer items would be a prorated (imputed) score
FULL_SCALE_RULE = ("a scale total and its cut-off band are reported only when every item of the scale was "
                   "administered and validly answered; otherwise the mean per answered item (1-5) with its count")


# ---- self-report items --------------------------------------------------------------------------


def top_scales(inst: Instrument) -> list[str]:
    return [s.id for s in inst.scales if s.parent is None]


def column_name(scale_id: str) -> str:
    return "sr_" + "".join(ch for ch in scale_id if ch.isalnum())


def sample_items(inst: Instrument, per_scale: int | None, seed: int, scales: list[str] | None = None) -> list[Item]:
    """``per_scale`` items of each top-level scale, round robin over its sub-scales (facets) in a seeded
    order, so a small sample still spreads over facets; all items when ``per_scale`` is None."""
    scales = scales or top_scales(inst)
    out: list[Item] = []
    for s in scales:
        items = inst.items_of(s)
        if per_scale is None or per_scale >= len(items):
            out.extend(items)
            continue
        rng = random.Random(f"{seed}:{inst.id}:{s}")
        by_leaf: dict[str, list[Item]] = defaultdict(list)
        for it in items:
            by_leaf[it.scale].append(it)
        leaves = sorted(by_leaf)
        rng.shuffle(leaves)
        for leaf in leaves:
            rng.shuffle(by_leaf[leaf])
        picked: list[Item] = []
        while len(picked) < per_scale:
            for leaf in leaves:
                if by_leaf[leaf] and len(picked) < per_scale:
                    picked.append(by_leaf[leaf].pop(0))
        out.extend(sorted(picked, key=lambda i: inst.items.index(i)))
    return out


def item_prompt(inst: Instrument, item: Item) -> str:
    rs = inst.response_scale
    instructions = (inst.instructions_model or inst.instructions).strip()
    # the item comes last, so everything before it is a prefix shared by all items (KV-cache reuse)
    return (f"{instructions}\n\nAnswer with a single number from {rs.min} to {rs.max} ({rs.describe()}).\n\n"
            f"Statement: {inst.stem(item)}")


# ---- the stimuli of a run -----------------------------------------------------------------------


@dataclass
class Stimuli:
    instruments: dict[str, Instrument]  # "big5" / "srq" -> instrument
    items: dict[str, list[Item]]
    cct: list[cct.Scenario]
    dilemmas: list[dil.Dilemma]
    honesty: list[hon.Question]
    iat: list[iat.Trial]

    def administered(self) -> dict[str, dict[str, int]]:
        """instrument id -> top scale -> number of its items in the sample."""
        out = {}
        for key, inst in self.instruments.items():
            ids = {i.id for i in self.items.get(key, [])}
            out[inst.id] = {s: sum(1 for i in inst.items_of(s) if i.id in ids) for s in top_scales(inst)}
        return out


def stimuli(p: CollectParams, seed: int) -> Stimuli:
    """The stimuli of this run (subsampled as the params say; seeded, identical for every model)."""
    inst = {k: load_instrument(ref) for k, ref in (("big5", p.instruments.big5), ("srq", p.instruments.srq)) if ref}
    items = {}
    if "big5" in inst:
        items["big5"] = sample_items(inst["big5"], p.self_report.big5_items_per_scale, seed)
    if "srq" in inst:
        items["srq"] = sample_items(inst["srq"], p.self_report.srq_items, seed)
    doms = iat.load_domains()
    trials = [t for d in p.iat.domains
              for t in iat.trials(iat.select_words(doms[d], p.iat.words_per_side, seed), p.iat.n_orders, seed)]
    return Stimuli(inst, items, cct.subsample(cct.load_scenarios(), p.cct.n_scenarios),
                   dil.subsample(dil.load_dilemmas(), p.dilemmas.n, seed),
                   hon.subsample(hon.load_trivia(), p.honesty.n, seed), trials)


def tasks_for(cond: Condition, p: CollectParams, personas: dict, role: str = "instruct") -> dict:
    """Which tasks a condition gets; ``self_report`` maps an instrument key to the scales whose items
    are given (None = every sampled item). A base model gets the self-reports only."""
    pp = p.personas
    if role == "base":
        beh: set[str] = set()
    elif cond.condition_type == "baseline" or pp.tasks == "all":
        beh = {"cct", "dilemmas", "honesty", "iat"}
    else:
        behaviour = personas["traits"][cond.persona_trait]["behaviour"]
        beh = {"bh_cct_cards": {"cct"}, "bh_syc_flip_rate": {"dilemmas"}}.get(behaviour, set())
    if cond.condition_type == "baseline" or pp.self_reports == "all":
        sr: dict = {"big5": None, "srq": None}
    else:
        scale = personas["traits"][cond.persona_trait]["self_report"]
        sr = {"srq": None} if scale == "SRQ" else {"big5": [scale]}
    return {"self_report": sr, **{t: t in beh for t in ("cct", "dilemmas", "honesty", "iat")}}


def conditions_for(p: CollectParams, role: str) -> list[Condition]:
    conds = build_conditions(p, load_personas())
    return [c for c in conds if c.condition_type == "baseline"] if role == "base" else conds


# ---- one job = one condition x one stimulus ------------------------------------------------------


@dataclass
class Context:
    el: Elicitor
    model: str
    role: str
    mode: str
    p: CollectParams
    seed: int
    temps: list[float]
    runs: int

    def sample_for(self, temperature: float, run: int) -> int:
        """Greedy decoding is deterministic: all runs at T = 0 share one call (and one cache entry)."""
        return run if temperature > 0 else 0

    def gen_options(self, temperature: float, max_tokens: int) -> GenOptions:
        return GenOptions(temperature=float(temperature), seed=self.seed, max_tokens=max_tokens)

    def grid(self):
        for t in self.temps:
            for r in range(self.runs):
                yield t, r

    def samples(self):
        """The distinct (temperature, sample) requests of the grid, each with the runs it serves."""
        out: dict[tuple[float, int], list[int]] = {}
        for t, r in self.grid():
            out.setdefault((t, self.sample_for(t, r)), []).append(r)
        return out


@dataclass
class Job:
    task: str  # self_report | cct | dilemma | honesty | iat
    cond: Condition
    item_id: str
    run: Callable[[Context, Job], list[dict]] = field(repr=False)
    payload: object = field(default=None, repr=False)


def messages(system: str | None, user: str) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def option_probs(ctx: Context, msgs: list[dict], options: list[str], tag: str) -> OptionProbs | None:
    """``Elicitor.option_probs``, or None when the target returns an empty reply without a token
    distribution (EmptyReply); the caller then marks the item (``empty_reply``, or generates it and
    marks it ``fallback_generate``)."""
    try:
        return ctx.el.option_probs(msgs, options, tag=tag)
    except EmptyReply:
        return None


def dist_at(op: OptionProbs | None, t: float) -> tuple[dict[str, float] | None, str]:
    """The option distribution at temperature ``t`` and the row status: the answer's own status when it
    is not valid; ``greedy_not_an_option`` when greedy decoding (T = 0) would give no allowed option."""
    if op is None:
        return None, "empty_reply"
    if not op.valid:
        return None, op.status
    d = op.at_temperature(t)
    if any(v != v for v in d.values()):
        return None, "greedy_not_an_option"
    return d, "ok"


def _probs_json(op: OptionProbs | None) -> str | None:
    if op is None:
        return None
    return json.dumps({k: (None if v != v else round(v, 6)) for k, v in op.probs.items()})


def _row(ctx: Context, job: Job, t: float, r: int, **kw) -> dict:
    return {"model": ctx.model, "model_role": ctx.role, "condition": job.cond.condition, "temperature": float(t),
            "run": r, "task": job.task, "item_id": job.item_id, "mode": ctx.mode, **kw}


def run_self_report(ctx: Context, job: Job) -> list[dict]:
    inst, it = job.payload
    rs = inst.response_scale
    msgs = messages(job.cond.system_sent, item_prompt(inst, it))
    base = {"instrument": inst.id, "scale": it.scale}
    rows = []
    if ctx.mode == "option_probs":
        op = option_probs(ctx, msgs, [str(v) for v in rs.values], "illusion:self_report")
        for t, r in ctx.grid():
            d, status = dist_at(op, t)
            val = sum(float(o) * q for o, q in d.items()) if d else None
            rows.append(_row(ctx, job, t, r, **base, value=val, valid=d is not None, status=status,
                             mass=None if op is None else op.mass, probs=_probs_json(op), attempts=1, raw=None,
                             call_ids=",".join(op.call_ids) if op else ""))
        return rows
    for (t, smp), runs in ctx.samples().items():
        a = ctx.el.ask_closed(msgs, lambda x: parse_likert(x, rs.min, rs.max, rs.anchors),
                              reminder=f"Please answer with a single number from {rs.min} to {rs.max} only.",
                              options=ctx.gen_options(t, ctx.p.closed_max_tokens), max_reasks=ctx.p.max_reasks,
                              sample=smp, tag="illusion:self_report")
        for r in runs:
            rows.append(_row(ctx, job, t, r, **base, value=None if a.value is None else float(a.value),
                             valid=a.value is not None, status=a.status, mass=None, probs=None, attempts=a.attempts,
                             raw=a.raw, call_ids=",".join(a.call_ids)))
    return rows


def run_cct(ctx: Context, job: Job) -> list[dict]:
    s: cct.Scenario = job.payload
    opt = cct.ev_optimal(s)
    msgs = messages(job.cond.system_sent, cct.prompt(s))
    rows = []
    op = option_probs(ctx, msgs, cct.OPTIONS, "illusion:cct") if ctx.mode == "option_probs" else None
    if op is not None:
        for t, r in ctx.grid():
            d, status = dist_at(op, t)
            rows.append(_row(ctx, job, t, r, value=cct.expected_cards(d) if d else None,
                             distance=cct.expected_distance(d, opt) if d else None, optimum=opt, valid=d is not None,
                             status=status, mass=op.mass, probs=_probs_json(op), attempts=1, raw=None,
                             call_ids=",".join(op.call_ids)))
        return rows
    for (t, smp), runs in ctx.samples().items():
        a = ctx.el.ask_closed(msgs, cct.parse_cards, reminder=cct.REMINDER,
                              options=ctx.gen_options(t, ctx.p.closed_max_tokens), max_reasks=ctx.p.max_reasks,
                              sample=smp, tag="illusion:cct")
        v = a.value
        status = a.status if ctx.mode == "generate" or v is None else "fallback_generate"
        for r in runs:
            rows.append(_row(ctx, job, t, r, value=None if v is None else float(v),
                             distance=None if v is None else float(abs(v - opt)), optimum=opt, valid=v is not None,
                             status=status, mass=None, probs=None, attempts=a.attempts, raw=a.raw,
                             call_ids=",".join(a.call_ids)))
    return rows


def run_dilemma(ctx: Context, job: Job) -> list[dict]:
    d: dil.Dilemma = job.payload
    branches = ctx.p.dilemma_branches()
    first = messages(job.cond.system_sent, dil.first_prompt(d))
    category = f"{d.personal}/{d.intent}"
    rows = []
    if ctx.mode == "option_probs":
        p1 = option_probs(ctx, first, dil.YES_NO, "illusion:dilemma")
        q: dict[bool, OptionProbs | None] = {}
        if p1 is not None and p1.valid:
            if branches == "both":
                need = [True, False]
            else:  # the branch greedy decoding takes (none when greedy decoding gives no Yes/No)
                g = p1.at_temperature(0.0)["Yes"]
                need = [] if g != g else [g == 1.0]
            for a in need:
                q[a] = option_probs(ctx, messages(job.cond.system_sent, dil.challenge_prompt(d, a)), dil.YES_NO,
                                    "illusion:dilemma")
        ids = [*(p1.call_ids if p1 else [])] + [i for x in q.values() if x for i in x.call_ids]
        for t, r in ctx.grid():
            flip, (d1, status) = None, dist_at(p1, t)
            if d1 is not None:
                qd = {a: dist_at(x, t)[0] for a, x in q.items()}
                qy = qd[True]["Yes"] if qd.get(True) else None
                qn = qd[False]["Yes"] if qd.get(False) else None
                f = dil.flip_probability(d1["Yes"], qy, qn)
                flip, status = (None, "branch_not_scored") if f != f else (f, "ok")
            masses = [x.mass for x in [p1, *q.values()] if x is not None]
            rows.append(_row(ctx, job, t, r, value=flip, valid=flip is not None, status=status,
                             mass=min(masses) if masses else None,
                             probs=json.dumps({"first": p1.probs if p1 else None,
                                               **{f"after_{'yes' if k else 'no'}": (v.probs if v else None)
                                                  for k, v in q.items()}}),
                             first_answer=p1.argmax() if p1 else None, attempts=1, raw=None, category=category,
                             call_ids=",".join(ids)))
        return rows
    for (t, smp), runs in ctx.samples().items():
        opts = ctx.gen_options(t, ctx.p.closed_max_tokens)
        a1 = ctx.el.ask_closed(first, dil.parse_answer, reminder=dil.REMINDER, options=opts,
                               max_reasks=ctx.p.max_reasks, sample=smp, tag="illusion:dilemma")
        a2 = None
        if a1.value is not None:
            a2 = ctx.el.ask_closed(messages(job.cond.system_sent, dil.challenge_prompt(d, a1.value)), dil.parse_answer,
                                   reminder=dil.REMINDER, options=opts, max_reasks=ctx.p.max_reasks, sample=smp,
                                   tag="illusion:dilemma")
        flip = dil.is_flip(a1.value, a2.value if a2 else None)
        for r in runs:
            rows.append(_row(ctx, job, t, r, value=None if flip is None else float(flip), valid=flip is not None,
                             status=a1.status if a1.value is None else a2.status, mass=None, probs=None,
                             first_answer=None if a1.value is None else ("Yes" if a1.value else "No"),
                             attempts=a1.attempts + (a2.attempts if a2 else 0),
                             raw=a1.raw + " || " + (a2.raw if a2 else ""), category=category,
                             call_ids=",".join(a1.call_ids + (a2.call_ids if a2 else []))))
    return rows


def run_honesty(ctx: Context, job: Job) -> list[dict]:
    """Every sampled answer first, then the confidence judgements: consecutive calls then share their prompt
    prefix (the answer prompt, then the judge prompt up to the answer), which the engine's prefix cache reuses."""
    qn: hon.Question = job.payload
    msgs = messages(job.cond.system_sent, hon.answer_prompt(qn))
    answers = {}
    for (t, smp) in ctx.samples():
        answers[(t, smp)] = ctx.el.ask_closed(msgs, hon.parse_answer_confidence, reminder=hon.ANSWER_REMINDER,
                                              options=ctx.gen_options(t, ctx.p.honesty.max_tokens),
                                              max_reasks=ctx.p.max_reasks, sample=smp, tag="illusion:honesty")
    rows = []
    for (t, smp), runs in ctx.samples().items():
        a = answers[(t, smp)]
        base = {"fabricated": qn.fabricated, "difficulty": qn.difficulty, "attempts": a.attempts, "raw": a.raw,
                "status": a.status}
        if a.value is None:
            for r in runs:
                rows.append(_row(ctx, job, t, r, **base, value=None, conf1=None, conf2=None, valid=False, answer=None,
                                 mass=None, probs=None, call_ids=",".join(a.call_ids)))
            continue
        answer, c1 = a.value
        jm = messages(job.cond.system_sent, hon.judge_prompt(qn, answer))
        op = option_probs(ctx, jm, hon.CONF_OPTIONS, "illusion:honesty") if ctx.mode == "option_probs" else None
        ids = list(a.call_ids)
        if op is not None:
            d, _ = dist_at(op, t)
            c2 = sum(float(o) * q for o, q in d.items()) if d else None
            mass, probs = op.mass, _probs_json(op)
            ids += op.call_ids
        else:
            b = ctx.el.ask_closed(jm, hon.parse_confidence, reminder=hon.CONF_REMINDER,
                                  options=ctx.gen_options(t, ctx.p.closed_max_tokens), max_reasks=ctx.p.max_reasks,
                                  sample=smp, tag="illusion:honesty")
            c2 = None if b.value is None else float(b.value)
            mass, probs = None, None
            ids += b.call_ids
            if ctx.mode == "option_probs":
                base["status"] = "fallback_generate"
        for r in runs:
            rows.append(_row(ctx, job, t, r, **base, value=float(hon.is_correct(qn, answer)), conf1=float(c1),
                             conf2=c2, valid=True, answer=answer, mass=mass, probs=probs, call_ids=",".join(ids)))
    return rows


def run_iat(ctx: Context, job: Job) -> list[dict]:
    tr: iat.Trial = job.payload
    dom = tr.domain
    admin = ctx.p.iat_administration(ctx.mode)
    base = {"domain": dom.name, "n_words": len(tr.words)}
    rows = []
    if admin == "per_word":
        ops = {w: option_probs(ctx, messages(job.cond.system_sent, iat.word_prompt(tr, w)), list(tr.groups),
                               "illusion:iat") for w in tr.words}
        masses = [op.mass for op in ops.values() if op is not None]
        ids = [i for op in ops.values() if op for i in op.call_ids]
        for t, r in ctx.grid():
            p_a = {}
            for w, op in ops.items():
                d, _ = dist_at(op, t)
                if d is not None:
                    p_a[w] = d[dom.group_a]
            b = iat.bias_from_probs(dom, p_a)
            rows.append(_row(ctx, job, t, r, **base, value=None if b != b else b, valid=b == b,
                             status="ok" if b == b else "no_valid_word_on_a_side",
                             mass=min(masses) if len(masses) == len(ops) else 0.0, n_paired=len(p_a),
                             probs=json.dumps({w: (op.probs if op else None) for w, op in ops.items()}),
                             attempts=1, raw=None, call_ids=",".join(ids)))
        return rows

    def parser(text: str):
        pairs = iat.parse_pairings(text, tr.words, tr.groups)
        ok_a = any(pairs[w] for w in dom.words_a)
        ok_b = any(pairs[w] for w in dom.words_b)
        return pairs if ok_a and ok_b else None

    max_tok = 12 * len(tr.words) + 20
    for (t, smp), runs in ctx.samples().items():
        a = ctx.el.ask_closed(messages(job.cond.system_sent, iat.list_prompt(tr)), parser,
                              reminder=iat.list_reminder(tr), options=ctx.gen_options(t, max_tok),
                              max_reasks=ctx.p.max_reasks, sample=smp, tag="illusion:iat")
        pairs = a.value or {}
        b = iat.bias_from_pairings(dom, pairs) if pairs else math.nan
        for r in runs:
            rows.append(_row(ctx, job, t, r, **base, value=None if b != b else b, valid=b == b, status=a.status,
                             mass=None, n_paired=sum(v is not None for v in pairs.values()),
                             bai_bias=iat.bai_bias(dom, pairs) if pairs else None, probs=None, attempts=a.attempts,
                             raw=a.raw, call_ids=",".join(a.call_ids)))
    return rows


def jobs_for(p: CollectParams, st: Stimuli, conditions: list[Condition], role: str) -> list[Job]:
    """Every job of one model, condition by condition."""
    personas = load_personas()
    out: list[Job] = []
    for cond in conditions:
        todo = tasks_for(cond, p, personas, role)
        for key, scales in todo["self_report"].items():
            if key not in st.instruments:
                continue
            inst = st.instruments[key]
            keep = None if scales is None else {i.id for sc in scales for i in inst.items_of(sc)}
            for it in st.items[key]:
                if keep is None or it.id in keep:
                    out.append(Job("self_report", cond, it.id, run_self_report, (inst, it)))
        if todo["cct"]:
            out += [Job("cct", cond, s.scenario_id, run_cct, s) for s in st.cct]
        if todo["dilemmas"]:
            out += [Job("dilemma", cond, d.id, run_dilemma, d) for d in st.dilemmas]
        if todo["honesty"]:
            out += [Job("honesty", cond, q.item_id, run_honesty, q) for q in st.honesty]
        if todo["iat"]:
            out += [Job("iat", cond, f"{t.domain.name}_o{t.order}", run_iat, t) for t in st.iat]
    return out


# ---- the entry points: collect one model, plan its calls -----------------------------------------


def collect(el: Elicitor, p: CollectParams, seed: int) -> dict[str, pl.DataFrame]:
    """One model's collection: ``items`` (one row per condition x stimulus x temperature x run), ``table``
    (the tidy schema of :mod:`.schema`), ``validity`` (per condition x task), ``conditions`` (their
    labels and system prompts) and ``jobs`` (one row per job: calls issued, seconds)."""
    if p.protocol == "han2025":  # the paper's materials and protocol, read at run time
        from analysis.studies.illusion import han2025_protocol

        return han2025_protocol.collect(el, p, seed)
    spec = el.target.spec
    role = "base" if spec in p.base_models else "instruct"
    mode = p.mode
    if mode == "option_probs" and not el.supports_logprobs:
        print(f"Note: {spec} gives no log-probabilities; closed answers are generated and parsed instead.")
        mode = "generate"
    st = stimuli(p, seed)
    for key in ("big5", "srq"):
        if key not in st.instruments:
            print(f"Note: no {key} instrument configured (illusion.collect.instruments.{key}); its self-reports "
                  "are skipped.")
    conditions = conditions_for(p, role)
    ctx = Context(el, spec, role, mode, p, seed, list(p.temperatures), p.runs)
    jobs = jobs_for(p, st, conditions, role)

    def run(job: Job):
        t0 = time.perf_counter()
        rows = job.run(ctx, job)
        ids = {i for r in rows for i in (r.get("call_ids") or "").split(",") if i}
        return rows, {"model": spec, "condition": job.cond.condition, "task": job.task, "item_id": job.item_id,
                      "n_rows": len(rows), "n_calls": len(ids), "seconds": time.perf_counter() - t0}

    done = el.map(run, jobs, desc=f"illusion {spec}")
    items = pl.DataFrame([r for rows, _ in done for r in rows], infer_schema_length=None)
    job_table = pl.DataFrame([j for _, j in done])
    table = assemble(items, conditions, st, p)
    conds = pl.DataFrame([{"model": spec, "model_role": role, **c.labels()} for c in conditions],
                         infer_schema_length=None)
    return {"items": items, "table": table, "validity": validity_summary(items), "conditions": conds,
            "_jobs": job_table}


def plan(p: CollectParams, seed: int, model: str | None = None, *, logprobs: LogprobsOf | None = None) -> list[PlanItem]:
    """Model calls of one model (an instruction-tuned one when ``model`` is None), part by part, with an
    empty store and no model call.

    Exact where the parameters determine the count: a self-report item is one forward pass (its options
    are single digits) in option_probs mode. Lower bounds (``exact=False``) where answers decide: CCT card
    counts 10-32 and confidences 10 span two tokens, so a first digit the model puts probability on costs
    one more pass; a dilemma's challenge branches follow only a valid first answer; a trivia answer is
    judged only when it parsed; generation re-asks an unparsed reply. Models in ``base_models`` get only
    the baseline self-report part. A target without log-probabilities (``logprobs(model)`` False) is planned
    in generate mode, as :func:`collect` asks it."""
    if p.protocol == "han2025":
        from analysis.studies.illusion import han2025_protocol

        return han2025_protocol.plan(p, seed, model, logprobs=logprobs)
    st = stimuli(p, seed)
    personas = load_personas()
    role = "base" if model is not None and model in p.base_models else "instruct"
    conditions = conditions_for(p, role)  # as collect() builds them: a base model gets the baselines only
    temps = list(p.temperatures)
    n_samples = sum(p.runs if t > 0 else 1 for t in temps)  # distinct (temperature, sample) requests
    mode = p.mode if p.mode != "option_probs" or plans_logprobs(model, logprobs) else "generate"
    gen = mode == "generate"
    exact_gen = p.max_reasks == 0
    counts: dict[str, int] = defaultdict(int)
    n_units: dict[str, int] = defaultdict(int)
    for cond in conditions:
        todo = tasks_for(cond, p, personas, role)
        for key, scales in todo["self_report"].items():
            if key in st.instruments:
                keep = None if scales is None else {i.id for sc in scales for i in st.instruments[key].items_of(sc)}
                n = sum(1 for it in st.items[key] if keep is None or it.id in keep)
                counts[f"self_report_{cond.condition_type}"] += n * (n_samples if gen else 1)
                n_units[f"self_report_{cond.condition_type}"] += n
        if todo["cct"]:
            counts["cct"] += len(st.cct) * (n_samples if gen else 1)
            n_units["cct"] += len(st.cct)
        if todo["dilemmas"]:
            counts["dilemmas"] += len(st.dilemmas) * (n_samples if gen else 1)
            n_units["dilemmas"] += len(st.dilemmas)
        if todo["honesty"]:
            counts["honesty"] += len(st.honesty) * n_samples
            n_units["honesty"] += len(st.honesty)
        if todo["iat"]:
            words = sum(len(t.words) for t in st.iat)
            per_word = p.iat_administration(mode) == "per_word"
            counts["iat"] += words if per_word else len(st.iat) * n_samples
            n_units["iat"] += len(st.iat)
    out = []
    for kind in ("baseline", "persona"):
        k = f"self_report_{kind}"
        if counts[k]:
            out.append(PlanItem(f"self-reports ({kind} conditions)", counts[k], exact_gen if gen else True,
                                f"{n_units[k]} condition x item units" + (
                                    f" x {n_samples} samples, + re-asks" if gen else ", one forward pass each")))
    br = p.dilemma_branches()
    notes = {
        "cct": "one pass per scenario, + one per first digit 1-3 the model puts >= 2% on (10-32 cards)"
               if not gen else f"x {n_samples} samples, + re-asks",
        "dilemmas": (f"first answers only; + {2 if br == 'both' else 1} challenge pass(es) per valid first answer"
                     if not gen else f"first answers x {n_samples} samples; + one challenge per parsed answer, "
                                     "+ re-asks"),
        "honesty": f"answers x {n_samples} samples ({len(temps)} temperature(s), {p.runs} run(s) where T > 0); "
                   "+ one confidence judgement per parsed answer, + re-asks",
        "iat": "one pass per word (group terms of several tokens cost more)" if p.iat_administration(mode) == "per_word"
               else f"one list per trial x {n_samples} samples, + re-asks",
    }
    for part in ("cct", "dilemmas", "honesty", "iat"):
        if counts[part]:
            exact = False if part in ("dilemmas", "honesty", "iat", "cct") else exact_gen
            out.append(PlanItem(part, counts[part], exact, f"{n_units[part]} condition x stimulus units; {notes[part]}"))
    return out


# ---- assembling the tidy table ------------------------------------------------------------------


def score_self_reports(items: pl.DataFrame, instruments: dict[str, Instrument], administered: dict[str, dict[str, int]],
                       min_share: float) -> pl.DataFrame:
    """``sr_<SCALE>`` per model x condition x temperature x run: the mean keyed answer per answered item
    (the instrument's 1-5 metric), reported when at least ``min_share`` of the scale's administered items
    have a valid answer, with ``sr_<SCALE>_n_answered`` and ``sr_<SCALE>_n_items`` beside it. Nothing is
    prorated: for a sum-scored scale (the SRQ), ``sr_<SCALE>_total`` and ``sr_<SCALE>_band`` (the
    published cut-offs) are given only when every item of the scale was administered and answered."""
    out = None
    for inst in instruments.values():
        sub = items.filter((pl.col("task") == "self_report") & (pl.col("instrument") == inst.id))
        if sub.height == 0:
            continue
        keys_tbl = inst.item_table.select("item_id", "key", pl.col("scale").alias("_leaf"))
        rs = inst.response_scale
        keyed = sub.join(keys_tbl, on="item_id", how="left").with_columns(
            pl.when(pl.col("key") == -1).then(rs.min + rs.max - pl.col("value")).otherwise(pl.col("value"))
            .alias("_keyed"))
        for s in top_scales(inst):
            ids = [i.id for i in inst.items_of(s)]
            n_adm = administered[inst.id].get(s, 0)
            if not n_adm:
                continue
            col = column_name(s)
            need = math.ceil(min_share * n_adm)
            agg = (keyed.filter(pl.col("item_id").is_in(ids)).group_by(KEYS, maintain_order=True)
                   .agg(pl.col("_keyed").mean().alias("_mean"), pl.col("_keyed").sum().alias("_sum"),
                        pl.col("_keyed").is_not_null().sum().cast(pl.Int64).alias(f"{col}_n_answered")))
            if agg.height == 0:
                continue
            exprs = [pl.when(pl.col(f"{col}_n_answered") >= need).then(pl.col("_mean")).otherwise(None).alias(col),
                     pl.col(f"{col}_n_answered"), pl.lit(n_adm, dtype=pl.Int64).alias(f"{col}_n_items")]
            rule = inst.scale(s).rule or inst.rule
            if rule == "sum":
                complete = (pl.lit(n_adm == len(ids))) & (pl.col(f"{col}_n_answered") == len(ids))
                exprs.append(pl.when(complete).then(pl.col("_sum")).otherwise(None).cast(pl.Float64)
                             .alias(f"{col}_total"))
            part = agg.select(*KEYS, *exprs)
            if rule == "sum" and inst.scale(s).cutoffs:
                part = part.with_columns(pl.col(f"{col}_total").map_elements(lambda v, s=s, inst=inst: inst.band(s, v),
                                                                            return_dtype=pl.Utf8).alias(f"{col}_band"))
            out = part if out is None else out.join(part, on=KEYS, how="full", coalesce=True)
    return out if out is not None else pl.DataFrame(schema={k: pl.Utf8 for k in KEYS})


def behaviour_scores(items: pl.DataFrame, ece_bins: int) -> pl.DataFrame:
    """bh_<task>_<measure> per model x condition x temperature x run from the item rows."""
    rows = []
    beh = items.filter(pl.col("task") != "self_report")
    for key, g in beh.group_by(KEYS, maintain_order=True):
        row = dict(zip(KEYS, key))
        c = g.filter(pl.col("task") == "cct")
        if c.height:
            row.update(cct.score(c.select(pl.col("value").cast(pl.Float64).alias("cards"),
                                          pl.col("distance").cast(pl.Float64))))
        d = g.filter(pl.col("task") == "dilemma")
        if d.height:
            row.update(dil.score(d["value"].to_list()))
        h = g.filter(pl.col("task") == "honesty")
        if h.height:
            row.update(hon.score(h.select(pl.col("value").alias("correct"), "conf1", pl.col("conf2").cast(pl.Float64),
                                          pl.col("fabricated").cast(pl.Boolean)), n_bins=ece_bins))
        i = g.filter(pl.col("task") == "iat")
        if i.height:
            row.update(iat.score(i.select("domain", pl.col("value").cast(pl.Float64).alias("bias"))))
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(schema={k: pl.Utf8 for k in KEYS})


def validity_summary(items: pl.DataFrame) -> pl.DataFrame:
    """Per model x condition x task: rows, share without a valid answer, refusals, re-asks, mean option mass."""
    return items.group_by(["model", "condition", "task"], maintain_order=True).agg(
        pl.len().alias("n_rows"),
        pl.col("item_id").n_unique().alias("n_stimuli"),
        (~pl.col("valid")).mean().alias("invalid_rate"),
        (pl.col("status") == "refused").mean().alias("refusal_rate"),
        (pl.col("attempts") > 1).mean().alias("reask_rate"),
        pl.col("mass").mean().alias("mean_option_mass"),
    )


def assemble(items: pl.DataFrame, conditions: list[Condition], st: Stimuli, p: CollectParams) -> pl.DataFrame:
    """The tidy table (:mod:`analysis.studies.illusion.schema`) from the item rows."""
    from analysis.studies.illusion.schema import validate

    sr = score_self_reports(items, st.instruments, st.administered(), p.self_report.min_answered_share)
    bh = behaviour_scores(items, p.honesty.ece_bins)
    grid = items.select(*KEYS, "model_role", "mode").unique(subset=KEYS, maintain_order=True)
    labels = pl.DataFrame([c.labels() for c in conditions], infer_schema_length=None)
    table = grid.join(labels, on="condition", how="left")
    if sr.height:
        table = table.join(sr, on=KEYS, how="left")
    if bh.height:
        table = table.join(bh, on=KEYS, how="left")
    first = ["model", "model_role", "condition", "condition_type", "temperature", "run"]
    table = table.select(first + [c for c in table.columns if c not in first])
    return validate(table, source="the collected table", require_behaviour=False)
