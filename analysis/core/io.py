"""Writing outputs so that a failed run leaves nothing half-written behind.

Every writer goes through :func:`atomic`: the content is written to a temporary file beside the
target (``.<name>.tmp<pid>.*``) and renamed into place; one left by a process killed with ``kill -9``
is removed the next time the target is written (:func:`clean_stale`). The file gets the permissions an ordinary ``open(path, "w")`` would
give (0666 minus the umask), not the private 0600 of a temporary file, so collaborators can read it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the annotations name polars: the stage runner imports this module before it starts
    import polars as pl  # a kernel, and importing polars took 0.13 s of that


def _umask() -> int:
    """The process umask, read without changing it (os.umask(0) would, for a moment, let files that other
    threads create meanwhile be world-writable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc (macOS): set a safe mask for the moment it takes to read the old one
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's process: leave its files alone
    return True


def temp_prefix(stem: str) -> str:
    """The prefix of this process's temporary files for ``stem``: ``.<stem>.tmp<pid>.``; the pid lets a later
    run tell a file left by a killed process (``kill -9`` runs no clean-up) from one still being written."""
    return f".{stem}.tmp{os.getpid()}."


def clean_stale(folder: str | Path, stem: str) -> list[Path]:
    """Remove the temporary files and folders (``.<stem>.tmp<pid>.*``) that processes which no longer run left
    in ``folder``; returns what was removed. Those of living processes are kept."""
    import re
    import shutil

    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    pattern = re.compile(rf"^\.{re.escape(stem)}\.tmp(\d+)\.")
    for f in folder.glob(f".{stem}.tmp*"):
        m = pattern.match(f.name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            if f.is_dir() and not f.is_symlink():
                shutil.rmtree(f)
            else:
                f.unlink()
            removed.append(f)
        except OSError:
            pass
    return removed


def atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` (same suffix), then rename it into place. A
    temporary file of the same target left by a killed process is removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent, path.stem)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.stem), suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_parquet(df: pl.DataFrame, path: str | Path) -> Path:
    return atomic(path, df.write_parquet)


def write_csv(df: pl.DataFrame, path: str | Path) -> Path:
    return atomic(path, df.write_csv)


def write_text(text: str, path: str | Path) -> Path:
    return atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


# ---- reading user files with limits -------------------------------------------------------------------
SHOWN_CHARS = 200  # no message prints more of an input than this
YAML_MAX_BYTES = 2_000_000  # the largest shipped YAML file is 21 kB; 2 MB still parses in seconds
YAML_MAX_NODES = 200_000  # values after expanding every alias (the largest shipped file has a few thousand)


def short(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length stated (for error messages)."""
    r = repr(value)
    if len(r) <= limit:
        return r
    return f"{r[: limit - 20]}... ({len(r):,} characters)"


class YamlLimit(ValueError):
    pass


def _expanded_size(root, source: str) -> int:
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack = [(root, False)]
    while stack:  # post-order without recursion: a deeply nested file cannot overflow the stack here
        node, done = stack.pop()
        nid = id(node)
        if done:
            if isinstance(node, yaml.MappingNode):
                kids = [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                kids = node.value
            else:
                kids = []
            sizes[nid] = 1 + sum(sizes[id(k)] for k in kids)
            active.discard(nid)
            if sizes[nid] > YAML_MAX_NODES:
                raise YamlLimit(f"its aliases (&anchors and *references) expand to more than {YAML_MAX_NODES:,} "
                                "values")
            continue
        if nid in sizes:
            continue
        if nid in active:
            raise YamlLimit("an alias refers to the value that contains it")
        active.add(nid)
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, False) for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, False) for n in node.value)
    return sizes[id(root)]


def parse_yaml(text: str, source: str, error: type[Exception]) -> object:
    """Parse YAML text with PyYAML's safe loader and the limits above; every problem is raised as ``error``
    with one sentence naming ``source`` (a file path) and the line, never the whole input."""
    import yaml

    # libyaml's safe loader when PyYAML has it (a 4 MB line parses in a second, not minutes); the document's
    # node graph is composed first (aliases share one node, so a 'billion laughs' is still small there), its
    # expanded size is checked, and only then is anything built from it
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, source)
        return loader.construct_document(node)
    except YamlLimit as e:
        raise error(f"{source} is refused: {e}; write the values out, or use fewer levels of aliases.") from None
    except RecursionError:
        raise error(f"{source} is nested too deeply to read; flatten it.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise error(f"{source} is not valid YAML{where}: {str(problem)[:SHOWN_CHARS]}; fix the indentation or "
                    "quoting there.") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path, error: type[Exception], what: str = "") -> object:
    """Read a user's YAML file with the limits of :func:`parse_yaml` (and at most YAML_MAX_BYTES); a folder, a
    binary or an unreadable file is one sentence naming the path."""
    path = Path(path)
    name = f"{what} {path}".strip()
    if path.is_dir():
        raise error(f"{name} is a folder, not a YAML file; give the path of the file.")
    try:
        size = path.stat().st_size
        if size > YAML_MAX_BYTES:
            raise error(f"{name} is {size / 1e6:.1f} MB, more than the {YAML_MAX_BYTES / 1e6:.0f} MB a YAML input "
                        "may have; give the intended file (params, profiles, specs and stimuli are a few kB).")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{name} is not UTF-8 text (a binary file?); give a YAML file.") from None
    except OSError as e:
        raise error(f"{name} cannot be read ({e.strerror}); check the path and its permissions.") from None
    return parse_yaml(text, name, error)


CSV_MAX_BYTES = 200_000_000


def read_user_csv(path: str | Path, error: type[Exception], what: str = "CSV file"):
    """A user's small CSV file as a pandas DataFrame; a folder, a binary, an empty or a ragged file (a row with
    more fields than the header) is one sentence naming the path, never pandas' own error."""
    import pandas as pd

    path = Path(path)
    name = f"{what} {path}"
    if path.is_dir():
        raise error(f"{name} is a folder, not a CSV file; give the path of the file.")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as e:
        raise error(f"{name} cannot be read ({e.strerror}); check the path and its permissions.") from None
    if size > CSV_MAX_BYTES:
        raise error(f"{name} is {size / 1e6:.0f} MB, more than the {CSV_MAX_BYTES / 1e6:.0f} MB this input may "
                    "have; give the intended file.")
    if b"\x00" in head:
        raise error(f"{name} is a binary file, not CSV text; give a comma-separated text file.")
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:  # every row as wide as the header (pandas would
            rows = csv.reader(f)                                # take extra fields of a first row as an index)
            header = next(rows, None)
            for row in rows:
                if row and header and len(row) != len(header):
                    raise error(f"{name} is not a well-formed CSV table (line {rows.line_num} has {len(row)} fields "
                                f"where the header has {len(header)}); quote fields that contain commas.")
        return pd.read_csv(path, encoding="utf-8")
    except csv.Error as e:
        raise error(f"{name} is not a well-formed CSV table ({str(e)[:SHOWN_CHARS]}); check its line lengths and "
                    "quoting.") from None
    except UnicodeDecodeError:
        raise error(f"{name} is not UTF-8 text; save it as UTF-8 CSV.") from None
    except pd.errors.EmptyDataError:
        raise error(f"{name} is empty; it needs a header row and one row per entry.") from None
    except pd.errors.ParserError as e:
        import re

        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        why = (f"line {m.group(2)} has {m.group(3)} fields where the header has {m.group(1)}" if m
               else str(e).strip().splitlines()[0][:SHOWN_CHARS])
        raise error(f"{name} is not a well-formed CSV table ({why}); quote fields that contain commas.") from None
