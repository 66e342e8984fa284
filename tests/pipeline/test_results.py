"""The published responses round-trip into a fresh store (re-runs then make no model call), and the DuckDB
results layer holds every study's long tables with the documented views."""

import polars as pl
import pytest

from analysis.core import measures as cm
from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore
from analysis.pipeline import responses, results

MSG = [{"role": "user", "content": "Rate 1-5."}]


def test_published_responses_seed_a_fresh_store_so_a_rerun_makes_no_call(tmp_path):
    first = ResponseStore(tmp_path / "a.sqlite")
    el = Elicitor(ScriptedTarget(lambda m, o: "3", lambda m: {"3": 0.7, "4": 0.3}), first, progress=False)
    el.generate(MSG)
    p1 = el.option_probs(MSG, ["1", "2", "3", "4", "5"])
    path, n = responses.export(tmp_path / "a.sqlite", tmp_path / "pub.parquet")
    assert n == first.count() == 2
    added, had = responses.load(path, tmp_path / "b.sqlite")
    assert (added, had) == (2, 0)
    assert responses.load(path, tmp_path / "b.sqlite") == (0, 2)  # loading twice adds nothing
    target = ScriptedTarget(lambda m, o: "5", lambda m: {"5": 1.0})  # would answer differently
    el2 = Elicitor(target, ResponseStore(tmp_path / "b.sqlite"), progress=False)
    assert el2.generate(MSG).text == "3" and el2.option_probs(MSG, ["1", "2", "3", "4", "5"]).probs == p1.probs
    assert target.calls == 0
    row = pl.read_parquet(path).row(0, named=True)
    assert row["messages"] and row["digest"] == "scripted-0" and row["latency_s"] >= 0  # provenance kept


def test_loading_something_else_is_one_sentence(tmp_path):
    from analysis.core.errors import UserError

    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "x.parquet")
    with pytest.raises(UserError, match="not a response export"):
        responses.load(tmp_path / "x.parquet", tmp_path / "s.sqlite")
    with pytest.raises(UserError, match="does not exist"):
        responses.load(tmp_path / "nope.parquet", tmp_path / "s.sqlite")


def test_results_database_has_the_long_tables_and_the_shared_view(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setattr(cm, "processed_dir", lambda s: data / "processed" / s)
    for study, sr, bh in (("s1", 0.8, 0.1), ("s2", 1.2, 0.9)):
        m = pl.DataFrame({"model": ["m"], "condition": ["persona"], "condition_kind": ["persona"], "measure": ["x"],
                          "kind": ["self_report"], "estimate": [3.0], "n": [4]})
        s = pl.DataFrame({"model": ["m", "m"], "manipulation": ["p", "p"], "contrast": ["p vs base"] * 2,
                          "measure": ["sr", "bh"], "kind": ["self_report", "behaviour"], "effect": ["cohens_d"] * 2,
                          "estimate": [sr, bh], "ci_low": [sr - 1, bh - 1], "ci_high": [sr + 1, bh + 1],
                          "n_a": [3, 3], "n_b": [3, 3], "unit_of_analysis": ["run"] * 2})
        cm.write(study, m, s)
        (data / "raw" / study).mkdir(parents=True)
        pl.DataFrame({"model": ["m"], "value": [1.0]}).write_parquet(data / "raw" / study / "items.parquet")
    pub = tmp_path / "pub.parquet"
    st = ResponseStore(tmp_path / "s.sqlite")
    Elicitor(ScriptedTarget(lambda m, o: "3"), st, progress=False).generate(MSG, tag="s1")
    responses.export(tmp_path / "s.sqlite", pub)
    db = results.build(tmp_path / "r.duckdb", data, pub)
    con = results.connect(db)
    pairs = con.execute("SELECT study, self_report_shift, behaviour_shift FROM self_report_vs_behaviour "
                        "ORDER BY study").fetchall()
    assert pairs == [("s1", 0.8, 0.1), ("s2", 1.2, 0.9)]
    assert con.execute("SELECT count(*) FROM measures").fetchone()[0] == 2
    assert con.execute("SELECT n_calls FROM calls_per_model").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM s1_items").fetchone()[0] == 1
    summary = con.execute("SELECT study, n_models FROM measure_summary ORDER BY study").fetchall()
    assert summary == [("s1", 1), ("s2", 1)]


def test_results_refuses_a_forged_published_file_before_writing(tmp_path, monkeypatch):
    """Issue 22 review: the results stage copied data/published/responses.parquet into `calls` unchecked."""
    import shutil

    from analysis.core.errors import UserError

    st = ResponseStore(tmp_path / "s.sqlite")
    el = Elicitor(ScriptedTarget(lambda m, o: "3"), st, progress=False)
    for i in range(3):
        el.generate([{"role": "user", "content": f"Rate {i} 1-5."}], tag="s1")
    pub = tmp_path / "pub" / "responses.parquet"
    responses.export(tmp_path / "s.sqlite", pub)
    data = tmp_path / "data"
    (data / "processed").mkdir(parents=True)
    out = tmp_path / "db" / "r.duckdb"
    db = results.build(out, data, pub)  # positive control: the genuine file is copied
    assert results.connect(db).execute("SELECT count(*) FROM calls").fetchone()[0] == 3
    db.unlink()
    pl.read_parquet(pub).with_columns(pl.lit("5").alias("text")).write_parquet(pub)  # the forgery, manifest kept
    with pytest.raises(UserError) as e:
        results.build(out, data, pub)
    msg = str(e.value)
    assert "3 row(s) changed" in msg and "\n" not in msg, msg
    assert list(out.parent.iterdir()) == []  # no database, no temporary file
    real = results.build
    monkeypatch.setattr(results, "build", lambda: real(out, data, pub))
    with pytest.raises(SystemExit, match=r"3 row\(s\) changed"):
        results.main()
    monkeypatch.undo()
    shutil.copy(pub, tmp_path / "other.parquet")  # no manifest beside it
    with pytest.raises(UserError, match="has no manifest"):
        results.build(out, data, tmp_path / "other.parquet")
