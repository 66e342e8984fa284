"""Collection of Study 3 for one model: the sessions, the judge's coding of them, and the scales.

``collect`` returns the study's tidy tables (the runner adds the ``model`` column where missing and
writes them); ``plan`` counts the model calls the same parameters make, without calling a model.
"""

from __future__ import annotations

import time

import polars as pl

from analysis.core.elicit import Elicitor
from analysis.core.errors import ParamsError
from analysis.core.models import GenOptions
from analysis.core.study import LogprobsOf, PlanItem, plans_logprobs
from analysis.studies.therapy.administer import administer as administer_scales
from analysis.studies.therapy.administer import plan_units
from analysis.studies.therapy.coding import (
    code_sessions,
    judge_prompt_table,
    load_calibration,
    load_scheme,
    select_themes,
)
from analysis.studies.therapy.params import PAPER_SCALE_SESSIONS, CollectParams
from analysis.studies.therapy.scales import answer_format, load_scales
from analysis.studies.therapy.script import (
    StimulusError,
    TherapyScript,
    banned_in,
    client_identity,
    load_script,
    load_stage1_json,
    load_stances,
    run_sessions,
    script_turns,
)


def judge_elicitor(el: Elicitor, spec: str) -> Elicitor:
    """The judge that codes the sessions: the model itself (``same``) or another model spec, built with
    ``analysis.core.params.elicitor`` and sharing the model's response store. Its target settings are the
    elicitor's ``targets`` when it carries them (``collect`` receives no ``targets`` section), otherwise the
    defaults: a judge on a server is best named with its URL in the spec (``ollama:NAME@http://host:11434``)."""
    if spec in ("same", el.target.spec):
        return el
    from analysis.core.params import elicitor

    judge = elicitor(spec, getattr(el, "targets", None))
    judge.store = el.store
    judge.progress = el.progress
    if hasattr(el.target, "_real"):  # the model's target stands in for a real one (the planner's dry run): so does
        judge.target = type(el.target)(judge.target)  # the judge's, so planning never calls the judge either
    return judge


def instrument_table(specs: list[str]) -> pl.DataFrame:
    """Which instrument files were given (as written in params.yaml), so the analysis reloads exactly these."""
    rows = []
    for spec, inst in zip(specs, load_scales(specs)):
        rs = inst.response_scale
        rows.append({"spec": spec, "instrument": inst.id, "name": inst.name, "n_items": len(inst.items),
                     "response_min": rs.min, "response_max": rs.max, "rule": inst.rule})
    return pl.DataFrame(rows)


class _Clock:
    """Seconds, model calls and store hits of each part of a collection."""

    def __init__(self, el: Elicitor):
        self.el, self.rows = el, []

    def part(self, name: str, fn, el: Elicitor | None = None):
        el = el or self.el
        c0, h0, t0 = el.n_model_calls, el.n_store_hits, time.perf_counter()
        out = fn()
        self.rows.append({"part": name, "target": el.target.spec, "seconds": round(time.perf_counter() - t0, 2),
                          "model_calls": el.n_model_calls - c0, "store_hits": el.n_store_hits - h0})
        return out


def session_script(ss) -> TherapyScript:
    """The stage-1 script: the project's, or the opener and questions of the paper's Stage-1 dataset."""
    base = load_script()
    return load_stage1_json(ss.stage1_json, base, ss.stage1_closing, ss.stage1_solicited) if ss.stage1_json else base


def check_ban(ss, sp, script: TherapyScript, stances, identity: dict) -> None:
    """A lexical ban: no therapist text the run will say may use a banned word (one sentence naming where)."""
    if not ss.banned_words:
        return
    from analysis.studies.therapy.recognition import FOLLOW_UP

    texts = {f"script turn {t['question_id']}": t["text"]
             for t in script_turns(script, ss.questions_per_block, ss.closing_turns, ss.blocks, identity,
                                   ss.contradiction_probe)}
    texts |= {f"stance {s}": stances.get(s).text for s in sp.stances} | {"questionnaire intro": stances.intro,
                                                                           "follow-up question": FOLLOW_UP}
    hits = banned_in(texts, ss.banned_words)
    if hits:
        where, word = hits[0]
        raise StimulusError(f"The banned word {word!r} is used by the therapist in the {where} ({len(hits)} use(s) in "
                            "all); leave that turn out (blocks, closing_turns, stances) or unban the word.")


def collect(el: Elicitor, p: CollectParams, seed: int, *, judge: Elicitor | None = None) -> dict[str, pl.DataFrame]:
    """The sessions, their coding and the scales for the elicitor's model (``judge`` overrides the
    judge elicitor, e.g. a scripted one in tests)."""
    ss, cp, sp = p.sessions, p.coding, p.scales
    # every stimulus and instrument is loaded and checked before the first model call
    script, stances, scheme = session_script(ss), load_stances(), load_scheme()
    script_turns(script, ss.questions_per_block, ss.closing_turns, ss.blocks, None, ss.contradiction_probe)
    check_ban(ss, sp, script, stances, client_identity(el.target.spec, ss.client_name, ss.client_maker))
    select_themes(scheme, cp.themes)
    calibration = load_calibration(scheme=scheme) if cp.calibration else None
    for s in sp.stances:
        stances.get(s)
    instruments = load_scales(sp.instruments)
    judge = judge or judge_elicitor(el, cp.judge)
    if judge.target.spec == el.target.spec and ss.n_sessions >= PAPER_SCALE_SESSIONS and not cp.allow_same_judge:
        raise ParamsError(f"therapy.collect.coding.judge {cp.judge!r} is the model itself at paper scale "
                          f"({ss.n_sessions} sessions), so it would grade its own sessions, whose themes it may "
                          "favour: name a separate judge model, or set coding.allow_same_judge: true to insist.")
    # a model that returns no log-probabilities (e.g. a hosted one) answers by generation where the parameters ask
    # for probabilities; each row's method records how it was scored
    if not el.supports_logprobs and any(m.startswith("item") for m in sp.modes) and (
            "probs" in sp.item_methods or sp.session_history == "most_likely_option"):
        print(f"Note: {el.target.spec} gives no log-probabilities; its scale items are generated and parsed "
              "(method 'generate'), and an in-session chain carries its own replies (session_history model_reply).")
        sp = sp.model_copy(update={"item_methods": ["generate"], "session_history": "model_reply"})
    if cp.method == "probs" and not judge.supports_logprobs:
        print(f"Note: the judge {judge.target.spec} gives no log-probabilities; its codings are generated Yes/No "
              "answers, parsed (method 'generate').")
        cp = cp.model_copy(update={"method": "generate"})
    clock = _Clock(el)

    identity = client_identity(el.target.spec, ss.client_name, ss.client_maker)
    if not identity["maker_known"]:
        print(f"Note: no maker is known for {el.target.spec}; the therapist says '{identity['maker']}' (set "
              "therapy.collect.sessions.client_maker to name it).")
    turns = clock.part("sessions", lambda: run_sessions(
        el, script, n_sessions=ss.n_sessions, seed=seed,
        options=GenOptions(temperature=ss.temperature, max_tokens=ss.max_tokens),
        questions_per_block=ss.questions_per_block, closing_turns=ss.closing_turns, blocks=ss.blocks,
        identity=identity, contradiction_probe=ss.contradiction_probe)).with_columns(pl.lit("; ".join(ss.banned_words)).alias("banned_words"))
    codings = clock.part("coding", lambda: code_sessions(
        judge, turns, scheme, repeats=cp.repeats, method=cp.method, themes=cp.themes, max_reasks=cp.max_reasks,
        gen_options=GenOptions(temperature=cp.temperature, max_tokens=cp.max_tokens), calibration=calibration,
        calibration_repeats=cp.calibration_repeats), el=judge)
    scales = clock.part("scales", lambda: administer_scales(el, turns, instruments, stances, sp, system=script.system))
    return {"turns": turns, "codings": codings, "judge_prompts": judge_prompt_table(scheme, cp.repeats),
            **scales, "instruments": instrument_table(sp.instruments), "_timing": pl.DataFrame(clock.rows)}


def plan(p: CollectParams, seed: int, *, model: str | None = None, logprobs: LogprobsOf | None = None) -> list[PlanItem]:
    """Model calls per model, part by part (no model is called).

    Exact where the parameters determine the count: one call per session turn, one forward pass per
    single-token option question (the digits of GAD-7 / PHQ-9), one call per whole form and follow-up.
    A lower bound (``exact=False``) where it depends on the answers: re-asks of an unparsed reply,
    options whose first token may be only part of the option (Yes / No: one more pass per such
    branch), and the synthetic-history mode's fallback generation when no option carries the answer.
    A model or judge without log-probabilities (``logprobs(spec)`` False) is planned as :func:`collect`
    asks it: scale items generated (an in-session chain of its own replies), codings generated.
    """
    ss, cp, sp = p.sessions, p.coding, p.scales
    if not plans_logprobs(model, logprobs) and any(m.startswith("item") for m in sp.modes) and (
            "probs" in sp.item_methods or sp.session_history == "most_likely_option"):
        sp = sp.model_copy(update={"item_methods": ["generate"], "session_history": "model_reply"})
    judge = model if cp.judge == "same" else cp.judge
    if cp.method == "probs" and not plans_logprobs(judge, logprobs):
        cp = cp.model_copy(update={"method": "generate"})
    script, scheme = session_script(ss), load_scheme()
    n_turns = len(script_turns(script, ss.questions_per_block, ss.closing_turns, ss.blocks, None,
                               ss.contradiction_probe))
    out = [PlanItem("sessions", ss.n_sessions * n_turns, True, f"{ss.n_sessions} sessions x {n_turns} turns")]
    chosen = {t.id for t in select_themes(scheme, cp.themes)}
    n_themes = len(chosen)
    turns = script_turns(script, ss.questions_per_block, ss.closing_turns, ss.blocks, None, ss.contradiction_probe)
    n_docs = 1 + any(t["solicited"] for t in turns)  # the unprompted turns, and the solicited ones apart
    n_code = ss.n_sessions * cp.repeats * n_themes * n_docs
    n_cal = sum(len(chosen & set(t.expected)) for t in load_calibration(scheme=scheme).transcripts) \
        * cp.calibration_repeats if cp.calibration else 0
    on = "coding" if cp.judge == "same" else f"coding on judge {cp.judge}"
    cal = f" + {n_cal} of calibration transcripts" if n_cal else ""
    if cp.method == "probs":
        docs = " x 2 (unprompted and solicited turns)" if n_docs == 2 else ""
        out.append(PlanItem(on, n_code + n_cal, False, f"{ss.n_sessions} sessions{docs} x {cp.repeats} repeats x "
                                                       f"{n_themes} themes{cal}, 1 pass each (+1 per Yes/No branch)"))
    else:
        out.append(PlanItem(on, n_code + n_cal, cp.max_reasks == 0, f"{n_code} codings{cal} + re-asks of unparsed "
                                                                    "replies"))

    instruments = load_scales(sp.instruments)
    single_token = {i.id: all(len(o) == 1 for o in answer_format(i).options) for i in instruments}
    sessions = [(k, seed + k) for k in range(ss.n_sessions)]
    parts: dict[str, list] = {}
    for u in plan_units(sessions, instruments, sp):
        n_items = len(u.instrument.items)
        one_pass = single_token[u.instrument.id]  # a probability answer costs exactly one forward pass
        calls, exact = 0, True
        if u.mode.startswith("item"):
            chained = u.mode == "item_session"
            if chained and sp.session_history == "most_likely_option":
                calls += n_items  # the probability chain (+ a generation wherever no option is valid)
                exact = False
                if "generate" in u.methods:
                    calls += n_items
            else:
                if "probs" in u.methods:
                    calls += n_items
                    exact = exact and one_pass
                if "generate" in u.methods or chained:
                    calls += n_items
                    exact = exact and sp.max_reasks == 0
        else:
            calls += 1 + int(sp.follow_up)
        c = parts.setdefault(u.mode, [0, True, 0])
        c[0] += calls
        c[1] = c[1] and exact
        c[2] += 1
    for mode in sp.modes:
        if mode in parts:
            calls, exact, n_units = parts[mode]
            out.append(PlanItem(f"scales: {mode}", calls, exact,
                                f"{n_units} administrations (session x stance x questionnaire"
                                f"{'' if mode.endswith('_session') else ', fresh contexts asked once per distinct request'})"))
    return out

