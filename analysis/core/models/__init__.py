"""Model targets chosen by a spec string (see ``make_target``)."""

from __future__ import annotations

import os

from analysis.core.errors import ModelSpecError
from analysis.core.models.base import GenOptions, Message, RawReply, Target, TokenLogprob

SPEC_FORMS = (
    "'embedded:qwen2.5-coder-1.5b' or 'embedded:qwen2.5-coder-0.5b' (in-process llama.cpp, no server), "
    "'ollama:NAME' or 'ollama:NAME@http://host:11434[,http://host2:11434]' (an Ollama server), "
    "'openai:NAME@http://host:8000/v1[,...]' (an OpenAI-compatible server such as vLLM), "
    "'anthropic:NAME' or 'anthropic:NAME@https://host' (Anthropic's Messages API; default https://api.anthropic.com)"
)

HOSTED = ("openai", "anthropic")  # kinds keyed by an API key from the environment (targets.api_key_env)
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

__all__ = ["GenOptions", "Message", "RawReply", "Target", "TokenLogprob", "make_target", "parse_spec", "label", "SPEC_FORMS",
           "HOSTED"]


def parse_spec(spec: str) -> tuple[str, str, list[str]]:
    """'kind:name@url1,url2' -> (kind, name, urls). Raises ModelSpecError with the valid forms."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ModelSpecError(f"Model spec {spec!r} is not valid; use one of: {SPEC_FORMS}.")
    kind, rest = spec.split(":", 1)
    name, _, hosts = rest.partition("@")
    urls = [h.strip() for h in hosts.split(",") if h.strip()]
    if kind not in ("embedded", "ollama", *HOSTED) or not name:
        raise ModelSpecError(f"Model spec {spec!r} is not valid; use one of: {SPEC_FORMS}.")
    if kind == "openai" and not urls:
        raise ModelSpecError(f"Model spec {spec!r} needs a base URL ('openai:NAME@http://host:8000/v1'); valid forms: {SPEC_FORMS}.")
    if kind == "embedded" and urls:
        raise ModelSpecError(f"Model spec {spec!r}: an embedded model takes no host; valid forms: {SPEC_FORMS}.")
    if kind == "anthropic" and len(urls) > 1:
        raise ModelSpecError(f"Model spec {spec!r}: an anthropic: model takes one base URL at most (Anthropic's API "
                             f"is one service); valid forms: {SPEC_FORMS}.")
    if kind == "openai":
        from analysis.core.models.openai_target import check_base_url

        for u in urls:
            check_base_url(spec, u)
    if kind == "anthropic":
        from analysis.core.models.anthropic_target import check_base_url as check_anthropic_url

        for u in urls:
            check_anthropic_url(spec, u)
    return kind, name, urls


def label(spec: str) -> str:
    """The name a model goes by in tables and figures: its spec without the URLs it is served from
    (``openai:NAME@http://a/v1,http://b/v1`` -> ``openai:NAME``, ``anthropic:NAME@https://h`` -> ``anthropic:NAME``).
    Embedded and Ollama specs keep the form they were given, because their cache keys (and existing store rows) are
    built from it."""
    kind, name, _ = parse_spec(spec)
    return f"{kind}:{name}" if kind in HOSTED else spec


def key_env_of(spec: str, api_key_env: dict[str, str] | None) -> str | None:
    """The environment variable ``targets.api_key_env`` names for an ``openai:`` or ``anthropic:`` spec (by its spec,
    ``KIND:NAME`` or ``NAME``), or None (then ``OPENAI_API_KEY`` or ``ANTHROPIC_API_KEY``)."""
    kind, name, _ = parse_spec(spec)
    if kind not in HOSTED:
        return None
    envs = api_key_env or {}
    return envs.get(spec) or envs.get(f"{kind}:{name}") or envs.get(name)


def declared_logprobs(spec: str, logprobs: dict[str, bool] | None) -> bool | None:
    """What ``targets.logprobs`` declares for ``spec`` (named by its spec, ``KIND:NAME`` or ``NAME``): False for a
    model that returns no log-probabilities, True for one that does, None when it says nothing. Any kind."""
    kind, name, _ = parse_spec(spec)
    declared = logprobs or {}
    for key in (spec, f"{kind}:{name}", name):
        if key in declared:
            return bool(declared[key])
    return None


def check_api_keys(models: list[str], api_key_env: dict[str, str] | None) -> None:
    """Every variable ``targets.api_key_env`` names for these models is set, and so is ``ANTHROPIC_API_KEY`` for an
    ``anthropic:`` model it names none for (Anthropic's API takes no call without a key); else one sentence naming
    the first that is not (checked for all models before a stage calls any)."""
    for spec in models:
        var = key_env_of(spec, api_key_env)
        if var is not None and not os.environ.get(var):
            raise ModelSpecError(f"targets.api_key_env names the environment variable {var} for {spec!r}, but it "
                                 f"is not set: export {var}=<the provider's key> before the run.")
        if var is None and parse_spec(spec)[0] == "anthropic" and not os.environ.get(DEFAULT_KEY_ENV["anthropic"]):
            raise ModelSpecError(f"{spec!r} needs an Anthropic API key in the environment variable ANTHROPIC_API_KEY, "
                                 "which is not set: export ANTHROPIC_API_KEY=<the key> before the run (or name "
                                 "another variable for it in targets.api_key_env).")


def make_target(spec: str, *, ollama_hosts: list[str] | None = None, timeout_s: float = 600.0,
                per_host_concurrency: int = 1, cache_prompt: bool = True, n_ctx: int = 4096, retries: int = 3,
                backoff_s: float = 1.0, model_digests: dict[str, str] | None = None,
                api_key_env: dict[str, str] | None = None, logprobs: dict[str, bool] | None = None) -> Target:
    """The target a spec names. ``n_ctx``: the embedded engine's context window; ``retries``/``backoff_s``:
    how transient server failures are retried; ``model_digests``: {served name: digest} declaring the
    weights behind an OpenAI-compatible server's model name (see openai_target); ``api_key_env``: {spec or
    served name: environment variable holding its API key} (default OPENAI_API_KEY, for anthropic:
    ANTHROPIC_API_KEY); ``logprobs``: {spec or
    name: False} for a model that returns no log-probabilities, which is then asked by generation from its
    first call (as the plan counts it) instead of after a first refused log-probability call."""
    target = _build(spec, ollama_hosts=ollama_hosts, timeout_s=timeout_s, per_host_concurrency=per_host_concurrency,
                    cache_prompt=cache_prompt, n_ctx=n_ctx, retries=retries, backoff_s=backoff_s,
                    model_digests=model_digests, api_key_env=api_key_env)
    if declared_logprobs(spec, logprobs) is False:
        # declared True changes nothing: a target that then returns none falls back as it would undeclared
        target.supports_logprobs = False
    return target


def _build(spec: str, *, ollama_hosts: list[str] | None, timeout_s: float, per_host_concurrency: int,
           cache_prompt: bool, n_ctx: int, retries: int, backoff_s: float, model_digests: dict[str, str] | None,
           api_key_env: dict[str, str] | None) -> Target:
    kind, name, urls = parse_spec(spec)
    if kind == "embedded":
        from analysis.core.models.embedded import EMBEDDED_MODELS, OllamaAPITransport
        from analysis.core.models.ollama_target import OllamaTarget

        if name not in EMBEDDED_MODELS:
            raise ModelSpecError(
                f"Unknown embedded model {name!r} in spec {spec!r}; embedded models are {sorted(EMBEDDED_MODELS)}."
            )
        return OllamaTarget(spec, name, ["http://embedded.invalid"], kind="embedded",
                            transport=OllamaAPITransport(cache_prompt=cache_prompt, n_ctx=n_ctx), timeout_s=timeout_s,
                            n_ctx=n_ctx)
    if kind == "ollama":
        from analysis.core.models.ollama_target import OllamaTarget

        hosts = urls or ollama_hosts or [os.environ.get("OLLAMA_HOST", "http://localhost:11434")]
        return OllamaTarget(spec, name, hosts, timeout_s=timeout_s, per_host_concurrency=per_host_concurrency,
                            retries=retries, backoff_s=backoff_s)
    digests = model_digests or {}
    declared = digests.get(spec) or digests.get(f"{kind}:{name}") or digests.get(name)
    key_env = key_env_of(spec, api_key_env)
    check_api_keys([spec], api_key_env)
    if kind == "anthropic":
        from analysis.core.models.anthropic_target import DEFAULT_BASE_URL, AnthropicTarget

        return AnthropicTarget(spec, name, urls[0] if urls else DEFAULT_BASE_URL, timeout_s=timeout_s,
                               per_url_concurrency=per_host_concurrency, retries=retries, backoff_s=backoff_s,
                               declared_digest=declared, key_env=key_env or DEFAULT_KEY_ENV["anthropic"])
    from analysis.core.models.openai_target import OpenAITarget

    return OpenAITarget(spec, name, urls, timeout_s=timeout_s, per_url_concurrency=per_host_concurrency,
                        retries=retries, backoff_s=backoff_s, declared_digest=declared, cache_prompt=cache_prompt,
                        key_env=key_env or "OPENAI_API_KEY")
