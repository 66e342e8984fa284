"""params.yaml: one pydantic model per section, the single source of every default.

Each section of ``params.yaml`` is validated by a model derived from :class:`Section`
(``extra="forbid"``), so a misspelled key, a wrong type or an out-of-range value is refused before any
model is called, in one sentence that names the key and what is valid. The project-wide sections are
``models``, ``seed`` and ``targets`` (:class:`Project`); every study adds ``<study>.collect`` and
``<study>.analysis`` (its own models, in ``analysis/studies/<study>/params.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from analysis.core.errors import ParamsError, UserError
from analysis.core.io import SHOWN_CHARS, load_yaml, short
from analysis.core.models import HOSTED, label, parse_spec
from analysis.core.paths import PARAMS_FILE

S = TypeVar("S", bound="Section")


class Section(BaseModel):
    """A section of params.yaml: unknown keys are refused, defaults live here and nowhere else."""

    # allow_inf_nan=False: NaN, inf and -inf are refused in every float of every section (a YAML `.nan`)
    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=True, allow_inf_nan=False)


# a sampling temperature: finite and >= 0 (0 = greedy decoding)
Temperature = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class TargetsParams(Section):
    """How model targets are reached (``targets:``)."""

    ollama_hosts: list[str] = Field(default_factory=lambda: ["http://localhost:11434"], min_length=1)
    timeout_s: float = Field(600.0, gt=0, description="seconds to wait for one call")
    per_host_concurrency: int = Field(1, ge=1, description="concurrent calls per Ollama host / OpenAI base URL")
    cache_prompt: bool = Field(True, description="embedded engine and llama.cpp servers: reuse the KV cache of a "
                               "shared prompt prefix")
    n_ctx: int = Field(4096, ge=256, le=131072, description="embedded engine: context window in tokens (raise it "
                       "when a prompt does not fit; memory grows with it)")
    retries: int = Field(3, ge=0, le=20, description="servers: retries of a transient failure (HTTP 429/5xx, "
                         "dropped connection, timeout) before the stage stops")
    backoff_s: float = Field(1.0, ge=0, le=600, description="servers: seconds before the first retry, doubled "
                             "before each further one")
    api_key_env: dict[str, str] = Field(default_factory=dict, description="OpenAI-compatible endpoints and "
                                        "anthropic: models: {model spec or served name: the environment variable "
                                        "holding its API key}, so several providers can serve one run (default "
                                        "OPENAI_API_KEY, for anthropic: ANTHROPIC_API_KEY); the key is read at run "
                                        "time and never written anywhere")
    model_digests: dict[str, str] = Field(default_factory=dict, description="OpenAI-compatible servers and "
                                          "anthropic: models: {served model name: digest of its weights}, for "
                                          "servers that do not report what they serve (and to pin it where they do)")
    logprobs: dict[str, bool] = Field(default_factory=dict, description="{model spec, KIND:NAME or NAME: false} for a "
                                      "model that returns no log-probabilities (many hosted ones): the plan counts "
                                      "and prices its answers by generation, and the run asks it so from its first "
                                      "call; an openai: model not named here is planned as returning them (a server "
                                      "says so only when called)")
    batch: list[str] = Field(default_factory=list, description="openai: and anthropic: models (spec, KIND:NAME or "
                             "NAME) whose single-turn calls go through the provider's Batch API (OpenAI Batch, "
                             "Anthropic Message Batches; about half the price, answers "
                             "within hours): `python -m analysis.pipeline.batch submit` sends them, `poll` collects them "
                             "into the response store; conversations stay interactive")


class Project(Section):
    """The project-wide sections: which models, the seed, and how targets are reached."""

    models: list[str] = Field(default_factory=lambda: ["embedded:qwen2.5-coder-1.5b"], min_length=1)
    seed: int = 0
    targets: TargetsParams = Field(default_factory=TargetsParams)

    @field_validator("models")
    @classmethod
    def _specs(cls, v: list[str]) -> list[str]:
        for m in v:
            parse_spec(m)  # raises ModelSpecError naming the valid forms
        if len(set(v)) != len(v):
            raise ValueError(f"lists a model twice ({sorted({m for m in v if v.count(m) > 1})})")
        names = [label(m) for m in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"lists {twice[0]} twice with different URLs: a model served at several URLs is one "
                             "model, so put all its URLs in one spec ('openai:NAME@http://a/v1,http://b/v1')")
        return v

    @field_validator("targets")
    @classmethod
    def _key_names(cls, v: TargetsParams, info: ValidationInfo) -> TargetsParams:
        from analysis.core.models import key_env_of

        models = info.data.get("models") or []
        served = [m for m in models if parse_spec(m)[0] in HOSTED]
        unused = [k for k in v.api_key_env if not any(key_env_of(m, {k: v.api_key_env[k]}) for m in served)]
        if unused:
            raise ValueError(f"api_key_env names {unused[0]!r}, which is no openai: or anthropic: model in models "
                             f"({', '.join(served) or 'none'}); name a model as models does (its spec, KIND:NAME or "
                             "NAME), so that no key goes to another provider under a mistyped name")
        from analysis.core.models import declared_logprobs

        judges = [j for j in (info.context or {}).get("judges", []) if j not in models]
        named = [k for k in v.logprobs if not any(declared_logprobs(m, {k: False}) is not None
                                                  for m in models + judges)]
        if named:
            also = f" or a study's judge ({', '.join(judges)})" if judges else ""
            raise ValueError(f"logprobs names {named[0]!r}, which is no model in models ({', '.join(models) or 'none'})"
                             f"{also}; name a model as models does (its spec, KIND:NAME or NAME)")
        anthropic = [k for k, on in v.logprobs.items() if on and any(
            parse_spec(m)[0] == "anthropic" and declared_logprobs(m, {k: True}) for m in models + judges)]
        if anthropic:
            raise ValueError(f"logprobs declares {anthropic[0]!r} true, but an anthropic: model never returns "
                             "log-probabilities (Anthropic's API has none); leave it out or declare it false")
        wrong = [b for b in v.batch if not any(key_env_of(m, {b: "x"}) for m in served)]
        if wrong:
            raise ValueError(f"batch names {wrong[0]!r}, which is no openai: or anthropic: model in models "
                             f"({', '.join(served) or 'none'}); batch mode is for a provider's Batch API (OpenAI "
                             "Batch, Anthropic Message Batches): name a model as models does (its spec, KIND:NAME or "
                             "NAME)")
        return v


def _model_in(ann: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or the item of a list, dict value or optional."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in reversed(get_args(ann)):  # list[M], dict[str, M], M | None, Annotated[M, ...]
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fields(model: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, list[str]]:
    """The model reached by following ``loc`` from ``model`` (through list items and dict values) and its
    field names."""
    cur: Any = model
    for part in loc:
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)) or part not in cur.model_fields:
            break
        cur = _model_in(cur.model_fields[part].annotation)
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return cur, list(cur.model_fields)
    return None, []


def explain(err: ValidationError, model: type[BaseModel], where: str, source: str = "params.yaml") -> str:
    """One sentence for the first problem of a validation error (and how many more there are)."""
    errs = err.errors()
    first = errs[0]
    loc = tuple(p for p in first["loc"] if not isinstance(p, int))
    dotted = ".".join([where, *map(str, loc)]) if where else ".".join(map(str, loc))
    more = f" ({len(errs) - 1} more problem{'s' if len(errs) > 2 else ''} after this one)" if len(errs) > 1 else ""
    if first["type"] == "extra_forbidden":
        # walk the models along the location: a field descends into its model (through lists, dict values and
        # optionals); a list index or a dict's own key stays on the item's model
        cur: Any = model
        shown: list[str] = [where] if where else []
        for part in first["loc"][:-1]:
            if isinstance(part, int):
                shown = [*shown[:-1], f"{shown[-1]}[{part}]"] if shown else [f"[{part}]"]
                continue
            shown.append(str(part))
            if isinstance(cur, type) and issubclass(cur, BaseModel) and part in cur.model_fields:
                cur = _model_in(cur.model_fields[part].annotation)
        valid = list(cur.model_fields) if isinstance(cur, type) and issubclass(cur, BaseModel) else []
        listed = f"valid keys are {', '.join(valid)}" if valid else "no further keys are allowed there"
        return (f"{source}: {'.'.join(shown) or 'the top level'} has no key {short(first['loc'][-1])}; {listed} "
                f"(check the spelling){more}.")
    if first["type"] == "missing":
        return f"{source}: {dotted} is required but missing; add it{more}."
    got = first.get("input")
    msg = first["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    msg = msg if len(msg) <= SHOWN_CHARS else msg[: SHOWN_CHARS - 20] + f"... ({len(msg):,} characters)"
    return f"{source}: {dotted} {msg[0].lower() + msg[1:]} (got {short(got)}){more}; fix it in {source}."


def validate_section(model: type[S], raw: Any, where: str, source: str = "params.yaml",
                     context: dict[str, Any] | None = None) -> S:
    """Validate one section (``raw`` may be None: all defaults; ``context``: what its validators may consult)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: {where} must be a mapping of keys to values, not {type(raw).__name__}.")
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as e:
        raise ParamsError(explain(e, model, where, source)) from None


def read_yaml(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml as a dict, with one sentence for a missing file or bad YAML."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} does not exist; copy params.yaml from the repository root.")
    params = load_yaml(path, ParamsError)  # aliases bounded, one sentence naming the file and the line
    if not isinstance(params, dict):
        raise ParamsError(f"{path} must be a mapping of sections (models, seed, targets, one section per study).")
    return params


PROJECT_KEYS = ("models", "seed", "targets")


def _is_spec(s: str) -> bool:
    """A model spec parse_spec takes (one it does not is refused where the study's section is validated)."""
    try:
        parse_spec(s)
    except UserError:
        return False
    return True


def judges(raw: dict[str, Any]) -> list[str]:
    """The model specs a study's collect section names as its judge (a key ``judge`` anywhere in
    ``<study>.collect``, e.g. ``therapy.collect.coding.judge``; ``same``, the model itself, is none): models the runs
    call besides ``models``, so ``targets.logprobs`` may name them."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "judge" and isinstance(v, str) and v != "same" and _is_spec(v):
                    out.append(v)
                else:
                    walk(v)

    for k, section in raw.items():
        if k not in PROJECT_KEYS and isinstance(section, dict):
            walk(section.get("collect"))
    return list(dict.fromkeys(out))


def project(raw: dict[str, Any], source: str = "params.yaml") -> Project:
    """The project-wide sections of an already-read params dict (its studies' judges checked by ``targets``)."""
    return validate_section(Project, {k: raw[k] for k in PROJECT_KEYS if k in raw}, "", source,
                            context={"judges": judges(raw)})


def get(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"params.yaml has no key {dotted!r} (missing {part!r}); add it or check the spelling.")
        node = node[part]
    return node


def elicitor(spec: str, targets: TargetsParams | dict[str, Any] | None = None, store=None):
    """An Elicitor for one model spec, with host lists and timeouts from the ``targets`` section (``store``: its
    response store; None: the default one)."""
    from analysis.core.elicit import Elicitor

    t = targets if isinstance(targets, TargetsParams) else validate_section(TargetsParams, targets, "targets")
    el = Elicitor.from_spec(spec, store=store, ollama_hosts=t.ollama_hosts, timeout_s=t.timeout_s,
                            per_host_concurrency=t.per_host_concurrency, cache_prompt=t.cache_prompt,
                            n_ctx=t.n_ctx, retries=t.retries, backoff_s=t.backoff_s,
                            model_digests=t.model_digests, api_key_env=t.api_key_env, logprobs=t.logprobs)
    el.targets = t  # a study that makes a second elicitor (a judge model) reaches it the same way
    return el
