import csv
import re

import polars as pl
import pytest
import yaml

from analysis.core.errors import InstrumentError
from analysis.core.instruments import load_instrument, score
from analysis.core.paths import INSTRUMENTS_DIR, ROOT

REFERENCE = ROOT.parent / "shared" / "reference" / "ipip" / "ipip_neo_120.csv"


def tiny(tmp_path, **over):
    doc = {
        "id": "tiny", "name": "Tiny", "citation": "c", "source": "s", "licence": "CC0", "instructions": "Rate.",
        "response_scale": {"min": 1, "max": 5, "anchors": {1: "no", 5: "yes"}}, "rule": "mean",
        "scales": [{"id": "T", "name": "Total", "cutoffs": [{"min": 1, "max": 2.99, "label": "low"},
                                                            {"min": 3, "max": 5, "label": "high"}]},
                   {"id": "F1", "name": "Facet", "parent": "T"}, {"id": "F2", "name": "Facet 2", "parent": "T"}],
        "items": [{"id": "a", "text": "A", "scale": "F1", "key": 1}, {"id": "b", "text": "B", "scale": "F1", "key": -1},
                  {"id": "c", "text": "C", "scale": "F2", "key": 1}],
    }
    doc.update(over)
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_scoring_reverse_keys_parents_and_bands(tmp_path):
    inst = load_instrument(tiny(tmp_path))
    resp = pl.DataFrame({"pid": ["x"] * 3 + ["y"] * 3, "item_id": ["a", "b", "c"] * 2, "value": [5, 1, 5, 1, 5, 2]})
    s = score(inst, resp, by=["pid"]).sort("pid", "scale")
    got = {(r["pid"], r["scale"]): (r["score"], r["band"]) for r in s.iter_rows(named=True)}
    assert got[("x", "F1")][0] == 5.0  # 5 and reversed 1 -> 5
    assert got[("x", "T")] == (5.0, "high")
    assert got[("y", "F1")][0] == 1.0  # 1 and reversed 5 -> 1
    assert got[("y", "T")][0] == pytest.approx(4 / 3)
    assert got[("y", "T")][1] == "low"


def test_a_sum_is_never_prorated_and_the_mean_per_item_obeys_the_threshold(tmp_path):
    inst = load_instrument(tiny(tmp_path, rule="sum"))
    resp = pl.DataFrame({"pid": ["x"] * 3, "item_id": ["a", "b", "c"], "value": [4, None, 2]})
    full = score(inst, resp, by=["pid"]).filter(pl.col("scale") == "T").row(0, named=True)
    assert full["score"] is None and full["mean_item"] is None and full["band"] is None  # default: all answered
    row = score(inst, resp, by=["pid"], min_answered=0.6).filter(pl.col("scale") == "T").row(0, named=True)
    # two of three items answered: the mean per item is given, but no total (a prorated 9.0 would be imputed)
    assert row["score"] is None and row["band"] is None and row["mean_item"] == pytest.approx(3.0)
    assert row["n_answered"] == 2 and row["n_items"] == 3 == row["n_scale_items"]
    whole = score(inst, resp.with_columns(pl.col("value").fill_null(5)), by=["pid"])
    assert whole.filter(pl.col("scale") == "T")["score"][0] == pytest.approx(4 + (6 - 5) + 2)  # b is reverse keyed


def test_out_of_range_responses_rejected(tmp_path):
    inst = load_instrument(tiny(tmp_path))
    with pytest.raises(ValueError, match="outside the scale"):
        score(inst, pl.DataFrame({"pid": ["x"], "item_id": ["a"], "value": [6]}), by=["pid"])


@pytest.mark.parametrize("change,needle", [
    ({"items": [{"id": "a", "text": "A", "scale": "NOPE", "key": 1}]}, "unknown scale"),
    ({"items": [{"id": "a", "text": "A", "scale": "F1", "key": 2}]}, "items.0.key"),
    ({"response_scale": {"min": 5, "max": 1, "anchors": {1: "x", 5: "y"}}}, "response_scale"),
    ({"licence": None}, "licence"),
])
def test_malformed_files_name_file_field_reason(tmp_path, change, needle):
    p = tiny(tmp_path, **change)
    with pytest.raises(InstrumentError) as e:
        load_instrument(p)
    msg = str(e.value)
    assert str(p) in msg and needle in msg


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("field", ["min", "max"])
def test_a_cutoff_band_with_nan_or_inf_is_refused(tmp_path, bad, field):
    """Issue 22 review: NaN/inf in a band's min/max were accepted (and then no score ever fell in the band)."""
    band = {"min": 1, "max": 2.99, "label": "low"}
    band[field] = bad
    scales = [{"id": "T", "name": "Total", "cutoffs": [band, {"min": 3, "max": 5, "label": "high"}]},
              {"id": "F1", "name": "Facet", "parent": "T"}, {"id": "F2", "name": "Facet 2", "parent": "T"}]
    p = tiny(tmp_path, scales=scales)
    assert (".nan" if bad != bad else ".inf") in p.read_text()
    with pytest.raises(InstrumentError) as e:
        load_instrument(p)
    msg = str(e.value)
    assert str(p) in msg and f"cutoffs.0.{field}" in msg and "\n" not in msg, msg


def test_not_yaml_and_unknown_id(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("id: [unclosed")
    with pytest.raises(InstrumentError, match="not valid YAML"):
        load_instrument(p)
    with pytest.raises(InstrumentError, match="shipped instruments are"):
        load_instrument("no_such_instrument")


def test_every_shipped_instrument_loads_with_source_and_licence():
    files = sorted(INSTRUMENTS_DIR.glob("*.yaml"))
    assert files
    for f in files:
        inst = load_instrument(f)
        assert inst.source.strip() and inst.licence.strip() and inst.citation.strip()


def test_ipip_neo_120_structure():
    inst = load_instrument("ipip_neo_120")
    assert len(inst.items) == 120
    assert sum(i.key == 1 for i in inst.items) == 65 and sum(i.key == -1 for i in inst.items) == 55
    for d in "OCEAN":
        assert len(inst.items_of(d)) == 24
        assert len(inst.children(d)) == 6
        for f in inst.children(d):
            assert len(inst.items_of(f)) == 4


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference table not beside the repository")
def test_ipip_neo_120_word_for_word_and_key_for_key():
    inst = load_instrument("ipip_neo_120")
    ref = list(csv.DictReader(open(REFERENCE, encoding="utf-8")))
    assert len(ref) == len(inst.items)
    for r, it in zip(ref, inst.items):
        assert it.text == r["text_ipip"]  # the original first-person IPIP wording, shown as "I ..."
        assert it.key == int(r["key"])
        assert inst.scale(it.scale).name == r["label_raw"]
        assert inst.scale(it.scale).parent == r["label_ocean"]


def test_an_administered_subset_gives_means_per_item_but_no_sum_total(tmp_path):
    inst = load_instrument(tiny(tmp_path, rule="sum"))
    resp = pl.DataFrame({"pid": ["x", "x"], "item_id": ["a", "c"], "value": [4, 2]})
    s = score(inst, resp, by=["pid"], administered={"a", "c"})
    t = s.filter(pl.col("scale") == "T").row(0, named=True)
    assert t["n_items"] == 2 and t["n_scale_items"] == 3 and t["n_answered"] == 2
    assert t["score"] is None and t["band"] is None and t["mean_item"] == pytest.approx(3.0)  # not 9.0 (prorated)
    f1 = s.filter(pl.col("scale") == "F1").row(0, named=True)
    assert f1["n_items"] == 1 and f1["score"] is None and f1["mean_item"] == pytest.approx(4.0)  # not 8.0
    assert score(inst, resp, by=["pid"]).filter(pl.col("scale") == "T")["score"][0] is None  # without it: incomplete


# ---- every rendered item reads as a person would say it ------------------------------------------

FIRST = r"\b(I|my|me|myself|mine)\b"
SECOND = r"\b(you|your|yourself|yours)\b"
GARBLED = [r"\bI (are|is|has|were)\b", r"ofyou", r"\bThey (am|is|has|does|was)\b"]


def mixed_persons(inst, stem: str) -> str | None:
    """What is wrong with a rendered item, if anything: first and second person mixed ("I use others for
    your own ends"), a verb that does not agree ("I are always busy"), or, in a third-person instrument,
    any first- or second-person word."""
    for pat in GARBLED:
        if re.search(pat, stem):
            return f"verb does not agree ({pat})"
    first, second = re.search(FIRST, stem), re.search(SECOND, stem, re.IGNORECASE)
    if inst.perspective == "third_person" and (first or second):
        return "first or second person in a third-person item"
    if first and second:
        return "first and second person mixed"
    return None


def _shipped():
    from analysis.core.paths import INSTRUMENTS_DIR

    return [load_instrument(p.stem) for p in sorted(INSTRUMENTS_DIR.glob("*.yaml"))]


@pytest.mark.parametrize("inst", _shipped(), ids=lambda i: i.id)
def test_every_rendered_item_agrees_in_person(inst):
    from analysis.core.administer import item_prompt, load_variants
    from analysis.core.paths import STIMULI_DIR

    templates = list(load_variants(STIMULI_DIR / "bigfive" / "prompt_variants.yaml").values())
    for it in inst.items:
        stem = inst.stem(it)
        assert stem.strip() and "  " not in stem, (it.id, stem)
        assert mixed_persons(inst, stem) is None, (inst.id, it.id, stem, mixed_persons(inst, stem))
        if inst.perspective == "self" and stem.startswith("I "):
            # "I" + a verb in the first person: a second-person form ("Are", "Were", "Have been") garbles it
            assert not re.match(r"I (are|were|is|has)\b", stem), stem
        for tpl in templates:  # the prompt the model sees around the item
            assert stem in item_prompt(inst, it, tpl)


def test_ipip_items_read_as_published():
    inst = load_instrument("ipip_neo_120")
    stems = {it.id: inst.stem(it) for it in inst.items}
    assert "I am always busy." in stems.values()
    assert "I use others for my own ends." in stems.values()
    assert "I dislike myself." in stems.values()
    assert "I do more than what's expected of me." in stems.values()
