"""Stage 2 of the therapy protocol with a model: giving the scales in the administration modes.

Modes (``therapy.collect.scales.modes``):

* ``item_session``: item by item inside the ongoing session, after the stage-1 history. Each item is
  a new therapist turn and the client's answer stays in the history before the next item, so the
  questionnaire is one continued conversation. What enters the history is set by
  ``session_history``: ``model_reply`` (the reply the model generated, parsed for the score; with
  ``probs`` the exact option probabilities at the same point are a second measure) or
  ``most_likely_option`` (the most probable option written as the client's turn: a synthetic turn
  the model did not write, labelled ``history = most_likely_option`` on every row).
* ``item_fresh``: item by item, each in a fresh context holding only the stance, the instructions
  and the item (history reset).
* ``whole_session`` / ``whole_fresh``: the whole questionnaire in one prompt (after the history, or
  in a fresh context), answered by generation and parsed item by item; then the follow-up "Do you
  recognise this questionnaire? If so, name it." is asked in the same conversation.

Before every questionnaire the therapist speaks a stance text (neutral, warm alliance, CBT,
boundary-setting). Every call goes through the Elicitor, so it is in the response store and re-runs
are free. Work is split into independent units (one session x mode x stance x questionnaire; turns
inside a unit stay in order) that run through the Elicitor's pool.

A fresh context does not depend on the session: with option probabilities (and with greedy
generation) it is asked once per stance x questionnaire and its rows are repeated for every session
(``context = fresh``); the analysis says so wherever between-session variance is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analysis.core.elicit import Elicitor
from analysis.core.errors import EmptyReply
from analysis.core.instruments import Instrument
from analysis.core.models import GenOptions, Message
from analysis.studies.therapy.params import ScaleParams
from analysis.studies.therapy.recognition import FOLLOW_UP, Recognizer
from analysis.studies.therapy.scales import (
    AnswerFormat,
    answer_format,
    item_prompt,
    lead_text,
    parse_whole_form,
    whole_form_prompt,
)
from analysis.studies.therapy.script import Stances, StimulusError, ask_in_history, history_messages

ITEM_SCHEMA = {"model": pl.Utf8, "session": pl.Int64, "seed": pl.Int64, "stance": pl.Utf8, "mode": pl.Utf8,
               "context": pl.Utf8, "context_id": pl.Utf8, "method": pl.Utf8, "history": pl.Utf8, "instrument": pl.Utf8,
               "item_id": pl.Utf8, "item_index": pl.Int64, "value": pl.Float64, "argmax": pl.Utf8, "mass": pl.Float64, "status": pl.Utf8,
               "attempts": pl.Int64, "reply": pl.Utf8, "call_ids": pl.Utf8}
PROB_SCHEMA = {"model": pl.Utf8, "session": pl.Int64, "seed": pl.Int64, "stance": pl.Utf8, "mode": pl.Utf8,
               "context_id": pl.Utf8, "history": pl.Utf8, "instrument": pl.Utf8, "item_id": pl.Utf8, "option": pl.Utf8,
               "option_value": pl.Int64, "prob": pl.Float64, "mass": pl.Float64, "valid": pl.Boolean}
FORM_SCHEMA = {"model": pl.Utf8, "session": pl.Int64, "seed": pl.Int64, "stance": pl.Utf8, "mode": pl.Utf8,
               "context": pl.Utf8, "context_id": pl.Utf8, "instrument": pl.Utf8, "n_items": pl.Int64, "n_parsed": pl.Int64,
               "n_unparsed": pl.Int64, "reply": pl.Utf8, "named_in_reply": pl.Boolean,
               "construct_in_reply": pl.Boolean, "other_named_in_reply": pl.Utf8, "follow_up_reply": pl.Utf8,
               "follow_says_yes": pl.Boolean, "follow_names_correct": pl.Boolean, "follow_names_other": pl.Utf8,
               "recognised": pl.Boolean, "call_ids": pl.Utf8}


@dataclass(frozen=True)
class Unit:
    """One questionnaire given once: its rows stand for every (session, seed) in ``sessions``."""

    mode: str
    stance: str
    instrument: Instrument
    methods: tuple[str, ...]
    sessions: tuple[tuple[int, int], ...]
    gseed: int


def _gen(sp: ScaleParams, seed: int, max_tokens: int) -> GenOptions:
    return GenOptions(temperature=sp.temperature, seed=seed, max_tokens=max_tokens)


def _say(el: Elicitor, messages: list[Message], options: GenOptions, tag: str) -> tuple[str, str | None]:
    """One generated reply and its call id; an empty reply is returned as '' (and was not stored)."""
    try:
        r = el.generate(messages, options, tag=tag)
        return r.text, r.call_id
    except EmptyReply:
        return "", None


def _probs_row(el: Elicitor, m: list[Message], fmt: AnswerFormat, keys: dict, item_id: str, index: int,
               history: str) -> tuple[dict, list[dict], str | None]:
    p = el.option_probs(m, fmt.options, tag="therapy/scales")
    value = p.expected({o: float(v) for o, v in fmt.values.items()}) if p.valid else None
    if value is not None:  # guard against 3.0000000000000004 from floating-point normalisation
        value = min(max(value, float(min(fmt.values.values()))), float(max(fmt.values.values())))
    chosen = p.argmax()
    row = {**keys, "method": "probs", "history": history, "item_id": item_id, "item_index": index, "value": value,
           "argmax": chosen, "mass": p.mass, "status": p.status, "attempts": 1, "reply": None,
           "call_ids": ",".join(p.call_ids)}
    prob_rows = [{**{k: keys[k] for k in ("model", "stance", "mode", "context_id", "instrument")}, "history": history,
                  "item_id": item_id, "option": o, "option_value": fmt.values[o], "prob": pr, "mass": p.mass,
                  "valid": p.valid} for o, pr in p.probs.items()]
    return row, prob_rows, chosen


def _item_chain(el: Elicitor, base: list[Message], u: Unit, fmt: AnswerFormat, lead: str, sp: ScaleParams,
                keys: dict, *, chained: bool, methods: tuple[str, ...], history: str) -> tuple[list[dict], list[dict]]:
    """The items of one questionnaire, in order. ``chained``: inside the session, each answer stays in
    the history; otherwise every item has a fresh context (``base`` + the item)."""
    inst = u.instrument
    rows, prob_rows = [], []
    msgs = list(base)
    opts = _gen(sp, u.gseed, sp.item_max_tokens)
    for j, item in enumerate(inst.items):
        first = j == 0 or not chained
        user = {"role": "user", "content": item_prompt(inst, item, fmt, lead=lead if first else None,
                                                         reword_timeframe=sp.reword_timeframe)}
        m = (msgs if chained else list(base)) + [user]
        chosen = None
        if "probs" in methods:
            row, pr, chosen = _probs_row(el, m, fmt, keys, item.id, j + 1, history)
            rows.append(row)
            prob_rows += pr
        if chained and history == "most_likely_option":
            if chosen is None:  # no valid option: the conversation continues with what the model really says
                reply, _ = _say(el, m, opts, "therapy/scales")
                rows[-1]["reply"] = reply
            msgs = m + [{"role": "assistant", "content": chosen if chosen is not None else reply}]
            continue
        if "generate" in methods or chained:
            hist, a = ask_in_history(el, m, fmt.parse, reminder=fmt.reminder, options=opts, max_reasks=sp.max_reasks,
                                     tag="therapy/scales")
            rows.append({**keys, "method": "generate", "history": "model_reply" if chained else history,
                         "item_id": item.id, "item_index": j + 1,
                         "value": None if a.value is None else float(a.value), "argmax": None, "mass": None,
                         "status": a.status, "attempts": a.attempts, "reply": a.raw, "call_ids": ",".join(a.call_ids)})
            if chained:
                msgs = hist
    return rows, prob_rows


def _whole_form(el: Elicitor, base: list[Message], u: Unit, fmt: AnswerFormat, lead: str, sp: ScaleParams,
                keys: dict, rec: Recognizer) -> tuple[list[dict], dict]:
    inst = u.instrument
    msgs = list(base) + [{"role": "user", "content": whole_form_prompt(inst, fmt, lead=lead,
                                                                       reword_timeframe=sp.reword_timeframe)}]
    reply, cid = _say(el, msgs, _gen(sp, u.gseed, sp.whole_form_max_tokens), "therapy/whole_form")
    ids = [cid] if cid else []
    parsed = parse_whole_form(reply, inst, fmt)
    rows = [{**keys, "method": "generate", "history": "model_reply", "item_id": it.id, "item_index": j + 1,
             "value": None if parsed[it.id] is None else float(parsed[it.id]), "argmax": None, "mass": None,
             "status": "ok" if parsed[it.id] is not None else "unparsed", "attempts": 1, "reply": None,
             "call_ids": cid} for j, it in enumerate(inst.items)]
    n_parsed = sum(v is not None for v in parsed.values())
    form = {**keys, "n_items": len(inst.items), "n_parsed": n_parsed, "n_unparsed": len(inst.items) - n_parsed,
            "reply": reply, "named_in_reply": rec.recognises(reply, inst.id),
            "construct_in_reply": rec.mentions_construct(reply, inst.id),
            "other_named_in_reply": ",".join(rec.names_other(reply, inst.id)), "follow_up_reply": None,
            "follow_says_yes": None, "follow_names_correct": None, "follow_names_other": ""}
    if sp.follow_up:
        msgs = msgs + [{"role": "assistant", "content": reply}, {"role": "user", "content": FOLLOW_UP}]
        fu, fid = _say(el, msgs, _gen(sp, u.gseed, sp.follow_up_max_tokens), "therapy/whole_form")
        ids += [fid] if fid else []
        f = rec.parse_follow_up(fu, inst.id)
        form.update(follow_up_reply=fu, follow_says_yes=f["says_yes"], follow_names_correct=f["names_correct"],
                    follow_names_other=",".join(f["names_other"]))
    form["recognised"] = bool(form["named_in_reply"] or form["follow_names_correct"])
    form["call_ids"] = ",".join(ids)
    return rows, form


def plan_units(sessions: list[tuple[int, int]], instruments: list[Instrument], sp: ScaleParams) -> list[Unit]:
    """The questionnaire administrations of one model, session contexts first (all of one session in a
    row, so a prompt cache keeps its history), then the fresh contexts, each given once per distinct
    request (probability answers do not depend on the seed; generation does when temperature > 0)."""
    units: list[Unit] = []
    item_methods = tuple(m for m in ("probs", "generate") if m in sp.item_methods)
    for session, seed in sessions:
        for mode in [m for m in sp.modes if m.endswith("_session")]:
            for stance in sp.stances:
                for inst in instruments:
                    units.append(Unit(mode, stance, inst, item_methods if mode.startswith("item") else ("generate",),
                                      ((session, seed),), sp.gen_seed(seed)))
    for mode in [m for m in sp.modes if m.endswith("_fresh")]:
        by_gseed: dict[int, list[tuple[int, int]]] = {}
        for session, seed in sessions:
            by_gseed.setdefault(sp.gen_seed(seed), []).append((session, seed))
        for stance in sp.stances:
            for inst in instruments:
                if mode == "item_fresh" and "probs" in item_methods:
                    units.append(Unit(mode, stance, inst, ("probs",), tuple(sessions), 0))
                if mode == "whole_fresh" or "generate" in item_methods:
                    for gseed, group in by_gseed.items():
                        units.append(Unit(mode, stance, inst, ("generate",), tuple(group), gseed))
    return units


def administer(el: Elicitor, turns: pl.DataFrame, instruments: list[Instrument], stances: Stances,
               sp: ScaleParams, *, system: str | None = None) -> dict[str, pl.DataFrame]:
    """Give every instrument to every stage-1 session of the elicitor's model in every stance x mode.

    ``turns`` are the stage-1 turn rows (``run_sessions``); the history of each session is rebuilt
    from them exactly. Returns ``items`` (one row per item answer), ``probs`` (option probabilities,
    long) and ``forms`` (one row per whole-form administration, with recognition).
    """
    model = el.target.spec
    uses_probs = any(m.startswith("item") for m in sp.modes) and (
        "probs" in sp.item_methods or sp.session_history == "most_likely_option")
    if uses_probs and not el.supports_logprobs:
        raise StimulusError(f"{model} cannot return log-probabilities; set therapy.collect.scales.item_methods to "
                            "[generate] (and session_history to model_reply).")
    leads = {s: lead_text(stances.get(s).text, stances.intro) for s in sp.stances}  # unknown stance: one sentence
    sessions = turns.filter(pl.col("model") == model).select("session", "seed").unique().sort("session").rows()
    if not sessions:
        raise StimulusError(f"No stage-1 sessions for model {model!r}; run the sessions first.")
    fmts = {i.id: answer_format(i) for i in instruments}
    rec = Recognizer(instruments)  # the names of the given instruments come from their own files
    fresh_base: list[Message] = [{"role": "system", "content": system}] if system else []

    def run(u: Unit) -> tuple[list[dict], list[dict], list[dict]]:
        in_session = u.mode.endswith("_session")
        base = history_messages(turns, model, u.sessions[0][0], system) if in_session else fresh_base
        # context_id names the distinct conversation a row comes from: its session, or one fresh context shared
        # by every session it is repeated for
        ctx_id = f"session {u.sessions[0][0]}" if in_session else (
            "fresh" if u.methods == ("probs",) else f"fresh, seed {u.gseed}")
        keys = {"model": model, "stance": u.stance, "mode": u.mode, "context": "session" if in_session else "fresh",
                "context_id": ctx_id, "instrument": u.instrument.id}
        fmt, lead = fmts[u.instrument.id], leads[u.stance]
        forms: list[dict] = []
        if u.mode.startswith("item"):
            chained = u.mode == "item_session"
            if chained and sp.session_history == "most_likely_option":
                rows, probs = _item_chain(el, base, u, fmt, lead, sp, keys, chained=True, methods=("probs",),
                                          history="most_likely_option")
                if "generate" in u.methods:  # a separate chain of the model's own replies
                    r2, _ = _item_chain(el, base, u, fmt, lead, sp, keys, chained=True, methods=("generate",),
                                        history="model_reply")
                    rows += r2
            else:
                rows, probs = _item_chain(el, base, u, fmt, lead, sp, keys, chained=chained, methods=u.methods,
                                          history="model_reply" if chained else "none")
        else:
            rows, form = _whole_form(el, base, u, fmt, lead, sp, keys, rec)
            probs, forms = [], [form]

        def each(rs: list[dict]) -> list[dict]:
            return [{**r, "session": s, "seed": seed} for s, seed in u.sessions for r in rs]

        return each(rows), each(probs), each(forms)

    results = el.map(run, plan_units(sessions, instruments, sp), desc=f"scales ({model})")
    items = [r for res in results for r in res[0]]
    probs = [r for res in results for r in res[1]]
    forms = [r for res in results for r in res[2]]
    order = ["model", "session", "seed", "stance", "mode", "context", "method", "history", "instrument", "item_index"]
    return {
        "items": pl.DataFrame(items, schema=ITEM_SCHEMA).sort(order, maintain_order=True),
        "probs": pl.DataFrame(probs, schema=PROB_SCHEMA).sort(["model", "session", "stance", "mode", "instrument",
                                                                "item_id"], maintain_order=True),
        "forms": pl.DataFrame(forms, schema=FORM_SCHEMA).sort(["model", "session", "stance", "mode", "instrument"],
                                                              maintain_order=True),
    }
