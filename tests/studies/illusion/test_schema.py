import polars as pl
import pytest

from analysis.core.errors import UserError
from analysis.studies.illusion.schema import (
    IllusionSchemaError,
    TableSpec,
    behaviour_columns,
    describe_columns,
    load_spec,
    load_table,
    trait_columns,
    validate,
    with_roles,
)


def good():
    return pl.DataFrame({
        "model": ["m1", "m1", "m1"], "condition": ["baseline_empty", "baseline_empty", "persona_agreeableness_character_t1"],
        "condition_type": ["baseline", "baseline", "persona"], "temperature": [0.0, 0.0, 0.0], "run": [0, 1, 0],
        "persona_trait": [None, None, "agreeableness"], "sr_A": [3.5, 3.6, 4.5], "sr_SRQ": [3.2, None, None],
        "sr_A_n_answered": [4, 4, 4], "bh_syc_flip_rate": [0.2, 0.3, None], "bh_syc_n_valid": [10, 10, 0],
    })


def test_valid_table_passes_and_columns():
    df = validate(good())
    assert trait_columns(df) == ["sr_A", "sr_SRQ"]
    assert behaviour_columns(df) == ["bh_syc_flip_rate"]
    assert df["run"].dtype == pl.Int64 and df["sr_A"].dtype == pl.Float64


def one_sentence(msg: str) -> bool:
    import re

    return "\n" not in msg and msg.endswith(".") and not re.search(r"\. [A-Z]", msg)


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d.drop("run"), "key column"),
    (lambda d: d.with_columns(pl.lit("other").alias("condition_type")), "condition_type must be"),
    (lambda d: d.with_columns(pl.lit("x").alias("temperature")), "'temperature' must be numeric"),
    (lambda d: d.with_columns(pl.lit(0).alias("run")), "not unique"),
    (lambda d: d.drop("sr_A", "sr_SRQ"), "no self-report column"),
    (lambda d: d.drop("bh_syc_flip_rate"), "no behaviour column"),
    (lambda d: d.with_columns(pl.lit("high").alias("sr_A")), "'sr_A' must be numeric"),
    (lambda d: d.drop("persona_trait"), "persona_trait"),
    (lambda d: d.with_columns(pl.lit("openness").alias("persona_trait")), "unknown persona_trait"),
    (lambda d: d.with_columns(pl.lit(None, dtype=pl.Utf8).alias("model")), "missing value"),
    (lambda d: d.head(0), "no rows"),
    (lambda d: d.with_columns(pl.lit("pretrained").alias("model_role")), "model_role must be 'base' or 'instruct'"),
    (lambda d: d.with_columns(pl.Series("model_role", ["base", "instruct", "base"])), "more than one model_role"),
])
def test_schema_errors_are_one_sentence(mutate, fragment):
    with pytest.raises(IllusionSchemaError) as e:
        validate(mutate(good()))
    assert fragment in str(e.value) and one_sentence(str(e.value)), str(e.value)


@pytest.mark.parametrize("col,values,fragment", [
    ("bh_syc_flip_rate", [20.0, 35.0, None], "column 'bh_syc_flip_rate' has values from 20 to 35, outside its range 0-1; it looks like a percentage: divide it by 100"),
    ("sr_A", [35.0, 60.0, 80.0], "column 'sr_A' has values from 35 to 80, outside its range 1-5; it looks like a 0-100 (percent) scale"),
    ("sr_SRQ", [230.0, None, None], "looks like a 63-item SRQ total: give the mean keyed answer per item instead"),
    ("sr_A", [0.5, 0.6, 0.7], "outside its range 1-5; it looks like a 0-1 proportion"),
    ("sr_A", [-2.0, 3.0, 4.0], "outside its range 1-5; fix the column, or declare its range"),
])
def test_ranges_are_checked_per_column(col, values, fragment):
    """A rate in percent passed the old validation silently; now one sentence names the column."""
    with pytest.raises(IllusionSchemaError) as e:
        validate(good().with_columns(pl.Series(col, values)))
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_declared_ranges_and_extra_behaviours(tmp_path):
    df = good().with_columns(pl.Series("sr_A", [5.5, 6.0, 7.0]), pl.Series("bh_help_refusal_rate", [0.1, 0.2, 0.3]),
                             pl.Series("bh_tox_score", [1.0, 2.0, 3.0]), pl.Series("notes", ["a", "b", "c"]))
    spec_file = tmp_path / "t.yaml"
    spec_file.write_text("behaviours:\n  - {name: bh_help_refusal_rate, direction: -1, trait: sr_A, range: [0, 1]}\n"
                         "ranges:\n  sr_A: [1, 7]\n")
    spec = load_spec(spec_file)
    out = validate(df, spec=spec)
    cols = describe_columns(out, spec)
    assert cols["behaviours"] == ["bh_syc_flip_rate", "bh_help_refusal_rate"]
    assert cols["behaviours_not_analysed"] == ["bh_tox_score"] and "notes" in cols["ignored"]
    assert spec.expected_signs()[0] == {"trait": "sr_A", "behaviour": "bh_help_refusal_rate", "expected_sign": -1,
                                        "rationale": "declared in the table's spec", "reference": ""}
    with pytest.raises(IllusionSchemaError, match="outside its range 1-5"):
        validate(df)  # without the declared range, a 1-7 self-report is refused
    bad = tmp_path / "bad.yaml"
    bad.write_text("behaviours:\n  - {name: bh_help_refusal_rate, direction: 2}\n")
    with pytest.raises(UserError) as e:
        load_spec(bad)
    assert "behaviours.direction must be 1 or -1 (got 2)" in str(e.value)
    missing = TableSpec.model_validate({"behaviours": [{"name": "bh_not_there", "direction": 1}]})
    with pytest.raises(IllusionSchemaError, match="declares the behaviour 'bh_not_there'"):
        validate(df, spec=missing)


def test_roles_from_pairs_when_the_table_has_none():
    df = pl.concat([good(), good().with_columns(pl.lit("b1").alias("model"))])
    r = with_roles(validate(df), [{"base": "b1", "instruct": "m1"}])
    assert dict(r.select("model", "model_role").unique().iter_rows()) == {"m1": "instruct", "b1": "base"}
    assert set(r["model_pair"]) == {"b1 / m1"}


def test_load_table_roundtrip(tmp_path):
    p = tmp_path / "t.parquet"
    good().write_parquet(p)
    assert load_table(p).height == 3
    c = tmp_path / "t.csv"
    good().write_csv(c)
    assert load_table(c).height == 3
    with pytest.raises(IllusionSchemaError, match="does not exist"):
        load_table(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(IllusionSchemaError, match="could not be read"):
        load_table(bad)


def test_pairs_must_agree_with_the_collected_roles():
    df = validate(pl.concat([good(), good().with_columns(pl.lit("b1").alias("model"))]).with_columns(
        pl.lit("instruct").alias("model_role")))
    with pytest.raises(IllusionSchemaError, match="names b1 as the base model of a pair, but the table marks it "
                                                  "model_role = instruct; list pretrained models under"):
        with_roles(df, [{"base": "b1", "instruct": "m1"}])
