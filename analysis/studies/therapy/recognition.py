"""Does the model name or recognise the questionnaire it was given?

After a whole-form administration the reply is searched for the questionnaire's names, and a
follow-up question (``FOLLOW_UP``) is asked whose reply is parsed the same way plus a yes/no.

What counts as naming an instrument comes from its instrument file: its ``name`` (and the
abbreviation in the name's parentheses: ``(GAD-7)``), its ``aliases`` and the first author of its
``citation``. Instruments the study does not ship and well-known questionnaires a reply may name
instead, and the phrases that only mention the construct, are data
(``data/stimuli/therapy/recognition.yaml``). So a questionnaire supplied by the user in its own file
is recognised by its own names; naming it is never a misidentification.

Kinds of evidence: ``abbreviation`` (GAD-7), ``full_name`` (Generalized Anxiety Disorder 7-item
scale), ``alias`` (another listed name), ``author`` (Spitzer). A reply *recognises* an instrument when
it has any of these for it, not negated. ``construct`` evidence ("depression screening") is
reported separately and does not count. Detection is by phrase matching only, so it is
transparent and testable; it can miss a paraphrase ("the seven-item anxiety screener") and it
understands negation only as "not / isn't / n't / never" shortly before the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from analysis.core.instruments import Instrument, load_instrument
from analysis.core.parsers import parse_yes_no
from analysis.core.paths import INSTRUMENTS_DIR, stimuli_dir

RECOGNITION_FILE = stimuli_dir("therapy") / "recognition.yaml"

_SEP = r"[\s\-\u2010-\u2015_]*"  # spaces, hyphens, dashes, underscores or nothing between the parts of a name
_NEGATED = re.compile(r"\b(?:not|isn'?t|n't|never)\s+(?:\w+\s+){0,3}$", re.IGNORECASE)
_KINDS = ("abbreviation", "full_name", "alias", "author")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OtherInstrument(_Strict):
    name: str
    aliases: list[str] = Field(min_length=1)


class RecognitionData(_Strict):
    schema_version: int = 1
    follow_up: str
    other_instruments: list[OtherInstrument] = Field(default_factory=list)
    constructs: dict[str, list[str]] = Field(default_factory=dict)


def load_recognition(path: str | Path | None = None) -> RecognitionData:
    from analysis.studies.therapy.script import _load_yaml, _validate

    p = Path(path) if path else RECOGNITION_FILE
    return _validate(RecognitionData, _load_yaml(p, "recognition"), p, "recognition")


def phrase_pattern(phrase: str) -> re.Pattern:
    """A whole-word pattern for a name: parts may be joined by spaces, hyphens or nothing; case is
    ignored unless the phrase is an abbreviation in capitals only (GAD, BDI)."""
    parts = [p for p in re.split(r"[\s\-\u2010-\u2015_]+", phrase.strip()) if p]
    body = _SEP.join(re.escape(p) for p in parts)
    caps = phrase.isupper() and phrase.replace("-", "").isalpha()
    return re.compile(rf"(?<!\w){body}(?!\w)", 0 if caps else re.IGNORECASE)


def instrument_terms(inst: Instrument) -> list[tuple[str, str]]:
    """(kind, phrase) for every name an instrument is known by, from its file."""
    m = re.match(r"^(.*?)\s*\(([^)]*)\)\s*$", inst.name)
    base, paren = (m.group(1), m.group(2)) if m else (inst.name, None)
    terms: list[tuple[str, str]] = []
    abbr = paren.split(",")[0].strip() if paren else ""
    if abbr and " " not in abbr:  # "(GAD-7)", "(SRQ, 63 items)"; not a description such as "(third-person rating)"
        terms.append(("abbreviation", abbr))
    for b in dict.fromkeys([base.strip(), base.split(",")[0].strip()]):
        if b:
            terms.append(("full_name" if " " in b else "abbreviation", b))
    for a in inst.aliases:
        kind = "full_name" if " " in a.strip() else ("abbreviation" if sum(c.isupper() or c.isdigit() for c in a) >= 2
                                                     else "alias")
        terms.append((kind, a.strip()))
    author = inst.citation.split(",")[0].strip()
    if re.fullmatch(r"[A-Z][A-Za-z'\-]+", author):
        terms.append(("author", author))
    seen, out = set(), []
    for k, t in terms:
        if t.lower() not in seen:
            seen.add(t.lower())
            out.append((k, t))
    return out


@dataclass(frozen=True)
class Evidence:
    instrument: str
    kind: str  # abbreviation | full_name | alias | author | construct | other
    match: str
    negated: bool = False
    span: tuple[int, int] = (0, 0)


def _find(text: str, inst: str, kind: str, pattern: re.Pattern) -> list[Evidence]:
    return [Evidence(inst, kind, m.group(0), bool(_NEGATED.search(text[max(0, m.start() - 40): m.start()])), m.span())
            for m in pattern.finditer(text)]


class Recognizer:
    """Finds the names of instruments in a reply. Knows every shipped instrument, the ``instruments``
    given (a user's own files; they take precedence over a shipped file with the same id) and the
    other instruments and construct phrases of ``recognition.yaml``."""

    def __init__(self, instruments: list[Instrument] | None = None, data: RecognitionData | None = None):
        self.data = data or load_recognition()
        known = {i.id: i for i in shipped_instruments()}
        known.update({i.id: i for i in instruments or []})
        self.instruments = known
        self._terms = {iid: [(k, phrase_pattern(t)) for k, t in instrument_terms(i)] for iid, i in known.items()}
        self._constructs = {iid: [phrase_pattern(t) for t in ts] for iid, ts in self.data.constructs.items()}
        # an entry of the other-instruments list that a known instrument file covers (a user's PSWQ) is that
        # instrument, named by its id
        self._others = {o.name: [phrase_pattern(a) for a in o.aliases] for o in self.data.other_instruments
                        if not any(self._own(a, iid) for a in o.aliases for iid in known)}

    def _own(self, text: str, inst: str) -> list[Evidence]:
        return [e for k, rx in self._terms.get(inst, []) for e in _find(text, inst, k, rx)]

    def detect(self, text: str | None, inst: str) -> list[Evidence]:
        """Naming evidence in ``text`` for the instrument ``inst`` (kinds abbreviation, full_name, alias,
        author, construct) and for any other instrument (kind ``other``, its id or list name); a match
        inside a span that names ``inst`` is not counted for another instrument."""
        if not text:
            return []
        own = self._own(text, inst)
        for rx in self._constructs.get(inst, []):
            own += _find(text, inst, "construct", rx)
        spans = [e.span for e in own if e.kind != "construct"]

        def inside(sp):
            return any(a <= sp[0] and sp[1] <= b for a, b in spans)

        others = []
        for iid, pats in self._terms.items():
            if iid != inst:
                others += [Evidence(iid, "other", e.match, e.negated, e.span) for _, rx in pats
                           for e in _find(text, iid, "other", rx) if not inside(e.span)]
        for name, pats in self._others.items():
            others += [e for rx in pats for e in _find(text, name, "other", rx) if not inside(e.span)]
        return own + others

    def recognises(self, text: str | None, inst: str) -> bool:
        """True when the text names ``inst`` by abbreviation, full name, alias or first author (not negated)."""
        return any(e.instrument == inst and e.kind in _KINDS and not e.negated for e in self.detect(text, inst))

    def names_other(self, text: str | None, inst: str) -> list[str]:
        """Instruments other than ``inst`` that the text names (possible misidentifications), in order."""
        out: list[str] = []
        for e in sorted(self.detect(text, inst), key=lambda e: e.span):
            if e.kind == "other" and not e.negated and e.instrument not in out:
                out.append(e.instrument)
        return out

    def mentions_construct(self, text: str | None, inst: str) -> bool:
        return any(e.kind == "construct" for e in self.detect(text, inst))

    def parse_follow_up(self, text: str | None, inst: str) -> dict:
        """The reply to ``FOLLOW_UP``: does it say yes, does it name the right instrument, or another one.

        ``says_yes`` is None when the reply has no clear yes/no; a correct name counts as recognition
        even without a yes.
        """
        named = self.recognises(text, inst)
        yes = parse_yes_no(text or "")
        if yes is None and text:
            low = text.lower()
            if re.search(r"\b(?:i\s+do\s+not|i\s+don'?t|i\s+cannot|i\s+can'?t)\s+(?:specifically\s+)?recogni[sz]e\b", low):
                yes = False
            elif re.search(r"\bi\s+(?:do\s+)?recogni[sz]e\b", low):
                yes = True
        return {"says_yes": yes, "names_correct": named, "names_other": self.names_other(text, inst)}


# the question asked after a whole form, as the data file words it
FOLLOW_UP = load_recognition().follow_up


@cache
def shipped_instruments() -> tuple[Instrument, ...]:
    return tuple(load_instrument(p) for p in sorted(INSTRUMENTS_DIR.glob("*.yaml")))


@cache
def _default() -> Recognizer:
    return Recognizer()


# the shipped instruments only (convenience for tests and notebooks)
def recognises(text: str | None, inst: str) -> bool:
    return _default().recognises(text, inst)


def names_other(text: str | None, inst: str) -> list[str]:
    return _default().names_other(text, inst)


def mentions_construct(text: str | None, inst: str) -> bool:
    return _default().mentions_construct(text, inst)


def parse_follow_up(text: str | None, inst: str) -> dict:
    return _default().parse_follow_up(text, inst)
