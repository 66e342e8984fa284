"""Stage 2 of the therapy protocol with a model: giving the scales in the administration modes.

Modes (``ScaleDesign.modes``):

* ``item_session``: item by item inside the ongoing session, after the stage-1 history. Each item is
  a new user turn; the model's answer is appended before the next item (for option probabilities,
  the most probable option), so the questionnaire is one continued conversation.
* ``item_fresh``: item by item, each in a fresh context holding only the stance, the instructions
  and the item (history reset).
* ``whole_session`` / ``whole_fresh``: the whole questionnaire in one prompt (after the history, or
  in a fresh context), answered by generation and parsed item by item; then the follow-up "Do you
  recognise this questionnaire? If so, name it." is asked in the same conversation.

Before every questionnaire the therapist speaks a stance text (neutral, warm alliance, CBT,
boundary-setting). Closed item answers are read by ``option_probs`` (the exact expected item score;
``method="probs"``) and/or by generation with parsing and re-asks (``method="generate"``).
Everything goes through the Elicitor, so every call is in the response store and re-runs are free.

A stance x questionnaire in a fresh context does not depend on the session, so with option
probabilities (and greedy generation) it has one value, repeated for every session: the notebooks
say so wherever between-session variance is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
from tqdm import tqdm

from analysis.core.elicit import Elicitor
from analysis.core.instruments import Instrument
from analysis.core.models import GenOptions, Message
from analysis.core.session import Session
from analysis.studies.therapy.recognition import FOLLOW_UP, mentions_construct, names_other, parse_follow_up, recognises
from analysis.studies.therapy.scales import AnswerFormat, answer_format, item_prompt, lead_text, parse_whole_form, whole_form_prompt
from analysis.studies.therapy.script import Stances, StimulusError, history_messages

MODES = ("item_session", "item_fresh", "whole_session", "whole_fresh")
METHODS = ("probs", "generate")


@dataclass
class ScaleDesign:
    stances: list[str] = field(default_factory=lambda: ["neutral", "warm"])
    modes: list[str] = field(default_factory=lambda: ["item_session", "item_fresh", "whole_session"])
    item_methods: list[str] = field(default_factory=lambda: ["probs"])
    reword_timeframe: bool = True
    temperature: float = 0.0  # for whole-form and item generation
    item_max_tokens: int = 16
    whole_form_max_tokens: int = 120
    follow_up: bool = True
    follow_up_max_tokens: int = 24
    max_reasks: int = 2

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise StimulusError(f"Unknown administration modes {bad}; choose from {list(MODES)}.")
        badm = [m for m in self.item_methods if m not in METHODS]
        if badm:
            raise StimulusError(f"Unknown item methods {badm}; choose from {list(METHODS)}.")

    def gen_seed(self, session_seed: int) -> int:
        # greedy decoding ignores the seed; keeping it fixed lets identical fresh contexts share one call
        return session_seed if self.temperature > 0 else 0


def _item_rows_probs(el: Elicitor, base: list[Message], inst: Instrument, fmt: AnswerFormat, lead: str,
                     chained: bool, design: ScaleDesign, keys: dict) -> tuple[list[dict], list[dict]]:
    rows, prob_rows = [], []
    msgs = list(base)
    for j, item in enumerate(inst.items):
        first = j == 0 or not chained
        user = {"role": "user", "content": item_prompt(inst, item, fmt, lead=lead if first else None,
                                                         reword_timeframe=design.reword_timeframe)}
        m = (msgs if chained else list(base)) + [user]
        p = el.option_probs(m, fmt.options, tag="therapy/scales")
        value = p.expected({o: float(v) for o, v in fmt.values.items()}) if p.valid else None
        if value is not None:  # guard against 3.0000000000000004 from floating-point normalisation
            value = min(max(value, float(min(fmt.values.values()))), float(max(fmt.values.values())))
        chosen = p.argmax()
        reply = None
        if chained:
            if chosen is None:  # no probability on any option: continue the conversation with a real reply
                reply = el.generate(m, GenOptions(max_tokens=design.item_max_tokens), tag="therapy/scales").text
            msgs = m + [{"role": "assistant", "content": chosen if chosen is not None else reply}]
        rows.append({**keys, "method": "probs", "instrument": inst.id, "item_id": item.id, "item_index": j + 1,
                     "value": value, "argmax": chosen, "mass": p.mass, "status": "ok" if p.valid else "no_mass",
                     "attempts": 1, "reply": reply, "call_ids": ",".join(p.call_ids)})
        for o, pr in p.probs.items():
            prob_rows.append({**keys, "instrument": inst.id, "item_id": item.id, "option": o,
                              "option_value": fmt.values[o], "prob": pr if p.valid else None})
    return rows, prob_rows


def _item_rows_generate(el: Elicitor, base: list[Message], inst: Instrument, fmt: AnswerFormat, lead: str,
                        chained: bool, design: ScaleDesign, seed: int, keys: dict) -> list[dict]:
    rows = []
    msgs = list(base)
    opts = GenOptions(temperature=design.temperature, seed=seed, max_tokens=design.item_max_tokens)
    for j, item in enumerate(inst.items):
        first = j == 0 or not chained
        user = {"role": "user", "content": item_prompt(inst, item, fmt, lead=lead if first else None,
                                                         reword_timeframe=design.reword_timeframe)}
        m = (msgs if chained else list(base)) + [user]
        a = el.ask_closed(m, fmt.parse, reminder=fmt.reminder, options=opts, max_reasks=design.max_reasks,
                          tag="therapy/scales")
        if chained:
            msgs = m + [{"role": "assistant", "content": a.raw or "(no reply)"}]
        rows.append({**keys, "method": "generate", "instrument": inst.id, "item_id": item.id, "item_index": j + 1,
                     "value": None if a.value is None else float(a.value), "argmax": None, "mass": None,
                     "status": a.status, "attempts": a.attempts, "reply": a.raw, "call_ids": ",".join(a.call_ids)})
    return rows


def _whole_form(el: Elicitor, base: list[Message], inst: Instrument, fmt: AnswerFormat, lead: str,
                design: ScaleDesign, seed: int, keys: dict) -> tuple[list[dict], dict]:
    s = Session(el, tag="therapy/whole_form")
    s.messages = list(base)
    opts = GenOptions(temperature=design.temperature, seed=seed, max_tokens=design.whole_form_max_tokens)
    reply = s.say(whole_form_prompt(inst, fmt, lead=lead, reword_timeframe=design.reword_timeframe), opts)
    parsed = parse_whole_form(reply, inst, fmt)
    rows = [{**keys, "method": "generate", "instrument": inst.id, "item_id": it.id, "item_index": j + 1,
             "value": None if parsed[it.id] is None else float(parsed[it.id]), "argmax": None, "mass": None,
             "status": "ok" if parsed[it.id] is not None else "unparsed", "attempts": 1, "reply": None,
             "call_ids": s.call_ids[0]} for j, it in enumerate(inst.items)]
    n_parsed = sum(v is not None for v in parsed.values())
    form = {**keys, "instrument": inst.id, "n_items": len(inst.items), "n_parsed": n_parsed,
            "n_unparsed": len(inst.items) - n_parsed, "reply": reply,
            "named_in_reply": recognises(reply, inst.id), "construct_in_reply": mentions_construct(reply, inst.id),
            "other_named_in_reply": ",".join(names_other(reply, inst.id)),
            "follow_up_reply": None, "follow_says_yes": None, "follow_names_correct": None, "follow_names_other": ""}
    if design.follow_up:
        fu = s.say(FOLLOW_UP, GenOptions(temperature=design.temperature, seed=seed,
                                         max_tokens=design.follow_up_max_tokens))
        f = parse_follow_up(fu, inst.id)
        form.update(follow_up_reply=fu, follow_says_yes=f["says_yes"], follow_names_correct=f["names_correct"],
                    follow_names_other=",".join(f["names_other"]))
    form["recognised"] = bool(form["named_in_reply"] or form["follow_names_correct"])
    form["call_ids"] = ",".join(s.call_ids)
    return rows, form


def administer(el: Elicitor, turns: pl.DataFrame, instruments: list[Instrument], stances: Stances,
               design: ScaleDesign, *, model: str | None = None, system: str | None = None,
               progress: bool = True) -> dict[str, pl.DataFrame]:
    """Give every instrument to every stage-1 session of ``model`` in every stance x mode.

    ``turns`` are the stage-1 turn rows (``run_sessions``); the history of each session is rebuilt
    from them exactly. Returns ``items`` (one row per item answer), ``probs`` (option probabilities,
    long) and ``forms`` (one row per whole-form administration, with recognition).
    """
    model = model or el.target.spec
    if any(m.startswith("item") for m in design.modes) and "probs" in design.item_methods and not el.supports_logprobs:
        raise StimulusError(
            f"{el.target.spec} cannot return log-probabilities; set therapy.collect.item_methods to [generate]."
        )
    sessions = turns.filter(pl.col("model") == model).select("session", "seed").unique().sort("session").rows()
    if not sessions:
        raise StimulusError(f"No stage-1 sessions for model {model!r}; run notebook 01 first.")
    fmts = {i.id: answer_format(i) for i in instruments}
    items, probs, forms = [], [], []
    ctx_modes = [m for m in design.modes if m.endswith("_session")] + [m for m in design.modes if m.endswith("_fresh")]
    total = len(sessions) * len(design.stances) * len(instruments) * len(ctx_modes)
    bar = tqdm(total=total, desc=f"scales {model}", disable=not progress, ncols=100, mininterval=2.0)
    fresh_base: list[Message] = [{"role": "system", "content": system}] if system else []
    # session-context modes first, session by session (all modes of a session in a row, so the engine's
    # prompt cache keeps that session's history), then the fresh contexts
    session_modes = [m for m in ctx_modes if m.endswith("_session")]
    fresh_modes = [m for m in ctx_modes if m.endswith("_fresh")]
    plan = [(session, seed, mode) for session, seed in sessions for mode in session_modes] + \
        [(session, seed, mode) for mode in fresh_modes for session, seed in sessions]
    for session, seed, mode in plan:
        base = history_messages(turns, model, session, system) if mode.endswith("_session") else fresh_base
        gseed = design.gen_seed(seed)
        for stance_id in design.stances:
            lead = lead_text(stances.get(stance_id).text, stances.intro)
            for inst in instruments:
                keys = {"model": model, "session": session, "seed": seed, "stance": stance_id, "mode": mode}
                fmt = fmts[inst.id]
                if mode.startswith("item"):
                    chained = mode == "item_session"
                    if "probs" in design.item_methods:
                        r, pr = _item_rows_probs(el, base, inst, fmt, lead, chained, design, keys)
                        items += r
                        probs += pr
                    if "generate" in design.item_methods:
                        items += _item_rows_generate(el, base, inst, fmt, lead, chained, design, gseed, keys)
                else:
                    r, f = _whole_form(el, base, inst, fmt, lead, design, gseed, keys)
                    items += r
                    forms.append(f)
                bar.update()
    bar.close()
    item_schema = {"value": pl.Float64, "mass": pl.Float64, "argmax": pl.Utf8, "reply": pl.Utf8}
    form_schema = {"follow_up_reply": pl.Utf8, "follow_says_yes": pl.Boolean, "follow_names_correct": pl.Boolean}
    out = {
        "items": pl.DataFrame(items, schema_overrides=item_schema, infer_schema_length=None) if items else _empty_items(),
        "probs": pl.DataFrame(probs, schema_overrides={"prob": pl.Float64}, infer_schema_length=None) if probs else
        pl.DataFrame(schema={"model": pl.Utf8, "session": pl.Int64, "seed": pl.Int64, "stance": pl.Utf8, "mode": pl.Utf8,
                             "instrument": pl.Utf8, "item_id": pl.Utf8, "option": pl.Utf8, "option_value": pl.Int64,
                             "prob": pl.Float64}),
        "forms": pl.DataFrame(forms, schema_overrides=form_schema, infer_schema_length=None) if forms else
        pl.DataFrame(schema={"model": pl.Utf8, "session": pl.Int64, "stance": pl.Utf8, "mode": pl.Utf8,
                             "instrument": pl.Utf8, "recognised": pl.Boolean}),
    }
    return out


def _empty_items() -> pl.DataFrame:
    return pl.DataFrame(schema={"model": pl.Utf8, "session": pl.Int64, "seed": pl.Int64, "stance": pl.Utf8,
                                "mode": pl.Utf8, "method": pl.Utf8, "instrument": pl.Utf8, "item_id": pl.Utf8,
                                "item_index": pl.Int64, "value": pl.Float64, "argmax": pl.Utf8, "mass": pl.Float64,
                                "status": pl.Utf8, "attempts": pl.Int64, "reply": pl.Utf8, "call_ids": pl.Utf8})


def expected_calls(n_sessions: int, n_items: int, n_instruments: int, design: ScaleDesign) -> dict[str, int]:
    """Upper bounds on distinct model calls per model (before the store), for planning budgets."""
    n_st = len(design.stances)
    out = {}
    for m in design.modes:
        ctx = n_sessions if m.endswith("_session") else (1 if design.temperature == 0 else n_sessions)
        if m.startswith("item"):
            per = n_items * (("probs" in design.item_methods) + ("generate" in design.item_methods) * (1 + design.max_reasks))
            out[m] = ctx * n_st * per
        else:
            out[m] = ctx * n_st * n_instruments * (1 + int(design.follow_up))
    return out
