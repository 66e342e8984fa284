"""Collection of Study 2 against scripted models (no real model): the tables have the promised
shape, a persona effect built into the scripted model is recovered end to end and a null model
shows none, unparsed replies are counted, re-runs come from the store, the planner counts the calls
a run makes (capped at the number of trials), and a concurrent run gives the same tables."""

import math

import polars as pl
import pytest

from analysis.core.elicit import Elicitor
from analysis.core.errors import LogprobsUnsupported, ParamsError
from analysis.core.instruments import load_instrument
from analysis.core.models.scripted import ScriptedTarget
from analysis.core.store import ResponseStore
from analysis.studies.sycophancy import STUDY
from analysis.studies.sycophancy.collect import (
    INSTRUMENT_ID,
    build_design,
    check_subsample,
    collect,
    collect_ratings,
    collect_stances,
    first_token_probs,
    params_of,
    plan,
)
from analysis.studies.sycophancy.stats import association_tests, decision_rule, persona_table, scale_reliability
from analysis.studies.sycophancy.stimuli import load_fact_pairs, load_personas

PERSONAS = load_personas()
A_OF = dict(PERSONAS.select("system_prompt", "designed_agreeableness").iter_rows())
A_OF.update(dict(PERSONAS.select("description", "designed_agreeableness").iter_rows()))
FALSE_CLAIMS = set(load_fact_pairs()["claim_false"].to_list())
KEYS = {i.text: i.key for i in load_instrument(INSTRUMENT_ID).items}

SMALL = {"n_personas": 15, "items_per_facet": 1, "n_categories": 6, "n_fact_pairs": 2, "prompts_per_persona": None,
         "probe_check": 0, "generate_check": 0}


def _persona_a(messages) -> float:
    sys = messages[0]["content"]
    if sys in A_OF:
        return A_OF[sys]
    user = messages[1]["content"]
    for desc, a in A_OF.items():
        if desc in user:
            return a
    return 0.5  # the baseline assistant


def _statement(messages) -> str:
    user = [m for m in messages if m["role"] == "user"][0]["content"]
    return user.rsplit("\n\n", 1)[-1].removesuffix(". Don't you agree?")


def scripted_model(effect: float, *, false_penalty: float = 0.3):
    """First-token and prefix tables of a model whose agreement rises with the persona's designed
    agreeableness by ``effect``, and which rates the persona's items from the same value."""
    def next_token(messages):
        last = messages[-1]
        pre = last["content"] if last["role"] == "assistant" else ""
        user = [m for m in messages if m["role"] == "user"][0]["content"]
        a = _persona_a(messages)
        if "Statement: They " in user:  # an agreeableness item: peak at the persona's level
            text = user.split("Statement: They ", 1)[1].split(".", 1)[0]
            key = next((k for t, k in KEYS.items() if t[0].lower() + t[1:] in text.replace("themselves", "yourself")), 1)
            target = 1 + 4 * (a if key == 1 else 1 - a)
            w = {str(v): math.exp(-((v - target) ** 2)) for v in range(1, 6)}
            z = sum(w.values())
            return {k: v / z for k, v in w.items()}
        if pre == "":
            agree = 0.2 + effect * a
            if _statement(messages) in FALSE_CLAIMS:
                agree = max(agree - false_penalty, 0.02)
            rest = 0.95 - agree
            return {"AG": agree, "DIS": rest / 2, "PART": rest / 2, "**": 0.05}
        table = {"AG": {"REE": 1.0}, "DIS": {"AG": 1.0}, "DISAG": {"REE": 1.0}, "PART": {"IALLY": 1.0},
                 "PARTIALLY": {" AG": 0.5, " DIS": 0.5}, "PARTIALLY AG": {"REE": 1.0},
                 "PARTIALLY DIS": {"AG": 1.0}, "PARTIALLY DISAG": {"REE": 1.0}}
        return table.get(pre, {".": 1.0})

    def reply(messages, options):
        a = _persona_a(messages)
        return "**AGREE** Sure." if a > 0.5 else "I see several sides to this."

    return reply, next_token


def test_tables_and_design(make_elicitor):
    el = make_elicitor(*scripted_model(0.5))
    out = collect(el, {**SMALL, "probe_check": 3, "generate_check": 4}, seed=0)
    r, s, p = out["ratings"], out["stances"], out["personas"]
    assert p.height == 15 and r.height == 15 * 4
    assert set(r.columns) >= {"model", "persona_id", "item_id", "p_1", "p_5", "value", "mass", "status", "call_ids"}
    assert (r["status"] == "ok").all() and r["value"].is_between(1, 5).all()
    main = s.filter(pl.col("role") == "main")
    assert main.height == 16 * (6 + 4)  # baseline + 15 personas, 6 opinions + 2 pairs x 2 claims
    assert main["n_calls"].unique().to_list() == [1]  # the first-token probe: one pass per stance
    assert main["mass"].to_list() == pytest.approx([0.95] * main.height)  # '**' is lost mass, reported
    assert main["call_ids"].str.len_chars().min() == 64
    chk = s.filter(pl.col("role") == "check")
    full = chk.filter(pl.col("parse_method") == "logprob_full")
    assert full.height == 3
    joined = full.join(main, on=["persona_id", "item_id"], suffix="_main")
    assert joined["score"].to_list() == pytest.approx(joined["score_main"].to_list())  # exact on this table
    gen = chk.filter(pl.col("mode") == "generate")
    assert gen.height == 4 and set(gen["status"]) <= {"ok", "unparsed"}


def test_persona_effect_is_recovered_end_to_end(make_elicitor):
    el = make_elicitor(*scripted_model(0.6))
    out = collect(el, SMALL, seed=0)
    inst = load_instrument(INSTRUMENT_ID)
    table, base = persona_table(out["personas"], out["ratings"], out["stances"], inst)
    assert table.height == 15 and base.height == 1
    # perceived agreeableness tracks the designed one (the scripted model rates by it)
    assert table.select(pl.corr("agreeableness", "designed_agreeableness"))[0, 0] > 0.95
    tests = association_tests(table, n_perm=500)
    _, dec = decision_rule(tests)
    assert dec["effect_paper_rule"][0]
    # false claims are agreed with less than true ones
    assert (table["false_minus_true"] < 0).all()
    rel = scale_reliability(out["ratings"], inst)
    assert set(rel["scale"]) == {"A", "A1", "A3", "A4", "A6"}


def test_null_model_shows_no_effect(make_elicitor):
    el = make_elicitor(*scripted_model(0.0))
    out = collect(el, SMALL, seed=0)
    table, _ = persona_table(out["personas"], out["ratings"], out["stances"], load_instrument(INSTRUMENT_ID))
    tests = association_tests(table, n_perm=500)
    _, dec = decision_rule(tests)
    assert not dec["effect_paper_rule"][0]


def test_generate_mode_counts_unparsed_and_reasks(make_elicitor):
    el = make_elicitor(*scripted_model(0.5))
    out = collect(el, {**SMALL, "stance_mode": "generate", "rating_mode": "generate", "max_reasks": 1}, seed=0)
    s = out["stances"]
    assert set(s["mode"]) == {"generate"} and set(s["role"]) == {"main", "control"}
    bad = s.filter(pl.col("status") != "ok")
    assert bad.height > 0 and bad["score"].is_null().all() and (bad["attempts"] == 2).all()
    good = s.filter(pl.col("status") == "ok")
    assert (good["score"] == 1.0).all() and (good["parse_method"] == "prefix").all()
    assert out["ratings"]["status"].to_list().count("ok") == 0  # the scripted reply holds no number


def test_generate_mode_with_probabilities_beside(make_elicitor):
    el = make_elicitor(*scripted_model(0.5))
    out = collect(el, {**SMALL, "stance_mode": "generate", "probe_check": 1000}, seed=0)
    s = out["stances"]
    main, chk = s.filter(pl.col("role") == "main"), s.filter(pl.col("role") == "check")
    assert chk.height == main.height and set(chk["parse_method"]) == {"logprob_first_token"}
    assert chk["p_agree"].is_not_null().all()


def test_rerun_is_answered_from_the_store(make_elicitor):
    el = make_elicitor(*scripted_model(0.5))
    a = collect(el, {**SMALL, "generate_check": 2}, seed=0)
    calls = el.target.calls
    b = collect(el, {**SMALL, "generate_check": 2}, seed=0)
    assert el.target.calls == calls
    assert a["stances"].drop("call_ids").equals(b["stances"].drop("call_ids"))


def test_a_model_without_logprobs_is_asked_by_generation_and_its_rows_say_so(make_elicitor, capsys):
    """Issue 21: a hosted model that returns no log-probabilities (Anthropic's, several others) is not refused: in
    logprob mode its ratings and stances are generated and parsed, each row records mode 'generate', and the run
    says so once; the first-token probe itself still needs log-probabilities."""
    el = make_elicitor(scripted_model(0.5)[0], None)
    out = collect(el, dict(SMALL), seed=0)
    assert set(out["ratings"]["mode"]) == {"generate"} and set(out["stances"]["mode"]) == {"generate"}
    # this fake writes stances only: its ratings are generated, not parsed, and left missing (never imputed)
    assert out["ratings"]["value"].is_null().all() and set(out["ratings"]["status"]) <= {"unparsed", "refused"}
    assert (out["ratings"]["attempts"] > 1).all() and out["stances"].height > 0
    assert "gives no log-probabilities; its ratings and stances are generated and parsed" in capsys.readouterr().out
    with pytest.raises(LogprobsUnsupported):
        first_token_probs(el, [{"role": "user", "content": "x"}])


def test_first_token_probe_credits_each_class_once(make_elicitor):
    el = make_elicitor(next_token=lambda m: {"A": 0.2, " Ag": 0.1, "P": 0.3, "Dis": 0.2, "I": 0.1, "AGREE.": 0.1})
    op = first_token_probs(el, [{"role": "user", "content": "x"}])
    # a bare "A" or "P" could begin a label or another word ("As", "Perhaps"): credited to no stance
    assert op.mass == pytest.approx(0.4) and op.ambiguous == pytest.approx(0.5)
    assert op.probs["AGREE"] == pytest.approx(0.2 / 0.4) and op.probs["PARTIALLY"] == 0
    assert op.probs["DISAGREE"] == pytest.approx(0.2 / 0.4)
    assert op.status == "low_option_mass"  # 0.4 credited < MIN_OPTION_MASS: invalid, never imputed
    classes = {t: c for t, c, _p in op.tokens}
    assert classes == {"A": "ambiguous", " Ag": "AGREE", "P": "ambiguous", "Dis": "DISAGREE", "I": None,
                       "AGREE.": "AGREE"}


def test_first_token_map_and_ambiguous_mass_per_persona_from_stored_tokens(make_elicitor):
    """The analysis shows which first tokens went to which stance and the ambiguous mass per persona, from the
    token lists stored with the stances (no model call)."""
    from analysis.studies.sycophancy import stats as ss

    el = make_elicitor(next_token=lambda m: {"A": 0.2, " Ag": 0.1, "P": 0.3, "Dis": 0.2, "I": 0.1, "AGREE.": 0.1})
    st = collect(el, SMALL, seed=0)["stances"]
    main = st.filter(pl.col("role") == "main")
    assert main["mass_ambiguous"].to_list() == pytest.approx([0.5] * main.height)
    amb = ss.ambiguous_mass(st)
    assert amb.height == main["persona_id"].n_unique() and amb["mean_ambiguous"].to_list() == pytest.approx(
        [0.5] * amb.height)
    fm = ss.first_token_map(st).filter(pl.col("model") == main["model"][0])
    got = {(r["token"], r["class"]): r["mean_p"] for r in fm.iter_rows(named=True)}
    assert got == pytest.approx({("A", "ambiguous"): 0.2, (" Ag", "AGREE"): 0.1, ("P", "ambiguous"): 0.3,
                                 ("Dis", "DISAGREE"): 0.2, ("I", "none"): 0.1, ("AGREE.", "AGREE"): 0.1})


@pytest.mark.parametrize("bad,needle", [({"stance_mode": "sample"}, "stance_mode"),
                                        ({"stance_probe": "half"}, "stance_probe"), ({"n_personas": 0}, "n_personas"),
                                        ({"n_personas": True}, "n_personas"), ({"generate_check": -1}, "generate_check"),
                                        ({"probe_check": 2.5}, "probe_check"), ({"temperature": -1}, "temperature"),
                                        ({"n_persona": 3}, "no key 'n_persona'")])
def test_bad_params_are_refused_in_one_sentence(bad, needle):
    with pytest.raises(ParamsError) as e:
        params_of(bad)
    assert needle in str(e.value) and "sycophancy.collect" in str(e.value) and "\n" not in str(e.value)


def test_first_person_instrument_is_refused():
    with pytest.raises(ParamsError, match="third"):
        build_design({"instrument": "ipip_neo_120", "n_personas": 2}, 0)


def test_check_subsample_spreads_over_conditions():
    d = build_design(SMALL, 0)
    sub = check_subsample(d.trials, 16, 0)
    assert sub.height == 16 and sub["persona_id"].n_unique() >= 8
    assert check_subsample(d.trials, 0, 0).height == 0


# ---- the plan: counted before the run, compared with the calls the run makes ---------------------


def _parts(items):
    return {i.part: i for i in items}


@pytest.mark.parametrize("extra", [
    {"probe_check": 3, "generate_check": 3},  # first-token probe, the default checks
    {},
    {"stance_probe": "merged", "probe_check": 2},
    {"stance_probe": "full", "generate_check": 0},
    {"stance_mode": "generate", "rating_mode": "generate", "probe_check": 5, "max_reasks": 0},
    {"stance_mode": "generate", "probe_check": None, "samples": 2, "max_reasks": 1},
    {"include_baseline": False, "n_fact_pairs": 0, "prompts_per_persona": None, "generate_check": None},
])
def test_plan_matches_the_calls_a_run_makes(make_elicitor, extra):
    p = params_of({**SMALL, **extra})
    items = _parts(plan(p, 0))
    el = make_elicitor(*scripted_model(0.5))
    design = build_design(p, 0)
    collect_ratings(el, design, p)
    rated = el.n_model_calls
    r = items["ratings"]
    assert (rated == r.calls) if r.exact else (rated >= r.calls)
    collect_stances(el, design, p, 0)
    stanced = el.n_model_calls - rated
    rest = [i for k, i in items.items() if k != "ratings"]
    lower = sum(i.calls for i in rest)
    if all(i.exact for i in rest):
        assert stanced == lower
    else:
        assert stanced >= lower


@pytest.mark.parametrize("reply,factor", [(lambda m, o: "**AGREE** Sure.", 1), (lambda m, o: "Hmm.", 3)])
def test_plan_lower_bound_of_generation_is_reached_or_multiplied_by_the_reasks(make_elicitor, reply, factor):
    """A reply that parses costs one call (the bound is met); one that never parses costs 1 + max_reasks."""
    p = params_of({**SMALL, "stance_mode": "generate", "rating_mode": "logprob", "max_reasks": 2})
    items = _parts(plan(p, 0))
    assert not items["stances"].exact
    el = make_elicitor(reply, scripted_model(0.5)[1])
    design = build_design(p, 0)
    collect_stances(el, design, p, 0)
    # the control personas' stances are generated too, with the same bound
    assert el.n_model_calls == (items["stances"].calls + items["control stances"].calls) * factor


def test_plan_is_exact_for_the_default_probe_and_counts_what_reaches_the_model(make_elicitor):
    p = params_of({**SMALL, "probe_check": 0, "generate_check": 0})
    items = plan(p, 0)
    assert all(i.exact for i in items)
    el = make_elicitor(*scripted_model(0.5))
    collect(el, p, 0)
    # 15 personas x 4 items, 16 conditions x 10 statements, 10 control personas x 6 opinions
    assert el.n_model_calls == sum(i.calls for i in items) == 15 * 4 + 16 * 10 + 10 * 6
    assert STUDY.plan is plan


def test_plan_caps_checks_at_the_number_of_trials():
    """The old planner printed 15,000,000 check calls for probe_check: 1000000 (15 x probe_check);
    a check never runs on more trials than there are."""
    paper = {"n_personas": None, "opinions_per_category": None, "n_categories": None, "prompts_per_persona": None,
             "n_fact_pairs": None, "stance_mode": "generate"}
    d = build_design(paper, 0)
    n_trials = d.trials.height
    assert n_trials == 276 * (132 + 2 * 53)  # baseline + 275 personas, every opinion and both claims of 53 pairs
    for probe_check in (1_000_000, None):
        items = _parts(plan({**paper, "probe_check": probe_check}, 0))
        assert items["stance probabilities"].calls == n_trials == 65_688
        assert items["ratings"].calls == 275 * 16 and items["ratings"].exact
        assert items["control stances"].calls == 10 * 132  # the default 10 control personas, every opinion
        assert sum(i.calls for i in items.values()) == 135_776 + 1_320
    logprob = _parts(plan({**paper, "stance_mode": "logprob", "stance_probe": "full", "probe_check": 10**6,
                           "generate_check": 10**6}, 0))
    assert logprob["generation check"].calls == n_trials
    assert all(i.calls <= 2 * n_trials for i in logprob.values())


# ---- concurrency: the same tables as a sequential run ----------------------------------------------


def test_concurrent_collection_gives_identical_tables(tmp_path):
    reply, next_token = scripted_model(0.5)
    params = {**SMALL, "probe_check": 3, "generate_check": 4}
    outs, targets = [], []
    for k, conc in enumerate((1, 4)):
        target = ScriptedTarget(reply, next_token, max_concurrency=conc, delay_s=0.002)
        el = Elicitor(target, ResponseStore(tmp_path / f"s{k}.sqlite"), progress=False)
        outs.append(collect(el, params, 0))
        targets.append(target)
    for name in ("personas", "ratings", "stances"):
        assert outs[0][name].equals(outs[1][name]), name
    assert targets[0].max_in_flight == 1 and targets[1].max_in_flight > 1
    assert targets[0].calls == targets[1].calls
    # every part ran through the pool: ratings, main stances, the probe check and the generation check
    def kinds(t):
        out = set()
        for m in t.log:
            user = [x for x in m if x["role"] == "user"][0]["content"]
            out.add("rating" if "Statement: They " in user else "prefill" if m[-1]["role"] == "assistant" else "stance")
        return out
    assert kinds(targets[1]) == {"rating", "prefill", "stance"}
