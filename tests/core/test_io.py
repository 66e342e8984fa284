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


def test_outputs_get_the_permissions_of_an_ordinary_file_not_0600(tmp_path):
    import os
    import stat

    from analysis.core.io import write_text

    old = os.umask(0o022)
    try:
        p = write_text("x", tmp_path / "a.txt")
        q = write_csv(pl.DataFrame({"a": [1]}), tmp_path / "b.csv")
    finally:
        os.umask(old)
    for f in (p, q):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, oct(f.stat().st_mode)  # mkstemp alone gives 0600
