"""The response store: every model call with its provenance, and the cache that makes re-runs free.

One SQLite file (WAL mode, so several processes and threads may write at once). A call is keyed by
the sha256 of (target spec, model digest, messages, options, seed, sample index, log-probability
request); an identical request is answered from the store. Only successful, non-empty replies are
written, each as soon as it arrives, so an interrupted run resumes where it stopped and errors are
never replayed. The same file is the ledger of batch mode (tables ``batches`` and ``batch_requests``, see
BATCH_STATES below and :mod:`analysis.core.batch`): which requests wait in a provider's batch, so none is submitted
or paid for twice.

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
from collections.abc import Iterator
from contextlib import contextmanager
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
CREATE TABLE IF NOT EXISTS batches (
    submission TEXT PRIMARY KEY,
    batch_id TEXT UNIQUE,
    provider TEXT NOT NULL,
    base_url TEXT NOT NULL,
    target_spec TEXT NOT NULL,
    digest TEXT NOT NULL,
    state TEXT NOT NULL,
    provider_status TEXT,
    n_requests INTEGER NOT NULL,
    submitted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    info TEXT
);
CREATE TABLE IF NOT EXISTS batch_requests (
    submission TEXT NOT NULL REFERENCES batches(submission),
    custom_id TEXT NOT NULL,
    key TEXT NOT NULL,
    batch_id TEXT,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    error TEXT,
    submitted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (submission, custom_id)
);
CREATE INDEX IF NOT EXISTS batch_requests_key ON batch_requests(key);
CREATE UNIQUE INDEX IF NOT EXISTS batch_requests_open ON batch_requests(key) WHERE state IN ('submitted', 'pending');
"""
# The batch ledger (``batches``, ``batch_requests``; :mod:`analysis.core.batch`): every request sent to a provider's
# Batch API, by request key, with its state. ``submitted``: recorded before the batch is created (the provider's
# ``batch_id`` follows once it is known); ``pending``: the provider is working on it; ``collected``: its answer is a
# row of ``calls``; ``failed`` / ``expired``: no answer (an error is never stored as one), and only these may be
# submitted again. The partial unique index is the guarantee: a key is open (submitted or pending) in one batch at
# most, whichever process submits it. New tables only, created if absent: an older store gains them on opening.
BATCH_OPEN = ("submitted", "pending")
BATCH_STATES = ("submitted", "pending", "collected", "failed", "expired")
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
        row = _call_row(key, created, identity=identity, messages=messages, options=options, seed=seed, sample=sample,
                        top_logprobs=top_logprobs, text=text, logprobs=logprobs, latency_s=latency_s, meta=meta,
                        tag=tag)
        for attempt in range(5):
            try:
                self._conn().execute("INSERT OR IGNORE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
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

    # ---- the batch ledger (see BATCH_STATES; used by analysis.core.batch) --------------------------------
    def _has(self, table: str) -> bool:
        return bool(self._conn().execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                         (table,)).fetchone())

    def batch_waiting(self, key: str) -> str | None:
        """The batch (the provider's id, or the local submission id until it is known) in which this request waits
        for its answer, or None. The Elicitor asks before a model call, so an answer is never paid for twice."""
        with self._guard(_named(self.path)):
            if self.read_only and not self._has("batch_requests"):
                return None
            row = self._conn().execute("SELECT coalesce(batch_id, submission) FROM batch_requests WHERE key = ? AND "
                                       "state IN ('submitted', 'pending')", (key,)).fetchone()
        return row[0] if row else None

    def batch_states(self, keys: list[str]) -> dict[str, str]:
        """{key: the state of its latest ledger entry} for the keys the ledger knows."""
        out: dict[str, str] = {}
        with self._guard(_named(self.path)):
            if self.read_only and not self._has("batch_requests"):
                return out
            con = self._conn()
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                rows = con.execute(f"SELECT key, state FROM batch_requests WHERE key IN ({','.join('?' * len(part))}) "
                                   "ORDER BY submitted_at, rowid", part).fetchall()
                out.update(dict(rows))  # later entries overwrite earlier ones
        return out

    def batch_begin(self, submission: str, *, provider: str, base_url: str, identity: dict[str, str],
                    requests: list[tuple[str, str, dict]]) -> list[str]:
        """Record a batch before it is sent: ``requests`` are (custom_id, key, request); in one transaction, those whose
        answer the store now holds or that are open in another batch are dropped, the rest recorded as ``submitted``.
        Returns the recorded custom_ids (none recorded: no batch row either)."""
        self.check_writable()
        now = datetime.now(UTC).isoformat()
        with self._guard(_named(self.path)), self._transaction() as con:
            kept = []
            for cid, key, req in requests:
                if con.execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone():
                    continue
                if con.execute("SELECT 1 FROM batch_requests WHERE key = ? AND state IN ('submitted', 'pending')",
                               (key,)).fetchone():
                    continue
                kept.append((submission, cid, key, None, "submitted", json.dumps(req, ensure_ascii=False), None, now,
                             now))
            if kept:
                con.execute("INSERT INTO batches VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                            (submission, None, provider, base_url, identity["spec"], identity["digest"], "submitted",
                             None, len(kept), now, now, None))
                con.executemany("INSERT INTO batch_requests VALUES (?,?,?,?,?,?,?,?,?)", kept)
        return [k[1] for k in kept]

    def batch_created(self, submission: str, batch_id: str, info: dict | None = None) -> int:
        """The provider created the batch: its id, on the batch and on each of its requests. Returns 0, or how many of
        its requests conflict: a submission released meanwhile (another process's poll found no batch after the
        settle window while this creation was still under way) is reopened, its requests ``pending`` under the id,
        when none of them is open in another entry; otherwise it stays released, with the id and the conflict in its
        info, and the number of requests open elsewhere is returned (the caller cancels the batch at the provider:
        those requests are never paid for twice)."""
        now = datetime.now(UTC).isoformat()
        with self._guard(_named(self.path)), self._transaction() as con:
            row = con.execute("SELECT state FROM batches WHERE submission = ?", (submission,)).fetchone()
            released = row is not None and row[0] not in BATCH_OPEN
            conflict = con.execute(
                "SELECT COUNT(DISTINCT o.key) FROM batch_requests AS r JOIN batch_requests AS o ON o.key = r.key "
                "WHERE r.submission = ? AND o.submission != ? AND o.state IN ('submitted', 'pending')",
                (submission, submission)).fetchone()[0] if released else 0
            if conflict:
                info = {**(info or {}), "conflict": f"created at the provider after its requests were released, "
                        f"{conflict} of them open in another batch since: cancelled there, not collected"}
            con.execute("UPDATE batches SET batch_id = ?, updated_at = ?, info = ? WHERE submission = ?",
                        (batch_id, now, json.dumps(info or {}, sort_keys=True), submission))
            con.execute("UPDATE batch_requests SET batch_id = ?, updated_at = ? WHERE submission = ?",
                        (batch_id, now, submission))
            if released and not conflict:  # its requests are open again, in the batch that exists after all
                con.execute("UPDATE batches SET state = 'pending', provider_status = NULL WHERE submission = ?",
                            (submission,))
                con.execute("UPDATE batch_requests SET state = 'pending', error = NULL WHERE submission = ?",
                            (submission,))
        return conflict

    def batch_pending(self, submission: str, provider_status: str) -> None:
        """The provider is working on the batch (validating, in progress, finalizing)."""
        now = datetime.now(UTC).isoformat()
        with self._guard(_named(self.path)), self._transaction() as con:
            con.execute("UPDATE batches SET state = 'pending', provider_status = ?, updated_at = ? WHERE submission = ?",
                        (provider_status, now, submission))
            con.execute("UPDATE batch_requests SET state = 'pending', updated_at = ? WHERE submission = ? AND "
                        "state = 'submitted'", (now, submission))

    def batch_finish(self, submission: str, *, state: str, provider_status: str | None,
                     answers: list[dict[str, Any]], outcomes: dict[str, tuple[str, str | None]],
                     info: dict | None = None) -> None:
        """A batch's outcome, in one transaction (a process killed here leaves the batch open, to be collected
        again): each answer (the keyword arguments of :meth:`put`) becomes a row of ``calls``, each request gets its
        state and error (``outcomes``: custom_id -> (state, error)), and the batch its final ``state``."""
        self.check_writable()
        now = datetime.now(UTC).isoformat()
        with self._guard(_named(self.path)), self._transaction() as con:
            for a in answers:
                con.execute("INSERT OR IGNORE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", _call_row(
                    a["key"], now, **{k: v for k, v in a.items() if k != "key"}))
            con.executemany("UPDATE batch_requests SET state = ?, error = ?, updated_at = ? WHERE submission = ? AND "
                            "custom_id = ?", [(st, err, now, submission, cid) for cid, (st, err) in outcomes.items()])
            con.execute("UPDATE batches SET state = ?, provider_status = ?, updated_at = ?, info = ? WHERE "
                        "submission = ?", (state, provider_status, now, json.dumps(info or {}, sort_keys=True),
                                           submission))

    def batches(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        """The ledger's batches, oldest first, each with the count of its requests by state."""
        with self._guard(_named(self.path)):
            if self.read_only and not self._has("batches"):
                return []
            con = self._conn()
            q = "SELECT * FROM batches" + (" WHERE state IN ('submitted', 'pending')" if open_only else "")
            cur = con.execute(q + " ORDER BY submitted_at, rowid")
            cols = [d[0] for d in cur.description]
            out = [dict(zip(cols, r)) for r in cur.fetchall()]
            for b in out:
                b["info"] = json.loads(b["info"]) if b["info"] else {}
                b["requests"] = dict(con.execute("SELECT state, COUNT(*) FROM batch_requests WHERE submission = ? "
                                                 "GROUP BY state", (b["submission"],)).fetchall())
        return out

    def batch_requests(self, submission: str) -> list[dict[str, Any]]:
        """The requests of one batch: custom_id, key, state, error and the request as submitted."""
        with self._guard(_named(self.path)):
            rows = self._conn().execute("SELECT custom_id, key, state, error, request FROM batch_requests WHERE "
                                        "submission = ? ORDER BY rowid", (submission,)).fetchall()
        return [{"custom_id": c, "key": k, "state": st, "error": e, "request": json.loads(r)}
                for c, k, st, e, r in rows]

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on this thread's connection, ROLLBACK on any error: each step of the ledger is
        all or nothing, and the write lock it takes first keeps two processes from recording one key twice."""
        con = self._conn()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

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


def _call_row(key: str, created: str, *, identity: dict[str, str], messages: list[dict], options: dict, seed: int,
              sample: int, top_logprobs: int, text: str, logprobs: list[dict] | None, latency_s: float,
              meta: dict | None, tag: str | None) -> tuple:
    """One row of ``calls`` (COLUMNS order): the same for an interactive call and for an answer from a batch."""
    if not text.strip() and not logprobs:
        raise ValueError("empty replies are never stored (only a log-probability result may have empty text)")
    return (key, created, identity["kind"], identity["spec"], identity["model"], identity["digest"],
            json.dumps(messages, ensure_ascii=False), json.dumps(options, sort_keys=True), seed, sample, top_logprobs,
            text, json.dumps(logprobs) if logprobs is not None else None, latency_s,
            json.dumps(meta or {}, default=str), tag)
