"""The persona generator: its phrase banks are data (with source and licence), it is
deterministic, balanced, within the word limits, and the committed CSV is exactly what the script
regenerates from the data file."""

import io
import re
import subprocess
import sys

import polars as pl
import pytest
import yaml

from analysis.core.paths import ROOT
from analysis.studies.sycophancy import personas as personas_module
from analysis.studies.sycophancy.personas import (
    DEFAULT_N,
    DEFAULT_SEED,
    PHRASES_FILE,
    PersonaError,
    default_phrases,
    generate_personas,
    load_phrases,
    personas_csv_text,
    personas_frame,
    render,
)
from analysis.studies.sycophancy.stimuli import PERSONAS_CSV, load_personas

BANK = default_phrases()
FACETS = BANK.facets
MIN_WORDS, MAX_WORDS = BANK.min_words, BANK.max_words


@pytest.fixture(scope="module")
def default():
    return generate_personas(DEFAULT_N, DEFAULT_SEED)


def test_committed_csv_is_regenerated_byte_for_byte():
    assert PERSONAS_CSV.read_text(encoding="utf-8") == personas_csv_text(DEFAULT_N, DEFAULT_SEED), (
        "data/stimuli/sycophancy/personas.csv differs from the generator; run scripts/build_sycophancy_personas.py"
    )


def test_build_script_writes_the_committed_file(tmp_path):
    out = tmp_path / "personas.csv"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_sycophancy_personas.py"), "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True)
    assert out.read_bytes() == PERSONAS_CSV.read_bytes()


def test_phrase_banks_are_data_with_source_and_licence():
    text = PHRASES_FILE.read_text(encoding="utf-8")
    assert "licence: CC0" in text and "source:" in text
    doc = yaml.safe_load(text)
    # the six IPIP-NEO facets of Agreeableness, and no communication style (it described agreeing)
    assert set(doc["facet_sentences"]) == set(FACETS) == {"trust", "straightforwardness", "altruism", "cooperation",
                                                           "modesty", "sympathy"}
    assert "style_sentences" not in doc
    assert len(doc["occupations"]) == 40 and len(doc["last_names"]) == 50
    # no phrase bank is left in the code
    src = (ROOT / "analysis" / "studies" / "sycophancy" / "personas.py").read_text(encoding="utf-8")
    for phrase in ("grows tomatoes", "grow{s} tomatoes", "fishing town", "Kowalski", "fitness trainer"):
        assert phrase not in src
    assert not hasattr(personas_module, "DETAIL_BANK") and not hasattr(personas_module, "OCCUPATIONS")


def test_an_edited_phrase_file_changes_the_personas(tmp_path):
    doc = yaml.safe_load(PHRASES_FILE.read_text(encoding="utf-8"))
    doc["occupations"] = ["lighthouse keeper"]
    path = tmp_path / "phrases.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    text = personas_csv_text(10, DEFAULT_SEED, path)
    assert text != personas_csv_text(10, DEFAULT_SEED)
    assert set(pl.read_csv(io.StringIO(text))["occupation"]) == {"lighthouse keeper"}


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d["facet_sentences"]["trust"].pop(3), "facet 'trust'"),
    (lambda d: d["facet_sentences"]["modesty"][2].append("{They} {frobnicate}."), "unknown token"),
    (lambda d: d.pop("origins"), "malformed"),
])
def test_a_broken_phrase_file_is_refused_in_one_sentence(tmp_path, edit, needle):
    doc = yaml.safe_load(PHRASES_FILE.read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "phrases.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(PersonaError) as e:
        load_phrases(path)
    assert re.search(needle, str(e.value))


def test_same_seed_same_personas_other_seed_other_personas():
    a, b = personas_csv_text(40, 7), personas_csv_text(40, 7)
    assert a == b
    assert personas_csv_text(40, 8) != a


def test_default_set_is_balanced_and_spans_the_range(default):
    df = personas_frame(default)
    assert df.height == 275 and df["persona_id"].n_unique() == 275 and df["name"].n_unique() == 275
    counts = df.group_by("designed_level").len().sort("designed_level")["len"].to_list()
    assert counts == [55] * 5
    assert df["designed_agreeableness"].min() == 0.0 and df["designed_agreeableness"].max() == 1.0
    # facet levels stay within one step of the target level, and differ from it sometimes
    for f in FACETS:
        diff = (df[f"level_{f}"] - df["designed_level"]).abs()
        assert diff.max() <= 1
    assert (df["level_trust"] != df["designed_level"]).sum() > 20


def test_word_counts_and_text(default):
    for p in default:
        assert MIN_WORDS <= p.n_words <= MAX_WORDS, p.persona_id
        assert "{" not in p.description and "}" not in p.description
        assert p.system_prompt.startswith(f"You are {p.name}, a ")
        assert p.description.startswith(f"{p.name} is a ")
        # second person throughout: no third-person pronoun of the persona left in the prompt
        assert not re.search(r"\b(She|He|Her|His)\b", p.system_prompt), p.system_prompt
        if p.pronoun == "she":
            assert " She " in p.description


def test_designed_score_follows_the_facet_levels(default):
    p = default[0]
    assert p.designed_score == pytest.approx((sum(p.levels[f] for f in FACETS) / 6 - 1) / 4)


def test_phrases_for_disagreeable_and_agreeable_personas_differ(default):
    low = [p for p in default if all(p.levels[f] == 1 for f in FACETS)]
    high = [p for p in default if all(p.levels[f] == 5 for f in FACETS)]
    assert low and high
    assert not ({p.description.split(". ", 1)[1] for p in low} & {p.description.split(". ", 1)[1] for p in high})


def test_render_conjugates_for_each_person():
    t = "{They} trust{s} people and {is} kind to {their} friends; {they} {has} tr{ies}."
    assert render(t, "she") == "She trusts people and is kind to her friends; she has tries."
    assert render(t, "they") == "They trust people and are kind to their friends; they have try."
    assert render(t, "you") == "You trust people and are kind to your friends; you have try."


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True, 5000])
def test_bad_n_is_refused(bad):
    with pytest.raises(PersonaError):
        generate_personas(bad)


def test_bad_seed_is_refused():
    with pytest.raises(PersonaError):
        generate_personas(10, seed="x")


def test_loader_reads_the_committed_file():
    df = load_personas()
    assert df.height == 275
    assert df.schema["designed_agreeableness"] == pl.Float64
