"""The published responses of the reference run: every model call with its provenance, in the repository.

    uv run python -m analysis.pipeline.responses export   # the response store -> data/published/responses.parquet
    uv run python -m analysis.pipeline.responses load     # data/published/responses.parquet -> the response store

``export`` writes every recorded call (target, model and digest, messages, options, seed, sample index,
raw text, token log-probabilities, latency, time, tag) as one zstd-compressed parquet file, sorted by its
key. ``load`` seeds a response store from it (``PSY_STORE`` or data/cache/responses.sqlite; calls already
there are kept), so ``dvc repro -f`` replays the reference run exactly with zero model calls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from analysis.core.errors import UserError
from analysis.core.io import atomic
from analysis.core.paths import DATA_DIR, response_store_path
from analysis.core.store import COLUMNS, ResponseStore

PUBLISHED = DATA_DIR / "published" / "responses.parquet"


def export(store_path: Path | None = None, out: Path = PUBLISHED) -> tuple[Path, int]:
    df = ResponseStore(store_path or response_store_path()).export().select(COLUMNS).sort("key")
    atomic(out, lambda tmp: df.write_parquet(tmp, compression="zstd", compression_level=19, statistics=False))
    return out, df.height


def load(src: Path = PUBLISHED, store_path: Path | None = None) -> tuple[int, int]:
    """Insert the published calls that the store does not hold; returns (added, already there)."""
    if not src.exists():
        raise UserError(f"{src} does not exist: the published responses come with the repository (`git checkout -- "
                        "data/published/responses.parquet`) or from `python -m analysis.pipeline.responses export`.")
    df = pl.read_parquet(src)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{src} lacks the column(s) {missing}: it is not a response export of this repository.")
    store = ResponseStore(store_path or response_store_path())
    store.check_writable()
    before = store.count()
    con = store._conn()
    con.execute("BEGIN")
    con.executemany(f"INSERT OR IGNORE INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    df.select(COLUMNS).iter_rows())
    con.execute("COMMIT")
    added = store.count() - before
    return added, df.height - added


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["export", "load"])
    ap.add_argument("--file", default=str(PUBLISHED))
    ap.add_argument("--store", default=None, help="the response store (default: PSY_STORE or data/cache/responses.sqlite)")
    a = ap.parse_args(argv)
    try:
        if a.action == "export":
            path, n = export(Path(a.store) if a.store else None, Path(a.file))
            print(f"exported {n} calls to {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
        else:
            added, had = load(Path(a.file), Path(a.store) if a.store else None)
            print(f"loaded {added} calls into the response store ({had} were there already)", file=sys.stderr)
    except UserError as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
