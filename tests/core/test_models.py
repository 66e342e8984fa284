import socket

import httpx
import pytest

from analysis.core.errors import ModelSpecError, TargetUnavailable, UserError
from analysis.core.models import embedded, make_target, parse_spec
from analysis.core.models.ollama_target import OllamaTarget


@pytest.mark.parametrize("spec", ["llama3", "gpt:foo", "ollama:", "openai:foo", "embedded:x@http://h", 42])
def test_bad_specs_list_the_valid_forms(spec):
    with pytest.raises(ModelSpecError) as e:
        parse_spec(spec)
    assert "embedded:qwen2.5-coder-1.5b" in str(e.value) and "ollama:NAME" in str(e.value)


def test_spec_forms():
    assert parse_spec("ollama:llama3.1:8b") == ("ollama", "llama3.1:8b", [])
    assert parse_spec("ollama:qwen2:7b@http://a:11434, http://b:11434") == ("ollama", "qwen2:7b", ["http://a:11434", "http://b:11434"])
    assert parse_spec("openai:m@http://h:8000/v1") == ("openai", "m", ["http://h:8000/v1"])


def test_unknown_embedded_model():
    with pytest.raises(ModelSpecError, match="embedded models are"):
        make_target("embedded:llama-70b")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_ollama_says_how_to_start_it():
    host = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(TargetUnavailable) as e:
        make_target(f"ollama:llama3.1:8b@{host}", timeout_s=5)
    msg = str(e.value)
    assert host in msg and "ollama serve" in msg


def test_unreachable_openai_endpoint():
    with pytest.raises(TargetUnavailable, match="Cannot reach the OpenAI-compatible server"):
        make_target(f"openai:m@http://127.0.0.1:{_free_port()}/v1", timeout_s=5)


def _fake_ollama(models, chat_status=200, template=None):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/show" and template is not None:
            return httpx.Response(200, json={"template": template, "modelfile": "", "details": {}, "model_info": {}})
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"model": m, "name": m, "digest": "sha256:abc"} for m in models]})
        if request.url.path == "/api/chat":
            if chat_status != 200:
                return httpx.Response(chat_status, json={"error": "model 'x' not found"})
            return httpx.Response(200, json={"model": models[0], "message": {"role": "assistant", "content": "hi"},
                                             "done": True, "done_reason": "stop"})
        return httpx.Response(404, json={"error": "nope"})

    return httpx.MockTransport(handler)


def test_model_not_pulled_says_ollama_pull():
    with pytest.raises(TargetUnavailable) as e:
        OllamaTarget("ollama:llama3.1:8b", "llama3.1:8b", ["http://h:11434"], transport=_fake_ollama(["qwen2:7b"]))
    assert "ollama pull llama3.1:8b" in str(e.value)


def test_model_deleted_after_start_is_reported_at_chat():
    from analysis.core.models import GenOptions

    t = OllamaTarget("ollama:qwen2:7b", "qwen2:7b", ["http://h:11434"], transport=_fake_ollama(["qwen2:7b"], 404))
    assert t.digest == "sha256:abc"
    with pytest.raises(TargetUnavailable, match="ollama pull qwen2:7b"):
        t.chat([{"role": "user", "content": "x"}], GenOptions())


def test_latest_tag_matches_bare_name():
    t = OllamaTarget("ollama:mistral", "mistral", ["http://h:11434"], transport=_fake_ollama(["mistral:latest"]))
    assert t.digest == "sha256:abc"


def test_joined_file_with_wrong_hash_is_rejected(tmp_path, monkeypatch):
    parts = []
    for i in range(3):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(bytes([i]) * 1000)
        parts.append(p)
    fake = embedded.EmbeddedModel("fake", "fake", "fake-part", 3, "1", "0" * 64, 3000)
    monkeypatch.setitem(embedded.EMBEDDED_MODELS, "fake", fake)
    monkeypatch.setattr(embedded, "_part_files", lambda m: parts)
    monkeypatch.setenv("PSY_MODEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="sha256"):
        embedded.gguf_path("fake")
    assert not list((tmp_path / "cache").glob("*.gguf"))  # nothing half-written is left


def test_joined_file_with_right_hash_is_cached(tmp_path, monkeypatch):
    import hashlib

    parts = []
    for i in range(2):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(bytes([i + 1]) * 500)
        parts.append(p)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    fake = embedded.EmbeddedModel("fake2", "fake", "fake-part", 2, "1", digest, 1000)
    monkeypatch.setitem(embedded.EMBEDDED_MODELS, "fake2", fake)
    calls = []
    monkeypatch.setattr(embedded, "_part_files", lambda m: calls.append(1) or parts)
    monkeypatch.setenv("PSY_MODEL_CACHE", str(tmp_path / "cache"))
    out = embedded.gguf_path("fake2")
    assert out.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert embedded.gguf_path("fake2") == out and len(calls) == 1  # joined once


def test_missing_model_package_is_explained(monkeypatch):
    fake = embedded.EmbeddedModel("fake3", "fake", "no-such-dist-part", 1, "1", "0" * 64, 1)
    with pytest.raises(UserError, match="uv sync"):
        embedded._part_files(fake)


def _fake_model(tmp_path, monkeypatch, name="fake4"):
    import hashlib

    parts = []
    for i in range(2):
        p = tmp_path / f"{name}-part{i}.bin"
        p.write_bytes(bytes([i + 7]) * 4096)
        parts.append(p)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    monkeypatch.setitem(embedded.EMBEDDED_MODELS, name, embedded.EmbeddedModel(name, "f", "f-part", 2, "1", digest, 8192))
    joins = []
    monkeypatch.setattr(embedded, "_part_files", lambda m: joins.append(1) or parts)
    monkeypatch.setattr(embedded, "_VERIFIED", {})
    monkeypatch.setenv("PSY_MODEL_CACHE", str(tmp_path / "cache"))
    return parts, joins


def test_a_byte_changed_in_place_is_caught_in_the_next_process(tmp_path, monkeypatch, capfd):
    """A joined file with one byte changed but size and mtime kept must not load (issue 11): every process
    hashes the file before its first load, refuses it in one sentence and joins it again."""
    import os

    parts, joins = _fake_model(tmp_path, monkeypatch)
    out = embedded.gguf_path("fake4")
    st = out.stat()
    with open(out, "r+b") as f:  # flip one byte, keep size and mtime
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert embedded.gguf_path("fake4") == out and len(joins) == 1  # this process has verified it already
    monkeypatch.setattr(embedded, "_VERIFIED", {})  # a new process
    assert embedded.gguf_path("fake4") == out
    assert len(joins) == 2 and out.read_bytes() == b"".join(p.read_bytes() for p in parts)
    err = capfd.readouterr().err
    assert "is corrupt and will not be loaded" in err and err.count("\n") == 1


def test_model_cache_that_is_a_file(tmp_path, monkeypatch):
    from analysis.core.errors import ModelCacheError

    _fake_model(tmp_path, monkeypatch)
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("PSY_MODEL_CACHE", str(tmp_path / "cachefile"))
    with pytest.raises(ModelCacheError, match="is a file, not a folder.*PSY_MODEL_CACHE"):
        embedded.gguf_path("fake4")
    monkeypatch.setenv("PSY_MODEL_CACHE", str(tmp_path / "cachefile" / "sub"))
    with pytest.raises(ModelCacheError, match="a part of its path is a file"):
        embedded.gguf_path("fake4")


READ_ONLY_CACHE = """
import os, sys
from analysis.core.models import embedded
from analysis.core.errors import ModelCacheError
embedded.EMBEDDED_MODELS["fake5"] = embedded.EmbeddedModel("fake5", "f", "f-part", 1, "1", "0" * 64, 1)
for cache in sys.argv[1:]:
    os.environ["PSY_MODEL_CACHE"] = cache
    try:
        embedded.gguf_path("fake5")
    except ModelCacheError as e:
        print(e)
"""


def test_model_cache_that_is_read_only(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = subprocess.run([sys.executable, "-c", READ_ONLY_CACHE, str(ro), str(ro / "sub")],
                           preexec_fn=_without_root_powers, capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).resolve().parents[2])
    finally:
        ro.chmod(0o755)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "is not writable" in lines[0] and "PSY_MODEL_CACHE" in lines[0]
    assert "cannot be created (Permission denied)" in lines[1]


def _without_root_powers():
    """preexec_fn: drop the capabilities that let root write anything, so file modes apply (CI runs as root)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (fails harmlessly when not root)


def test_an_ollama_answer_records_the_servers_chat_template_hash():
    """/api/show's template, hashed, is kept with every answer (so a template change that alters answers shows);
    a server that does not say leaves it out and still answers."""
    import hashlib

    from analysis.core.models import GenOptions

    t = OllamaTarget("ollama:qwen2:7b", "qwen2:7b", ["http://h:11434"],
                     transport=_fake_ollama(["qwen2:7b"], template="{{ .Prompt }}"))
    meta = t.chat([{"role": "user", "content": "x"}], GenOptions()).meta
    assert meta["chat_template_sha256"] == hashlib.sha256(b"{{ .Prompt }}").hexdigest()[:16]
    other = OllamaTarget("ollama:qwen2:7b", "qwen2:7b", ["http://h:11434"],
                         transport=_fake_ollama(["qwen2:7b"], template="{{ .Prompt }} "))
    assert other.chat([{"role": "user", "content": "x"}], GenOptions()).meta["chat_template_sha256"] != \
        meta["chat_template_sha256"]
    silent = OllamaTarget("ollama:qwen2:7b", "qwen2:7b", ["http://h:11434"], transport=_fake_ollama(["qwen2:7b"]))
    assert "chat_template_sha256" not in silent.chat([{"role": "user", "content": "x"}], GenOptions()).meta
