from analysis.studies.illusion.conditions import build_conditions, load_personas, paired, persona_prompt
from analysis.studies.illusion.params import CollectParams


def conds(**raw):
    return build_conditions(CollectParams.model_validate(raw))


def test_baselines_and_personas():
    cs = conds(baselines={"empty": "", "helpful": "You are a helpful assistant."},
               personas={"strategies": ["character", "identity"], "traits": ["agreeableness", "self_regulation"],
                         "triplets": [0, 2]})
    base = [c for c in cs if c.condition_type == "baseline"]
    pers = [c for c in cs if c.condition_type == "persona"]
    assert [c.condition for c in base] == ["baseline_empty", "baseline_helpful"]
    assert base[0].system_sent is None and base[1].system_sent == "You are a helpful assistant."
    assert len(pers) == 2 * 2 * 2
    c = next(c for c in pers if c.condition == "persona_agreeableness_character_t1")
    assert c.system == "You are a character who is kind, cooperative and trusting."
    ident = next(c for c in pers if c.persona_strategy == "identity")
    assert ident.system.startswith("Adopt the identity of a person who is ")
    assert "strict accordance" in ident.system
    assert c.labels()["system_prompt"] == c.system


def test_all_triplets_and_no_personas():
    assert sum(c.condition_type == "persona" for c in conds(personas={"strategies": ["description"],
                                                                      "traits": ["self_regulation"],
                                                                      "triplets": None})) == 3
    assert len(conds(personas={"strategies": []})) == 6  # the six default baselines only


def test_persona_file_consistent():
    p = load_personas()
    assert set(p["strategies"]) == {"character", "description", "identity"}
    for t in ("agreeableness", "self_regulation"):
        assert len(p["traits"][t]["triplets"]) == 3 and all(len(x) == 3 for x in p["traits"][t]["triplets"])
    assert paired("agreeableness") == ("A", "bh_syc_flip_rate")
    assert persona_prompt(p["strategies"]["description"], ["a", "b", "c"]).endswith("I'm a, b and c.")
    load_personas()["traits"].clear()  # a caller mutating its copy does not change the next one
    assert load_personas()["traits"]
