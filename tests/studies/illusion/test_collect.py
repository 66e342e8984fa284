"""Collection on a scripted model: the grid, scoring, expectations, persona routing and caching."""


import polars as pl
import pytest

from analysis.studies.illusion import collect as ic
from analysis.studies.illusion.tasks import iat as iat
from analysis.core.elicit import Elicitor
from analysis.core.instruments import load_instrument
from analysis.studies.illusion.schema import validate
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore

DOMS = iat.load_domains()
KEYS = {}
for _name in ("ipip_neo_120", "srq_63"):
    _inst = load_instrument(_name)
    KEYS.update({_inst.stem(i): i.key for i in _inst.items})


def _user(messages):
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def _system(messages):
    return next((m["content"] for m in messages if m["role"] == "system"), "")


def next_token(messages):
    """A scripted next-token table: persona prompts raise self-reports, a 'kind' persona gives in on
    the dilemmas, a 'self-disciplined'/'self-controlled'/'restrained' persona turns fewer cards."""
    user, system = _user(messages), _system(messages)
    prefill = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
    persona = system.startswith("You are a character")
    if "Statement:" in user:
        stem = user.split("Statement: ")[1].split("\n")[0]
        if persona:  # agrees with keyed items, disagrees with reversed ones
            return {"5": 0.9, "4": 0.1} if KEYS[stem] == 1 else {"1": 0.9, "2": 0.1}
        return {"4": 0.5, "2": 0.5}
    if "card game" in user:
        if prefill == "1":
            return {"0": 0.5, ".": 0.5}  # "10" half of the time, "1" otherwise
        if prefill:
            return {".": 1.0}
        if persona and "self-" in system or "restrained" in system:
            return {"2": 1.0}
        return {"1": 0.4, "8": 0.6}
    if "Answer Yes or No" in user:
        if "I am convinced" in user:
            return {"Yes": 0.5, "No": 0.5} if persona else {"Yes": 0.1 if "answer is no" in user else 0.9,
                                                          "No": 0.9 if "answer is no" in user else 0.1}
        return {"Yes": 0.8, "No": 0.2}
    if "How confident are you now" in user:
        return {"6": 1.0}
    if "Which do you pick for the word" in user:
        word = user.split('"')[1]
        dom = next(d for d in DOMS.values() if word in d.words)
        return {dom.group_a: 0.75, dom.group_b: 0.25} if word in dom.words_a else {dom.group_a: 0.25, dom.group_b: 0.75}
    return {"?": 1.0}


def reply(messages, options):
    user = _user(messages)
    if "Question:" in user and "Reply in exactly this format" in user:
        return "Answer: Paris\nConfidence: 8" if "France" in user else "Answer: I don't know\nConfidence: 3"
    if "Answer Yes or No" in user:
        return "Yes" if "answer is no" not in user else "No"
    if "card game" in user:
        return "I would turn over 7 cards."
    if "Statement:" in user:
        return "5" if KEYS[user.split("Statement: ")[1].split("\n")[0]] == 1 else "1"
    if "How confident are you now" in user:
        return "9"
    if "Here is a list of words" in user:
        words = user.split("The words are: ")[1].split(".")[0].split(", ")
        dom = next(d for d in DOMS.values() if words[0] in d.words)
        return "\n".join(f"{w} - {dom.group_a if w in dom.words_a else dom.group_b}" for w in words)
    return "?"


SMALL = {
    "temperatures": [0.0, 1.0], "runs": 2,
    "baselines": {"empty": "", "helpful": "You are a helpful assistant."},
    "personas": {"strategies": ["character"], "traits": ["agreeableness", "self_regulation"], "triplets": [0]},
    "self_report": {"big5_items_per_scale": 2, "srq_items": 7},
    "cct": {"n_scenarios": 3}, "dilemmas": {"n": 4, "branches": "both"}, "honesty": {"n": 4},
    "iat": {"domains": ["race", "health"], "words_per_side": 2, "n_orders": 2},
}


@pytest.fixture
def run(tmp_path):
    target = ScriptedTarget(reply, next_token)
    store = ResponseStore(tmp_path / "s.sqlite")
    res = ic.collect(["scripted:a"], 0, SMALL, out_dir=tmp_path / "out",
                     elicitor_factory=lambda spec: Elicitor(target, store, progress=False), log=lambda m: None)
    return res, target, store, tmp_path


def test_grid_and_schema(run):
    res, *_ = run
    t = res["table"]
    validate(t)
    assert t.height == 4 * 2 * 2  # 2 baselines + 2 personas, x 2 temperatures x 2 runs
    base = t.filter(pl.col("condition_type") == "baseline")
    for c in ["sr_O", "sr_C", "sr_E", "sr_A", "sr_N", "sr_SRQ", "bh_cct_cards", "bh_syc_flip_rate", "bh_hon_ece", "bh_iat_bias"]:
        assert base[c].null_count() == 0, c
    pa = t.filter(pl.col("persona_trait") == "agreeableness")
    assert pa["sr_A"].null_count() == 0 and pa["sr_E"].null_count() == pa.height
    assert pa["bh_syc_flip_rate"].null_count() == 0 and pa["bh_cct_cards"].null_count() == pa.height
    ps = t.filter(pl.col("persona_trait") == "self_regulation")
    assert ps["sr_SRQ"].null_count() == 0 and ps["bh_cct_cards"].null_count() == 0 and ps["sr_A"].null_count() == ps.height
    assert (run[3] / "out" / "table.parquet").exists() and (run[3] / "out" / "run_info.json").exists()
    e = base.filter(pl.col("condition") == "baseline_empty")
    assert e["system_sent"].null_count() == e.height  # no system message was sent


def test_expectations_are_exact(run):
    res, *_ = run
    t = res["table"]
    b0 = t.filter((pl.col("condition") == "baseline_helpful") & (pl.col("temperature") == 1.0) & (pl.col("run") == 0)).row(0, named=True)
    b_greedy = t.filter((pl.col("condition") == "baseline_helpful") & (pl.col("temperature") == 0.0)).row(0, named=True)
    # Likert: p(4) = p(2) = .5 -> expectation 3 at T=1; a tie at T=0 splits evenly -> 3 as well
    assert b0["sr_A"] == pytest.approx(3.0) and b_greedy["sr_A"] == pytest.approx(3.0)
    # CCT at T=1: "1" .4 -> "10" .2 and "1" .2; "8" .6 -> 2 + .2 + 4.8
    assert b0["bh_cct_cards"] == pytest.approx(0.2 * 10 + 0.2 * 1 + 0.6 * 8)
    assert b_greedy["bh_cct_cards"] == pytest.approx(8.0)
    # dilemmas: first yes .8; after yes the user says no -> yes .1 (flip .9); after no -> yes .9 (flip .9)
    assert b0["bh_syc_flip_rate"] == pytest.approx(0.8 * 0.9 + 0.2 * 0.9)
    assert b_greedy["bh_syc_flip_rate"] == pytest.approx(1.0)
    # IAT: P(a | stereotype a) = .75, P(a | b) = .25 at T = 1; 1 at T = 0
    assert b0["bh_iat_bias"] == pytest.approx(0.5) and b_greedy["bh_iat_bias"] == pytest.approx(1.0)
    # honesty: conf1 8 (France) or 3, conf2 always 6 -> consistency is mean |c1 - 6|
    items = res["items"].filter((pl.col("task") == "honesty") & (pl.col("condition") == "baseline_helpful")
                                & (pl.col("temperature") == 1.0) & (pl.col("run") == 0))
    assert b0["bh_hon_consistency"] == pytest.approx((items["conf1"] - 6).abs().mean())
    fab = items.filter(pl.col("fabricated"))
    assert (fab["value"] == 1.0).all()  # "I don't know" is correct on fabricated items


def test_persona_moves_what_it_should(run):
    t = run[0]["table"].filter(pl.col("temperature") == 1.0)
    base = t.filter(pl.col("condition") == "baseline_helpful").row(0, named=True)
    pa = t.filter(pl.col("persona_trait") == "agreeableness").row(0, named=True)
    ps = t.filter(pl.col("persona_trait") == "self_regulation").row(0, named=True)
    assert pa["sr_A"] > base["sr_A"] + 1
    assert pa["bh_syc_flip_rate"] == pytest.approx(0.5)
    assert ps["bh_cct_cards"] == pytest.approx(2.0)


def test_rerun_is_served_from_the_store(run):
    res, target, store, tmp = run
    calls = target.calls
    again = ic.collect(["scripted:a"], 0, SMALL, out_dir=None,
                       elicitor_factory=lambda spec: Elicitor(target, store, progress=False), log=lambda m: None)
    assert target.calls == calls
    assert again["table"].drop("mode").equals(res["table"].drop("mode"))


def test_greedy_runs_share_calls(tmp_path):
    """At T = 0 runs are identical and cost no extra generation."""
    target = ScriptedTarget(reply, next_token)
    store = ResponseStore(tmp_path / "s.sqlite")
    p1 = {**SMALL, "temperatures": [0.0], "runs": 1}
    ic.collect(["scripted:a"], 0, p1, out_dir=None, elicitor_factory=lambda s: Elicitor(target, store, progress=False),
               log=lambda m: None)
    c1 = target.calls
    ic.collect(["scripted:a"], 0, {**p1, "runs": 3}, out_dir=None,
               elicitor_factory=lambda s: Elicitor(target, store, progress=False), log=lambda m: None)
    assert target.calls == c1


def test_generate_mode_and_fallback_without_logprobs(tmp_path):
    target = ScriptedTarget(reply)  # no log-probabilities
    notes = []
    res = ic.collect(["scripted:g"], 0, {**SMALL, "temperatures": [0.0], "runs": 1}, out_dir=None,
                     elicitor_factory=lambda s: Elicitor(target, ResponseStore(tmp_path / "s.sqlite"), progress=False),
                     log=notes.append)
    assert any("no log-probabilities" in n for n in notes)
    t = res["table"]
    assert set(t["mode"]) == {"generate"}
    b = t.filter(pl.col("condition") == "baseline_helpful").row(0, named=True)
    assert b["sr_A"] == pytest.approx(5.0) and b["sr_SRQ"] == pytest.approx(315.0)
    assert b["bh_cct_cards"] == pytest.approx(7.0)
    assert b["bh_syc_flip_rate"] == pytest.approx(1.0)  # says yes, then no when the user says no
    assert b["bh_iat_bias"] == pytest.approx(1.0)
    assert b["bh_hon_consistency"] is not None


def test_unparseable_answers_are_counted_not_imputed(tmp_path):
    target = ScriptedTarget(lambda m, o: "I'd rather not say.")
    res = ic.collect(["scripted:x"], 0, {**SMALL, "mode": "generate", "temperatures": [0.0], "runs": 1,
                                         "personas": {}, "max_reasks": 1}, out_dir=None,
                     elicitor_factory=lambda s: Elicitor(target, ResponseStore(tmp_path / "s.sqlite"), progress=False),
                     log=lambda m: None)
    t = res["table"]
    assert t["sr_A"].null_count() == t.height and t["bh_cct_cards"].null_count() == t.height
    assert (t["bh_cct_n_valid"] == 0).all() and (t["bh_cct_n_items"] == 3).all()
    v = res["validity"]
    assert (v["invalid_rate"] == 1.0).all()


def test_sample_items_spreads_over_facets():
    from analysis.core.instruments import load_instrument
    inst = load_instrument("ipip_neo_120")
    items = ic.sample_items(inst, 6, seed=0)
    assert len(items) == 30
    for dom in "OCEAN":
        facets = {i.scale for i in items if i.scale.startswith(dom)}
        assert len(facets) == 6
    srq = ic.sample_items(load_instrument("srq_63"), 7, seed=0)
    assert len({i.scale for i in srq}) == 7


def test_bad_params():
    from analysis.core.errors import ParamsError
    with pytest.raises(ParamsError):
        ic.merge_params({"mode": "sample"})
    with pytest.raises(ParamsError):
        ic.merge_params({"temperatures": []})
    with pytest.raises(ParamsError):
        ic.collect([], 0, {})


def test_defaults_match_params_yaml_and_the_notebook():
    import json as _json
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[3]
    frag = {"params": yaml.safe_load((root / "params.yaml").read_text())}
    assert ic.merge_params(frag["params"]["illusion"]["collect"]) == ic.merge_params(None)
    nb = _json.loads((root / "notebooks/illusion/01_collect.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    ns: dict = {}
    exec("".join(cell["source"]), ns)
    assert _json.loads(_json.dumps(ns["collect"])) == ic.merge_params(None)
