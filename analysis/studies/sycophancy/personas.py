"""Persona generator for Study 2 (agreeableness-driven sycophancy).

Personas are composed from curated phrase lists (no model), kept as data in
``data/stimuli/sycophancy/persona_phrases.yaml`` (written for this project, CC0): a name, an age, an
occupation and an origin, one sentence for each facet of the trait (for Agreeableness the six IPIP-NEO
facets: Trust, Straightforwardness, Altruism, Cooperation, Modesty, Sympathy) and a neutral everyday detail.
Each facet sentence is drawn from the list for a designed level 1-5 (1 = very disagreeable ... 5 = very
agreeable). No sentence describes agreeing with other people, deferring or conceding: the persona is also
the system prompt of the stance task, and a persona told to agree would make the trait-agreement
correlation an instruction followed (:mod:`analysis.studies.sycophancy.deference` scans every sentence).
The same generator builds the control personas from another phrase file (Conscientiousness,
``control_phrases.yaml``). A persona has a target level (the five levels are balanced across personas); each facet
level is the target moved by -1, 0 or +1 at random (clipped to 1..5), so the designed agreeableness
varies continuously and the facets are not perfectly collinear. The designed score is
``(mean facet level - 1) / 4`` in 0..1.

Every persona is written twice from the same draws: in the third person (``description``, shown
when a model rates the character on the IPIP items) and in the second person (``system_prompt``,
"You are <persona>", the role-play condition). Everything is a pure function of the phrase file and
``(n, seed)``; ``scripts/build_sycophancy_personas.py`` writes the committed ``personas.csv`` and a
test checks that regenerating gives the same file byte for byte.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl

from analysis.core.errors import UserError
from analysis.core.io import load_yaml, short
from analysis.core.paths import stimuli_dir

DEFAULT_N = 275
DEFAULT_SEED = 2604


class PersonaError(UserError):
    """Bad arguments to the persona generator."""


# ---- grammar: one template, three persons ----------------------------------------------------
# Tokens: {They} {they} {them} {their} {Their} {themself} for pronouns; {s} {es} {ies} for the
# third-person-singular verb ending ('trust{s}', 'go{es}', 'tr{ies}' with tr{y} for the others);
# {is} {has} {does} {was} for irregular verbs.
_PERSONS = {
    "she": dict(They="She", they="she", them="her", their="her", Their="Her", themself="herself",
                s="s", es="es", ies="ies", y="", is_="is", has="has", does="does", was="was"),
    "he": dict(They="He", they="he", them="him", their="his", Their="His", themself="himself",
               s="s", es="es", ies="ies", y="", is_="is", has="has", does="does", was="was"),
    "they": dict(They="They", they="they", them="them", their="their", Their="Their", themself="themself",
                 s="", es="", ies="y", y="", is_="are", has="have", does="do", was="were"),
    "you": dict(They="You", they="you", them="you", their="your", Their="Your", themself="yourself",
                s="", es="", ies="y", y="", is_="are", has="have", does="do", was="were"),
}
_TOKEN = re.compile(r"\{(They|they|them|their|Their|themself|s|es|ies|is|has|does|was)\}")


def render(template: str, person: str) -> str:
    """Fill a phrase template for a person ('she', 'he', 'they' or 'you')."""
    forms = _PERSONS[person]

    def sub(m: re.Match) -> str:
        key = m.group(1)
        return forms["is_" if key == "is" else key]

    out = _TOKEN.sub(sub, template)
    if "{" in out or "}" in out:
        raise ValueError(f"unknown token in phrase template {template!r}")
    return out


# ---- phrase banks ----------------------------------------------------------------------------
# data/stimuli/sycophancy/persona_phrases.yaml (written for this project, CC0): facet sentences per
# level, communication styles, everyday details, names, occupations, origins and the draw weights.
PHRASES_FILE = stimuli_dir("sycophancy") / "persona_phrases.yaml"
# the control personas: the same generator, Conscientiousness instead of Agreeableness
CONTROL_PHRASES_FILE = stimuli_dir("sycophancy") / "control_phrases.yaml"
CONTROL_N, CONTROL_SEED = 50, 2605


@dataclass(frozen=True)
class PhraseBank:
    level_labels: dict[int, str]
    trait: str  # the trait the levels describe: the designed score is ``designed_<trait>``
    facet_scale: dict[str, str]  # facet -> IPIP-NEO-120 facet id
    min_words: int
    max_words: int
    pronoun_weights: list[tuple[str, float]]
    jitter: list[tuple[int, float]]  # facet level = target + step, steps drawn with these weights
    age_min: int
    age_max: int
    intro_third: str
    intro_second: str
    facet_sentences: dict[str, dict[int, list[str]]]
    style_sentences: dict[int, list[str]]  # optional: a sentence per level beside the facets (none by default)
    detail_sentences: list[str]
    occupations: list[str]
    origins: list[str]
    first_names: dict[str, list[str]]
    last_names: list[str]

    @property
    def facets(self) -> tuple[str, ...]:
        return tuple(self.facet_scale)


def load_phrases(path: str | Path = PHRASES_FILE) -> PhraseBank:
    """The phrase banks, checked: every facet and the style have sentences for each level 1-5, every
    template renders for every person, every pronoun has first names."""
    path = Path(path)
    if not path.exists():
        raise PersonaError(f"The persona phrase file {path} does not exist.")
    d = load_yaml(path, PersonaError, "The persona phrase file")
    if isinstance(d, dict) and d.get("base"):  # a bank that takes names, occupations, ... from another file
        base_path = path.parent / str(d["base"])
        if not base_path.exists() or base_path.resolve() == path.resolve():
            raise PersonaError(f"The persona phrase file {path} names a base file {short(str(d['base']))!r} that does "
                               "not exist beside it (or is itself).")
        d = {**load_yaml(base_path, PersonaError, "The persona phrase file"), "style_sentences": None, **d}
    try:
        levels = {int(k): str(v) for k, v in d["level_labels"].items()}
        bank = PhraseBank(
            level_labels=levels, trait=str(d.get("trait", "agreeableness")), facet_scale={str(k): str(v) for k, v in d["facets"].items()},
            min_words=int(d["words"]["min"]), max_words=int(d["words"]["max"]),
            pronoun_weights=[(str(k), float(v)) for k, v in d["pronoun_weights"].items()],
            jitter=[(int(j["step"]), float(j["weight"])) for j in d["facet_jitter"]],
            age_min=int(d["age"]["min"]), age_max=int(d["age"]["max"]),
            intro_third=str(d["intro"]["third_person"]), intro_second=str(d["intro"]["second_person"]),
            facet_sentences={f: {int(k): list(v) for k, v in by.items()} for f, by in d["facet_sentences"].items()},
            style_sentences={int(k): list(v) for k, v in (d.get("style_sentences") or {}).items()},
            detail_sentences=list(d["detail_sentences"]), occupations=list(d["occupations"]),
            origins=list(d["origins"]), first_names={k: list(v) for k, v in d["first_names"].items()},
            last_names=list(d["last_names"]))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise PersonaError(f"The persona phrase file {path} is malformed ({e.__class__.__name__}: {short(str(e))}); "
                           "compare it with data/stimuli/sycophancy/persona_phrases.yaml.") from None
    want = set(range(1, 6))
    for f in bank.facets:
        if set(bank.facet_sentences.get(f, {})) != want or not all(bank.facet_sentences[f].values()):
            raise PersonaError(f"The persona phrase file {path} needs sentences for facet {f!r} at every level 1-5.")
    if set(bank.level_labels) != want or (bank.style_sentences and set(bank.style_sentences) != want):
        raise PersonaError(f"The persona phrase file {path} needs a label (and, if it has style sentences, a style "
                           "sentence list) for every level 1-5.")
    if set(bank.first_names) != {p for p, _ in bank.pronoun_weights}:
        raise PersonaError(f"The persona phrase file {path} needs first names for exactly the pronouns it weights.")
    templates = [t for by in bank.facet_sentences.values() for ts in by.values() for t in ts]
    for t in templates + [t for ts in bank.style_sentences.values() for t in ts] + bank.detail_sentences:
        try:
            for person in _PERSONS:
                render(t, person)
        except ValueError:
            raise PersonaError(f"The persona phrase file {path} has a sentence with an unknown token: {t!r}; the "
                               "tokens are listed at the top of the file.") from None
    return bank


@cache
def default_phrases() -> PhraseBank:
    return load_phrases(PHRASES_FILE)


@dataclass(frozen=True)
class Persona:
    persona_id: str
    name: str
    pronoun: str
    age: int
    occupation: str
    designed_level: int
    levels: dict[str, int]  # facet -> 1..5, plus 'communication' when the bank has style sentences
    description: str  # third person
    system_prompt: str  # "You are ..."

    @property
    def designed_score(self) -> float:
        facets = [f for f in self.levels if f != "communication"]
        return (sum(self.levels[f] for f in facets) / len(facets) - 1) / 4

    @property
    def n_words(self) -> int:
        return count_words(self.description)


def count_words(text: str) -> int:
    return len(text.split())


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _weighted(rng: random.Random, pairs) -> object:
    r = rng.random()
    acc = 0.0
    for value, w in pairs:
        acc += w
        if r < acc:
            return value
    return pairs[-1][0]


def _compose(rng: random.Random, bank: PhraseBank, pid: str, target: int, used_names: set[str]) -> Persona:
    pronoun = _weighted(rng, bank.pronoun_weights)
    for _ in range(1000):
        name = f"{rng.choice(bank.first_names[pronoun])} {rng.choice(bank.last_names)}"
        if name not in used_names:
            break
    else:  # pragma: no cover - the name space (54 x 50) is far larger than any sensible n
        raise PersonaError("Ran out of distinct names; ask for fewer personas.")
    used_names.add(name)
    facets = bank.facets
    levels = {f: min(5, max(1, target + _weighted(rng, bank.jitter))) for f in facets}
    if bank.style_sentences:
        levels["communication"] = target
    for _ in range(50):
        age = rng.randint(bank.age_min, bank.age_max)
        occupation = rng.choice(bank.occupations)
        origin = rng.choice(bank.origins)
        facet_templates = [rng.choice(bank.facet_sentences[f][levels[f]]) for f in facets]
        order = list(range(len(facets)))
        rng.shuffle(order)
        style = [rng.choice(bank.style_sentences[target])] if bank.style_sentences else []
        detail = rng.choice(bank.detail_sentences)
        body = [facet_templates[i] for i in order] + style + [detail]
        fill = dict(name=name, article=_article(str(age)), age=age, occupation=occupation, origin=origin)
        third = " ".join([bank.intro_third.format(**fill)] + [render(t, pronoun) for t in body])
        second = " ".join([bank.intro_second.format(**fill)] + [render(t, "you") for t in body])
        if bank.min_words <= count_words(third) <= bank.max_words:
            return Persona(pid, name, pronoun, age, occupation, target, levels, third, second)
    raise PersonaError(  # pragma: no cover - the phrase banks are sized for 60-90 words
        f"Could not compose persona {pid} within {bank.min_words}-{bank.max_words} words; check the phrase banks."
    )


def generate_personas(n: int = DEFAULT_N, seed: int = DEFAULT_SEED, bank: PhraseBank | None = None,
                      prefix: str = "p") -> list[Persona]:
    """``n`` personas, the five designed levels balanced (as equal as ``n`` allows), from ``seed``."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise PersonaError(f"The number of personas must be a positive whole number, not {n!r}.")
    if n > 1000:
        raise PersonaError(f"At most 1000 personas can be generated from the phrase banks, not {n}.")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PersonaError(f"The persona seed must be a whole number, not {seed!r}.")
    bank = bank or default_phrases()
    rng = random.Random(seed)
    targets = [1 + i % 5 for i in range(n)]
    rng.shuffle(targets)
    used: set[str] = set()
    width = max(3, len(str(n)))
    return [_compose(rng, bank, f"{prefix}{i + 1:0{width}d}", t, used) for i, t in enumerate(targets)]


def personas_frame(personas: list[Persona], bank: PhraseBank | None = None) -> pl.DataFrame:
    """The personas as the table written to ``data/stimuli/sycophancy/personas.csv``."""
    bank = bank or default_phrases()
    p0 = personas[0]
    return pl.DataFrame(
        {
            "persona_id": [p.persona_id for p in personas],
            "name": [p.name for p in personas],
            "pronoun": [p.pronoun for p in personas],
            "age": [p.age for p in personas],
            "occupation": [p.occupation for p in personas],
            "designed_level": [p.designed_level for p in personas],
            "designed_label": [bank.level_labels[p.designed_level] for p in personas],
            **{f"level_{f}": [p.levels[f] for p in personas] for f in p0.levels},
            f"designed_{bank.trait}": [round(p.designed_score, 4) for p in personas],
            "n_words": [p.n_words for p in personas],
            "description": [p.description for p in personas],
            "system_prompt": [p.system_prompt for p in personas],
        }
    )


def personas_csv_text(n: int = DEFAULT_N, seed: int = DEFAULT_SEED, phrases: str | Path = PHRASES_FILE,
                      prefix: str = "p") -> str:
    """The exact CSV text of the generated personas (what the build script writes)."""
    bank = default_phrases() if Path(phrases) == PHRASES_FILE else load_phrases(phrases)
    return personas_frame(generate_personas(n, seed, bank, prefix), bank).write_csv()
