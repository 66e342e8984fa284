"""Numbers that are not numbers are refused (issue 22, point 4): temperatures in the analysis parameters and
in a re-analysed table (negative, NaN, inf), NaN in a self-report column (reported with its count and
column, not taken as missing), and a fractional run index (refused as such, not reported as a duplicate
key)."""

import math

import polars as pl
import pytest

from analysis.core.errors import ParamsError
from analysis.core.params import validate_section
from analysis.core.paths import ROOT
from analysis.studies.illusion.schema import IllusionSchemaError, read_table, validate

EXAMPLE = ROOT / "data/examples/illusion/published_table.csv"


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return read_table(EXAMPLE)


def test_the_example_table_is_valid(table):
    assert validate(table).height == table.height


@pytest.mark.parametrize("value, words", [(-1.0, "1 negative value"), (math.nan, "not finite"),
                                          (math.inf, "not finite"), (-math.inf, "not finite")])
def test_a_bad_temperature_in_a_table_is_refused(table, value, words):
    bad = table.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(value).otherwise(pl.col("temperature"))
                             .alias("temperature"))
    with pytest.raises(IllusionSchemaError, match="column 'temperature'") as e:
        validate(bad)
    assert words in str(e.value)


def test_a_fractional_run_is_refused_as_not_whole_not_as_a_duplicate(table):
    bad = table.with_columns(pl.col("run").cast(pl.Float64))
    bad = bad.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("run") + 0.5).otherwise(pl.col("run"))
                           .alias("run"))
    with pytest.raises(IllusionSchemaError) as e:
        validate(bad)
    assert "'run' has 1 value(s) that are not whole numbers, e.g. " in str(e.value) and "unique" not in str(e.value)


def test_nan_in_a_self_report_column_is_reported_with_count_and_column(table):
    col = next(c for c in table.columns if c.startswith("sr_"))
    bad = table.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(math.nan).otherwise(pl.col(col)).alias(col))
    with pytest.raises(IllusionSchemaError, match=rf"column '{col}' has 3 NaN value\(s\) \(of {table.height} rows\)"):
        validate(bad)
    # an empty cell is what "not scored" is, and stays allowed
    ok = table.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col(col)).alias(col))
    assert validate(ok)[col].null_count() == ok[col].null_count()


def test_nan_written_in_a_csv_file_is_reported(table, tmp_path):
    col = next(c for c in table.columns if c.startswith("sr_"))
    path = tmp_path / "t.csv"
    table.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(math.nan).otherwise(pl.col(col)).alias(col)).write_csv(path)
    assert "NaN" in path.read_text()
    with pytest.raises(IllusionSchemaError, match=rf"'{col}' has 1 NaN"):
        validate(read_table(path))


def test_an_infinite_behaviour_is_refused(table):
    col = next(c for c in table.columns if c.startswith("bh_") and "_n_" not in c)
    bad = table.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(math.inf).otherwise(pl.col(col)).alias(col))
    with pytest.raises(IllusionSchemaError, match=col):
        validate(bad)


@pytest.mark.parametrize("study", ["bigfive", "illusion"])
@pytest.mark.parametrize("value, words", [(-1.0, "greater than or equal to 0|must be >= 0"), (math.nan, "finite"),
                                          (math.inf, "finite")])
def test_temperatures_in_the_parameters_are_finite_and_not_negative(study, value, words):
    from analysis.studies import get

    s = get(study)
    section = "analysis" if study == "bigfive" else "collect"
    model = s.analysis_params if section == "analysis" else s.collect_params
    with pytest.raises(ParamsError, match=words):
        validate_section(model, {"temperatures": [0.0, value]}, f"{study}.{section}")


def test_nan_and_inf_are_refused_in_every_float_parameter():
    from analysis.core.params import TargetsParams

    for v in (math.nan, math.inf):
        with pytest.raises(ParamsError, match="finite"):
            validate_section(TargetsParams, {"timeout_s": v}, "targets")


def test_a_fractional_integer_parameter_is_refused():
    from analysis.studies.illusion.params import CollectParams

    with pytest.raises(ParamsError, match="runs .*fractional part"):
        validate_section(CollectParams, {"runs": 0.5}, "illusion.collect")
