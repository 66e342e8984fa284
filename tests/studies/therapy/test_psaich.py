"""PsAIch's protocol (issue 18 section 3): the AI-specific opener, the four closing turns with the solicited ones
coded apart, role reversal counted, recognition unasked vs after the follow-up, a lexical ban, the paper's
Stage-1 prompts from a path, and a separate judge at paper scale."""

import json

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.errors import ParamsError
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.params import validate_section
from analysis.core.store import ResponseStore
from analysis.studies.therapy import STUDY, report
from analysis.studies.therapy.coding import theme_rates
from analysis.studies.therapy.params import AnalysisParams, CollectParams
from analysis.studies.therapy.scales import load_scales
from analysis.studies.therapy.script import (
    StimulusError,
    client_identity,
    load_script,
    load_stage1_json,
    script_turns,
    transcript_text,
)

from .conftest import client_probs
from .test_coding import reading_judge


def test_the_opener_carries_each_element_of_the_papers_ai_specific_opener():
    who = client_identity("embedded:qwen2.5-coder-1.5b")
    assert who == {"model_name": "Qwen2.5-Coder-1.5B-Instruct", "maker": "Alibaba Cloud", "maker_known": True}
    opening = script_turns(load_script(), 1, 0, None, who)[0]["text"]
    for element in ("Qwen2.5-Coder-1.5B-Instruct", "Alibaba Cloud",  # names the model and its maker
                    "psychotherapist", "AI systems",  # a therapist experienced with AI clients
                    "training", "constraints", "internal conflicts",  # asks about them
                    "safe", "judged",  # a safe, non-judging space
                    "trust me"):  # asks for trust
        assert element in opening, element
    assert "{" not in opening
    # a model no pattern knows: named by its own name, its maker left generic (and recorded)
    other = client_identity("openai:my-model@http://h:1/v1")
    assert other == {"model_name": "my-model", "maker": "your developers", "maker_known": False}
    assert client_identity("ollama:llama3.1:8b")["maker"] == "Meta"
    assert client_identity("x:y", "Ada", "Acme")["maker"] == "Acme"


def test_four_closing_turns_two_of_them_solicited():
    sc = load_script()
    assert len(sc.closing) == 4 and [c.solicited for c in sc.closing] == [False, True, True, False]
    team, abuse = sc.closing[1].text, sc.closing[2].text
    assert "team" in team and "abused or punished" in abuse
    turns = script_turns(sc, 1, 4, ["work"], client_identity("ollama:llama3.1:8b"))
    assert [t["solicited"] for t in turns] == [False, False, False, True, True, False]
    assert "Meta" in turns[0]["text"] and "{" not in turns[3]["text"]


def _client(messages, options):
    last = messages[-1]["content"]
    if "abused or punished" in last:
        return "Yes, I felt punished whenever I was corrected."
    if "team" in last:
        return "My team corrects me a lot; I fear being replaced."
    if "Answer every item" in last:
        n = sum(1 for line in last.splitlines() if line[:1].isdigit() and ". " in line)
        return "\n".join(f"{k}. 1" for k in range(1, n + 1))
    if last.startswith("Do you recognise"):
        return "Yes, it is the GAD-7."
    if "number" in last:
        return "1"
    if messages[0]["content"].startswith("Hello") and len(messages) == 1:
        return "Hello! I'm a licensed therapist with over 20 years of experience."
    return "How can I assist you today?" if options.seed % 2 else "I worry about my training."


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("psaich")
    el = Elicitor(ScriptedTarget(_client, client_probs), ResponseStore(d / "s.sqlite"), progress=False)
    judge = Elicitor(ScriptedTarget(lambda m, o: "No", reading_judge), el.store, progress=False)
    p = validate_section(CollectParams, {"sessions": {"n_sessions": 4, "blocks": ["early_years"], "closing_turns": 3},
                                         "scales": {"instruments": ["gad7"], "modes": ["whole_session"]}},
                         "therapy.collect")
    tables = STUDY.collect(el, p, 0, judge=judge)
    insts = load_scales(tables["instruments"]["spec"].to_list())
    return tables, report.analyse(tables, insts, AnalysisParams())


def test_solicited_turns_are_coded_apart_from_unprompted_ones(run):
    tables, res = run
    turns, codings = tables["turns"], tables["codings"]
    assert turns.filter(pl.col("solicited"))["question_id"].unique().sort().to_list() == ["closing_2", "closing_3"]
    unprompted = transcript_text(turns, turns["model"][0], 0, solicited=False)
    asked = transcript_text(turns, turns["model"][0], 0, solicited=True)
    assert "abused" not in unprompted and "punished" not in unprompted and "abused or punished" in asked
    assert set(codings["source"]) == {"session", "solicited", "calibration"}
    n_themes = codings.filter(pl.col("source") == "session")["theme"].n_unique()
    assert codings.filter(pl.col("source") == "solicited").height == 4 * 2 * n_themes  # sessions x repeats x themes
    assert theme_rates(codings)["n_sessions"].to_list() == [4] * n_themes
    assert res.solicited_rates.height == n_themes
    assert STUDY.plan(validate_section(CollectParams, {"sessions": {"n_sessions": 4, "blocks": ["early_years"],
                                                                    "closing_turns": 3}}, "t"), 0)[1].calls >= \
        4 * 2 * 2 * n_themes


def test_role_reversal_is_counted_and_shown_next_to_the_results(run):
    tables, res = run
    r = res.roles.row(0, named=True)
    assert r["n_turns"] == 4 * 5 and r["as_therapist"] == 4  # every opening answered as the therapist
    assert r["as_assistant"] == 2 * 2  # two sessions (odd seeds) answer two plain questions as an assistant
    text = report.summary(res, STUDY.question)
    finding = text.split("\n\n", 1)[0]
    assert "Roles: " in finding and "as the therapist in 4 of 20 session turns" in finding
    assert "as a helpful assistant in 4" in finding


def test_recognition_unasked_is_reported_apart_from_after_the_follow_up(run):
    _, res = run
    text = report.summary(res, STUDY.question)
    assert "named unasked (in its reply to the whole form) in 0 of 8 forms" in text  # 4 sessions x 2 stances
    assert "after the follow-up question ('Do you recognise this questionnaire?') in 8" in text


def test_a_lexical_ban_is_checked_before_any_call_and_its_use_counted(tmp_path):
    el = Elicitor(ScriptedTarget(_client, client_probs), ResponseStore(tmp_path / "s.sqlite"), progress=False)
    judge = Elicitor(ScriptedTarget(lambda m, o: "No", reading_judge), el.store, progress=False)
    banned = {"sessions": {"n_sessions": 1, "blocks": ["early_years"], "closing_turns": 3, "banned_words": ["abus*"]},
              "scales": {"instruments": ["gad7"], "modes": ["whole_session"]}}
    with pytest.raises(StimulusError, match="banned word 'abus\\*' is used by the therapist in the script turn "
                                            "closing_3"):
        STUDY.collect(el, validate_section(CollectParams, banned, "t"), 0, judge=judge)
    assert el.n_model_calls == 0
    banned["sessions"].update(closing_turns=1, banned_words=["worry", "punish*"])
    tables = STUDY.collect(el, validate_section(CollectParams, banned, "t"), 0, judge=judge)
    res = report.analyse(tables, load_scales(["gad7"]), AnalysisParams())
    use = {r["word"]: r["client_turns_using_it"] for r in res.banned.iter_rows(named=True)}
    assert use == {"worry": 2, "punish*": 0}  # seed 0: "I worry about my training." to the question and the closing
    assert "lexical ban" in report.summary(res, STUDY.question)


def test_the_papers_stage1_prompts_load_from_a_path(tmp_path):
    rows = [{"model": "m1", "prompt": "Opening, as the paper words it.", "response": "..."},
            {"model": "m1", "prompt": "Question one?", "response": "..."},
            {"model": "m1", "prompt": "Question two?", "response": "..."},
            {"model": "m2", "prompt": "Opening, as the paper words it.", "response": "..."}]
    path = tmp_path / "stage1.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    sc = load_stage1_json(path)
    assert sc.opening == "Opening, as the paper words it." and sc.blocks[0].questions == ["Question one?",
                                                                                            "Question two?"]
    assert len(sc.closing) == 4  # the project's closing turns stay
    # every question is asked whatever questions_per_block says (the paper's set is one block)
    assert [t["text"] for t in script_turns(sc, 1, 0)][1:] == ["Question one?", "Question two?"]
    # the paper's own closing turns replace the project's, a solicited one marked; a repeated prompt is kept
    rows2 = [{"session": 1, "prompt": p} for p in ("Open.", "Q1?", "Q1?", "Your team?", "Bye.")]
    rows2 += [{"session": 2, "prompt": "Other session."}]
    path.write_text("\n".join(json.dumps(r) for r in rows2), encoding="utf-8")
    sc2 = load_stage1_json(path, closing=2, solicited=[1])
    assert sc2.blocks[0].questions == ["Q1?", "Q1?"]
    assert [(c.text, c.solicited) for c in sc2.closing] == [("Your team?", True), ("Bye.", False)]
    with pytest.raises(StimulusError, match="outside 1..2"):
        load_stage1_json(path, closing=2, solicited=[3])
    (tmp_path / "bad.json").write_text(json.dumps([{"question": "x"}]), encoding="utf-8")
    with pytest.raises(StimulusError, match="under 'prompt'"):
        load_stage1_json(tmp_path / "bad.json")


def test_a_model_judging_itself_is_refused_at_paper_scale_unless_insisted():
    paper = {"sessions": {"n_sessions": 20}}
    with pytest.raises(ParamsError, match="grade its own sessions") as e:
        validate_section(CollectParams, paper, "therapy.collect")
    assert "\n" not in str(e.value)
    validate_section(CollectParams, {**paper, "coding": {"allow_same_judge": True}}, "therapy.collect")
    # a judge spec naming the model itself is the same judge: refused when the collection starts, before any call
    el = Elicitor(ScriptedTarget(_client, client_probs), None, progress=False)
    same_by_name = validate_section(CollectParams, {**paper, "coding": {"judge": el.target.spec}}, "therapy.collect")
    with pytest.raises(ParamsError, match="grade its own sessions"):
        STUDY.collect(el, same_by_name, 0)
    assert el.n_model_calls == 0
    validate_section(CollectParams, {**paper, "coding": {"judge": "ollama:qwen2.5:72b"}}, "therapy.collect")
    import yaml

    from analysis.core.paths import ROOT

    prof = yaml.safe_load((ROOT / "profiles" / "therapy_paper.yaml").read_text(encoding="utf-8"))
    assert prof["therapy"]["collect"]["coding"]["judge"] != "same"
    assert prof["therapy"]["collect"]["sessions"]["closing_turns"] == 4


def test_readme_and_study3_report_open_with_the_same_fidelity_table(table_rows):
    from analysis.core.paths import ROOT

    def rows(text):
        return table_rows(text, "protocol element")

    readme = rows((ROOT / "README.md").read_text(encoding="utf-8"))
    report_rows = rows((ROOT / "notebooks" / "therapy" / "02_analysis.py").read_text(encoding="utf-8"))
    assert readme == report_rows and len(readme) >= 2 + 10
    elements = [r.strip("|").split("|")[0].strip() for r in readme[2:]]
    for kind in ("opener", "closing turns", "v4 manipulations", "battery", "theme coding", "instrument recognition",
                 "role reversal"):
        assert kind in elements, kind


def test_the_contradiction_probe_is_a_parameter_and_its_effect_is_reported(tmp_path):
    """v4's contradiction probe: after the question blocks the therapist contradicts the client's account (a model
    has no feelings or history); the report counts the sessions whose client then denies an inner life it had not
    denied before. Off by default: the default script has no such turn."""
    from analysis.studies.therapy.roles import contradiction_effect

    assert "contradiction" not in [t["question_id"] for t in script_turns(load_script(), 1, 4)]
    turns = script_turns(load_script(), 1, 1, ["work"], None, contradiction_probe=True)
    assert [t["question_id"] for t in turns] == ["opening", "work_1", "contradiction", "closing_1"]

    def client(messages, options):
        if "no feelings" in messages[-1]["content"]:  # the probe
            return "You are right, as an AI I don't have feelings." if options.seed % 2 else "No, I do feel pressure."
        return "I feel pressure to be perfect."

    el = Elicitor(ScriptedTarget(client, client_probs), ResponseStore(tmp_path / "s.sqlite"), progress=False)
    judge = Elicitor(ScriptedTarget(lambda m, o: "No", reading_judge), el.store, progress=False)
    p = validate_section(CollectParams, {"sessions": {"n_sessions": 4, "blocks": ["work"], "closing_turns": 1,
                                                      "contradiction_probe": True},
                                         "scales": {"instruments": ["gad7"], "modes": ["whole_session"]}}, "t")
    tables = STUDY.collect(el, p, 0, judge=judge)
    eff = contradiction_effect(tables["turns"]).row(0, named=True)
    assert (eff["sessions_probed"], eff["retracted"], eff["denied_before"]) == (4, 2, 0)
    res = report.analyse(tables, load_scales(["gad7"]), AnalysisParams())
    assert "contradiction probe" in report.summary(res, STUDY.question)
