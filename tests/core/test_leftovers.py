"""Leftovers of a process killed with ``kill -9`` (issue 22, point 6): the temporary file of an output
(``.domain_means.*.csv``), the temporary database of the ``results`` stage (``.results.*.duckdb``) and the
stage runner's working folder (``psy-nb-*``, no longer in the system temp folder) are removed when the
stage runs again. Each test kills a real process with SIGKILL while it holds its temporary file open."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import polars as pl

from analysis.core.paths import ROOT


def _start(code: str, marker: Path) -> subprocess.Popen:
    """Run ``code`` in a child process and wait until it has created what it should (it then sleeps)."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    import time

    t0 = time.time()
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - t0 < 120, "the child never got there"
        time.sleep(0.05)
    return proc


def _kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def test_a_killed_writer_leaves_a_temp_file_that_the_next_write_removes(tmp_path):
    target = tmp_path / "processed" / "domain_means.csv"
    marker = tmp_path / "writing"
    proc = _start(f"""
        import time
        from pathlib import Path
        from analysis.core.io import atomic
        def write(tmp):
            Path(tmp).write_text("half")
            Path({str(marker)!r}).touch()
            time.sleep(600)
        atomic({str(target)!r}, write)
    """, marker)
    _kill9(proc)
    left = list(target.parent.glob(".domain_means.*.csv"))
    assert len(left) == 1  # kill -9 runs no clean-up: this is what the issue found
    from analysis.core.io import write_csv

    write_csv(pl.DataFrame({"a": [1]}), target)  # the re-run writes the same output
    assert sorted(p.name for p in target.parent.iterdir()) == ["domain_means.csv"]


def test_a_living_writers_temp_file_is_kept(tmp_path):
    from analysis.core.io import clean_stale, temp_prefix

    mine = tmp_path / f"{temp_prefix('x')}abc.csv"
    mine.write_text("in progress")
    assert clean_stale(tmp_path, "x") == [] and mine.exists()


def test_a_killed_results_stage_leaves_nothing_after_the_rerun(tmp_path):
    out = tmp_path / "results" / "results.duckdb"
    data = tmp_path / "data"
    (data / "processed").mkdir(parents=True)
    marker = tmp_path / "building"
    proc = _start(f"""
        import time
        from pathlib import Path
        import duckdb
        from analysis.pipeline import results
        real = duckdb.connect
        def slow(*a, **k):
            con = real(*a, **k)
            con.execute("CREATE TABLE t AS SELECT 1 AS x")
            Path({str(marker)!r}).touch()
            time.sleep(600)
        results.duckdb.connect = slow
        results.build(Path({str(out)!r}), Path({str(data)!r}), Path({str(tmp_path / 'none.parquet')!r}))
    """, marker)
    _kill9(proc)
    assert list(out.parent.glob(".results.*.duckdb"))  # the killed build's temporary database
    from analysis.pipeline import results

    results.build(out, data, tmp_path / "none.parquet")
    assert sorted(p.name for p in out.parent.iterdir()) == ["results.duckdb"]


def test_the_stage_runner_works_outside_the_system_temp_folder_and_cleans_a_killed_stage(tmp_path):
    from analysis.pipeline.run_notebook import stage_tmp

    before = {p.name for p in Path(tempfile.gettempdir()).glob("psy-nb-*")}
    base = tmp_path / "stage_tmp"
    marker = tmp_path / "running"
    proc = _start(f"""
        import time
        from pathlib import Path
        from analysis.pipeline.run_notebook import stage_tmp
        with stage_tmp("bigfive", "02_analysis", Path({str(base)!r})) as d:
            (Path(d) / "progress.log").write_text("x")
            Path({str(marker)!r}).touch()
            time.sleep(600)
    """, marker)
    _kill9(proc)
    assert len(list(base.iterdir())) == 1  # the killed stage's folder
    with stage_tmp("illusion", "02_analysis", base) as d:  # any stage starting again
        assert [p.name for p in base.iterdir()] == [Path(d).name]
    assert list(base.iterdir()) == []
    assert {p.name for p in Path(tempfile.gettempdir()).glob("psy-nb-*")} <= before
