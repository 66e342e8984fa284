"""Real servers on 127.0.0.1 for the server tests: llama.cpp's OpenAI-compatible server with the embedded
0.5B GGUF, the embedded engine behind the Ollama REST API on a socket, and a forwarding proxy that injects
faults (a slow server, a server that returns no log-probabilities) in front of either.

The llama.cpp server is, by default, xllamacpp's build of llama.cpp's server code run in its own process
(``XllamaServer``: prebuilt, starts in about 3 s). ``PSY_TEST_SERVER=llama-server`` runs the same tests
against ``llama-server`` built from the pinned llama.cpp source instead (``LlamaServer``: built once per
machine, 13-20 minutes on 2 cores, then cached; skipped with the reason where CMake or a compiler is
missing, except under CI, where that fails). Measured choice: the build alone would take a fifth of CI's
90 minutes on a cold machine, and both serve the same HTTP API from the same llama.cpp code.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models import make_target
from analysis.core.servers import (
    LlamaServer,
    ServerStartError,
    TransportServer,
    XllamaServer,
    build_llama_server,
    can_build,
    ollama_server,
)
from analysis.core.store import ResponseStore

MODEL = "qwen2.5-coder-0.5b"


SERVER = os.environ.get("PSY_TEST_SERVER", "xllamacpp")
if SERVER not in ("xllamacpp", "llama-server"):
    raise pytest.UsageError(f"PSY_TEST_SERVER={SERVER} is not a server the tests know; use xllamacpp or llama-server.")


@pytest.fixture(scope="session")
def llama_server_binary():
    if SERVER == "xllamacpp":
        return None
    why = can_build()
    from analysis.core.servers import cached_llama_server

    if cached_llama_server() is None and why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the llama-server tests, but {why}.")
        pytest.skip(why)
    try:
        return build_llama_server()
    except ServerStartError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def gguf():
    from analysis.core.models.embedded import gguf_path

    return gguf_path(MODEL)


@pytest.fixture(scope="module")
def llama_server(llama_server_binary, gguf):
    """A llama.cpp server with one slot (so its answers are deterministic, like the embedded engine's)."""
    server = XllamaServer(gguf, alias=MODEL, slots=1) if llama_server_binary is None else \
        LlamaServer(gguf, alias=MODEL, slots=1, binary=llama_server_binary)
    with server as srv:
        yield srv


@pytest.fixture(scope="module")
def ollama_socket_server():
    with ollama_server() as srv:
        yield srv


def _fresh_elicitor(spec: str, path, **target_kwargs) -> Elicitor:
    return Elicitor(make_target(spec, **target_kwargs), ResponseStore(path), progress=False)


@pytest.fixture(scope="session")
def fresh_elicitor():
    """``fresh_elicitor(spec, store_path, **target_kwargs)``: an Elicitor on its own store."""
    return _fresh_elicitor


class FaultProxy(httpx.BaseTransport):
    """Forwards every request to ``upstream`` (a server root URL); a chat request may be delayed
    (``delay_s``) and its log-probabilities removed (``strip_logprobs``), as a slow server or one
    that does not return them would."""

    CHAT = ("/v1/chat/completions", "/api/chat")

    def __init__(self, upstream: str, *, delay_s: float = 0.0, strip_logprobs: bool = False):
        self.client = httpx.Client(base_url=upstream, timeout=120)
        self.delay_s = delay_s
        self.strip_logprobs = strip_logprobs
        self.chat_requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        chat = request.url.path in self.CHAT
        if chat:
            self.chat_requests += 1
            if self.delay_s:
                time.sleep(self.delay_s)
        r = self.client.request(request.method, request.url.path, content=body,
                                headers={"content-type": request.headers.get("content-type", "application/json")})
        data = r.content
        if chat and self.strip_logprobs and r.status_code == 200:
            out = r.json()
            out.pop("logprobs", None)  # Ollama
            for c in out.get("choices", []):  # OpenAI
                c.pop("logprobs", None)
            data = json.dumps(out).encode()
        return httpx.Response(r.status_code, content=data, headers={"content-type": "application/json"})


@pytest.fixture
def proxy():
    """``proxy(upstream, **faults)`` -> a started TransportServer in front of ``upstream``."""
    started = []

    def make(upstream: str, **faults) -> TransportServer:
        srv = TransportServer(FaultProxy(upstream, **faults)).start()
        started.append(srv)
        return srv

    yield make
    for s in started:
        s.stop()
