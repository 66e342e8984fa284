"""Hashes of a GGUF file's chat template and tokenizer, checked against what the ``gguf`` package reads."""

import hashlib

import pytest

from analysis.core.gguf_meta import prompt_provenance


def _by_gguf_package(path):
    gguf = pytest.importorskip("gguf", reason="the gguf package (a dev dependency) is the independent reader")
    fields = gguf.GGUFReader(str(path)).fields
    template = fields["tokenizer.chat_template"].contents()
    raw = hashlib.sha256()
    for key, field in fields.items():  # in file order: key length, key, type and value bytes as stored
        if key.startswith("tokenizer.") and key != "tokenizer.chat_template":
            raw.update(b"".join(p.tobytes() for p in field.parts))
    return {"chat_template_sha256": hashlib.sha256(template.encode()).hexdigest()[:16],
            "tokenizer_sha256": raw.hexdigest()[:16]}


@pytest.mark.model
def test_the_hashes_are_those_of_the_bytes_the_gguf_package_reads():
    from analysis.core.models.embedded import gguf_path

    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"):
        path = gguf_path(name)
        assert prompt_provenance(path) == _by_gguf_package(path), name
    # the two models share Qwen2.5's tokenizer; their chat templates differ
    small, large = (prompt_provenance(gguf_path(n)) for n in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"))
    assert small["tokenizer_sha256"] == large["tokenizer_sha256"]
    assert small["chat_template_sha256"] != large["chat_template_sha256"]


def test_a_changed_template_or_tokenizer_changes_its_hash_only(tmp_path):
    """A small GGUF written here: editing the template moves only the template's hash, editing a token only the
    tokenizer's; a file that is not GGUF is refused."""
    import struct

    def kv_string(key, value):
        k, v = key.encode(), value.encode()
        return struct.pack("<Q", len(k)) + k + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + v

    def kv_tokens(key, tokens):
        k = key.encode()
        body = b"".join(struct.pack("<Q", len(t.encode())) + t.encode() for t in tokens)
        return struct.pack("<Q", len(k)) + k + struct.pack("<I", 9) + struct.pack("<IQ", 8, len(tokens)) + body

    def write(name, template, tokens):
        kvs = [kv_string("general.name", "t"), kv_string("tokenizer.ggml.model", "gpt2"),
               kv_tokens("tokenizer.ggml.tokens", tokens), kv_string("tokenizer.chat_template", template)]
        p = tmp_path / name
        p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))
        return prompt_provenance(p)

    a = write("a.gguf", "{{ messages }}", ["a", "b"])
    b = write("b.gguf", "{{ messages }}!", ["a", "b"])
    c = write("c.gguf", "{{ messages }}", ["a", "c"])
    assert a["chat_template_sha256"] == hashlib.sha256(b"{{ messages }}").hexdigest()[:16]
    assert a["chat_template_sha256"] != b["chat_template_sha256"] and a["tokenizer_sha256"] == b["tokenizer_sha256"]
    assert a["tokenizer_sha256"] != c["tokenizer_sha256"] and a["chat_template_sha256"] == c["chat_template_sha256"]
    (tmp_path / "x.gguf").write_bytes(b"not a model file at all, long enough for a header")
    with pytest.raises(ValueError, match="not a GGUF file"):
        prompt_provenance(tmp_path / "x.gguf")


@pytest.mark.model
def test_every_embedded_answer_carries_the_template_tokenizer_and_engine():
    import xllamacpp

    from analysis.core.models import GenOptions, make_target
    from analysis.core.models.embedded import gguf_path

    # an engine of its own (another context size): the shared engine's prompt cache, which later tests' numbers
    # depend on, is left as it was
    t = make_target("embedded:qwen2.5-coder-0.5b", n_ctx=1024)
    meta = t.chat([{"role": "user", "content": "Say yes."}], GenOptions(max_tokens=2)).meta
    assert {k: meta[k] for k in ("chat_template_sha256", "tokenizer_sha256")} == \
        prompt_provenance(gguf_path("qwen2.5-coder-0.5b"))
    assert meta["engine"] == f"xllamacpp {xllamacpp.__version__}"
