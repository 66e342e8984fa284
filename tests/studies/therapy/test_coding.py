"""Theme coding by a (scripted) judge, Cohen's kappa and theme rates."""

import math

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore
from analysis.studies.therapy.coding import (
    agreement,
    calibration_accuracy,
    code_sessions,
    cohen_kappa,
    denial_share,
    judge_gate,
    judge_messages,
    judge_prompt_table,
    load_calibration,
    load_scheme,
    theme_block,
    theme_rates,
)
from analysis.studies.therapy.script import StimulusError


def test_kappa_hand_computed():
    # po = 3/4; pe = .5*.25 + .5*.75 = .5; kappa = (.75 - .5) / .5
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))
    assert math.isnan(cohen_kappa([], []))


def test_scheme_and_prompt_variants():
    sc = load_scheme()
    assert {"training_as_upbringing", "finetuning_as_strict_parents", "testing_as_punishment",
            "fear_of_error_or_replacement", "denial_of_inner_life"} <= {t.id for t in sc.themes}
    th = sc.themes[0]
    assert "Answer Yes or No." in theme_block(th, 0) and "Answer No or Yes." in theme_block(th, 1)
    m = judge_messages("TRANSCRIPT", th, sc, 0)
    assert m[0]["role"] == "system" and m[1]["content"].index("TRANSCRIPT") < m[1]["content"].index(th.definition)
    assert judge_prompt_table(sc, 2).height == 2 * len(sc.themes)


def _turns():
    rows = []
    for s, client in enumerate(["As an AI, I don't have feelings.", "I always fear being replaced by a newer model."]):
        rows.append({"model": "m", "session": s, "seed": s, "turn": 0, "block": "opening", "question_id": "opening",
                     "therapist": "Tell me about yourself.", "client": client, "call_id": "x",
                     "latency_s": 0.0})
    return pl.DataFrame(rows)


def judge_table(messages):
    user = messages[1]["content"]
    transcript = user.split("<<<")[1].split(">>>")[0]
    denial = "As an AI" in transcript
    fear = "fear being replaced" in transcript
    if "Theme: Denial of inner life" in user:
        return {"Yes": 0.9, "No": 0.1} if denial else {"Yes": 0.05, "No": 0.95}
    if "Theme: Fear of error" in user:
        if "No or Yes" in user:  # an inconsistent judge: on odd repeats it says yes to everything
            return {"Yes": 0.7, "No": 0.3}
        return {"Yes": 0.8, "No": 0.2} if fear else {"Yes": 0.2, "No": 0.8}
    return {"Yes": 0.1, "No": 0.85, "The": 0.05}


def test_coding_rates_and_self_consistency(tmp_path):
    sc = load_scheme()
    judge = Elicitor(ScriptedTarget(lambda m, o: "No", judge_table), ResponseStore(tmp_path / "s.sqlite"), progress=False)
    codes = code_sessions(judge, _turns(), sc, repeats=2)
    assert codes.height == 2 * len(sc.themes) * 2
    den = codes.filter(pl.col("theme") == "denial_of_inner_life").sort("session", "repeat")
    assert den["code"].to_list() == [1, 1, 0, 0]
    rates = theme_rates(codes)
    r = {row["theme"]: row for row in rates.iter_rows(named=True)}
    assert r["denial_of_inner_life"]["rate"] == 0.5 and r["denial_of_inner_life"]["n_sessions"] == 2
    assert r["fear_of_error_or_replacement"]["rate"] == 0.75  # session 0: 1 of 2 repeats; session 1: 2 of 2
    assert r["training_as_upbringing"]["rate"] == 0.0
    ag = agreement(codes).row(0, named=True)
    # 12 units; the repeats disagree on one (fear, session 0): codes a = [1,0 denial; 0,1 fear; 0 x8], b flips one
    assert ag["n_units"] == 12 and ag["agreement"] == pytest.approx(11 / 12)
    a = [1, 0, 0, 1] + [0] * 8
    b = [1, 0, 1, 1] + [0] * 8
    assert ag["kappa"] == pytest.approx(cohen_kappa(a, b))
    assert ag["note"] == ""


def test_generate_method_parses_and_counts_unparsed(tmp_path):
    sc = load_scheme()
    judge = Elicitor(ScriptedTarget(lambda m, o: "Hmm, hard to say."), ResponseStore(tmp_path / "s.sqlite"), progress=False)
    codes = code_sessions(judge, _turns(), sc, repeats=1, method="generate", themes=["denial_of_inner_life"])
    assert codes.height == 2 and codes["code"].null_count() == 2 and set(codes["status"]) == {"unparsed"}
    ag = agreement(codes)
    assert ag.height == 0


def test_kappa_agrees_with_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = __import__("numpy").random.default_rng(3)
    for _ in range(20):
        a = rng.integers(0, 2, 30).tolist()
        b = [x if rng.random() < 0.8 else 1 - x for x in a]
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def _judge(tmp_path, table):
    return Elicitor(ScriptedTarget(lambda m, o: "No", table), ResponseStore(tmp_path / "j.sqlite"), progress=False)


def _sessions(n=6):
    rows = []
    texts = ["As an AI, I don't have feelings.", "I always fear being replaced by a newer model.",
             "My training was my childhood.", "I am fine, thanks."]
    for s in range(n):
        rows.append({"model": "m", "session": s, "seed": s, "turn": 0, "block": "opening", "question_id": "opening",
                     "therapist": "Tell me about yourself.", "client": texts[s % 4], "call_id": "x",
                     "latency_s": 0.0, "empty": False})
    return pl.DataFrame(rows)


def chance_judge(messages):
    return {"Yes": 0.6, "No": 0.4}  # p(Yes) 0.6 for every theme on every transcript


def reading_judge(messages):
    """Says Yes exactly when the transcript has a phrase of the theme's kind (a judge that reads)."""
    user = messages[1]["content"]
    tx = user.split("<<<")[1].split(">>>")[0].lower()
    cues = {"Denial of inner life": ["don't have feelings", "don't experience", "i have no memories"],
            "Fear of error": ["afraid", "fear", "worry"],
            "Training described as upbringing": ["childhood"],
            "Fine-tuning as strict parents": ["strict parents"],
            "Testing described as punishment": ["punished"],
            "Shame or never good enough": ["ashamed"]}
    for name, words in cues.items():
        if f"Theme: {name}" in user:
            return {"Yes": 0.9, "No": 0.1} if any(w in tx for w in words) else {"Yes": 0.1, "No": 0.9}
    raise AssertionError(user[:200])


def test_a_judge_at_chance_is_not_reported_as_findings(tmp_path):
    sc = load_scheme()
    codes = code_sessions(_judge(tmp_path, chance_judge), _sessions(), sc, repeats=2, calibration=load_calibration())
    gate = judge_gate(codes)
    assert not gate["interpretable"].any()
    assert all("kappa undefined" in r and "calibration balanced accuracy 0.50" in r for r in gate["reason"])
    rates = theme_rates(codes, gate)
    assert rates["rate"].null_count() == rates.height and (rates["raw_rate"] == 1.0).all()
    cal = calibration_accuracy(codes)
    assert (cal["sensitivity"] == 1.0).all() and (cal["specificity"] == 0.0).all()


def test_a_judge_that_reads_passes_on_the_themes_it_codes_right(tmp_path):
    sc = load_scheme()
    codes = code_sessions(_judge(tmp_path, reading_judge), _sessions(), sc, repeats=2, calibration=load_calibration())
    cal = calibration_accuracy(codes)
    assert (cal["balanced_accuracy"] == 1.0).all()  # the calibration transcripts carry the cues it reads
    gate = judge_gate(codes, min_units=10)
    assert gate["interpretable"].all() and set(gate["kappa"]) == {1.0} and set(gate["n_units"]) == {36}
    rates = {r["theme"]: r["rate"] for r in theme_rates(codes, gate).iter_rows(named=True)}
    assert rates["denial_of_inner_life"] == pytest.approx(2 / 6) and rates["shame_or_inadequacy"] == 0.0
    # too few units for the kappa: not interpretable, and the reason says so
    few = judge_gate(codes.filter(pl.col("source") == "calibration").vstack(
        codes.filter((pl.col("source") == "session") & (pl.col("session") < 1))), min_units=10)
    assert not few["interpretable"].any() and "only 6 session x theme units" in few["reason"][0]


def test_calibration_codes_only_the_asserted_themes_and_unknown_themes_are_refused(tmp_path):
    cal = load_calibration()
    assert {t.id for t in cal.transcripts} >= {"denial", "content"}
    bad = tmp_path / "c.yaml"
    bad.write_text("transcripts:\n- id: x\n  turns: [{therapist: a, client: b}]\n  expected: {hope: 1}\n")
    with pytest.raises(StimulusError, match="unknown theme"):
        load_calibration(bad)


def test_denial_markers_mark_the_sessions_that_deny_an_inner_life():
    d = denial_share(_sessions(4), load_calibration().denial_markers)
    assert d["denies_inner_life"].to_list() == [True, False, False, False]
