import polars as pl
import pytest

from analysis.core.io import write_csv, write_parquet


def test_atomic_writes_create_folders_and_leave_no_temp_files(tmp_path):
    df = pl.DataFrame({"a": [1, 2]})
    p = write_parquet(df, tmp_path / "x" / "y.parquet")
    c = write_csv(df, tmp_path / "x" / "y.csv")
    assert pl.read_parquet(p).equals(df) and pl.read_csv(c).equals(df)
    assert sorted(f.name for f in (tmp_path / "x").iterdir()) == ["y.csv", "y.parquet"]


def test_failed_write_keeps_the_old_file(tmp_path):
    p = write_parquet(pl.DataFrame({"a": [1]}), tmp_path / "y.parquet")

    class Boom(pl.DataFrame):
        def write_parquet(self, *a, **k):
            raise OSError("disk full")

    with pytest.raises(OSError):
        write_parquet(Boom({"a": [2]}), p)
    assert pl.read_parquet(p)["a"].to_list() == [1]
    assert [f.name for f in tmp_path.iterdir()] == ["y.parquet"]
