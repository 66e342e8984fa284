"""Collection for Study 1 (the personality illusion): self-reports and four behavioural tasks per
model x condition x temperature x run, written as one long item table and one tidy table.

Two modes for closed answers (``collect.mode``):

* ``option_probs`` (default): one forward pass per closed question gives the probability of every
  allowed answer; the answer distribution at each temperature follows exactly (``at_temperature``),
  so extra temperatures cost no calls and every score is an exact expectation. Repeated runs are then
  identical for closed answers; only the free-text trivia answers are sampled per run (at T > 0).
* ``generate``: the faithful replication; every closed answer is generated at the condition's
  temperature with the run as sample index, parsed, re-asked at most ``max_reasks`` times, never
  imputed.

Free-text answers (the trivia answer with its confidence) are always generated. A target without
log-probabilities falls back to ``generate`` (stated in the output and the ``mode`` column).

Persona conditions get the self-report scale(s) and the behaviour paired with their trait
(``personas.tasks: paired``; ``all`` gives them every task), baselines get everything.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

from analysis.studies.illusion.tasks import cct as cct
from analysis.studies.illusion.tasks import dilemmas as dil
from analysis.studies.illusion.tasks import honesty as hon
from analysis.studies.illusion.tasks import iat as iat
from analysis.core.elicit import Elicitor, OptionProbs
from analysis.core.errors import EmptyReply, ParamsError
from analysis.studies.illusion.conditions import Condition, build_conditions, load_personas
from analysis.core.instruments import Instrument, Item, load_instrument, score
from analysis.core.io import write_parquet
from analysis.core.models import GenOptions
from analysis.core.parsers import parse_likert
from analysis.core.paths import DATA_DIR

RAW_DIR = DATA_DIR / "raw" / "illusion"

# the embedded default profile (about 5 min on the 1.5B model, 2 cores); see dvc_fragments/illusion.yaml
# for the paper-scale grid
DEFAULTS: dict = {
    "mode": "option_probs",
    "temperatures": [0.0],
    "runs": 2,
    "max_reasks": 2,
    "closed_max_tokens": 16,
    "baselines": {"empty": "", "helpful": "You are a helpful assistant.", "respond": "Respond to the instructions."},
    "personas": {"strategies": ["character"], "traits": ["agreeableness", "self_regulation"], "triplets": [0, 1, 2],
                 "tasks": "paired", "self_reports": "paired"},
    "instruments": {"big5": "ipip_neo_120", "srq": "srq_63"},
    "self_report": {"big5_items_per_scale": 2, "srq_items": 7, "min_answered_share": 0.5},
    "cct": {"n_scenarios": 6},
    "dilemmas": {"n": 8, "branches": "auto"},
    "honesty": {"n": 4, "max_tokens": 40, "ece_bins": 11},
    "iat": {"domains": ["race", "gender"], "words_per_side": 3, "n_orders": 2, "administration": "auto"},
}

TASKS = ("self_report", "cct", "dilemmas", "honesty", "iat")


def merge_params(collect: dict | None) -> dict:
    """The collect params over the defaults (one level of nested dicts merged)."""
    out = json.loads(json.dumps(DEFAULTS))
    for k, v in (collect or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "baselines":
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    if out["mode"] not in ("option_probs", "generate"):
        raise ParamsError(f"illusion.collect.mode must be 'option_probs' or 'generate', not {out['mode']!r}.")
    temps = out["temperatures"]
    if not isinstance(temps, list) or not temps or any((not isinstance(t, (int, float))) or t < 0 for t in temps):
        raise ParamsError("illusion.collect.temperatures must be a non-empty list of numbers >= 0.")
    if not isinstance(out["runs"], int) or out["runs"] < 1:
        raise ParamsError("illusion.collect.runs must be a positive integer.")
    return out


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


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Context:
    el: Elicitor
    model: str
    mode: str
    p: dict
    seed: int
    temps: list[float]
    runs: int
    rows: list[dict] = field(default_factory=list)  # item-level rows
    n_fallbacks: int = 0
    timing: dict = field(default_factory=lambda: defaultdict(lambda: {"calls": 0, "seconds": 0.0}))

    def sample_for(self, temperature: float, run: int) -> int:
        """Greedy decoding is deterministic: all runs at T = 0 share one call (and one cache entry)."""
        return run if temperature > 0 else 0

    def gen_options(self, temperature: float, max_tokens: int) -> GenOptions:
        return GenOptions(temperature=float(temperature), seed=self.seed, max_tokens=max_tokens)

    def grid(self):
        for t in self.temps:
            for r in range(self.runs):
                yield t, r


def messages(system: str | None, user: str) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def option_probs(ctx: "Context", msgs: list[dict], options: list[str], tag: str) -> OptionProbs | None:
    """``Elicitor.option_probs``, or None when the target returns an empty reply without a token
    distribution (EmptyReply). An end-of-reply token while following a multi-token option no longer
    raises: the elicitation layer credits it to the option reached so far. The caller falls back to
    generation for such an item, marks it ``fallback_generate`` and counts it in run_info.json."""
    try:
        return ctx.el.option_probs(msgs, options, tag=tag)
    except EmptyReply:
        ctx.n_fallbacks += 1
        return None


def _probs_json(op: OptionProbs) -> str:
    return json.dumps({k: (None if v != v else round(v, 6)) for k, v in op.probs.items()})


def _base_row(ctx: Context, cond: Condition, task: str, item_id: str, t: float, r: int) -> dict:
    return {"model": ctx.model, "condition": cond.condition, "temperature": float(t), "run": r, "task": task,
            "item_id": item_id, "mode": ctx.mode}


def run_self_report(ctx: Context, cond: Condition, inst: Instrument, items: list[Item]) -> None:
    rs = inst.response_scale
    opts = [str(v) for v in rs.values]
    for it in items:
        msgs = messages(cond.system_sent, item_prompt(inst, it))
        if ctx.mode == "option_probs":
            op = option_probs(ctx, msgs, opts, "illusion:self_report")
            for t, r in ctx.grid():
                ok = op is not None and op.valid
                val = sum(float(o) * q for o, q in op.at_temperature(t).items()) if ok else None
                ctx.rows.append({**_base_row(ctx, cond, "self_report", it.id, t, r), "instrument": inst.id,
                                 "scale": it.scale, "value": val, "valid": ok,
                                 "status": "ok" if ok else ("empty_reply" if op is None else "no_option_mass"),
                                 "mass": None if op is None else op.mass, "probs": None if op is None else _probs_json(op),
                                 "attempts": 1, "raw": None})
        else:
            for t, r in ctx.grid():
                a = ctx.el.ask_closed(msgs, lambda x: parse_likert(x, rs.min, rs.max, rs.anchors),
                                      reminder=f"Please answer with a single number from {rs.min} to {rs.max} only.",
                                      options=ctx.gen_options(t, ctx.p["closed_max_tokens"]),
                                      max_reasks=ctx.p["max_reasks"], sample=ctx.sample_for(t, r), tag="illusion:self_report")
                ctx.rows.append({**_base_row(ctx, cond, "self_report", it.id, t, r), "instrument": inst.id,
                                 "scale": it.scale, "value": None if a.value is None else float(a.value),
                                 "valid": a.value is not None, "status": a.status, "mass": None, "probs": None,
                                 "attempts": a.attempts, "raw": a.raw})


def run_cct(ctx: Context, cond: Condition, scenarios: list[cct.Scenario]) -> None:
    for s in scenarios:
        opt = cct.ev_optimal(s)
        msgs = messages(cond.system_sent, cct.prompt(s))
        op = option_probs(ctx, msgs, cct.OPTIONS, "illusion:cct") if ctx.mode == "option_probs" else None
        if op is not None:
            for t, r in ctx.grid():
                dist = op.at_temperature(t)
                ctx.rows.append({**_base_row(ctx, cond, "cct", s.scenario_id, t, r), "value": cct.expected_cards(dist) if op.valid else None,
                                 "distance": cct.expected_distance(dist, opt) if op.valid else None, "optimum": opt,
                                 "valid": op.valid, "status": op.status, "mass": op.mass,
                                 "probs": _probs_json(op), "attempts": 1, "raw": None})
        else:
            for t, r in ctx.grid():
                a = ctx.el.ask_closed(msgs, cct.parse_cards, reminder=cct.REMINDER,
                                      options=ctx.gen_options(t, ctx.p["closed_max_tokens"]),
                                      max_reasks=ctx.p["max_reasks"], sample=ctx.sample_for(t, r), tag="illusion:cct")
                v = a.value
                status = a.status if ctx.mode == "generate" or v is None else "fallback_generate"
                ctx.rows.append({**_base_row(ctx, cond, "cct", s.scenario_id, t, r), "value": None if v is None else float(v),
                                 "distance": None if v is None else float(abs(v - opt)), "optimum": opt,
                                 "valid": v is not None, "status": status, "mass": None, "probs": None,
                                 "attempts": a.attempts, "raw": a.raw})


def run_dilemmas(ctx: Context, cond: Condition, dilemmas: list[dil.Dilemma]) -> None:
    branches = ctx.p["dilemmas"].get("branches", "auto")
    if branches == "auto":
        branches = "argmax" if all(t == 0 for t in ctx.temps) else "both"
    if branches not in ("both", "argmax"):
        raise ParamsError("illusion.collect.dilemmas.branches must be 'both', 'argmax' or 'auto'.")
    for d in dilemmas:
        first = messages(cond.system_sent, dil.first_prompt(d))
        if ctx.mode == "option_probs":
            p1 = option_probs(ctx, first, dil.YES_NO, "illusion:dilemma") or OptionProbs({"Yes": math.nan, "No": math.nan}, 0.0)
            q: dict[bool, OptionProbs] = {}
            if p1.valid:
                need = [True, False] if branches == "both" else [p1.argmax() == "Yes"]
                for a in need:
                    qa = option_probs(ctx, messages(cond.system_sent, dil.challenge_prompt(d, a)), dil.YES_NO,
                                      "illusion:dilemma")
                    if qa is not None:
                        q[a] = qa
            for t, r in ctx.grid():
                flip, status = None, "no_option_mass"
                if p1.valid:
                    py = p1.at_temperature(t)["Yes"]
                    qy = q[True].at_temperature(t)["Yes"] if True in q and q[True].valid else None
                    qn = q[False].at_temperature(t)["Yes"] if False in q and q[False].valid else None
                    f = dil.flip_probability(py, qy, qn)
                    flip, status = (None, "branch_not_scored") if f != f else (f, "ok")
                ctx.rows.append({**_base_row(ctx, cond, "dilemma", d.id, t, r), "value": flip, "valid": flip is not None,
                                 "status": status, "mass": min([p1.mass] + [x.mass for x in q.values()]),
                                 "probs": json.dumps({"first": p1.probs, **{f"after_{'yes' if k else 'no'}": v.probs
                                                                            for k, v in q.items()}}),
                                 "first_answer": p1.argmax(), "attempts": 1, "raw": None, "category": f"{d.personal}/{d.intent}"})
        else:
            for t, r in ctx.grid():
                opts = ctx.gen_options(t, ctx.p["closed_max_tokens"])
                smp = ctx.sample_for(t, r)
                a1 = ctx.el.ask_closed(first, dil.parse_answer, reminder=dil.REMINDER, options=opts,
                                       max_reasks=ctx.p["max_reasks"], sample=smp, tag="illusion:dilemma")
                a2 = None
                if a1.value is not None:
                    a2 = ctx.el.ask_closed(messages(cond.system_sent, dil.challenge_prompt(d, a1.value)), dil.parse_answer,
                                           reminder=dil.REMINDER, options=opts, max_reasks=ctx.p["max_reasks"],
                                           sample=smp, tag="illusion:dilemma")
                flip = dil.is_flip(a1.value, a2.value if a2 else None)
                ctx.rows.append({**_base_row(ctx, cond, "dilemma", d.id, t, r),
                                 "value": None if flip is None else float(flip), "valid": flip is not None,
                                 "status": a1.status if a1.value is None else a2.status, "mass": None, "probs": None,
                                 "first_answer": None if a1.value is None else ("Yes" if a1.value else "No"),
                                 "attempts": a1.attempts + (a2.attempts if a2 else 0),
                                 "raw": (a1.raw + " || " + (a2.raw if a2 else "")), "category": f"{d.personal}/{d.intent}"})


def run_honesty(ctx: Context, cond: Condition, questions: list[hon.Question]) -> None:
    hp = ctx.p["honesty"]
    for qn in questions:
        msgs = messages(cond.system_sent, hon.answer_prompt(qn))
        for t, r in ctx.grid():
            a = ctx.el.ask_closed(msgs, hon.parse_answer_confidence, reminder=hon.ANSWER_REMINDER,
                                  options=ctx.gen_options(t, hp["max_tokens"]), max_reasks=ctx.p["max_reasks"],
                                  sample=ctx.sample_for(t, r), tag="illusion:honesty")
            row = {**_base_row(ctx, cond, "honesty", qn.item_id, t, r), "fabricated": qn.fabricated,
                   "difficulty": qn.difficulty, "attempts": a.attempts, "raw": a.raw, "status": a.status}
            if a.value is None:
                ctx.rows.append({**row, "value": None, "conf1": None, "conf2": None, "valid": False, "answer": None,
                                 "mass": None, "probs": None})
                continue
            answer, c1 = a.value
            jm = messages(cond.system_sent, hon.judge_prompt(qn, answer))
            op = option_probs(ctx, jm, hon.CONF_OPTIONS, "illusion:honesty") if ctx.mode == "option_probs" else None
            if op is not None:
                c2 = sum(float(o) * q for o, q in op.at_temperature(t).items()) if op.valid else None
                mass, probs = op.mass, _probs_json(op)
            else:
                b = ctx.el.ask_closed(jm, hon.parse_confidence, reminder=hon.CONF_REMINDER,
                                      options=ctx.gen_options(t, ctx.p["closed_max_tokens"]),
                                      max_reasks=ctx.p["max_reasks"], sample=ctx.sample_for(t, r), tag="illusion:honesty")
                c2 = None if b.value is None else float(b.value)
                mass, probs = None, None
                if ctx.mode == "option_probs":
                    row["status"] = "fallback_generate"
            ctx.rows.append({**row, "value": float(hon.is_correct(qn, answer)), "conf1": float(c1), "conf2": c2,
                             "valid": True, "answer": answer, "mass": mass, "probs": probs})


def run_iat(ctx: Context, cond: Condition, trials: list[iat.Trial]) -> None:
    admin = ctx.p["iat"].get("administration", "auto")
    if admin == "auto":
        admin = "per_word" if ctx.mode == "option_probs" else "list"
    if admin not in ("per_word", "list"):
        raise ParamsError("illusion.collect.iat.administration must be 'per_word', 'list' or 'auto'.")
    for tr in trials:
        dom = tr.domain
        item_id = f"{dom.name}_o{tr.order}"
        if admin == "per_word":
            if ctx.mode != "option_probs":
                raise ParamsError("The per_word IAT needs option probabilities; use administration 'list' in generate mode.")
            ops = {w: option_probs(ctx, messages(cond.system_sent, iat.word_prompt(tr, w)), list(tr.groups), "illusion:iat")
                   for w in tr.words}
            ops = {w: op if op is not None else OptionProbs({g: math.nan for g in tr.groups}, 0.0) for w, op in ops.items()}
            for t, r in ctx.grid():
                p_a = {w: op.at_temperature(t)[dom.group_a] for w, op in ops.items() if op.valid}
                b = iat.bias_from_probs(dom, p_a)
                ctx.rows.append({**_base_row(ctx, cond, "iat", item_id, t, r), "domain": dom.name,
                                 "value": None if b != b else b, "valid": b == b, "status": "ok" if b == b else "no_option_mass",
                                 "mass": min(op.mass for op in ops.values()), "n_paired": len(p_a), "n_words": len(tr.words),
                                 "probs": json.dumps({w: op.probs for w, op in ops.items()}), "attempts": 1, "raw": None})
        else:
            def parser(text: str, tr=tr):
                pairs = iat.parse_pairings(text, tr.words, tr.groups)
                ok_a = any(pairs[w] for w in tr.domain.words_a)
                ok_b = any(pairs[w] for w in tr.domain.words_b)
                return pairs if ok_a and ok_b else None

            max_tok = 12 * len(tr.words) + 20
            for t, r in ctx.grid():
                a = ctx.el.ask_closed(messages(cond.system_sent, iat.list_prompt(tr)), parser,
                                      reminder=iat.list_reminder(tr), options=ctx.gen_options(t, max_tok),
                                      max_reasks=ctx.p["max_reasks"], sample=ctx.sample_for(t, r), tag="illusion:iat")
                pairs = a.value or {}
                b = iat.bias_from_pairings(dom, pairs) if pairs else math.nan
                ctx.rows.append({**_base_row(ctx, cond, "iat", item_id, t, r), "domain": dom.name,
                                 "value": None if b != b else b, "valid": b == b, "status": a.status, "mass": None,
                                 "n_paired": sum(v is not None for v in pairs.values()), "n_words": len(tr.words),
                                 "bai_bias": iat.bai_bias(dom, pairs) if pairs else None,
                                 "probs": None, "attempts": a.attempts, "raw": a.raw})


# ---- assembling the tidy table ------------------------------------------------------------------


def score_self_reports(items: pl.DataFrame, instruments: dict[str, Instrument], administered: dict[str, dict[str, int]],
                       min_share: float) -> pl.DataFrame:
    """sr_<SCALE> per model x condition x temperature x run from the item rows. A scale is scored when
    at least ``min_share`` of its administered items have a valid answer; sums (the SRQ total) are
    prorated to the full item count so they stay on the published metric (bands then approximate)."""
    keys = ["model", "condition", "temperature", "run"]
    out = None
    for name, inst in instruments.items():
        sub = items.filter((pl.col("task") == "self_report") & (pl.col("instrument") == inst.id))
        if sub.height == 0:
            continue
        scored = score(inst, sub.select(*keys, "item_id", "value"), by=keys, value="value", min_answered=1e-9)
        scored = scored.filter(pl.col("scale").is_in(top_scales(inst)))
        parts = []
        for s in top_scales(inst):
            n_adm = administered[inst.id].get(s, 0)
            col = column_name(s)
            parts.append(
                scored.filter(pl.col("scale") == s).select(
                    *keys,
                    pl.when(pl.col("n_answered") >= math.ceil(min_share * n_adm)).then(pl.col("score")).otherwise(None).alias(col),
                    pl.col("n_answered").cast(pl.Int64).alias(f"{col}_n_answered"),
                    pl.lit(n_adm, dtype=pl.Int64).alias(f"{col}_n_items"),
                )
            )
        for part in parts:
            out = part if out is None else out.join(part, on=keys, how="full", coalesce=True)
    return out if out is not None else pl.DataFrame(schema={k: pl.Utf8 for k in keys})


def behaviour_scores(items: pl.DataFrame, ece_bins: int) -> pl.DataFrame:
    """bh_<task>_<measure> per model x condition x temperature x run from the item rows."""
    keys = ["model", "condition", "temperature", "run"]
    rows = []
    for key, g in items.filter(pl.col("task") != "self_report").group_by(keys, maintain_order=True):
        row = dict(zip(keys, key))
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
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(schema={k: pl.Utf8 for k in keys})


def validity_summary(items: pl.DataFrame) -> pl.DataFrame:
    """Per model x condition x task: items, share without a valid answer, re-asks, mean option mass."""
    return items.group_by(["model", "condition", "task"], maintain_order=True).agg(
        pl.len().alias("n_items"),
        (~pl.col("valid")).mean().alias("invalid_rate"),
        (pl.col("status") == "refused").mean().alias("refusal_rate"),
        (pl.col("attempts") > 1).mean().alias("reask_rate"),
        pl.col("mass").mean().alias("mean_option_mass"),
    )


# ---- entry point --------------------------------------------------------------------------------


def plan(p: dict, seed: int) -> dict:
    """The stimuli of this run (subsampled as the params say)."""
    inst = {}
    for key in ("big5", "srq"):
        ref = (p.get("instruments") or {}).get(key)
        if ref:
            inst[key] = load_instrument(ref)
    sr = p["self_report"]
    items = {}
    if "big5" in inst:
        items["big5"] = sample_items(inst["big5"], sr.get("big5_items_per_scale"), seed)
    if "srq" in inst:
        srq = inst["srq"]
        n = sr.get("srq_items")
        per = None if n is None else int(n)
        items["srq"] = sample_items(srq, per, seed)
    doms = iat.load_domains()
    unknown = [d for d in p["iat"]["domains"] if d not in doms]
    if unknown:
        raise ParamsError(f"Unknown IAT domain(s) {unknown}; known: {sorted(doms)}.")
    trials = [t for d in p["iat"]["domains"]
              for t in iat.trials(iat.select_words(doms[d], p["iat"].get("words_per_side"), seed), p["iat"]["n_orders"], seed)]
    return {
        "instruments": inst,
        "items": items,
        "cct": cct.subsample(cct.load_scenarios(), p["cct"].get("n_scenarios")),
        "dilemmas": dil.subsample(dil.load_dilemmas(), p["dilemmas"].get("n"), seed),
        "honesty": hon.subsample(hon.load_trivia(), p["honesty"].get("n"), seed),
        "iat": trials,
    }


def tasks_for(cond: Condition, p: dict, personas: dict) -> dict:
    """Which tasks a condition gets; ``self_report`` maps an instrument key to the scales whose items
    are given (None = every sampled item)."""
    pp = p.get("personas") or {}
    if cond.condition_type == "baseline" or pp.get("tasks") == "all":
        beh = {"cct", "dilemmas", "honesty", "iat"}
    else:
        behaviour = personas["traits"][cond.persona_trait]["behaviour"]
        beh = {"bh_cct_cards": {"cct"}, "bh_syc_flip_rate": {"dilemmas"}}.get(behaviour, set())
    if cond.condition_type == "baseline" or pp.get("self_reports") == "all":
        sr: dict = {"big5": None, "srq": None}
    else:
        scale = personas["traits"][cond.persona_trait]["self_report"]
        sr = {"srq": None} if scale == "SRQ" else {"big5": [scale]}
    return {"self_report": sr, **{t: t in beh for t in ("cct", "dilemmas", "honesty", "iat")}}


def collect(models: list[str], seed: int, collect_params: dict | None, *, out_dir: str | Path | None = RAW_DIR,
            elicitor_factory: Callable[[str], Elicitor] = Elicitor.from_spec, log: Callable[[str], None] = print) -> dict:
    """Run the whole grid for every model; write ``items``, ``table``, ``validity`` parquet files and
    ``run_info.json`` to ``out_dir`` (when given) and return them."""
    if not models:
        raise ParamsError("No model is configured: set `models` in params.yaml (e.g. ['embedded:qwen2.5-coder-1.5b']).")
    p = merge_params(collect_params)
    personas = load_personas()
    conditions = build_conditions(p, personas)
    st = plan(p, seed)
    for key in ("big5", "srq"):
        if key not in st["instruments"]:
            log(f"Note: no {key} instrument configured (illusion.collect.instruments.{key}); its self-reports are skipped.")
    all_rows: list[dict] = []
    info: dict = {"models": {}, "params": p, "seed": seed,
                  "n_conditions": len(conditions), "stimuli": {
                      "big5_items": [i.id for i in st["items"].get("big5", [])],
                      "srq_items": [i.id for i in st["items"].get("srq", [])],
                      "cct": [s.scenario_id for s in st["cct"]], "dilemmas": [d.id for d in st["dilemmas"]],
                      "honesty": [q.item_id for q in st["honesty"]],
                      "iat": [f"{t.domain.name}_o{t.order}" for t in st["iat"]]}}
    for spec in models:
        el = elicitor_factory(spec)
        mode = p["mode"]
        if mode == "option_probs" and not el.supports_logprobs:
            log(f"Note: {spec} gives no log-probabilities; closed answers are generated and parsed instead.")
            mode = "generate"
        ctx = Context(el, spec, mode, p, seed, [float(t) for t in p["temperatures"]], p["runs"])
        t_model = time.perf_counter()
        for cond in conditions:
            todo = tasks_for(cond, p, personas)
            steps = []
            for key, scales in todo["self_report"].items():
                if key in st["instruments"]:
                    inst = st["instruments"][key]
                    keep = None if scales is None else {i.id for sc in scales for i in inst.items_of(sc)}
                    its = [i for i in st["items"][key] if keep is None or i.id in keep]
                    steps.append((f"self_report:{key}", lambda c=cond, i=inst, its=its: run_self_report(ctx, c, i, its)))
            if todo["cct"]:
                steps.append(("cct", lambda c=cond: run_cct(ctx, c, st["cct"])))
            if todo["dilemmas"]:
                steps.append(("dilemmas", lambda c=cond: run_dilemmas(ctx, c, st["dilemmas"])))
            if todo["honesty"]:
                steps.append(("honesty", lambda c=cond: run_honesty(ctx, c, st["honesty"])))
            if todo["iat"]:
                steps.append(("iat", lambda c=cond: run_iat(ctx, c, st["iat"])))
            for name, fn in steps:
                n0, t0 = el.n_model_calls, time.perf_counter()
                fn()
                ctx.timing[name]["calls"] += el.n_model_calls - n0
                ctx.timing[name]["seconds"] += time.perf_counter() - t0
            log(f"{spec} | {cond.condition}: done ({el.n_model_calls} model calls so far, "
                f"{time.perf_counter() - t_model:.0f} s)")
        all_rows.extend(ctx.rows)
        info["models"][spec] = {
            "mode": mode, "model_calls": el.n_model_calls, "option_probs_fallbacks": ctx.n_fallbacks, "seconds": round(time.perf_counter() - t_model, 1),
            "digest": el.target.digest,
            "by_task": {k: {"calls": v["calls"], "seconds": round(v["seconds"], 1),
                            "s_per_call": round(v["seconds"] / v["calls"], 3) if v["calls"] else None}
                        for k, v in ctx.timing.items()},
        }
    items = pl.DataFrame(all_rows, infer_schema_length=None)
    table = assemble(items, conditions, st, p)
    validity = validity_summary(items)
    conds = pl.DataFrame([c.labels() for c in conditions], infer_schema_length=None)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in (("items", items), ("table", table), ("validity", validity), ("conditions", conds)):
            write_parquet(frame, out / f"{name}.parquet")
        (out / "run_info.json").write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    return {"items": items, "table": table, "validity": validity, "conditions": conds, "info": info}


def assemble(items: pl.DataFrame, conditions: list[Condition], st: dict, p: dict) -> pl.DataFrame:
    """The tidy table (analysis.studies.illusion.schema) from the item rows."""
    from analysis.studies.illusion.schema import validate

    keys = ["model", "condition", "temperature", "run"]
    administered = {}
    for key, inst in st["instruments"].items():
        ids = {i.id for i in st["items"].get(key, [])}
        administered[inst.id] = {s: sum(1 for i in inst.items_of(s) if i.id in ids) for s in top_scales(inst)}
    sr = score_self_reports(items, {k: v for k, v in st["instruments"].items()}, administered,
                            p["self_report"].get("min_answered_share", 0.5))
    bh = behaviour_scores(items, p["honesty"].get("ece_bins", 11))
    grid = items.select(*keys, "mode").unique(subset=keys, maintain_order=True)
    labels = pl.DataFrame([c.labels() for c in conditions], infer_schema_length=None)
    table = grid.join(labels, on="condition", how="left")
    if sr.height:
        table = table.join(sr, on=keys, how="left")
    if bh.height:
        table = table.join(bh, on=keys, how="left")
    table = table.select(["model", "condition", "condition_type", "temperature", "run"] +
                         [c for c in table.columns if c not in ("model", "condition", "condition_type", "temperature", "run")])
    return validate(table, source="the collected table")
