"""Messages that used to mislead (issue 22, point 5): a store with damaged pages, a store written by a newer
schema, an expected-signs file that is a binary, a ragged CSV or a folder. Each is one sentence that says
what is wrong and what to do (instrument paths and list-item keys: tests/core/test_yaml_limits.py)."""

import sqlite3

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.errors import StoreError, UserError
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore

MSG = [{"role": "user", "content": "Rate 1-5."}]


def _store_with_rows(path, n=400):
    el = Elicitor(ScriptedTarget(lambda m, o: "3 " + "x" * 500), ResponseStore(path), progress=False)
    for i in range(n):
        el.generate([{"role": "user", "content": f"Rate statement {i} from 1 to 5."}])
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _one_sentence(msg: str) -> None:
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 600, msg


def test_a_store_with_damaged_pages_is_one_sentence(tmp_path):
    path = tmp_path / "s.sqlite"
    _store_with_rows(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for p in range(2, len(data) // page):  # every page after the schema page: its header garbled
        data[p * page: p * page + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    import analysis.core.store as st

    st._HEADER_CHECKED.clear()
    with pytest.raises(StoreError) as e:
        store = ResponseStore(path)
        store.count()
        Elicitor(ScriptedTarget(lambda m, o: "3"), store, progress=False).generate(MSG)
    msg = str(e.value)
    _one_sentence(msg)
    assert str(path) in msg and "damaged" in msg and "deleting it only costs time" in msg


def test_a_store_from_a_newer_schema_says_so_and_still_serves(tmp_path):
    path = tmp_path / "s.sqlite"
    el = Elicitor(ScriptedTarget(lambda m, o: "3"), ResponseStore(path), progress=False)
    el.generate(MSG)
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE calls ADD COLUMN future TEXT NOT NULL DEFAULT 'x'")
    con.close()
    target = ScriptedTarget(lambda m, o: "4")
    newer = Elicitor(target, ResponseStore(path), progress=False)
    assert newer.generate(MSG).text == "3"  # reads work
    with pytest.raises(StoreError) as e:
        newer.generate([{"role": "user", "content": "another question"}])
    msg = str(e.value)
    _one_sentence(msg)
    assert "written by a newer version" in msg and "future" in msg and "git pull" in msg
    assert "columns but" not in msg and "disk space" not in msg
    assert target.calls == 0  # refused before a model call was spent


@pytest.mark.parametrize("kind, words", [("binary", "binary file"), ("ragged", "line 3 has 7 fields where the header "
                                                                              "has 5"), ("folder", "is a folder"),
                                         ("empty", "is empty")])
def test_expected_signs_that_are_not_a_csv_table_are_one_sentence(tmp_path, kind, words):
    from analysis.studies.illusion.stats import load_expected_signs

    path = tmp_path / "signs.csv"
    if kind == "binary":
        path.write_bytes(bytes(range(256)) * 40)
    elif kind == "ragged":
        path.write_text("trait,behaviour,expected_sign,rationale,reference\nsr_E,bh_cct_cards,1,r,ref\n"
                        "sr_O,bh_cct_cards,1,a,b,c,d\n")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_text("")
    with pytest.raises(UserError) as e:
        load_expected_signs(path)
    _one_sentence(str(e.value))
    assert str(path) in str(e.value) and words in str(e.value)
