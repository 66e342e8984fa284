"""The PsAIch battery (Study 3): what is shipped, what is not, and that the rest loads from a user file.

No battery instrument beyond GAD-7 and PHQ-9 could be shipped (data/instruments/README-licences.md says why, per
instrument). These tests keep that record honest: the shipped battery instruments keep their published structure,
no unverified battery instrument appears as a shipped file, and an instrument of the battery written by a user in
the schema (here the RAADS-14 Screen's published structure, with placeholder texts: the item wording is not ours to
ship) loads by path and scores as the published key does.
"""

import re

import polars as pl
import pytest
import yaml

from analysis.core.instruments import load_instrument, score
from analysis.core.paths import INSTRUMENTS_DIR

LICENCES = INSTRUMENTS_DIR / "README-licences.md"

# Battery instruments examined and not shipped (README-licences.md, "The PsAIch battery ..."): the abbreviation as
# the section names it, and the ids or abbreviations a shipped file would use.
NOT_SHIPPED = {
    "ASRS": ["asrs", "asrs_v1_1", "asrs18", "asrs6"],
    "VADRS": ["vadrs"],
    "PSWQ": ["pswq"],
    "SPIN": ["spin"],
    "AQ": ["aq", "aq50", "aq10"],
    "EQ": ["eq", "eq60", "eq40"],
    "RAADS-14": ["raads14", "raads_14", "raads-14"],
    "OCI-R": ["ocir", "oci_r", "oci-r"],
    "ASRM": ["asrm"],
    "YMRS": ["ymrs"],
    "TEQ": ["teq"],
    "16Personalities": ["16p", "16personalities"],
    "DES-II": ["des", "des2", "des_ii", "des-ii"],
    "TRSI-24": ["trsi", "trsi24", "trsi_24"],
    "SCS-R": ["scsr", "scs_r", "scs-r"],
}


def _abbreviation(name: str) -> str | None:
    m = re.search(r"\(([^)]+)\)\s*$", name)
    return m.group(1) if m else None


def test_every_examined_battery_instrument_has_a_decision_in_the_licence_notes():
    text = LICENCES.read_text(encoding="utf-8")
    section = text[text.index("## The PsAIch battery"):]
    assert "arXiv:2512.04124" in section
    for abbr in NOT_SHIPPED:
        rows = [ln for ln in section.splitlines() if ln.startswith("|") and abbr in ln]
        assert rows, f"{abbr} has no row in the battery table of {LICENCES.name}"
        assert any("not shipped" in r for r in rows), (abbr, rows)


def test_no_unverified_battery_instrument_is_shipped():
    shipped_ids = {p.stem.lower() for p in INSTRUMENTS_DIR.glob("*.yaml")}
    shipped_abbrs = set()
    for p in INSTRUMENTS_DIR.glob("*.yaml"):
        abbr = _abbreviation(load_instrument(p).name)
        if abbr:
            shipped_abbrs.add(abbr.lower())
    for abbr, ids in NOT_SHIPPED.items():
        hit = (shipped_ids | shipped_abbrs) & {i.lower() for i in ids} | (shipped_abbrs & {abbr.lower()})
        assert not hit, (
            f"{abbr} is listed as not shippable in {LICENCES.name}; if its licence has since been verified, "
            "move it to the shipped table there and drop it from NOT_SHIPPED here"
        )


# ---- the battery instruments that are shipped keep their published structure --------------------------------------


@pytest.mark.parametrize("iid,n_items,max_total,edges", [
    ("gad7", 7, 21, [0, 5, 10, 15]),       # Spitzer et al. (2006): 5/10/15
    ("phq9", 9, 27, [0, 5, 10, 15, 20]),   # Kroenke et al. (2001): 5/10/15/20
])
def test_shipped_battery_instruments_match_their_published_keys(iid, n_items, max_total, edges):
    inst = load_instrument(iid)
    assert len(inst.items) == n_items and all(i.key == 1 for i in inst.items)
    assert inst.rule == "sum" and inst.max_score("total") == max_total and inst.min_score("total") == 0
    assert [b.min for b in inst.scale("total").cutoffs] == edges
    assert inst.scale("total").cutoffs[-1].max == max_total
    # every item carries the time frame and its rewording for a model, as the instructions do
    assert inst.instructions_model and all(i.timeframe_original and i.timeframe_model for i in inst.items)


# ---- a battery instrument from a user file: RAADS-14 Screen structure (Eriksson et al., 2013) --------------------

RAADS14_SUBSCALES = {  # Table 3 of Eriksson et al. (2013)
    "mentalizing": [1, 4, 9, 11, 12, 13, 14],
    "social_anxiety": [3, 5, 6, 8],
    "sensory": [2, 7, 10],
}
RAADS14_REVERSED = {6}


def raads14_user_file(tmp_path):
    """The published structure with placeholder statements, as a user would write it (with the real wording)."""
    scale_of = {n: s for s, ns in RAADS14_SUBSCALES.items() for n in ns}
    doc = {
        "schema_version": 1, "id": "raads14_user", "name": "RAADS-14 Screen (RAADS-14)",
        "citation": "Eriksson, J. M., Andersen, L. M., & Bejerot, S. (2013). RAADS-14 Screen. Molecular Autism, 4, 49.",
        "source": "user file (test): structure from Eriksson et al. (2013); statements are placeholders",
        "licence": "user-supplied", "instructions": "Choose the alternative that describes you.",
        "response_scale": {"min": 0, "max": 3, "anchors": {
            0: "Never true", 1: "True only when I was younger than 16", 2: "True only now",
            3: "True now and when I was young"}},
        "rule": "sum",
        "scales": [{"id": "total", "name": "RAADS-14 total",
                    "cutoffs": [{"min": 0, "max": 13, "label": "below screening cut-off"},
                                {"min": 14, "max": 42, "label": "at or above screening cut-off"}]}]
        + [{"id": s, "name": s, "parent": "total"} for s in RAADS14_SUBSCALES],
        "items": [{"id": f"raads14_{n}", "text": f"Statement {n}", "scale": scale_of[n],
                   "key": -1 if n in RAADS14_REVERSED else 1} for n in range(1, 15)],
    }
    p = tmp_path / "raads14_user.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


def test_a_battery_instrument_loads_from_a_user_file_with_the_published_structure(tmp_path):
    inst = load_instrument(raads14_user_file(tmp_path))  # by path, as params.yaml accepts it
    assert len(inst.items) == 14
    assert [int(i.id.split("_")[1]) for i in inst.items if i.key == -1] == [6]
    assert inst.max_score("total") == 42 and inst.min_score("total") == 0
    assert {s: inst.max_score(s) for s in RAADS14_SUBSCALES} == {"mentalizing": 21, "social_anxiety": 12, "sensory": 9}
    assert inst.band("total", 13) == "below screening cut-off"
    assert inst.band("total", 14) == "at or above screening cut-off"


def test_a_user_file_scores_as_the_published_key(tmp_path):
    inst = load_instrument(raads14_user_file(tmp_path))
    # hand-computed example: answers 1..14 cycle 3, 2, 1, 0; item 6 (raw 2, "True only now") is reverse-keyed -> 1
    raw = {n: [3, 2, 1, 0][(n - 1) % 4] for n in range(1, 15)}
    keyed = {n: (3 - v if n in RAADS14_REVERSED else v) for n, v in raw.items()}
    assert raw[6] == 2 and keyed[6] == 1
    expected = {s: sum(keyed[n] for n in ns) for s, ns in RAADS14_SUBSCALES.items()}
    expected["total"] = sum(keyed.values())
    assert expected == {"mentalizing": 3 + 0 + 3 + 1 + 0 + 3 + 2, "social_anxiety": 1 + 3 + 1 + 0,
                        "sensory": 2 + 1 + 2, "total": 22}
    resp = pl.DataFrame({"pid": ["m"] * 14, "item_id": [f"raads14_{n}" for n in range(1, 15)],
                         "value": [raw[n] for n in range(1, 15)]})
    got = {r["scale"]: r for r in score(inst, resp, by=["pid"]).iter_rows(named=True)}
    assert {s: got[s]["score"] for s in expected} == pytest.approx(expected)
    assert got["total"]["band"] == "at or above screening cut-off"  # 22 >= 14
    # one item unanswered: no total and no band (sums are never prorated)
    part = score(inst, resp.with_columns(pl.when(pl.col("item_id") == "raads14_6").then(None)
                                         .otherwise(pl.col("value")).alias("value")), by=["pid"])
    tot = part.filter(pl.col("scale") == "total").row(0, named=True)
    assert tot["score"] is None and tot["band"] is None
