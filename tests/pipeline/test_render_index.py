"""The report index: what the run is (models, digests, commit, cost), and each study's computed headline, whole."""

import json
import re

from analysis.core.metrics import summary_path
from analysis.core.paths import DATA_DIR
from analysis.pipeline import render_index
from analysis.studies import all_studies

LONG = ("RQ2: 1 of 54 trait-behaviour slopes significant; self_regulation persona: self-report d = +0.59 (95% CI "
        "-0.82 to +2.01, n = 3 persona vs 6 baseline units), behaviour d = +1.06 (95% CI -0.41 to +2.53, n = 3 persona "
        "vs 6 baseline units); " + "and more words that make the headline long " * 12 + "END OF HEADLINE.")


def fake_run(tmp_path):
    data, reports = tmp_path / "data", tmp_path / "reports"
    for i, sid in enumerate(list(all_studies()) + ["synthesis"]):
        s = data / summary_path(sid).relative_to(DATA_DIR)
        s.parent.mkdir(parents=True, exist_ok=True)
        head = LONG if sid == "illusion" else f"**Finding {sid}.** g = 0.{i} (95% CI -0.1 to 0.{i + 2}), n = {i + 3}."
        s.write_text(head + "\n\n- details that are not the headline\n")
        (reports / sid).mkdir(parents=True, exist_ok=True)
        for name in (("across_studies",) if sid == "synthesis" else ("01_collect", "02_analysis")):
            (reports / sid / f"{name}.html").write_text(f"<html><title>{sid}</title><h1>{sid}</h1></html>")
        if sid != "synthesis":
            (data / "raw" / sid).mkdir(parents=True, exist_ok=True)
            (data / "raw" / sid / "run_info.json").write_text(json.dumps(
                {"study": sid, "models": {"embedded:m-1.5b": {"digest": "ab" * 32, "calls_recorded": 100 * (i + 1),
                                                               "model_seconds_recorded": 10.0 * (i + 1)}}}))
    return data, reports


def test_the_index_names_the_run_and_shows_every_headline_whole(tmp_path):
    data, reports = fake_run(tmp_path)
    page, n = render_index.build(data, reports)
    studies = all_studies()
    k = len(studies)
    assert n == 2 * k + 1
    # the run: the model with its digest, the commit, calls and model time summed from every collection
    assert "embedded:m-1.5b" in page and "abababababababab" in page and "Code: commit " in page
    calls, secs = sum(100 * (i + 1) for i in range(k)), sum(10.0 * (i + 1) for i in range(k))
    assert f"{calls:,} distinct model calls, {render_index._dur(secs)} of model time" in page
    assert "What this run can and cannot show." in page and "illusion 200 of at least " in page  # the real profiles
    # every registered study, its headline whole (no cut, no "..."), underscores kept, details left out
    for i, (sid, s) in enumerate(studies.items()):
        assert s.title.replace("'", "&#x27;") in page
        if sid != "illusion":
            assert f"<strong>Finding {sid}.</strong> g = 0.{i} (95% CI -0.1 to 0.{i + 2}), n = {i + 3}." in page
    assert "END OF HEADLINE." in page and "self_regulation persona" in page and "selfregulation" not in page
    assert " ..." not in page and "details that are not the headline" not in page
    assert "<strong>Finding synthesis.</strong>" in page


def test_an_extra_report_with_its_summary_gets_its_own_box(tmp_path):
    data, reports = fake_run(tmp_path)
    (reports / "illusion" / "han2025_released.html").write_text(
        "<h1>The released data of Han et al. (2025), re-analysed<a class='anchor-link' href='#x'>¶</a></h1>")
    s = data / "reanalysis" / "illusion" / "han2025" / "summary.md"
    s.parent.mkdir(parents=True)
    s.write_text("RQ2: 3 of 24 slopes significant, n = 12 models, d = 0.4 (95% CI 0.1 to 0.7).\n\n- more\n")
    page, n = render_index.build(data, reports)
    box = page.split("The released data of Han et al. (2025), re-analysed</h2>")[1].split("</section>")[0]
    assert "RQ2: 3 of 24 slopes significant, n = 12 models, d = 0.4 (95% CI 0.1 to 0.7)." in box
    assert "href='illusion/han2025_released.html'" in box and "¶" not in box


def test_a_study_without_reports_or_summary_is_still_listed(tmp_path):
    data, reports = fake_run(tmp_path)
    sid, study = next(iter(all_studies().items()))
    for f in (reports / sid).glob("*.html"):
        f.unlink()
    (data / summary_path(sid).relative_to(DATA_DIR)).unlink()
    page, _ = render_index.build(data, reports)
    box = page.split(f"<h2>{study.title.replace(chr(39), '&#x27;')}</h2>")[1].split("</section>")[0]
    assert "No computed summary yet" in box and "No report rendered yet" in box


def test_a_run_without_recorded_cost_says_so():
    models = {"m": {"digests": {"d" * 64}, "studies": {"bigfive": (None, None)}}}
    box = "".join(render_index.run_box(models))
    assert "bigfive: cost not recorded" in box and "not recorded for bigfive" in box


def test_the_scope_sentence_states_the_fraction_of_the_paper_scale_calls(tmp_path):
    data, reports = fake_run(tmp_path)  # illusion 200 calls, therapy 400
    page, _ = render_index.build(data, reports, planned={"illusion": (20_000, True), "therapy": (800, False)})
    scope = re.search(r"<p class='scope'>(.*?)</p>", page, re.S).group(1)
    assert "illusion 200 of 20,000 (1%)" in scope and "therapy 400 of at least 800 (50% at most)" in scope
    assert "demonstration" not in scope and scope.split("</strong>")[1].count(". ") == 0  # one sentence
    assert "not how the papers' models behave" in scope


def test_a_run_at_the_paper_scale_is_not_called_a_demonstration(tmp_path):
    data, reports = fake_run(tmp_path)
    page, _ = render_index.build(data, reports, planned={"illusion": (200, True)})
    scope = re.search(r"<p class='scope'>(.*?)</p>", page, re.S).group(1)
    assert "illusion 200 of 200 (100%)" in scope and "stand at the papers' scale" in scope
    assert "demonstration" not in scope


def test_the_paper_scale_profiles_are_counted_without_a_store():
    planned = render_index.paper_scale_plan()
    assert {"illusion", "sycophancy", "therapy"} <= set(planned)
    assert all(n > 1000 for n, _ in planned.values())
