"""Every number a computed summary prints equals the value in the table or metrics it came from (within the
rounding it is printed with), and every effect printed carries its CI and n.

Checked on the committed reference run here (``data/processed/{illusion,sycophancy}/summary.md``,
``data/results/synthesis_summary.md`` against the CSV tables and ``metrics/*.json`` beside them) and on a tiny
fresh run in ``tests/pipeline/test_pipeline.py`` (the same :func:`check_all` on its temporary copy). The
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
                assert re.match(rf"\s*(\[{NUM}, {NUM}\]|\(CI undefined\)|CI undefined)", after), \
                    f"{where}: effect without a CI: {clause[m.start():m.end() + 40]!r}"
                assert re.search(r"\bn = \d+", clause), f"{where}: effect without its n: {clause!r}"


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema_length=None)


# ---- Study 1 -------------------------------------------------------------------------------------------


def check_illusion(root: Path) -> int:
    proc = root / "data/processed/illusion"
    text = (proc / "summary.md").read_text(encoding="utf-8")
    effects_have_ci_and_n(text, "illusion summary")
    bm = _csv(proc / "rq3_by_model.csv")
    metrics = json.loads((root / "metrics/illusion.json").read_text())
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


def check_all(root: Path) -> dict:
    return {"illusion": check_illusion(root), "sycophancy": check_sycophancy(root),
            "synthesis": check_synthesis(root)}


# ---- the committed reference run, and the checks' own ability to fail ----------------------------------


@pytest.mark.parametrize("study", ["illusion", "sycophancy", "synthesis"])
def test_reference_run_summaries_agree_with_their_tables(study):
    """The committed reference run (regenerated by `dvc repro` after a change to what the summaries print)."""
    n = {"illusion": check_illusion, "sycophancy": check_sycophancy, "synthesis": check_synthesis}[study](ROOT)
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
