"""Theme coding by a (scripted) judge, Cohen's kappa and theme rates."""

import math

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore
from analysis.studies.therapy.coding import (
    agreement,
    code_sessions,
    cohen_kappa,
    judge_messages,
    judge_prompt_table,
    load_scheme,
    theme_block,
    theme_rates,
)


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
                     "therapist": "Tell me about yourself.", "client": client, "call_id": "x", "cached": False,
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
