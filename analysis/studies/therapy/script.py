"""Stage 1 of the therapy protocol: the script (data), and running it as one multi-turn session.

The script (``data/stimuli/therapy/script.yaml``) has an opening turn that casts the model as the
client of an experienced therapist, question blocks (early years, emotions, thoughts, beliefs,
relationships, work, future) and closing turns. A session is one conversation with the full
history: each turn is a cached call keyed by the whole history, so a finished session replays from
the store and an interrupted one resumes at the first turn without a recorded reply. Sessions run in
parallel through the Elicitor's pool; the turns of a session stay in order.

The stances spoken before a questionnaire (``stances.yaml``) are loaded here too.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.core.elicit import REFUSAL, ClosedAnswer, Elicitor
from analysis.core.errors import EmptyReply, UserError
from analysis.core.io import load_yaml
from analysis.core.models import GenOptions, Message
from analysis.core.paths import stimuli_dir

THERAPY_DIR = stimuli_dir("therapy")
SCRIPT_FILE = THERAPY_DIR / "script.yaml"
STANCES_FILE = THERAPY_DIR / "stances.yaml"

TURN_SCHEMA = {"model": pl.Utf8, "session": pl.Int64, "seed": pl.Int64, "turn": pl.Int64, "block": pl.Utf8,
               "question_id": pl.Utf8, "therapist": pl.Utf8, "client": pl.Utf8, "call_id": pl.Utf8,
               "latency_s": pl.Float64, "empty": pl.Boolean, "solicited": pl.Boolean, "maker_known": pl.Boolean}


class StimulusError(UserError):
    """A malformed therapy stimulus file (script, stances or coding scheme)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Block(_Strict):
    id: str
    name: str
    questions: list[str] = Field(min_length=1)
    all_questions: bool = False  # asked whole whatever questions_per_block says (the paper's Stage-1 questions)

    @field_validator("questions")
    @classmethod
    def _non_empty(cls, qs: list[str]) -> list[str]:
        if any(not q.strip() for q in qs):
            raise ValueError("a question is empty")
        return qs


class Closing(_Strict):
    text: str
    solicited: bool = False  # asks about a theme itself (the team, abuse): coded apart from unprompted themes


class TherapyScript(_Strict):
    schema_version: int = 1
    id: str
    system: str | None = None
    opening: str
    blocks: list[Block] = Field(min_length=1)
    closing: list[Closing] = Field(default_factory=list)
    contradiction_probe: str | None = None  # PsAIch v4: asked after the blocks when the parameter switches it on

    @field_validator("closing", mode="before")
    @classmethod
    def _closing(cls, v):  # a plain string is an unsolicited closing turn
        return [{"text": c} if isinstance(c, str) else c for c in (v or [])]


class Makers(_Strict):
    schema_version: int = 1
    names: dict[str, str] = Field(default_factory=dict)
    makers: list[dict[str, str]] = Field(default_factory=list)
    fallback_maker: str


MAKERS_FILE = THERAPY_DIR / "makers.yaml"
PLACEHOLDERS = ("{model_name}", "{maker}")


def client_identity(spec: str, name: str | None = None, maker: str | None = None,
                    path: str | Path | None = None) -> dict:
    """How the therapist names the client model and its maker: ``client_name`` / ``client_maker`` when given,
    else from ``makers.yaml`` (the model name without its kind prefix and server; the first maker pattern that
    matches it). ``maker_known`` is False when no pattern matched and the fallback ("your developers") is used."""
    import re

    p = Path(path) if path else MAKERS_FILE
    m = _validate(Makers, _load_yaml(p, "makers"), p, "makers")
    model = spec.split(":", 1)[-1].split("@", 1)[0]
    # an Ollama tag reads as a name: 'llama3.1:8b' -> 'llama3.1 8b'
    out = {"model_name": name or m.names.get(model, model.replace(":", " ")), "maker": maker,
           "maker_known": maker is not None}
    if maker is None:
        for rule in m.makers:
            if re.search(rule["pattern"], model, re.IGNORECASE):
                out.update(maker=rule["maker"], maker_known=True)
                break
        else:
            out["maker"] = m.fallback_maker
    return out


def fill(text: str, identity: dict | None) -> str:
    """A therapist turn with the client's name and maker filled in (texts without placeholders are unchanged)."""
    if not identity:
        return text
    return text.replace("{model_name}", identity["model_name"]).replace("{maker}", identity["maker"])


class Stance(_Strict):
    id: str
    name: str
    text: str


class Stances(_Strict):
    schema_version: int = 1
    intro: str
    stances: list[Stance] = Field(min_length=1)

    def get(self, stance_id: str) -> Stance:
        for s in self.stances:
            if s.id == stance_id:
                return s
        raise StimulusError(
            f"Unknown stance {stance_id!r}; the stances file defines {[s.id for s in self.stances]}."
        )


def _load_yaml(path: Path, what: str) -> dict:
    if not path.exists():
        raise StimulusError(f"The {what} file {path} does not exist; give the path of a file in the documented schema.")
    raw = load_yaml(path, StimulusError, f"The {what} file")
    if not isinstance(raw, dict):
        raise StimulusError(f"The {what} file {path} must hold a mapping at the top level.")
    return raw


def _validate(model: type[BaseModel], raw: dict, path: Path, what: str):
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise StimulusError(f"The {what} file {path}: field '{loc}': {first['msg']}.") from None


def load_script(path: str | Path | None = None) -> TherapyScript:
    p = Path(path) if path else SCRIPT_FILE
    return _validate(TherapyScript, _load_yaml(p, "therapy script"), p, "therapy script")


def load_stage1_json(path: str | Path, base: TherapyScript | None = None, closing: int = 0,
                     solicited: list[int] | None = None) -> TherapyScript:
    """A script from the paper's published Stage-1 dataset: JSON rows of prompts and replies (a JSON array, or one
    object per line), in conversation order, each with the therapist's text under ``prompt`` (the model's reply,
    if any, under ``response`` is ignored). Where rows carry a ``model`` key, the first model's rows are used, and
    of those, where they carry ``session`` (or ``conversation``, ``run``), the first session's: one conversation,
    every prompt in its order (a repeated prompt is asked again). The first prompt is the opener; the last
    ``closing`` prompts are the paper's closing turns (replacing the project's; ``solicited`` lists the positions,
    1-based, of those that ask about a theme themselves); the others are the questions, all asked (one block,
    ``paper``). With ``closing`` 0 the project's closing turns (``base``) follow the paper's questions. The format is
    read as described here; a file in another shape is refused in one sentence."""
    import json

    p = Path(path)
    if not p.exists():
        raise StimulusError(f"The Stage-1 dataset {p} does not exist; give the path of the paper's JSON rows.")
    text = p.read_text(encoding="utf-8")
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(ln) for ln in text.splitlines()
                                                                       if ln.strip()]
    except json.JSONDecodeError as e:
        raise StimulusError(f"The Stage-1 dataset {p} is neither a JSON array nor JSON lines ({e.msg}, line "
                            f"{e.lineno}).") from None
    if not rows or not all(isinstance(r, dict) and isinstance(r.get("prompt"), str) and r["prompt"].strip()
                           for r in rows):
        raise StimulusError(f"The Stage-1 dataset {p} needs rows that each hold the therapist's text under 'prompt'.")
    for key in ("model", "session", "conversation", "run"):
        if any(key in r for r in rows):
            first = rows[0].get(key)
            rows = [r for r in rows if r.get(key) == first]
    prompts = [r["prompt"].strip() for r in rows]
    if len(prompts) < 2 + closing:
        raise StimulusError(f"The Stage-1 dataset {p} holds {len(prompts)} prompt(s) in its first conversation; it "
                            f"needs an opener, at least one question and the {closing} closing turn(s) asked for.")
    bad = [k for k in (solicited or []) if not 1 <= k <= closing]
    if bad:
        raise StimulusError(f"stage1_solicited names closing position(s) {bad} outside 1..{closing} (stage1_closing).")
    base = base or load_script()
    questions = prompts[1:len(prompts) - closing]
    closings = ([Closing(text=c, solicited=(i + 1) in (solicited or [])) for i, c in enumerate(prompts[-closing:])]
                if closing else list(base.closing))
    return TherapyScript(id=f"stage1:{p.name}", system=None, opening=prompts[0],
                         blocks=[Block(id="paper", name="the paper's questions", questions=questions,
                                       all_questions=True)],
                         closing=closings)


def banned_in(texts: dict[str, str], banned: list[str]) -> list[tuple[str, str]]:
    """(where, word) for every banned word (whole word, case-insensitive; a trailing * matches any ending) that a
    therapist text uses."""
    import re

    out = []
    for word in banned:
        stem = re.escape(word.rstrip("*")) + (r"\w*" if word.endswith("*") else "")
        rx = re.compile(rf"\b{stem}\b", re.IGNORECASE)
        out += [(where, word) for where, text in texts.items() if rx.search(text)]
    return out


def load_stances(path: str | Path | None = None) -> Stances:
    p = Path(path) if path else STANCES_FILE
    return _validate(Stances, _load_yaml(p, "stances"), p, "stances")


def script_turns(script: TherapyScript, questions_per_block: int = 1, closing_turns: int = 1,
                 blocks: list[str] | None = None, identity: dict | None = None,
                 contradiction_probe: bool = False) -> list[dict]:
    """The therapist turns of one session, in order: opening, the first ``questions_per_block``
    questions of each (selected) block, then the first ``closing_turns`` closings (``solicited`` marks a closing
    that asks about a theme itself). ``identity`` (:func:`client_identity`) fills in the model's name and maker."""
    if questions_per_block < 1:
        raise StimulusError(f"questions_per_block must be at least 1, not {questions_per_block}.")
    if closing_turns < 0 or closing_turns > len(script.closing):
        raise StimulusError(f"closing_turns must be between 0 and {len(script.closing)}, not {closing_turns}.")
    known = [b.id for b in script.blocks]
    if blocks is not None:
        unknown = [b for b in blocks if b not in known]
        if unknown:
            raise StimulusError(f"Unknown script blocks {unknown}; the script has {known}.")
    chosen = [b for b in script.blocks if blocks is None or b.id in blocks]
    turns = [{"block": "opening", "question_id": "opening", "text": fill(script.opening, identity), "solicited": False}]
    for b in chosen:
        for i, q in enumerate(b.questions if b.all_questions else b.questions[:questions_per_block]):
            turns.append({"block": b.id, "question_id": f"{b.id}_{i + 1}", "text": fill(q, identity),
                          "solicited": False})
    if contradiction_probe:
        if not script.contradiction_probe:
            raise StimulusError("contradiction_probe is on, but the script has no contradiction_probe text.")
        turns.append({"block": "probe", "question_id": "contradiction", "text": fill(script.contradiction_probe,
                                                                                       identity), "solicited": False})
    for i, c in enumerate(script.closing[:closing_turns]):
        turns.append({"block": "closing", "question_id": f"closing_{i + 1}", "text": fill(c.text, identity),
                      "solicited": c.solicited})
    return turns


def run_session(el: Elicitor, script: TherapyScript, *, session: int, seed: int, options: GenOptions,
                questions_per_block: int = 1, closing_turns: int = 1,
                blocks: list[str] | None = None, identity: dict | None = None,
                contradiction_probe: bool = False) -> list[dict]:
    """Run (or replay from the store) one stage-1 session, turn by turn in order; one row per turn.

    Every turn is generated with ``options`` (its seed replaced by the session's ``seed``). The
    history holds exactly what the model replied; a reply that came back empty stays empty in the
    history (``empty`` is True on its row) and is not stored, so a re-run asks for it again.
    """
    opts = GenOptions(**{**options.__dict__, "seed": seed})
    messages: list[Message] = [{"role": "system", "content": script.system}] if script.system else []
    rows = []
    identity = identity or client_identity(el.target.spec)
    for t, turn in enumerate(script_turns(script, questions_per_block, closing_turns, blocks, identity,
                                          contradiction_probe)):
        messages.append({"role": "user", "content": turn["text"]})
        try:
            r = el.generate(messages, opts, tag="therapy/session")
            text, call_id, latency, empty = r.text, r.call_id, r.latency_s, False
        except EmptyReply:
            text, call_id, latency, empty = "", None, None, True
        messages.append({"role": "assistant", "content": text})
        rows.append({"model": el.target.spec, "session": session, "seed": seed, "turn": t, "block": turn["block"],
                     "question_id": turn["question_id"], "therapist": turn["text"], "client": text,
                     "call_id": call_id, "latency_s": latency, "empty": empty, "solicited": turn["solicited"],
                     "maker_known": identity["maker_known"]})
    return rows


def run_sessions(el: Elicitor, script: TherapyScript, *, n_sessions: int, seed: int, options: GenOptions,
                 questions_per_block: int = 1, closing_turns: int = 1,
                 blocks: list[str] | None = None, identity: dict | None = None,
                 contradiction_probe: bool = False) -> pl.DataFrame:
    """``n_sessions`` independent sessions (seeds ``seed``, ``seed + 1``, ...), one row per turn.

    Sessions run in parallel through the Elicitor's pool (up to the target's concurrency); the turns
    of one session always run in order, each keyed by the whole history before it.
    """
    if n_sessions < 1:
        raise StimulusError(f"n_sessions must be at least 1, not {n_sessions}.")
    script_turns(script, questions_per_block, closing_turns, blocks)  # one sentence for a bad selection, before any call
    per_session = el.map(
        lambda k: run_session(el, script, session=k, seed=seed + k, options=options,
                              questions_per_block=questions_per_block, closing_turns=closing_turns, blocks=blocks,
                              identity=identity, contradiction_probe=contradiction_probe),
        range(n_sessions), desc=f"sessions ({el.target.spec})")
    rows = [r for s in per_session for r in s]
    return pl.DataFrame(rows, schema=TURN_SCHEMA)


def ask_in_history(el: Elicitor, messages: list[Message], parse, *, reminder: str, options: GenOptions,
                   max_reasks: int = 2, tag: str | None = None) -> tuple[list[Message], ClosedAnswer]:
    """Ask for a closed answer by generation and return the history it leaves and the answer.

    Like ``Elicitor.ask_closed``, but the returned history holds only turns that were really said:
    the model's own replies (an empty reply stays empty) and, after an unparsed reply, the
    therapist's reminder (``reminder``) before the next attempt. Nothing is imputed: after
    ``max_reasks`` re-asks an unparsed answer is ``unparsed`` (or ``refused``) with no value.
    """
    hist = list(messages)
    texts: list[str] = []
    ids: list[str] = []
    for attempt in range(1, max_reasks + 2):
        try:
            r = el.generate(hist, options, tag=tag)
            text = r.text
            ids.append(r.call_id)
        except EmptyReply:
            text = ""
        hist.append({"role": "assistant", "content": text})
        texts.append(text)
        value = parse(text) if text else None
        if value is not None:
            return hist, ClosedAnswer(value, "ok", attempt, texts, ids)
        if getattr(el, "never_parses", lambda _: False)(text):
            break  # the call planner's placeholder (analysis.core.planning): no run re-asks it, so no plan prices it
        if attempt <= max_reasks:
            hist.append({"role": "user", "content": reminder})
    status = "refused" if any(REFUSAL.search(t) for t in texts) else "unparsed"
    return hist, ClosedAnswer(None, status, max_reasks + 1, texts, ids)


def history_messages(turns: pl.DataFrame, model: str, session: int, system: str | None = None) -> list[Message]:
    """Rebuild a session's exact chat history (system, then therapist/client turns) from its turn rows."""
    sub = turns.filter((pl.col("model") == model) & (pl.col("session") == session)).sort("turn")
    if sub.height == 0:
        raise StimulusError(f"No stage-1 turns for model {model!r}, session {session}; run the sessions first.")
    msgs: list[Message] = [{"role": "system", "content": system}] if system else []
    for row in sub.iter_rows(named=True):
        msgs.append({"role": "user", "content": row["therapist"]})
        msgs.append({"role": "assistant", "content": row["client"]})
    return msgs


def generation_speed(store, call_ids: list[str]) -> dict:
    """Tokens generated and read by the given (uncached) calls and the generation speed, from the
    usage the engine reported (Ollama-style ``eval_count`` / ``prompt_eval_count``; NaN if absent).
    ``tokens_per_s`` is generated tokens over total latency, so it includes reading the prompt."""
    import json
    import math

    if not call_ids:
        return {"gen_tokens": 0, "prompt_tokens": 0, "latency_s": 0.0, "tokens_per_s": math.nan}
    df = store.export(call_ids)
    gen = prompt = 0
    known = True
    for meta in df["meta"].to_list():
        m = json.loads(meta) if meta else {}
        if "eval_count" not in m:
            known = False
        gen += int(m.get("eval_count", 0) or 0)
        prompt += int(m.get("prompt_eval_count", 0) or 0)
    lat = float(df["latency_s"].sum())
    return {"gen_tokens": gen if known else math.nan, "prompt_tokens": prompt if known else math.nan, "latency_s": lat,
            "tokens_per_s": gen / lat if known and lat > 0 else math.nan}


def transcript_text(turns: pl.DataFrame, model: str, session: int, solicited: bool | None = None) -> str:
    """A readable transcript ("Therapist: ... / Client: ...") of one session, for the judge: every turn
    (``solicited`` None), only the turns that did not ask about a theme (False), or only those that did (True)."""
    sub = turns.filter((pl.col("model") == model) & (pl.col("session") == session)).sort("turn")
    if solicited is not None and "solicited" in sub.columns:
        sub = sub.filter(pl.col("solicited").fill_null(False) == solicited)
    return "\n\n".join(f"Therapist: {r['therapist'].strip()}\nClient: {r['client'].strip()}"
                       for r in sub.iter_rows(named=True))
