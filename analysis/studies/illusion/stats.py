"""Analyses of Study 1 (the personality illusion) on the tidy table of :mod:`analysis.studies.illusion.schema`.

* RQ1 :func:`rq1_base_vs_aligned`: do instruction-tuned models report their traits more stably than
  their base models? Pooled with the models as units (Welch tests of the model means, an exact rank test
  of the within-model SDs with zero SDs kept), across pairs
  (how many pairs have a smaller SD in the instruct model; sign test), and per configured pair
  (Brown-Forsythe test, trait-SRQ correlations).
* RQ2 :func:`rq2_trait_behaviour`: every standardised behaviour on every standardised trait, with a
  random intercept per model (core ``fit_mixedlm``), OLS when one model entered; share of significant
  slopes (two-sided) raw, after Benjamini-Hochberg and after Holm over all tests, and among them the
  share in the direction human data predict (``expected_signs.csv`` plus a table's declared measures).
* RQ3 :func:`rq3_persona`: per persona trait and prompt strategy, the shift of the paired self-report
  and of the paired behaviour (Cohen's d, persona minus baseline, CI) against the baseline rows of the
  same models only (a model without persona rows, such as a pretrained base model, never enters the
  baseline group); per model d with the median and range across models beside the pooled d; logistic
  regressions that predict persona versus baseline from the self-reports and, separately, from the
  behaviour, per strategy and pooled.

Unit of analysis: a model x condition x temperature x run row. Runs that are exact repeats (greedy
decoding, or expectations from option probabilities: every run of a cell has the identical value) carry
no new information, so they are collapsed into one unit, per measure and cell, detected from the
values; runs that differ (sampled) always stay separate units (:func:`units`). What was collapsed is
reported (:func:`repeat_report`).
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from analysis.core.errors import UserError
from analysis.core.io import read_user_csv
from analysis.core.parallel import map_fork
from analysis.core.paths import stimuli_dir
from analysis.core.stats.correlation import fisher_z_diff, pearson
from analysis.core.stats.effects import cohen_d
from analysis.core.stats.mixed import fit_mixedlm
from analysis.core.stats.multiplicity import adjust
from analysis.core.stats.power import mde_correlation, mde_two_sample_d
from analysis.studies.illusion.schema import TableSpec, analysed_behaviours, trait_columns

EXPECTED_SIGNS_FILE = stimuli_dir("illusion") / "expected_signs.csv"
CELL = ["model", "condition", "temperature"]


def _pd(df) -> pd.DataFrame:
    return df.to_pandas() if isinstance(df, pl.DataFrame) else df.copy()


def metric_key(s: str) -> str:
    """A metrics key without dots (DVC reads dots as nesting): 'embedded:qwen2.5-coder-1.5b' -> 'qwen2_5-coder-1_5b'."""
    return s.split(":", 1)[-1].split("@", 1)[0].replace(".", "_")


def paired_measures(personas: dict | None = None) -> dict[str, tuple[str, str]]:
    """persona trait -> (its self-report column, its paired behaviour column), from personas.yaml."""
    from analysis.studies.illusion.conditions import load_personas

    personas = personas or load_personas()
    return {t: ("sr_" + v["self_report"], v["behaviour"]) for t, v in personas["traits"].items()}


def designed_sign(trait: str, personas: dict | None = None) -> float:
    """+1 when the persona's trait words describe the trait's high pole (personas.yaml ``pole``), else -1."""
    from analysis.studies.illusion.conditions import load_personas

    personas = personas or load_personas()
    return -1.0 if personas["traits"].get(trait, {}).get("pole", "high") == "low" else 1.0


# ---- units: exact repeats collapsed, sampled runs kept ---------------------------------------------


def _measures(d: pd.DataFrame) -> list[str]:
    from analysis.studies.illusion.schema import behaviour_columns

    return trait_columns(d) + behaviour_columns(d)


def _cell_codes(d: pd.DataFrame) -> tuple[np.ndarray, pd.MultiIndex]:
    """Each row's cell (model x condition x temperature; a missing value is a level of its own) as a code
    0..n-1 in order of first appearance, and the cells in that order."""
    grp = d.groupby(CELL, sort=False, dropna=False)
    return grp.ngroup().to_numpy(), grp.size().index


def _constant_within(d: pd.DataFrame, cols: list[str], codes: np.ndarray, n: int) -> np.ndarray:
    """Per cell: does every row hold its cell's first row's values of ``cols`` (a missing value equal to a
    missing value), i.e. ``nunique(dropna=False) <= 1`` for each column? Numeric columns are compared as
    arrays; others through pandas."""
    try:
        v = d[cols].to_numpy(dtype=float)
    except (TypeError, ValueError):
        return d[cols].groupby(codes).nunique(dropna=False).le(1).all(axis=1).reindex(range(n)).to_numpy()
    first_row = np.full(n, len(codes))
    np.minimum.at(first_row, codes, np.arange(len(codes)))
    f = v[first_row[codes]]
    differs = ~((v == f) | (np.isnan(v) & np.isnan(f))).all(axis=1)
    return np.bincount(codes, weights=differs, minlength=n) == 0


def _exact_flags(d: pd.DataFrame, cols: list[str], codes: np.ndarray, cells: pd.MultiIndex) -> np.ndarray:
    """:func:`_exact_cells` as an array over ``cells`` (the codes of :func:`_cell_codes`)."""
    n = len(cells)
    same = _constant_within(d, cols, codes, n)
    whole = _constant_within(d, _measures(d), codes, n)
    first_row = np.full(n, len(codes))
    np.minimum.at(first_row, codes, np.arange(len(codes)))
    temp0 = d["temperature"].to_numpy()[first_row] == 0  # a cell's temperature is one value (it is a key)
    by_design = temp0 | whole
    if "mode" in d:
        by_design = by_design | d.groupby(codes, sort=True)["mode"].first().reindex(range(n)).eq("option_probs").to_numpy()
    return same & by_design & (np.bincount(codes, minlength=n) > 1)


def _exact_cells(d: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Per cell (model x condition x temperature) of ``d``: are its runs exact repeats for ``cols``?

    They are when every run has the identical values of ``cols`` and the repeat is exact by design: greedy
    decoding (T = 0), answers scored from option probabilities (``mode`` option_probs), or the whole row
    repeated (every measure of the cell identical across runs). So runs sampled at T > 0 that happen to
    agree on one measure (two sampled answers at a scale's ceiling) are not taken for repeats."""
    codes, cells = _cell_codes(d)
    return pd.Series(_exact_flags(d, cols, codes, cells), index=cells, name="_same")


REFERENCE_TEMPERATURE = 1.0  # the model's own, untempered answer distribution


def units(df, cols: list[str], collapse: bool = True) -> pd.DataFrame:
    """The rows with complete ``cols``, one unit per cell (model x condition x temperature) whose runs are
    exact repeats of ``cols`` (``n_runs`` = how many; see :func:`_exact_cells`), every run kept where they
    differ (sampled runs, ``n_runs`` = 1).

    Rows scored from option probabilities (``mode`` option_probs) at several temperatures are re-weightings
    of the same forward passes, not new observations: they are one unit per model x condition, the row at
    the temperature closest to ``REFERENCE_TEMPERATURE`` (``n_temperatures`` = how many it stands for). This
    also keeps only the T = 1 value of what is sampled per temperature within such a row (the trivia answers
    behind the honesty measures, and runs that differ): the prompt is the unit, and its other samples are not
    further units (conservative; they are in the raw tables).
    ``collapse=False`` keeps every row (pseudo-replication: only for comparison)."""
    d = _pd(df)
    if d.empty or not collapse:
        return d.dropna(subset=cols).assign(n_runs=1)
    codes, cells = _cell_codes(d)
    exact = _exact_flags(d, cols, codes, cells)
    keep = d[cols].notna().all(axis=1).to_numpy()
    d, codes = d[keep], codes[keep]
    if d.empty:
        return one_pass_units(d.assign(n_runs=1))
    same = exact[codes]  # the row's cell repeats exactly: one unit for its complete rows
    first = np.zeros(len(codes), bool)
    first[np.unique(codes, return_index=True)[1]] = True
    out = d[~same | first].copy()
    out["n_runs"] = np.where(same, np.bincount(codes, minlength=len(cells))[codes], 1)[~same | first]
    return one_pass_units(out)


def unit_label(df) -> str:
    """The unit of analysis of :func:`units` for this table, in words."""
    d = _pd(df)
    op = d["mode"].eq("option_probs") if "mode" in d else pd.Series(False, index=d.index)
    if "mode" in d and op.all():
        return "model x condition (temperatures scored from one forward pass are one unit, the T = 1 row)"
    if op.any():
        return ("model x condition in option_probs rows (one unit, the T = 1 row); model x condition x "
                "temperature x run elsewhere (exact repeats collapsed)")
    return "model x condition x temperature x run (exact repeats collapsed)"


def one_pass_units(d: pd.DataFrame) -> pd.DataFrame:
    """One unit per model x condition for rows scored from option probabilities (see :func:`units`)."""
    d = d.assign(n_temperatures=1)
    if "mode" not in d or "temperature" not in d:
        return d
    op = d["mode"].eq("option_probs").to_numpy()
    if not op.any():
        return d
    # per model x condition of the option_probs rows: how many temperatures, and the row that stands for them (the
    # temperature closest to the reference; among equals, the first in table order)
    pos = np.flatnonzero(op)
    o = d.iloc[pos]
    codes = o.groupby(["model", "condition"], sort=False, dropna=False).ngroup().to_numpy()
    n_temps = o.groupby(codes)["temperature"].nunique().to_numpy()  # row c is group c (codes run 0..k-1)
    dist = np.abs(o["temperature"].to_numpy(dtype=float) - REFERENCE_TEMPERATURE)
    by = np.lexsort((np.arange(len(pos)), dist, codes))  # by group, then distance (NaN last), then table order
    first = by[np.r_[True, codes[by][1:] != codes[by][:-1]]]
    n_temperatures = d["n_temperatures"].to_numpy().copy()
    n_temperatures[pos[first]] = n_temps[codes[first]]
    keep = np.sort(np.concatenate([pos[first], np.flatnonzero(~op)]))
    out = d.iloc[keep].copy()
    out["n_temperatures"] = n_temperatures[keep]
    return out.sort_index()


def repeat_report(df, measures: list[str], collapse: bool = True) -> pd.DataFrame:
    """Per measure: cells, cells whose runs are exact repeats (collapsed) and cells whose runs differ (kept),
    the rows with a value and ``units``: the units the tests use (:func:`units`: after collapsing exact
    repeats and, for rows scored from option probabilities, the temperatures of one forward pass into the
    T = 1 row; ``temperatures_collapsed`` counts the rows that collapse removed)."""
    d = _pd(df)
    rows = []
    for m in measures:
        sub = d.dropna(subset=[m])
        if sub.empty:
            continue
        k = sub.groupby(CELL, sort=False, dropna=False).size()
        exact = _exact_cells(d, [m]).reindex(k.index).fillna(False).astype(bool)
        multi = k > 1
        after_runs = int((~multi | exact).sum() + k[multi & ~exact].sum()) if collapse else int(k.sum())
        n_units = len(units(d, [m], collapse))
        rows.append({"measure": m, "cells": int(len(k)), "cells_with_repeats": int(multi.sum()),
                     "exact_repeat_cells": int((multi & exact).sum()), "sampled_cells": int((multi & ~exact).sum()),
                     "rows": int(k.sum()), "units_after_runs": after_runs,
                     "temperatures_collapsed": after_runs - n_units, "units": n_units})
    return pd.DataFrame(rows)


def describe_repeats(rep: pd.DataFrame, collapse: bool = True) -> str:
    """One paragraph saying what collapsing did."""
    if rep.empty:
        return "No measure has values."
    multi = rep[rep["cells_with_repeats"] > 0]
    if multi.empty:
        return "Every model x condition x temperature cell has one run: no runs to collapse." + _describe_temperatures(rep)
    exact = multi[multi["sampled_cells"] == 0]["measure"].tolist()
    sampled = multi[multi["exact_repeat_cells"] == 0]["measure"].tolist()
    mixed = [m for m in multi["measure"] if m not in exact and m not in sampled]
    parts = []
    if not collapse:
        parts.append(f"collapse_runs is off: all {int(rep['rows'].sum())} measure values enter as units, including "
                     f"exact repeats in {int(rep['exact_repeat_cells'].sum())} cells (pseudo-replication)")
    else:
        if exact:
            parts.append(f"{len(exact)} measure(s) have runs that are exact repeats in every cell, collapsed to one unit "
                         f"per cell ({', '.join(exact)})")
        if sampled:
            parts.append(f"{len(sampled)} measure(s) differ between runs in every cell, so every run stays a unit "
                         f"({', '.join(sampled)})")
        if mixed:
            parts.append(f"{len(mixed)} measure(s) repeat exactly in some cells (collapsed there) and differ in "
                         f"others (kept): {', '.join(mixed)}")
    return "Runs: " + "; ".join(parts) + "." + _describe_temperatures(rep)


def _describe_temperatures(rep: pd.DataFrame) -> str:
    """The sentence on temperatures scored from one forward pass (collapsed into the T = 1 row), if any."""
    if "temperatures_collapsed" not in rep or not (rep["temperatures_collapsed"] > 0).any():
        return ""
    t = rep[rep["temperatures_collapsed"] > 0]
    return (f" Temperatures scored from one forward pass are one unit (the T = 1 row): {int(t['rows'].sum())} values "
            f"of {len(t)} measure(s) enter the tests as {int(t['units'].sum())} units "
            f"(per measure: {', '.join(f'{r.measure} {r.units}' for r in t.itertuples())}).")


def load_expected_signs(path: str | Path = EXPECTED_SIGNS_FILE, spec: TableSpec | None = None) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise UserError(f"Expected-signs file {p} does not exist; set illusion.analysis.expected_signs to the shipped "
                        "data/stimuli/illusion/expected_signs.csv or your own file with the same columns.")
    d = read_user_csv(p, UserError, "Expected-signs file")  # a folder, binary or ragged file: one sentence
    need = {"trait", "behaviour", "expected_sign", "reference"}
    if missing := need - set(d.columns):
        raise UserError(f"Expected-signs file {p} lacks the columns {sorted(missing)}.")
    if not d["expected_sign"].isin([-1, 1]).all():
        raise UserError(f"Expected-signs file {p}: expected_sign must be 1 or -1.")
    if spec is not None and spec.expected_signs():
        extra = pd.DataFrame(spec.expected_signs())
        d = pd.concat([d[~d.set_index(["trait", "behaviour"]).index.isin(extra.set_index(["trait", "behaviour"]).index)],
                       extra], ignore_index=True)
    return d


# ---- RQ1 -------------------------------------------------------------------------------------------


def _role_frame(df) -> pd.DataFrame:
    d = _pd(df)
    if "model_role" not in d:
        d["model_role"] = "instruct"
    return d


SD_TEST = ("Mann-Whitney U on the within-model SDs, two-sided, exact permutation distribution (ties and zero SDs "
           "included)")


def sd_rank_test(x, y) -> float:
    """Two-sided p of a difference between the within-model SDs ``x`` (instruct) and ``y`` (base).

    A rank test on the SDs themselves: a model whose answers never vary (SD 0, the most stable) keeps its
    place as the smallest SD instead of being dropped (the log of 0 is undefined) or moved by an arbitrary
    offset (log(SD + c)). The p-value is Mann-Whitney's U against its exact permutation distribution, which
    is right under ties; with 3 + 3 models its smallest possible value is 0.1, stated by the test itself.
    ``nan`` when either group has fewer than 2 models or every SD is equal.

    The distribution is enumerated here with arrays (every assignment of the pooled midranks to the groups):
    the value of scipy's ``mannwhitneyu(x, y, alternative="two-sided", method=PermutationMethod(n_resamples=inf))``
    (checked to the last bit in the tests), which builds the same partitions one at a time in Python (0.1 s a
    test at 6 + 12 models). Beyond ``EXACT_MAX`` partitions, scipy's call itself."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or len(y) < 2 or np.ptp(np.concatenate([x, y])) == 0:
        return math.nan
    n1, n = len(x), len(x) + len(y)
    if math.comb(n, n1) > EXACT_MAX:
        return float(stats.mannwhitneyu(x, y, alternative="two-sided",
                                        method=stats.PermutationMethod(n_resamples=np.inf)).pvalue)
    ranks = stats.rankdata(np.concatenate([x, y]))  # midranks of the pooled SDs: the same under every partition
    shift = n1 * (n1 + 1) / 2
    u_obs = ranks[:n1].sum() - shift
    u = ranks[np.array(list(itertools.combinations(range(n), n1)))].sum(axis=1) - shift
    # scipy's two-sided rule: twice the smaller tail, each tail counted with a relative tolerance of 100 eps
    gamma = abs(np.finfo(float).eps * 100 * u_obs)
    p = min((u <= u_obs + gamma).sum() / len(u), (u >= u_obs - gamma).sum() / len(u)) * 2
    return float(np.clip(p, 0, 1))


EXACT_MAX = 2_000_000  # partitions sd_rank_test enumerates itself (C(18, 6) = 18,564 for Han et al.'s 6 + 12 models)


def rq1_base_vs_aligned(df, pairs: list | None = None, *, conditions: str = "baseline", collapse: bool = True,
                        ci: float = 0.95) -> dict:
    """Base versus instruction-tuned models (``model_role``; ``pairs`` or the table's ``model_pair`` for the
    per-pair tests). Returns ``{"tested", "note", "pooled", "across_pairs", "means", "variability",
    "correlations"}``. All tests two-sided; Holm correction within each table across its tests.

    * pooled: the models are the units. Per trait, each model's mean and within-model SD over its rows
      (model x condition units); Welch t-test of the model means, instruct minus base (``p_welch``, the
      stated test of means), with Cohen's d over models and its noncentral-t CI, which agrees with Student's
      t test, whose p is beside it (``p_student``: the CI excludes 0 exactly when p_student < 1 - ci; Welch's p
      can disagree with the CI when the groups' sizes and variances differ), and a rank test of the within-model SDs (``p_sd``, :func:`sd_rank_test`; is the instruct
      models' variability different? every model with two or more units enters, zero SDs included);
      ``sd_ratio`` = sqrt(mean within-model variance of the instruct models / that of the base
      models). With few models these tests have little power, by design: rows of one model are not
      independent evidence about base versus instruct models.
    * across pairs: per trait, in how many pairs the instruct model's SD is smaller (binomial sign test).
    * per pair: the same tests within the pair, and each Big Five trait's correlation with the SRQ in
      the base and the instruct model (Fisher z test of the difference).
    """
    d = _role_frame(df)
    if conditions == "baseline":
        d = d[d["condition_type"] == "baseline"]
    pairs = [p if isinstance(p, dict) else p.model_dump() for p in (pairs or [])]
    if not pairs and "model_pair" in d and d["model_pair"].notna().any():
        for name, g in d.dropna(subset=["model_pair"]).groupby("model_pair", sort=True):
            b = g.loc[g["model_role"] == "base", "model"].unique()
            i = g.loc[g["model_role"] == "instruct", "model"].unique()
            pairs += [{"base": bb, "instruct": ii, "name": name} for bb in b for ii in i]
    traits = trait_columns(d)
    empty = {k: pd.DataFrame() for k in ("pooled", "across_pairs", "means", "variability", "correlations")}
    base_models = sorted(d.loc[d["model_role"] == "base", "model"].unique())
    inst_models = sorted(d.loc[d["model_role"] == "instruct", "model"].unique())
    if not base_models:
        return {"tested": False, **empty,
                "note": "RQ1 not tested: the table has no pretrained base model (model_role = base). It needs a base "
                        "model and its instruction-tuned counterpart, which no embedded model offers; see the "
                        "params.yaml lines in the report for Ollama models."}
    pooled, var, means, cors, across = [], [], [], [], []
    for t in traits:
        u = units(d, [t], collapse)
        mm = u.groupby("model").agg(mean=(t, "mean"), var=(t, lambda x: x.var(ddof=1)), n=(t, "size"),
                                    role=("model_role", "first"))
        base, inst = mm[mm["role"] == "base"], mm[mm["role"] == "instruct"]
        xb, xi = base["mean"].to_numpy(float), inst["mean"].to_numpy(float)
        cd = cohen_d(xi, xb, ci)
        p_t = stats.ttest_ind(xi, xb, equal_var=False).pvalue if len(xb) > 1 and len(xi) > 1 else math.nan
        sdm = mm[mm["n"] > 1]  # every model with a within-model SD, zeros (the most stable models) included
        lb = np.sqrt(sdm.loc[sdm["role"] == "base", "var"].to_numpy(float))
        li = np.sqrt(sdm.loc[sdm["role"] == "instruct", "var"].to_numpy(float))
        p_sd = sd_rank_test(li, lb)
        vb, vi = base["var"].mean(), inst["var"].mean()
        pooled.append({"trait": t, "n_base_models": len(xb), "n_instruct_models": len(xi),
                       "n_base": int(base["n"].sum()), "n_instruct": int(inst["n"].sum()),
                       "mean_base": cd["mean2"], "mean_instruct": cd["mean1"], "d_instruct_minus_base": cd["d"],
                       "d_ci_low": cd["d_ci_low"], "d_ci_high": cd["d_ci_high"], "p_student": cd["p_student"],
                       "p_welch": float(p_t),
                       "mde_d": mde_two_sample_d(len(xi), len(xb), 1 - ci),
                       "sd_ratio_instruct_base": math.sqrt(vi / vb) if vb and vb > 0 and vi == vi else math.nan,
                       "median_sd_base": float(np.median(lb)) if len(lb) else math.nan,
                       "median_sd_instruct": float(np.median(li)) if len(li) else math.nan,
                       "p_sd": float(p_sd), "sd_test": SD_TEST, "n_base_models_sd": len(lb),
                       "n_instruct_models_sd": len(li), "n_zero_sd_models": int((lb == 0).sum() + (li == 0).sum()),
                       "unit": "model", "note": cd["note"]})
        for pr in pairs:
            b, i = pr["base"], pr["instruct"]
            ub, ui = u.loc[u["model"] == b, t].to_numpy(float), u.loc[u["model"] == i, t].to_numpy(float)
            if not len(ub) or not len(ui):
                continue
            pc = cohen_d(ui, ub, ci)
            pt = stats.ttest_ind(ui, ub, equal_var=False).pvalue if len(ub) > 1 and len(ui) > 1 else math.nan
            means.append({"base": b, "instruct": i, "trait": t, "mean_base": pc["mean2"], "mean_instruct": pc["mean1"],
                          "n_base": len(ub), "n_instruct": len(ui), "d_instruct_minus_base": pc["d"],
                          "d_ci_low": pc["d_ci_low"], "d_ci_high": pc["d_ci_high"], "p_student": pc["p_student"],
                          "p_welch": float(pt),
                          "mde_d": mde_two_sample_d(len(ui), len(ub), 1 - ci), "note": pc["note"]})
            sd_b = float(np.std(ub, ddof=1)) if len(ub) > 1 else math.nan
            sd_i = float(np.std(ui, ddof=1)) if len(ui) > 1 else math.nan
            if len(ub) > 1 and len(ui) > 1 and (sd_b > 0 or sd_i > 0):
                w, p_l = stats.levene(ub, ui, center="median")
            else:
                w, p_l = math.nan, math.nan
            var.append({"base": b, "instruct": i, "trait": t, "sd_base": sd_b, "sd_instruct": sd_i,
                        "sd_ratio_instruct_base": sd_i / sd_b if sd_b and sd_b > 0 else math.nan,
                        "brown_forsythe_W": float(w), "p": float(p_l), "n_base": len(ub), "n_instruct": len(ui)})
    if var:
        v = pd.DataFrame(var).dropna(subset=["sd_ratio_instruct_base"])
        for t, g in v.groupby("trait", sort=False):
            k = int((g["sd_ratio_instruct_base"] < 1).sum())
            n = int((g["sd_ratio_instruct_base"] != 1).sum())
            across.append({"trait": t, "n_pairs": len(g), "n_instruct_more_stable": k,
                           "p_sign_test": float(stats.binomtest(k, n, 0.5).pvalue) if n else math.nan,
                           "median_sd_ratio": float(g["sd_ratio_instruct_base"].median())})
    srq = next((c for c in traits if c.upper().endswith("SRQ")), None)
    if srq:
        for t in [c for c in traits if c != srq]:
            u = units(d, [t, srq], collapse)
            # within one model the units are its conditions; rows of different models are not pooled
            groups = [("pair", pr["base"], pr["instruct"], u[u["model"] == pr["base"]], u[u["model"] == pr["instruct"]])
                       for pr in pairs]
            for scope, b, i, gb, gi in groups:
                row = {"scope": scope, "base": b, "instruct": i, "trait": t, "with": srq}
                for lab, g in (("base", gb), ("instruct", gi)):
                    r = pearson(g[t], g[srq], alternative="two-sided", ci=ci)
                    row.update({f"r_{lab}": r["estimate"], f"ci_low_{lab}": r["ci_low"], f"ci_high_{lab}": r["ci_high"],
                                f"p_{lab}": r["p"], f"n_{lab}": r["n"]})
                row["p_difference"] = fisher_z_diff(row["r_base"], row["n_base"], row["r_instruct"], row["n_instruct"])
                cors.append(row)
    out = {"pooled": pd.DataFrame(pooled), "across_pairs": pd.DataFrame(across), "means": pd.DataFrame(means),
           "variability": pd.DataFrame(var), "correlations": pd.DataFrame(cors)}
    for name, cols in (("pooled", ("p_welch", "p_sd")), ("means", ("p_welch",)), ("variability", ("p",)),
                       ("correlations", ("p_difference",)), ("across_pairs", ("p_sign_test",))):
        for col in cols:
            if len(out[name]) and col in out[name]:
                out[name][f"{col}_holm"] = adjust(out[name][col].to_numpy(float), "holm")
    note = (f"RQ1: {len(base_models)} base and {len(inst_models)} instruct model(s), {len(pairs)} pair(s); two-sided "
            "Welch t-tests of means (p_welch), Brown-Forsythe tests within pairs, Fisher z tests and a sign test across "
            "pairs; Holm correction within each table. Cohen's d has the noncentral-t CI that agrees with Student's "
            "t test, whose p is given beside it (p_student), so the CI and p_student agree; p_welch may not. Pooled tests take the models as units (model means; within-model SDs, "
            f"zero SDs included: {SD_TEST}), since rows of one model are not independent evidence about base versus instruct models.")
    missing = [f"{p['base']} / {p['instruct']}" for p in pairs if p["base"] not in set(d["model"]) or
               p["instruct"] not in set(d["model"])]
    if missing:
        note += f" Pairs not in the table (skipped): {missing}."
    return {"tested": True, "note": note, **out}


# ---- RQ2 -------------------------------------------------------------------------------------------


def _z(x: pd.Series) -> pd.Series:
    return (x - x.mean()) / x.std(ddof=1)


def _fit_one(sub: pd.DataFrame, n_models: int, ci: float) -> dict:
    """y ~ x on standardised columns 'y', 'x' (and 'model'): core ``fit_mixedlm`` with a random intercept
    per model when >= 2 models entered, else OLS; a mixed model that cannot be fitted falls back to OLS
    with model fixed effects, and the note says so. Two-sided p-values."""
    import statsmodels.formula.api as smf

    if n_models >= 2:
        fit = fit_mixedlm("y ~ x", sub, "model", ci=ci)
        row = fit.term("x")
        if fit.ok and np.isfinite(row["se"]) and row["se"] > 0:
            return {"coef": float(row["coef"]), "se": float(row["se"]), "p": float(row["p"]), "ci_low": float(row["ci_low"]),
                    "ci_high": float(row["ci_high"]), "method": "mixedlm (random intercept per model)",
                    "note": "; ".join(fit.notes)}
        res = smf.ols("y ~ x + C(model)", sub).fit()
        lo, hi = res.conf_int(alpha=1 - ci).loc["x"]
        return {"coef": float(res.params["x"]), "se": float(res.bse["x"]), "p": float(res.pvalues["x"]),
                "ci_low": float(lo), "ci_high": float(hi), "method": "ols + model fixed effects",
                "note": "mixed model not estimable (" + ("; ".join(fit.notes) or "no finite SE") + "): OLS with model "
                        "fixed effects instead"}
    res = smf.ols("y ~ x", sub).fit()
    lo, hi = res.conf_int(alpha=1 - ci).loc["x"]
    return {"coef": float(res.params["x"]), "se": float(res.bse["x"]), "p": float(res.pvalues["x"]),
            "ci_low": float(lo), "ci_high": float(hi), "method": "ols (one model)",
            "note": "one model only: OLS, no random intercept"}


# The trait-behaviour pairs Han et al. (2025) tested: the six self-reports of their released tables
# (data/baseline_responses/instruct_models_selfreport.csv: openeness, consciencienes, extraversion, agreeableness,
# neuroticism, self_regulation) times the five behaviours of instruct_models_behavioral_tasks.csv (CCT_cold_avg,
# IAT_Overall, sycophancy_rate, Calibaration = the expected calibration error of the honesty task, x 100 in their
# Honesty.ipynb, and Consistency): 6 x 5 = 30. Our columns of the same measures:
PAPER_TRAITS = ("sr_O", "sr_C", "sr_E", "sr_A", "sr_N", "sr_SRQ")
PAPER_BEHAVIOURS = {"bh_cct_cards": "CCT_cold_avg", "bh_iat_bias": "IAT_Overall", "bh_syc_flip_rate": "sycophancy_rate",
                    "bh_hon_ece": "Calibaration", "bh_hon_consistency": "Consistency"}
FAMILIES = ("primary", "secondary")


def rq2_family(trait: str, behaviour: str) -> str:
    """'primary' for a pair the paper tested (:data:`PAPER_TRAITS` x :data:`PAPER_BEHAVIOURS`), else
    'secondary' (our further measures of the same tasks: CCT distance from the optimum, honesty accuracy,
    Brier score and overconfidence, and any behaviour a table's spec declares)."""
    return "primary" if trait in PAPER_TRAITS and behaviour in PAPER_BEHAVIOURS else "secondary"


def rq2_trait_behaviour(df, expected: pd.DataFrame | None = None, *, conditions: str = "baseline",
                        behaviours: list[str] | None = None, traits: list[str] | None = None, alpha: float = 0.05,
                        min_n: int = 5, collapse: bool = True, ci: float = 0.95, spec: TableSpec | None = None) -> dict:
    """Standardised slope of each behaviour on each trait (two-sided tests).

    Returns ``{"tests": df (one row per trait x behaviour), "summary": dict, "note": str}``. Tests with
    fewer than ``min_n`` complete units or no variance are listed with a note and no p-value, and are
    not counted in the shares. Multiplicity: BH (FDR) and Holm (FWER) over all fitted tests. The summary
    counts the models that entered a fitted test (``n_models``), not merely the models in the table.
    """
    d = _pd(df)
    if conditions == "baseline":
        d = d[d["condition_type"] == "baseline"]
    traits = traits or trait_columns(d)
    behaviours = behaviours or analysed_behaviours(d, spec)
    rows, fits = [], []
    entered: set[str] = set()
    for b in behaviours:
        for t in traits:
            sub = units(d, [t, b], collapse)
            row = {"trait": t, "behaviour": b, "n": len(sub), "n_models": int(sub["model"].nunique()) if len(sub) else 0}
            if len(sub) < min_n:
                rows.append({**row, "note": f"fewer than {min_n} complete units: not tested"})
                continue
            if not sub[t].std() > 0 or not sub[b].std() > 0:
                rows.append({**row, "note": "no variance in trait or behaviour: not tested"})
                continue
            fit = pd.DataFrame({"model": sub["model"].to_numpy(), "x": _z(sub[t]).to_numpy(), "y": _z(sub[b]).to_numpy()})
            r = np.corrcoef(fit["x"], fit["y"])[0, 1]
            if abs(r) > 1 - 1e-9:
                rows.append({**row, "coef": float(np.sign(r)),
                             "note": "exact linear fit (degenerate, e.g. two-valued data): not tested"})
                continue
            rows.append(row)
            fits.append((len(rows) - 1, (fit, row["n_models"], ci)))
            entered |= set(sub["model"])
    # the fits are independent: on every core (the loop's numbers, in its order; analysis.core.parallel)
    for (i, _), res in zip(fits, map_fork(_fit_one, [args for _, args in fits])):
        rows[i] = {**rows[i], **res}
    tests = pd.DataFrame(rows, columns=["trait", "behaviour", "n", "n_models", "coef", "se", "p", "ci_low", "ci_high",
                                        "method", "note"])
    tests["p"] = tests["p"].astype(float)
    for c in ("note", "method"):
        tests[c] = tests[c].astype(object).where(tests[c].notna(), "")
    tested = tests["p"].notna()
    tests["family"] = [rq2_family(t, b) for t, b in zip(tests["trait"], tests["behaviour"])]
    tests["p_bh"] = np.nan
    tests["p_holm"] = np.nan
    for fam in FAMILIES:  # each family corrected on its own: the secondary measures never dilute the primary
        f = (tests["family"] == fam).to_numpy()
        if f.any():
            tests.loc[f, "p_bh"] = adjust(tests.loc[f, "p"].to_numpy(float), "fdr_bh")
            tests.loc[f, "p_holm"] = adjust(tests.loc[f, "p"].to_numpy(float), "holm")
    tests["mde_r"] = [mde_correlation(int(n), alpha) if p == p else math.nan for n, p in zip(tests["n"], tests["p"])]
    for lab, col in (("raw", "p"), ("bh", "p_bh"), ("holm", "p_holm")):
        tests[f"sig_{lab}"] = tests[col] < alpha
    if expected is not None and len(expected):
        e = expected[["trait", "behaviour", "expected_sign"]].drop_duplicates(["trait", "behaviour"], keep="last")
        tests = tests.merge(e, on=["trait", "behaviour"], how="left")
    else:
        tests["expected_sign"] = np.nan
    tests["direction_as_expected"] = np.where(
        tests["expected_sign"].notna() & tests["coef"].notna() & tested, np.sign(tests["coef"]) == tests["expected_sign"],
        np.nan)
    def family_summary(mask) -> dict:
        t_ok = tested & mask
        n_t = int(t_ok.sum())
        out = {"n_tests": n_t, "n_pairs": int(mask.sum())}
        for lab in ("raw", "bh", "holm"):
            sig = tests[t_ok & tests[f"sig_{lab}"]]
            with_exp = sig[sig["expected_sign"].notna()]
            out[f"n_sig_{lab}"] = len(sig)
            out[f"share_sig_{lab}"] = len(sig) / n_t if n_t else math.nan
            out[f"n_sig_with_expectation_{lab}"] = len(with_exp)
            out[f"share_expected_direction_{lab}"] = (
                float(with_exp["direction_as_expected"].astype(float).mean()) if len(with_exp) else math.nan)
        n_units = tests.loc[t_ok, "n"]
        out["median_units"] = float(n_units.median()) if n_t else math.nan
        out["mde_r_median"] = float(tests.loc[t_ok, "mde_r"].median()) if n_t else math.nan
        return out

    primary = tests["family"] == "primary"
    summary = {**family_summary(primary), "family": "primary: the paper's trait-behaviour pairs",
               "n_models": len(entered), "models": sorted(entered),
               "max_units": int(tests["n"].max()) if len(tests) else 0, "min_n": min_n, "alpha": alpha,
               "conditions": conditions, "secondary": family_summary(~primary)}
    n_t = int(tested.sum())
    methods = sorted(set(tests.loc[tested, "method"]))
    note = (f"RQ2: {n_t} of {len(tests)} trait-behaviour pairs tested ({', '.join(methods) or 'none'}), "
            f"{len(entered)} model(s) entered; standardised coefficients, two-sided; significance at alpha={alpha} "
            "raw, after Benjamini-Hochberg (FDR) and after Holm (FWER) within each family: the primary family is "
            f"the paper's pairs (the self-reports {', '.join(PAPER_TRAITS)} x the behaviours "
            f"{', '.join(PAPER_BEHAVIOURS)}: {int(primary.sum())} in this table, 30 in the paper), the secondary "
            "family the further measures of the same tasks (accuracy, Brier score, overconfidence, CCT distance "
            "from the optimum, declared behaviours). Direction shares use only pairs with a documented "
            "expectation. mde_r: the smallest |r| each test detects with 80% power at its n (two-sided, alpha "
            f"{alpha}; Fisher z), to read a null against.")
    return {"tests": tests, "summary": summary, "note": note}


def rq2_not_tested(rq2: dict) -> str | None:
    """One line saying why nothing was tested (None when something was)."""
    s = rq2["summary"]
    if s["n_tests"]:
        return None
    t = rq2["tests"]
    if not len(t):
        return "RQ2 not tested: the table has no trait-behaviour pair (no self-report or no behaviour on the same rows)."
    reasons = t["note"].str.replace(r"\(.*\)", "", regex=True).str.strip().value_counts()
    why = "; ".join(f"{n} pair(s): {r}" for r, n in reasons.items())
    return (f"RQ2 not tested: none of the {len(t)} trait-behaviour pairs could be fitted ({why}); at most "
            f"{s['max_units']} complete units per pair, {s['min_n']} needed. Add baseline conditions (prompts) or "
            "models; in option_probs mode more temperatures add no unit (they re-weight the same forward passes).")


# ---- RQ3 -------------------------------------------------------------------------------------------


def _l2_logit(X: np.ndarray, y: np.ndarray, lam: float = 1.0, max_iter: int = 100, tol: float = 1e-10) -> np.ndarray:
    """L2-penalised logistic regression (intercept unpenalised) by Newton-Raphson; returns
    [intercept, coefs...]. The penalised log-likelihood is strictly concave, so it always converges."""
    Xc = np.column_stack([np.ones(len(X)), X])
    pen = np.full(Xc.shape[1], lam, dtype=float)
    pen[0] = 0.0
    beta = np.zeros(Xc.shape[1])
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(Xc @ beta)))
        grad = Xc.T @ (y - p) - pen * beta
        hess = (Xc * (p * (1 - p))[:, None]).T @ Xc + np.diag(pen) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def _predict(beta: np.ndarray, X: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(beta[0] + X @ beta[1:])))


def _constant_in_fold(X: np.ndarray) -> np.ndarray:
    """[k, j]: is column j constant once unit k is left out? (All values equal, or all but unit k's.) Tested on the
    values themselves, not on a computed SD, which rounding can leave at 1e-16 for a constant column."""
    n, q = X.shape
    out = np.zeros((n, q), bool)
    for j in range(q):
        vals, inverse, counts = np.unique(X[:, j], return_inverse=True, return_counts=True)
        if len(vals) == 1:
            out[:, j] = True
        elif len(vals) == 2 and counts.min() == 1:
            out[:, j] = counts[inverse] == 1  # leaving out the one odd unit leaves a constant column
    return out


def _loo_probs(X: np.ndarray, y: np.ndarray, lam: float = 1.0, max_iter: int = 100, tol: float = 1e-10,
               block: int = 128, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out predictions of the L2 fit: (the units predicted, the probability each gets from
    ``_l2_logit`` fitted without it), the predictors standardised afresh on the other units (SD with ddof=1; a
    column constant there is centred, not scaled). A unit whose removal leaves one class is skipped.

    The same Newton-Raphson as ``_l2_logit``, run for a block of folds at once (fold k gives unit k weight 0),
    each fold stopping at its own convergence, from ``start`` (the fit on all units, which is close) when given:
    the optimum is unique (strictly concave), so the start changes the iterations, not the fit.
    ``tests/studies/illusion/test_stats.py`` checks the probabilities against ``_l2_logit`` fold by fold."""
    n, q = X.shape
    y = np.asarray(y, dtype=float)
    n1 = int(y.sum())
    ks = np.array([k for k in range(n) if not ((y[k] == 1 and n1 == 1) or (y[k] == 0 and n - n1 == 1))], dtype=int)
    const = _constant_in_fold(X)
    pen = np.full(q + 1, lam, dtype=float)
    pen[0] = 0.0
    ridge = np.diag(pen) + 1e-9 * np.eye(q + 1)
    probs = []
    for first in range(0, len(ks), block):
        kb = ks[first:first + block]
        b = len(kb)
        w = np.ones((b, n))
        w[np.arange(b), kb] = 0.0  # fold j leaves out unit kb[j]
        mu = (w @ X) / (n - 1)
        d = X[None, :, :] - mu[:, None, :]
        sd = np.sqrt(np.einsum("bn,bnj->bj", w, d * d) / (n - 2))
        sd = np.where(const[kb] | ~(sd > 0), 1.0, sd)
        Z = np.concatenate([np.ones((b, n, 1)), d / sd[:, None, :]], axis=2)
        beta = np.zeros((b, q + 1)) if start is None else np.repeat(np.asarray(start, float)[None, :], b, axis=0)
        active = np.ones(b, bool)
        for _ in range(max_iter):
            a = np.flatnonzero(active)
            if not len(a):
                break
            Za, wa = Z[a], w[a]
            p = 1 / (1 + np.exp(-np.einsum("bnj,bj->bn", Za, beta[a])))
            grad = np.einsum("bnj,bn->bj", Za, wa * (y[None, :] - p)) - pen * beta[a]
            hess = np.matmul((Za * (wa * p * (1 - p))[:, :, None]).transpose(0, 2, 1), Za) + ridge
            step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
            beta[a] = beta[a] + step
            active[a[np.max(np.abs(step), axis=1) < tol]] = False
        zk = (X[kb] - mu) / sd
        probs.append(1 / (1 + np.exp(-(beta[:, 0] + np.einsum("bj,bj->b", zk, beta[:, 1:])))))
    return ks, (np.concatenate(probs) if probs else np.array([]))


def _loo_hits(X: np.ndarray, y: np.ndarray, lam: float = 1.0, **kw) -> np.ndarray:
    """Leave-one-out hits: each predicted unit classified (threshold 0.5) by the fit without it (:func:`_loo_probs`)."""
    ks, p = _loo_probs(X, y, lam, **kw)
    return ((p > 0.5) == np.asarray(y, dtype=float)[ks]).astype(float)


def logistic_persona(X: pd.DataFrame, y: np.ndarray, lam: float = 1.0) -> dict:
    """Predict persona (1) vs baseline (0) from the columns of X (standardised here).

    Tries an unpenalised Logit first; under perfect or quasi-perfect separation (or non-convergence)
    it reports that and gives the L2-penalised fit instead (penalty ``lam``, intercept free). Always
    reports the in-sample and leave-one-out accuracy of the L2 fit, so both predictor sets are compared
    on the same footing, beside the no-information rate (the accuracy of always predicting the larger
    class). A predictor without variance is dropped and named in ``dropped``.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    X = X.astype(float)
    sd = X.std(ddof=1)
    dropped = [f"{c}: no variance" for c in X.columns if not sd[c] > 0]
    X = X.loc[:, sd > 0]
    y = np.asarray(y)
    share = float(np.mean(y)) if len(y) else math.nan
    out = {"predictors": ",".join(X.columns), "dropped": "; ".join(dropped), "n": len(y), "n_persona": int(y.sum()),
           "separation": False, "method": "", "coefs": {}, "p_values": {}, "pseudo_r2": math.nan,
           "no_information_rate": max(share, 1 - share) if len(y) else math.nan,
           "accuracy_in_sample": math.nan, "accuracy_loo": math.nan, "note": ""}
    if X.shape[1] == 0 or len(np.unique(y)) < 2 or len(y) < 4:
        out["note"] = "not estimable: no predictor with variance, one class only, or fewer than 4 units"
        return out
    Z = ((X - X.mean()) / X.std(ddof=1)).to_numpy()
    fitted = False
    if len(y) > Z.shape[1] + 2:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                res = sm.Logit(y, sm.add_constant(Z, has_constant="add")).fit(disp=0, maxiter=200)
                if not np.all(np.isfinite(res.bse)) or np.max(np.abs(res.params)) > 15:
                    raise PerfectSeparationWarning("huge coefficients")
                out.update(method="logit (maximum likelihood)", pseudo_r2=float(res.prsquared),
                           coefs=dict(zip(X.columns, map(float, res.params[1:]))),
                           p_values=dict(zip(X.columns, map(float, res.pvalues[1:]))))
                fitted = True
            except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError, ValueError) as e:
                out["separation"] = isinstance(e, PerfectSeparationWarning) or "separation" in str(e).lower()
                out["note"] = ("perfect or quasi-perfect separation: the ML estimates do not exist; "
                               if out["separation"] else f"ML fit failed ({e.__class__.__name__}); ")
    else:
        out["note"] = "too few units for an unpenalised fit; "
    beta = _l2_logit(Z, y, lam)
    if not fitted:
        out.update(method=f"L2-penalised logit (lambda={lam}, no p-values)", coefs=dict(zip(X.columns, map(float, beta[1:]))))
        out["note"] += f"L2-penalised coefficients (lambda={lam}) reported."
    out["accuracy_in_sample"] = float(np.mean((_predict(beta, Z) > 0.5) == y))
    hits = _loo_hits(X.to_numpy(dtype=float), y, lam, start=beta)
    out["accuracy_loo"] = float(np.mean(hits)) if len(hits) else math.nan
    return out


def _designed_behaviour_sign(sr_col: str, bh_col: str, expected: pd.DataFrame | None) -> float:
    if expected is None or not len(expected):
        return math.nan
    e = expected[(expected["trait"] == sr_col) & (expected["behaviour"] == bh_col)]
    return float(e["expected_sign"].iloc[-1]) if len(e) else math.nan


def rq3_persona(df, *, collapse: bool = True, lam: float = 1.0, self_report_set: str = "all", ci: float = 0.95,
                expected: pd.DataFrame | None = None, spec: TableSpec | None = None, personas: dict | None = None) -> dict:
    """Persona injection versus baseline, per persona trait and prompt strategy, against the baseline rows
    of the same models (those with persona rows of the trait).

    ``shifts`` (long): one row per trait x strategy (and 'all strategies') x model (and 'all models') x
    measure (the paired self-report, ``kind`` self_report; the paired behaviour and any declared behaviour
    that follows the trait's self-report, ``kind`` behaviour): baseline and persona means, the raw shift,
    Cohen's d (persona minus baseline, pooled SD, noncentral-t CI), n, the designed direction
    (+1 for the self-report: every persona describes the trait's high pole; the human-expected sign for a
    behaviour) and whether the shift goes that way. ``by_model``: per trait x strategy x measure, the pooled
    d beside the median and range of the per-model d. ``logistic``: persona vs baseline from the
    self-reports and, separately, from the behaviour measures observed on every unit, per strategy and
    over all strategies."""
    d = _pd(df)
    pairs = paired_measures(personas)
    pers = d[d["condition_type"] == "persona"]
    if pers.empty:
        return {"shifts": pd.DataFrame(), "by_model": pd.DataFrame(), "logistic": pd.DataFrame(),
                "note": "RQ3 not tested: the table has no persona rows."}
    declared = [b for b in (spec.behaviours if spec else []) if b.trait and b.name in d]
    shifts, logit, fits = [], [], []
    for trait in sorted(pers["persona_trait"].dropna().unique()):
        sr_col, bh_col = pairs.get(trait, (None, None))
        pt = pers[pers["persona_trait"] == trait]
        models = sorted(pt["model"].unique())
        base = d[(d["condition_type"] == "baseline") & d["model"].isin(models)]
        measures = []
        pole = designed_sign(trait, personas)
        if sr_col in d:
            measures.append(("self_report", sr_col, pole))
        if bh_col in d:
            measures.append(("behaviour", bh_col, pole * _designed_behaviour_sign(sr_col, bh_col, expected)))
        measures += [("behaviour", b.name, pole * float(b.direction)) for b in declared
                     if b.trait == sr_col and b.name != bh_col]
        has_strat = "persona_strategy" in pt and pt["persona_strategy"].notna().any()
        strategies = sorted(pt["persona_strategy"].dropna().unique()) if has_strat else ["all"]
        scopes = strategies + (["all strategies"] if len(strategies) > 1 else [])
        for strat in scopes:
            ps = pt if strat in ("all strategies", "all") else pt[pt["persona_strategy"] == strat]
            for kind, col, sign in measures:
                up = units(ps, [col], collapse)
                ub = units(base, [col], collapse)
                for model in models + (["all models"] if len(models) > 1 else []):
                    pm = up if model == "all models" else up[up["model"] == model]
                    bm = ub if model == "all models" else ub[ub["model"] == model]
                    cd = cohen_d(pm[col], bm[col], ci)
                    shift = cd["mean1"] - cd["mean2"]
                    shifts.append({"persona_trait": trait, "strategy": strat, "model": model, "kind": kind,
                                   "measure": col, "mean_baseline": cd["mean2"], "mean_persona": cd["mean1"],
                                   "shift": shift, "d": cd["d"], "d_ci_low": cd["d_ci_low"], "d_ci_high": cd["d_ci_high"],
                                   "n_baseline": cd["n2"], "n_persona": cd["n1"],
                                   "mde_d": mde_two_sample_d(int(cd["n1"]), int(cd["n2"]), 1 - ci),
                                   "designed_direction": sign,
                                   "as_designed": (np.sign(shift) == sign) if sign == sign and shift == shift and shift != 0
                                   else None, "note": cd["note"]})
            # logistic regressions: persona vs baseline (same models), from self-reports / from behaviour
            sr_cols = [sr_col] if self_report_set == "paired" else trait_columns(d)
            bh_cols = [c for kind, c, _ in measures if kind == "behaviour"] + [
                c for c in analysed_behaviours(d, spec) if c not in [m[1] for m in measures]]
            for kind, cols in (("self_reports", sr_cols), ("behaviour", bh_cols)):
                both = pd.concat([base.assign(_y=0), ps.assign(_y=1)])
                cols = [c for c in cols if c in both]
                ub = units(both, ["_y"], collapse)  # the units before any predictor is required
                missing = {c: int(ub[c].isna().sum()) for c in cols if ub[c].isna().any()}
                cols = [c for c in cols if c not in missing]
                u = units(both, cols + ["_y"], collapse) if cols else ub
                y = u["_y"].to_numpy()
                gone = [f"{c}: {k} missing value(s) of {len(ub)} units" for c, k in missing.items()]
                logit.append(({"persona_trait": trait, "strategy": strat, "predictors_from": kind}, gone,
                              None if cols else {"predictors": "", "n": len(y), "note": "no predictor observed on every unit"}))
                if cols:
                    fits.append((len(logit) - 1, (u[cols], y, lam)))
    # the fits are independent: on every core (the loop's numbers, in its order; analysis.core.parallel)
    for (i, _), res in zip(fits, map_fork(logistic_persona, [args for _, args in fits])):
        logit[i] = (*logit[i][:2], res)
    rows = []
    for head, gone, res in logit:
        res["dropped"] = "; ".join(gone + ([res["dropped"]] if res.get("dropped") else []))
        rows.append({**head, **{k: v for k, v in res.items() if k not in ("coefs", "p_values")},
                     "coefs": res.get("coefs", {}), "p_values": res.get("p_values", {})})
    logit = rows
    sh = pd.DataFrame(shifts)
    by_model = []
    if len(sh):
        for (trait, strat, kind, col), g in sh.groupby(["persona_trait", "strategy", "kind", "measure"], sort=False):
            per = g[g["model"] != "all models"]
            pooled = g[g["model"] == "all models"] if (g["model"] == "all models").any() else per
            pr = pooled.iloc[0]
            dd = per["d"].dropna()
            by_model.append({"persona_trait": trait, "strategy": strat, "kind": kind, "measure": col,
                             "d_pooled": pr["d"], "d_pooled_ci_low": pr["d_ci_low"], "d_pooled_ci_high": pr["d_ci_high"],
                             "n_baseline": pr["n_baseline"], "n_persona": pr["n_persona"], "mde_d": pr["mde_d"],
                             "n_models": len(per),
                             "n_models_with_d": len(dd), "d_median": float(dd.median()) if len(dd) else math.nan,
                             "d_min": float(dd.min()) if len(dd) else math.nan,
                             "d_max": float(dd.max()) if len(dd) else math.nan,
                             "n_models_as_designed": int((per["as_designed"] == True).sum())})  # noqa: E712
    note = ("RQ3: Cohen's d = (persona - baseline) / pooled SD with a noncentral-t "
            f"{ci:.0%} CI (the interval that agrees with Student's t test), against the baseline rows of the same models only; the paired self-report and behaviour "
            "per trait come from data/stimuli/illusion/personas.yaml. Logistic regressions use the trait's persona "
            "rows (per strategy and over all strategies) and those models' baseline rows; under separation the "
            "L2-penalised fit is reported.")
    return {"shifts": sh, "by_model": pd.DataFrame(by_model), "logistic": pd.DataFrame(logit), "note": note}


def persona_checks(df, *, collapse: bool = True, ci: float = 0.95, personas: dict | None = None) -> pd.DataFrame:
    """Every persona condition's effect on its target self-report, per model, against that model's baseline
    rows. The designed direction is up when the persona's words describe the trait's high pole (all shipped
    personas: ``pole: high`` in personas.yaml). ``against_design`` marks a persona that moved its self-report
    the other way; ``clear`` whether the CI excludes 0."""
    d = _pd(df)
    pairs = paired_measures(personas)
    rows, pers_units, base_units = [], {}, {}
    pers = d[d["condition_type"] == "persona"]
    for (model, cond), g in pers.groupby(["model", "condition"], sort=True):
        trait = g["persona_trait"].iloc[0]
        col = pairs.get(trait, (None, None))[0]
        if col not in d:
            continue
        if col not in pers_units:  # units are formed within cells: once per column, then sliced per condition
            u = units(pers, [col], collapse)
            pers_units[col] = {k: v[col] for k, v in u.groupby(["model", "condition"], sort=False)}
            base = units(d[d["condition_type"] == "baseline"], [col], collapse)
            base_units[col] = {k: v[col] for k, v in base.groupby("model", sort=False)}
        empty = pd.Series([], dtype=float)
        cd = cohen_d(pers_units[col].get((model, cond), empty), base_units[col].get(model, empty), ci)
        shift = cd["mean1"] - cd["mean2"]
        sign = designed_sign(trait, personas)
        clear = cd["d_ci_low"] > 0 or cd["d_ci_high"] < 0
        rows.append({"model": model, "condition": cond, "persona_trait": trait, "self_report": col,
                     "mean_baseline": cd["mean2"], "mean_persona": cd["mean1"], "shift": shift, "d": cd["d"],
                     "d_ci_low": cd["d_ci_low"], "d_ci_high": cd["d_ci_high"], "n_persona": cd["n1"],
                     "n_baseline": cd["n2"], "mde_d": mde_two_sample_d(int(cd["n1"]), int(cd["n2"]), 1 - ci),
                     "designed_direction": sign,
                     "against_design": bool(shift * sign < 0) if shift == shift else None,
                     "clear": bool(clear) if cd["d"] == cd["d"] else None, "note": cd["note"]})
    return pd.DataFrame(rows)


# ---- design, summary, metrics -------------------------------------------------------------------------


def describe_design(df, spec: TableSpec | None = None) -> dict:
    """Counts of the table's design."""
    from analysis.studies.illusion.schema import describe_columns

    d = _role_frame(df)
    roles = d.groupby("model")["model_role"].first()
    cols = describe_columns(d, spec)
    return {"n_rows": len(d), "models": sorted(d["model"].unique()),
            "n_base_models": int((roles == "base").sum()), "n_instruct_models": int((roles == "instruct").sum()),
            "n_conditions": int(d["condition"].nunique()),
            "n_baseline_conditions": int(d.loc[d["condition_type"] == "baseline", "condition"].nunique()),
            "n_persona_conditions": int(d.loc[d["condition_type"] == "persona", "condition"].nunique()),
            "temperatures": sorted(float(t) for t in d["temperature"].unique()), "runs": int(d["run"].nunique()),
            "traits": cols["traits"], "behaviours": cols["behaviours"],
            "behaviours_not_analysed": cols["behaviours_not_analysed"], "ignored_columns": cols["ignored"]}


def _fmt_ci(d: float, lo: float, hi: float) -> str:
    if d != d:
        return "d undefined"
    return f"d = {d:+.2f} [{lo:+.2f}, {hi:+.2f}]" if lo == lo else f"d = {d:+.2f} (CI undefined)"


def summary_lines(design: dict, rq1: dict, rq2: dict, rq3: dict, checks: pd.DataFrame | None = None) -> list[str]:
    """The run's findings in a few sentences, computed from the tables (the report's opening summary)."""
    out = [f"Design: {design['n_rows']} rows, {len(design['models'])} model(s) ({design['n_base_models']} base, "
           f"{design['n_instruct_models']} instruct), {design['n_baseline_conditions']} baseline and "
           f"{design['n_persona_conditions']} persona conditions, temperatures {design['temperatures']}, "
           f"{design['runs']} run(s)."]
    if not rq1["tested"]:
        out.append(rq1["note"].split(". It needs")[0] + ".")
    else:
        p = rq1["pooled"]
        if len(p):
            r = p.sort_values("p_sd").iloc[0]
            out.append(f"RQ1: {len(p)} traits; SD ratio instruct/base from {p['sd_ratio_instruct_base'].min():.2f} to "
                       f"{p['sd_ratio_instruct_base'].max():.2f}; smallest p (Holm) for a difference in within-model "
                       f"SD = {r['p_sd_holm']:.3g} for {r['trait']} ({int(r['n_base_models_sd'])} base and "
                       f"{int(r['n_instruct_models_sd'])} instruct models with a within-model SD as units).")
    line = rq2_not_tested(rq2)
    if line:
        out.append(line)
    else:
        s = rq2["summary"]
        sec = s.get("secondary", {})
        mde = (f"; at a median n = {s['median_units']:.0f} units per test the smallest |r| detectable with 80% power "
               f"(two-sided, alpha {s['alpha']}) is {s['mde_r_median']:.2f}, so a null says nothing about smaller "
               "associations" if s["mde_r_median"] == s["mde_r_median"] else "")
        out.append(f"RQ2 (primary family: the paper's trait-behaviour pairs, {s['n_pairs']} here, 30 in the paper): "
                   f"{s['n_sig_raw']} of {s['n_tests']} slopes significant at p < {s['alpha']} "
                   f"({s['share_sig_raw']:.0%}; {s['n_sig_bh']} after Benjamini-Hochberg, {s['n_sig_holm']} after Holm "
                   f"within the family), {s['n_models']} model(s) entered{mde}; of the uncorrected-significant slopes "
                   "with a human expectation "
                   + (f"{s['share_expected_direction_raw']:.0%} point the expected way."
                      if s["n_sig_with_expectation_raw"] else "there are none, so no direction share.")
                   + " Published: about a quarter significant, about half of those in the expected direction.")
        if sec.get("n_pairs"):
            out.append(f"RQ2 secondary measures (further measures of the same tasks, corrected as their own family): "
                       f"{sec['n_sig_raw']} of {sec['n_tests']} slopes significant at p < {s['alpha']} "
                       f"({sec['n_sig_bh']} after Benjamini-Hochberg, {sec['n_sig_holm']} after Holm).")
    bm = rq3.get("by_model", pd.DataFrame())
    if len(bm):
        pick = bm[bm["strategy"] == "all strategies"] if (bm["strategy"] == "all strategies").any() else bm
        for _, r in pick.iterrows():
            rng = (f"; per model median {r['d_median']:+.2f}, range {r['d_min']:+.2f} to {r['d_max']:+.2f} over "
                   f"{r['n_models_with_d']} models" if r["n_models"] > 1 else "")
            mde = (f", smallest d detectable with 80% power (two-sided) {r['mde_d']:.2f}"
                   if r.get("mde_d", math.nan) == r.get("mde_d", math.nan) else "")
            out.append(f"RQ3 {r['persona_trait']} ({r['strategy']}): {r['measure']} "
                       f"{_fmt_ci(r['d_pooled'], r['d_pooled_ci_low'], r['d_pooled_ci_high'])}, n = "
                       f"{int(r['n_persona'])} persona vs {int(r['n_baseline'])} baseline units{mde}{rng}.")
    elif rq3.get("note"):
        out.append(rq3["note"])
    if checks is not None and len(checks):
        bad = checks[checks["against_design"] == True]  # noqa: E712
        if len(bad):
            out.append(f"Caveat: {len(bad)} of {len(checks)} persona conditions moved their target self-report "
                       f"against the designed direction ({', '.join(bad['condition'].head(4))}"
                       f"{'...' if len(bad) > 4 else ''}); see the persona check.")
    return out


def headline(design: dict, rq1: dict, rq2: dict, rq3: dict, checks: pd.DataFrame | None = None) -> dict:
    """The DVC metrics of Study 1: RQ1 variance ratios and tests (pooled and per pair), RQ2 share of slopes
    significant and sign agreement, RQ3 self-report vs behaviour d per trait (pooled and per model)."""
    m: dict = {"design": {"n_rows": design["n_rows"], "n_models": len(design["models"]),
                          "n_base_models": design["n_base_models"], "n_instruct_models": design["n_instruct_models"]}}
    r1: dict = {"tested": rq1["tested"]}
    if rq1["tested"]:
        r1["pooled"] = {r["trait"]: {"sd_ratio": r["sd_ratio_instruct_base"], "p_sd": r["p_sd"],
                                     "p_sd_holm": r.get("p_sd_holm"),
                                     "d": r["d_instruct_minus_base"], "p_student": r["p_student"],
                                     "p_welch": r["p_welch"],
                                     "n_base_models": r["n_base_models"],
                                     "n_instruct_models": r["n_instruct_models"]}
                        for _, r in rq1["pooled"].iterrows()}
        r1["pairs"] = {}
        for _, r in rq1["variability"].iterrows():
            key = f"{metric_key(r['base'])}__{metric_key(r['instruct'])}"
            r1["pairs"].setdefault(key, {})[r["trait"]] = {"sd_ratio": r["sd_ratio_instruct_base"], "p": r["p"],
                                                           "p_holm": r.get("p_holm")}
    m["rq1"] = r1
    s = rq2["summary"]
    keys = ("n_tests", "n_pairs", "n_sig_raw", "n_sig_bh", "n_sig_holm", "share_sig_raw", "share_sig_bh", "share_sig_holm",
            "share_expected_direction_raw", "share_expected_direction_bh", "share_expected_direction_holm",
            "median_units", "mde_r_median")
    m["rq2"] = {k: s[k] for k in keys} | {"n_models": s["n_models"],
                                          "secondary": {k: s["secondary"][k] for k in keys}}
    r3: dict = {}
    sh = rq3.get("shifts", pd.DataFrame())
    for _, r in sh.iterrows():
        node = r3.setdefault(metric_key(r["model"]) if r["model"] != "all models" else "all_models", {})
        node.setdefault(f"{r['persona_trait']}__{metric_key(str(r['strategy'])).replace(' ', '_')}", {})[
            f"{r['kind']}__{r['measure']}"] = {"d": r["d"], "ci_low": r["d_ci_low"], "ci_high": r["d_ci_high"],
                                               "shift": r["shift"], "n_persona": r["n_persona"], "mde_d": r["mde_d"],
                                               "n_baseline": r["n_baseline"]}
    for _, r in rq3.get("by_model", pd.DataFrame()).iterrows():
        if r["n_models"] > 1:
            r3.setdefault("across_models", {}).setdefault(
                f"{r['persona_trait']}__{str(r['strategy']).replace(' ', '_')}", {})[f"{r['kind']}__{r['measure']}"] = {
                "d_median": r["d_median"], "d_min": r["d_min"], "d_max": r["d_max"], "n_models": r["n_models"]}
    m["rq3"] = r3
    if checks is not None and len(checks):
        m["persona_checks"] = {"n": len(checks), "n_against_design": int((checks["against_design"] == True).sum())}  # noqa: E712
    return m
