"""Re-analyse a published (or any) Study 1 results table, without a model and apart from the project's run.

    python -m analysis.studies.illusion.reanalyse TABLE.csv [--spec TABLE.yaml] [--out DIR]

TABLE is a parquet or CSV table in the tidy schema of :mod:`analysis.studies.illusion.schema`; its spec
(``TABLE.yaml`` beside it is found automatically) declares extra behaviour measures, column ranges and the
analysis settings that differ from the defaults (its base/instruct ``pairs``, for instance). The table is
validated first (key, roles, each column's range: a rate in percent is refused in one sentence naming the
column), then RQ1-RQ3 run exactly as in ``notebooks/illusion/02_analysis.py`` and everything is written to
``DIR`` (default ``data/reanalysis/illusion/<table name>/``): result tables as CSV, ``figures/``,
``metrics.json`` and ``summary.md``. The project's own collection (``data/raw/illusion/``, its item table
among it) is never read, and the project's outputs (``data/processed/illusion/``, ``figures/illusion/``,
``metrics/``) are never written: an ``--out`` inside them is refused.

The repository ships an example shaped like a published table, ``data/examples/illusion/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.core import metrics as core_metrics
from analysis.core.errors import UserError
from analysis.core.io import write_text
from analysis.core.paths import DATA_DIR, METRICS_DIR, ROOT, figures_dir, processed_dir, raw_dir
from analysis.studies.illusion.results import Results, analyse, draw_figures, summary_markdown, write_tables
from analysis.studies.illusion.schema import load_spec, read_table, validate

REANALYSIS_DIR = DATA_DIR / "reanalysis" / "illusion"


class ReanalysisError(UserError):
    """A re-analysis that would mix with the project's own run."""


def default_out(table: Path) -> Path:
    return REANALYSIS_DIR / Path(table).stem


def check_out(out: Path) -> Path:
    out = Path(out).resolve()
    for own in (processed_dir("illusion"), figures_dir("illusion"), raw_dir("illusion"), METRICS_DIR):
        own = own.resolve()
        if out == own or out.is_relative_to(own) or own.is_relative_to(out):
            shown = own.relative_to(ROOT) if own.is_relative_to(ROOT) else own
            raise ReanalysisError(f"--out {out} would overwrite the project's own outputs in {shown}; give a folder "
                                  f"of its own (the default is {REANALYSIS_DIR.relative_to(ROOT)}/<table name>/).")
    return out


def find_spec(table: Path, spec: str | Path | None) -> Path | None:
    if spec is not None:
        return Path(spec)
    side = Path(table).with_suffix(".yaml")
    return side if side.exists() else None


def run(table: str | Path, spec: str | Path | None = None, out: str | Path | None = None,
        log=print) -> tuple[Results, Path]:
    """Validate, analyse and write; returns the results and the output folder."""
    table = Path(table)
    out = check_out(Path(out) if out else default_out(table))
    spec_path = find_spec(table, spec)
    sp = load_spec(spec_path)
    df = validate(read_table(table), source=f"Results table {table.name}", spec=sp)
    res = analyse(df, sp.analysis, sp)
    log(f"{table.name}: {df.height} rows" + (f", spec {spec_path.name}" if spec_path else ", no spec"))
    d = res.design
    log(f"analysed: traits {d['traits']}; behaviours {d['behaviours']}")
    if d["behaviours_not_analysed"]:
        log(f"behaviour columns not analysed (declare them in the spec to analyse them): {d['behaviours_not_analysed']}")
    if d["ignored_columns"]:
        log(f"columns ignored (not part of the schema): {d['ignored_columns']}")
    log(res.repeats_text)
    write_tables(res, out)
    write_text(summary_markdown(res) + "\n", out / "summary.md")
    import matplotlib.pyplot as plt

    figs = draw_figures(res, out / "figures")
    for f in figs.values():
        plt.close(f)
    core_metrics.write("illusion", res.metrics(), out / "metrics.json")
    write_text(json.dumps(d, indent=2, default=str) + "\n", out / "design.json")
    for line in res.summary:
        log("- " + line)
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    log(f"written to {shown}/ (tables, figures/, metrics.json, summary.md)")
    return res, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", help="a parquet or CSV table in the Study 1 schema")
    ap.add_argument("--spec", help="the table's spec (YAML); default: TABLE.yaml beside it, if present")
    ap.add_argument("--out", help=f"output folder (default {REANALYSIS_DIR.relative_to(ROOT)}/<table name>/)")
    a = ap.parse_args(argv)
    try:
        run(a.table, a.spec, a.out)
    except UserError as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
