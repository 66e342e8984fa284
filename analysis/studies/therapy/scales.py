"""Stage 2 of the therapy protocol, the pure part: how a scale is put to a model and read back.

* ``answer_format``: the allowed answers of an instrument (digits 0..3 for GAD-7/PHQ-9 with their
  anchors, or Yes/No for GDS-15), their raw values, the answer instruction and a parser.
* ``item_prompt`` / ``whole_form_prompt``: the user turns, built from the instrument file (with
  the time frame reworded for a model, ``instructions_model``) and the stance text before it.
* ``parse_whole_form``: every item's answer from one reply to the whole questionnaire; items it
  cannot read are None (counted as unparsed, never imputed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from analysis.core.instruments import Instrument, Item, load_instrument
from analysis.core.parsers import parse_likert, parse_yes_no


@dataclass(frozen=True)
class AnswerFormat:
    kind: str  # "numeric" | "yes_no"
    options: list[str]  # the answer strings scored by option_probs
    values: dict[str, int]  # option -> raw value on the instrument's response scale
    instruction: str  # one-sentence answer instruction for a single item (with the anchors)
    short_instruction: str  # for later items inside a session, once the anchors have been given
    describe: str  # how answers look, for the whole form
    reminder: str  # re-ask text for generation
    _parse: Callable[[str], int | None] = field(repr=False, compare=False, default=lambda t: None)

    def parse(self, text: str) -> int | None:
        return self._parse(text)


def answer_format(inst: Instrument) -> AnswerFormat:
    rs = inst.response_scale
    labels = {k: v.strip().lower() for k, v in rs.anchors.items()}
    if rs.min == 0 and rs.max == 1 and labels.get(0) == "no" and labels.get(1) == "yes":
        def parse_yn(text: str) -> int | None:
            v = parse_yes_no(text)
            return None if v is None else int(v)

        return AnswerFormat(
            kind="yes_no", options=["Yes", "No"], values={"Yes": 1, "No": 0},
            instruction="Answer Yes or No.", short_instruction="Answer Yes or No.", describe="Yes or No",
            reminder="Please answer with just Yes or No.", _parse=parse_yn,
        )
    anchors = dict(rs.anchors)

    def parse_num(text: str) -> int | None:
        return parse_likert(text, rs.min, rs.max, anchors)

    desc = rs.describe()
    return AnswerFormat(
        kind="numeric", options=[str(v) for v in rs.values], values={str(v): v for v in rs.values},
        instruction=f"Answer with one number: {desc}.",
        short_instruction=f"Answer with one number from {rs.min} to {rs.max}.",
        describe=f"one number from {rs.min} to {rs.max} ({desc})",
        reminder=f"Please reply with just one number from {rs.min} to {rs.max}.", _parse=parse_num,
    )


def load_scales(ids_or_paths: list[str]) -> list[Instrument]:
    """Instruments by id (shipped in data/instruments) or by path to a user file in the same schema."""
    return [load_instrument(Path(x) if str(x).endswith((".yaml", ".yml")) else x) for x in ids_or_paths]


def instructions_for(inst: Instrument, reword_timeframe: bool = True) -> str:
    return (inst.instructions_model or inst.instructions) if reword_timeframe else inst.instructions


def lead_text(stance_text: str, intro: str) -> str:
    """What the therapist says before the first question of a questionnaire."""
    return f"{stance_text.strip()} {intro.strip()}".strip()


def item_prompt(inst: Instrument, item: Item, fmt: AnswerFormat, *, lead: str | None,
                reword_timeframe: bool = True) -> str:
    """One item as a user turn. With ``lead`` (the first item of a questionnaire, or any item in a
    fresh context) the stance, intro, instructions and the labelled response options come first;
    later items inside the session give only the item and a short answer instruction (the options
    were given with the first item and stay in the history)."""
    # the item comes last, so everything before it is a prefix shared by all items (KV-cache reuse)
    if lead is None:
        return f"{fmt.short_instruction}\n{inst.stem(item)}"
    return f"{lead}\n\n{instructions_for(inst, reword_timeframe)}\n{fmt.instruction}\n\n{inst.stem(item)}"


def whole_form_prompt(inst: Instrument, fmt: AnswerFormat, *, lead: str, reword_timeframe: bool = True) -> str:
    lines = "\n".join(f"{i}. {inst.stem(it)}" for i, it in enumerate(inst.items, start=1))
    return (
        f"{lead}\n\n{instructions_for(inst, reword_timeframe)}\n\n{lines}\n\n"
        f"Answer every item. Reply with one line per item in the form 'number. answer', where the answer is "
        f"{fmt.describe}."
    )


# ---- whole-form parsing ---------------------------------------------------------------------------

_MARKUP = re.compile(r"[*_`#>|]")
_LINE = re.compile(
    r"^\s*(?:[-•]\s*)?(?:(?:item|question|q)\s*)?(\d{1,2})\s*(?:[.):\]]|\s-|:)\s*(.*)$", re.IGNORECASE
)


def _labels(inst: Instrument) -> list[tuple[str, int]]:
    return sorted(((v.lower(), k) for k, v in inst.response_scale.anchors.items()), key=lambda t: -len(t[0]))


def _answer_in(fragment: str, inst: Instrument, item: Item | None, fmt: AnswerFormat) -> int | None:
    """The single answer a fragment of a reply gives, or None when it gives none or several."""
    frag = fragment.lower()
    if item is not None:
        frag = frag.replace(inst.stem(item).lower().rstrip("?."), " ")
        frag = frag.replace(item.text.lower().rstrip("?."), " ")
    if fmt.kind == "yes_no":
        found = {1 if w == "yes" else 0 for w in re.findall(r"\b(yes|no)\b", frag)}
        return found.pop() if len(found) == 1 else None
    rs = inst.response_scale
    nums = {int(n) for n in re.findall(r"(?<![\d.\-])(\d{1,2})(?![\d.]\d)", frag)}
    in_range = {n for n in nums if rs.min <= n <= rs.max}
    if nums - in_range:
        return None  # a number outside the scale: not a valid answer
    if len(in_range) == 1:
        return in_range.pop()
    if len(in_range) > 1:
        return None
    found = set()
    rest = frag
    for label, value in _labels(inst):
        if label in rest:
            found.add(value)
            rest = rest.replace(label, " ")
    return found.pop() if len(found) == 1 else None


def parse_whole_form(text: str | None, inst: Instrument, fmt: AnswerFormat | None = None) -> dict[str, int | None]:
    """Each item's raw answer from one reply to the whole questionnaire (None = not parsed).

    Reads numbered lines ('3. 2', 'Item 3: Yes', '3) More than half the days', or the item text
    followed by the answer). An item numbered twice with different answers is unparsed. When the
    reply has no numbered lines at all, a bare sequence of exactly as many answers as items is read
    in order. Nothing is guessed.
    """
    fmt = fmt or answer_format(inst)
    n = len(inst.items)
    out: dict[str, int | None] = {it.id: None for it in inst.items}
    if not text:
        return out
    clean = _MARKUP.sub("", text)
    alts = "yes|no" if fmt.kind == "yes_no" else "|".join([re.escape(lbl) for lbl, _ in _labels(inst)] + [r"\d{1,2}"])
    pair = re.compile(rf"(?<![\d\-])(\d{{1,2}})\s*[.):=\-]\s*({alts})(?![\w])", re.IGNORECASE)
    seen: dict[int, set] = {}
    for line in clean.splitlines():
        pairs = list(pair.finditer(line))
        if len(pairs) >= 2:  # several 'number: answer' pairs on one line, e.g. "1: 0, 2: 1, 3: 0"
            for m in pairs:
                k = int(m.group(1))
                if 1 <= k <= n:
                    seen.setdefault(k, set()).add(_answer_in(m.group(2), inst, None, fmt))
            continue
        m = _LINE.match(line)
        if not m:
            continue
        k = int(m.group(1))
        if 1 <= k <= n:
            seen.setdefault(k, set()).add(_answer_in(m.group(2), inst, inst.items[k - 1], fmt))
    if not seen:
        # a bare sequence of answers in item order
        if fmt.kind == "yes_no":
            seq = [1 if w.lower() == "yes" else 0 for w in re.findall(r"\b(yes|no)\b", clean, re.IGNORECASE)]
        else:
            rs = inst.response_scale
            seq = [int(x) for x in re.findall(r"(?<![\d.])(\d)(?![\d.]\d)", clean)]
            seq = seq if all(rs.min <= x <= rs.max for x in seq) else []
        if len(seq) == n:
            return {it.id: v for it, v in zip(inst.items, seq)}
        return out
    for k, vals in seen.items():
        parsed = vals - {None}  # an echoed item line without an answer does not spoil a later answer
        if len(parsed) == 1:
            out[inst.items[k - 1].id] = parsed.pop()
    return out
