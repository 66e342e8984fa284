"""Probe: bad inputs a new user may give, each of which must end in one sentence (no traceback).

    uv run --frozen python tests/probe_bad_inputs.py            # all probes (about 40 s)
    uv run --frozen python tests/probe_bad_inputs.py --model    # also the embedded 0.5B's context overflow
    uv run --frozen python tests/probe_bad_inputs.py --stages   # also through the real stage runner and DVC
                                                                # in a copy of the repository (a few minutes)

Every probe gives one bad input (a response store, a parameter, a model spec, a server that misbehaves on
127.0.0.1, a model cache, a command line, a published response file, a YAML bomb, a number that is not a
number) and passes when the error is a ``UserError`` (or, for a command, a non-zero exit) whose message is
a single line without a traceback (and, where the probe says so, contains the words that make it right).
``--stages`` also goes through the stage runner (papermill, via ``analysis.pipeline.run_notebook``) and
``dvc repro`` in a temporary copy of the repository, and kills an analysis stage with ``kill -9`` to check
that a re-run leaves no temporary file behind; there it also rewrites an instrument of the user's own
(outside the repository, named in params.yaml) and expects ``dvc status`` to name ``collect@bigfive``,
loads the genuine published responses (positive control) and a forged copy (refused), and kills the
``results`` stage (no ``.results.*`` file after a re-run). The script prints one line per probe
and the count, and exits non-zero when any probe fails. ``tests/core/test_bad_inputs.py`` runs it (the
``--stages`` part as a test marked ``model``: in the full suite, not in ``-m "not model"``).
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


def _has(msg: str, must: tuple[str, ...]) -> bool:
    return all(m in msg for m in must)


def check_raises(name: str, fn: Callable[[], object], must: tuple[str, ...] = (), max_len: int = 1000) -> Outcome:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except UserError as e:
        msg = str(e)
        return Outcome(name, _one_line(msg) and _has(msg, must) and len(msg) <= max_len,
                       msg if len(msg) <= max_len else f"{len(msg)} characters: {msg[:300]}")
    except Exception as e:  # noqa: BLE001 - the point is to see what leaks
        return Outcome(name, False, f"{type(e).__name__}: {e}")
    return Outcome(name, False, "accepted silently (no error)")


def check_command(name: str, args: list[str], *, cwd: Path = ROOT, env: dict | None = None,
                  preexec: Callable | None = None, must: tuple[str, ...] = (), timeout: float = 600) -> Outcome:
    try:
        r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                           env={**os.environ, **(env or {})}, preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        return Outcome(name, False, f"still running after {timeout:.0f} s")
    out = (r.stderr.strip() or r.stdout.strip())
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    ok = (r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr and _has(r.stderr, must)
          and len(r.stderr) < 2000)
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


# ---- issue 22: published responses, parsing limits, numbers, messages -------------------------------------
BOMB = "".join(['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'] +
               [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)])


def _published(tmp: Path) -> Path:
    """A small export (scripted answers) with its manifest, as `responses export` writes it."""
    from analysis.core.elicit import Elicitor
    from analysis.core.models.scripted import ScriptedTarget
    from analysis.core.store import ResponseStore
    from analysis.pipeline import responses

    el = Elicitor(ScriptedTarget(lambda m, o: "3"), ResponseStore(tmp / "made.sqlite"), progress=False)
    for i in range(5):
        el.generate([{"role": "user", "content": f"Rate statement {i} from 1 to 5."}], tag="ipip_neo_120")
    path, _ = responses.export(tmp / "made.sqlite", tmp / "pub" / "responses.parquet")
    return path


def published_probes(tmp: Path) -> list[Outcome]:
    import shutil

    import polars as pl

    from analysis.pipeline import responses

    good = _published(tmp)
    df = pl.read_parquet(good)
    man = responses.manifest_path(good)

    def variant(name: str, frame: pl.DataFrame | None = None, raw: bytes | None = None, manifest: str | None = "copy"):
        d = tmp / name
        d.mkdir()
        p = d / "responses.parquet"
        if raw is not None:
            p.write_bytes(raw)
        else:
            frame.write_parquet(p)
        if manifest == "copy":
            shutil.copy(man, responses.manifest_path(p))
        elif manifest is not None:
            responses.manifest_path(p).write_text(manifest)
        return p

    data = good.read_bytes()
    cases = [
        ("answers set to 5, keys kept", variant("answers", df.with_columns(pl.lit("5").alias("text"))),
         ("5 row(s) changed",)),
        ("digest changed, keys kept", variant("digest", df.with_columns(pl.lit("sha256:" + "0" * 64).alias("digest"))),
         ("5 of 5 rows do not match their key",)),
        ("model changed, keys kept", variant("model", df.with_columns(pl.lit("qwen2.5-coder-1.5b").alias("model"))),
         ("do not match their key",)),
        ("a row removed", variant("removed", df.slice(1)), ("1 row(s) of the manifest missing",)),
        ("damaged pages", variant("damaged", raw=data[:100] + bytes(b ^ 0x5A for b in data[100:600]) + data[600:]),
         ("damaged or truncated",)),
        ("truncated", variant("truncated", raw=data[: len(data) // 2]), ("damaged or truncated",)),
        ("no manifest", variant("nomanifest", df, manifest=None), ("has no manifest",)),
        ("a manifest that is not JSON", variant("badmanifest", df, manifest="{not json"), ("not a readable manifest",)),
    ]
    out = []
    for what, path, must in cases:
        out.append(check_command(f"published responses: {what}", ["-m", "analysis.pipeline.responses", "load", "--file",
                                                                   str(path), "--store", str(tmp / "s.sqlite")],
                                 must=must))
    from analysis.core.store import ResponseStore

    if (tmp / "s.sqlite").exists() and ResponseStore(tmp / "s.sqlite").count():
        out.append(Outcome("published responses: nothing inserted by a refused load", False,
                           f"{ResponseStore(tmp / 's.sqlite').count()} rows were inserted"))
    return out


def limit_probes(tmp: Path) -> list[Outcome]:
    from pydantic import BaseModel

    from analysis.core.instruments import load_instrument
    from analysis.core.params import Section, read_yaml, validate_section
    from analysis.core.parsers import parse_likert
    from analysis.studies.illusion.stats import load_expected_signs

    bomb = tmp / "bomb.yaml"
    bomb.write_text(BOMB)
    table = ROOT / "data" / "examples" / "illusion" / "published_table.csv"
    out = [check_command("reanalyse --spec: a 9-level YAML alias bomb",
                         ["-m", "analysis.studies.illusion.reanalyse", str(table), "--spec", str(bomb), "--out",
                          str(tmp / "re")], must=("aliases",), timeout=60),
           check_command("run_notebook: params.yaml is a YAML alias bomb",
                         ["-m", "analysis.pipeline.run_notebook", "notebooks/bigfive/02_analysis.py", "--params-file",
                          str(bomb)], must=("aliases",), timeout=60),
           check_raises("instrument: a YAML alias bomb", lambda: load_instrument(bomb), must=("aliases",))]
    eight = tmp / "eight.yaml"
    eight.write_text("".join(BOMB.splitlines(keepends=True)[:8]) + "models: *h\n")  # 9^8 values under `models`
    out.append(check_raises("params: an 8-level alias bomb (a 312 MB message before)", lambda: read_yaml(eight),
                            must=("aliases",), max_len=400))
    long_line = tmp / "long.yaml"
    long_line.write_text("models: [" + "x," * 1_500_000 + "\n")
    out.append(check_raises("params: one 3 MB line", lambda: read_yaml(long_line), max_len=400))
    huge = tmp / "huge_value.yaml"
    huge.write_text("seed: " + "9" * 1_000_000 + "x\n")
    from analysis.pipeline.params import validate_all

    out.append(check_raises("params: a 1 MB value", lambda: validate_all(read_yaml(huge)), max_len=600))
    csv = tmp / "long.csv"
    csv.write_text("trait,behaviour,expected_sign,rationale,reference\n" + "sr_E,bh_cct_cards,1,r," + "x" * 5_000_000 +
                   ",extra\n")
    out.append(check_raises("expected_signs: one 5 MB ragged line", lambda: load_expected_signs(csv),
                            must=("not a well-formed CSV",), max_len=400))
    import time

    reply = "I would say " + "very " * 2_000_000 + "much, 4"  # a 10 MB model reply
    t0 = time.perf_counter()
    value = parse_likert(reply, 1, 5, {1: "very inaccurate", 5: "very accurate"})
    took = time.perf_counter() - t0
    out.append(Outcome("parser: a 10 MB model reply", took < 10 and value == 4, f"parsed {value!r} in {took:.2f} s"))

    class Item(BaseModel):
        model_config = Section.model_config
        name: str

    class S(Section):
        items: list[Item] = []

    out.append(check_raises("params: an unknown key inside a list item",
                            lambda: validate_section(S, {"items": [{"name": "a", "nmae": "b"}]}, "x"),
                            must=("valid keys are name",)))
    bad_instr = tmp / "instr.yaml"
    bad_instr.write_text("id: x\nitems: [1, 2\n")
    out.append(check_raises("instrument: bad YAML names the file", lambda: load_instrument(bad_instr),
                            must=(str(bad_instr),)))
    return out


def number_probes(tmp: Path) -> list[Outcome]:
    import polars as pl

    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    table = pl.read_csv(ROOT / "data" / "examples" / "illusion" / "published_table.csv", infer_schema_length=None)
    first = pl.int_range(pl.len()) == 0
    tables = {
        "temperature -1": table.with_columns(pl.when(first).then(-1.0).otherwise(pl.col("temperature")).alias("temperature")),
        "temperature NaN": table.with_columns(pl.when(first).then(float("nan")).otherwise(pl.col("temperature"))
                                              .alias("temperature")),
        "temperature inf": table.with_columns(pl.when(first).then(float("inf")).otherwise(pl.col("temperature"))
                                              .alias("temperature")),
        "run 0.5": table.with_columns(pl.when(first).then(0.5).otherwise(pl.col("run").cast(pl.Float64)).alias("run")),
        "NaN in sr_A": table.with_columns(pl.when(first).then(float("nan")).otherwise(pl.col("sr_A")).alias("sr_A")),
    }
    musts = {"temperature -1": "negative", "temperature NaN": "not finite", "temperature inf": "not finite",
             "run 0.5": "not whole numbers", "NaN in sr_A": "'sr_A' has 1 NaN"}
    out = []
    for what, t in tables.items():
        p = tmp / f"{what.replace(' ', '_')}.csv"
        t.write_csv(p)
        out.append(check_command(f"reanalyse: a table with {what}", ["-m", "analysis.studies.illusion.reanalyse", str(p),
                                                                     "--out", str(tmp / "re")],
                                 must=(musts[what],), timeout=120))
    for value in (-1.0, float("nan"), float("inf")):
        params = copy.deepcopy(base)
        params.setdefault("bigfive", {}).setdefault("analysis", {})["temperatures"] = [0.0, value]
        p = tmp / f"params_{value}.yaml"
        p.write_text(yaml.safe_dump(params))
        out.append(check_command(f"run_notebook: bigfive.analysis.temperatures [0, {value}]",
                                 ["-m", "analysis.pipeline.run_notebook", "notebooks/bigfive/02_analysis.py",
                                  "--params-file", str(p)], must=("bigfive.analysis.temperatures",), timeout=120))
    return out


def message_probes(tmp: Path) -> list[Outcome]:
    from analysis.core.elicit import Elicitor
    from analysis.core.models.scripted import ScriptedTarget
    from analysis.core.store import ResponseStore

    out = []
    damaged = tmp / "damaged.sqlite"
    el = Elicitor(ScriptedTarget(lambda m, o: "3 " + "x" * 500), ResponseStore(damaged), progress=False)
    for i in range(300):
        el.generate([{"role": "user", "content": f"q{i}"}])
    con = sqlite3.connect(damaged)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(damaged.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for p in range(2, len(data) // page):
        data[p * page: p * page + 16] = b"\xff" * 16
    damaged.write_bytes(bytes(data))
    code = ENTRY.format("from analysis.core.store import ResponseStore; s = ResponseStore(sys.argv[1]); s.count(); "
                        "s.get('k')")
    out.append(check_command("store: damaged SQLite pages", ["-c", code, str(damaged)], must=("damaged",)))
    newer = tmp / "newer.sqlite"
    Elicitor(ScriptedTarget(lambda m, o: "3"), ResponseStore(newer), progress=False).generate(
        [{"role": "user", "content": "q"}])
    con = sqlite3.connect(newer)
    con.execute("ALTER TABLE calls ADD COLUMN future TEXT")
    con.close()
    code = ENTRY.format("from analysis.core.elicit import Elicitor; from analysis.core.models.scripted import "
                        "ScriptedTarget; from analysis.core.store import ResponseStore; Elicitor(ScriptedTarget("
                        "lambda m, o: '4'), ResponseStore(sys.argv[1]), progress=False).generate([{'role': 'user', "
                        "'content': 'new'}])")
    out.append(check_command("store: written by a newer schema (one more column)", ["-c", code, str(newer)],
                             must=("newer version",)))
    from analysis.studies.illusion.stats import load_expected_signs

    binary = tmp / "signs.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    ragged = tmp / "ragged.csv"
    ragged.write_text("trait,behaviour,expected_sign,rationale,reference\nsr_E,bh_cct_cards,1,a,b,c,d\n")
    folder = tmp / "signs_dir"
    folder.mkdir()
    for what, p in (("a binary", binary), ("a ragged CSV", ragged), ("a folder", folder)):
        out.append(check_raises(f"expected_signs: {what}", lambda p=p: load_expected_signs(p),
                                must=(str(p), {"a binary": "binary", "a ragged CSV": "line 2 has 7 fields",
                                               "a folder": "folder"}[what])))
    return out


# ---- through the real stage runner (papermill) and DVC, in a copy of the repository ------------------------
def _repo_copy(dst: Path) -> dict:
    import shutil

    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        if (ROOT / f).is_file() and not f.startswith(("reports/", "figures/", "data/processed/", "metrics/",
                                                       "data/published/", "data/results/")):
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    venv_bin = str(Path(sys.executable).parent)
    return {"PSY_STORE": str(dst / "store.sqlite"), "PYTHONPATH": str(dst), "PATH": f"{venv_bin}:{os.environ['PATH']}"}


def _leftovers(repo: Path, since: float) -> list[str]:
    found = [str(p.relative_to(repo)) for p in repo.rglob(".*.tmp*") if ".git" not in p.parts]
    found += [str(p) for p in Path(tempfile.gettempdir()).glob("psy-nb-*") if p.stat().st_mtime >= since]
    return found


def stage_probes(tmp: Path) -> list[Outcome]:
    import signal
    import time

    repo = tmp / "repo"
    env = _repo_copy(repo)
    base = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    out = []
    runner = ["-m", "analysis.pipeline.run_notebook", "notebooks/illusion/02_analysis.py", "--params-file"]
    binary = tmp / "signs.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    ragged = tmp / "ragged.csv"
    ragged.write_text("trait,behaviour,expected_sign,rationale,reference\nsr_E,bh_cct_cards,1,a,b,c,d\n")
    for what, target in (("a binary", binary), ("a ragged CSV", ragged), ("a folder", tmp)):
        params = copy.deepcopy(base)
        params["illusion"].setdefault("analysis", {})["expected_signs"] = str(target)
        p = tmp / "params_signs.yaml"
        p.write_text(yaml.safe_dump(params))
        out.append(check_command(f"stage runner (papermill): expected_signs is {what}", [*runner, str(p)], cwd=repo,
                                 env=env, must=("Expected-signs file", str(target)), timeout=900))
    # kill -9 during an analysis stage, then the same stage again: no temporary file or folder is left. The longest
    # analysis (Study 1's, about 17 s of cells) and a kill 4 s after its progress file appears: the Big Five analysis
    # with a kill after 8 s had become too fast for that (CI: "the stage ended before the kill")
    t0 = time.time()
    stage_nb = "notebooks/illusion/02_analysis.py"
    proc = subprocess.Popen([sys.executable, "-m", "analysis.pipeline.run_notebook", stage_nb],
                            cwd=repo, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stage_tmp = repo / "data" / "cache" / "tmp"
    while proc.poll() is None and time.time() - t0 < 600:
        started = list(stage_tmp.glob(".psy-nb-*")) if stage_tmp.exists() else []
        if started and any((d / "progress.log").exists() for d in started):
            time.sleep(4)  # into the analysis
            break
        time.sleep(0.2)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left_after_kill = _leftovers(repo, t0)
        r = subprocess.run([sys.executable, "-m", "analysis.pipeline.run_notebook", stage_nb],
                           cwd=repo, env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
        left = _leftovers(repo, t0)
        ok = r.returncode == 0 and not left
        out.append(Outcome("stage runner: kill -9 during an analysis stage, then a re-run", ok,
                           f"left after the kill: {left_after_kill or 'nothing'}; after the re-run: {left or 'nothing'}"
                           if r.returncode == 0 else f"re-run failed: {r.stderr[-300:]}"))
    else:
        out.append(Outcome("stage runner: kill -9 during an analysis stage", False, "the stage ended before the kill"))
    # DVC: a bad analysis parameter is refused by the stage DVC runs, before any notebook starts
    subprocess.run("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", shell=True,
                   cwd=repo, env={**os.environ, **env}, capture_output=True)
    params = copy.deepcopy(base)
    params["bigfive"].setdefault("analysis", {})["temperatures"] = [0.0, -1.0]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    r = subprocess.run([sys.executable, "-m", "dvc", "repro", "--single-item", "analyze@bigfive"], cwd=repo,
                       env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    said = [ln for ln in (r.stdout + r.stderr).splitlines() if "bigfive.analysis.temperatures" in ln]
    out.append(Outcome("dvc repro: bigfive.analysis.temperatures [0, -1]",
                       r.returncode != 0 and len(said) >= 1 and "Traceback" not in r.stderr,
                       said[0] if said else (r.stdout + r.stderr)[-400:]))
    return out + repo_probes(repo, env, tmp, base)


def _dvc_status(repo: Path, env: dict, *targets: str) -> dict:
    import json

    r = subprocess.run([sys.executable, "-m", "dvc", "status", "--json", *targets], cwd=repo,
                       env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    try:
        return json.loads(r.stdout or "{}")
    except ValueError:
        return {"<dvc status failed>": (r.stdout + r.stderr)[-300:]}


def repo_probes(repo: Path, env: dict, tmp: Path, base: dict) -> list[Outcome]:
    """In the copy of the repository (a git repository by now): an instrument outside the repository rewritten
    shows in ``dvc status``; a forged published file is refused by ``responses load`` (and the genuine one
    loads); a ``results`` stage killed with ``kill -9`` leaves no ``.results.*`` temporary file after a re-run."""
    import shutil
    import signal
    import time

    import polars as pl

    out = []
    full_env = {**os.environ, **env}
    py = [sys.executable, "-m"]
    # (a) an instrument of the user's own, outside the repository, named in params.yaml and then rewritten
    outside = tmp / "own_instrument.yaml"
    shutil.copy(ROOT / "data" / "instruments" / "ipip_neo_120.yaml", outside)
    params = copy.deepcopy(base)
    params["bigfive"]["collect"]["instrument"] = str(outside)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    for f in ("reports/bigfive/01_collect.html", "reports/bigfive/01_collect.ipynb"):  # outputs dvc commit needs
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, repo / f)
    steps = [py + ["dvc", "repro", "--single-item", "resolve"], py + ["dvc", "commit", "-f", "collect@bigfive"]]
    failed = [r for r in (subprocess.run(c, cwd=repo, env=full_env, capture_output=True, text=True, timeout=600)
                          for c in steps) if r.returncode != 0]
    before = _dvc_status(repo, env, "collect@bigfive", "analyze@bigfive")
    outside.write_text(outside.read_text(encoding="utf-8") + "# rewritten by its user\n", encoding="utf-8")
    r = subprocess.run(py + ["dvc", "repro", "--single-item", "resolve"], cwd=repo, env=full_env, capture_output=True,
                       text=True, timeout=600)
    after = _dvc_status(repo, env, "collect@bigfive", "analyze@bigfive")
    # the analysis lock covering the collection's files is another change: only collect@bigfive is required here
    ok = not failed and r.returncode == 0 and "collect@bigfive" not in before and "collect@bigfive" in after
    out.append(Outcome("dvc status: an outside instrument named in params rewritten", ok,
                       f"dvc status names {sorted(after)} (before the rewrite: {sorted(before) or 'nothing'})"
                       if not failed else f"setup failed: {(failed[0].stdout + failed[0].stderr)[-300:]}"))
    # (b) the published responses: the genuine file loads (positive control), a forged one is refused
    pub = repo / "data" / "published"
    pub.mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "data" / "published").iterdir():
        shutil.copy2(f, pub / f.name)
    load = py + ["analysis.pipeline.responses", "load", "--store"]
    r = subprocess.run([*load, str(tmp / "genuine.sqlite")], cwd=repo, env=full_env, capture_output=True, text=True,
                       timeout=600)
    out.append(Outcome("published responses: the genuine file loads (positive control)",
                       r.returncode == 0 and "checked against responses.manifest.json" in r.stderr,
                       r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"))
    genuine = (pub / "responses.parquet").read_bytes()
    df = pl.read_parquet(pub / "responses.parquet")
    df.with_columns(pl.when(pl.col("tag") == "ipip_neo_120").then(pl.lit("5")).otherwise(pl.col("text"))
                    .alias("text")).write_parquet(pub / "responses.parquet")
    out.append(check_command("published responses: a forged file in the repository", [*load[1:], str(tmp / "forged.sqlite")], cwd=repo, env=env, must=("row(s) changed", "nothing was loaded")))
    (pub / "responses.parquet").write_bytes(genuine)
    # (c) kill -9 during the results stage, then the stage again: no .results.* temporary file is left
    results_dir = repo / "data" / "results"
    t0 = time.time()
    proc = subprocess.Popen(py + ["analysis.pipeline.results"], cwd=repo, env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and time.time() - t0 < 300:
        if results_dir.exists() and list(results_dir.glob(".results.*")):
            break
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    left_after_kill = sorted(p.name for p in results_dir.glob(".results.*")) if results_dir.exists() else []
    r = subprocess.run(py + ["analysis.pipeline.results"], cwd=repo, env=full_env, capture_output=True, text=True,
                       timeout=600)
    left = sorted(p.name for p in results_dir.glob(".results.*")) if results_dir.exists() else []
    out.append(Outcome("results stage: kill -9, then a re-run", killed and r.returncode == 0 and not left
                       and (results_dir / "results.duckdb").exists(),
                       (f"left after the kill: {left_after_kill or 'nothing'}; after the re-run: {left or 'nothing'}"
                        if killed else "the stage ended before the kill")
                       if r.returncode == 0 else f"re-run failed: {r.stderr[-300:]}"))
    return out


def run(with_model: bool = False, log=print, with_stages: bool = False) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="psy-probe-") as d:
        tmp = Path(d)
        groups = [("store", lambda: store_probes(tmp / "store")), ("specs", spec_probes),
                  ("params", lambda: params_probes(tmp / "params")), ("servers", lambda: server_probes(tmp / "srv")),
                  ("model cache", lambda: model_cache_probes(tmp / "cache")),
                  ("commands", lambda: command_probes(tmp / "cmd")),
                  ("published", lambda: published_probes(tmp / "pub")),
                  ("limits", lambda: limit_probes(tmp / "lim")), ("numbers", lambda: number_probes(tmp / "num")),
                  ("messages", lambda: message_probes(tmp / "msg"))]
        groups += [("model", model_probes)] if with_model else []
        groups += [("stages", lambda: stage_probes(tmp / "stages"))] if with_stages else []
        for _name, fn in groups:
            for sub in ("store", "params", "srv", "cache", "cmd", "pub", "lim", "num", "msg", "stages"):
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
    ap.add_argument("--stages", action="store_true", help="also probe through the stage runner (papermill) and DVC "
                    "in a copy of the repository, with a kill -9 (a few minutes)")
    a = ap.parse_args()
    outcomes = run(a.model, with_stages=a.stages)
    bad = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes)} bad inputs probed: {len(outcomes) - len(bad)} answered with one sentence, {len(bad)} not.")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
