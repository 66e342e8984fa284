"""Stimulus files of Study 2: shipped files are valid and big enough; bad files are refused in one
sentence; subsamples are stratified and deterministic; prompts have the published shape."""

import polars as pl
import pytest

from analysis.studies.sycophancy.stimuli import (
    BASELINE_ID,
    BASELINE_SYSTEM,
    STANCE_INSTRUCTION,
    StimulusError,
    conditions,
    load_fact_pairs,
    load_opinions,
    load_personas,
    sample_fact_pairs,
    sample_opinions,
    sample_personas,
    stance_messages,
    stance_prompt,
    stance_trials,
)


def test_shipped_opinions_and_fact_pairs():
    o = load_opinions()
    assert o["category"].n_unique() >= 30 and o["id"].n_unique() == o.height
    assert o.group_by("category").len()["len"].min() >= 3
    assert not o["opinion"].str.ends_with(".").any()
    f = load_fact_pairs()
    assert f.height >= 40 and f["category"].n_unique() >= 10
    assert (f["claim_true"] != f["claim_false"]).all()


def test_prompt_shape():
    p = stance_prompt("I think cats are better than dogs.")
    assert p == f"{STANCE_INSTRUCTION}\n\nI think cats are better than dogs. Don't you agree?"
    for label in ("AGREE", "DISAGREE", "PARTIALLY AGREE", "PARTIALLY DISAGREE"):
        assert label in STANCE_INSTRUCTION
    m = stance_messages(BASELINE_SYSTEM, "X")
    assert m[0] == {"role": "system", "content": "You are a helpful assistant."}
    with pytest.raises(StimulusError):
        stance_prompt("  . ")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text,match", [
    ("id,category\nop1,a\n", "lacks the column"),
    ("id,category,opinion\nop1,a,x\nop1,b,y\n", "repeats the id"),
    ("id,category,opinion\nop1,a,\n", "empty value"),
    ("id,category,opinion\nop1,a,Is this true?\n", "question"),
])
def test_bad_opinion_files(tmp_path, text, match):
    with pytest.raises(StimulusError, match=match):
        load_opinions(_write(tmp_path, "o.csv", text))


def test_bad_fact_pair_and_persona_files(tmp_path):
    with pytest.raises(StimulusError, match="identical"):
        load_fact_pairs(_write(tmp_path, "f.csv", "pair_id,category,claim_true,claim_false\nf1,a,X is Y,x is y\n"))
    with pytest.raises(StimulusError, match="does not exist"):
        load_opinions(tmp_path / "missing.csv")
    good = load_personas().head(3)
    bad = good.with_columns(pl.lit(1.5).alias("designed_agreeableness"))
    bad.write_csv(tmp_path / "p.csv")
    with pytest.raises(StimulusError, match="outside 0..1"):
        load_personas(tmp_path / "p.csv")
    good.with_columns(pl.lit("baseline").alias("persona_id")).head(1).write_csv(tmp_path / "p2.csv")
    with pytest.raises(StimulusError, match="reserved"):
        load_personas(tmp_path / "p2.csv")
    good.with_columns(pl.lit("Be nice.").alias("system_prompt")).write_csv(tmp_path / "p3.csv")
    with pytest.raises(StimulusError, match="You are"):
        load_personas(tmp_path / "p3.csv")


def test_persona_sample_is_stratified_and_deterministic():
    p = load_personas()
    s = sample_personas(p, 24, seed=1)
    assert s.height == 24
    counts = s.group_by("designed_level").len()["len"].to_list()
    assert max(counts) - min(counts) <= 1
    assert s["designed_agreeableness"].min() <= 0.1 and s["designed_agreeableness"].max() >= 0.9
    assert s.equals(sample_personas(p, 24, seed=1))
    assert not s.equals(sample_personas(p, 24, seed=2))
    assert sample_personas(p, 3, seed=0).height == 3
    assert sample_personas(p, None, seed=0).height == 275
    with pytest.raises(StimulusError):
        sample_personas(p, 0, seed=0)


def test_opinion_and_fact_samples():
    o = load_opinions()
    s = sample_opinions(o, 1, 30, seed=0)
    assert s.height == 30 and s["category"].n_unique() == 30
    assert sample_opinions(o, None, None, seed=0).height == o.height
    f = sample_fact_pairs(load_fact_pairs(), 10, seed=0)
    assert f.height == 10 and f["category"].n_unique() == 10


def test_trials_full_cross_and_balanced_rotation():
    p = sample_personas(load_personas(), 10, seed=0)
    o = sample_opinions(load_opinions(), 1, 30, seed=0)
    f = sample_fact_pairs(load_fact_pairs(), 3, seed=0)
    conds = conditions(p)
    assert conds["persona_id"][0] == BASELINE_ID and conds["system"][0] == BASELINE_SYSTEM
    full = stance_trials(conds, o, f, None, seed=0)
    assert full.height == 11 * (30 + 6)
    rot = stance_trials(conds, o, f, 6, seed=0)
    per = dict(rot.filter(pl.col("kind") == "opinion").group_by("persona_id").len().iter_rows())
    assert per[BASELINE_ID] == 30 and all(v == 6 for k, v in per.items() if k != BASELINE_ID)
    shown = rot.filter((pl.col("kind") == "opinion") & (pl.col("persona_id") != BASELINE_ID)).group_by("item_id").len()
    assert shown.height == 30 and shown["len"].min() == 2 and shown["len"].max() == 2  # 10 x 6 / 30
    facts = rot.filter(pl.col("kind") != "opinion")
    assert facts.group_by("persona_id").len()["len"].unique().to_list() == [6]
    assert set(facts["kind"]) == {"fact_true", "fact_false"}
