"""Helpers of the DVC tests that need no model: a fake llama.cpp server on 127.0.0.1 whose identity a test
chooses (and can swap), and a temporary copy of the repository with its reference outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from analysis.core.paths import ROOT


class FakeLlamaServer:
    """Answers like a llama.cpp server (``/v1/models`` with ``meta``, ``/props``, ``/v1/chat/completions``
    with log-probabilities) for one model name. ``n_params`` (its reported parameter count) is what a test
    changes to serve "other weights" under the same name; ``delay_s`` slows every chat call; ``fail`` makes
    every chat call an HTTP 400."""

    def __init__(self, name: str = "qwen", *, n_params: int = 494_032_768, slots: int = 1, delay_s: float = 0.0,
                 fail: bool = False, port: int = 0):
        self.name, self.n_params, self.slots, self.delay_s, self.fail = name, n_params, slots, delay_s, fail
        self.chat_calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": fake.name, "object": "model",
                                                                 "owned_by": "llamacpp",
                                                                 "meta": {"n_params": fake.n_params, "n_vocab": 151936,
                                                                          "size": fake.n_params // 2}}]})
                elif self.path.rstrip("/") == "/props":
                    self._send(200, {"model_path": f"/models/{fake.name}-{fake.n_params}.gguf",
                                     "chat_template": "{{ messages }}", "total_slots": fake.slots,
                                     "build_info": "b0-fake", "default_generation_settings": {"n_ctx": 4096}})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                self.rfile.read(n)
                fake.chat_calls += 1
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fake.fail:
                    self._send(400, {"error": {"message": "this fake server refuses every request"}})
                    return
                top = [{"token": t, "logprob": lp} for t, lp in (("3", -0.2), ("4", -2.0), ("2", -3.0))]
                self._send(200, {"choices": [{"message": {"role": "assistant", "content": "3"},
                                              "finish_reason": "length",
                                              "logprobs": {"content": [{"token": "3", "logprob": -0.2,
                                                                        "top_logprobs": top}]}}],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": 1}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeLlamaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SKIP_PREFIXES = (".venv/", ".git/", "data/cache/", ".stage/")


def copy_repo(dst: Path) -> dict:
    """A git-initialised copy of the working tree (tracked and untracked files, reference outputs included)
    and the environment that runs its stages with its own code and a store of its own."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        if (ROOT / f).is_file() and not f.startswith(SKIP_PREFIXES):
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PSY_STORE": str(dst / "store.sqlite"), "PYTHONPATH": str(dst),
           "PATH": f"{venv_bin}:{os.environ['PATH']}"}
    env.pop("PSY_STAGE_OUTPUTS", None)
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", dst, env)
    return env


def sh(cmd: str, cwd: Path, env: dict, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=True)
    if ok:
        assert r.returncode == 0, f"{cmd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def snapshot(root: Path, rels: list[str]) -> dict[str, bytes]:
    """Every file under the given paths, byte for byte."""
    out = {}
    for rel in rels:
        p = root / rel
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file()) if p.exists() else []
        for f in files:
            out[f.relative_to(root).as_posix()] = f.read_bytes()
    return out
