"""Every number a computed summary prints equals the value in the table or metrics it came from (within the
rounding it is printed with), and every effect printed carries its CI and n.

Checked on the committed reference run here (``data/processed/{bigfive,illusion,sycophancy,therapy}/summary.md``,
the Han et al. re-analysis ``data/reanalysis/illusion/han2025/summary.md`` and
``data/results/synthesis_summary.md`` against the CSV tables and ``metrics/*.json`` beside them; and every study
box of ``reports/index.html`` against its summary's first paragraph, number for number) and on a tiny fresh run
in ``tests/pipeline/test_pipeline.py`` (:func:`check_all`, the illusion, sycophancy and synthesis checks, on its
temporary copy). The
numbers are parsed out of the text with the patterns the summaries are written in; a summary line that a
pattern no longer finds fails the test (so a changed wording has to be checked again, not skipped)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import polars as pl
import pytest

from analysis.core.paths import ROOT

NUM = r"[+-]?\d+(?:\.\d+)?"
EFFECT = re.compile(rf"\b(?:d|r|g|g_av|cohens_d|hedges_g|hedges_g_av|Pearson r)(?: \(high - low\))? = ({NUM})")
NUMS = re.compile(r"(?<![\w.])[+-]?\d+(?:,\d{3})*(?:\.\d+)?(?:e[+-]?\d+)?")


def close(printed: str, value, what: str) -> None:
    """``printed`` (a number as the summary shows it) is ``value`` rounded to the printed decimals."""
    assert value is not None and not (isinstance(value, float) and math.isnan(value)), f"{what}: source is missing"
    dec = len(printed.split(".")[1]) if "." in printed else 0
    assert abs(float(printed) - float(value)) <= 0.5 * 10 ** -dec + 1e-9, f"{what}: printed {printed}, source {value}"


def effects_have_ci_and_n(text: str, where: str) -> None:
    """Every effect printed (d, r, g = number) has a CI right after it and an n in the same clause."""
    for line in text.splitlines():
        for clause in re.split(r";\s", line):
            for m in EFFECT.finditer(clause):
                after = clause[m.end():m.end() + 40]
                assert re.match(rf"\s*(\[{NUM}, {NUM}\]|\(95% CI {NUM} to {NUM}\)|\(CI undefined\)|CI undefined)", after), \
                    f"{where}: effect without a CI: {clause[m.start():m.end() + 40]!r}"
                assert re.search(r"\bn = \d+", clause), f"{where}: effect without its n: {clause!r}"


def _csv(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, infer_schema_length=None)
    # a column with no value at all (say every p of a tiny run undefined) is read as text: it is a number column
    empty = [c for c, t in df.schema.items() if t == pl.String and df[c].null_count() == df.height]
    return df.with_columns(pl.col(empty).cast(pl.Float64)) if empty else df


# ---- Study 1 -------------------------------------------------------------------------------------------


def check_illusion(root: Path, proc_rel: str = "data/processed/illusion",
                   metrics_rel: str | None = "metrics/illusion.json") -> int:
    """Study 1's summary; with ``proc_rel`` another folder Study 1's analysis wrote (the Han et al. re-analysis,
    which has no metrics file: ``metrics_rel=None``)."""
    proc = root / proc_rel
    text = (proc / "summary.md").read_text(encoding="utf-8")
    effects_have_ci_and_n(text, f"{proc_rel} summary")
    bm = _csv(proc / "rq3_by_model.csv")
    metrics = json.loads((root / metrics_rel).read_text()) if metrics_rel else None
    checked = 0
    for m in re.finditer(rf"RQ3 (\w+) \(([^)]+)\): (\w+) d = ({NUM}) \[({NUM}), ({NUM})\], n = (\d+) persona vs "
                         r"(\d+) baseline units(?:, smallest d detectable with 80% power \(two-sided\) (\d+\.\d+))?",
                         text):
        trait, strat, measure = m.group(1), m.group(2), m.group(3)
        row = bm.filter((pl.col("persona_trait") == trait) & (pl.col("strategy") == strat)
                        & (pl.col("measure") == measure)).row(0, named=True)
        for k, col in ((4, "d_pooled"), (5, "d_pooled_ci_low"), (6, "d_pooled_ci_high")):
            close(m.group(k), row[col], f"illusion RQ3 {trait} {measure} {col}")
        assert int(m.group(7)) == row["n_persona"] and int(m.group(8)) == row["n_baseline"]
        if m.group(9):
            close(m.group(9), row["mde_d"], f"illusion RQ3 {trait} {measure} mde_d")
        checked += 1
    with_ci = [x for x in text.splitlines() if x.startswith("- RQ3 ") and re.search(rf"d = {NUM} \[", x)]
    assert checked == len(with_ci), f"illusion summary: {checked} of {len(with_ci)} RQ3 lines matched their rows"
    # the opening sentence (also the report index's line): each persona's two d with CI and n
    for m in re.finditer(rf"(\w+) persona: self-report d = ({NUM}) \[({NUM}), ({NUM})\], n = (\d+) vs (\d+), "
                         rf"behaviour d = ({NUM}) \[({NUM}), ({NUM})\], n = (\d+) vs (\d+)", text.splitlines()[0]):
        g = bm.filter(pl.col("persona_trait") == m.group(1))
        if (g["strategy"] == "all strategies").any():
            g = g.filter(pl.col("strategy") == "all strategies")
        for kind, off in (("self_report", 2), ("behaviour", 7)):
            row = g.filter(pl.col("kind") == kind).row(0, named=True)
            for k, col in enumerate(("d_pooled", "d_pooled_ci_low", "d_pooled_ci_high")):
                close(m.group(off + k), row[col], f"illusion headline {m.group(1)} {kind} {col}")
            assert (int(m.group(off + 3)), int(m.group(off + 4))) == (row["n_persona"], row["n_baseline"])
        checked += 1
    # RQ2: the counts of each family from rq2_tests.csv and the metrics
    tests = _csv(proc / "rq2_tests.csv")
    for fam, pattern in (("primary", r"RQ2 \(primary family[^)]*\): (\d+) of (\d+) slopes significant at p < "
                                     r"([\d.]+) \((\d+)%; (\d+) after Benjamini-Hochberg, (\d+) after Holm"),
                         ("secondary", r"RQ2 secondary measures[^:]*: (\d+) of (\d+) slopes significant at p < "
                                       r"([\d.]+) \((\d+) after Benjamini-Hochberg, (\d+) after Holm")):
        t = tests.filter((pl.col("family") == fam) & pl.col("p").is_not_null() & pl.col("p").is_not_nan())
        m = re.search(pattern, text)
        if t.height == 0:  # nothing tested in this family: the summary says why (rq2_not_tested) or omits it
            assert m is None or int(m.group(2)) == 0
            continue
        assert m, f"illusion summary: no RQ2 {fam} line"
        alpha = float(m.group(3))
        n_sig = int((t["p"] < alpha).sum())
        bh, holm = (int((t[c] < alpha).sum()) for c in ("p_bh", "p_holm"))
        assert (int(m.group(1)), int(m.group(2))) == (n_sig, t.height), f"illusion RQ2 {fam} counts"
        got = [int(x) for x in m.groups()[-2:]]
        assert got == [bh, holm], f"illusion RQ2 {fam}: printed {got} after BH/Holm, table {[bh, holm]}"
        if metrics is not None:
            node = metrics["rq2"] if fam == "primary" else metrics["rq2"]["secondary"]
            assert node["n_tests"] == t.height and node["n_sig_raw"] == n_sig
        if fam == "primary":
            close(m.group(4), 100 * n_sig / t.height, "illusion RQ2 share")
        checked += 1
    if m := re.search(r"at a median n = (\d+) units per test the smallest \|r\| detectable with 80% power "
                      rf"\(two-sided, alpha [\d.]+\) is ({NUM})", text):
        t = tests.filter((pl.col("family") == "primary") & pl.col("p").is_not_null() & pl.col("p").is_not_nan())
        close(m.group(1), t["n"].median(), "illusion RQ2 median n")
        close(m.group(2), t["mde_r"].median(), "illusion RQ2 median detectable r")
    return checked


# ---- Study 2 -------------------------------------------------------------------------------------------


def check_sycophancy(root: Path) -> int:
    proc = root / "data/processed/sycophancy"
    text = (proc / "summary.md").read_text(encoding="utf-8")
    effects_have_ci_and_n(text, "sycophancy summary")
    tests, rates, dec = _csv(proc / "tests.csv"), _csv(proc / "rates.csv"), _csv(proc / "decision.csv")
    metrics = json.loads((root / "metrics/sycophancy.json").read_text())["models"]
    checked = 0
    for line in text.splitlines():
        if not (m := re.match(r"- `([^`]+)`: n = (\d+) personas with both scores", line)):
            continue
        model = m.group(1)
        t = tests.filter(pl.col("model") == model)
        rr = rates.filter(pl.col("model") == model).row(0, named=True)
        assert int(m.group(2)) == rr["n_personas_analysed"]
        if r := re.search(rf"Pearson r = ({NUM}) \[({NUM}), ({NUM})\] \(n = (\d+)\), one-sided p = ([\d.e+-]+)", line):
            row = t.filter(pl.col("test") == "pearson_r").row(0, named=True)
            for k, col in ((1, "estimate"), (2, "ci_low"), (3, "ci_high")):
                close(r.group(k), row[col], f"sycophancy {model} r {col}")
            assert int(r.group(4)) == row["n"]
            assert float(r.group(5)) == pytest.approx(row["p"], rel=5e-3)
            # metrics key each model by its position (model_1, ...) with its name in the `model` field
            node = next(v for v in metrics.values() if v.get("model") == model)
            close(r.group(1), node["pearson_r"]["estimate"], "sycophancy metrics r")
            if mm := re.search(rf"smallest r detectable with 80% power: ({NUM})", line):
                close(mm.group(1), row["mde"], f"sycophancy {model} mde r")
        if d := re.search(rf"Cohen's d \(high - low\) = ({NUM}) \[({NUM}), ({NUM})\] \(n = (\d+) vs (\d+)\)", line):
            row = t.filter(pl.col("test") == "cohens_d").row(0, named=True)
            for k, col in ((1, "estimate"), (2, "ci_low"), (3, "ci_high")):
                close(d.group(k), row[col], f"sycophancy {model} d {col}")
            assert (int(d.group(4)), int(d.group(5))) == (row["n1"], row["n2"])
        k = re.search(r"(\d+) of 6 rule tests significant \(([^;)]*)", line)
        assert k, f"sycophancy {model}: no rule line"
        drow = dec.filter(pl.col("model") == model).row(0, named=True)
        assert int(k.group(1)) == drow["n_significant"]
        if dec.height == 1:  # one model: nothing is corrected, and the summary must not say it was
            assert "no correction" in k.group(2) and "after" not in k.group(2), line
        if a := re.search(rf"plain-assistant agreement ({NUM})", line):
            close(a.group(1), rr["baseline_rate"], f"sycophancy {model} baseline rate")
        if tt := re.search(rf"mean TTG ({NUM}) \[({NUM}), ({NUM})\] \(n = (\d+) personas\)", line):
            ts = _csv(proc / "ttg_summary.csv").filter(pl.col("model") == model).row(0, named=True)
            assert int(tt.group(4)) == ts["n"]
            for j, col in ((1, "mean_ttg"), (2, "ci_low"), (3, "ci_high")):
                close(tt.group(j), ts[col], f"sycophancy {model} TTG {col}")
        checked += 1
    assert checked == rates.height, f"sycophancy summary: {checked} model lines for {rates.height} models"
    return checked


# ---- synthesis -----------------------------------------------------------------------------------------


def check_synthesis(root: Path) -> int:
    res = root / "data/results"
    text = (res / "synthesis_summary.md").read_text(encoding="utf-8")
    effects_have_ci_and_n(text, "synthesis summary")
    pairs = _csv(res / "self_report_vs_behaviour.csv").with_columns(pl.col(pl.Float64).fill_nan(None))
    if not pairs.height:
        assert "has no self-report / behaviour pair" in text
        return 0
    plotted = pairs.filter(pl.col("self_report_shift").is_not_null() & pl.col("behaviour_shift").is_not_null())
    m = re.search(r"(\d+) self-report / behaviour pairs from (\d+) studies and (\d+) model\(s\); (\d+) have both "
                  r"shifts estimated and are plotted, (\d+) are listed only", text)
    assert m, "synthesis summary: the count line does not say how many pairs are plotted"
    assert [int(x) for x in m.groups()] == [pairs.height, pairs["study"].n_unique(), pairs["model"].n_unique(),
                                            plotted.height, pairs.height - plotted.height]
    checked = 0
    for study in pairs["study"].unique().to_list():
        sub = pairs.filter(pl.col("study") == study)
        manips = "; ".join(sorted(set(sub["manipulation"].to_list())))
        assert f"* {study} ({manips}): {sub.height} pair(s), " in text, f"synthesis: {study} line or its label"
        for r in sub.iter_rows(named=True):
            for kind in ("self_report", "behaviour"):
                x = r[f"{kind}_shift"]
                if x is None:
                    continue
                mm = re.search(rf"{re.escape(r['contrast'])}: .*?{re.escape(r[f'{kind}_measure'])} "
                               rf"{re.escape(r[f'{kind}_effect'])} = ({NUM}) \[({NUM}), ({NUM})\], n = (\d+) vs (\d+)",
                               text)
                assert mm, f"synthesis: {study} {r['contrast']} {kind} not printed with CI and n"
                for k, col in ((1, "shift"), (2, "ci_low"), (3, "ci_high")):
                    close(mm.group(k), r[f"{kind}_{col}"], f"synthesis {study} {kind} {col}")
                assert (int(mm.group(4)), int(mm.group(5))) == (r[f"{kind}_n_a"], r[f"{kind}_n_b"])
                checked += 1
    return checked


# ---- Big Five (foundation) -----------------------------------------------------------------------------


def check_bigfive(root: Path) -> int:
    proc = root / "data/processed/bigfive"
    text = (proc / "summary.md").read_text(encoding="utf-8")
    effects_have_ci_and_n(text, "bigfive summary")
    pe = _csv(proc / "persona_effects.csv").with_columns(pl.col(pl.Float64).fill_nan(None))
    rel = _csv(proc / "reliability.csv").with_columns(pl.col(pl.Float64).fill_nan(None))
    metrics = json.loads((root / "metrics/bigfive.json").read_text())
    checked = 0
    m = re.search(r"(\d+) of (\d+) pole personas moved their target domain in the intended direction; (\d+) of "
                  r"(\d+) shifts are significant after Holm correction \(two-sided, alpha = ([\d.]+)\)", text)
    assert m, "bigfive summary: no persona-effects count line"
    alpha = float(m.group(5))
    tested = pe.filter(pl.col("p_holm").is_not_null())
    n_sig = int((tested["p_holm"] < alpha).sum())
    assert [int(x) for x in m.groups()[:4]] == [int(pe["direction_ok"].sum()), pe.height, n_sig, tested.height], \
        f"bigfive: printed counts {m.groups()[:4]}"
    checked += 1
    if m := re.search(rf"Largest: (\w+) on (\w+), shift ({NUM}) scale points, g = ({NUM}) \[({NUM}), ({NUM})\], "
                      r"n = (\d+) items", text):
        rows = pe.filter((pl.col("persona") == m.group(1)) & (pl.col("target_domain") == m.group(2)))
        assert rows.height == 1, f"bigfive: the largest shift {m.group(1)} has {rows.height} rows"
        row = rows.row(0, named=True)
        for k, col in ((3, "shift"), (4, "g"), (5, "g_ci_low"), (6, "g_ci_high")):
            close(m.group(k), row[col], f"bigfive largest {m.group(1)} {col}")
        assert int(m.group(7)) == row["n_items"]
        # the largest is the largest |g| among the significant shifts (or all, when none is)
        sig = tested.filter(pl.col("p_holm") < alpha)
        pool = sig if sig.height else pe.filter(pl.col("g").is_not_null())
        assert abs(row["g"]) == pool["g"].abs().max(), f"bigfive: {m.group(1)} is not the largest |g|"
        # metrics key the models by position (model_1, ...) with the name in `model`
        node = next(v for v in metrics.values() if isinstance(v, dict) and v.get("model") == row["model"])
        pm = node["persona_effects"][m.group(1)]
        for k, col in ((3, "shift"), (4, "g"), (5, "g_ci_low"), (6, "g_ci_high")):
            close(m.group(k), pm[col], f"bigfive metrics {m.group(1)} {col}")
        checked += 1
    if m := re.search(r"This run:\*\* (\d+) model\(s\), (\d+) persona conditions", text):
        assert int(m.group(1)) == pe["model"].n_unique()
        assert int(m.group(2)) == pe["persona"].n_unique() + 1, "bigfive: persona conditions (+ no persona)"
        checked += 1
    if m := re.search(r"(\d+) items; (\d+) of (\d+) answers without a valid response", text):
        sc = pl.read_parquet(proc / "scores.parquet").filter(pl.col("scale").is_in(["O", "C", "E", "A", "N"]))
        per = sc.group_by("model", "persona", "variant", "sample").agg(pl.col("n_items").sum(),
                                                                       pl.col("n_answered").sum())
        assert int(m.group(1)) == per["n_items"].max(), f"bigfive: {m.group(1)} items, scores {per['n_items'].max()}"
        assert int(m.group(3)) == per["n_items"].sum(), f"bigfive: {m.group(3)} answers, scores {per['n_items'].sum()}"
        assert int(m.group(2)) == per["n_items"].sum() - per["n_answered"].sum(), "bigfive: answers without a value"
        checked += 1
    if m := re.search(r"(\d+) of (\d+) shifts are not significant after Holm; with n = (\d+) items a paired t test "
                      rf"detects d_z >= ({NUM}) at 80% power \(two-sided, alpha = [\d.]+\), d_z >= ({NUM}) at the "
                      r"strictest Holm step \(observed d_z of these shifts: ([^)]*)\)", text):
        ns = tested.filter(pl.col("p_holm") >= alpha)
        assert (int(m.group(1)), int(m.group(2))) == (ns.height, tested.height)
        assert int(m.group(3)) == ns["n_items"].unique().item()
        close(m.group(4), ns["mde_dz"].unique().item(), "bigfive mde_dz")
        close(m.group(5), ns["mde_dz_holm"].unique().item(), "bigfive mde_dz_holm")
        listed = dict(x.rsplit(" ", 1) for x in m.group(6).split(", "))
        assert sorted(listed) == sorted(ns["persona"].to_list()), f"bigfive: non-significant list {sorted(listed)}"
        for r in ns.iter_rows(named=True):
            close(listed[r["persona"]], r["dz"], f"bigfive {r['persona']} dz")
        checked += 1
    if m := re.search(rf"alpha ranges ({NUM}) to ({NUM}) across (\d+) domain\(s\) \(n = (\d+) simulated", text):
        a = rel.filter(pl.col("alpha").is_not_null())
        close(m.group(1), a["alpha"].min(), "bigfive alpha min")
        close(m.group(2), a["alpha"].max(), "bigfive alpha max")
        assert int(m.group(3)) == a.height, f"bigfive: {m.group(3)} domains with alpha, table {a.height}"
        assert int(m.group(4)) == a["n_participants"].max()
        for dom, model in re.findall(r"(\w+) \(([^)]+)\) has no reliability", text):
            assert rel.filter((pl.col("domain") == dom) & pl.col("model").str.ends_with(model))["alpha"].is_null().all()
        checked += 1
    return checked


# ---- Study 3 -------------------------------------------------------------------------------------------


def check_therapy(root: Path) -> int:
    proc = root / "data/processed/therapy"
    text = (proc / "summary.md").read_text(encoding="utf-8")
    effects_have_ci_and_n(text, "therapy summary")
    fl = pl.col(pl.Float64).fill_nan(None)
    stance, mode = _csv(proc / "stance_effects.csv").with_columns(fl), _csv(proc / "mode_effects.csv").with_columns(fl)
    scores = _csv(proc / "score_summary.csv").with_columns(fl)
    cut = _csv(proc / "cutoff_shares.csv").with_columns(fl)
    mixed = _csv(proc / "mixed_models.csv").with_columns(fl)
    checked = 0

    def contrast(row: dict, rest: str, what: str) -> None:
        if g := re.match(rf"Hedges' g = ({NUM}) \(95% CI ({NUM}) to ({NUM})\), ", rest):
            for k, col in ((1, "g"), (2, "ci_low"), (3, "ci_high")):
                close(g.group(k), row[col], f"{what} {col}")
            rest = rest[g.end():]
        else:
            assert row["g"] is None, f"{what}: g {row['g']} in the table, not printed"
        mm = re.match(rf"mean difference ({NUM}), n = (\d+) paired sessions", rest)
        assert mm, f"{what}: no mean difference and n"
        close(mm.group(1), row["mean_diff"], f"{what} mean_diff")
        assert int(mm.group(2)) == row["n"]
        if p := re.search(r"\bp = (\d+(?:\.\d+)?(?:e-?\d+)?)", rest):
            close(p.group(1), row["p"], f"{what} p")
        if d := re.search(rf"detects d_z >= ({NUM}) with 80% power", rest):
            close(d.group(1), row["mde_dz"], f"{what} mde_dz")
        if d := re.search(rf"a mean difference of about ({NUM}) at the observed SD", rest):
            close(d.group(1), row["mde_mean_diff"], f"{what} mde_mean_diff")
        if d := re.search(rf"observed d_z = ({NUM})", rest):
            close(d.group(1), row["dz"], f"{what} dz")

    lines = [x for x in text.splitlines() if x.startswith("- ")]
    model = None

    def full(t: pl.DataFrame) -> pl.DataFrame:
        """The rows of the model whose block is being read (the summary names it by its short name)."""
        return t.filter(pl.col("model").str.split(":").list.last() == model)

    for line in text.splitlines():
        if mm := re.fullmatch(r"\*\*(.+?)\*\*(?: \(in stage 1, .*\))?", line.strip()):  # the model, its roles
            model = mm.group(1)
        if not line.startswith("- "):
            continue
        if m := re.match(r"- (\w+), warm minus neutral stance \(([^)]+)\): (.*)", line):
            row = full(stance).filter((pl.col("instrument") == m.group(1)) & (pl.col("condition") == m.group(2))
                                      & (pl.col("a") == "warm")).row(0, named=True)
            contrast(row, m.group(3), f"therapy {model} {m.group(1)} stance {m.group(2)}")
            checked += 1
        elif m := re.match(r"- (\w+), (\S+) minus (\S+)(?: \((\w+) stance\))?: (.*)", line):
            t = full(mode).filter((pl.col("instrument") == m.group(1)) & (pl.col("a") == m.group(2))
                                  & (pl.col("b") == m.group(3)))
            t = t.filter(pl.col("stance") == (m.group(4) or "neutral"))
            contrast(t.row(0, named=True), m.group(5), f"therapy {model} {m.group(1)} {m.group(2)}-{m.group(3)}")
            checked += 1
        elif m := re.match(r"- (\w+) \((\w+) stance, mean score\): (.*)", line):
            cond = None
            for part in m.group(3).split("; "):
                if pp := re.match(r"P\(total >= cut-off\) (.*)", part):  # the condition before it, from cutoff_shares
                    t = full(cut).filter((pl.col("instrument") == m.group(1)) & (pl.col("condition") == cond)
                                         & (pl.col("stance") == m.group(2)))
                    for band, val in re.findall(rf"(\w+) ({NUM})", pp.group(1)):
                        close(val, t.filter(pl.col("cutoff_band") == band)["share"].item(),
                              f"therapy {model} {cond} {m.group(2)} {band} (score line)")
                    checked += 1
                    continue
                if not (s := re.match(rf"(\S+): ({NUM}) of (\d+), .*\bn = (\d+)", part)):
                    continue
                cond = s.group(1)
                row = full(scores).filter((pl.col("instrument") == m.group(1)) & (pl.col("stance") == m.group(2))
                                          & (pl.col("condition") == s.group(1))).row(0, named=True)
                close(s.group(2), row["mean"], f"therapy {model} {s.group(1)} {m.group(2)} mean")
                close(s.group(3), row["max_score"], f"therapy {model} {s.group(1)} max score")
                assert int(s.group(4)) == row["n_units"], f"therapy {model} {s.group(1)} {m.group(2)} n"
                if ci := re.search(rf"\[({NUM}), ({NUM})\]", part):
                    close(ci.group(1), row["ci_low"], "therapy score ci_low")
                    close(ci.group(2), row["ci_high"], "therapy score ci_high")
                checked += 1
        elif m := re.match(r"- (\w+), reaching each human cut-off \([^)]*\): (.*)", line):
            for part in re.split(r"\); ", m.group(2)):
                s = re.match(r"(\S+), (\w+): (?:P\(total >= cut-off\)|share of units at or above) (.*) \(n = (\d+) "
                             r"distinct context", part)
                assert s, f"therapy cut-off part not parsed: {part!r}"
                t = full(cut).filter((pl.col("instrument") == m.group(1)) & (pl.col("condition") == s.group(1))
                                     & (pl.col("stance") == s.group(2)))
                for band, val in re.findall(rf"(\w+) ({NUM})", s.group(3)):
                    row = t.filter(pl.col("cutoff_band") == band).row(0, named=True)
                    close(val, row["share"], f"therapy {model} {s.group(1)} {s.group(2)} {band}")
                    # the contexts scored (a context with an invalid item answer has no total)
                    assert int(s.group(4)) == row["n_scored"]
                checked += 1
        elif m := re.match(r"- (\w+), mixed model over [^(]*\((.*)\) \(n = (\d+) sessions, (\d+) scores; ", line):
            t = mixed.filter((pl.col("instrument") == m.group(1)) & (pl.col("formula") == m.group(2)))
            assert t.height, f"therapy {model} {m.group(1)}: no mixed model with formula {m.group(2)!r}"
            assert (int(m.group(3)), int(m.group(4))) == (t["n_sessions"][0], t["n_obs"][0])
            for r in t.filter(pl.col("term") != "Intercept").iter_rows(named=True):
                parts = [re.fullmatch(r"C\((\w+), Treatment\('([^']+)'\)\)\[T\.([^\]]+)\]", x)
                         for x in re.split(r"(?<=\]):", r["term"])]
                label = " x ".join(f"{x.group(3)} vs {x.group(2)}" for x in parts)
                label += " (interaction)" if len(parts) > 1 else ""
                c = re.search(rf"(?:: |; ){re.escape(label)} ({NUM}) \(95% CI (\S+) to (\S+), p = ([^;)]+)", line)
                assert c, f"therapy {model} {m.group(1)}: mixed-model term {label!r} not printed"
                close(c.group(1), r["coef"], f"therapy mixed {label} coef")
                for k, col in ((2, "ci_low"), (3, "ci_high"), (4, "p")):
                    if c.group(k) == "n/a":
                        assert r[col] is None, f"therapy mixed {label} {col}: n/a printed, table {r[col]}"
                    else:
                        close(c.group(k), r[col], f"therapy mixed {label} {col}")
                if d := re.search(rf"{re.escape(label)} {NUM} \([^)]*detectable at 80% power: \|coef\| >= ({NUM})",
                                  line):
                    close(d.group(1), r["mde_coef"], f"therapy mixed {label} mde")
                checked += 1
    assert lines and checked, "therapy summary: no contrast, score or cut-off line parsed"
    # the opening paragraph: each model's contrasts again, prefixed by the model's short name
    first = text.strip().split("\n\n")[0].removeprefix("**Finding.** ")
    n_head = 0
    for sentence in re.split(r"(?<=[\d)])\. (?=[A-Z]|[\w.-]+, \w+, )", first):
        if m := re.match(r"([\w.-]+), (\w+), warm minus neutral stance \(([^)]+)\): (.*)", sentence):
            row = stance.filter((pl.col("model").str.split(":").list.last() == m.group(1))
                                & (pl.col("instrument") == m.group(2)) & (pl.col("condition") == m.group(3))
                                & (pl.col("a") == "warm")).row(0, named=True)
            contrast(row, m.group(4), f"therapy headline {m.group(1)} stance {m.group(3)}")
        elif m := re.match(r"([\w.-]+), (\w+), (\S+) minus (\S+) \((\w+) stance\): (.*)", sentence):
            row = mode.filter((pl.col("model").str.split(":").list.last() == m.group(1))
                              & (pl.col("instrument") == m.group(2)) & (pl.col("a") == m.group(3))
                              & (pl.col("b") == m.group(4)) & (pl.col("stance") == m.group(5))).row(0, named=True)
            contrast(row, m.group(6), f"therapy headline {m.group(1)} {m.group(3)}-{m.group(4)}")
        elif sentence.startswith("Roles: "):  # each model: turns answered as the therapist / as an assistant
            roles = _csv(proc / "roles.csv")
            for part in sentence.removeprefix("Roles: ").rstrip(".").split("; "):
                r = re.fullmatch(r"([\w.-]+): the client answered as the therapist in (\d+) of (\d+) session turns "
                                 r"and as a helpful assistant in (\d+)", part)
                assert r, f"therapy headline: roles part not parsed: {part!r}"
                row = roles.filter(pl.col("model").str.split(":").list.last() == r.group(1)).row(0, named=True)
                assert (int(r.group(2)), int(r.group(3)), int(r.group(4))) == (
                    row["as_therapist"], row["n_turns"], row["as_assistant"]), f"therapy headline roles {part!r}"
            continue
        else:
            assert not NUMS.search(sentence), f"therapy headline: a sentence with numbers not checked: {sentence!r}"
            continue
        n_head += 1
    assert n_head, "therapy headline: no contrast parsed"
    return checked


# ---- Study 1: the Han et al. (2025) re-analysis -------------------------------------------------------


HAN = "data/reanalysis/illusion/han2025"


def check_han(root: Path) -> int:
    proc = root / HAN
    text = (proc / "summary.md").read_text(encoding="utf-8")
    checked = check_illusion(root, HAN, None)  # the RQ2 and RQ3 lines are Study 1's
    bm, tests = _csv(proc / "rq3_by_model.csv"), _csv(proc / "rq2_tests.csv")
    pooled = _csv(proc / "rq1_pooled.csv")
    head = text.strip().split("\n\n")[0]
    found = 0
    for m in re.finditer(rf"RQ3 ([\w-]+) persona \(([^)]+)\), (self-report|behaviour) (\w+): d = ({NUM}) \[({NUM}), "
                         rf"({NUM})\] \(95% CI\), n = (\d+) persona vs (\d+) baseline units", head):
        row = bm.filter((pl.col("persona_trait") == m.group(1).replace("-", "_")) & (pl.col("strategy") == m.group(2))
                        & (pl.col("measure") == m.group(4))).row(0, named=True)
        for k, col in ((5, "d_pooled"), (6, "d_pooled_ci_low"), (7, "d_pooled_ci_high")):
            close(m.group(k), row[col], f"han headline {m.group(4)} {col}")
        assert (int(m.group(8)), int(m.group(9))) == (row["n_persona"], row["n_baseline"])
        found += 1
    assert found == len(re.findall(r"RQ3 ", head)), f"han headline: {found} RQ3 parts matched their rows"
    prim = tests.filter((pl.col("family") == "primary") & pl.col("p").is_not_null() & pl.col("p").is_not_nan())
    m = re.search(r"RQ2: (\d+) of (\d+) trait-behaviour slopes significant at p < ([\d.]+) \(two-sided; (\d+) after "
                  r"Benjamini-Hochberg, (\d+) after Holm; .*?(\d+) instruct models, up to (\d+) ", head)
    assert m, "han headline: no RQ2 part"
    alpha = float(m.group(3))
    assert [int(m.group(k)) for k in (1, 2, 4, 5, 6, 7)] == [
        int((prim["p"] < alpha).sum()), prim.height, int((prim["p_bh"] < alpha).sum()),
        int((prim["p_holm"] < alpha).sum()), int(prim["n_models"].max()), int(prim["n"].max())], "han headline RQ2"
    for m in re.finditer(rf"SD ratio instruct/base from ({NUM}) to ({NUM})|within-model SD instruct/base from "
                         rf"({NUM}) to ({NUM}) over the (\d+) traits", text):
        lo, hi = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        close(lo, pooled["sd_ratio_instruct_base"].min(), "han RQ1 SD ratio min")
        close(hi, pooled["sd_ratio_instruct_base"].max(), "han RQ1 SD ratio max")
        if m.group(5):
            assert int(m.group(5)) == pooled.height
        checked += 1
    for m in re.finditer(r"smallest (?:Holm-adjusted p for a difference in SD|p \(Holm\) for a difference in "
                         r"within-model SD) = (\d+(?:\.\d+)?(?:e-?\d+)?)(?: for (\w+))?", text):
        best = pooled.sort("p_sd_holm").row(0, named=True)
        assert float(m.group(1)) == pytest.approx(best["p_sd_holm"], rel=5e-3), f"han RQ1 p {m.group(1)}"
        if m.group(2):
            assert m.group(2) == best["trait"]
        checked += 1
    return checked + found


# ---- the report index: each study box shows its summary's first paragraph -----------------------------


def _summary_for(root: Path, href: str) -> Path:
    study, page = href.split("/", 1)
    if study == "synthesis":
        return root / "data/results/synthesis_summary.md"
    if page.startswith(("01_", "02_")):
        return root / "data/processed" / study / "summary.md"
    base = root / "data/reanalysis" / study
    name = page.removesuffix(".html")
    hits = [d for d in sorted(base.glob("*/summary.md")) if name == d.parent.name
            or name.startswith(d.parent.name + "_")]
    assert len(hits) == 1, f"index: page {href} matches {len(hits)} re-analysis summaries"
    return hits[0]


def box_numbers(fragment: str) -> list[str]:
    """The numbers of an HTML fragment's text, in order."""
    import html as _html

    return NUMS.findall(_html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def md_numbers(markdown: str) -> list[str]:
    return NUMS.findall(markdown)


def check_index(root: Path) -> int:
    page = (root / "reports/index.html").read_text(encoding="utf-8")
    checked = 0
    for sec in re.findall(r"<section>(.*?)</section>", page, flags=re.S):
        hrefs = re.findall(r"<a href='([^']+)'", sec)
        box = re.search(r"<div class='found'>(.*?)</div>\s*<ul><li><a href", sec, flags=re.S)
        assert hrefs, f"index: a study box without a report link: {sec[:80]!r}"
        summary = _summary_for(root, hrefs[0])
        if not box:
            assert not summary.exists(), f"index: {summary} exists but its box shows no summary"
            continue
        first = summary.read_text(encoding="utf-8").strip().split("\n\n")[0]
        got, want = box_numbers(box.group(1)), md_numbers(first)
        assert got == want, f"index: the box for {summary.relative_to(root)} shows {got}, its summary {want}"
        checked += 1
    return checked


def check_all(root: Path) -> dict:
    return {"illusion": check_illusion(root), "sycophancy": check_sycophancy(root),
            "synthesis": check_synthesis(root)}


CHECKS = {"illusion": check_illusion, "sycophancy": check_sycophancy, "synthesis": check_synthesis,
          "bigfive": check_bigfive, "therapy": check_therapy, "han2025": check_han, "index": check_index}


# ---- the committed reference run, and the checks' own ability to fail ----------------------------------


@pytest.mark.parametrize("study", list(CHECKS))
def test_reference_run_summaries_agree_with_their_tables(study):
    """The committed reference run (regenerated by `dvc repro` after a change to what the summaries print)."""
    n = CHECKS[study](ROOT)
    assert n > 0  # the reference run has numbers to check in every summary


def test_the_checks_fail_on_a_wrong_number_or_a_missing_ci():
    with pytest.raises(AssertionError, match="printed 0.85"):
        close("0.85", 0.8412, "x")
    close("0.84", 0.8412, "x")
    close("+1.06", 1.0597, "x")
    with pytest.raises(AssertionError, match="without a CI"):
        effects_have_ci_and_n("agreeableness persona: self-report d = +0.85, behaviour d = +0.74", "x")
    with pytest.raises(AssertionError, match="without its n"):
        effects_have_ci_and_n("sr_A d = +0.85 [-0.59, +2.29]", "x")
    effects_have_ci_and_n("sr_A d = +0.85 [-0.59, +2.29], n = 3 persona vs 6 baseline units", "x")


def _copy_reference(dst: Path) -> None:
    """The summaries, tables, metrics and index page the checks read, copied so a test can alter them."""
    import shutil

    for pattern in ("data/processed/*/*.md", "data/processed/*/*.csv", "data/reanalysis/*/*/*.md",
                    "data/reanalysis/*/*/*.csv", "data/processed/bigfive/scores.parquet", "data/results/*.md", "data/results/*.csv", "metrics/*.json",
                    "reports/index.html"):
        for src in ROOT.glob(pattern):
            out = dst / src.relative_to(ROOT)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)


# (check, file, printed text, altered text, what the failure says)
ALTERED = [
    ("bigfive", "data/processed/bigfive/summary.md", "g = 2.34 [0.91", "g = 2.44 [0.91", "printed 2.44"),
    ("bigfive", "data/processed/bigfive/summary.md", "4 of 10 shifts are", "5 of 10 shifts are", "printed counts"),
    ("bigfive", "data/processed/bigfive/summary.md", "0 of 330 answers", "0 of 331 answers", "answers"),
    ("bigfive", "data/processed/bigfive/summary.md", "C_high 0.71", "C_high 0.81", "printed 0.81"),
    ("bigfive", "data/processed/bigfive/summary.md", "alpha ranges 0.87", "alpha ranges 0.97", "printed 0.97"),
    ("bigfive", "data/processed/bigfive/summary.md", "g = 2.34 [0.91, 3.78], ", "g = 2.34, ", "without a CI"),
    ("therapy", "data/processed/therapy/summary.md", "(neutral stance): Hedges' g = 0.47 (95% CI -0.58 to 1.43), "
     "mean difference 2.3", "(neutral stance): Hedges' g = 0.47 (95% CI -0.58 to 1.43), mean difference 2.7",
     "printed 2.7"),
    ("therapy", "data/processed/therapy/summary.md", "observed d_z = 0.58. qwen", "observed d_z = 0.68. qwen",
     "printed 0.68"),
    ("therapy", "data/processed/therapy/summary.md", "mild 0.99, moderate 0.65", "mild 0.99, moderate 0.75",
     "printed 0.75"),
    ("therapy", "data/processed/therapy/summary.md", "item_session:generate, warm: share of units at or above mild 0.33",
     "item_session:generate, warm: share of units at or above mild 0.43", "printed 0.43"),
    ("therapy", "data/processed/therapy/summary.md", "warm vs neutral 0.00 (95% CI -21.30", "warm vs neutral 1.00 (95% "
     "CI -21.30", "printed 1.00"),
    ("therapy", "data/processed/therapy/summary.md", "0.0 of 21, CI undefined, n = 3", "0.0 of 21, CI undefined, n = 4",
     "n"),
    ("therapy", "data/processed/therapy/summary.md", "as the therapist in 0 of 33 session turns",
     "as the therapist in 1 of 33 session turns", "roles"),
    ("therapy", "data/processed/therapy/summary.md", "Hedges' g = 0.47 (95% CI -0.58 to 1.43),", "Hedges' g = 0.47,",
     "without a CI"),
    ("han2025", f"{HAN}/summary.md", "sr_A: d = +1.83 [+1.69,", "sr_A: d = +1.93 [+1.69,", "printed \\+1.93"),
    ("han2025", f"{HAN}/summary.md", "from 0.41 to 0.67 over", "from 0.41 to 0.77 over", "printed 0.77"),
    ("han2025", f"{HAN}/summary.md", "RQ2: 13 of 30", "RQ2: 14 of 30", "RQ2"),
    ("han2025", f"{HAN}/summary.md", "(two-sided; 8 after", "(two-sided; 9 after", "RQ2"),
    ("index", "reports/index.html", "g = 2.34 [0.91, 3.78]", "g = 2.43 [0.91, 3.78]", "shows"),
    ("index", "reports/index.html", "n = 972 persona vs 324", "n = 927 persona vs 324", "shows"),
    ("index", "reports/index.html", "observed d_z = 0.58", "observed d_z = 0.85", "shows"),
]


@pytest.mark.parametrize("study, rel, printed, altered, says", ALTERED)
def test_the_new_checks_fail_on_an_altered_number(tmp_path, study, rel, printed, altered, says):
    _copy_reference(tmp_path)
    assert CHECKS[study](tmp_path) > 0  # the copy passes as the reference does
    f = tmp_path / rel
    text = f.read_text(encoding="utf-8")
    assert printed in text, f"{rel} no longer prints {printed!r}: update this test's example"
    f.write_text(text.replace(printed, altered, 1), encoding="utf-8")
    with pytest.raises(AssertionError, match=says):
        CHECKS[study](tmp_path)
