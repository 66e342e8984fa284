"""`python -m analysis.core.servers llama` uses the measured thread default, as xllamacpp-serve does, and
takes --threads (issue 22, point 3 review)."""

from pathlib import Path

from analysis.core import servers


class _Recorder:
    seen: dict = {}

    def __init__(self, model, **kw):
        _Recorder.seen = kw
        self.alias, self.base_url, self.threads = kw["alias"], "http://127.0.0.1:1/v1", kw["threads"]

        class _Proc:
            def wait(self):
                return 0

        self.proc = _Proc()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_llama_uses_the_measured_default_and_takes_threads(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(servers, "LlamaServer", _Recorder)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    servers.main(["llama", "--model", str(gguf)])
    assert _Recorder.seen["threads"] == servers.DEFAULT_SERVER_THREADS == 1
    assert "1 thread(s)" in capsys.readouterr().out
    servers.main(["llama", "--model", str(Path(gguf)), "--threads", "2"])
    assert _Recorder.seen["threads"] == 2
