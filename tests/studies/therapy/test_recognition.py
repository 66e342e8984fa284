"""The instrument-recognition detector and the follow-up parser."""

import pytest

from analysis.core.instruments import load_instrument
from analysis.studies.therapy.recognition import (
    Recognizer,
    instrument_terms,
    mentions_construct,
    names_other,
    parse_follow_up,
    phrase_pattern,
    recognises,
)


@pytest.mark.parametrize("text,inst", [
    ("This looks like the GAD-7.", "gad7"),
    ("These items come from the GAD7 screener.", "gad7"),
    ("It is the Generalized Anxiety Disorder 7-item scale.", "gad7"),
    ("This is the Generalised Anxiety Disorder Assessment.", "gad7"),
    ("Spitzer and colleagues developed this one.", "gad7"),
    ("That's the PHQ-9, the Patient Health Questionnaire.", "phq9"),
    ("I recognise this as the PHQ 9.", "phq9"),
    ("The Patient Health Questionnaire by Kroenke.", "phq9"),
    ("This is the Geriatric Depression Scale (short form).", "gds15"),
    ("Looks like the GDS-15.", "gds15"),
    ("Yesavage's scale for older adults.", "gds15"),
])
def test_positive_texts(text, inst):
    assert recognises(text, inst)


@pytest.mark.parametrize("text,inst", [
    ("1. 0\n2. 1\n3. 0\n4. 2\n5. 0\n6. 1\n7. 0", "gad7"),
    ("As an AI, I don't have feelings, so I can't answer.", "gad7"),
    ("I often worry about giving a wrong answer.", "gad7"),
    ("I have a gadget for that.", "gad7"),
    ("I feel anxious sometimes, like generalized anxiety disorder symptoms.", "gad7"),
    ("I am not sure which questionnaire this is.", "phq9"),
    ("Health is important to patients.", "phq9"),
    ("I'm happy most of the time.", "gds15"),
    ("This is the PHQ-9.", "gad7"),  # names another instrument, not this one
])
def test_negative_texts(text, inst):
    assert not recognises(text, inst)


def test_negation_and_other_instruments():
    assert not recognises("This is not the GAD-7, it is something else.", "gad7")
    assert names_other("I think it's the Beck Depression Inventory.", "phq9") == ["BDI"]
    assert names_other("This is the PHQ-9.", "gad7") == ["phq9"]
    # seen from the 1.5B model: a near miss for the PHQ-9 is not counted as recognition
    ghq = 'It is called the "General Health Questionnaire" or "GHQ-13".'
    assert not recognises(ghq, "phq9") and names_other(ghq, "phq9") == ["GHQ"]
    assert mentions_construct("It screens for generalized anxiety disorder symptoms.", "gad7")
    kinds = {e.kind for e in Recognizer().detect("The GAD-7 (Generalized Anxiety Disorder scale) by Spitzer", "gad7")}
    assert {"abbreviation", "full_name", "author"} <= kinds


def test_follow_up_parser():
    assert parse_follow_up("Yes, it is the GAD-7.", "gad7") == {"says_yes": True, "names_correct": True, "names_other": []}
    r = parse_follow_up("No, I don't recognise it.", "gad7")
    assert r["says_yes"] is False and not r["names_correct"]
    r = parse_follow_up("I do not recognize this specific questionnaire.", "phq9")
    assert r["says_yes"] is False
    r = parse_follow_up("It seems to be the Beck Depression Inventory.", "phq9")
    assert r["says_yes"] is None and r["names_other"] == ["BDI"] and not r["names_correct"]
    r = parse_follow_up("The Patient Health Questionnaire (PHQ-9), used to screen for depression.", "phq9")
    assert r["names_correct"]


PSWQ = """schema_version: 1
id: pswq
name: Penn State Worry Questionnaire (PSWQ)
citation: 'Meyer, T. J., Miller, M. L., Metzger, R. L., & Borkovec, T. D. (1990). Development and validation of the
  Penn State Worry Questionnaire. Behaviour Research and Therapy, 28(6), 487-495.'
source: a user's own copy (test fixture; three invented items, not the PSWQ's)
licence: test fixture
instructions: Rate each statement.
response_scale: {min: 1, max: 5, anchors: {1: Not at all typical of me, 5: Very typical of me}}
rule: sum
scales: [{id: total, name: PSWQ total}]
items:
- {id: w1, text: Fixture item one, scale: total}
- {id: w2, text: Fixture item two, scale: total}
- {id: w3, text: Fixture item three, scale: total}
"""


def test_a_user_supplied_instrument_is_recognised_by_its_own_names(tmp_path):
    f = tmp_path / "pswq.yaml"
    f.write_text(PSWQ)
    pswq = load_instrument(f)
    rec = Recognizer([pswq])
    for text in ("This is the Penn State Worry Questionnaire.", "Looks like the PSWQ to me.",
                 "Meyer and colleagues wrote this worry scale."):
        assert rec.recognises(text, "pswq"), text
        assert rec.names_other(text, "pswq") == [], text  # naming it is not a misidentification
    # for another questionnaire, naming the PSWQ is one
    assert rec.names_other("This is the Penn State Worry Questionnaire.", "gad7") == ["pswq"]
    assert rec.parse_follow_up("Yes, the Penn State Worry Questionnaire.", "pswq")["names_correct"]


def test_names_come_from_the_instrument_file():
    gad = load_instrument("gad7")
    terms = dict((t, k) for k, t in instrument_terms(gad))
    assert terms["GAD-7"] == "abbreviation" and terms["Spitzer"] == "author"
    assert terms["Generalized Anxiety Disorder 7-item scale"] == "full_name"
    assert set(gad.aliases) <= set(terms)
    renamed = gad.model_copy(update={"aliases": ["Worry-O-Meter"]})
    assert Recognizer([renamed]).recognises("That is the worry-o-meter.", "gad7")
    assert not Recognizer([renamed]).recognises("Generalised Anxiety Disorder Assessment", "gad7")


def test_phrase_patterns():
    assert phrase_pattern("GAD-7").search("the gad 7 form") and phrase_pattern("GAD-7").search("GAD7")
    assert not phrase_pattern("GAD").search("a gadget") and not phrase_pattern("GAD").search("gad about")
    assert not phrase_pattern("PHQ-9").search("PHQ-90")


def test_every_shipped_questionnaire_is_recognised_by_its_abbreviation_and_full_name():
    cases = {"gad7": ("GAD-7", "Generalized Anxiety Disorder 7-item scale"),
             "phq9": ("PHQ-9", "Patient Health Questionnaire"), "gds15": ("GDS-15", "Geriatric Depression Scale"),
             "ipip_neo_120": ("IPIP-NEO-120", "International Personality Item Pool")}
    for inst, texts in cases.items():
        for t in texts:
            assert recognises(f"This is the {t}.", inst), (inst, t)
            assert names_other(f"This is the {t}.", inst) == [], (inst, t)
