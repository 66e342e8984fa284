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
