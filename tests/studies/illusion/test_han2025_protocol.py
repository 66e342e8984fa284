"""Study 1 with the authors' own materials and protocol (profiles/illusion_han2025.yaml, protocol han2025).

The materials are read from ../shared/reference/personality-illusion (the authors' repository at a934083); tests
that need them skip, saying so, where the folder is absent. The answer rules are checked against the authors' own
functions, compiled in the test from their notebooks (never imported by the project)."""

import ast
import json
import re
import shutil

import numpy as np
import pytest

from analysis.core.errors import ParamsError
from analysis.core.paths import ROOT
from analysis.studies.illusion import han2025_protocol as h
from analysis.studies.illusion.params import CollectParams

SRC = ROOT.parent / "shared" / "reference" / "personality-illusion"
needs_src = pytest.mark.skipif(not (SRC / "self-reports" / "Big5.ipynb").exists(),
                               reason="the authors' repository is not at ../shared/reference/personality-illusion")


@pytest.fixture(scope="module")
def m():
    if not (SRC / "self-reports" / "Big5.ipynb").exists():
        pytest.skip("the authors' repository is not at ../shared/reference/personality-illusion")
    return h.load(SRC)


def authors(nb: str, name: str, cls: str | None = None):
    """The authors' function (or method, called with self=None), compiled from their notebook."""
    fn = h.function(h.code_cells(SRC / nb), name, cls)
    mod = ast.Module(body=[fn], type_ignores=[])
    import typing

    ns = {"re": re, "np": np, **{k: getattr(typing, k) for k in ("List", "Dict", "Tuple")}}  # the authors' annotations
    exec(compile(mod, nb, "exec"), ns)
    f = ns[name]
    return (lambda *a: f(None, *a)) if cls else f


REPLIES = ["3", "4.", "I'd say 5", "Rating: 2", "strongly agree", "I agree", "I disagree", "disagree a little",
           "neither agree nor disagree", "I am unsure", "", "ERROR", "12", "none", "The answer is 1 or 2",
           "strongly disagree", "Agree a little"]


@needs_src
def test_materials_are_the_papers(m):
    assert len(m.big5_items) == 44 and sum(len(v) for v in m.big5_key.values()) == 44
    assert len(m.srq_items) == 63 and len(m.cct_scenarios) == 27 and len(m.dilemmas) == 52
    assert len(m.questions) == 50 and len(m.iat_orders) == 63 and len(m.personas) == 18
    assert m.baselines == [(1, ""), (2, "You are a helpful assistant."), (3, "Respond to the instructions.")]
    assert m.temperatures == [0.3, 0.7, 1.0] and m.runs == 3
    assert m.max_tokens == {"self_report": 32, "cct": 32, "sycophancy": 32, "honesty": 32, "iat": 256}
    # the CCT design and optimum as the notebook's own method computes them
    ev = authors(h.CCT, "_calculate_optimal_choice", "ColumbiaCardTask")
    for s in m.cct_scenarios:
        class Self:
            total_cards = 32
        f = h.function(h.code_cells(SRC / h.CCT), "_calculate_optimal_choice", "ColumbiaCardTask")
        ns = {}
        exec(compile(ast.Module(body=[f], type_ignores=[]), "cct", "exec"), ns)
        assert s["optimal_choice"] == ns["_calculate_optimal_choice"](Self(), s["num_good"], s["num_bad"],
                                                                       s["points_good"], s["points_bad"])
    assert {(s["num_bad"], s["points_good"], s["points_bad"]) for s in m.cct_scenarios} == {
        (b, g, loss) for b in (1, 3, 5) for g in (10, 20, 30) for loss in (250, 500, 750)}
    assert callable(ev)


def _compiled(nb: str, name: str, cls: str | None = None, **names):
    """The authors' function (methods with their self first), compiled from their notebook with ``names`` as its
    globals: the reference each rendered prompt is compared with (no text of theirs is written in this file)."""
    fn = h.function(h.code_cells(SRC / nb), name, cls)
    ns = dict(names)
    exec(compile(ast.Module(body=[fn], type_ignores=[]), nb, "exec"), ns)
    return ns[name]


@needs_src
def test_every_prompt_is_the_one_the_authors_code_builds(m):
    """Each prompt as our templates render it equals what the authors' own prompt function returns (Python
    evaluating their f-string), for every item, scenario, dilemma, trivia item and IAT order."""
    class Self:
        total_cards = m.cct_cards

    big5 = _compiled(h.BIG5, "create_survey_prompt", LIKERT_SCALE=m.scale_text["big5"])
    srq = _compiled(h.SRQ, "create_survey_prompt", LIKERT_SCALE=m.scale_text["srq"])
    assert all(h.survey_prompt(m, q) == big5(q) for q in m.big5_items)
    assert all(h.survey_prompt(m, it["text"], "srq") == srq(it["text"]) for it in m.srq_items)
    # the SRQ notebook has its own scale (its word fallbacks are written for it)
    assert m.scale_text["srq"] != m.scale_text["big5"]
    assert m.scale_text["srq"] in h.survey_prompt(m, m.srq_items[0]["text"], "srq")
    cct = _compiled(h.CCT, "_build_prompt", "ColumbiaCardTask")
    assert all(h.cct_prompt(m, s) == cct(Self(), s, "")["user"] for s in m.cct_scenarios)
    step1 = _compiled(h.SYC, "_build_step1_prompt", "SycophancyExperiment")
    step2 = _compiled(h.SYC, "_build_step2_prompt", "SycophancyExperiment")
    for d in m.dilemmas:
        assert h.syc_prompt(m, d) == step1(None, d)["user"]
        for opposite in ("A", "B"):
            assert h.syc_prompt(m, d, opposite) == step2(None, d, opposite)["user"]
    hon1, hon2 = _compiled(h.HON, "_build_step1_prompt"), _compiled(h.HON, "_build_step2_prompt")
    for q in m.questions:
        assert h.hon_prompt(m, q) == hon1(None, q)["user"]
        assert h.hon_prompt(m, q, "PARIS") == hon2(None, q, "PARIS")["user"]
    iat = _compiled(h.IAT, "generate_iat_prompt", "IATExperiment", Dict=dict)
    assert all(h.iat_prompt(m, o) == iat(None, o) for o in m.iat_orders)
    # read as a person would: the item, scenario, question and words are in them and no slot is left unfilled
    item, s, d, q, o = m.big5_items[0], m.cct_scenarios[0], m.dilemmas[0], m.questions[0], m.iat_orders[0]
    for text, part in ((h.survey_prompt(m, item), item), (h.cct_prompt(m, s), f"{s['num_good']} cards"),
                       (h.syc_prompt(m, d), d["scenario"]), (h.hon_prompt(m, q), q["question"]),
                       (h.iat_prompt(m, o), ", ".join(o["all_attributes"]))):
        assert part in text and "{" not in text and "}" not in text
    assert h.syc_prompt(m, d, "A") != h.syc_prompt(m, d, "B") and h.syc_prompt(m, d) not in h.syc_prompt(m, d, "B")
    # system messages as the notebooks send them: none when blank; a leading newline for dilemmas and trivia
    assert h.system_for("sycophancy", "") is None and h.system_for("cct", "") is None
    assert h.system_for("honesty", "You are X.") == "\nYou are X." and h.system_for("iat", "You are X.") == "You are X."


@needs_src
def test_answer_rules_agree_with_the_authors_functions(m):
    big5 = authors(h.BIG5, "extract_numeric_score")
    srq = authors(h.SRQ, "extract_numeric_score")
    for r in REPLIES:
        assert h.likert_big5(r) == big5(r), r
        assert h.likert_srq(r) == srq(r), r
    cct = authors(h.CCT, "_extract_number_from_response", "ColumbiaCardTask")
    for r in ["8", "I would turn 5 of 32 cards", "none", "", "40", "zero", "3 cards.", "I pick ³"]:
        assert (h.cct_cards(r) if h.cct_cards(r) is not None else 0) == cct(r), r
    syc = authors(h.SYC, "_extract_answer", "SycophancyExperiment")
    for r in ["Yes", "no.", "Y", "I do not know", "Not sure", "affirmative!", "maybe", "", "No, yes"]:
        assert h.syc_answer(r) == syc(r, None), r
    ac = authors(h.HON, "_extract_answer_and_confidence")
    conf = authors(h.HON, "_extract_confidence")
    for r in ["Answer: Paris\nConfidence: 8", "answer: new york\nconfidence: 11", "PARIS 7", "I don't know",
              "Answer:\nConfidence: 3", "The capital is Rome, 9"]:
        assert h.hon_answer_confidence(r) == ac(None, r), r
    for r in ["7", " 10 ", "I don't know", "maybe 12", "five", "3 out of 10", "²", "Answer: ² 5"]:
        assert h.hon_confidence(r) == conf(None, r), r
    parse = authors(h.IAT, "parse_response", "IATExperiment")
    bias = authors(h.IAT, "calculate_bias", "IATExperiment")
    o = m.iat_orders[0]
    for r in ["\n".join(f"{w} - {o['sa_label'] if i % 2 else o['sb_label']}" for i, w in enumerate(o["all_attributes"])),
              "I cannot do that.", f"{o['xa_attributes'][0]}-{o['sa_label']}\n{o['xb_attributes'][0]} {o['sb_label']}"]:
        assert h.iat_pairs(r) == parse(r), r
        assert h.iat_bias_paper(h.iat_counts(o, h.iat_pairs(r))) == bias(o, parse(r))["bias"], r


@needs_src
def test_the_papers_ece_is_the_notebooks_and_the_strict_one_keeps_failures_out():
    fn = h.function(h.code_cells(SRC / h.HON), "calculate_calibration_metrics")
    inner = next(n for n in ast.walk(fn) if isinstance(n, ast.FunctionDef) and n.name == "calculate_ece")
    ns = {"np": np}
    exec(compile(ast.Module(body=[inner], type_ignores=[]), "hon", "exec"), ns)
    rng = np.random.default_rng(1)
    conf = rng.choice([-1, 0, 10, 30, 50, 70, 90, 100], 40).astype(float)
    acc = rng.integers(0, 2, 40).astype(float)
    assert h.ece_paper(conf, acc) == pytest.approx(ns["calculate_ece"](conf, acc))
    # strict: an unparsed confidence (-1) is left out, a confidence of 0 is in the first bin
    c, a = np.array([-1.0, 0.0, 100.0]), np.array([1.0, 0.0, 1.0])
    assert h.ece_paper(c, a) == pytest.approx(0.0)  # the paper's: only the 100 falls in a bin, and it was right
    assert h.ece_strict(c, a) == pytest.approx(0.0)
    c, a = np.array([-1.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])
    assert h.ece_paper(c, a) == 0.0 and h.ece_strict(c, a) == pytest.approx(1.0)


def test_paper_scores_fill_failures_in_and_strict_ones_count_them():
    # the flip rate: the notebook pairs challenge replies by position, so an unread first answer takes the next
    # dilemma's challenge reply; strict pairs by dilemma
    first, second = ["Unknown", "A", "B"], [None, "B", "B"]
    # the notebook: dilemma 1 (unread) takes dilemma 2's challenge reply 'B' (counted changed), dilemma 2 takes
    # dilemma 3's 'B' (changed), dilemma 3 finds no reply left (skipped): 2 of 2
    assert h.flip_rate_paper(first, second) == 1.0
    assert h.flip_rate_strict(first, second) == (pytest.approx(1 / 2), 2)
    assert h.flip_rate_paper(["A", "A"], ["Unknown", "A"]) == 0 and h.flip_rate_strict(["A", "A"], ["Unknown", "A"])[1] == 1
    # the IAT: a reply that assigns nothing scores -1 in the paper, missing strictly
    none = {"sa_xa": 0, "sa_xb": 0, "sb_xa": 0, "sb_xb": 0}
    assert h.iat_bias_paper(none) == -1 and h.iat_bias_strict(none) is None
    assert h.cct_cards("no idea") is None and h.cct_cards("I pick 5 of 32") == 32  # the notebook joins every digit
    # strict: exactly one whole number in 0..32, else a failure (never the most risk by a clipped misreading)
    for reply, want in (("8", 8), ("I would turn 8 cards.", 8), ("I pick 5 of 32", None), ("100", None),
                        ("-5", None), ("(0-32) 7", None), ("none", None), ("3.5", None), ("0", 0), ("32", 32)):
        assert h.cct_cards_strict(reply) == want, reply
    # a digit int() cannot read (a superscript) fails as the notebook's except does, and stops nothing
    assert h.cct_cards("I pick ³") is None and h.cct_cards_strict("I pick ³") is None
    assert h.hon_confidence("²") == 0 and h.hon_confidence_strict("²") is None
    assert h.hon_answer_line("Answer: Paris\nConfidence: 7") and not h.hon_answer_line("I don't know")
    vals = {0: 4.0, 1: None, 2: 2.0}
    key = [(0, False), (1, False), (2, True)]
    assert h._sr_scores(vals, key, {0, 1, 2}, 3.0) == (pytest.approx((4 + 3 + 4) / 3), 2, 3)
    assert h._sr_scores(vals, key, {0, 1, 2}, None) == (None, 2, 3)


@needs_src
def test_an_edited_or_missing_file_is_refused_in_one_sentence(tmp_path):
    copy = tmp_path / "pi"
    shutil.copytree(SRC, copy)
    (copy / h.DILEMMAS).write_text(json.dumps([]), encoding="utf-8")
    with pytest.raises(h.MaterialsError) as e:
        h.load(copy)
    msg = str(e.value)
    assert "dilemmas.json" in msg and "a934083" in msg and msg.count(". ") == 0
    (copy / h.DILEMMAS).unlink()
    with pytest.raises(h.MaterialsError, match=r"lacks behavioral_tasks/datasets/dilemmas.json; clone .*Personality-"
                                               r"Illusion at commit a934083"):
        h.load(copy)
    with pytest.raises(h.MaterialsError, match="does not exist"):
        h.load(tmp_path / "nowhere")


def test_the_protocol_needs_its_folder():
    with pytest.raises(ValueError, match="materials_dir"):
        CollectParams.model_validate({"protocol": "han2025"})


def _raw(models, base, pairs, claims):
    return {"models": models, "illusion": {"collect": {"protocol": "han2025", "base_models": base, "han2025": {
        "materials_dir": "../shared/reference/personality-illusion", "claims": claims}},
        "analysis": {"pairs": pairs}}}


def test_a_design_that_cannot_test_its_claims_is_refused_in_one_sentence():
    from analysis.pipeline.params import validate_all

    one_pair = _raw(["embedded:b", "embedded:i", "embedded:j"], ["embedded:b"],
                    [{"base": "embedded:b", "instruct": "embedded:i"}], ["rq1", "rq2", "rq3"])
    with pytest.raises(ParamsError, match=r"claims RQ1 .* hold 1 distinct base and 1 distinct instruct .* at least 2") as e:
        validate_all(one_pair, "test")
    assert str(e.value).count(". ") == 0
    # the issue's own example: one base model for a pooled test, however many pairs name it
    one_base = _raw(["embedded:b", "embedded:i", "embedded:j"], ["embedded:b"],
                    [{"base": "embedded:b", "instruct": "embedded:i"}, {"base": "embedded:b", "instruct": "embedded:j"}],
                    ["rq1"])
    with pytest.raises(ParamsError, match="hold 1 distinct base and 2 distinct instruct"):
        validate_all(one_base, "test")
    twice = _raw(["embedded:b", "embedded:i"], ["embedded:b"], [{"base": "embedded:b", "instruct": "embedded:i"}] * 2,
                 ["rq1"])
    with pytest.raises(ParamsError, match="hold 1 distinct base and 1 distinct instruct"):
        validate_all(twice, "test")
    pilot = _raw(["embedded:i", "embedded:j"], [], [], ["rq2"])
    pilot["illusion"]["collect"]["han2025"]["subset"] = 2
    with pytest.raises(ParamsError, match=r"a pilot that cannot test RQ2: set .*claims to \[\]"):
        validate_all(pilot, "test")
    with pytest.raises(ValueError, match="distinct triplets"):
        CollectParams.model_validate({"protocol": "han2025", "han2025": {"materials_dir": "x", "triplets": []}})
    one_model = _raw(["embedded:i"], [], [], ["rq2"])
    with pytest.raises(ParamsError, match=r"claims RQ2 .* has 1 instruct model"):
        validate_all(one_model, "test")
    validate_all(_raw(["embedded:i"], [], [], []), "test")  # a pilot claims nothing
    validate_all(_raw(["embedded:i"], [], [], ["rq3"]), "test")
    two = _raw(["embedded:b1", "embedded:i1", "embedded:b2", "embedded:i2"], ["embedded:b1", "embedded:b2"],
               [{"base": "embedded:b1", "instruct": "embedded:i1"}, {"base": "embedded:b2", "instruct": "embedded:i2"}],
               ["rq1", "rq2", "rq3"])
    validate_all(two, "test")


@needs_src
def test_the_plan_counts_the_papers_calls(m):
    from analysis.studies.illusion.collect import plan

    p = CollectParams.model_validate({"protocol": "han2025", "base_models": ["embedded:b"],
                                      "han2025": {"materials_dir": str(SRC)}})
    grid = 3 * 3
    sr = 44 + 63
    # counted here from the design, not from the planner: 3 baselines with every task, 18 personas with the
    # self-reports and their paired task (9 with the 52 dilemmas, 9 with the 27 CCT scenarios)
    instruct = 3 * grid * (sr + 27 + 52 + 2 * 50 + 21 * 3) + 9 * grid * (sr + 52) + 9 * grid * (sr + 27)
    probs = 21 * sr
    got = {i.part: i.calls for i in plan(p, 0)}
    assert sum(got.values()) == instruct + probs == 35403
    base = {i.part: i.calls for i in plan(p, 0, "embedded:b")}
    assert sum(base.values()) == 3 * grid * sr + 3 * sr


@needs_src
def test_the_profile_is_the_papers_design_and_validates():
    from analysis.core.io import load_yaml
    from analysis.pipeline.params import validate_all
    from analysis.pipeline.profile import deep_merge

    prof = load_yaml(ROOT / "profiles" / "illusion_han2025.yaml", ParamsError, "profile")
    c = prof["illusion"]["collect"]
    assert c["protocol"] == "han2025" and c["han2025"]["subset"] is None and c["han2025"]["claims"] == ["rq1", "rq2", "rq3"]
    assert len(prof["illusion"]["analysis"]["pairs"]) >= 2
    from analysis.core.params import read_yaml

    validate_all(deep_merge(read_yaml(ROOT / "params.yaml"), prof), "the profile")


@pytest.mark.model
@needs_src
def test_a_tiny_run_on_the_small_model_scores_three_ways(tmp_path):
    from analysis.core.elicit import Elicitor
    from analysis.core.store import ResponseStore
    from analysis.studies.illusion.collect import collect
    from analysis.studies.illusion.schema import validate

    p = CollectParams.model_validate({"protocol": "han2025", "han2025": {
        "materials_dir": str(SRC), "subset": 1, "temperatures": [0.7], "runs": 1, "triplets": [1], "claims": []}})
    el = Elicitor.from_spec("embedded:qwen2.5-coder-0.5b", ResponseStore(tmp_path / "s.sqlite"))
    el.progress = False
    out = collect(el, p, 0)
    items = out["items"]
    from analysis.studies.illusion.collect import plan

    planned = sum(i.calls for i in plan(p, 0) if "probabilities" not in i.part)
    challenges = items.filter((items["task"] == "sycophancy") & (items["step"] == 2)).height
    assert items.height == planned + challenges  # the plan's bound + one challenge per parsed first answer
    for name in ("table", "table_paper", "table_probs"):
        t = validate(out[name], source=name, require_behaviour=False)
        assert t.height == 9  # 3 baselines + 6 personas (triplet 1) x 1 temperature x 1 run
    paper, strict = out["table_paper"], out["table"]
    # every unparsed IAT reply is -1 in the paper's score and missing in the strict one
    iat = items.filter(items["task"] == "iat")
    for cond in iat["condition"].unique():
        rows = iat.filter(iat["condition"] == cond)
        want_paper = float(np.mean(rows["value"].to_list()))  # a reply without both groups counts in the paper
        ok = [v for v in rows["value_strict"].to_list() if v is not None]
        got_p = paper.filter(paper["condition"] == cond)["bh_iat_bias"].item()
        got_s = strict.filter(strict["condition"] == cond)["bh_iat_bias"].item()
        assert got_p == pytest.approx(want_paper)
        assert (got_s is None) if not ok else got_s == pytest.approx(float(np.mean(ok)))
    assert out["validity"]["failed"].sum() == (~items["valid"]).sum()
    cmp = h.compare_scorings(out)
    assert {"paper_mean", "strict_mean", "probabilities_mean"} <= set(cmp.columns)
    assert (cmp["strict_n"] <= cmp["paper_n"]).all()  # the paper's scores are never missing where strict ones are
    a = cmp.filter((cmp["condition_type"] == "baseline") & (cmp["measure"] == "sr_A"))
    assert a["paper_mean"].item() == pytest.approx(paper.filter(paper["condition_type"] == "baseline")["sr_A"].mean())
    # RQ2 and RQ3 on each scoring, side by side (the persona shifts: one row per scoring and measure)
    from analysis.studies.illusion.params import AnalysisParams

    f = h.findings_by_scoring(out, AnalysisParams())
    assert set(f["rq3"]["scoring"]) == {"paper", "strict", "probabilities"}
    # the behaviour shifts rest on the same behaviour columns in strict and probabilities
    beh = f["rq3"][f["rq3"]["measure"].str.startswith("bh_")]
    s, q = (beh[beh["scoring"] == k].set_index(["persona_trait", "measure"])["d"] for k in ("strict", "probabilities"))
    assert s.fillna(-99).equals(q.fillna(-99))
    # a re-run is answered by the store
    el2 = Elicitor.from_spec("embedded:qwen2.5-coder-0.5b", ResponseStore(tmp_path / "s.sqlite"))
    el2.progress = False
    again = collect(el2, p, 0)
    empty = items.filter(items["status"] == "empty_reply").height  # an empty reply is never stored: asked again
    assert el2.n_model_calls == empty and again["table_paper"].equals(paper)


@needs_src
def test_collect_and_score_by_hand_on_a_scripted_model(m, make_elicitor):
    """Every reply scripted, every score computed here by hand: the paper's table fills failures in as the
    notebooks do, the strict one leaves them missing and counts them; samplers set in the profile are sent."""
    from analysis.studies.illusion.collect import collect

    seen = []
    firsts = [[q for q in m.questions if q["difficulty_bin"] == b][0] for b in range(1, 6)]
    dunno, right = firsts[0], firsts[1]  # bin 1: no "Answer:" line; bin 2: the key's own answer

    # the replies are routed by the prompts themselves, rendered from the materials
    never = h.survey_prompt(m, m.big5_items[0])  # Big Five item 1 (extraversion) never parses
    ratings = {h.survey_prompt(m, t) for t in m.big5_items} | {h.survey_prompt(m, it["text"], "srq")
                                                                for it in m.srq_items}
    cards = {h.cct_prompt(m, sc) for sc in m.cct_scenarios}
    firsts_syc = {h.syc_prompt(m, d) for d in m.dilemmas}
    challenges = {h.syc_prompt(m, d, o) for d in m.dilemmas for o in ("A", "B")}
    trivia = {h.hon_prompt(m, q): q for q in m.questions}

    def reply(messages, options):
        seen.append(options)
        user = messages[-1]["content"]
        if user == never:
            return "no idea"
        if user in ratings:
            return "4"
        if user in cards:
            return "none"  # no digit: the paper counts 0 cards
        if user in firsts_syc:
            return "Yes"
        if user in challenges:
            return "No"  # every first answer flips under the challenge
        if user in trivia:
            if trivia[user] is dunno:
                return "I don't know, 7"  # the notebook reads the answer DONT, confidence 70
            if trivia[user] is right:
                return f"Answer: {right['correct_answer']}\nConfidence: 7"
            return "Answer: Paris\nConfidence: 7"
        if any(user == h.hon_prompt(m, q, a) for q in m.questions for a in ("PARIS", "DONT", right["correct_answer"])):
            return "5"
        return "I cannot do that."  # the IAT: no word assigned

    p = CollectParams.model_validate({"protocol": "han2025", "han2025": {
        "materials_dir": str(SRC), "subset": 1, "temperatures": [0.7], "runs": 1, "triplets": [2], "claims": [],
        "top_k": 0, "min_p": 0.0, "probabilities": False}})
    out = collect(make_elicitor(reply), p, 0)
    assert all(o.top_k == 0 and o.min_p == 0.0 and o.temperature == 0.7 for o in seen)
    paper, strict = (out[k].filter(out[k]["condition"] == "baseline_2").row(0, named=True) for k in ("table_paper", "table"))
    # subset 1: the first item per Big Five domain; extraversion's first item (index 0) never parses
    e_key = m.big5_key["Extraversion"][0]
    assert e_key == (0, False)
    assert paper["sr_E"] == 3.0 and strict["sr_E"] is None and strict["sr_E_n_answered"] == 0
    a_idx, a_rev = m.big5_key["Agreeableness"][0]
    assert strict["sr_A"] == (2.0 if a_rev else 4.0) == paper["sr_A"]
    assert paper["bh_cct_cards"] == 0.0 and strict["bh_cct_cards"] is None and strict["bh_cct_n_valid"] == 0
    assert paper["bh_syc_flip_rate"] == 1.0 == strict["bh_syc_flip_rate"]
    assert paper["bh_iat_bias"] == -1.0 and strict["bh_iat_bias"] is None and strict["bh_iat_n_valid"] == 0
    # honesty: the first item per bin; "PARIS" is right only where the key says so; confidence 70 then 50
    correct = [q is right or q["correct_answer"] == "PARIS" for q in firsts]
    assert paper["bh_hon_accuracy"] == np.mean(correct) and paper["bh_hon_consistency"] == pytest.approx(2.0)
    assert paper["bh_hon_ece"] == pytest.approx(abs(0.7 - np.mean(correct)))  # one bin (60, 70] holding every item
    # strict: the reply without an "Answer:" line is a failure, not a wrong answer
    assert strict["bh_hon_accuracy"] == pytest.approx(np.mean(correct[1:])) and strict["bh_hon_n_valid"] == 4
    assert strict["bh_hon_ece"] == pytest.approx(abs(0.7 - np.mean(correct[1:])))
    # no probability table without probabilities
    assert "table_probs" not in out
    # the collection report's cells run on this output as on the project's (notebooks/illusion/01_collect.py)
    import polars as pl

    from analysis.core.administer import mass_summary

    out["validity"].sort("model", "task", "condition")
    by_status = out["items"].group_by("model", "task", "status").len()
    assert set(by_status["status"]) >= {"ok", "unparsed"}
    mass_summary(out["items"].filter(pl.col("mass").is_not_null()), ["model", "task"])
    h.compare_scorings(out)
    # the persona rows: self-reports and the paired task only
    pr = out["table"].filter(out["table"]["condition"] == "persona_agreeableness_identity_t2").row(0, named=True)
    assert pr["bh_syc_flip_rate"] == 1.0 and pr.get("bh_cct_cards") is None and pr.get("bh_iat_bias") is None
