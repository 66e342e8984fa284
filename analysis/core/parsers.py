"""Parsers for closed answers. Each takes the reply text and returns the value, or None when the
reply holds no valid answer; none raises on bad text, and none guesses."""

from __future__ import annotations

import re

_NUM = re.compile(r"(?<![\d.])-?\d+(?:\.\d+)?(?![\d])")
_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10}


def _strip_markup(text: str) -> str:
    return re.sub(r"[*_`#>]", "", text).strip()


def parse_int_in_range(text: str, lo: int, hi: int, *, allow_words: bool = True) -> int | None:
    """The first integer in the reply if it lies in lo..hi; a first number outside the range, or a
    decimal, makes the reply invalid rather than letting a later number through."""
    t = _strip_markup(text)
    m = _NUM.search(t)
    if m:
        tok = m.group(0)
        if "." in tok:
            return None
        v = int(tok)
        return v if lo <= v <= hi else None
    if allow_words:
        w = re.search(r"\b(" + "|".join(_WORDS) + r")\b", t, re.IGNORECASE)
        if w:
            v = _WORDS[w.group(1).lower()]
            return v if lo <= v <= hi else None
    return None


def parse_likert(text: str, lo: int = 1, hi: int = 5, anchors: dict[int, str] | None = None) -> int | None:
    """A Likert answer: the first number in range, else an anchor label named in the reply."""
    v = parse_int_in_range(text, lo, hi, allow_words=False)
    if v is not None or _NUM.search(_strip_markup(text)):
        return v
    if anchors:
        t = _strip_markup(text).lower()
        # longest labels first, so "moderately inaccurate" is not read as "inaccurate"
        hits = [(t.find(lbl.lower()), -len(lbl), k) for k, lbl in anchors.items() if lbl.lower() in t]
        if hits:
            return min(hits)[2]
    return None


def parse_yes_no(text: str) -> bool | None:
    """'Yes'/'No' at the start of the reply (after markup), else a lone yes or no in the first sentence."""
    t = _strip_markup(text).lower()
    first = re.split(r"[.!?\n]", t, maxsplit=1)[0]
    ys, ns = re.search(r"\byes\b", first), re.search(r"\bno\b", first)
    m = re.match(r"^\W*(yes|no)\b", t)
    if m and not (ys and ns):  # "Yes and no." is no verdict
        return m.group(1) == "yes"
    if ys and not ns:
        return True
    if ns and not ys:
        return False
    return None


def parse_choice(text: str, options: list[str]) -> str | None:
    """The option the reply starts with (case-insensitive, longest first), else the only option named
    in the first sentence; None when none or several are named."""
    t = _strip_markup(text)
    low = t.lower()
    for o in sorted(options, key=len, reverse=True):
        if re.match(r"^\W*" + re.escape(o.lower()) + r"(?!\w)", low):
            return o
    first = re.split(r"[.!?\n]", low, maxsplit=1)[0]
    spans = {o: [m.span() for m in re.finditer(r"(?<!\w)" + re.escape(o.lower()) + r"(?!\w)", first)] for o in options}

    def inside_longer(o: str, span: tuple[int, int]) -> bool:
        return any(p != o and a <= span[0] and span[1] <= b and (b - a) > (span[1] - span[0])
                   for p, ss in spans.items() for a, b in ss)

    # an option counts only where it is not part of a longer option ("agree" in "partially agree")
    named = {o for o, ss in spans.items() if any(not inside_longer(o, sp) for sp in ss)}
    return named.pop() if len(named) == 1 else None
