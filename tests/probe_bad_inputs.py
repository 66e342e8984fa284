"""Probe: bad inputs a new user may give, each of which must end in one sentence (no traceback).

    uv run --frozen python tests/probe_bad_inputs.py            # all probes (about 30 s)
    uv run --frozen python tests/probe_bad_inputs.py --model    # also the embedded 0.5B's context overflow

Every probe gives one bad input (a response store, a parameter, a model spec, a server that misbehaves on
127.0.0.1, a model cache, a command line) and passes when the error is a ``UserError`` (or, for a command,
a non-zero exit) whose message is a single line without a traceback. The script prints one line per probe
and the count, and exits non-zero when any probe fails. ``tests/core/test_bad_inputs.py`` runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import importlib.util
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.core.errors import UserError  # noqa: E402

FAST = {"retries": 1, "backoff_s": 0.01, "timeout_s": 2.0}
# what every entry point does (the stage runner, the profile command): a UserError is shown as its sentence
ENTRY = """import sys
from analysis.core.errors import UserError
try:
    {}
except UserError as e:
    raise SystemExit(str(e))
"""


@dataclass
class Outcome:
    name: str
    ok: bool
    message: str


def _server_helpers():
    """CannedServer and the canned APIs of tests/core/test_server_targets.py (real sockets on 127.0.0.1)."""
    spec = importlib.util.spec_from_file_location("_server_targets", ROOT / "tests" / "core" / "test_server_targets.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _one_line(msg: str) -> bool:
    return bool(msg.strip()) and "\n" not in msg.strip() and "Traceback" not in msg


def check_raises(name: str, fn: Callable[[], object]) -> Outcome:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except UserError as e:
        return Outcome(name, _one_line(str(e)), str(e))
    except Exception as e:  # noqa: BLE001 - the point is to see what leaks
        return Outcome(name, False, f"{type(e).__name__}: {e}")
    return Outcome(name, False, "accepted silently (no error)")


def check_command(name: str, args: list[str], *, cwd: Path = ROOT, env: dict | None = None,
                  preexec: Callable | None = None) -> Outcome:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                       env={**os.environ, **(env or {})}, preexec_fn=preexec)
    out = (r.stderr.strip() or r.stdout.strip())
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    ok = r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr
    return Outcome(name, ok, out.splitlines()[-1] if ok else f"exit {r.returncode}: {out[-500:]}")


def _without_root_powers():
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: file modes then apply to root too
        libc.prctl(24, cap, 0, 0, 0)


# ---- the probes ------------------------------------------------------------------------------------------
def store_probes(tmp: Path) -> list[Outcome]:
    from analysis.core.store import ResponseStore

    out = []
    (tmp / "afile").write_text("x")
    good = tmp / "good.sqlite"
    s = ResponseStore(good)
    for i in range(200):
        s.put(f"k{i}", identity={"kind": "x", "spec": "x", "model": "m", "digest": "d"}, messages=[], options={},
              seed=0, sample=0, top_logprobs=0, text="x" * 300, logprobs=None, latency_s=0.0, meta={}, tag=None)
    s._drop_conn()
    data = good.read_bytes()
    files = {"random bytes": os.urandom(8192), "a text file": b"notes\n" * 100, "zeros": b"\0" * 4096,
             "a CSV": b"a,b\n1,2\n", "50 bytes of a store": data[:50], "a third of a store": data[: len(data) // 3]}
    for what, content in files.items():
        p = tmp / f"{what.replace(' ', '_')}.sqlite"
        p.write_bytes(content)
        out.append(check_raises(f"store: PSY_STORE is {what}", lambda p=p: ResponseStore(p)))
    out.append(check_raises("store: PSY_STORE is a folder", lambda: ResponseStore(tmp)))
    out.append(check_raises("store: PSY_STORE under a file", lambda: ResponseStore(tmp / "afile" / "s.sqlite")))
    other = tmp / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE calls (id INTEGER, note TEXT)")
    con.commit()
    con.close()
    out.append(check_raises("store: a SQLite file with another calls table", lambda: ResponseStore(other)))
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    code = ENTRY.format("from analysis.core.store import ResponseStore; ResponseStore(sys.argv[1]).check_writable()")
    try:
        out.append(check_command("store: PSY_STORE in a read-only folder", ["-c", code, str(ro / "s.sqlite")],
                                 preexec=_without_root_powers))
        out.append(check_command("store: PSY_STORE in a folder that cannot be made",
                                 ["-c", code, str(ro / "sub" / "s.sqlite")], preexec=_without_root_powers))
    finally:
        ro.chmod(0o755)
    return out


def spec_probes() -> list[Outcome]:
    from analysis.core.models import make_target

    specs = ["llama3", "gpt:foo", "ollama:", "openai:foo", "embedded:x@http://h", 42, "embedded:llama-70b",
             "openai:m@localhost:8000/v1", "openai:m@ftp://h/v1", "", "embedded:", "openai:@http://h/v1", None]
    return [check_raises(f"spec: {s!r}", lambda s=s: make_target(s)) for s in specs]


def params_probes(tmp: Path) -> list[Outcome]:
    from analysis.core.params import read_yaml
    from analysis.pipeline.params import validate_all

    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))

    def changed(dotted: str, value=None, rename: str | None = None, delete: bool = False) -> dict:
        d = copy.deepcopy(base)
        node = d
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        if rename:
            node[rename] = node.pop(last)
        elif delete:
            node.pop(last, None)
        else:
            node[last] = value
        return d

    cases = [
        ("targets.timeout_s", "ten minutes"), ("targets.timeout_s", -5), ("targets.retries", -1),
        ("targets.retries", 1.5), ("targets.backoff_s", "fast"), ("targets.n_ctx", 10), ("targets.n_ctx", "big"),
        ("targets.per_host_concurrency", 0), ("targets.cache_prompt", "sometimes"), ("targets.model_digests", ["x"]),
        ("targets.ollama_hosts", []), ("targets", "localhost"), ("seed", "zero"), ("seed", 1.5), ("models", ["gpt4"]),
        ("models", "embedded:qwen2.5-coder-0.5b@http://x"), ("models", []),
        ("models", ["embedded:qwen2.5-coder-0.5b", "embedded:qwen2.5-coder-0.5b"]),
        ("bigfive.collect.samples", -1), ("bigfive.collect.temperature", -1), ("bigfive.collect.max_reasks", "two"),
        ("bigfive.collect.mode", "telepathy"), ("bigfive.analysis.ci", 1.5), ("bigfive", 5),
    ]
    out = [check_raises(f"params: {k} = {v!r}", lambda k=k, v=v: validate_all(changed(k, v))) for k, v in cases]
    renames = [("targets.timeout_s", "timeout"), ("bigfive.collect.items_per_facet", "item_per_facet"),
               ("therapy.collect", "colect"), ("sycophancy.collect.n_personas", "n_persona"),
               ("illusion.collect.runs", "runz"), ("bigfive.analysis.ci", "confidence"), ("bigfive", "big_five")]
    for k, new in renames:
        if k.split(".")[0] in base:
            out.append(check_raises(f"params: {k} misspelled as {new!r}",
                                    lambda k=k, new=new: validate_all(changed(k, rename=new))))
    bad = tmp / "bad.yaml"
    bad.write_text("models: [embedded:qwen2.5-coder-0.5b\nseed: 0\n", encoding="utf-8")
    out.append(check_raises("params: a YAML syntax error", lambda: read_yaml(bad)))
    tabs = tmp / "tabs.yaml"
    tabs.write_text("models:\n\t- embedded:qwen2.5-coder-0.5b\n", encoding="utf-8")
    out.append(check_raises("params: tabs in YAML", lambda: read_yaml(tabs)))
    out.append(check_raises("params: a missing params file", lambda: read_yaml(tmp / "none.yaml")))
    lst = tmp / "list.yaml"
    lst.write_text("- models\n- seed\n", encoding="utf-8")
    out.append(check_raises("params: a list instead of sections", lambda: read_yaml(lst)))
    return out


def command_probes(tmp: Path) -> list[Outcome]:
    params = tmp / "params.yaml"
    params.write_text("models: [embedded:qwen2.5-coder-0.5b\nseed: 0\n", encoding="utf-8")
    prof = tmp / "prof.yaml"
    prof.write_text("models: [gpt4]\n", encoding="utf-8")
    badprof = tmp / "badprof.yaml"
    badprof.write_text("models: [a\n  b: c\n", encoding="utf-8")
    good = tmp / "good_params.yaml"
    good.write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return [
        check_command("profile: params.yaml with bad YAML", ["-m", "analysis.pipeline.profile", "tiny", "--params", str(params)]),
        check_command("profile: an invalid model", ["-m", "analysis.pipeline.profile", str(prof), "--params", str(good)]),
        check_command("profile: a profile with bad YAML", ["-m", "analysis.pipeline.profile", str(badprof), "--params", str(good)]),
        check_command("profile: a profile that does not exist", ["-m", "analysis.pipeline.profile", str(tmp / "no.yaml"),
                                                                 "--params", str(good)]),
        check_command("run_notebook: a file outside notebooks/", ["-m", "analysis.pipeline.run_notebook", str(prof)]),
        check_command("run_notebook: bad params.yaml", ["-m", "analysis.pipeline.run_notebook",
                                                        "notebooks/bigfive/01_collect.py", "--params-file", str(params)]),
    ]


def server_probes(tmp: Path) -> list[Outcome]:
    from analysis.core.elicit import Elicitor
    from analysis.core.models import make_target
    from analysis.core.store import ResponseStore

    h = _server_helpers()
    store = ResponseStore(tmp / "servers.sqlite")
    msg = [{"role": "user", "content": "Rate 1-5: I like tea."}]
    servers = []

    def serve(routes, fail=None):
        s = h.CannedServer(routes, fail)
        servers.append(s)
        return s

    def chat(spec, **kw):
        return lambda: Elicitor(make_target(spec, **{**FAST, **kw}), store, progress=False).generate(msg, top_logprobs=5)

    model = h.llamacpp_model()
    overflow = {"error": {"code": 400, "message": "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it"}}
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    try:
        ok = serve(h.openai_routes(model), fail=[500] * 100)
        html = serve({"GET /v1/models": lambda b: (200, "<html>blog</html>", "text/html")})
        plain = serve({"GET /v1/models": lambda b: (200, {"data": [{"id": "qwen", "owned_by": "organization"}]}, "application/json")})
        other = serve(h.openai_routes(h.llamacpp_model(path="/m/other.gguf")))
        e422 = serve(h.openai_routes(model, status=422, error={"detail": [{"msg": "top_logprobs must be <= 3"}]}))
        e400 = serve(h.openai_routes(model, status=400, error=overflow))
        e401 = serve(h.openai_routes(model, status=401, error={"error": {"message": "invalid api key"}}))
        e404 = serve(h.openai_routes(model, status=404, error={"error": {"message": "model not found"}}))
        slow = serve(h.openai_routes(model), fail=["slow"] * 10)
        reset = serve(h.openai_routes(model), fail=["reset"] * 10)
        ol5 = serve(h.ollama_routes(), fail=[503] * 100)
        olctx = serve({**h.ollama_routes(), "POST /api/chat": lambda b: (500, {"error": "input length exceeds the context length"}, "application/json")})
        web = serve({"GET /": lambda b: (200, "<html>hi</html>", "text/html")})
        out = [
            check_raises("openai: HTTP 500 on every try", chat(f"openai:qwen@{ok.url}/v1")),
            check_raises("openai: a web page, not an API", chat(f"openai:qwen@{html.url}/v1")),
            check_raises("openai: base URL without /v1", chat(f"openai:qwen@{ok.url}")),
            check_raises("openai: server reports no model metadata", chat(f"openai:qwen@{plain.url}/v1")),
            check_raises("openai: two URLs with different weights", chat(f"openai:qwen@{ok.url}/v1,{other.url}/v1")),
            check_raises("openai: model not served", chat(f"openai:llama@{ok.url}/v1")),
            check_raises("openai: HTTP 422 with a validation body", chat(f"openai:qwen@{e422.url}/v1")),
            check_raises("openai: context overflow (HTTP 400)", chat(f"openai:qwen@{e400.url}/v1")),
            check_raises("openai: HTTP 401", chat(f"openai:qwen@{e401.url}/v1")),
            check_raises("openai: HTTP 404 on chat", chat(f"openai:qwen@{e404.url}/v1")),
            check_raises("openai: every answer too slow", chat(f"openai:qwen@{slow.url}/v1", timeout_s=0.5)),
            check_raises("openai: every connection reset", chat(f"openai:qwen@{reset.url}/v1")),
            check_raises("openai: nothing listening", chat(f"openai:qwen@{dead}/v1")),
            check_raises("ollama: HTTP 503 on every try", chat(f"ollama:llama3.1:8b@{ol5.url}")),
            check_raises("ollama: context overflow", chat(f"ollama:llama3.1:8b@{olctx.url}")),
            check_raises("ollama: a web server that is not Ollama", chat(f"ollama:llama3.1:8b@{web.url}")),
            check_raises("ollama: nothing listening", chat(f"ollama:llama3.1:8b@{dead}")),
            check_raises("ollama: model not pulled", chat(f"ollama:qwen2:7b@{ol5.url}")),
        ]
    finally:
        for s in servers:
            s.close()
    if store.count():
        out.append(Outcome("servers: no failure stored", False, f"{store.count()} rows were stored"))
    return out


def model_cache_probes(tmp: Path) -> list[Outcome]:
    (tmp / "cachefile").write_text("x")
    code = ENTRY.format("from analysis.core.models.embedded import gguf_path; gguf_path('qwen2.5-coder-0.5b')")
    ro = tmp / "rocache"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        return [
            check_command("model cache: PSY_MODEL_CACHE is a file", ["-c", code], env={"PSY_MODEL_CACHE": str(tmp / "cachefile")}),
            check_command("model cache: PSY_MODEL_CACHE under a file", ["-c", code],
                          env={"PSY_MODEL_CACHE": str(tmp / "cachefile" / "m")}),
            check_command("model cache: PSY_MODEL_CACHE read-only", ["-c", code], env={"PSY_MODEL_CACHE": str(ro)},
                          preexec=_without_root_powers),
            check_command("model cache: PSY_MODEL_CACHE cannot be made", ["-c", code],
                          env={"PSY_MODEL_CACHE": str(ro / "sub")}, preexec=_without_root_powers),
        ]
    finally:
        ro.chmod(0o755)


def model_probes() -> list[Outcome]:
    from analysis.core.params import elicitor

    el = elicitor("embedded:qwen2.5-coder-0.5b", {"n_ctx": 256})
    with tempfile.TemporaryDirectory() as d:
        from analysis.core.store import ResponseStore

        el.store = ResponseStore(Path(d) / "s.sqlite")
        return [check_raises("embedded: a prompt longer than targets.n_ctx",
                             lambda: el.generate([{"role": "user", "content": "word " * 600}]))]


def run(with_model: bool = False, log=print) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="psy-probe-") as d:
        tmp = Path(d)
        for _name, fn in [("store", lambda: store_probes(tmp / "store")), ("specs", spec_probes),
                         ("params", lambda: params_probes(tmp / "params")), ("servers", lambda: server_probes(tmp / "srv")),
                         ("model cache", lambda: model_cache_probes(tmp / "cache")),
                         ("commands", lambda: command_probes(tmp / "cmd"))] + ([("model", model_probes)] if with_model else []):
            for sub in ("store", "params", "srv", "cache", "cmd"):
                (tmp / sub).mkdir(exist_ok=True)
            with contextlib.redirect_stderr(sys.stderr):
                res = fn()
            for o in res:
                log(f"[{'ok' if o.ok else 'FAIL'}] {o.name}: {o.message}")
            outcomes += res
    return outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="store_true", help="also probe the embedded 0.5B model (loads it)")
    a = ap.parse_args()
    outcomes = run(a.model)
    bad = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes)} bad inputs probed: {len(outcomes) - len(bad)} answered with one sentence, {len(bad)} not.")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
