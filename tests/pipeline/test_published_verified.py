"""Published responses are verified before a single row reaches the store (issue 22, point 1).

The forgeries of the issue are reproduced on a small export and on the committed reference file: answers
changed with their keys kept, digest and model changed with their keys kept, a damaged or truncated
parquet file. Each is refused in one sentence that says how many rows and which, and nothing is inserted.
The manifest's sha256 is recomputed here from its documented canonical form with pyarrow and hashlib, not
with the code under test.
"""

import hashlib
import json
import shutil
import sqlite3

import polars as pl
import pyarrow.parquet as pq
import pytest

from analysis.core import collection
from analysis.core.elicit import Elicitor
from analysis.core.errors import UserError
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore
from analysis.pipeline import responses

MSGS = [[{"role": "user", "content": f"Rate statement {i} from 1 to 5."}] for i in range(6)]


@pytest.fixture
def published(tmp_path):
    """A small export (six generated answers, one log-probability call) with its manifest."""
    el = Elicitor(ScriptedTarget(lambda m, o: "3", lambda m: {"3": 0.7, "4": 0.3}),
                  ResponseStore(tmp_path / "made.sqlite"), progress=False)
    for m in MSGS:
        el.generate(m, tag="demo")
    el.option_probs(MSGS[0], ["1", "2", "3", "4", "5"])
    path, n = responses.export(tmp_path / "made.sqlite", tmp_path / "pub" / "responses.parquet")
    assert n == 7
    return path


def _calls(store_path) -> int:
    if not store_path.exists():
        return 0
    con = sqlite3.connect(store_path)
    try:
        return con.execute("SELECT count(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _one_sentence(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 700, msg
    return msg


def test_export_writes_a_manifest_whose_hash_is_the_documented_one(published):
    man = json.loads(responses.manifest_path(published).read_text())
    assert responses.manifest_path(published).name == "responses.manifest.json"
    table = pq.read_table(published).to_pylist()  # pyarrow, not polars
    table.sort(key=lambda r: r["key"])
    h = hashlib.sha256()
    for r in table:
        h.update((json.dumps([r[c] for c in man["columns"]], ensure_ascii=False, separators=(",", ":")) + "\n")
                 .encode())
    assert man["rows"] == len(table) == 7 and man["sha256"] == h.hexdigest()
    assert set(man["columns"]) >= {"key", "target_spec", "model", "digest", "messages", "options", "text", "logprobs"}
    assert man["tool"].startswith("llm-psychometrics")


def test_a_faithful_file_loads_and_the_store_remembers_the_manifest(published, tmp_path):
    store = tmp_path / "s.sqlite"
    assert responses.load(published, store) == (7, 0)
    loads = ResponseStore(store).published_loads()
    man = json.loads(responses.manifest_path(published).read_text())
    assert len(loads) == 1 and loads[0]["manifest_sha256"] == man["sha256"] and loads[0]["rows"] == 7
    note = collection.published_note(ResponseStore(store))
    assert "responses.parquet" in note and man["sha256"][:16] in note and "7 rows" in note


def test_answers_changed_with_keys_kept_are_refused(published, tmp_path):
    df = pl.read_parquet(published)
    forged = df.with_columns(pl.when(pl.col("top_logprobs") == 0).then(pl.lit("5")).otherwise(pl.col("text"))
                             .alias("text"))
    forged.write_parquet(published)
    with pytest.raises(UserError) as e:
        responses.load(published, tmp_path / "s.sqlite")
    msg = _one_sentence(e)
    assert "6 row(s) changed" in msg and "manifest" in msg
    assert sorted(df.filter(pl.col("top_logprobs") == 0)["key"])[0][:16] in msg  # names the first rows
    assert _calls(tmp_path / "s.sqlite") == 0


def test_digest_or_model_changed_with_keys_kept_are_refused(published, tmp_path):
    df = pl.read_parquet(published)
    for col, value in (("digest", "sha256:" + "0" * 64), ("model", "qwen2.5-coder-1.5b")):
        df.with_columns(pl.when(pl.col("top_logprobs") == 0).then(pl.lit(value)).otherwise(pl.col(col))
                        .alias(col)).write_parquet(published)
        with pytest.raises(UserError) as e:
            responses.load(published, tmp_path / "s.sqlite")
        msg = _one_sentence(e)
        assert "6 of 7 rows do not match their key" in msg, msg
    # even with a manifest rewritten to match the forgery, the keys give it away
    forged = df.with_columns(pl.lit("other").alias("model"))
    forged.write_parquet(published)
    responses.manifest_path(published).write_text(json.dumps(responses.manifest(forged, published.name)))
    with pytest.raises(UserError, match="7 of 7 rows do not match their key"):
        responses.load(published, tmp_path / "s.sqlite")
    assert _calls(tmp_path / "s.sqlite") == 0


def test_rows_added_or_removed_are_refused(published, tmp_path):
    df = pl.read_parquet(published)
    df.slice(1).write_parquet(published)
    with pytest.raises(UserError) as e:
        responses.load(published, tmp_path / "s.sqlite")
    assert "1 row(s) of the manifest missing" in _one_sentence(e)


def test_a_damaged_or_truncated_file_is_one_sentence(published, tmp_path):
    data = published.read_bytes()
    for name, blob in (("truncated", data[: len(data) // 2]),
                       ("damaged", data[:200] + bytes(b ^ 0xFF for b in data[200:2000]) + data[2000:]),
                       ("not parquet", b"key,text\n1,2\n")):
        bad = tmp_path / f"{name.replace(' ', '_')}.parquet"
        bad.write_bytes(blob)
        shutil.copy(responses.manifest_path(published), responses.manifest_path(bad))
        with pytest.raises(UserError) as e:
            responses.load(bad, tmp_path / "s.sqlite")
        msg = _one_sentence(e)
        assert str(bad) in msg, (name, msg)
    assert _calls(tmp_path / "s.sqlite") == 0


def test_a_missing_manifest_is_refused_unless_unverified(published, tmp_path):
    responses.manifest_path(published).unlink()
    with pytest.raises(UserError, match="has no manifest"):
        responses.load(published, tmp_path / "s.sqlite")
    assert responses.load(published, tmp_path / "s.sqlite", unverified=True) == (7, 0)
    assert "key only" in collection.published_note(ResponseStore(tmp_path / "s.sqlite"))


def test_a_replay_states_the_manifest_in_its_collection_log(published, tmp_path):
    """collection.run prints the sentence into the collection report when answers came from the store."""
    from analysis.studies.bigfive import STUDY

    store = tmp_path / "s.sqlite"
    responses.load(published, store)
    lines = []
    p = STUDY.collect_stage({"models": ["embedded:qwen2.5-coder-0.5b"]})

    class Study:
        id = "demo"

        def collect(self, el, c, seed):
            el.generate(MSGS[0], tag="demo")
            return {"t": pl.DataFrame({"x": [1]})}

    target = ScriptedTarget(lambda m, o: "3")
    run = collection.run(Study(), p, out_dir=False, log=lines.append,
                         elicitor_factory=lambda spec: Elicitor(target, ResponseStore(store), progress=False))
    assert target.calls == 0
    man = json.loads(responses.manifest_path(published).read_text())
    assert any(man["sha256"][:16] in line and "seeded from responses.parquet" in line for line in lines), lines
    assert run.info["published"] in lines


PUBLISHED = responses.PUBLISHED


@pytest.mark.skipif(not responses.manifest_path(PUBLISHED).exists(), reason="no committed manifest")
def test_the_committed_file_matches_its_manifest_and_the_issues_forgery_is_refused(tmp_path):
    df = responses.read(PUBLISHED)
    responses.verify(df, PUBLISHED)  # the committed file and its manifest agree, every key recomputes
    forged = tmp_path / "responses.parquet"
    df.with_columns(pl.when(pl.col("tag") == "ipip_neo_120").then(pl.lit("5")).otherwise(pl.col("text"))
                    .alias("text")).write_parquet(forged)
    shutil.copy(responses.manifest_path(PUBLISHED), responses.manifest_path(forged))
    n = df.filter(pl.col("tag") == "ipip_neo_120").filter(pl.col("text") != "5").height
    with pytest.raises(UserError, match=rf"{n} row\(s\) changed"):
        responses.load(forged, tmp_path / "s.sqlite")


def _forge(published, tmp_path):
    """The issue's forgery as a file without a manifest: every generated answer set to "5"."""
    df = pl.read_parquet(published)
    forged = tmp_path / "forged" / "responses.parquet"
    forged.parent.mkdir()
    df.with_columns(pl.when(pl.col("top_logprobs") == 0).then(pl.lit("5")).otherwise(pl.col("text"))
                    .alias("text")).write_parquet(forged)
    return df, forged


def _texts(store_path) -> dict:
    con = sqlite3.connect(store_path)
    try:
        return dict(con.execute("SELECT key, text FROM calls").fetchall())
    finally:
        con.close()


def test_a_genuine_load_over_forged_answers_loaded_unverified_is_refused(published, tmp_path):
    """Issue 22 review: INSERT OR IGNORE kept the forged rows and the report still said 'checked'."""
    df, forged = _forge(published, tmp_path)
    store = tmp_path / "s.sqlite"
    assert responses.load(forged, store, unverified=True) == (7, 0)
    with pytest.raises(UserError) as e:
        responses.load(published, store)
    msg = _one_sentence(e)
    first = sorted(df.filter(pl.col("top_logprobs") == 0)["key"])[0][:16]
    assert "6 call(s)" in msg and first in msg and "--replace" in msg and "move the store away" in msg, msg
    assert set(_texts(store).values()) >= {"5"}  # nothing changed, and the refusal is recorded nowhere
    assert len(ResponseStore(store).published_loads()) == 1
    note = collection.published_note(ResponseStore(store))
    assert "key only" in note


def test_replace_overwrites_the_forged_answers_and_the_note_names_the_unverified_load(published, tmp_path):
    df, forged = _forge(published, tmp_path)
    store = tmp_path / "s.sqlite"
    responses.load(forged, store, unverified=True)
    assert responses.load(published, store, replace=True) == (0, 7)
    assert _texts(store) == dict(df.select("key", "text").iter_rows())
    note = collection.published_note(ResponseStore(store))
    assert "1 of them unverified" in note and "replaced 6 call(s)" in note, note
    # a second genuine load over the genuine rows is not a conflict
    assert responses.load(published, store) == (0, 7)


def test_the_cli_refuses_and_replaces(published, tmp_path):
    _, forged = _forge(published, tmp_path)
    store = tmp_path / "s.sqlite"
    responses.main(["load", "--file", str(forged), "--store", str(store), "--unverified"])
    with pytest.raises(SystemExit, match="--replace"):
        responses.main(["load", "--file", str(published), "--store", str(store)])
    responses.main(["load", "--file", str(published), "--store", str(store), "--replace"])
    assert _texts(store) == dict(pl.read_parquet(published).select("key", "text").iter_rows())


def test_a_store_whose_own_calls_have_the_same_answers_is_not_a_conflict(published, tmp_path):
    """A store that recorded the calls itself differs in provenance (latency, time), not in what a replay serves."""
    store = tmp_path / "s.sqlite"
    responses.load(published, store)
    con = sqlite3.connect(store)
    con.execute("UPDATE calls SET latency_s = latency_s + 1.0, created_at = '2030-01-01T00:00:00+00:00'")
    con.commit()
    con.close()
    assert responses.load(published, store) == (0, 7)
    con = sqlite3.connect(store)
    con.execute("UPDATE calls SET text = text || ' (mine)' WHERE rowid = 1")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="1 call"):
        responses.load(published, store)
