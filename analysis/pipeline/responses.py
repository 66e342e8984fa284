"""The published responses of the reference run: every model call with its provenance, in the repository.

    uv run python -m analysis.pipeline.responses export   # the response store -> data/published/responses.parquet
    uv run python -m analysis.pipeline.responses load     # data/published/responses.parquet -> the response store

``export`` writes every recorded call (target, model and digest, messages, options, seed, sample index,
raw text, token log-probabilities, latency, time, tag) as one zstd-compressed parquet file, sorted by its
key, and a manifest beside it (``responses.manifest.json``): the number of rows, a sha256 over every row's
fields (:data:`MANIFEST_COLUMNS`, in that order, each row as one canonical JSON line, rows sorted by key)
and a short hash of each row. ``load`` seeds a response store from it (``PSY_STORE`` or
data/cache/responses.sqlite; calls already there are kept), so ``dvc repro -f`` replays the reference run
exactly with zero model calls. Before inserting anything ``load`` checks the file:

* every row's key is recomputed from the row (:func:`analysis.core.store.request_key` over its target kind,
  spec, model, digest, messages, options, sample and log-probability request): a row whose request fields
  were changed after its key was made (another digest or model served under the configured model's key) is
  refused;
* every row is checked against the manifest: an answer changed with its key kept, a row added or removed,
  is refused, in one sentence giving how many rows and the first keys;
* a damaged or truncated parquet file is one sentence, never a traceback;
* every call the store already holds under one of the file's keys must equal the file's row (all
  :data:`MANIFEST_COLUMNS`): one that differs (say, a forged answer loaded earlier with ``--unverified``) is
  refused, since the store would keep serving it; ``--replace`` overwrites those calls with the file's.

The store records which manifest each load was checked against (:meth:`ResponseStore.published_loads`), and
the collection report of a replay states it (:func:`analysis.core.collection.published_note`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from analysis.core.errors import UserError
from analysis.core.io import atomic, write_text
from analysis.core.paths import DATA_DIR, response_store_path
from analysis.core.store import COLUMNS, ResponseStore, request_key

PUBLISHED = DATA_DIR / "published" / "responses.parquet"
# every column of a call: the request (key, target, messages, options, seed, sample), the answer (text,
# log-probabilities) and its provenance
MANIFEST_COLUMNS = COLUMNS
MANIFEST_FORMAT = 1
FIX = ("re-export it from the store that made it (`python -m analysis.pipeline.responses export`) or restore the "
       "published one (`git checkout -- data/published/`)")
DTYPES = {"seed": pl.Int64, "sample": pl.Int64, "top_logprobs": pl.Int64, "latency_s": pl.Float64}


class PublishedError(UserError):
    """A published response file that is damaged, forged or does not match its manifest."""


def manifest_path(src: Path) -> Path:
    """``responses.parquet`` -> ``responses.manifest.json`` beside it."""
    return Path(src).with_name(Path(src).stem + ".manifest.json")


def _tool() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"llm-psychometrics {version('llm-psychometrics')} (analysis.pipeline.responses)"
    except PackageNotFoundError:  # pragma: no cover - run from a source tree that is not installed
        return "llm-psychometrics (analysis.pipeline.responses)"


def row_hashes(df: pl.DataFrame) -> tuple[str, list[str]]:
    """The sha256 over every row (rows in key order, each the canonical JSON array of MANIFEST_COLUMNS and a
    newline) and each row's own sha256."""
    total = hashlib.sha256()
    rows = []
    for row in df.sort("key").select(MANIFEST_COLUMNS).iter_rows():
        line = _line(row)
        total.update(line)
        rows.append(hashlib.sha256(line).hexdigest())
    return total.hexdigest(), rows


def _line(row) -> bytes:
    """One row's canonical form: the JSON array of MANIFEST_COLUMNS and a newline, UTF-8."""
    return (json.dumps(list(row), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _stored_rows(con, keys: list[str]) -> pl.DataFrame:
    """The calls the store already holds under any of ``keys``, typed as a published frame."""
    rows = []
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        rows += con.execute(f"SELECT {', '.join(COLUMNS)} FROM calls WHERE key IN ({', '.join('?' * len(chunk))})",
                            chunk).fetchall()
    df = pl.DataFrame(rows, schema=list(COLUMNS), orient="row", infer_schema_length=None)
    return df.with_columns([pl.col(c).cast(t) for c, t in DTYPES.items()])


# what a replay serves from a stored call: the answer (its provenance -- latency, time, meta, tag -- may differ
# between a store's own call and the published one without changing any result)
ANSWER_COLUMNS = ("key", "text", "logprobs")


def conflicting_keys(con, df: pl.DataFrame) -> list[str]:
    """Keys the store already holds with an answer (text or log-probabilities) that differs from the file's."""
    have = _stored_rows(con, df["key"].to_list())
    if have.height == 0:
        return []
    want = {r[0]: _line(r) for r in df.filter(pl.col("key").is_in(have["key"].to_list()))
            .select(ANSWER_COLUMNS).iter_rows()}
    return sorted(r[0] for r in have.select(ANSWER_COLUMNS).iter_rows() if want.get(r[0]) != _line(r))


def manifest(df: pl.DataFrame, file_name: str) -> dict:
    total, rows = row_hashes(df)
    keys = df.sort("key")["key"].to_list()
    return {"format": MANIFEST_FORMAT, "file": file_name, "rows": df.height, "sha256": total,
            "columns": list(MANIFEST_COLUMNS),
            "canonical": "rows sorted by key; each row the JSON array of the columns in this order (UTF-8, no "
                         "spaces, null for a missing value) and a newline; sha256 over all of them",
            "row_sha256_16": {k[:16]: h[:16] for k, h in zip(keys, rows, strict=True)},
            "tool": _tool(), "written_at": datetime.now(UTC).isoformat(timespec="seconds")}


def export(store_path: Path | None = None, out: Path = PUBLISHED) -> tuple[Path, int]:
    df = ResponseStore(store_path or response_store_path()).export().select(COLUMNS).sort("key")
    df = df.with_columns([pl.col(c).cast(t) for c, t in DTYPES.items()])
    m = manifest(df, Path(out).name)
    atomic(out, lambda tmp: df.write_parquet(tmp, compression="zstd", compression_level=19, statistics=False))
    write_text(json.dumps(m, indent=1) + "\n", manifest_path(out))
    return out, df.height


def _first(keys: list[str], n: int = 3) -> str:
    shown = ", ".join(k[:16] for k in keys[:n])
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")


def read(src: Path) -> pl.DataFrame:
    """The published file as a frame, with one sentence for a missing, damaged or foreign file."""
    if not src.exists():
        raise PublishedError(f"{src} does not exist: the published responses come with the repository (`git checkout "
                             "-- data/published/responses.parquet`) or from `python -m analysis.pipeline.responses "
                             "export`.")
    if src.is_dir():
        raise PublishedError(f"{src} is a folder; give the published parquet file (--file).")
    try:
        df = pl.read_parquet(src)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - polars raises ComputeError, OSError or a Rust panic here
        why = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise PublishedError(f"{src} is damaged or truncated, not a readable parquet file ({why}); {FIX}.") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise PublishedError(f"{src} lacks the column(s) {missing[:6]}: it is not a response export of this "
                             "repository.")
    for c, t in DTYPES.items():
        try:
            df = df.with_columns(pl.col(c).cast(t, strict=True))
        except Exception:  # noqa: BLE001
            raise PublishedError(f"{src}: the column {c} holds {df[c].dtype}, not numbers; {FIX}.") from None
    text_cols = [c for c in COLUMNS if c not in DTYPES]
    bad = [c for c in text_cols if df[c].dtype not in (pl.String, pl.Null)]
    if bad:
        raise PublishedError(f"{src}: the column(s) {bad[:4]} hold {df[bad[0]].dtype}, not text; {FIX}.")
    return df.select(COLUMNS)


def forged_keys(df: pl.DataFrame) -> list[str]:
    """Keys of the rows whose key is not the one their own request fields give."""
    bad = []
    for r in df.select("key", "target_kind", "target_spec", "model", "digest", "messages", "options", "sample",
                       "top_logprobs").iter_rows(named=True):
        try:
            identity = {"kind": r["target_kind"], "spec": r["target_spec"], "model": r["model"], "digest": r["digest"]}
            key = request_key(identity, json.loads(r["messages"]), json.loads(r["options"]), r["sample"],
                              r["top_logprobs"])
        except (TypeError, ValueError):  # a missing field or messages/options that are not JSON
            key = None
        if key != r["key"]:
            bad.append(r["key"] if isinstance(r["key"], str) else str(r["key"]))
    return bad


def verify(df: pl.DataFrame, src: Path, man_path: Path | None = None, require_manifest: bool = True) -> dict | None:
    """Check every row of a published frame against its own key and against the manifest; returns the
    manifest (None when there is none and none is required). Raises one sentence for the first kind of
    mismatch found."""
    n = df.height
    dup = df.filter(pl.col("key").is_duplicated())["key"].unique().sort().to_list()
    if dup:
        raise PublishedError(f"{src} holds {len(dup)} key(s) more than once ({_first(dup)}): an export of a store "
                             f"never does; {FIX}.")
    forged = sorted(forged_keys(df))
    if forged:
        raise PublishedError(f"{src}: {len(forged)} of {n} rows do not match their key ({_first(forged)}): their "
                             "target, model, digest, messages, options or sample were changed after the key was "
                             f"made, so their answers would be served for another request; {FIX}.")
    man_path = man_path or manifest_path(src)
    if not man_path.exists() and not require_manifest:
        return None
    if not man_path.exists():
        raise PublishedError(f"{src} has no manifest ({man_path.name} beside it), so its answers cannot be checked; "
                             f"{FIX}, or pass --unverified to load it unchecked.")
    try:
        man = json.loads(man_path.read_text(encoding="utf-8"))
        want_total, want_rows, want_n = man["sha256"], man["row_sha256_16"], int(man["rows"])
        cols = man["columns"]
        if not isinstance(want_rows, dict):
            raise TypeError
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise PublishedError(f"{man_path} is not a readable manifest (JSON with rows, sha256, columns and "
                             f"row_sha256_16); {FIX}.") from None
    if list(cols) != list(MANIFEST_COLUMNS):
        raise PublishedError(f"{man_path} covers the columns {list(cols)[:6]}..., not this version's "
                             f"{list(MANIFEST_COLUMNS)[:6]}...; {FIX}.")
    total, rows = row_hashes(df)
    if total == want_total and n == want_n:
        return man
    keys = df.sort("key")["key"].to_list()
    have = {k[:16]: h[:16] for k, h in zip(keys, rows, strict=True)}
    changed = sorted(k for k in have if k in want_rows and want_rows[k] != have[k])
    added = sorted(k for k in have if k not in want_rows)
    removed = sorted(k for k in want_rows if k not in have)
    parts = []
    if changed:
        parts.append(f"{len(changed)} row(s) changed ({_first(changed)})")
    if added:
        parts.append(f"{len(added)} row(s) not in the manifest ({_first(added)})")
    if removed:
        parts.append(f"{len(removed)} row(s) of the manifest missing ({_first(removed)})")
    if not parts:
        parts.append("the rows differ from the ones it was written for")
    raise PublishedError(f"{src} does not match its manifest {man_path.name} ({n} rows, manifest {want_n}): "
                         f"{'; '.join(parts)}; nothing was loaded; {FIX}.")


def load(src: Path = PUBLISHED, store_path: Path | None = None, *, unverified: bool = False,
         replace: bool = False) -> tuple[int, int]:
    """Insert the published calls that the store does not hold; returns (added, already there). Every row is
    checked first (its key, and the manifest unless ``unverified``), and so is every call the store already
    holds under one of the file's keys: one that differs from the file's row (an answer loaded earlier from
    another file, e.g. with ``--unverified``) is refused, or overwritten with ``replace``. Nothing is
    inserted when a check fails."""
    src = Path(src)
    df = read(src)
    man_path = manifest_path(src)
    man = verify(df, src, man_path, require_manifest=not unverified)
    store = ResponseStore(store_path or response_store_path())
    store.check_writable()
    before = store.count()
    with store._guard(str(store.path)):
        return _insert(store, df, src, man_path, man, before, replace)


def _insert(store: ResponseStore, df: pl.DataFrame, src: Path, man_path: Path, man: dict | None,
            before: int, replace: bool = False) -> tuple[int, int]:
    con = store._conn()
    con.execute("BEGIN IMMEDIATE")
    try:
        conflict = conflicting_keys(con, df)
        if conflict and not replace:
            raise PublishedError(
                f"The response store {store.path} already holds {len(conflict)} call(s) under keys of {src.name} "
                f"with other answers or fields than the file ({_first(conflict)}), e.g. from an earlier load with "
                "--unverified, so they would be served instead of the published ones; nothing was loaded: move the "
                "store away or pass --replace to overwrite those calls with the file's.")
        cols, marks = ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS))
        if conflict:
            con.executemany(f"INSERT OR REPLACE INTO calls ({cols}) VALUES ({marks})",
                            df.filter(pl.col("key").is_in(conflict)).select(COLUMNS).iter_rows())
        con.executemany(f"INSERT OR IGNORE INTO calls ({cols}) VALUES ({marks})", df.select(COLUMNS).iter_rows())
        added = store.count() - before
        store.record_published_load({
            "file": str(src), "rows": df.height, "added": added, "replaced": len(conflict),
            "manifest": str(man_path) if man else None, "manifest_sha256": man["sha256"] if man else None,
            "checked": "manifest and keys" if man else "keys only (no manifest: --unverified)",
        })
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return added, df.height - added


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["export", "load"])
    ap.add_argument("--file", default=str(PUBLISHED))
    ap.add_argument("--store", default=None, help="the response store (default: PSY_STORE or data/cache/responses.sqlite)")
    ap.add_argument("--unverified", action="store_true",
                    help="load a file that has no manifest (its rows' keys are still checked)")
    ap.add_argument("--replace", action="store_true",
                    help="overwrite calls the store holds under the file's keys with other answers (else refused)")
    a = ap.parse_args(argv)
    try:
        if a.action == "export":
            path, n = export(Path(a.store) if a.store else None, Path(a.file))
            print(f"exported {n} calls to {path} ({path.stat().st_size / 1e6:.1f} MB) and its manifest "
                  f"{manifest_path(path).name}", file=sys.stderr)
        else:
            added, had = load(Path(a.file), Path(a.store) if a.store else None, unverified=a.unverified,
                             replace=a.replace)
            man = manifest_path(Path(a.file))
            checked = f"checked against {man.name}" if man.exists() else "keys checked, no manifest"
            print(f"loaded {added} calls into the response store ({had} were there already; {checked})",
                  file=sys.stderr)
    except UserError as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
