import multiprocessing as mp
import threading

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.errors import EmptyReply
from analysis.core.models import GenOptions
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore

MSG = [{"role": "user", "content": "How are you?"}]


def test_miss_then_hit_with_provenance(make_elicitor, store):
    el = make_elicitor(reply=lambda m, o: "fine")
    a = el.generate(MSG, GenOptions(seed=3))
    b = el.generate(MSG, GenOptions(seed=3))
    assert (a.cached, b.cached) == (False, True)
    assert a.call_id == b.call_id and el.target.calls == 1
    rec = store.export([a.call_id]).row(0, named=True)
    assert rec["model"] == "scripted" and rec["digest"] == "scripted-0" and rec["seed"] == 3
    assert "How are you?" in rec["messages"] and rec["text"] == "fine" and rec["latency_s"] >= 0


def test_sample_index_and_options_distinguish_requests(make_elicitor):
    el = make_elicitor(reply=lambda m, o: f"seed {o.seed}")
    r0 = el.generate(MSG, GenOptions(temperature=1.0, seed=10), sample=0)
    r1 = el.generate(MSG, GenOptions(temperature=1.0, seed=10), sample=1)
    r2 = el.generate(MSG, GenOptions(temperature=0.5, seed=10), sample=0)
    assert len({r0.call_id, r1.call_id, r2.call_id}) == 3
    assert r1.text == "seed 11"  # the sample index moves the seed that is sent
    assert el.target.calls == 3


def test_digest_is_part_of_the_key(store):
    a = Elicitor(ScriptedTarget(lambda m, o: "x", digest="v1"), store, progress=False)
    b = Elicitor(ScriptedTarget(lambda m, o: "x", digest="v2"), store, progress=False)
    assert a.generate(MSG).call_id != b.generate(MSG).call_id
    assert b.target.calls == 1


def test_errors_and_empty_replies_are_never_cached(make_elicitor, store):
    state = {"n": 0}

    def flaky(m, o):
        state["n"] += 1
        if state["n"] == 1:
            raise ConnectionError("boom")
        if state["n"] == 2:
            return "   "
        return "ok"

    el = make_elicitor(reply=flaky)
    with pytest.raises(ConnectionError):
        el.generate(MSG)
    with pytest.raises(EmptyReply):
        el.generate(MSG)
    assert store.count() == 0
    assert el.generate(MSG).text == "ok" and store.count() == 1


def test_interrupted_run_resumes_without_repeating(tmp_path):
    path = tmp_path / "s.sqlite"
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(10)]

    def dies_at_6(m, o):
        if m[0]["content"] == "q6":
            raise KeyboardInterrupt
        return "a " + m[0]["content"]

    first = Elicitor(ScriptedTarget(dies_at_6), ResponseStore(path), progress=False)
    with pytest.raises(KeyboardInterrupt):
        for p in prompts:
            first.generate(p)
    assert first.target.calls == 7
    second = Elicitor(ScriptedTarget(lambda m, o: "a " + m[0]["content"]), ResponseStore(path), progress=False)
    out = [second.generate(p).text for p in prompts]
    assert out == [f"a q{i}" for i in range(10)]
    assert second.target.calls == 4  # q6..q9 only


def _writer(path, worker, n):
    el = Elicitor(ScriptedTarget(lambda m, o: m[0]["content"]), ResponseStore(path), progress=False)
    for i in range(n):
        el.generate([{"role": "user", "content": f"w{worker}-{i}"}])


def test_concurrent_writers_threads_and_processes(tmp_path):
    path = tmp_path / "s.sqlite"
    ResponseStore(path)
    threads = [threading.Thread(target=_writer, args=(path, w, 40)) for w in range(4)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 10 + w, 40)) for w in range(3)]
    for t in threads + procs:
        t.start()
    for t in threads + procs:
        t.join()
    assert all(p.exitcode == 0 for p in procs)
    store = ResponseStore(path)
    assert store.count() == 7 * 40
    df = store.export()
    assert (df["text"] == df["messages"].str.extract(r'"content": "([^"]+)"')).all()


# ---- every way the file can be unusable is one sentence (issue 11) -----------------------------------------
import ctypes  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from analysis.core.errors import StoreError  # noqa: E402

IDENT = {"kind": "x", "spec": "x:m", "model": "m", "digest": "d"}


def _put(store, key, text="t"):
    store.put(key, identity=IDENT, messages=[{"role": "user", "content": key}], options={}, seed=0, sample=0,
              top_logprobs=0, text=text, logprobs=None, latency_s=0.1, meta={}, tag=None)


def _one_sentence(msg: str) -> bool:
    return "\n" not in msg and msg.endswith(".") and "Traceback" not in msg


def test_store_path_that_is_a_folder(tmp_path):
    with pytest.raises(StoreError) as e:
        ResponseStore(tmp_path)
    assert "is a folder" in str(e.value) and "PSY_STORE" in str(e.value) and _one_sentence(str(e.value))


def test_store_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        ResponseStore(tmp_path / "f" / "s.sqlite")


@pytest.mark.parametrize("content", [os.urandom(5000), b"hello, this is a text file\n" * 20, b"\x00" * 4096])
def test_store_that_is_not_sqlite(tmp_path, content):
    p = tmp_path / "s.sqlite"
    p.write_bytes(content)
    with pytest.raises(StoreError) as e:
        ResponseStore(p)
    assert "not a SQLite database" in str(e.value) and _one_sentence(str(e.value))


def test_truncated_store(tmp_path):
    good = tmp_path / "good.sqlite"
    s = ResponseStore(good)
    for i in range(200):
        _put(s, f"k{i}", "x" * 400)
    s._drop_conn()
    data = good.read_bytes()
    for cut in (50, len(data) // 3):
        bad = tmp_path / f"cut{cut}.sqlite"
        bad.write_bytes(data[:cut])
        with pytest.raises(StoreError) as e:
            ResponseStore(bad)
        assert "truncated" in str(e.value) and _one_sentence(str(e.value))


def test_sqlite_file_with_another_calls_table(tmp_path):
    p = tmp_path / "other.sqlite"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE calls (id INTEGER, who TEXT)")
    con.commit()
    con.close()
    with pytest.raises(StoreError) as e:
        ResponseStore(p)
    assert "not this project's response store" in str(e.value) and "target_spec" in str(e.value)


def test_an_empty_file_becomes_a_store(tmp_path):
    p = tmp_path / "empty.sqlite"
    p.write_bytes(b"")
    s = ResponseStore(p)
    _put(s, "k")
    assert s.count() == 1


def _without_root_powers():
    """preexec_fn: drop the capabilities that let root write anything, so file modes apply (CI runs as root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: dropped from the bounding set, gone after exec
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (fails harmlessly when not root)


READ_ONLY_SCRIPT = """
import sys
from analysis.core.store import ResponseStore
from analysis.core.errors import StoreError
s = ResponseStore(sys.argv[1])
print(s.read_only, s.count(), s.get("k5").text)
try:
    s.put("new", identity={"kind": "x", "spec": "x:m", "model": "m", "digest": "d"}, messages=[], options={}, seed=0,
          sample=0, top_logprobs=0, text="t", logprobs=None, latency_s=0.1, meta={}, tag=None)
except StoreError as e:
    print(e)
for p in sys.argv[2:]:
    try:
        ResponseStore(p)
    except StoreError as e:
        print(e)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="read-only folders are tested with Linux capabilities")
def test_read_only_store_serves_what_it_holds(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    s = ResponseStore(ro / "s.sqlite")
    for i in range(10):
        _put(s, f"k{i}", f"answer {i}")
    s._drop_conn()
    (ro / "s.sqlite").chmod(0o444)
    ro.chmod(0o555)
    try:
        r = subprocess.run([sys.executable, "-c", READ_ONLY_SCRIPT, str(ro / "s.sqlite"), str(ro / "new.sqlite"),
                            str(ro / "sub" / "new.sqlite")], preexec_fn=_without_root_powers, capture_output=True,
                           text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    finally:
        ro.chmod(0o755)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0, r.stderr[-2000:]
    assert lines[0] == "True 10 answer 5"  # opened read-only, every stored answer served
    assert "is read-only" in lines[1] and "writable copy" in lines[1]
    assert "not writable" in lines[2] and "PSY_STORE" in lines[2]
    assert "cannot be made" in lines[3]
    assert "Traceback" not in r.stdout + r.stderr


def test_store_written_by_the_old_code_still_answers(tmp_path, monkeypatch):
    """tests/core/data/store_cf6b78c.sqlite was written by the code of commit cf6b78c (the embedded 0.5B and a
    canned Ollama server, with hosts from targets and in the spec): its rows must keep answering."""
    import json

    import httpx

    from analysis.core.models import make_target
    from analysis.core.models.embedded import EmbeddedEngine
    from analysis.core.models.ollama_target import OllamaTarget

    path = tmp_path / "old.sqlite"
    shutil.copy(Path(__file__).parent / "data" / "store_cf6b78c.sqlite", path)
    store = ResponseStore(path)
    assert store.count() == 7

    def no_engine(*a, **k):
        raise AssertionError("the embedded engine was loaded: an old row did not answer")

    monkeypatch.setattr(EmbeddedEngine, "get", classmethod(no_engine))
    msgs = [[{"role": "user", "content": "Say one word."}],
            [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Rate 1-5: I like tea."}]]

    def fake_ollama(request):
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"model": "llama3.1:8b", "name": "llama3.1:8b",
                                                         "digest": "sha256:0123abcd"}]})
        raise AssertionError(f"the Ollama server was called ({request.url.path}): an old row did not answer")

    els = [Elicitor(make_target("embedded:qwen2.5-coder-0.5b"), store, progress=False)]
    for spec, hosts in (("ollama:llama3.1:8b", ["http://localhost:11434"]),
                        ("ollama:llama3.1:8b@http://gpu1:11434", ["http://gpu1:11434"])):
        els.append(Elicitor(OllamaTarget(spec, "llama3.1:8b", hosts, transport=httpx.MockTransport(fake_ollama)),
                            store, progress=False))
    for el in els:
        for m in msgs:
            r = el.generate(m, GenOptions(max_tokens=8))
            assert r.cached and r.text
        if el.target.kind == "embedded":
            op = el.option_probs(msgs[1], ["1", "2", "3", "4", "5"])
            assert op.mass > 0
        assert el.n_model_calls == 0
    assert json.loads(store.export()["meta"][0]) is not None and store.count() == 7
