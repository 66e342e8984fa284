"""The results layer: every study's tables in one DuckDB database, ``data/results/results.duckdb``.

    uv run python -m analysis.pipeline.results        # (the `results` stage of dvc.yaml)
    duckdb data/results/results.duckdb "SELECT * FROM self_report_vs_behaviour"

Tables (copied in, so the file stands alone):

* ``measures``: one row per study x model x condition x measure (kind ``self_report`` / ``behaviour`` /
  ``clinical_scale``, estimate, CI, n, unit): the union of ``data/processed/<study>/measures.parquet``.
* ``shifts``: one row per study x model x manipulation x measure: a standardised effect with CI and group
  sizes (``data/processed/<study>/shifts.parquet``).
* ``<study>_<table>``: every parquet table a study's collection wrote (``data/raw/<study>/``) and its
  analysis wrote (``data/processed/<study>/``, prefixed ``<study>_p_``).
* ``calls``: the response log of the published reference run (``data/published/responses.parquet``, every
  model call with its provenance), when it is there; it is verified first (every row against its key and
  against ``responses.manifest.json``, :func:`analysis.pipeline.responses.verify`), and a damaged or forged
  file stops the stage in one sentence before anything is written.

Views:

* ``self_report_vs_behaviour``: per study, model and manipulation, the self-report shift beside the
  behaviour shift (both standardised, with CIs): the question the three studies share.
* ``measure_summary``: per study, kind and measure, the number of models and conditions and the range of
  the estimates.
* ``calls_per_model``: per model (and tag), the number of recorded calls, of log-probability calls, and the
  mean latency.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import duckdb

from analysis.core.io import clean_stale, temp_prefix
from analysis.core.paths import DATA_DIR

RESULTS_DB = DATA_DIR / "results" / "results.duckdb"
PUBLISHED = DATA_DIR / "published" / "responses.parquet"

VIEWS = {
    "self_report_vs_behaviour": """
        SELECT s.study, s.model, s.manipulation, s.contrast,
               s.measure AS self_report_measure, s.effect AS self_report_effect,
               s.estimate AS self_report_shift, s.ci_low AS self_report_ci_low, s.ci_high AS self_report_ci_high,
               s.n_a AS self_report_n_a, s.n_b AS self_report_n_b,
               b.measure AS behaviour_measure, b.effect AS behaviour_effect,
               b.estimate AS behaviour_shift, b.ci_low AS behaviour_ci_low, b.ci_high AS behaviour_ci_high,
               b.n_a AS behaviour_n_a, b.n_b AS behaviour_n_b,
               s.unit_of_analysis AS self_report_unit, b.unit_of_analysis AS behaviour_unit
        FROM shifts s JOIN shifts b
          ON s.study = b.study AND s.model = b.model AND s.manipulation = b.manipulation
         AND s.kind IN ('self_report', 'clinical_scale') AND b.kind = 'behaviour'
        ORDER BY s.study, s.model, s.manipulation, s.measure, b.measure""",
    "measure_summary": """
        SELECT study, kind, measure, count(DISTINCT model) AS n_models, count(DISTINCT condition) AS n_conditions,
               min(estimate) AS min_estimate, max(estimate) AS max_estimate, any_value(unit) AS unit
        FROM measures GROUP BY ALL ORDER BY study, kind, measure""",
}
CALL_VIEWS = {
    "calls_per_model": """
        SELECT target_spec AS model, coalesce(tag, '') AS tag, count(*) AS n_calls,
               sum(CASE WHEN top_logprobs > 0 THEN 1 ELSE 0 END) AS n_logprob_calls,
               avg(latency_s) AS mean_latency_s
        FROM calls GROUP BY ALL ORDER BY model, tag""",
}


def _tables(root: Path) -> list[tuple[str, Path]]:
    """(table name, parquet) for every study's raw and processed parquet files, in a stable order."""
    out = []
    for kind, prefix in (("raw", ""), ("processed", "p_")):
        for f in sorted((root / kind).glob("*/*.parquet")):
            study = f.parent.name
            if kind == "processed" and f.stem in ("measures", "shifts"):
                continue
            out.append((f"{study}_{prefix}{f.stem}", f))
    return out


def build(out: Path = RESULTS_DB, data_dir: Path = DATA_DIR, published: Path = PUBLISHED) -> Path:
    """Write the database atomically (a temporary file renamed into place); the published response file, when
    there, is verified against its keys and manifest first (one sentence, nothing written, when it fails)."""
    from analysis.pipeline import responses

    calls = None
    if published.exists():
        calls = responses.read(published)
        man = responses.manifest_path(published)
        if not man.exists():
            raise responses.PublishedError(f"{published} has no manifest ({man.name} beside it), so the calls "
                                           f"table cannot be checked; {responses.FIX}.")
        responses.verify(calls, published, man)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out.parent, out.stem)  # a temporary database (and its .wal) of a killed earlier run
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=temp_prefix(out.stem), suffix=".duckdb")
    os.close(fd)
    os.unlink(tmp)  # duckdb creates the file itself
    try:
        con = duckdb.connect(tmp)
        for name in ("measures", "shifts"):
            files = sorted(str(f) for f in (data_dir / "processed").glob(f"*/{name}.parquet"))
            if files:
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet({files!r}, union_by_name = true) "
                            "ORDER BY ALL")
        for table, f in _tables(data_dir):
            con.execute(f"CREATE TABLE \"{table}\" AS SELECT * FROM read_parquet('{f}')")
        if calls is not None:
            con.register("verified_calls", calls.to_arrow())  # the checked frame, not a second read of the file
            con.execute("CREATE TABLE calls AS SELECT * FROM verified_calls ORDER BY key")
            con.unregister("verified_calls")
            for name, sql in CALL_VIEWS.items():
                con.execute(f"CREATE VIEW {name} AS {sql}")
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if {"measures", "shifts"} <= tables:
            for name, sql in VIEWS.items():
                con.execute(f"CREATE VIEW {name} AS {sql}")
        con.close()
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
        Path(tmp + ".wal").unlink(missing_ok=True)
    return out


def connect(path: Path = RESULTS_DB, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    from analysis.core.errors import UserError

    if not path.exists():
        raise UserError(f"{path} does not exist yet: build it with `uv run dvc repro results`.")
    return duckdb.connect(str(path), read_only=read_only)


def main() -> None:
    from analysis.core.errors import UserError

    try:
        path = build()
    except UserError as e:
        raise SystemExit(str(e)) from None
    con = connect(path)
    n = con.execute("SELECT count(*) FROM information_schema.tables").fetchone()[0]
    print(f"wrote {path} ({n} tables and views)", file=sys.stderr)


if __name__ == "__main__":
    main()
