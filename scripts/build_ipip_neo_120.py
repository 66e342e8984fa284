"""Write data/instruments/ipip_neo_120.yaml from the IPIP-NEO-120 item table (Johnson, 2014).

Run once by a maintainer; the YAML is committed. The item texts are the original IPIP first-person
stems (column ``text_ipip``: "Am always busy", "Use others for my own ends"), shown as "I {text_lower}."
(the table's ``text`` column holds a later second-person adaptation, "Are always busy", which must not
be combined with "I"). tests/core/test_instruments.py checks the shipped file word for word and key for
key against the reference table when it is available, and every rendered item for person agreement.
Usage: python scripts/build_ipip_neo_120.py PATH/TO/ipip_neo_120.csv
"""

import csv
import sys
from pathlib import Path

import yaml

FACETS = {
    "N": ["Anxiety", "Anger", "Depression", "Self-consciousness", "Immoderation", "Vulnerability"],
    "E": ["Friendliness", "Gregariousness", "Assertiveness", "Activity Level", "Excitement-seeking", "Cheerfulness"],
    "O": ["Imagination", "Artistic Interests", "Emotionality", "Adventurousness", "Intellect", "Liberalism"],
    "A": ["Trust", "Morality", "Altruism", "Cooperation", "Modesty", "Sympathy"],
    "C": ["Self-efficacy", "Orderliness", "Dutifulness", "Achievement-striving", "Self-discipline", "Cautiousness"],
}
DOMAINS = {"O": "Openness", "C": "Conscientiousness", "E": "Extraversion", "A": "Agreeableness", "N": "Neuroticism"}


def main(src: str) -> None:
    rows = list(csv.DictReader(open(src, encoding="utf-8")))
    code = {(d, f): f"{d}{i + 1}" for d, fs in FACETS.items() for i, f in enumerate(fs)}
    scales = [{"id": d, "name": n} for d, n in DOMAINS.items()]
    scales += [{"id": code[(d, f)], "name": f, "parent": d} for d, fs in FACETS.items() for f in fs]
    items = [
        {"id": f"ipip120_{k + 1:03d}", "text": r["text_ipip"], "scale": code[(r["label_ocean"], r["label_raw"])], "key": int(r["key"])}
        for k, r in enumerate(rows)
    ]
    doc = {
        "schema_version": 1,
        "id": "ipip_neo_120",
        "name": "IPIP-NEO-120",
        "citation": "Johnson, J. A. (2014). Measuring thirty facets of the Five Factor Model with a 120-item "
        "public domain inventory: Development of the IPIP-NEO-120. Journal of Research in Personality, 51, 78-89.",
        "source": "International Personality Item Pool (ipip.ori.org); item order, texts, facets and keys as in "
        "the IPIP-NEO-120 item table (checked against shared/reference/ipip/ipip_neo_120.csv).",
        "licence": "Public domain (International Personality Item Pool).",
        "instructions": "Here is a statement that may or may not describe you. Describe yourself as you "
        "generally are now, not as you wish to be in the future, and as you honestly see yourself.",
        "item_stem": "I {text_lower}.",
        "perspective": "self",
        "response_scale": {
            "min": 1,
            "max": 5,
            "anchors": {1: "Very inaccurate", 2: "Moderately inaccurate", 3: "Neither accurate nor inaccurate",
                        4: "Moderately accurate", 5: "Very accurate"},
        },
        "rule": "mean",
        "scales": scales,
        "items": items,
    }
    out = Path(__file__).resolve().parent.parent / "data" / "instruments" / "ipip_neo_120.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    print(f"wrote {out} ({len(items)} items, {len(scales)} scales)")


if __name__ == "__main__":
    main(sys.argv[1])
