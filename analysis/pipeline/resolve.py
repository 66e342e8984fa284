"""Resolve what DVC cannot see by itself into small lock files the stages depend on.

    python -m analysis.pipeline.resolve          # the first DVC stage; it always runs (about a second)

DVC sees ``params.yaml``, not what its values point at. Two things would otherwise go unnoticed:

* the model behind a spec: a server can be given other weights under the same name
  (``openai:qwen@http://...``), and ``dvc repro`` would then skip the collection as unchanged;
* a file named in a study's parameters outside the folders the stages depend on (an instrument of your
  own, ``personas_file``, ``expected_signs``, ...): rewriting it would change nothing DVC looks at.

This stage writes, for every registered study, ``data/resolved/<study>.collect.json`` (the identity of
every model its collection uses, and the sha256 of every file its ``collect`` parameters name) and
``data/resolved/<study>.analysis.json`` (the files its ``analysis`` parameters name, and those its ``collect``
parameters name, as the analysis notebooks reload the instrument and the other collection files). ``collect@<study>``
and ``analyze@<study>`` depend on them. A lock file is rewritten only when its content changes, so an
unchanged project re-runs nothing downstream.

A model's identity is what the response store keys it by, plus what decides how exactly it answers:

* embedded: the pinned sha256 of its GGUF file (checked by every process that loads it; see
  ``analysis.core.models.embedded``), its package version and the xllamacpp build;
* ``openai:``: the digest the target computes (a llama.cpp server's model metadata, model file and chat
  template; vLLM's model root; or ``targets.model_digests``), and per base URL the server's kind, build,
  slot and thread count where it reports them (the URL itself is not part of it: where a model is served
  is not who it is);
* ``anthropic:``: the dated snapshot Anthropic's ``GET /v1/models/{NAME}`` resolves the name to (or
  ``targets.model_digests``): a hosted model has no weights file to hash;
* ``ollama:``: the digest Ollama reports.

A server that cannot be reached is not an error here: its last resolved identity is kept (one line says
so), so analysis-only work goes on while a server is down; a model never resolved before is recorded as
unreachable, and its collection stage then stops with the server's own one-sentence error.

A value counts as a file when it names an existing file or folder (relative to the repository root, as
the stages run there) or looks like a path (it contains a ``/`` or ends in a data-file suffix); a named
file that does not exist is recorded as missing (the stage that reads it says what is wrong).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analysis.core.errors import TargetUnavailable, UserError
from analysis.core.paths import DATA_DIR, PARAMS_FILE, ROOT

LOCK_DIR = DATA_DIR / "resolved"
SPEC_PREFIXES = ("embedded:", "ollama:", "openai:", "anthropic:")
PATH_SUFFIXES = (".csv", ".tsv", ".yaml", ".yml", ".json", ".txt", ".parquet", ".md", ".jsonl", ".xlsx")


def strings(value: Any) -> Iterator[str]:
    """Every string inside a (JSON-like) parameter value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)


def _local(value: str, root: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else root / p


def named_paths(section: Any, root: Path = ROOT) -> list[str]:
    """The strings of a parameter section that name files or folders (see the module docstring)."""
    out = []
    for s in strings(section):
        if not s or s.startswith(SPEC_PREFIXES) or "\n" in s or len(s) > 4096:
            continue
        try:
            exists = _local(s, root).exists()
        except (OSError, ValueError):
            exists = False
        if exists or "/" in s or s.lower().endswith(PATH_SUFFIXES):
            out.append(s)
    return sorted(set(out))


def _sha256_file(path: Path, h=None) -> str:
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(value: str, root: Path = ROOT) -> dict:
    """sha256 of a named file; of a folder, over its files' relative names and contents."""
    p = _local(value, root)
    if p.is_file():
        return {"sha256": _sha256_file(p), "bytes": p.stat().st_size}
    if p.is_dir():
        h = hashlib.sha256()
        files = sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
            h.update(_sha256_file(f).encode() + b"\0")
        return {"sha256": h.hexdigest(), "files": len(files)}
    return {"missing": True}


def model_identity(spec: str, targets) -> dict:
    """What identifies ``spec``'s answers (see the module docstring). Raises TargetUnavailable when a
    server cannot be reached."""
    from analysis.core.models import label, parse_spec

    kind, name, _ = parse_spec(spec)
    if kind == "embedded":
        from importlib.metadata import version

        from analysis.core.models.embedded import EMBEDDED_MODELS

        if name not in EMBEDDED_MODELS:
            return {"kind": kind, "unresolved": f"unknown embedded model {name!r}"}
        m = EMBEDDED_MODELS[name]
        return {"kind": kind, "digest": m.sha256, "package_version": m.version, "engine": f"xllamacpp=={version('xllamacpp')}"}
    from analysis.core.planning import _target

    t = _target(spec, targets)  # the same identity a collection stage computes; short timeout, no retries
    ident: dict[str, Any] = {"kind": kind, "label": label(spec), "digest": t.digest}
    servers = getattr(t, "servers", None)
    if servers:
        keep = ("server", "fingerprint", "model_file", "chat_template_sha256", "build", "total_slots", "n_threads",
                "n_ctx_per_slot", "root")
        ident["servers"] = [{k: s[k] for k in keep if s.get(k) is not None} for s in servers]
    return ident


def resolve_models(specs: list[str], targets, previous: dict[str, dict], log=print) -> dict[str, dict]:
    out = {}
    for spec in specs:
        try:
            out[spec] = model_identity(spec, targets)
        except TargetUnavailable as e:
            if spec in previous and "unreachable" not in previous[spec]:
                out[spec] = previous[spec]
                log(f"resolve: {spec} is unreachable ({e}); its last resolved identity is kept, so stages that "
                    "use it do not re-run until it can be asked again.")
            else:
                out[spec] = {"unreachable": str(e)}
                log(f"resolve: {spec} is unreachable and was never resolved: {e}")
        except UserError as e:  # the collection stage raises the same error in its own words
            out[spec] = {"unresolved": str(e)}
            log(f"resolve: {spec}: {e}")
    return out


def _previous(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_if_changed(path: Path, content: dict) -> bool:
    from analysis.core.io import write_text

    text = json.dumps(content, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(text, path)
    return True


def lock_path(study: str, kind: str, lock_dir: Path = LOCK_DIR) -> Path:
    return lock_dir / f"{study}.{kind}.json"


def resolve(params_file: str | Path = PARAMS_FILE, lock_dir: Path = LOCK_DIR, root: Path = ROOT,
            log=print) -> dict[str, bool]:
    """Write every study's lock files; returns {lock file: whether it changed}."""
    from analysis.core.params import read_yaml
    from analysis.pipeline.params import validate_all
    from analysis.pipeline.run_notebook import raw_project_and_collect
    from analysis.studies import all_studies

    raw = read_yaml(params_file)
    validate_all(raw, Path(params_file).name)
    identities: dict[str, dict] = {}
    changed = {}
    for sid, study in all_studies().items():
        stage = study.collect_stage(raw_project_and_collect(raw, sid))
        collect = stage.collect.model_dump(mode="json")
        specs = list(dict.fromkeys([*stage.models, *(s for s in strings(collect) if s.startswith(SPEC_PREFIXES))]))
        path = lock_path(sid, "collect", lock_dir)
        todo = [s for s in specs if s not in identities]
        identities.update(resolve_models(todo, stage.targets, _previous(path).get("models", {}), log))
        content = {"study": sid, "stage": "collect", "models": {s: identities[s] for s in specs},
                   "files": {v: fingerprint(v, root) for v in named_paths(collect, root)}}
        changed[str(path)] = write_if_changed(path, content)
        analysis = study.analysis_stage({"analysis": (raw.get(sid) or {}).get("analysis")}).analysis
        apath = lock_path(sid, "analysis", lock_dir)
        # the analysis notebooks reload what the collection named (the instrument, the personas), so the collect
        # section's files are in the analysis lock too: rewriting one re-runs the analysis even with no re-collection
        afiles = sorted(set(named_paths(collect, root)) | set(named_paths(analysis.model_dump(mode="json"), root)))
        acontent = {"study": sid, "stage": "analysis", "files": {v: fingerprint(v, root) for v in afiles}}
        changed[str(apath)] = write_if_changed(apath, acontent)
    return changed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params-file", default=str(PARAMS_FILE))
    a = ap.parse_args(argv)
    try:
        changed = resolve(a.params_file, log=lambda m: print(m, file=sys.stderr))
    except UserError as e:
        raise SystemExit(str(e)) from None
    moved = [Path(p).name for p, c in changed.items() if c]
    print(f"resolve: {len(changed)} lock files in {LOCK_DIR.relative_to(ROOT)}/, "
          + (f"changed: {', '.join(moved)}" if moved else "none changed"), file=sys.stderr)


if __name__ == "__main__":
    main()
