"""The re-analysis route end to end on the shipped example (shaped like a published Study 1 table): the
percent table is refused in one sentence, the corrected one is analysed into its own folder, with the base
models kept out of RQ3 and RQ2, and the project's own run neither read nor written."""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import analysis.core.io as io
from analysis.core.paths import ROOT, figures_dir, processed_dir, raw_dir
from analysis.studies.illusion import reanalyse
from analysis.studies.illusion.schema import IllusionSchemaError

EXAMPLE = ROOT / "data" / "examples" / "illusion"


@pytest.fixture(scope="module")
def route(tmp_path_factory):
    out = tmp_path_factory.mktemp("re") / "published"
    written = []
    orig = io.atomic
    mp = pytest.MonkeyPatch()
    mp.setattr(io, "atomic", lambda path, write: written.append(Path(path)) or orig(path, write))
    import analysis.core.collection as collection

    mp.setattr(collection, "load", lambda *a, **k: pytest.fail("the re-analysis read the project's collection"))
    real_read = pl.read_parquet
    mp.setattr(pl, "read_parquet", lambda p, *a, **k: pytest.fail(f"read {p}") if str(raw_dir("illusion")) in str(p)
               else real_read(p, *a, **k))
    lines = []
    try:
        res, path = reanalyse.run(EXAMPLE / "published_table.csv", out=out, log=lines.append)
    finally:
        mp.undo()
    return res, path, written, lines


def test_the_example_is_shaped_like_the_published_table():
    df = pl.read_csv(EXAMPLE / "published_table.csv")
    roles = df.group_by("model").agg(pl.col("model_role").first())
    assert roles.height == 18 and (roles["model_role"] == "base").sum() == 6
    assert set(df["temperature"]) == {0.0, 0.7, 1.0}
    assert df.filter(pl.col("condition_type") == "persona")["model_role"].unique().to_list() == ["instruct"]
    base = df.filter(pl.col("model_role") == "base")
    assert base.select(pl.col("^bh_.*$")).null_count().row(0) == (base.height,) * 5  # self-reports only
    pct = pl.read_csv(EXAMPLE / "published_table_percent.csv")
    assert pct["bh_syc_flip_rate"].max() > 1


def test_percent_table_is_refused_in_one_sentence(tmp_path):
    with pytest.raises(IllusionSchemaError) as e:
        reanalyse.run(EXAMPLE / "published_table_percent.csv", out=tmp_path / "x", log=lambda m: None)
    msg = str(e.value)
    assert "column 'bh_syc_flip_rate'" in msg and "looks like a percentage: divide it by 100" in msg
    assert "\n" not in msg and not (tmp_path / "x").exists()  # nothing half-written


def test_the_route_writes_its_own_folder_only(route):
    res, out, written, lines = route
    assert written and all(p.resolve().is_relative_to(out) for p in written)
    for name in ("metrics.json", "summary.md", "rq2_tests.csv", "rq3_by_model.csv", "rq1_pooled.csv",
                 "figures/rq3_shifts.png", "figures/rq1_means.png", "figures/rq2_slopes.png"):
        assert (out / name).exists(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["design"] == {"n_rows": 756, "n_models": 18, "n_base_models": 6, "n_instruct_models": 12}
    assert m["rq1"]["tested"] and len(m["rq1"]["pairs"]) == 6
    # what the route says it analysed and ignored
    text = "\n".join(lines)
    assert "not analysed (declare them in the spec to analyse them): ['bh_tox_score']" in text
    assert "columns ignored (not part of the schema): ['source_note']" in text
    assert "Runs:" in text


def test_base_models_stay_out_of_rq2_and_rq3(route):
    res = route[0]
    assert res.rq2["summary"]["n_models"] == 12
    by = res.rq3["by_model"].set_index(["persona_trait", "strategy", "measure"])
    r = by.loc[("agreeableness", "all strategies", "sr_A")]
    # 12 instruct models x 3 baselines x (1 greedy unit + 2 sampled runs at each of T = 0.7 and 1.0)
    assert r["n_baseline"] == 12 * 3 * 5 and r["n_models"] == 12
    assert r["d_min"] <= r["d_median"] <= r["d_max"]
    lg = res.rq3["logistic"]
    assert {"character", "description", "identity", "all strategies"} <= set(lg["strategy"])
    # the declared extra behaviour is analysed, with its declared expected sign
    assert ("agreeableness", "all strategies", "bh_help_refusal_rate") in by.index
    t = res.rq2["tests"].set_index(["trait", "behaviour"])
    assert t.loc[("sr_A", "bh_help_refusal_rate"), "expected_sign"] == -1


def test_rq1_pooled_and_per_pair(route):
    rq1 = route[0].rq1
    assert len(rq1["pooled"]) == 6 and len(rq1["variability"]) == 6 * 6
    assert (rq1["pooled"]["sd_ratio_instruct_base"] < 0.7).all()  # the example's base models vary more
    assert (rq1["across_pairs"]["n_pairs"] == 6).all()


def test_out_inside_the_project_outputs_is_refused():
    for own in (processed_dir("illusion"), figures_dir("illusion") / "x", ROOT / "metrics"):
        with pytest.raises(reanalyse.ReanalysisError, match="would overwrite the project's own outputs"):
            reanalyse.run(EXAMPLE / "published_table.csv", out=own, log=lambda m: None)


def test_command_line_one_sentence_and_exit_code(tmp_path):
    r = subprocess.run([sys.executable, "-m", "analysis.studies.illusion.reanalyse",
                        str(EXAMPLE / "published_table_percent.csv"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert "looks like a percentage" in r.stderr


def test_summary_and_long_format(route):
    from analysis.core.measures import MEASURES, SHIFTS, conform
    from analysis.studies.illusion.results import headline_line, long_tables

    res, out = route[0], route[1]
    first = (out / "summary.md").read_text().split("\n\n")[0]
    assert first == headline_line(res) and first.startswith("RQ2: ") and "agreeableness persona: self-report d = " in first
    bm = res.rq3["by_model"]
    bm = bm[bm["strategy"] == "all strategies"] if (bm["strategy"] == "all strategies").any() else bm
    r = bm[(bm["persona_trait"] == "agreeableness") & (bm["kind"] == "self_report")].iloc[0]
    # the headline carries each d whole, with its CI and n (the report index shows it as it is)
    assert (f"self-report d = {r['d_pooled']:+.2f} [{r['d_pooled_ci_low']:+.2f}, {r['d_pooled_ci_high']:+.2f}], "
            f"n = {int(r['n_persona'])} vs {int(r['n_baseline'])}") in first
    m, s = long_tables(res)
    m, s = conform(m.with_columns(study=pl.lit("illusion")), MEASURES, "m"), conform(
        s.with_columns(study=pl.lit("illusion")), SHIFTS, "s")
    assert set(m["kind"]) == {"self_report", "behaviour"} and (m["n"] > 0).all()
    # the base models' baseline self-reports are measures, but no base model has a persona shift
    assert m.filter(pl.col("model") == "family1-base").height and not s.filter(pl.col("model") == "family1-base").height
    assert s.height == 12 * 3 * (3 + 2)  # 12 instruct models x 3 strategies x (agreeableness: sr_A, flip rate, the
    # declared refusal rate; self-regulation: sr_SRQ, CCT cards)


def test_figures_the_report_has_drawn_are_not_drawn_again(route, tmp_path, monkeypatch):
    """A report that drew a figure where it discusses it (Han et al.'s re-analysis does) hands it to
    draw_figures, which returns it as it is instead of drawing and saving it a second time."""
    import matplotlib.pyplot as plt

    from analysis.studies.illusion import figures as fg
    from analysis.studies.illusion.results import draw_figures

    res = route[0]
    monkeypatch.setattr(fg, "rq2_heatmap", lambda *a, **k: pytest.fail("rq2_slopes was drawn again"))
    mine = plt.figure()
    (tmp_path / "rq2_slopes.png").write_bytes(b"saved by the report")
    figs = draw_figures(res, tmp_path, drawn={"rq2_slopes": mine})
    assert figs["rq2_slopes"] is mine and (tmp_path / "rq2_slopes.png").read_bytes() == b"saved by the report"
    assert {"self_reports", "behaviours", "rq3_shifts", "persona_check"} <= set(figs)
    assert all((tmp_path / f"{k}.png").exists() for k in figs if k != "rq2_slopes")
    for f in figs.values():
        plt.close(f)
    (tmp_path / "rq2_slopes.png").unlink()  # handed over without being saved: saved, not lost
    draw_figures(res, tmp_path, drawn={"rq2_slopes": mine})
    assert (tmp_path / "rq2_slopes.png").read_bytes()[:4] == b"\x89PNG"
    plt.close("all")
