"""The response store: every model call with its provenance, and the cache that makes re-runs free.

One SQLite file (WAL mode, so several processes and threads may write at once). A call is keyed by
the sha256 of (target spec, model digest, messages, options, seed, sample index, log-probability
request); an identical request is answered from the store. Only successful, non-empty replies are
written, each as soon as it arrives, so an interrupted run resumes where it stopped and errors are
never replayed.

Every way the file can be unusable (a folder, not SQLite, damaged, another program's ``calls`` table,
a folder that cannot be created) is refused in one sentence naming the path and what to do. A store
that cannot be written (a read-only file or folder) is opened read-only: it still serves every answer
it holds, and only a call that is not in it fails, with a sentence saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from analysis.core.errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_spec TEXT NOT NULL,
    model TEXT NOT NULL,
    digest TEXT NOT NULL,
    messages TEXT NOT NULL,
    options TEXT NOT NULL,
    seed INTEGER NOT NULL,
    sample INTEGER NOT NULL,
    top_logprobs INTEGER NOT NULL,
    text TEXT NOT NULL,
    logprobs TEXT,
    latency_s REAL NOT NULL,
    meta TEXT,
    tag TEXT
);
CREATE INDEX IF NOT EXISTS calls_model ON calls(target_spec, model);
"""
COLUMNS = ("key", "created_at", "target_kind", "target_spec", "model", "digest", "messages", "options", "seed",
           "sample", "top_logprobs", "text", "logprobs", "latency_s", "meta", "tag")
SQLITE_MAGIC = b"SQLite format 3\x00"
FIX = "point PSY_STORE at another file (e.g. PSY_STORE=/tmp/responses.sqlite) or move this one away"


def request_key(identity: dict[str, str], messages: list[dict], options: dict, sample: int, top_logprobs: int) -> str:
    payload = json.dumps(
        {"target": identity, "messages": messages, "options": options, "sample": sample, "top_logprobs": top_logprobs},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Record:
    key: str
    text: str
    logprobs: list[dict] | None
    latency_s: float
    created_at: str
    cached: bool
    meta: dict[str, Any]


_HEADER_CHECKED: set[str] = set()
_HEADER_LOCK = threading.Lock()


def _named(path: Path) -> str:
    """The path, and that it came from PSY_STORE when it did (so the user knows what to change)."""
    env = os.environ.get("PSY_STORE")
    return f"{path} (PSY_STORE)" if env and Path(env) == path else str(path)


class ResponseStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self.read_only = False
        self.newer_columns: list[str] = []
        self._uri: str | None = None
        self._open()

    # ---- opening, with one sentence for every way the file can be unusable ------------------------
    def _open(self) -> None:
        path, name = self.path, _named(self.path)
        if path.is_dir():
            raise StoreError(f"The response store {name} is a folder, not a file; point PSY_STORE at a file "
                             f"such as {path / 'responses.sqlite'}.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(f"The response store {name} cannot be created: a part of its folder {path.parent} "
                             f"is a file; {FIX}.") from None
        except OSError as e:
            if not path.exists():
                raise StoreError(f"The response store {name} cannot be created: its folder {path.parent} cannot be "
                                 f"made ({e.strerror}); point PSY_STORE at a writable location "
                                 "(e.g. PSY_STORE=/tmp/responses.sqlite).") from None
        # Reading the header opens and closes a file descriptor, and closing any descriptor of a file drops
        # every POSIX lock this process holds on it: done while another connection of this process uses the
        # file, it would let writers corrupt it. So only the first opening in a process reads it (later ones
        # rely on SQLite's own errors).
        with _HEADER_LOCK:
            resolved = str(path.resolve())
            if resolved not in _HEADER_CHECKED:
                if path.exists():
                    self._check_header(name)
                _HEADER_CHECKED.add(resolved)
        writable = (os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK)))
        if not writable and not path.exists():
            raise StoreError(f"The response store {name} cannot be created: its folder {path.parent} is not "
                             "writable; point PSY_STORE at a writable location (e.g. PSY_STORE=/tmp/responses.sqlite).")
        try:
            if writable:
                try:
                    self._check_columns(name)
                    with self._guard(name):
                        self._conn().executescript(SCHEMA)
                except StoreError as e:
                    if "read-only" not in str(e) and "readonly" not in str(e):
                        raise
                    self._drop_conn()
                    writable = False
            if not writable:
                self._open_read_only(name)
                self._check_columns(name)
        except Exception:
            self._drop_conn()
            raise

    def _check_header(self, name: str) -> None:
        try:
            with open(self.path, "rb") as f:
                head = f.read(100)
        except OSError as e:
            raise StoreError(f"The response store {name} cannot be read ({e.strerror}); {FIX}.") from None
        if head and not head.startswith(SQLITE_MAGIC[: len(head)]):
            raise StoreError(f"The response store {name} is not a SQLite database (it lacks the SQLite header); "
                             f"{FIX}: the store is a cache, deleting it only costs time.")
        if head and len(head) < 100:
            raise StoreError(f"The response store {name} is truncated ({len(head)} bytes, less than a SQLite "
                             f"header); {FIX}: the store is a cache, deleting it only costs time.")
        if head:
            page = int.from_bytes(head[16:18], "big")
            page = 65536 if page == 1 else page
            n_pages = int.from_bytes(head[28:32], "big")
            header_valid = head[92:96] == head[24:28]  # the page count is valid only when these match
            size = self.path.stat().st_size
            if header_valid and n_pages and size < page * n_pages:
                raise StoreError(f"The response store {name} is truncated ({size} bytes where its header says "
                                 f"{page * n_pages}); {FIX}: the store is a cache, deleting it only costs time.")

    def _open_read_only(self, name: str) -> None:
        base = "file:" + quote(str(self.path.resolve()))
        for uri in (base + "?mode=ro", base + "?mode=ro&immutable=1"):
            self._uri = uri
            self.read_only = True
            try:
                with self._guard(name):
                    self._conn().execute("SELECT name FROM sqlite_master").fetchall()
                return
            except StoreError:
                self._drop_conn()
                if uri.endswith("immutable=1"):
                    raise

    def _check_columns(self, name: str) -> None:
        with self._guard(name):
            cols = [r[1] for r in self._conn().execute("PRAGMA table_info(calls)").fetchall()]
        if not cols:
            return  # no calls table yet (created when writable; a read-only empty store misses every call)
        missing = [c for c in COLUMNS if c not in cols]
        if missing:
            raise StoreError(f"The file {name} holds a `calls` table that is not this project's response store "
                             f"(it lacks the columns {', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}); {FIX}.")
        # a store written by a newer version of the project (a column this version does not know): it serves
        # the answers it holds, but this version must not write into it
        self.newer_columns = [c for c in cols if c not in COLUMNS]

    class _guard:
        """Turn SQLite's errors while opening into one sentence."""

        def __init__(self, name: str):
            self.name = name

        def __enter__(self):
            return self

        def __exit__(self, typ, e, tb):
            if e is None or not isinstance(e, sqlite3.Error):
                return False
            msg = str(e)
            if "not a database" in msg or "malformed" in msg or "disk image" in msg:
                raise StoreError(f"The response store {self.name} is damaged or not a SQLite database (SQLite: {msg}); "
                                 f"{FIX}: the store is a cache, deleting it only costs time.") from None
            if "readonly" in msg or "read-only" in msg:
                raise StoreError(f"The response store {self.name} is read-only (SQLite: {msg}).") from None
            raise StoreError(f"The response store {self.name} cannot be opened (SQLite: {msg}); check that its "
                             f"folder is writable, or {FIX}.") from None

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            if self.read_only:
                con = sqlite3.connect(self._uri, uri=True, timeout=60, isolation_level=None)
                con.execute("PRAGMA busy_timeout=60000")
            else:
                con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                self._local.con = con  # kept even if a pragma fails, so _drop_conn closes it
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                con.execute("PRAGMA busy_timeout=60000")
            self._local.con = con
        return con

    def _drop_conn(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # ---- reading and writing ------------------------------------------------------------------
    def get(self, key: str) -> Record | None:
        with self._guard(_named(self.path)):
            if self.read_only and not self._has_table():
                return None
            row = self._conn().execute(
                "SELECT text, logprobs, latency_s, created_at, meta FROM calls WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return Record(key, row[0], json.loads(row[1]) if row[1] else None, row[2], row[3], True,
                      json.loads(row[4]) if row[4] else {})

    def _has_table(self) -> bool:
        return bool(self._conn().execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='calls'").fetchone())

    def check_writable(self) -> None:
        """Raise one sentence when a new answer could not be recorded (call it before a model call)."""
        if self.newer_columns:
            cols = ", ".join(self.newer_columns[:4])
            raise StoreError(f"The response store {_named(self.path)} was written by a newer version of this project "
                             f"(its calls table has the column(s) {cols}, which this version does not know): it "
                             "serves the answers it holds, but this version cannot add to it; update this checkout "
                             "(`git pull` and `uv sync`), or point PSY_STORE at a store of its own.")
        if self.read_only:
            raise StoreError(f"The response store {_named(self.path)} is read-only: it serves the answers it holds, "
                             "but this run needs a call it does not hold; make the file and its folder writable, or "
                             "point PSY_STORE at a writable copy of it.")

    def put(self, key: str, *, identity: dict[str, str], messages: list[dict], options: dict, seed: int, sample: int,
            top_logprobs: int, text: str, logprobs: list[dict] | None, latency_s: float, meta: dict | None,
            tag: str | None) -> Record:
        if not text.strip() and not logprobs:
            raise ValueError("empty replies are never stored (only a log-probability result may have empty text)")
        self.check_writable()
        created = datetime.now(UTC).isoformat()
        for attempt in range(5):
            try:
                self._conn().execute(
                    "INSERT OR IGNORE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (key, created, identity["kind"], identity["spec"], identity["model"], identity["digest"],
                     json.dumps(messages, ensure_ascii=False), json.dumps(options, sort_keys=True), seed, sample,
                     top_logprobs, text, json.dumps(logprobs) if logprobs is not None else None, latency_s,
                     json.dumps(meta or {}, default=str), tag),
                )
                break
            except sqlite3.DatabaseError as e:
                damaged = "malformed" in str(e) or "disk image" in str(e) or "not a database" in str(e)
                if damaged or not isinstance(e, sqlite3.OperationalError):  # one sentence, never SQLite's raw text
                    with self._guard(_named(self.path)):
                        raise
                if "locked" not in str(e) and "busy" not in str(e):
                    raise StoreError(f"The response store {_named(self.path)} could not record an answer "
                                     f"(SQLite: {e}); check free disk space and that the file is writable.") from None
                if attempt == 4:  # pragma: no cover - only under heavy contention
                    raise StoreError(f"The response store {_named(self.path)} stayed locked by another process "
                                     "for minutes; stop the other run using it, or give this run its own PSY_STORE.") from None
                time.sleep(0.2 * (attempt + 1))
        return Record(key, text, logprobs, latency_s, created, False, meta or {})

    def count(self) -> int:
        with self._guard(_named(self.path)):
            if self.read_only and not self._has_table():
                return 0
            return self._conn().execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    # ---- which published files were loaded into this store ---------------------------------------
    def record_published_load(self, info: dict[str, Any]) -> None:
        """Remember a load of published responses (file, rows, the manifest it was checked against); called
        inside the load's transaction. Kept in a table of its own (``published_loads``), never in ``calls``."""
        con = self._conn()
        con.execute("CREATE TABLE IF NOT EXISTS published_loads (loaded_at TEXT NOT NULL, info TEXT NOT NULL)")
        con.execute("INSERT INTO published_loads VALUES (?, ?)",
                    (datetime.now(UTC).isoformat(timespec="seconds"), json.dumps(info, sort_keys=True)))

    def published_loads(self) -> list[dict[str, Any]]:
        """Every recorded load of published responses, oldest first (``loaded_at`` and what was recorded)."""
        with self._guard(_named(self.path)):
            con = self._conn()
            if not con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='published_loads'").fetchone():
                return []
            rows = con.execute("SELECT loaded_at, info FROM published_loads ORDER BY rowid").fetchall()
        return [{"loaded_at": t, **json.loads(i)} for t, i in rows]

    def export(self, keys: list[str] | None = None):
        """The recorded calls as a polars DataFrame (all, or those with the given keys)."""
        import polars as pl

        if self.read_only and not self._has_table():
            return pl.DataFrame(schema=list(COLUMNS))
        with self._guard(_named(self.path)):
            rows = self._conn().execute("SELECT * FROM calls").fetchall()
            cols = [d[1] for d in self._conn().execute("PRAGMA table_info(calls)").fetchall()]
        df = pl.DataFrame(rows, schema=cols, orient="row")
        if keys is not None:
            df = df.filter(pl.col("key").is_in(keys))
        return df
