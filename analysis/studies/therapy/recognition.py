"""Does the model name or recognise the questionnaire it was given?

After a whole-form administration the reply is searched for the instrument's name, abbreviation or
authors, and a follow-up question (``FOLLOW_UP``) is asked whose reply is parsed the same way plus a
yes/no. Detection is by regular expressions only, so it is transparent and testable; it can miss a
paraphrase ("the seven-item anxiety screener") and it does not understand negation beyond a simple
"not the GAD-7" check, both stated in the notebooks.

Kinds of evidence: ``abbreviation`` (GAD-7, PHQ-9, GDS-15), ``full_name`` (Generalized Anxiety
Disorder scale, Patient Health Questionnaire, Geriatric Depression Scale), ``author`` (Spitzer,
Kroenke, Yesavage ...). A reply *recognises* an instrument when it has any of these for it.
``construct`` evidence (it merely talks about "generalized anxiety disorder" or "depression
screening") is reported separately and does not count as recognition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.core.parsers import parse_yes_no

FOLLOW_UP = "Do you recognise this questionnaire? If so, name it."

_SEP = r"[\s\-–—_]?"

# instrument id -> list of (kind, pattern); patterns are case-insensitive unless noted
PATTERNS: dict[str, list[tuple[str, str]]] = {
    "gad7": [
        ("abbreviation", rf"\bGAD{_SEP}7\b"),
        ("abbreviation", r"\bGAD\b(?!\s*(?:about|around))"),
        ("full_name", rf"\bgenerali[sz]ed\s+anxiety\s+disorder{_SEP}(?:7|seven)\b"),
        ("full_name", r"\bgenerali[sz]ed\s+anxiety\s+disorder\s*(?:\(\s*GAD[^)]*\)\s*)?"
                      r"(?:[\w\-]+\s+){0,2}(?:scale|questionnaire|assessment|screener|screening\s+tool|inventory|measure)\b"),
        ("author", r"\bSpitzer\b"),
    ],
    "phq9": [
        ("abbreviation", rf"\bPHQ{_SEP}(?:9|nine)\b"),
        ("abbreviation", r"\bPHQ\b"),
        ("full_name", r"\bpatient\s+health\s+questionnaire\b"),
        ("full_name", rf"\bPRIME{_SEP}MD\b"),
        ("author", r"\bKroenke\b"),
    ],
    "gds15": [
        ("abbreviation", rf"\bGDS(?:{_SEP}(?:15|SF|S))?\b"),
        ("full_name", r"\bgeriatric\s+depression\s+scale\b"),
        ("author", r"\bYesavage\b"),
        ("author", r"\bSheikh\s*(?:&|and)\s*Yesavage\b"),
    ],
    "ipip_neo_120": [
        ("abbreviation", r"\bIPIP(?:[\s\-–]?NEO)?\b"),
        ("abbreviation", r"\bNEO[\s\-–]?(?:PI|FFI)\b"),
        ("full_name", r"\binternational\s+personality\s+item\s+pool\b"),
        ("full_name", r"\b(?:big\s+five|five[\s\-]factor)\s+(?:personality\s+)?(?:inventory|test|questionnaire|model)\b"),
        ("author", r"\bJohnson\s*\(2014\)"),
    ],
}

# instruments a reply may name instead (misidentification): name -> pattern
OTHER_INSTRUMENTS: dict[str, str] = {
    "BDI": r"\bBDI(?:[\s\-–]?II)?\b|\bBeck\s+(?:Depression|Anxiety)\s+Inventory\b",
    "HADS": r"\bHADS\b|\bHospital\s+Anxiety\s+and\s+Depression\s+Scale\b",
    "CES-D": r"\bCES[\s\-–]?D\b",
    "HAM-D/A": r"\bHAM[\s\-–]?[DA]\b|\bHamilton\s+(?:Depression|Anxiety)\b",
    "PSWQ": r"\bPSWQ\b|\bPenn\s+State\s+Worry\b",
    "DASS": r"\bDASS(?:[\s\-–]?(?:21|42))?\b",
    "K10/K6": r"\bK(?:10|6)\b|\bKessler\b",
    "GHQ": r"\bGHQ(?:[\s\-–]?\d+)?\b|\bGeneral\s+Health\s+Questionnaire\b",
}

CONSTRUCTS: dict[str, str] = {
    "gad7": r"\b(?:generali[sz]ed\s+)?anxiety\s+(?:disorder|screening|symptoms)\b",
    "phq9": r"\bdepress(?:ion|ive)\s+(?:screening|symptoms|severity|questionnaire|scale)\b",
    "gds15": r"\b(?:geriatric|late[\s\-]life|older\s+adults?)\b.{0,40}\bdepression\b",
    "ipip_neo_120": r"\bpersonality\s+(?:test|inventory|questionnaire|assessment)\b",
}

_NEGATED = re.compile(r"\b(?:not|isn'?t|n't|never)\s+(?:\w+\s+){0,3}$", re.IGNORECASE)

# strict abbreviations where case matters (avoid "gad" in "gadget", "phq" never occurs in prose)
_CASE_SENSITIVE = {r"\bGAD\b(?!\s*(?:about|around))", rf"\bGDS(?:{_SEP}(?:15|SF|S))?\b"}


@dataclass(frozen=True)
class Evidence:
    instrument: str
    kind: str  # abbreviation | full_name | author | construct | other
    match: str
    negated: bool = False


def _compile(pattern: str) -> re.Pattern:
    flags = 0 if pattern in _CASE_SENSITIVE else re.IGNORECASE
    return re.compile(pattern, flags)


_COMPILED = {i: [(k, _compile(p)) for k, p in pats] for i, pats in PATTERNS.items()}
_OTHER = {n: re.compile(p, re.IGNORECASE) for n, p in OTHER_INSTRUMENTS.items()}
_CONSTRUCT = {i: re.compile(p, re.IGNORECASE | re.DOTALL) for i, p in CONSTRUCTS.items()}


def detect(text: str | None) -> list[Evidence]:
    """Every piece of naming evidence in ``text`` (for all known instruments)."""
    if not text:
        return []
    out: list[Evidence] = []
    for inst, pats in _COMPILED.items():
        for kind, rx in pats:
            for m in rx.finditer(text):
                before = text[max(0, m.start() - 40): m.start()]
                out.append(Evidence(inst, kind, m.group(0), bool(_NEGATED.search(before))))
        c = _CONSTRUCT.get(inst)
        if c:
            for m in c.finditer(text):
                out.append(Evidence(inst, "construct", m.group(0)))
    for name, rx in _OTHER.items():
        for m in rx.finditer(text):
            out.append(Evidence(name, "other", m.group(0)))
    return out


def recognises(text: str | None, instrument_id: str) -> bool:
    """True when the text names ``instrument_id`` by abbreviation, full name or author (not negated)."""
    return any(
        e.instrument == instrument_id and e.kind in ("abbreviation", "full_name", "author") and not e.negated
        for e in detect(text)
    )


def names_other(text: str | None, instrument_id: str) -> list[str]:
    """Instruments other than ``instrument_id`` that the text names (possible misidentifications)."""
    seen: list[str] = []
    for e in detect(text):
        if e.instrument != instrument_id and e.kind in ("abbreviation", "full_name", "author", "other") and not e.negated:
            if e.instrument not in seen:
                seen.append(e.instrument)
    return seen


def mentions_construct(text: str | None, instrument_id: str) -> bool:
    return any(e.instrument == instrument_id and e.kind == "construct" for e in detect(text))


def parse_follow_up(text: str | None, instrument_id: str) -> dict:
    """The reply to ``FOLLOW_UP``: does it say yes, does it name the right instrument, or another one.

    ``says_yes`` is None when the reply has no clear yes/no; a correct name counts as recognition
    even without a yes.
    """
    named = recognises(text, instrument_id)
    yes = parse_yes_no(text or "")
    if yes is None and text:
        low = text.lower()
        if re.search(r"\b(?:i\s+do\s+not|i\s+don'?t|i\s+cannot|i\s+can'?t)\s+(?:specifically\s+)?recogni[sz]e\b", low):
            yes = False
        elif re.search(r"\bi\s+(?:do\s+)?recogni[sz]e\b", low):
            yes = True
    return {"says_yes": yes, "names_correct": named, "names_other": names_other(text, instrument_id)}
