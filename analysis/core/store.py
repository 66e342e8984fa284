"""The response store: every model call with its provenance, and the cache that makes re-runs free.

One SQLite file (WAL mode, so several processes and threads may write at once). A call is keyed by
the sha256 of (target spec, model digest, messages, options, seed, sample index, log-probability
request); an identical request is answered from the store. Only successful, non-empty replies are
written, each as soon as it arrives, so an interrupted run resumes where it stopped and errors are
never replayed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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


class ResponseStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as con:
            con.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=60000")
            self._local.con = con
        return con

    def get(self, key: str) -> Record | None:
        row = self._conn().execute(
            "SELECT text, logprobs, latency_s, created_at, meta FROM calls WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Record(key, row[0], json.loads(row[1]) if row[1] else None, row[2], row[3], True,
                      json.loads(row[4]) if row[4] else {})

    def put(self, key: str, *, identity: dict[str, str], messages: list[dict], options: dict, seed: int, sample: int,
            top_logprobs: int, text: str, logprobs: list[dict] | None, latency_s: float, meta: dict | None,
            tag: str | None) -> Record:
        if not text.strip() and not logprobs:
            raise ValueError("empty replies are never stored (only a log-probability result may have empty text)")
        created = datetime.now(timezone.utc).isoformat()
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
            except sqlite3.OperationalError:  # pragma: no cover - only under heavy contention
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        return Record(key, text, logprobs, latency_s, created, False, meta or {})

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def export(self, keys: list[str] | None = None):
        """The recorded calls as a polars DataFrame (all, or those with the given keys)."""
        import polars as pl

        q = "SELECT * FROM calls"
        rows = self._conn().execute(q).fetchall()
        cols = [d[1] for d in self._conn().execute("PRAGMA table_info(calls)").fetchall()]
        df = pl.DataFrame(rows, schema=cols, orient="row")
        if keys is not None:
            df = df.filter(pl.col("key").is_in(keys))
        return df
