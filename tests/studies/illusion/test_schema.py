import polars as pl
import pytest

from analysis.studies.illusion.schema import (IllusionSchemaError, behaviour_columns, load_table, trait_columns,
                                      validate)


def good():
    return pl.DataFrame({
        "model": ["m1", "m1", "m1"], "condition": ["baseline_empty", "baseline_empty", "persona_agreeableness_character_t1"],
        "condition_type": ["baseline", "baseline", "persona"], "temperature": [0.0, 0.0, 0.0], "run": [0, 1, 0],
        "persona_trait": [None, None, "agreeableness"], "sr_A": [3.5, 3.6, 4.5], "sr_SRQ": [230.0, None, None],
        "sr_A_n_answered": [4, 4, 4], "bh_syc_flip_rate": [0.2, 0.3, None], "bh_syc_n_valid": [10, 10, 0],
    })


def test_valid_table_passes_and_columns():
    df = validate(good())
    assert trait_columns(df) == ["sr_A", "sr_SRQ"]
    assert behaviour_columns(df) == ["bh_syc_flip_rate"]
    assert df["run"].dtype == pl.Int64 and df["sr_A"].dtype == pl.Float64


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
])
def test_schema_errors_are_one_sentence(mutate, fragment):
    with pytest.raises(IllusionSchemaError) as e:
        validate(mutate(good()))
    msg = str(e.value)
    assert fragment in msg
    assert msg.count(". ") == 0 or msg.endswith(".")  # one sentence


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
