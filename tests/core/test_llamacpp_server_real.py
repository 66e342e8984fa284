"""Against a real llama.cpp HTTP server (xllamacpp's, in this process, serving the embedded 0.5B on
127.0.0.1): the openai: target reads the model's identity from /v1/models and /props as llama.cpp really
reports them, records the slot configuration, passes cache_prompt, and a context overflow comes back as
the server's own sentence (issue 13)."""

from __future__ import annotations

import json
import socket

import pytest

from analysis.core.elicit import Elicitor
from analysis.core.errors import ContextOverflow
from analysis.core.models import make_target

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def llama_server():
    import xllamacpp as xl

    from analysis.core.models.embedded import _quiet_stderr, gguf_path

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = xl.CommonParams()
    p.model.path = str(gguf_path("qwen2.5-coder-0.5b"))
    p.n_ctx, p.n_parallel, p.warmup, p.verbosity, p.port = 1024, 2, False, -1, port
    p.model_alias = {"qwen"}
    with _quiet_stderr():
        server = xl.Server(p)
    yield f"http://127.0.0.1:{port}/v1", server


def test_identity_slots_and_overflow_on_a_real_llamacpp_server(llama_server, store):
    url, _ = llama_server
    with pytest.warns(UserWarning, match="2 slots"):
        t = make_target(f"openai:qwen@{url}", retries=0, cache_prompt=False)
    assert t.spec == "openai:qwen" and t.digest.startswith("llama.cpp:")
    info = t.servers[0]
    assert info["model_file"] == "qwen2.5-coder-0.5b-1d9614638d18.gguf" and info["total_slots"] == 2
    assert info["meta"]["n_params"] > 4e8 and info["meta"]["n_vocab"] == 151936
    el = Elicitor(t, store, progress=False)
    op = el.option_probs([{"role": "user", "content": "Pick a digit from 1 to 5. Answer with the digit only."}],
                         ["1", "2", "3", "4", "5"])
    assert op.mass > 0.5
    meta = json.loads(store.export()["meta"][0])
    assert meta["server"]["total_slots"] == 2 and meta["cache_prompt"] is False and meta["host"] == url
    with pytest.raises(ContextOverflow) as e:
        el.generate([{"role": "user", "content": "word " * 2000}])
    assert "exceeds the available context size (512 tokens)" in str(e.value) and "-np" in str(e.value)
