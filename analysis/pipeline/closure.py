"""The import closure of a DVC stage, and what of it the stage's ``deps`` do not cover.

A stage's command runs a module (``python -m analysis.pipeline.run_notebook NOTEBOOK``); the modules it
imports, transitively, decide its outputs, so each of their files must lie under one of the stage's
deps, or a change to it would leave the outputs stale with ``dvc repro`` reporting nothing to do. The
closure is computed from the source (every ``import`` statement, also inside functions), not by
running anything; package ``__init__`` files on the way are included, since importing a module runs
them.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

from analysis.core.paths import ROOT

PACKAGE = "analysis"


def module_file(name: str, root: Path = ROOT) -> Path | None:
    base = root.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.exists():
            return cand
    return None


def _imports(path: Path, root: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    pkg_parts = list(path.relative_to(root).with_suffix("").parts)
    if pkg_parts[-1] == "__init__":
        pkg_parts = pkg_parts[:-1]
    else:
        pkg_parts = pkg_parts[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(pkg_parts[: len(pkg_parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # a name may be a submodule
    return {m for m in out if m == PACKAGE or m.startswith(PACKAGE + ".")}


def closure(entries: list[Path], root: Path = ROOT) -> set[Path]:
    """Every file of the package that importing/running ``entries`` (module or notebook-script paths)
    executes."""
    seen: set[Path] = set()
    todo = list(entries)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path, root):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # parent packages run their __init__ first
                f = module_file(".".join(parts[:i]), root)
                if f is not None and f not in seen:
                    todo.append(f)
    return seen


def entries_of(cmd: str, root: Path = ROOT) -> list[Path]:
    """The files a stage command runs: ``python -m MODULE [FILE.py ...]``."""
    args = shlex.split(cmd)
    out: list[Path] = []
    if "-m" in args:
        mod = args[args.index("-m") + 1]
        parts = mod.split(".")
        for i in range(1, len(parts) + 1):
            f = module_file(".".join(parts[:i]), root)
            if f:
                out.append(f)
    out += [root / a for a in args if a.endswith(".py") and (root / a).exists()]
    return out


def uncovered(cmd: str, deps: list[str], root: Path = ROOT) -> list[str]:
    """Files in the command's import closure that no dep covers (a dep covers itself and, as a folder,
    everything under it)."""
    dep_paths = [(root / d).resolve() for d in deps]
    missing = []
    for f in sorted(closure(entries_of(cmd, root), root)):
        rf = f.resolve()
        if not any(rf == d or d in rf.parents for d in dep_paths):
            missing.append(str(f.relative_to(root)))
    return missing
