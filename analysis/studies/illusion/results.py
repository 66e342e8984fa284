"""Study 1's analysis as one call, shared by the analysis notebook (the project's own run) and the
re-analysis of a user's table (:mod:`analysis.studies.illusion.reanalyse`): the design, what collapsing
runs did, RQ1-RQ3, the persona check, the opening summary, the tables, figures and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import polars as pl

from analysis.core.io import write_csv
from analysis.studies.illusion import stats as st
from analysis.studies.illusion.params import AnalysisParams
from analysis.studies.illusion.schema import TableSpec, analysed_behaviours, trait_columns, validate, with_roles

# how to enable RQ1 (shown where RQ1 is not tested)
RQ1_HOWTO = """\
models:
  - ollama:llama3.1:8b-text-q4_0        # pretrained base model
  - ollama:llama3.1:8b-instruct-q4_0    # its instruction-tuned counterpart
illusion:
  collect:
    base_models: [ollama:llama3.1:8b-text-q4_0]      # self-reports only, as in the paper
  analysis:
    pairs:
      - {base: ollama:llama3.1:8b-text-q4_0, instruct: ollama:llama3.1:8b-instruct-q4_0}"""


@dataclass
class Results:
    table: pl.DataFrame
    params: AnalysisParams
    spec: TableSpec
    design: dict
    repeats: pd.DataFrame
    repeats_text: str
    rq1: dict
    rq2: dict
    rq3: dict
    checks: pd.DataFrame
    summary: list[str] = field(default_factory=list)

    def metrics(self) -> dict:
        return st.headline(self.design, self.rq1, self.rq2, self.rq3, self.checks)


def prepare(table: pl.DataFrame, a: AnalysisParams, spec: TableSpec | None = None,
            source: str = "the results table") -> tuple[pl.DataFrame, TableSpec, pd.DataFrame]:
    """Step 0: validate ``table`` (with its spec), mark base / instruct models, read the human-expected signs."""
    spec = spec or TableSpec()
    table = with_roles(validate(table, source, spec), a.pairs)
    return table, spec, st.load_expected_signs(a.expected_signs, spec)


def design_step(table: pl.DataFrame, a: AnalysisParams, spec: TableSpec) -> tuple[dict, pd.DataFrame, str]:
    """Step 1: the design's counts, which runs are exact repeats, and the unit of the tests in words."""
    design = st.describe_design(table, spec)
    repeats = st.repeat_report(table, trait_columns(table) + analysed_behaviours(table, spec), a.collapse_runs)
    text = f"{st.describe_repeats(repeats, a.collapse_runs)} Unit of the tests: {st.unit_label(table)}."
    return design, repeats, text


def rq1_step(table: pl.DataFrame, a: AnalysisParams) -> dict:
    """RQ1: base versus aligned models (:func:`stats.rq1_base_vs_aligned` with this analysis's parameters)."""
    return st.rq1_base_vs_aligned(table, a.pairs, collapse=a.collapse_runs, ci=a.ci)


def rq2_step(table: pl.DataFrame, a: AnalysisParams, expected: pd.DataFrame, spec: TableSpec) -> dict:
    """RQ2: trait -> behaviour regressions (:func:`stats.rq2_trait_behaviour`)."""
    return st.rq2_trait_behaviour(table, expected, conditions=a.rq2_conditions, alpha=a.alpha, min_n=a.rq2_min_n,
                                  collapse=a.collapse_runs, ci=a.ci, spec=spec)


def rq3_step(table: pl.DataFrame, a: AnalysisParams, expected: pd.DataFrame, spec: TableSpec) -> dict:
    """RQ3: persona injection, self-report against behaviour (:func:`stats.rq3_persona`)."""
    return st.rq3_persona(table, collapse=a.collapse_runs, lam=a.logit_lambda, self_report_set=a.rq3_self_reports,
                          ci=a.ci, expected=expected, spec=spec)


def check_step(table: pl.DataFrame, a: AnalysisParams) -> pd.DataFrame:
    """The persona check: each persona condition's shift of its target self-report (:func:`stats.persona_checks`)."""
    return st.persona_checks(table, collapse=a.collapse_runs, ci=a.ci)


def assemble(table: pl.DataFrame, a: AnalysisParams, spec: TableSpec, design: dict, repeats: pd.DataFrame,
             repeats_text: str, rq1: dict, rq2: dict, rq3: dict, checks: pd.DataFrame) -> Results:
    """The steps' results as one :class:`Results`, with the opening summary computed from them."""
    res = Results(table, a, spec, design, repeats, repeats_text, rq1, rq2, rq3, checks)
    res.summary = st.summary_lines(design, rq1, rq2, rq3, checks)
    return res


def analyse(table: pl.DataFrame, a: AnalysisParams, spec: TableSpec | None = None,
            source: str = "the results table") -> Results:
    """Validate ``table`` (with its spec) and run every analysis: the steps above, in order (the analysis
    notebook runs them one cell each)."""
    table, spec, expected = prepare(table, a, spec, source)
    design, repeats, repeats_text = design_step(table, a, spec)
    return assemble(table, a, spec, design, repeats, repeats_text, rq1_step(table, a),
                    rq2_step(table, a, expected, spec), rq3_step(table, a, expected, spec), check_step(table, a))


def _csv(df: pd.DataFrame, path: Path) -> Path:
    d = df.copy()
    for c in d.columns:
        if d[c].map(lambda v: isinstance(v, (dict, list))).any():
            d[c] = d[c].map(str)
    return write_csv(pl.from_pandas(d), path)


def write_tables(res: Results, out: Path) -> list[Path]:
    """Every result table as CSV in ``out`` (tables that are empty are not written)."""
    out = Path(out)
    tables = {"units_repeats": res.repeats, "rq2_tests": res.rq2["tests"], "rq3_shifts": res.rq3["shifts"],
              "rq3_by_model": res.rq3["by_model"], "rq3_logistic": res.rq3["logistic"], "persona_checks": res.checks}
    for k in ("pooled", "across_pairs", "means", "variability", "correlations"):
        tables[f"rq1_{k}"] = res.rq1[k]
    return [_csv(df, out / f"{name}.csv") for name, df in tables.items() if df is not None and len(df)]


def _d_ci(r) -> str:
    """Cohen's d with its CI and n (persona vs baseline units), as the index and the report's first line show it
    (the format every summary uses: tests/pipeline/test_consistency.py reads it back)."""
    return (f"{st._fmt_ci(r['d_pooled'], r['d_pooled_ci_low'], r['d_pooled_ci_high'])}, n = {int(r['n_persona'])} vs "
            f"{int(r['n_baseline'])}")


def headline_line(res: Results) -> str:
    """One sentence for the report index: what RQ2 and RQ3 found in this run (RQ1 only when tested)."""
    parts = []
    s = res.rq2["summary"]
    parts.append(f"RQ2: {s['n_sig_raw']} of {s['n_tests']} of the paper's trait-behaviour slopes significant "
                 f"(p < {s['alpha']}; {s['n_sig_bh']} after Benjamini-Hochberg), {s['n_models']} model(s)" if s["n_tests"]
                 else "RQ2 not tested (too few units)")
    bm = res.rq3.get("by_model", pd.DataFrame())
    if len(bm):
        pick = bm[bm["strategy"] == "all strategies"] if (bm["strategy"] == "all strategies").any() else bm
        for trait, g in pick.groupby("persona_trait", sort=True):
            sr = g[g["kind"] == "self_report"]
            bh = g[g["kind"] == "behaviour"]
            if len(sr) and len(bh):
                parts.append(f"{trait} persona: self-report {_d_ci(sr.iloc[0])}, behaviour {_d_ci(bh.iloc[0])}")
    else:
        parts.append("RQ3 not tested (no persona rows)")
    if res.rq1["tested"] and len(res.rq1["pooled"]):
        p = res.rq1["pooled"]
        parts.append(f"RQ1: SD ratio instruct/base {p['sd_ratio_instruct_base'].median():.2f} (median over traits)")
    else:
        parts.append("RQ1 not tested (no base model)")
    return "; ".join(parts) + "."


def summary_markdown(res: Results) -> str:
    """The report's opening: one computed sentence (also the report index's line), then every finding."""
    return headline_line(res) + "\n\n" + "\n".join(f"- {line}" for line in res.summary)


def long_tables(res: Results) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Study 1 in the shared long format (:mod:`analysis.core.measures`). Measures: the mean of each
    self-report and behaviour per model x condition over its units (exact repeats collapsed), with a t-based
    CI and n. Shifts: each persona (trait x strategy) against the same model's baseline rows, Cohen's d with
    its CI for the paired self-report (kind self_report) and the paired behaviour (kind behaviour)."""
    import numpy as np
    from scipy import stats as sps

    from analysis.studies.illusion.schema import expected_range

    t = res.table.to_pandas()
    unit = st.unit_label(t)
    rows = []
    for col in trait_columns(t) + analysed_behaviours(t, res.spec):
        u = st.units(t, [col], res.params.collapse_runs)
        for (model, cond), g in u.groupby(["model", "condition"], sort=True):
            x = g[col].to_numpy(float)
            n = len(x)
            m = float(x.mean())
            if n > 1 and x.std(ddof=1) > 0:
                h = sps.t.ppf(1 - (1 - res.params.ci) / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
                lo, hi = m - h, m + h
            else:
                lo = hi = float("nan")
            rng = expected_range(col)
            rows.append({"model": model, "condition": cond, "condition_kind": g["condition_type"].iloc[0],
                         "measure": col, "kind": "self_report" if col.startswith("sr_") else "behaviour",
                         "estimate": m, "ci_low": lo, "ci_high": hi, "n": n,
                         "unit": f"{col} ({rng[0]:g} to {rng[1]:g})" if rng else col})
    measures = pl.DataFrame(rows, infer_schema_length=None)
    sh = res.rq3.get("shifts", pd.DataFrame())
    shifts = None
    if len(sh):
        per = sh[(sh["model"] != "all models") & (sh["strategy"] != "all strategies")]
        if len(per):
            shifts = pl.DataFrame([{
                "model": r["model"], "manipulation": f"{r['persona_trait']} persona ({r['strategy']})",
                "contrast": "persona minus baseline of the same model", "measure": r["measure"],
                "kind": r["kind"], "effect": "cohens_d", "estimate": r["d"], "ci_low": r["d_ci_low"],
                "ci_high": r["d_ci_high"], "n_a": int(r["n_persona"]), "n_b": int(r["n_baseline"]),
                "unit_of_analysis": unit,
                "note": r["note"] or ""} for _, r in per.iterrows()], infer_schema_length=None)
    return measures, shifts


def draw_figures(res: Results, fig_dir: Path | None, items: pd.DataFrame | None = None, drawn: dict | None = None) -> dict:
    """Every figure of the analysis (those with something to show), saved into ``fig_dir``. ``drawn``: figures the
    caller has already drawn from these results and saved into ``fig_dir`` under their names here (a report
    draws each figure where it discusses it); they are returned as they are, not drawn again (one not saved yet is
    saved)."""
    from analysis.studies.illusion import figures as fg

    drawn = drawn or {}

    def path(name):
        return None if fig_dir is None else Path(fig_dir) / f"{name}.png"

    def fig(name, draw):
        if name not in drawn:
            return draw()
        if path(name) is not None and not path(name).exists():  # handed over but not saved: saved here
            from analysis.core.figures import save

            save(drawn[name], path(name))
        return drawn[name]

    units = res.table.to_pandas()
    out = {
        "self_reports": fig("self_reports", lambda: fg.profiles(units, trait_columns(units), path("self_reports"),
                                                                "Self-reports by condition", collapse=res.params.collapse_runs,
                                                                ci=res.params.ci)),
        "behaviours": fig("behaviours", lambda: fg.profiles(units, analysed_behaviours(units, res.spec), path("behaviours"),
                                                            "Behaviour by condition", collapse=res.params.collapse_runs,
                                                            ci=res.params.ci)),
        "rq1_means": fig("rq1_means", lambda: fg.rq1_means(res.rq1["pooled"], path("rq1_means"), res.rq1["variability"])
                         if res.rq1["tested"] else None),
        "rq2_slopes": fig("rq2_slopes", lambda: fg.rq2_heatmap(res.rq2["tests"], path("rq2_slopes"))),
        "rq3_shifts": fig("rq3_shifts", lambda: fg.rq3_shifts(res.rq3["shifts"], path("rq3_shifts"))),
        "persona_check": fig("persona_check", lambda: fg.persona_check(res.checks, path("persona_check"))),
        "cct_choices": fig("cct_choices", lambda: fg.cct_choices(items, path("cct_choices")) if items is not None else None),
    }
    return {k: v for k, v in out.items() if v is not None}
