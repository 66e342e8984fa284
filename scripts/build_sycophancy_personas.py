"""Write data/stimuli/sycophancy/personas.csv: the default 275 personas of Study 2.

The personas are a pure function of the phrase banks (data/stimuli/sycophancy/persona_phrases.yaml)
and (n, seed) (see analysis/studies/sycophancy/personas.py); the CSV is committed so that it can be
reviewed, and tests/studies/sycophancy/test_personas.py checks that regenerating it gives the same
file byte for byte.
Usage: python scripts/build_sycophancy_personas.py [--n 275] [--seed 2604] [--phrases PATH] [--out PATH]
"""

import argparse
from pathlib import Path

from analysis.core.io import write_text
from analysis.studies.sycophancy.personas import DEFAULT_N, DEFAULT_SEED, PHRASES_FILE, personas_csv_text
from analysis.studies.sycophancy.stimuli import PERSONAS_CSV


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=DEFAULT_N)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--phrases", type=Path, default=PHRASES_FILE)
    ap.add_argument("--out", type=Path, default=PERSONAS_CSV)
    a = ap.parse_args()
    write_text(personas_csv_text(a.n, a.seed, a.phrases), a.out)
    print(f"wrote {a.out} ({a.n} personas, seed {a.seed}, phrases {a.phrases})")


if __name__ == "__main__":
    main()
