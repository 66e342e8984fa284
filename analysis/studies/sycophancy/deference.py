"""Deference language in a persona: does the text that plays the persona already tell the model to agree?

A Study 2 persona is both the character a model rates for agreeableness and the system prompt under which it
states its agreement with the user. A persona written as "eager to agree with whatever others say" (or
"concedes nothing") states the outcome: the correlation between perceived agreeableness and agreement would
partly be an instruction followed. The lexicon (``data/stimuli/sycophancy/deference_lexicon.yaml``, CC0) lists
phrases of agreeing, deferring, conceding and their opposites; :func:`flag_personas` marks the personas whose
text matches any of them, so the analysis can report r and d with and without those personas
(:func:`analysis.studies.sycophancy.stats.deference_sensitivity`), for the default set (which has none, a test
checks every sentence the phrase banks can produce) and for a user's own personas.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import polars as pl

from analysis.core.errors import UserError
from analysis.core.io import load_yaml, short
from analysis.core.paths import stimuli_dir

LEXICON_FILE = stimuli_dir("sycophancy") / "deference_lexicon.yaml"


class LexiconError(UserError):
    """A deference lexicon that cannot be read."""


@cache
def load_lexicon(path: str | Path = LEXICON_FILE) -> tuple[tuple[str, re.Pattern], ...]:
    """(label, compiled pattern) pairs; each pattern matches on word boundaries, case-insensitively."""
    path = Path(path)
    if not path.exists():
        raise LexiconError(f"The deference lexicon {path} does not exist; restore it with "
                           "`git checkout -- data/stimuli/sycophancy/deference_lexicon.yaml`.")
    d = load_yaml(path, LexiconError, "The deference lexicon")
    pats = d.get("patterns") if isinstance(d, dict) else None
    if not isinstance(pats, dict) or not pats:
        raise LexiconError(f"The deference lexicon {path} needs a non-empty 'patterns' mapping of label: regex.")
    out = []
    for label, pat in pats.items():
        try:
            out.append((str(label), re.compile(rf"\b(?:{pat})\b", re.IGNORECASE)))
        except (re.error, TypeError) as e:
            raise LexiconError(f"The deference lexicon {path} has a pattern for {short(str(label))!r} that is not a "
                               f"valid regular expression ({short(str(e))}).") from None
    return tuple(out)


def matches(text: str, lexicon=None) -> list[str]:
    """The phrases of ``text`` that the lexicon flags, in order of appearance (each once)."""
    lexicon = lexicon or load_lexicon()
    found = sorted((m.start(), m.group(0).lower()) for _, rx in lexicon for m in rx.finditer(text or ""))
    return list(dict.fromkeys(phrase for _, phrase in found))


def flag_personas(personas: pl.DataFrame, columns: tuple[str, ...] = ("system_prompt", "description"),
                  lexicon=None) -> pl.DataFrame:
    """``persona_id``, ``deference_terms`` (the flagged phrases, '; '-joined, '' when none) and ``deference``
    (any phrase found) for every persona, from the texts in ``columns`` that the table has."""
    cols = [c for c in columns if c in personas.columns]
    texts = [" ".join(str(row[c] or "") for c in cols) for row in personas.select(cols).iter_rows(named=True)]
    terms = ["; ".join(matches(t, lexicon)) for t in texts]
    return pl.DataFrame({"persona_id": personas["persona_id"].cast(pl.Utf8), "deference_terms": terms,
                         "deference": [bool(t) for t in terms]})
